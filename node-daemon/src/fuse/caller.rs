//! Kernel calls made by the mount on behalf of the process a FUSE request came from: a
//! [`Caller`] is a thread of that process (its pid, with the request's uid and gid) that only
//! the daemon drives, numbered above every Linux tid, and QNX's I/O messages sent as it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use qnet_core::paths::PathMatch;
use qnet_core::{Call, Coid, Completion, Credentials, Errno, Pid, ThreadKey};
use tokio::sync::mpsc;

use crate::driver::{Answer, Driver};

/// First tid of the mount's threads: above Linux's largest (`PID_MAX_LIMIT`, 2^22).
const FIRST_TID: u32 = 0x4000_0000;
static NEXT_TID: AtomicU32 = AtomicU32::new(FIRST_TID);

/// QNX's message numbers (`<sys/iomsg.h>`).
pub const IO_CONNECT: u16 = 0x100;
pub const IO_READ: u16 = 0x101;
pub const IO_WRITE: u16 = 0x102;
pub const IO_STAT: u16 = 0x104;
pub const IO_DEVCTL: u16 = 0x106;
pub const IO_LSEEK: u16 = 0x109;
pub const IO_CLOSE: u16 = 0x116;
const IO_CONNECT_OPEN: u16 = 2;

/// The priority the mount's messages carry (QNX's default).
const PRIORITY: u8 = 10;

/// One thread of a client process, driven by the mount. Dropping it ends the thread (a call
/// it is still blocked in is abandoned, as when a thread exits).
pub struct Caller {
    driver: Arc<Driver>,
    thread: ThreadKey,
    rx: mpsc::UnboundedReceiver<Answer>,
}

impl Caller {
    /// A new thread of process `pid` with credentials `cred`.
    pub fn new(driver: &Arc<Driver>, pid: Pid, cred: Credentials) -> Result<Caller, Errno> {
        for _ in 0..16 {
            let tid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
            if tid < FIRST_TID {
                NEXT_TID.store(FIRST_TID, Ordering::Relaxed);
                continue;
            }
            let thread = ThreadKey::local(pid, tid);
            let (tx, rx) = mpsc::unbounded_channel();
            if driver.register_thread(thread, cred, tx).is_ok() {
                return Ok(Caller {
                    driver: driver.clone(),
                    thread,
                    rx,
                });
            }
        }
        Err(Errno::EAGAIN)
    }

    /// The kernel's thread.
    pub fn thread(&self) -> ThreadKey {
        self.thread
    }

    /// Make `call` and wait for its answer.
    pub async fn call(&mut self, call: Call) -> Answer {
        match self.driver.call_answer(self.thread, call) {
            Some(a) => a,
            None => self.rx.recv().await.unwrap_or(Err(Errno::EIO)),
        }
    }

    /// Start `call`; `Some` if it answered at once, `None` if [`Caller::wait`] will get it.
    pub fn start(&mut self, call: Call) -> Option<Answer> {
        self.driver.call_answer(self.thread, call)
    }

    /// The answer of a call [`Caller::start`] left blocked.
    pub async fn wait(&mut self) -> Answer {
        self.rx.recv().await.unwrap_or(Err(Errno::EIO))
    }

    /// Cancel the blocked call, as a signal would (see [`Driver::unblock`]).
    pub fn unblock(&self) {
        self.driver.unblock(self.thread);
    }

    /// `MsgSend(coid, data)` with a reply buffer of `reply_cap` bytes: status and reply.
    pub async fn send(
        &mut self,
        coid: Coid,
        data: Vec<u8>,
        reply_cap: u64,
    ) -> Result<(i64, Vec<u8>), Errno> {
        match self.call(send_call(coid, data, reply_cap)).await? {
            Completion::Reply { status, data } => {
                let mut buf = vec![0u8; data.end().min(reply_cap) as usize];
                data.copy_into(&mut buf);
                Ok((status, buf))
            }
            _ => Err(Errno::EPROTO),
        }
    }

    /// Every manager `path` reaches.
    pub async fn resolve(&mut self, path: &str) -> Result<Vec<PathMatch>, Errno> {
        match self
            .call(Call::PathResolve {
                path: path.into(),
                file_type: 0,
            })
            .await?
        {
            Completion::Paths(p) => Ok(p),
            _ => Err(Errno::EPROTO),
        }
    }

    /// Every attachment at or below `path`.
    pub async fn list(&mut self, path: &str) -> Result<Vec<PathMatch>, Errno> {
        match self.call(Call::PathList { path: path.into() }).await? {
            Completion::Paths(p) => Ok(p),
            _ => Err(Errno::EPROTO),
        }
    }

