//! Priorities that schedule: priority inheritance and server boost against priority inversion.
//!
//! ```text
//! priority_inversion demo [--fixed] [--other]
//!                                       the demonstration (needs real-time scheduling: root,
//!                                       CAP_SYS_NICE or RLIMIT_RTPRIO; qnetd with CAP_SYS_NICE)
//! priority_inversion server [--fixed] [--other]
//!                                       a server: `work <ms>` spins that much CPU then replies,
//!                                       `sched` replies with its thread's scheduling, priority
//!                                       and whether it is inherited (`7r prio=7 inherited=true`);
//!                                       pulses print `pulse code=<c> sched=<s>`
//! priority_inversion client <node/pid/chid> <prio> sched|pulse
//!                                       send `sched` (prints `reply <text>`) or a pulse at <prio>
//! ```
//!
//! The demo runs everything on one CPU (the first its affinity allows): a server (priority 10,
//! its own process), a low-priority client (5) whose request keeps the server busy, a
//! medium-priority CPU hog (SCHED_FIFO 15), then a high-priority client (30). With
//! inheritance the server runs the low client's request at 5, so the hog starves it, until the
//! high client's send boosts the server to 30: the high client's reply comes before the hog
//! finishes. With `--fixed` (`_NTO_CHF_FIXED_PRIORITY`) the server stays at 10 and nothing
//! boosts it: the hog finishes first. The last line says which: `order: high-first` or
//! `order: medium-first`.
//!
//! With `--other` the server is an ordinary Linux program, SCHED_OTHER (QNX would run it at a
//! priority like any thread; Linux puts every SCHED_OTHER thread below every real-time one).
//! Inheritance then lends it a real-time policy with the real-time clients' priorities
//! (issue 22): the low client's 5, which the hog outranks, then the high client's 30, which
//! outranks the hog: `order: high-first` again. With nice values alone (before issue 22) the
//! hog starved it whatever its nice: `order: medium-first`. Run `qnetd` on the same CPU, real-time above every client
//! (`taskset -c 0 qnetd --rt-priority 90`): a SCHED_OTHER daemon would be starved by the hog
//! too, and nothing would flow until it finished.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use qnet::neutrino::{self, ChannelFlags};
use qnet::sched::{self, Policy};

const USAGE: &str = "usage: priority_inversion demo|server [--fixed] [--other] | client \
     <node/pid/chid> <prio> sched|pulse";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let fixed = args.iter().any(|a| a == "--fixed");
        let other = args.iter().any(|a| a == "--other");
        match args.first().map(String::as_str) {
            Some("server") => server(fixed, other),
            Some("demo") => demo(fixed, other),
            Some("client") => client(&args[1..]),
            _ => bail!("{USAGE}"),
        }
    })
}

/// This thread's scheduling, QNX style (`10r`), `?` if unreadable.
fn my_sched() -> String {
    sched::thread_sched(0).map_or("?".into(), |s| sched::display(s.priority(), s.policy))
}

/// CPU time this thread has used.
#[allow(unsafe_code)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain clock read into a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Burn `d` of this thread's own CPU time (time it is preempted does not count).
fn spin(d: Duration) {
    let end = thread_cpu() + d;
    while thread_cpu() < end {
        std::hint::spin_loop();
    }
}

/// Pin the calling thread to `cpu`.
fn pin(cpu: usize) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

/// The first CPU this thread may run on.
fn first_cpu() -> anyhow::Result<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))?;
    (0..nix::sched::CpuSet::count())
        .find(|&i| set.is_set(i).unwrap_or(false))
        .context("no CPU allowed")
}

fn server(fixed: bool, other: bool) -> anyhow::Result<()> {
    if !other {
        neutrino::set_scheduler(Some(Policy::RoundRobin), 10)?;
    }
    let flags = if fixed {
        ChannelFlags::FIXED_PRIORITY
    } else {
        ChannelFlags::default()
    };
    let chid = neutrino::channel_create(flags)?;
    println!("pid={} chid={chid}", std::process::id());
    let mut buf = [0u8; 64];
    loop {
        let rcvid = neutrino::msg_receive(chid, &mut buf, None)?;
        if rcvid == 0 {
            let p = neutrino::pulse_from_bytes(&buf);
            println!(
                "pulse code={} sched={}",
                p.map_or(-1, |p| p.code),
                my_sched()
            );
            continue;
        }
        let text = String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap_or(0)])
            .into_owned();
        let reply = if let Some(ms) = text.strip_prefix("work ") {
            println!("started sched={}", my_sched());
            spin(Duration::from_millis(ms.parse().unwrap_or(0)));
            "done".to_owned()
        } else {
            format!(
                "{} prio={} inherited={}",
                my_sched(),
                neutrino::priority(),
                neutrino::priority_inherited()
            )
        };
        neutrino::msg_reply(rcvid, 0, reply.as_bytes())?;
    }
}

