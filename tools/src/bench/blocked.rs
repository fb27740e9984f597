//! `qnet bench --blocked PxT`: what many REPLY-blocked client threads cost a daemon (issue
//! 22): P client processes (`qnet bench peer blocked-client`) of T library threads each,
//! every thread REPLY-blocked on one server that receives and never answers (`qnet bench
//! peer hold`), on a daemon of its own whose RLIMIT_NOFILE the run sets (`--nofile`, as a
//! host's hard limit would). The daemon's open descriptors (`/proc/<pid>/fd`) and RSS idle and
//! loaded give descriptors and KiB per blocked thread.

use std::path::Path;

use anyhow::{Context, Result, bail};
use qnet::neutrino::{channel_create, connect_attach, msg_receive, msg_send};
use qnet::{ChannelFlags, Chid, Pid};
use serde::Serialize;

use super::memory::raise_fd_limit;
use super::procs::{Daemon, GUARD, Peer, announce, exit_when_stdin_closes, rss_of};

/// What the blocked-threads run measured.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BlockedFigures {
    /// Client processes.
    pub processes: usize,
    /// Library threads per process, each REPLY-blocked.
    pub threads_per_process: usize,
    /// The daemon's RLIMIT_NOFILE (soft and hard).
    pub nofile: u64,
    /// The daemon's open descriptors idle (its server started) and loaded.
    pub fds_idle: usize,
    /// Loaded.
    pub fds_loaded: usize,
    /// Its RSS idle, KiB.
    pub rss_idle_kib: u64,
    /// Loaded, KiB.
    pub rss_loaded_kib: u64,
}

impl BlockedFigures {
    fn threads(&self) -> f64 {
        (self.processes * self.threads_per_process).max(1) as f64
    }

    /// Daemon descriptors per blocked thread.
    pub fn fds_per_thread(&self) -> f64 {
        (self.fds_loaded as f64 - self.fds_idle as f64) / self.threads()
    }

    /// Daemon KiB per blocked thread.
    pub fn kib_per_thread(&self) -> f64 {
        (self.rss_loaded_kib as f64 - self.rss_idle_kib as f64) / self.threads()
    }

    /// One line.
    pub fn print(&self) {
        outln!(
            "blocked: {} processes x {} threads REPLY-blocked, daemon RLIMIT_NOFILE {}: \
             descriptors {} -> {} ({:.3} per thread), RSS {} -> {} KiB ({:.1} KiB per thread)",
            self.processes,
            self.threads_per_process,
            self.nofile,
            self.fds_idle,
            self.fds_loaded,
            self.fds_per_thread(),
            self.rss_idle_kib,
            self.rss_loaded_kib,
            self.kib_per_thread()
        );
    }
}

/// Set `pid`'s descriptor limit, soft and hard, to `n`.
#[allow(unsafe_code)]
fn set_nofile(pid: u32, n: u64) -> Result<()> {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    let pid = libc::pid_t::try_from(pid).context("pid")?;
    // SAFETY: prlimit reads our rlimit and writes nothing (no old-limit pointer).
    let r = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
    if r != 0 {
        bail!(
            "cannot set qnetd's RLIMIT_NOFILE to {n}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?
        .count())
}

/// Run it: `processes` x `threads` on a daemon of its own with RLIMIT_NOFILE `nofile`.
pub fn measure(
    qnetd: &Path,
    extra: &[String],
    processes: usize,
    threads: usize,
    nofile: u64,
) -> Result<BlockedFigures> {
    let daemon = Daemon::start(qnetd, "nblocked", None, &[], extra, &[])?;
    set_nofile(daemon.pid(), nofile)?;
    let socket = daemon.socket.to_str().context("temp path is not UTF-8")?;
    let total = processes * threads;
    let server = Peer::start("hold", &[socket, &total.to_string()])?;
    let (pid, chid): (Pid, Chid) = (server.field(0)?, server.field(1)?);
    let fds_idle = open_fds(daemon.pid())?;
    let rss_idle_kib = rss_of(daemon.pid())? / 1024;
    let mut clients = Vec::with_capacity(processes);
    for _ in 0..processes {
        clients.push(Peer::start(
            "blocked-client",
            &[
                socket,
                &pid.to_string(),
                &chid.to_string(),
                &threads.to_string(),
            ],
        )?);
    }
    // Every message received (and never answered): every thread is REPLY-blocked.
    server.wait_line("HELD")?;
    let figures = BlockedFigures {
        processes,
        threads_per_process: threads,
        nofile,
        fds_idle,
        fds_loaded: open_fds(daemon.pid())?,
        rss_idle_kib,
        rss_loaded_kib: rss_of(daemon.pid())? / 1024,
    };
    drop(clients);
    drop(server);
    Ok(figures)
}

/// Peer side (`qnet bench peer hold SOCKET N`): a channel whose messages are received and
/// never answered; `READY <pid> <chid>`, then `HELD` once N messages are held.
pub fn hold(socket: &Path, n: usize) -> Result<()> {
    qnet::set_socket_path(socket);
    exit_when_stdin_closes();
    let chid = channel_create(ChannelFlags::default())?;
    announce(&format!("{} {chid}", std::process::id()));
    let mut buf = [0u8; 64];
    let mut held = 0;
    while held < n {
        if msg_receive(chid, &mut buf, None)? > 0 {
            held += 1;
        }
    }
    outln!("HELD {held}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Peer side (`qnet bench peer blocked-client SOCKET PID CHID T`): T library threads, each
/// connecting to PID/CHID and sending one message that is never answered; `READY` once
/// every thread has its connection.
pub fn client(socket: &Path, pid: Pid, chid: Chid, threads: usize) -> Result<()> {
    qnet::set_socket_path(socket);
    exit_when_stdin_closes();
    raise_fd_limit(threads as u64 + 256)?;
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..threads {
        let tx = tx.clone();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || match connect_attach(0, pid, chid) {
                Ok(coid) => {
                    let _ = tx.send(Ok(()));
                    let _ = msg_send(coid, b"blocked", &mut [0u8; 8]);
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            })?;
    }
    for _ in 0..threads {
        rx.recv_timeout(GUARD)
            .context("a thread's ConnectAttach never answered")?
            .context("ConnectAttach")?;
    }
    announce("connected");
    loop {
        std::thread::park();
    }
}