    /// Open `path` as QNX's `open` does: each manager it reaches in turn gets `_IO_CONNECT`
    /// until one accepts (`ENOENT`/`ENOSYS` or a dead one: the next). `ioflag` is QNX's
    /// (access mode plus one; 0 for a stat).
    pub async fn open(&mut self, path: &str, ioflag: u32, mode: u32) -> Result<Coid, Errno> {
        let found = self.resolve(path).await?;
        let mut last = Errno::ENOENT;
        for m in found {
            let coid = match self
                .call(Call::ConnectAttach {
                    nd: m.nd,
                    pid: m.pid,
                    chid: m.chid,
                })
                .await
            {
                Ok(Completion::Coid(c)) => c,
                Ok(_) => return Err(Errno::EPROTO),
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match self.send(coid, connect_message(&m, ioflag, mode), 0).await {
                Ok(_) => return Ok(coid),
                Err(e) => {
                    let _ = self.call(Call::ConnectDetach { coid }).await;
                    if matches!(
                        e,
                        Errno::ENOENT | Errno::ENOSYS | Errno::ESRCH | Errno::EBADF
                    ) {
                        last = e;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(if last == Errno::ESRCH || last == Errno::EBADF {
            Errno::ENOENT
        } else {
            last
        })
    }

    /// `_IO_CLOSE`, then the connection goes.
    pub async fn close(&mut self, coid: Coid) {
        let _ = self.send(coid, header(IO_CLOSE, 4), 0).await;
        let _ = self.call(Call::ConnectDetach { coid }).await;
    }

    /// `_IO_STAT`: the manager's `struct stat`.
    pub async fn fstat(&mut self, coid: Coid) -> Result<Stat, Errno> {
        let (_, st) = self
            .send(coid, header(IO_STAT, 8), STAT_SIZE as u64)
            .await?;
        Ok(Stat::parse(&st))
    }

    /// `_IO_LSEEK` to `offset` (`SEEK_SET`).
    pub async fn seek(&mut self, coid: Coid, offset: u64) -> Result<(), Errno> {
        let mut m = header(IO_LSEEK, 8);
        m.extend_from_slice(&offset.to_ne_bytes());
        self.send(coid, m, 8).await.map(|_| ())
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        self.driver.unregister_thread(self.thread);
    }
}

/// A `MsgSend` call.
pub fn send_call(coid: Coid, data: Vec<u8>, reply_cap: u64) -> Call {
    Call::MsgSend {
        coid,
        data: Bytes::from(data),
        reply_cap,
        priority: PRIORITY,
        realtime: false,
        timeout: None,
    }
}

/// A message header: `type`, zeros to `len` bytes.
pub fn header(ty: u16, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len];
    m[0..2].copy_from_slice(&ty.to_ne_bytes());
    m
}

/// `_IO_READ` / `_IO_WRITE` header for `nbytes`.
pub fn rw_header(ty: u16, nbytes: u32) -> Vec<u8> {
    let mut m = header(ty, 16);
    m[4..8].copy_from_slice(&nbytes.min(i32::MAX as u32).to_ne_bytes());
    m
}

/// `_IO_DEVCTL` header.
pub fn devctl_header(dcmd: u32, nbytes: u32) -> Vec<u8> {
    let mut m = header(IO_DEVCTL, 16);
    m[4..8].copy_from_slice(&dcmd.to_ne_bytes());
    m[8..12].copy_from_slice(&nbytes.to_ne_bytes());
    m
}

/// QNX's `_IO_CONNECT` (`_IO_CONNECT_OPEN`) for match `m`.
fn connect_message(m: &PathMatch, ioflag: u32, mode: u32) -> Vec<u8> {
    let mut msg = header(IO_CONNECT, 40);
    msg[2..4].copy_from_slice(&IO_CONNECT_OPEN.to_ne_bytes());
    msg[16..20].copy_from_slice(&m.handle.to_ne_bytes());
    msg[20..24].copy_from_slice(&ioflag.to_ne_bytes());
    msg[24..28].copy_from_slice(&mode.to_ne_bytes());
    let path_len = (m.rest.len() + 1).min(u16::MAX as usize) as u16;
    msg[34..36].copy_from_slice(&path_len.to_ne_bytes());
    msg.extend_from_slice(m.rest.as_bytes());
    msg.push(0);
    msg
}

/// QNX's `ioflag` for Linux open flags: the access mode plus one, the rest as is.
pub fn ioflag(flags: u32) -> u32 {
    let acc = flags & libc::O_ACCMODE as u32;
    (flags & !(libc::O_ACCMODE as u32)) | (acc + 1)
}

/// Size of the `struct stat` a manager replies with (Linux's, as libqnetc's managers send).
const STAT_SIZE: usize = std::mem::size_of::<libc::stat>();

/// What the mount uses of a manager's `struct stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: u64,
}

impl Stat {
    fn parse(b: &[u8]) -> Stat {
        let u32_at = |off: usize| {
            b.get(off..off + 4)
                .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        };
        let u64_at = |off: usize| {
            b.get(off..off + 8).map_or(0, |s| {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_ne_bytes(a)
            })
        };
        use std::mem::offset_of;
        Stat {
            mode: u32_at(offset_of!(libc::stat, st_mode)),
            uid: u32_at(offset_of!(libc::stat, st_uid)),
            gid: u32_at(offset_of!(libc::stat, st_gid)),
            size: u64_at(offset_of!(libc::stat, st_size)),
            mtime: u64_at(offset_of!(libc::stat, st_mtime)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioflag_is_the_access_mode_plus_one() {
        assert_eq!(ioflag(libc::O_RDONLY as u32), 1);
        assert_eq!(ioflag(libc::O_WRONLY as u32), 2);
        assert_eq!(
            ioflag((libc::O_RDWR | libc::O_TRUNC) as u32),
            3 | libc::O_TRUNC as u32
        );
    }

    #[test]
    fn connect_messages_carry_handle_flags_and_path() {
        let m = PathMatch {
            nd: 0,
            pid: 1,
            chid: 1,
            handle: 7,
            flags: Default::default(),
            file_type: 0,
            prefix: "/dev".into(),
            rest: "x/y".into(),
        };
        let msg = connect_message(&m, 3, 0o644);
        assert_eq!(msg.len(), 40 + 4);
        assert_eq!(&msg[0..2], &IO_CONNECT.to_ne_bytes());
        assert_eq!(&msg[16..20], &7u32.to_ne_bytes());
        assert_eq!(&msg[20..24], &3u32.to_ne_bytes());
        assert_eq!(&msg[34..36], &4u16.to_ne_bytes());
        assert_eq!(&msg[40..], b"x/y\0");
    }
}
