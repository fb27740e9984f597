//! The pathname space as a FUSE mount (`--mount DIR`): every Linux program (`cat`,
//! `echo > …`, `ls`, static binaries too) reaches the paths resource managers attached, on
//! this node and as `net/<node>/…` on the others. `fs.rs` says what each request means,
//! `caller.rs` how the mount makes kernel calls as the requesting process, `abi.rs` is the
//! protocol, `links.rs` the optional symbolic links at the QNX paths.
//!
//! The protocol is spoken here over `/dev/fuse` rather than through the `fuser` crate: fuser
//! answers `FUSE_INTERRUPT` with `ENOSYS` itself (its request loop has no way to hand it to
//! the file system), and that answer makes the kernel stop sending interrupts to the whole
//! mount, so a reader interrupted while a manager does not answer would stay blocked. The
//! subset a pathname space needs (lookup, getattr, readdir, open, read, write, ioctl,
//! release, interrupt) is small; `abi.rs` parses every request with checked lengths.
//!
//! One thread reads requests; each is served by a task on the daemon's runtime (a blocked
//! read of one manager never holds up another request), and replies are single writes.
//! Mounting needs root or `CAP_SYS_ADMIN` and `/dev/fuse`. The mount goes at shutdown; a
//! stale one (a daemon that was killed) is detached at start.

mod abi;
mod caller;
mod fs;
mod links;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags};

use crate::driver::Driver;

pub use self::links::Links;

/// Why the mount could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot mount the pathname space on {}: {what}: {error}", dir.display())]
pub struct MountError {
    /// The directory.
    pub dir: PathBuf,
    /// What failed.
    pub what: &'static str,
    /// The error.
    pub error: std::io::Error,
}

/// A mounted pathname space.
#[derive(Debug)]
pub struct Mount {
    dir: PathBuf,
    dev: Arc<std::fs::File>,
    links: Vec<PathBuf>,
}

impl Mount {
    /// Mount on `dir` (created if missing). `links`: roots under which attached paths get a
    /// symbolic link to the mount (see `links.rs`).
    pub fn new(dir: &Path, links: Vec<PathBuf>) -> Result<Mount, MountError> {
        let err = |what, error| MountError {
            dir: dir.into(),
            what,
            error,
        };
        std::fs::create_dir_all(dir).map_err(|e| err("creating the directory", e))?;
        // A daemon killed before it unmounted left a dead mount ("transport endpoint is not
        // connected"): detach it.
        if std::fs::metadata(dir).is_err() || is_qnet_mount(dir) {
            let _ = nix::mount::umount2(dir, MntFlags::MNT_DETACH);
        }
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| err("opening /dev/fuse", e))?;
        use std::os::fd::AsRawFd;
        let data = format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other,max_read={}",
            dev.as_raw_fd(),
            abi::MAX_WRITE
        );
        nix::mount::mount(
            Some("qnet"),
            dir,
            Some("fuse.qnet"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .map_err(|e| err("mount (needs root or CAP_SYS_ADMIN)", e.into()))?;
        Ok(Mount {
            dir: dir.into(),
            dev: Arc::new(dev),
            links,
        })
    }

    /// The mount point.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Serve requests on a thread of its own until the mount goes; each request runs as a
    /// task on `runtime`. Returns the links keeper (call [`Links::sync`] periodically).
    pub fn serve(&self, driver: Arc<Driver>, runtime: tokio::runtime::Handle) -> Links {
        let fs = Arc::new(fs::Fs::new(driver.clone(), self.dev.clone()));
        let dev = self.dev.clone();
        let spawned = std::thread::Builder::new()
            .name("qnet-fuse".into())
            .spawn(move || read_loop(&dev, &fs, &runtime));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the FUSE reader");
        }
        Links::new(driver, self.dir.clone(), self.links.clone())
    }

    /// Unmount (lazily: files still open keep working until closed, then the mount goes).
    pub fn unmount(&self) {
        if let Err(e) = nix::mount::umount2(&self.dir, MntFlags::MNT_DETACH) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot unmount");
        }
    }
}

/// Whether `dir` is a mount point of ours (`fuse.qnet` in /proc/self/mountinfo).
fn is_qnet_mount(dir: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let dir = dir.to_string_lossy();
    info.lines().any(|l| {
        let mut f = l.split_whitespace();
        let point = f.nth(4);
        point == Some(&*dir) && l.contains(" - fuse.qnet ")
    })
}

fn read_loop(dev: &std::fs::File, fs: &Arc<fs::Fs>, runtime: &tokio::runtime::Handle) {
    let mut buf = vec![0u8; abi::MAX_WRITE as usize + 64 * 1024];
    loop {
        let n = match (&*dev).read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => match e.raw_os_error() {
                // The request was interrupted before we read it; try again.
                Some(libc::ENOENT | libc::EINTR | libc::EAGAIN) => continue,
                // Unmounted.
                Some(libc::ENODEV) => return,
                _ => {
                    tracing::error!(error = %e, "reading /dev/fuse");
                    return;
                }
            },
        };
        let Some((h, body)) = abi::header(&buf[..n]) else {
            tracing::warn!(bytes = n, "malformed FUSE request");
            continue;
        };
        match h.opcode {
            abi::op::INIT => {
                let mut a = abi::Args::new(body);
                let _major = a.u32().unwrap_or(0);
                let minor = a.u32().unwrap_or(0);
                let _readahead = a.u32().unwrap_or(0);
                let offered = a.u32().unwrap_or(0);
                let want = abi::INIT_ASYNC_READ
                    | abi::INIT_ATOMIC_O_TRUNC
                    | abi::INIT_BIG_WRITES
                    | abi::INIT_MAX_PAGES;
                fs.reply(h.unique, Ok(abi::init_out(minor, offered & want)));
            }
            abi::op::DESTROY => return,
            abi::op::INTERRUPT => {
                if let Ok(unique) = abi::Args::new(body).u64() {
                    fs.interrupt(unique);
                }
            }
            abi::op::FORGET | abi::op::BATCH_FORGET => {}
            _ => {
                let notify = fs.begin(h.unique);
                let body = body.to_vec();
                runtime.spawn(fs.clone().serve(h, body, notify));
            }
        }
    }
}
