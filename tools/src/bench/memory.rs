//! Daemon memory per idle connection: `VmRSS` of the daemon(s) before and after opening N
//! idle connections, divided by N.
//!
//! Measured on a daemon pair of its own, started with glibc's default heap trimming
//! (`MALLOC_TRIM_THRESHOLD_`/`MALLOC_MMAP_THRESHOLD_` = 128 KiB, which makes qnetd's
//! `heap::tune` step aside): with the product's thresholds a fresh daemon keeps the memory its
//! start-up freed, and 1,000 coids fit in it without moving RSS. The connections are opened by
//! a child process (`qnet bench peer memory …`), because the library's daemon socket is
//! process-wide and the harness itself talks to the timing daemons.
//!
//! Descriptors per blocked client thread: the same peer then parks N library threads
//! REPLY-blocked on a local server (each its own thread session, one copy on where the daemon
//! may read the peer) and counts the daemon's open descriptors (`/proc/<pid>/fd`) before and
//! after: a socket per thread session and one pidfd per client process (issue 22).

use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result, bail};
use qnet::neutrino::{connect_attach, connect_detach, msg_send};
use qnet::{Chid, Nd, Pid};
use qnet_proto::local::SessionKind;
use serde::Serialize;

use super::ipc;
use super::procs::{Daemon, ND_B, Peer, announce, exit_when_stdin_closes, rss_of};
use super::segments::PairCost;

/// Bytes of daemon RSS per idle connection, for each kind measured.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MemoryFigures {
    /// Connections opened per kind.
    pub connections: usize,
    /// Local `ConnectAttach` (a coid to a local server), on the daemon.
    pub local_connect_attach: f64,
    /// Local thread session (a Unix-socket session with hello done: what each client thread
    /// costs), on the daemon.
    pub local_thread_session: f64,
    /// Remote `ConnectAttach` (a coid on node A to a server on node B), on the client's daemon.
    pub remote_connect_attach_client_daemon: f64,
    /// The same, on the server's daemon.
    pub remote_connect_attach_server_daemon: f64,
    /// Library threads of one process parked REPLY-blocked for the descriptor count.
    pub blocked_threads: usize,
    /// The daemon's open descriptors per such thread (its session socket, and its share of
    /// the process's one pidfd).
    pub descriptors_per_blocked_thread: f64,
}

impl MemoryFigures {
    /// The figure the remote target is about: both daemons' growth per remote connection.
    pub fn remote_total(&self) -> f64 {
        self.remote_connect_attach_client_daemon + self.remote_connect_attach_server_daemon
    }
}

/// `n` coids to `nd/pid/chid` from this thread; growth per coid of the RSS of the daemons
/// with pids `daemons`.
fn connect_attach_cost(
    daemons: &[u32],
    n: usize,
    nd: Nd,
    pid: Pid,
    chid: Chid,
) -> Result<Vec<f64>> {
    let before: Vec<u64> = daemons.iter().map(|&d| rss_of(d)).collect::<Result<_>>()?;
    let mut coids = Vec::with_capacity(n);
    for _ in 0..n {
        coids.push(connect_attach(nd, pid, chid).context("ConnectAttach")?);
    }
    let after: Vec<u64> = daemons.iter().map(|&d| rss_of(d)).collect::<Result<_>>()?;
    for coid in coids {
        connect_detach(coid).context("ConnectDetach")?;
    }
    Ok(per_connection(&before, &after, n))
}

/// `n` idle thread sessions (raw Unix-socket sessions with a THREAD hello, as the library
/// opens one per calling thread); growth of the daemon's RSS per session.
fn thread_session_cost(socket: &Path, daemon: u32, n: usize) -> Result<f64> {
    raise_fd_limit(n as u64 + 256)?;
    let before = rss_of(daemon)?;
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        sessions.push(open_session(socket, 3_000_000 + i as u32)?);
    }
    let after = rss_of(daemon)?;
    drop(sessions);
    Ok(per_connection(&[before], &[after], n)[0])
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?
        .count())
}

/// `n` library threads of this process, each REPLY-blocked on `pid`/`chid` (a channel whose
/// messages are received and never answered); the daemon's (`daemon`) open descriptors per
/// thread, counted once every thread has its session and connection. The threads stay
/// blocked until the process ends.
fn blocked_thread_descriptors(daemon: u32, n: usize, pid: Pid, chid: Chid) -> Result<f64> {
    raise_fd_limit(n as u64 + 256)?;
    let before = open_fds(daemon)?;
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..n {
        let tx = tx.clone();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || match connect_attach(0, pid, chid) {
                Ok(coid) => {
                    let _ = tx.send(Ok(()));
                    let _ = msg_send(coid, b"park", &mut [0u8; 8]);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            })?;
    }
    for _ in 0..n {
        rx.recv_timeout(super::procs::GUARD)
            .context("a parked thread's ConnectAttach never answered")?
            .context("ConnectAttach of a parked thread")?;
    }
    let after = open_fds(daemon)?;
    Ok((after as f64 - before as f64) / n.max(1) as f64)
}

