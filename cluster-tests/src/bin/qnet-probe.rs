//! `qnet-probe`: a small test client/server for the cluster tests, printing one
//! `key=value` line per observable fact. It talks to the daemon at `$QNET_SOCKET`.
//!
//! Modes:
//! - `serve [NAME]`: a channel (`name_attach NAME` if given, else `ChannelCreate` with
//!   UNBLOCK|DISCONNECT|COID_DISCONNECT; SENDER_LEN on both); prints `pid=<pid> chid=<chid>`, then per message
//!   `msg count=<n> rcvid= len= nd= srcnd= pid= tid= prio= uid= gid= cnd= data=<text>` and per
//!   pulse `pulse code= value= prio= scoid=`. A message starting `hold` is not answered (an
//!   unblock pulse for it is answered with `MsgError(EINTR)`); one longer than 4 KiB is
//!   checked with `MsgRead` at several offsets against the pattern `i % 251` (`read ok` or
//!   `read mismatch …`); `event<u64>` is a registered event: verified, replied to, then
//!   delivered with the saved rcvid and value 7 (`delivered event=<id>`); `pieces:<N>` gets
//!   `MsgWrite("WWWW", 40)`, `MsgWrite` of N pattern bytes at 4096 (if N > 0) and a `MsgReply`
//!   of `0123456789` with status `<n>`; `big:<N>` gets status
//!   `<n>` and a reply of N bytes of the pattern; anything else gets status `<n>` and reply
//!   `echo:<data>`.
//! - `send TARGET TEXT [--size N] [--prio P] [--reply-timeout-ms MS] [--again]`: TARGET is
//!   `node/pid/chid`, `pid/chid` or `name:[node/]name`. `--now`: a zero SEND timeout
//!   (`TimerTimeout` with `_NTO_TIMEOUT_SEND` and no time: send only to a waiting receiver);
//!   `--again-now`: the same for the `--again` send only; `--pause-ms MS`: a pause before it.
//!   Prints `tid=<tid> coid=<coid>`, then
//!   `result=ok status=<s> data=<text>` or `result=err errno=<ERRNAME>`; `--again` sends once
//!   more on the same coid (`again result=…`). `--size N` sends N bytes of the pattern.
//!   `--reply-size N`: an N-byte reply buffer (default 256), checked against the pattern after
//!   the send (`reply-check ok len=<n>` or `reply-check mismatch at=<i>`). `--repeat N`: N
//!   sends in all on the same coid; after the first, each must succeed (and match the pattern
//!   with `--reply-size`) or the probe fails; prints `repeat ok n=<N>`. `--fill B`: the reply
//!   buffer starts filled with byte B; after the send prints `reply-fill runs=<a>-<b>,…`, the
//!   ranges still holding B, and for TEXT `pieces:<N>` `pieces-check ok|mismatch` (the
//!   server's pieces in place).
//! - `pulse TARGET CODE VALUE [--prio P]`: prints `pulsed`.
//! - `pulses TARGET N [--then-send]`: N pulses of code 5 with values 0..N, each retried
//!   while it fails `EAGAIN` (the link's queue is full); prints `sending` first, then
//!   `pulsed n=<N> eagain=<retries>`, and with `--then-send` sends `after` on the same coid
//!   (`result=…` as `send`).
//! - `churn TARGET NAME THREADS CYCLES`: one connection to TARGET, then THREADS threads that
//!   each make one `MsgSend` on it and exit (eight at a time), then CYCLES rounds of
//!   `name_open NAME` / ten `MsgSend`s / a `MsgSendPulse` / `name_close` on one thread;
//!   prints `churned threads=<N> cycles=<M>` and waits to be killed (or its stdin to close).
//! - `attach-hold TARGET`: attaches, prints `attached coid=<c>`, then waits to be killed.
//! - `connect-many TARGET N`: connects N times, printing `connected <i>` after each; the
//!   first refusal ends it with that error (limits).
//! - `watch TARGET`: a COID_DISCONNECT channel of its own, a connection to TARGET; prints
//!   `watching coid=<c>`, then the first pulse on its channel as `pulse code= value=`.
//! - `event TARGET [--hold]`: registers a pulse event with TARGET's server, sends it
//!   (`registered event=<id>`), and prints `event value=<v>` for the pulse that arrives; with
//!   `--hold` it then stays registered until killed.
//! - `deliver EVENT`: `MsgDeliverEvent` without being the registered server: `delivered` or an
//!   error.
//! - `direct`: prints `direct=on|off`, whether this process uses the direct local path.
//! - `scribble TARGET N`: N sends on TARGET (200 ms timeout each); between them it writes
//!   random values over every direct segment it may write (`qnet::direct_scribble`) and tries
//!   to make its server's table writable; prints `scribbled sends_ok= sends_failed= writes=
//!   table_writable= direct=`.
//! - `nd NAME` prints `nd=<nd>`; `ndtostr ND` prints `name=<name>`.
//! - `shm-handle PID`: an anonymous shared-memory object and a handle for PID of this node;
//!   prints `handle=<h>` and waits to be killed. `shm-open HANDLE`: prints `opened` or fails.
//!
//! Any failure prints `error: <ERRNAME> …` on stderr and exits 1.

