//! qnet itself: a server process (channel + receive/reply threads, and a pulse channel)
//! behind a `qnetd`, and clients in the harness process using the `qnet` library.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use qnet::neutrino::{
    channel_create, connect_attach, msg_receive, msg_reply, msg_reply_receive, msg_send,
    msg_send_pulse, name_attach, pulse_from_bytes, scoid_detach,
};
use qnet::{ChannelFlags, Chid, Coid, MsgInfo, Nd, Pid, Rcvid};
use qnet_proto::local::{AdminSnapshot, admin_request, admin_response};

use super::procs::{Peer, announce, exit_when_stdin_closes};
use super::stats::Sample;
use super::workload::{Budget, run_threads};
use crate::admin_client::AdminClient;

/// Largest message the echo threads take whole.
pub const MAX_MESSAGE: usize = 1 << 20;

/// Pulse code the benchmark sends.
const PULSE_CODE: i32 = 1;

/// Peer side (`qnet bench peer qnet-server SOCKET THREADS [NAME]`): one echo channel served
/// by `threads` receive/reply threads, a pulse channel served by one thread that counts
/// pulses and answers a "wait for N" message once N pulses arrived, a hold channel whose
/// messages are received and never answered (parked callers, `--parked`), and with `name` a
/// channel attached under that name, served as a QNX name server is (echo; pulses taken,
/// a disconnect pulse's scoid detached).
pub fn serve(socket: &Path, threads: usize, name: Option<&str>) -> Result<()> {
    qnet::set_socket_path(socket);
    if let Some(name) = name {
        let named = name_attach(name, ChannelFlags::default())?;
        std::thread::spawn(move || name_loop(named));
    }
    let chid = channel_create(ChannelFlags::default())?;
    let pulse_chid = channel_create(ChannelFlags::default())?;
    let hold_chid = channel_create(ChannelFlags::default())?;
    exit_when_stdin_closes();
    for _ in 0..threads {
        std::thread::spawn(move || echo_loop(chid));
    }
    std::thread::spawn(move || pulse_loop(pulse_chid));
    std::thread::spawn(move || hold_loop(hold_chid));
    // Whether this process takes the direct path (issue 23), so the harness can say which
    // path its local figures come from.
    announce(&format!(
        "{} {chid} {pulse_chid} {hold_chid} {}",
        std::process::id(),
        u8::from(qnet::direct())
    ));
    loop {
        std::thread::park();
    }
}

/// Echo with the reply folded into the next receive (`msg_reply_receive`, a qnet extension):
/// one request to `qnetd` per message instead of two. Two buffers, swapped each message: the
/// reply is read from one while the next message lands in the other.
fn echo_loop(chid: Chid) -> Result<()> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut spare = vec![0u8; MAX_MESSAGE];
    let mut info = MsgInfo::default();
    let mut rcvid = msg_receive(chid, &mut buf, Some(&mut info))?;
    loop {
        if rcvid > 0 {
            let n = (info.msglen as usize).min(buf.len());
            std::mem::swap(&mut buf, &mut spare);
            rcvid = msg_reply_receive(rcvid, 0, &spare[..n], chid, &mut buf, Some(&mut info))?;
        } else {
            rcvid = msg_receive(chid, &mut buf, Some(&mut info))?;
        }
    }
}

/// A named channel: echo every message; take every pulse, detaching a disconnected client's
/// scoid (`name_attach` channels get `_PULSE_CODE_DISCONNECT`).
fn name_loop(chid: Chid) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut info = MsgInfo::default();
    loop {
        let rcvid = msg_receive(chid, &mut buf, Some(&mut info))?;
        if rcvid > 0 {
            let n = (info.msglen as usize).min(buf.len());
            msg_reply(rcvid, 0, &buf[..n])?;
        } else if let Some(p) = pulse_from_bytes(&buf) {
            if p.code == qnet::PulseCode::DISCONNECT {
                let _ = scoid_detach(p.scoid);
            }
        }
    }
}

/// Receive messages and keep their senders REPLY-blocked until the process ends.
fn hold_loop(chid: Chid) -> Result<()> {
    let mut buf = [0u8; 64];
    let mut held = Vec::new();
    loop {
        let rcvid = msg_receive(chid, &mut buf, None)?;
        if rcvid > 0 {
            held.push(rcvid);
        }
    }
}

fn pulse_loop(chid: Chid) -> Result<()> {
    let mut buf = [0u8; 64];
    let mut count = 0u64;
    let mut waiting: Option<(Rcvid, u64)> = None;
    loop {
        if waiting.is_some() {
            // Remote pulses are best effort: one refused on this node (its channel full) never
            // comes. A sender waiting for a count that stalls gets the count, not a hang.
            let receive = qnet::TimeoutStates {
                receive: true,
                ..Default::default()
            };
            qnet::neutrino::timer_timeout(receive, Duration::from_secs(2));
        }
        let rcvid = match msg_receive(chid, &mut buf, None) {
            Err(e) if e.errno() == qnet::Errno::ETIMEDOUT => {
                if let Some((rcvid, _)) = waiting.take() {
                    msg_reply(rcvid, 0, &count.to_le_bytes())?;
                    count = 0;
                }
                continue;
            }
            r => r?,
        };
        if rcvid == 0 {
            count += 1;
        } else {
            let mut target = [0u8; 8];
            target.copy_from_slice(&buf[..8]);
            waiting = Some((rcvid, u64::from_le_bytes(target)));
        }
        if let Some((rcvid, target)) = waiting {
            if count >= target {
                msg_reply(rcvid, 0, &count.to_le_bytes())?;
                count = 0;
                waiting = None;
            }
        }
    }
}

