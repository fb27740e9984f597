//! Cost as tables grow, and memory after a load drains (issue 12, items 7 and 8), on a
//! `qnetd` of its own started with limits high enough for the run.
//!
//! - objects: one process (`qnet bench peer scale objects N`) creates N channels, N
//!   connections and N names, one call each, then is killed. Creation rates at a small and a
//!   large N are equal when each call costs O(log n); the exit time (from the kill until the
//!   daemon answers that the process's name is gone) is linear in the objects it held.
//! - drain: one process parks K clients REPLY-blocked (raw thread sessions, each with one
//!   `MsgSend` its own server thread received and never answers), then is killed; the
//!   daemon's RSS idle, loaded and after the drain shows what it keeps.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use qnet::neutrino::{channel_create, connect_attach, msg_receive, name_attach};
use qnet::{ChannelFlags, Errno};
use qnet_proto::frame::blocking::{read_frame, write_frame};
use qnet_proto::local::{
    self, ClientFrame, DaemonFrame, Request, client_frame, daemon_frame, request, response,
};
use serde::Serialize;

use super::memory::{open_session, raise_fd_limit};
use super::procs::{Daemon, GUARD, Peer, announce, exit_when_stdin_closes, rss_of};

/// The name the measured process attaches first; its disappearance marks the exit done.
const MARKER: &str = "qnet-bench-scale-marker";

/// Limits for the scale daemon: far above the run's object counts.
const HIGH_LIMIT: &str = "100000000";

/// Creation rates and exit time for one object count.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ObjectFigures {
    /// Objects of each kind the process held.
    pub objects: usize,
    /// `ChannelCreate` calls per second while creating them.
    pub channels_per_s: f64,
    /// `ConnectAttach` calls per second.
    pub connections_per_s: f64,
    /// `name_attach` calls per second.
    pub names_per_s: f64,
    /// From the kill of the process until the daemon answered that its name is gone.
    pub exit_ms: f64,
}

/// Daemon RSS around a drain of REPLY-blocked clients.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DrainFigures {
    /// REPLY-blocked clients parked.
    pub clients: usize,
    /// Daemon RSS before, MiB.
    pub idle_mib: f64,
    /// With the clients parked, MiB.
    pub loaded_mib: f64,
    /// After the process holding them was killed and its exit handled, MiB.
    pub drained_mib: f64,
}

/// Everything the scale phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleFigures {
    /// One entry per object count, smallest first.
    pub objects: Vec<ObjectFigures>,
    /// The drain, each round.
    pub drains: Vec<DrainFigures>,
}

impl ScaleFigures {
    /// The scale tables.
    pub fn print(&self) {
        outln!(
            "scale: one process creates N channels, N connections, N names (one call each), then is killed"
        );
        outln!(
            "{:>9} | {:>11} {:>14} {:>9} | {:>9} {:>13}",
            "objects",
            "channels/s",
            "connections/s",
            "names/s",
            "exit ms",
            "exit µs/object"
        );
        for o in &self.objects {
            // The process held N channels, N connections, N names (each on its own channel).
            let held = (4 * o.objects) as f64;
            outln!(
                "{:>9} | {:>11.0} {:>14.0} {:>9.0} | {:>9.1} {:>13.2}",
                o.objects,
                o.channels_per_s,
                o.connections_per_s,
                o.names_per_s,
                o.exit_ms,
                o.exit_ms * 1e3 / held
            );
        }
        for (i, d) in self.drains.iter().enumerate() {
            outln!(
                "drain {}: {} REPLY-blocked clients, daemon RSS {:.1} MiB idle, {:.1} MiB loaded, {:.1} MiB after the drain",
                i + 1,
                d.clients,
                d.idle_mib,
                d.loaded_mib,
                d.drained_mib
            );
        }
    }
}

/// Run the scale phase: `sizes` object counts, then `rounds` drains of `clients` clients.
pub fn measure(
    qnetd: &Path,
    extra: &[String],
    sizes: &[usize],
    clients: usize,
    rounds: usize,
) -> Result<ScaleFigures> {
    let mut args: Vec<String> = extra.to_vec();
    for limit in ["channels", "connections", "names"] {
        args.push(format!("--limit-{limit}"));
        args.push(HIGH_LIMIT.into());
    }
    let daemon = Daemon::start(qnetd, "nscale", None, &[], &args, &[])?;
    let socket = daemon.socket.to_str().context("temp path is not UTF-8")?;
    let mut objects = Vec::new();
    for &n in sizes {
        let peer = Peer::start("scale", &["objects", socket, &n.to_string()])?;
        let rates: [f64; 3] = [peer.field(0)?, peer.field(1)?, peer.field(2)?];
        let exit = exit_time(&daemon, peer)?;
        objects.push(ObjectFigures {
            objects: n,
            channels_per_s: rates[0],
            connections_per_s: rates[1],
            names_per_s: rates[2],
            exit_ms: exit.as_secs_f64() * 1e3,
        });
    }
    let mut drains = Vec::new();
    raise_fd_limit(clients as u64 + 256)?;
    for _ in 0..rounds {
        let idle = rss_of(daemon.pid())?;
        let peer = Peer::start("scale", &["drain", socket, &clients.to_string()])?;
        let loaded = rss_of(daemon.pid())?;
        exit_time(&daemon, peer)?;
        let drained = rss_of(daemon.pid())?;
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        drains.push(DrainFigures {
            clients,
            idle_mib: mib(idle),
            loaded_mib: mib(loaded),
            drained_mib: mib(drained),
        });
    }
    Ok(ScaleFigures { objects, drains })
}