/// What the memory peer measures: the daemons, a server on each, and how many connections.
#[derive(Debug, Clone, clap::Args)]
pub struct Spec {
    /// Socket of the client-side daemon (node A).
    pub socket_a: std::path::PathBuf,
    /// Its pid.
    pub pid_a: u32,
    /// Pid of the server-side daemon (node B).
    pub pid_b: u32,
    /// A server on A: pid and chid.
    pub local_pid: Pid,
    /// Its chid.
    pub local_chid: Chid,
    /// nd of B as A numbers it.
    pub nd_b: Nd,
    /// A server on B: pid and chid.
    pub remote_pid: Pid,
    /// Its chid.
    pub remote_chid: Chid,
    /// Connections per kind.
    pub connections: usize,
    /// The local server's hold channel (its messages are never answered).
    pub local_hold_chid: Chid,
    /// Threads to park REPLY-blocked on it.
    pub blocked_threads: usize,
}

/// Peer side (`qnet bench peer memory …`): measure, print the four figures on the READY line,
/// then wait to be told to exit.
pub fn serve(spec: &Spec) -> Result<()> {
    qnet::set_socket_path(&spec.socket_a);
    exit_when_stdin_closes();
    let n = spec.connections;
    // Smallest first: freed session memory would otherwise absorb the coids' growth.
    let local = connect_attach_cost(&[spec.pid_a], n, 0, spec.local_pid, spec.local_chid)?[0];
    let remote = connect_attach_cost(
        &[spec.pid_a, spec.pid_b],
        n,
        spec.nd_b,
        spec.remote_pid,
        spec.remote_chid,
    )?;
    let sessions = thread_session_cost(&spec.socket_a, spec.pid_a, n)?;
    // One 64 B call to the local server, its connection kept: on the direct path the daemon
    // made this process a pair with the echo channel, which the harness reads the cost of.
    let coid = connect_attach(0, spec.local_pid, spec.local_chid).context("ConnectAttach")?;
    msg_send(coid, &[0x5a; 64], &mut [0u8; 64]).context("one 64 B call")?;
    // Last: these threads stay blocked.
    let fds = blocked_thread_descriptors(
        spec.pid_a,
        spec.blocked_threads,
        spec.local_pid,
        spec.local_hold_chid,
    )?;
    announce(&format!(
        "{local} {} {} {sessions} {fds}",
        remote[0], remote[1]
    ));
    loop {
        std::thread::park();
    }
}

/// glibc's default thresholds, given explicitly: qnetd leaves the heap to them.
const GLIBC_DEFAULT_TRIMMING: [(&str, &str); 2] = [
    ("MALLOC_TRIM_THRESHOLD_", "131072"),
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
];

/// Start a daemon pair of its own (`mb`, then `ma` dialling it) with glibc's default heap
/// trimming, an idle server on each, and measure `n` connections of each kind from a memory
/// peer, and the descriptors per REPLY-blocked library thread; then what the direct pair of
/// the peer's one 64 B call to the local server costs. Everything it started is stopped when
/// it returns.
pub fn measure(
    qnetd: &Path,
    certs: &Path,
    extra: &[String],
    n: usize,
    blocked_threads: usize,
) -> Result<(MemoryFigures, PairCost)> {
    let (a, b) = Daemon::start_pair(qnetd, certs, extra, &GLIBC_DEFAULT_TRIMMING)?;
    let (local, local_pid, local_chid) = ipc::spawn(&a.socket, 1, None)?;
    let local_hold_chid: Chid = local.field(3)?;
    let (_remote, remote_pid, remote_chid) = ipc::spawn(&b.socket, 1, None)?;
    let socket_a = a.socket.to_str().context("temp path is not UTF-8")?;
    let args = [
        socket_a.to_owned(),
        a.pid().to_string(),
        b.pid().to_string(),
        local_pid.to_string(),
        local_chid.to_string(),
        ND_B.to_string(),
        remote_pid.to_string(),
        remote_chid.to_string(),
        n.to_string(),
        local_hold_chid.to_string(),
        blocked_threads.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let peer = Peer::start("memory", &args)?;
    let pair = PairCost::read_settled(a.pid(), local_pid, peer.pid(), Some(local_chid))?;
    let figures = MemoryFigures {
        connections: n,
        local_connect_attach: peer.field(0)?,
        remote_connect_attach_client_daemon: peer.field(1)?,
        remote_connect_attach_server_daemon: peer.field(2)?,
        local_thread_session: peer.field(3)?,
        blocked_threads,
        descriptors_per_blocked_thread: peer.field(4)?,
    };
    Ok((figures, pair))
}

fn per_connection(before: &[u64], after: &[u64], n: usize) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| (*a as f64 - *b as f64) / n.max(1) as f64)
        .collect()
}

pub(super) fn open_session(socket: &Path, tid: u32) -> Result<UnixStream> {
    let mut s = UnixStream::connect(socket)?;
    qnet_proto::hello::open(&mut s, SessionKind::Thread, tid)
        .map_err(|e| anyhow::anyhow!("session hello not acknowledged: {e}"))?;
    Ok(s)
}

/// Allow at least `want` descriptors (up to the hard limit).
pub fn raise_fd_limit(want: u64) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < want {
        if hard < want {
            bail!("need {want} descriptors, the hard limit is {hard}");
        }
        setrlimit(Resource::RLIMIT_NOFILE, want, hard)?;
    }
    Ok(())
}
