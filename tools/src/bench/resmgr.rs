//! The resource-manager phase: a 64 B `read` of an attached path the way libqnetc's `read`
//! does it (one `_IO_READ` `MsgSend`, the reply straight into the buffer) and through
//! qnetd's FUSE mount, against a local 64 B `MsgSend` on the same daemon; and 1 MiB reads
//! through the mount against the raw Unix-socket floor's throughput.
//!
//! The manager (`qnet bench peer resmgr-server SOCKET PATH`) answers QNX's messages as
//! libqnetc's resource-manager library does in a thread pool, step for step (`MsgReceive`,
//! the handler, its reply held for the pool's next `dispatch_block` and sent with that
//! receive, a reply over 64 KiB sent at once), and the client sends what libqnetc's `read`
//! sends; the `qnet` tool cannot load libqnetc itself, whose exported `open`/`read` would
//! take over the tool's own.

use std::io::{IoSlice, IoSliceMut, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use qnet::neutrino::{
    PathFlags, channel_create, connect_attach, msg_error, msg_receive, msg_reply, msg_send,
    msg_sendv, path_attach, path_resolve,
};
use qnet::{ChannelFlags, Coid, MsgInfo};
use serde::Serialize;

use super::procs::{Peer, announce, exit_when_stdin_closes};
use super::stats::Sample;
use super::workload::{Budget, run_threads};

/// The path the bench's manager attaches.
pub const PATH: &str = "/qnet-bench/dev";

const IO_CONNECT: u16 = 0x100;
const IO_READ: u16 = 0x101;
const IO_WRITE: u16 = 0x102;
const IO_STAT: u16 = 0x104;
const IO_LSEEK: u16 = 0x109;
const IO_CLOSE: u16 = 0x116;

/// Largest read the manager answers in one reply.
const MAX_READ: usize = 1 << 20;

/// Peer side: a manager on `path` (two threads, as a small thread pool would).
pub fn serve(socket: &Path, path: &str) -> Result<()> {
    qnet::set_socket_path(socket);
    // dispatch_create's channel: DISCONNECT | UNBLOCK.
    let chid = channel_create(ChannelFlags(0x8 | 0x2))?;
    path_attach(path, chid, PathFlags::default(), 0)?;
    exit_when_stdin_closes();
    for _ in 0..2 {
        std::thread::spawn(move || manager_loop(chid));
    }
    announce(&std::process::id().to_string());
    loop {
        std::thread::park();
    }
}

fn manager_loop(chid: qnet::Chid) -> Result<()> {
    let data = vec![0x5au8; MAX_READ];
    // The library's context buffer (msg_max_size 2048).
    let mut buf = vec![0u8; 2048];
    let mut stat = [0u8; std::mem::size_of::<nix::libc::stat>()];
    let mode = 0o050000u32 | 0o666;
    let off = std::mem::offset_of!(nix::libc::stat, st_mode);
    stat[off..off + 4].copy_from_slice(&mode.to_ne_bytes());
    let zero = 0u64.to_ne_bytes();
    // The reply held for the next receive: rcvid, status, bytes.
    let mut held: Option<(qnet::Rcvid, i64, Vec<u8>)> = None;
    loop {
        let mut info = MsgInfo::default();
        let rcvid = match held.take() {
            Some((r, status, reply)) => qnet::neutrino::msg_reply_receive(
                r,
                status,
                &reply,
                chid,
                &mut buf,
                Some(&mut info),
            )
            .or_else(|_| msg_receive(chid, &mut buf, Some(&mut info)))?,
            None => msg_receive(chid, &mut buf, Some(&mut info))?,
        };
        if rcvid == 0 {
            continue;
        }
        let ty = u16::from_ne_bytes([buf[0], buf[1]]);
        let nbytes = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let (status, reply): (i64, &[u8]) = match ty {
            IO_CONNECT | IO_CLOSE => (0, &[]),
            IO_READ => {
                let n = nbytes.clamp(0, MAX_READ as i32);
                (i64::from(n), &data[..n as usize])
            }
            IO_WRITE => (i64::from(nbytes.max(0)), &[]),
            IO_STAT => (0, &stat),
            IO_LSEEK => (0, &zero),
            _ => {
                msg_error(rcvid, qnet::Errno::ENOSYS)?;
                continue;
            }
        };
        // As the library: the copy of a reply is worth it up to 64 KiB.
        if reply.len() <= 64 * 1024 {
            held = Some((rcvid, status, reply.to_vec()));
        } else {
            msg_reply(rcvid, status, reply)?;
        }
    }
}

/// The manager process and the harness's descriptor-like connection to it.
pub struct Bench {
    _peer: Peer,
    coid: Coid,
    /// Its file in the FUSE mount, when the daemon mounted one.
    file: Option<PathBuf>,
}

impl Bench {
    /// Start the manager on the daemon at `socket`; open its path as libqnetc's `open` does
    /// (resolve, `ConnectAttach`, `_IO_CONNECT`), and find it in `mount` if given.
    pub fn start(socket: &Path, mount: Option<&Path>) -> Result<Self> {
        let s = socket.to_str().context("temp path is not UTF-8")?;
        let peer = Peer::start("resmgr-server", &[s, PATH])?;
        let found = path_resolve(PATH, 0).context("resolving the manager's path")?;
        let m = found.first().context("no manager for the bench path")?;
        let coid = connect_attach(m.nd, m.pid, m.chid)?;
        let mut connect = vec![0u8; 40];
        connect[0..2].copy_from_slice(&IO_CONNECT.to_ne_bytes());
        connect[2..4].copy_from_slice(&2u16.to_ne_bytes());
        connect[16..20].copy_from_slice(&m.handle.to_ne_bytes());
        connect[20..24].copy_from_slice(&1u32.to_ne_bytes());
        connect[34..36].copy_from_slice(&1u16.to_ne_bytes());
        connect.push(0);
        msg_send(coid, &connect, &mut [])?;
        let file = mount.map(|m| m.join(PATH.trim_start_matches('/')));
        if let Some(f) = &file {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !f.exists() {
                if Instant::now() > deadline {
                    bail!("{} never appeared in the mount", f.display());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(Self {
            _peer: peer,
            coid,
            file,
        })
    }

    /// Whether the mount rows can run.
    pub fn mounted(&self) -> bool {
        self.file.is_some()
    }

    /// One client reading `size` bytes at a time as libqnetc's `read` does.
    pub fn read_lib(&self, size: usize, budget: Budget) -> Result<Sample> {
        let coid = self.coid;
        run_threads(
            1,
            size,
            budget,
            |_| Ok(vec![0u8; size]),
            |buf| {
                let mut hdr = [0u8; 16];
                hdr[0..2].copy_from_slice(&IO_READ.to_ne_bytes());
                hdr[4..8].copy_from_slice(&(buf.len() as i32).to_ne_bytes());
                let n = msg_sendv(coid, &[IoSlice::new(&hdr)], &mut [IoSliceMut::new(buf)])?;
                if n as usize != buf.len() {
                    bail!("read {n} of {}", buf.len());
                }
                Ok(())
            },
        )
    }

    /// One client reading `size` bytes at a time from the manager's file in the mount.
    pub fn read_fuse(&self, size: usize, budget: Budget) -> Result<Sample> {
        let file = self.file.clone().context("no mount")?;
        run_threads(
            1,
            size,
            budget,
            |_| Ok((std::fs::File::open(&file)?, vec![0u8; size])),
            |(f, buf)| {
                let n = f.read(buf)?;
                if n != buf.len() {
                    bail!("read {n} of {}", buf.len());
                }
                Ok(())
            },
        )
    }
}

/// The phase's medians over rounds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResmgrFigures {
    /// Local 64 B `MsgSend` p50 on the same daemon, µs.
    pub msgsend_64_p50_us: f64,
    /// 64 B `read` as libqnetc sends it, p50 µs.
    pub read_lib_64_p50_us: f64,
    /// 64 B `read` through the mount, p50 µs (0: not mounted).
    pub read_fuse_64_p50_us: f64,
    /// Raw Unix-socket 1 MiB echo, MiB/s one way.
    pub uds_1mib_mib_s: f64,
    /// 1 MiB reads through the mount, MiB/s (0: not mounted).
    pub read_fuse_1mib_mib_s: f64,
    /// Why the mount rows did not run, if they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl ResmgrFigures {
    /// Print the phase.
    pub fn print(&self) {
        outln!("resource manager (one client, local):");
        outln!(
            "  64 B: MsgSend p50 {:.1} µs | read as libqnetc p50 {:.1} µs ({:.2}x) | read through the mount p50 {}",
            self.msgsend_64_p50_us,
            self.read_lib_64_p50_us,
            ratio(self.read_lib_64_p50_us, self.msgsend_64_p50_us),
            if self.read_fuse_64_p50_us > 0.0 {
                format!(
                    "{:.1} µs ({:.2}x)",
                    self.read_fuse_64_p50_us,
                    ratio(self.read_fuse_64_p50_us, self.msgsend_64_p50_us)
                )
            } else {
                "-".into()
            }
        );
        outln!(
            "  1 MiB: raw UDS {:.0} MiB/s | read through the mount {}",
            self.uds_1mib_mib_s,
            if self.read_fuse_1mib_mib_s > 0.0 {
                format!(
                    "{:.0} MiB/s ({:.2}x)",
                    self.read_fuse_1mib_mib_s,
                    ratio(self.read_fuse_1mib_mib_s, self.uds_1mib_mib_s)
                )
            } else {
                "-".into()
            }
        );
        if let Some(why) = &self.skipped {
            outln!("  (mount rows skipped: {why})");
        }
    }
}

/// `a / b` (0 when `b` is 0).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Why the daemon cannot mount here (`None`: it can).
pub fn mount_refused() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("mounting FUSE needs root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    None
}