/// Kill `peer` and time until `daemon` says its marker name is gone (its exit is handled).
fn exit_time(daemon: &Daemon, peer: Peer) -> Result<Duration> {
    let mut probe = open_session(&daemon.socket, 4_000_000)?;
    let start = Instant::now();
    drop(peer);
    loop {
        let open = request::Call::NameOpen(local::NameOpen {
            name: MARKER.into(),
        });
        match call(&mut probe, open)? {
            response::Result::Error(e) if e.errno == Errno::ENOENT.0 => return Ok(start.elapsed()),
            response::Result::Coid(_) => {}
            other => bail!("probe name_open: {other:?}"),
        }
        if start.elapsed() > GUARD * 4 {
            bail!(
                "the daemon did not finish the process exit within {:?}",
                GUARD * 4
            );
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// One request on a raw thread session, and its response.
fn call(s: &mut UnixStream, call: request::Call) -> Result<response::Result> {
    send(s, call)?;
    let frame: Option<DaemonFrame> = read_frame(s, 1 << 20)?;
    match frame.and_then(|f| f.frame) {
        Some(daemon_frame::Frame::Response(local::Response { result: Some(r) })) => Ok(r),
        other => bail!("expected a response, got {other:?}"),
    }
}

fn send(s: &mut UnixStream, call: request::Call) -> Result<()> {
    let frame = ClientFrame {
        frame: Some(client_frame::Frame::Request(Request { call: Some(call) })),
    };
    write_frame(s, &frame)?;
    s.flush()?;
    Ok(())
}

/// Peer side (`qnet bench peer scale MODE SOCKET N`).
pub fn serve(mode: &str, socket: &Path, n: usize) -> Result<()> {
    qnet::set_socket_path(socket);
    exit_when_stdin_closes();
    name_attach(MARKER, ChannelFlags::default()).context("name_attach marker")?;
    match mode {
        "objects" => {
            let rate = |f: &mut dyn FnMut(usize) -> Result<()>| -> Result<f64> {
                let start = Instant::now();
                for i in 0..n {
                    f(i)?;
                }
                Ok(n as f64 / start.elapsed().as_secs_f64())
            };
            let mut first = None;
            let channels = rate(&mut |_| {
                let chid = channel_create(ChannelFlags::default())?;
                first.get_or_insert(chid);
                Ok(())
            })?;
            let chid = first.context("no channel")?;
            let connections = rate(&mut |_| {
                connect_attach(0, 0, chid)?;
                Ok(())
            })?;
            let pid = std::process::id();
            let names = rate(&mut |i| {
                name_attach(
                    &format!("qnet-bench-scale-{pid}-{i}"),
                    ChannelFlags::default(),
                )?;
                Ok(())
            })?;
            announce(&format!("{channels} {connections} {names}"));
        }
        "drain" => {
            let chid = channel_create(ChannelFlags::default())?;
            let mut sessions = Vec::with_capacity(n);
            for i in 0..n {
                let mut s = open_session(socket, 5_000_000 + i as u32)?;
                let attach = request::Call::ConnectAttach(local::ConnectAttach {
                    nd: 0,
                    pid: 0,
                    chid,
                });
                let coid = match call(&mut s, attach)? {
                    response::Result::Coid(c) => c,
                    other => bail!("ConnectAttach: {other:?}"),
                };
                send(
                    &mut s,
                    request::Call::MsgSend(local::MsgSend {
                        coid,
                        data: vec![0u8; 64].into(),
                        reply_cap: 64,
                        priority: 10,
                        timeout: None,
                        ..Default::default()
                    }),
                )?;
                sessions.push(s);
            }
            // Receive every message and answer none: n clients REPLY-blocked.
            let mut buf = [0u8; 64];
            for _ in 0..n {
                msg_receive(chid, &mut buf, None)?;
            }
            announce("parked");
            // Keep the sessions open until killed.
            loop {
                std::thread::park();
            }
        }
        other => bail!("unknown scale mode {other:?}"),
    }
    loop {
        std::thread::park();
    }
}