/// Send a NUL-terminated text and return the reply's text.
fn ask(coid: i32, text: &str) -> qnet::Result<String> {
    let mut msg = text.as_bytes().to_vec();
    msg.push(0);
    let mut reply = [0u8; 64];
    neutrino::msg_send(coid, &msg, &mut reply)?;
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
    Ok(String::from_utf8_lossy(&reply[..end]).into_owned())
}

fn client(args: &[String]) -> anyhow::Result<()> {
    let [target, prio, what] = args else {
        bail!("{USAGE}");
    };
    let (nd, pid, chid) = qnet::parse_target(target)?;
    let prio: u8 = prio.parse().context("priority")?;
    neutrino::set_priority(prio);
    let coid = neutrino::connect_attach(nd, pid, chid)?;
    match what.as_str() {
        "sched" => println!("reply {}", ask(coid, "sched")?),
        "pulse" => {
            neutrino::msg_send_pulse(coid, -1, 7, 0)?;
            println!("pulse sent");
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

fn demo(fixed: bool, other: bool) -> anyhow::Result<()> {
    let cpu = first_cpu()?;
    pin(cpu)?;
    // The conductor outranks everyone so it can start each actor on time.
    neutrino::set_scheduler(Some(Policy::RoundRobin), 50)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("server")
        .stdout(Stdio::piped())
        .stdin(Stdio::null());
    if fixed {
        cmd.arg("--fixed");
    }
    if other {
        cmd.arg("--other");
    }
    // A SCHED_OTHER child, whatever the conductor runs at.
    let mut child = spawn_other(cmd)?; // inherits this thread's CPU
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let first = lines.next().context("server said nothing")??;
    let (pid, chid) = parse_pid_chid(&first)?;
    let coid = neutrino::connect_attach(0, pid, chid)?;
    println!("server pid={pid} chid={chid} fixed={fixed} other={other} cpu={cpu}");

    let seq = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(Mutex::new(Vec::new()));
    let record = {
        let (seq, events) = (seq.clone(), events.clone());
        move |what: &str| {
            let n = seq.fetch_add(1, Ordering::SeqCst);
            events.lock().unwrap().push((n, what.to_owned()));
        }
    };

    let low = {
        let record = record.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            pin(cpu)?;
            neutrino::set_scheduler(Some(Policy::RoundRobin), 5)?;
            ask(coid, "work 150")?;
            record("low-reply");
            Ok(())
        })
    };
    // The server has the low client's request in hand.
    let started = lines.next().context("server ended")??;
    println!("server {started}");

    let (hog_started, hog_running) = mpsc::channel();
    let medium = {
        let record = record.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            pin(cpu)?;
            neutrino::set_scheduler(Some(Policy::Fifo), 15)?;
            let _ = hog_started.send(());
            spin(Duration::from_millis(400));
            record("medium-done");
            Ok(())
        })
    };
    hog_running.recv()?;
    let high = {
        let record = record.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            pin(cpu)?;
            neutrino::set_scheduler(Some(Policy::RoundRobin), 30)?;
            ask(coid, "work 0")?;
            record("high-reply");
            Ok(())
        })
    };
    for t in [high, medium, low] {
        t.join()
            .map_err(|_| anyhow::anyhow!("a thread panicked"))??;
    }
    let _ = child.kill();
    let _ = child.wait();
    let events = events.lock().unwrap().clone();
    for (n, what) in &events {
        println!("event {n} {what}");
    }
    let at = |what: &str| events.iter().find(|(_, w)| w == what).map(|(n, _)| *n);
    let order = if at("high-reply") < at("medium-done") {
        "high-first"
    } else {
        "medium-first"
    };
    println!("order: {order}");
    Ok(())
}

/// Spawn `cmd` as SCHED_OTHER (a child inherits its parent thread's policy otherwise).
#[allow(unsafe_code)]
fn spawn_other(mut cmd: Command) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only sched_setscheduler, async-signal-safe, is called.
    unsafe {
        cmd.pre_exec(|| {
            let param = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

fn parse_pid_chid(line: &str) -> anyhow::Result<(u32, i32)> {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .with_context(|| format!("no {k} in {line:?}"))
    };
    Ok((field("pid=")?.parse()?, field("chid=")?.parse()?))
}