use std::io::Write;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use qnet::neutrino::{
    self, ChannelFlags, PulseEvent, TimeoutStates, connect_attach, connect_client_info,
    msg_deliver_event, msg_error, msg_read, msg_receive, msg_register_event, msg_reply, msg_send,
    msg_send_pulse, msg_verify_event, msg_write, pulse_from_bytes, scoid_detach,
};
use qnet::{Channel, Coid, Errno, NameAttachment, PulseCode, Received};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<qnet::Error>() {
                Some(q) => eprintln!("error: {q}"),
                None => eprintln!("error: EINVAL {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn out(line: String) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// The value after `flag` in `args`.
fn opt<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(mode) = args.first() else {
        bail!(
            "usage: qnet-probe serve|send|pulse|attach-hold|connect-many|watch|event|deliver|nd|ndtostr …"
        )
    };
    let rest = &args[1..];
    if let Some(p) = opt(rest, "--prio") {
        neutrino::set_priority(p.parse().context("--prio")?);
    }
    match mode.as_str() {
        "serve" => serve(rest.first().map(String::as_str)),
        "send" => send(rest),
        "pulse" => {
            let [target, code, value, ..] = rest else {
                bail!("usage: pulse TARGET CODE VALUE")
            };
            let coid = connect(target)?;
            msg_send_pulse(coid, -1, code.parse()?, value.parse()?)?;
            out("pulsed".into());
            Ok(())
        }
        "pulses" => pulses(rest),
        "churn" => churn(rest),
        "attach-hold" => {
            let [target] = rest else {
                bail!("usage: attach-hold TARGET")
            };
            let coid = connect(target)?;
            out(format!("attached coid={coid}"));
            loop {
                std::thread::park();
            }
        }
        "connect-many" => {
            let [target, n] = rest else {
                bail!("usage: connect-many TARGET N")
            };
            for i in 1..=n.parse::<usize>()? {
                connect(target)?;
                out(format!("connected {i}"));
            }
            Ok(())
        }
        "watch" => watch(rest),
        "event" => event(rest),
        "deliver" => {
            let [ev] = rest else {
                bail!("usage: deliver EVENT")
            };
            msg_deliver_event(0, ev.parse()?, Some(9))?;
            out("delivered".into());
            Ok(())
        }
        "shm-handle" => {
            let [pid] = rest else {
                bail!("usage: shm-handle PID")
            };
            let fd = qnet::shm::SharedMemory::anonymous_fd(4096)?;
            let h = qnet::shm::shm_create_handle(fd.as_fd(), pid.parse()?, libc::O_RDWR)?;
            out(format!("handle={h}"));
            // Keep the object (and the handle's creator) alive until killed.
            loop {
                std::thread::park();
            }
        }
        "shm-open" => {
            let [h] = rest else {
                bail!("usage: shm-open HANDLE")
            };
            qnet::shm::shm_open_handle(h.parse()?, libc::O_RDWR)?;
            out("opened".into());
            Ok(())
        }
        "direct" => {
            // Ask with a call: the library decides at its first session.
            let _ = qnet::local_node();
            out(format!(
                "direct={}",
                if qnet::direct() { "on" } else { "off" }
            ));
            Ok(())
        }
        "scribble" => scribble(rest),
        "nd" => {
            let [name] = rest else {
                bail!("usage: nd NAME")
            };
            out(format!("nd={}", qnet::netmgr_strtond(name)?));
            Ok(())
        }
        "ndtostr" => {
            let [nd] = rest else {
                bail!("usage: ndtostr ND")
            };
            out(format!("name={}", qnet::netmgr_ndtostr(nd.parse()?)?));
            Ok(())
        }
        other => bail!("unknown mode {other:?}"),
    }
}

/// `scribble TARGET N`: N sends on TARGET (each with a 200 ms timeout), scribbling this
/// process's own direct segments between them (see the module doc).
fn scribble(args: &[String]) -> anyhow::Result<()> {
    let [target, n, ..] = args else {
        bail!("usage: scribble TARGET N")
    };
    let coid = connect(target)?;
    let (mut ok, mut failed, mut writes, mut table_writable) = (0, 0, 0, false);
    for i in 0..n.parse::<u64>()? {
        neutrino::timer_timeout(
            TimeoutStates {
                send: true,
                reply: true,
                receive: false,
            },
            Duration::from_millis(200),
        );
        let mut reply = [0u8; 64];
        match msg_send(coid, b"scribbler", &mut reply) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
        let (w, t) = qnet::direct_scribble(0x5eed ^ i, 256);
        writes += w;
        table_writable |= t;
    }
    out(format!(
        "scribbled sends_ok={ok} sends_failed={failed} writes={writes} table_writable={table_writable} direct={}",
        if qnet::direct() { "on" } else { "off" }
    ));
    Ok(())
}

/// `pulses TARGET N [--then-send]` (see the module doc).
fn pulses(args: &[String]) -> anyhow::Result<()> {
    let [target, n, ..] = args else {
        bail!("usage: pulses TARGET N [--then-send]")
    };
    let n: i32 = n.parse()?;
    let coid = connect(target)?;
    out("sending".into());
    let mut eagain = 0u64;
    for i in 0..n {
        loop {
            match msg_send_pulse(coid, -1, 5, i) {
                Ok(()) => break,
                Err(e) if e.errno() == Errno::EAGAIN => {
                    eagain += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e).with_context(|| format!("pulse {i}")),
            }
        }
    }
    out(format!("pulsed n={n} eagain={eagain}"));
    if args.iter().any(|a| a == "--then-send") {
        let mut reply = vec![0u8; 256];
        let r = msg_send(coid, b"after", &mut reply);
        let len = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
        send_result("", r, &reply[..len]);
    }
    Ok(())
}

/// `churn TARGET NAME THREADS CYCLES` (see the module doc).
fn churn(args: &[String]) -> anyhow::Result<()> {
    let [target, name, threads, cycles, ..] = args else {
        bail!("usage: churn TARGET NAME THREADS CYCLES")
    };
    let (threads, cycles): (usize, usize) = (threads.parse()?, cycles.parse()?);
    let coid = connect(target)?;
    for batch in (0..threads).collect::<Vec<_>>().chunks(8) {
        let handles: Vec<_> = batch
            .iter()
            .map(|_| {
                std::thread::spawn(move || {
                    let mut reply = [0u8; 64];
                    msg_send(coid, b"one call", &mut reply).map(drop)
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a churn thread panicked"))??;
        }
    }
    let mut reply = [0u8; 64];
    for i in 0..cycles {
        let c = neutrino::name_open(name)?;
        for _ in 0..10 {
            msg_send(c, b"cycle", &mut reply)?;
        }
        msg_send_pulse(c, -1, 1, i as i32)?;
        neutrino::name_close(c)?;
    }
    out(format!("churned threads={threads} cycles={cycles}"));
    // Until the test kills it or closes its stdin.
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    Ok(())
}

/// `name:[node/]name` through `name_open`, else `[node/]pid/chid` through `ConnectAttach`.
fn connect(target: &str) -> qnet::Result<Coid> {
    match target.strip_prefix("name:") {
        Some(name) => neutrino::name_open(name),
        None => {
            let (nd, pid, chid) = qnet::parse_target(target)?;
            connect_attach(nd, pid, chid)
        }
    }
}

/// The test pattern for big messages.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn printable(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(40)])
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn serve(name: Option<&str>) -> anyhow::Result<()> {
    let (_named, channel) = match name {
        Some(n) => {
            let a = NameAttachment::attach(n, ChannelFlags::SENDER_LEN)?;
            let ch = Channel::from_chid_unowned(a.chid());
            (Some(a), ch)
        }
        None => (
            None,
            Channel::create(
                ChannelFlags::UNBLOCK
                    | ChannelFlags::DISCONNECT
                    | ChannelFlags::COID_DISCONNECT
                    | ChannelFlags::SENDER_LEN,
            )?,
        ),
    };
    out(format!(
        "pid={} chid={}",
        std::process::id(),
        channel.chid()
    ));
    let mut count = 0u64;
    let cap = 4096;
    loop {
        let m = match channel.receive(cap)? {
            Received::Pulse(p) => {
                out(format!(
                    "pulse code={} value={} prio={} scoid={}",
                    p.code, p.value, p.priority, p.scoid
                ));
                if p.code == PulseCode::UNBLOCK {
                    let r = msg_error(i64::from(p.value), Errno::EINTR);
                    out(format!(
                        "unblock-answered rcvid={} ok={}",
                        p.value,
                        r.is_ok()
                    ));
                } else if p.code == PulseCode::DISCONNECT {
                    let _ = scoid_detach(p.scoid);
                }
                continue;
            }
            Received::Message(m) => m,
        };
        let info = *m.info();
        let data = m.data().to_vec();
        let rcvid = m.into_rcvid();
        count += 1;
        let ci = connect_client_info(info.scoid)?;
        out(format!(
            "msg count={count} rcvid={rcvid} len={} nd={} srcnd={} pid={} tid={} prio={} uid={} gid={} cnd={} data={}",
            info.srcmsglen,
            info.nd,
            info.srcnd,
            info.pid,
            info.tid,
            info.priority,
            ci.cred.uid,
            ci.cred.gid,
            ci.nd,
            printable(&data)
        ));
        if data.starts_with(b"hold") {
            out(format!("held rcvid={rcvid}"));
        } else if info.srcmsglen > cap as u64 {
            let total = info.srcmsglen as usize;
            let want = pattern(total);
            let mut verdict = "read ok".to_string();
            for off in [0, 4096, 500_000, total.saturating_sub(100)] {
                let mut part = vec![0u8; 100];
                let n = msg_read(rcvid, &mut part, off)?;
                let end = (off + 100).min(total);
                if part[..n] != want[off.min(total)..end] {
                    verdict = format!("read mismatch offset={off} n={n}");
                    break;
                }
            }
            out(verdict.clone());
            msg_reply(rcvid, 0, verdict.as_bytes())?;
        } else if let Some(n) = data.strip_prefix(b"pieces:") {
            // Reply pieces apart: "WWWW" at 40, N pattern bytes at 4096 (if N > 0), then a
            // 10-byte MsgReply at 0. Nothing else of the client's buffer may change.
            let n: usize = std::str::from_utf8(n)?.parse().context("pieces:<N>")?;
            msg_write(rcvid, b"WWWW", 40)?;
            if n > 0 {
                msg_write(rcvid, &pattern(n), 4096)?;
            }
            msg_reply(rcvid, count as i64, b"0123456789")?;
        } else if let Some(n) = data.strip_prefix(b"big:") {
            let n: usize = std::str::from_utf8(n)?.parse().context("big:<N>")?;
            msg_reply(rcvid, count as i64, &pattern(n))?;
        } else if let Some(ev) = data.strip_prefix(b"event") {
            let ev = u64::from_le_bytes(ev.try_into().context("event id")?);
            if let Err(e) = msg_verify_event(rcvid, ev) {
                msg_error(rcvid, e.errno())?;
                continue;
            }
            msg_reply(rcvid, 0, &[])?;
            // After the reply, as in the course: deliver naming the saved rcvid.
            match msg_deliver_event(rcvid, ev, Some(7)) {
                Ok(()) => out(format!("delivered event={ev}")),
                Err(e) => out(format!("deliver-error errno={:?}", e.errno())),
            }
        } else {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&data);
            msg_reply(rcvid, count as i64, &reply)?;
        }
    }
}

fn send_result(prefix: &str, r: qnet::Result<i64>, reply: &[u8]) {
    match r {
        Ok(status) => out(format!(
            "{prefix}result=ok status={status} data={}",
            printable(reply)
        )),
        Err(e) => out(format!("{prefix}result=err errno={:?}", e.errno())),
    }
}

/// QNX's non-blocking send for the next `MsgSend`: a zero timeout in the SEND state.
fn arm_zero_send_timeout() {
    neutrino::timer_timeout(
        TimeoutStates {
            send: true,
            ..Default::default()
        },
        Duration::ZERO,
    );
}

fn send(args: &[String]) -> anyhow::Result<()> {
    let [target, text, ..] = args else {
        bail!(
            "usage: send TARGET TEXT [--size N] [--reply-size N] [--prio P] [--reply-timeout-ms MS] [--now] [--again [--again-now] [--pause-ms MS]] [--repeat N]"
        )
    };
    let coid = connect(target)?;
    out(format!("tid={} coid={coid}", neutrino::gettid()));
    let data = match opt(args, "--size") {
        Some(n) => pattern(n.parse()?),
        None => text.as_bytes().to_vec(),
    };
    if let Some(ms) = opt(args, "--reply-timeout-ms") {
        neutrino::timer_timeout(
            TimeoutStates {
                reply: true,
                ..Default::default()
            },
            Duration::from_millis(ms.parse()?),
        );
    }
    if args.iter().any(|a| a == "--now") {
        arm_zero_send_timeout();
    }
    let reply_size = opt(args, "--reply-size");
    let fill: Option<u8> = opt(args, "--fill").map(str::parse).transpose()?;
    let mut reply = vec![fill.unwrap_or(0); reply_size.map_or(Ok(256), str::parse)?];
    let r = msg_send(coid, &data, &mut reply);
    let n = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    send_result("", r, &reply[..n]);
    if let Some(fill) = fill {
        out(format!("reply-fill runs={}", fill_runs(&reply, fill)));
        if let Some(n) = text.strip_prefix("pieces:") {
            let n: usize = n.parse().context("pieces:<N>")?;
            let ok = reply.get(..10) == Some(&b"0123456789"[..])
                && reply.get(40..44) == Some(&b"WWWW"[..])
                && (n == 0 || reply.get(4096..4096 + n) == Some(&pattern(n)[..]));
            out(format!(
                "pieces-check {}",
                if ok { "ok" } else { "mismatch" }
            ));
        }
    }
    if reply_size.is_some() {
        let want = pattern(reply.len());
        match reply.iter().zip(&want).position(|(a, b)| a != b) {
            None => out(format!("reply-check ok len={}", reply.len())),
            Some(i) => out(format!("reply-check mismatch at={i}")),
        }
    }
    if args.iter().any(|a| a == "--again") {
        if let Some(ms) = opt(args, "--pause-ms") {
            std::thread::sleep(Duration::from_millis(ms.parse()?));
        }
        if args.iter().any(|a| a == "--again-now") {
            arm_zero_send_timeout();
        }
        let r = msg_send(coid, &data, &mut reply);
        send_result("again ", r, &[]);
    }
    if let Some(n) = opt(args, "--repeat") {
        let n: usize = n.parse().context("--repeat")?;
        let want = pattern(reply.len());
        for i in 1..n {
            msg_send(coid, &data, &mut reply).with_context(|| format!("send {}", i + 1))?;
            if reply_size.is_some() && reply != want {
                bail!("reply {} differs from the pattern", i + 1);
            }
        }
        out(format!("repeat ok n={n}"));
    }
    Ok(())
}

/// The maximal ranges of `buf` still holding `fill`, as `a-b,c-d` (end exclusive).
fn fill_runs(buf: &[u8], fill: u8) -> String {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &b) in buf.iter().chain(std::iter::once(&!fill)).enumerate() {
        match (b == fill, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(format!("{s}-{i}"));
                start = None;
            }
            _ => {}
        }
    }
    runs.join(",")
}

fn watch(args: &[String]) -> anyhow::Result<()> {
    let [target] = args else {
        bail!("usage: watch TARGET")
    };
    let chid = neutrino::channel_create(ChannelFlags::COID_DISCONNECT)?;
    let coid = connect(target)?;
    out(format!("watching coid={coid}"));
    let mut buf = [0u8; 64];
    loop {
        if msg_receive(chid, &mut buf, None)? == 0 {
            let Some(p) = pulse_from_bytes(&buf) else {
                bail!("short pulse")
            };
            out(format!("pulse code={} value={}", p.code, p.value));
            return Ok(());
        }
    }
}

fn event(args: &[String]) -> anyhow::Result<()> {
    let [target, ..] = args else {
        bail!("usage: event TARGET [--hold]")
    };
    let chid = neutrino::channel_create(ChannelFlags::default())?;
    let self_coid = connect_attach(0, 0, chid)?;
    let server = connect(target)?;
    let ev = PulseEvent {
        coid: self_coid,
        priority: neutrino::priority(),
        code: 1,
        value: 0,
        updateable: true,
    };
    let id = msg_register_event(&ev, server)?;
    out(format!("registered event={id}"));
    let mut msg = b"event".to_vec();
    msg.extend_from_slice(&id.to_le_bytes());
    msg_send(server, &msg, &mut [])?;
    let mut buf = [0u8; 64];
    loop {
        if msg_receive(chid, &mut buf, None)? == 0 {
            let Some(p) = pulse_from_bytes(&buf) else {
                bail!("short pulse")
            };
            if p.code == 1 {
                out(format!("event value={}", p.value));
                if args.iter().any(|a| a == "--hold") {
                    loop {
                        std::thread::park();
                    }
                }
                return Ok(());
            }
        }
    }
}
