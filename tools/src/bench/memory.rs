//! Daemon memory per idle connection: `VmRSS` of the daemon(s) before and after opening N
//! idle connections, divided by N. Run on fresh daemons, before the throughput cells, so the
//! allocator has no freed memory to hand back out.

use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result, bail};
use qnet::neutrino::{connect_attach, connect_detach};
use qnet::{Chid, Nd, Pid};
use qnet_proto::frame::blocking::{read_frame, write_frame};
use qnet_proto::local::{ClientFrame, DaemonFrame, Hello, SessionKind, client_frame, daemon_frame};
use serde::Serialize;

use super::procs::Daemon;

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
}

impl MemoryFigures {
    /// The figure the remote target is about: both daemons' growth per remote connection.
    pub fn remote_total(&self) -> f64 {
        self.remote_connect_attach_client_daemon + self.remote_connect_attach_server_daemon
    }
}

/// `n` coids to `nd/pid/chid` from this thread; growth of `daemons`' RSS per coid.
pub fn connect_attach_cost(
    daemons: &[&Daemon],
    n: usize,
    nd: Nd,
    pid: Pid,
    chid: Chid,
) -> Result<Vec<f64>> {
    let before: Vec<u64> = daemons.iter().map(|d| d.rss()).collect::<Result<_>>()?;
    let mut coids = Vec::with_capacity(n);
    for _ in 0..n {
        coids.push(connect_attach(nd, pid, chid).context("ConnectAttach")?);
    }
    let after: Vec<u64> = daemons.iter().map(|d| d.rss()).collect::<Result<_>>()?;
    for coid in coids {
        connect_detach(coid).context("ConnectDetach")?;
    }
    Ok(per_connection(&before, &after, n))
}

/// `n` idle thread sessions (raw Unix-socket sessions with a THREAD hello, as the library
/// opens one per calling thread); growth of the daemon's RSS per session.
pub fn thread_session_cost(daemon: &Daemon, n: usize) -> Result<f64> {
    raise_fd_limit(n as u64 + 256)?;
    let before = daemon.rss()?;
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        sessions.push(open_session(&daemon.socket, 3_000_000 + i as u32)?);
    }
    let after = daemon.rss()?;
    drop(sessions);
    Ok(per_connection(&[before], &[after], n)[0])
}

fn per_connection(before: &[u64], after: &[u64], n: usize) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| (*a as f64 - *b as f64) / n.max(1) as f64)
        .collect()
}

fn open_session(socket: &Path, tid: u32) -> Result<UnixStream> {
    let mut s = UnixStream::connect(socket)?;
    let hello = ClientFrame {
        frame: Some(client_frame::Frame::Hello(Hello {
            version: qnet_proto::LOCAL_PROTOCOL_VERSION,
            tid,
            kind: SessionKind::Thread as i32,
        })),
    };
    write_frame(&mut s, &hello)?;
    let ack: Option<DaemonFrame> = read_frame(&mut s, 1 << 16)?;
    match ack.and_then(|f| f.frame) {
        Some(daemon_frame::Frame::HelloAck(_)) => Ok(s),
        other => bail!("session hello not acknowledged: {other:?}"),
    }
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