/// A server process on the daemon at `socket` with `threads` receivers: the process, its pid
/// and its echo channel.
pub fn spawn(socket: &Path, threads: usize, name: Option<&str>) -> Result<(Peer, Pid, Chid)> {
    let socket = socket.to_str().context("temp path is not UTF-8")?;
    let threads = threads.to_string();
    let mut args = vec![socket, threads.as_str()];
    args.extend(name);
    let peer = Peer::start("qnet-server", &args)?;
    let (pid, chid) = (peer.field(0)?, peer.field(1)?);
    Ok((peer, pid, chid))
}

/// A server process and the harness's connections to it.
pub struct Server {
    _peer: Peer,
    coid: Coid,
    pulse_coid: Coid,
    /// Where the server is, as this process reaches it, and its hold channel.
    nd: Nd,
    pid: Pid,
    chid: Chid,
    pulse_chid: Chid,
    hold_chid: Chid,
    direct: bool,
}

impl Server {
    /// Start a server on the daemon at `socket` with `threads` receivers; attach to it from
    /// this process as node `nd` (0: the harness's own daemon is the server's).
    pub fn start(socket: &Path, threads: usize, nd: Nd) -> Result<Self> {
        Self::start_named(socket, threads, nd, None)
    }

    /// As [`Server::start`], the server also attached under `name` (see [`serve`]).
    pub fn start_named(socket: &Path, threads: usize, nd: Nd, name: Option<&str>) -> Result<Self> {
        let (peer, pid, chid) = spawn(socket, threads, name)?;
        let pulse_chid: Chid = peer.field(2)?;
        let hold_chid: Chid = peer.field(3)?;
        let direct = peer.field::<u8>(4)? == 1;
        let coid = connect_attach(nd, pid, chid).context("ConnectAttach to the echo channel")?;
        let pulse_coid =
            connect_attach(nd, pid, pulse_chid).context("ConnectAttach to the pulse channel")?;
        Ok(Self {
            _peer: peer,
            coid,
            pulse_coid,
            nd,
            pid,
            chid,
            pulse_chid,
            hold_chid,
            direct,
        })
    }

    /// Whether the server process said it takes the direct path (`qnet::direct()`).
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// What the daemon behind `admin` (this server's own) has delivered so far: messages to
    /// the echo channel and pulses to the pulse channel. Calls on the direct path do not
    /// reach the daemon's kernel and are not counted.
    pub fn kernel_counts(&self, admin: &mut AdminClient) -> Result<(u64, u64)> {
        let query = admin_request::Query::Snapshot(AdminSnapshot::default());
        let views = match admin.query(query)? {
            admin_response::Result::Views(v) => v,
            other => bail!("unexpected answer to a snapshot: {other:?}"),
        };
        let channel = |chid: Chid| {
            views
                .views
                .iter()
                .flat_map(|v| &v.processes)
                .filter(|p| p.nd == 0 && p.pid == self.pid)
                .flat_map(|p| &p.channels)
                .find(|c| c.chid == chid)
                .cloned()
                .with_context(|| format!("the daemon shows no channel {chid} of pid {}", self.pid))
        };
        Ok((
            channel(self.chid)?.messages_total,
            channel(self.pulse_chid)?.pulses_total,
        ))
    }

    /// The server process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Its echo channel.
    pub fn chid(&self) -> Chid {
        self.chid
    }

    /// Its hold channel (messages received and never answered).
    pub fn hold_chid(&self) -> Chid {
        self.hold_chid
    }

    /// Park a caller on the server for the rest of the run: a thread of this process sends
    /// to the hold channel and stays REPLY-blocked (its send fails when the server goes at
    /// the end). Returns once the thread has its connection; the send follows at once.
    pub fn park(&self) -> Result<()> {
        let (nd, pid, chid) = (self.nd, self.pid, self.hold_chid);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || match connect_attach(nd, pid, chid) {
            Ok(coid) => {
                let _ = tx.send(Ok(()));
                let mut back = [0u8; 8];
                let _ = msg_send(coid, b"park", &mut back);
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        });
        rx.recv()
            .context("the parking thread ended")?
            .context("ConnectAttach to the hold channel")
    }

    /// `clients` threads, each a closed-loop `MsgSend` of `size` bytes (the server replies
    /// with the same bytes).
    pub fn measure(&self, size: usize, clients: usize, budget: Budget) -> Result<Sample> {
        let coid = self.coid;
        run_threads(
            clients,
            size,
            budget,
            |_| Ok((vec![0x5a; size], vec![0u8; size])),
            |(out, back)| {
                msg_send(coid, out, back)?;
                Ok(())
            },
        )
    }

    /// Send `count` pulses from this thread, then wait until the server has received them
    /// all; pulses per second over the whole span.
    pub fn pulses(&self, count: u64) -> Result<f64> {
        // Warm the session and the path.
        self.pulse_round(count.min(100))?;
        let start = Instant::now();
        self.pulse_round(count)?;
        Ok(count as f64 / start.elapsed().max(Duration::from_nanos(1)).as_secs_f64())
    }

    fn pulse_round(&self, count: u64) -> Result<()> {
        for i in 0..count {
            // A remote pulse is refused (EAGAIN) while its link's queue is full: wait a
            // moment and send it again, as a QNX program would.
            loop {
                match msg_send_pulse(self.pulse_coid, -1, PULSE_CODE, i as i32) {
                    Err(e) if e.errno() == qnet::Errno::EAGAIN => std::thread::yield_now(),
                    r => break r?,
                }
            }
        }
        let mut back = [0u8; 8];
        msg_send(self.pulse_coid, &count.to_le_bytes(), &mut back)?;
        let got = u64::from_le_bytes(back);
        if got != count {
            bail!("server counted {got} pulses, {count} sent");
        }
        Ok(())
    }
}
