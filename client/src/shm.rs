//! Shared memory (local only): named POSIX objects, and handles that let one named process
//! open one object (QNX `shm_create_handle` / `shm_open_handle`).
//!
//! A name or request that points at another node fails with `ENOREMOTE` and changes nothing.

use std::io::{IoSlice, IoSliceMut};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::fcntl::OFlag;
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap, shm_open, shm_unlink};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::stat::{Mode, fstat};
use qnet_core::{Completion, Errno, Pid};
use qnet_proto::codec::{LocalAnswer, LocalRequest, ShmRequest};
use qnet_proto::frame::FRAME_OVERHEAD;
use qnet_proto::frame::blocking::FrameReader;
use qnet_proto::local::{ClientFrame, DaemonFrame, SessionKind, client_frame};

use crate::error::{Error, Result};
use crate::neutrino::name_local_part;
use crate::session::{answer_of, gettid, open};

/// A mapped shared-memory object; unmapped on drop (the object lives on until unlinked and
/// unmapped everywhere).
#[derive(Debug)]
pub struct SharedMemory {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; moving it or sharing
// references across threads is no different from sharing it across processes.
#[allow(unsafe_code)]
unsafe impl Send for SharedMemory {}
// SAFETY: as above; `&self` only gives read access.
#[allow(unsafe_code)]
unsafe impl Sync for SharedMemory {}

fn sys(what: &str, e: nix::Error) -> Error {
    Error::new(Errno(e as i32), format!("{what}: {}", e.desc()))
}

/// The local POSIX name for `name`: a leading `/`, and a `node/` prefix naming this node
/// stripped (another node → `ENOREMOTE`).
fn posix_name(name: &str) -> Result<String> {
    let trimmed = name.strip_prefix('/').unwrap_or(name);
    let local = name_local_part(trimmed, Errno::ENOREMOTE)?;
    if local.is_empty() || local.contains('/') {
        return Err(Error::new(
            Errno::EINVAL,
            format!("bad shared memory name {name:?}"),
        ));
    }
    Ok(format!("/{local}"))
}

impl SharedMemory {
    /// `shm_open(name, O_RDWR | O_CREAT, 0600)` + `ftruncate(size)` + `mmap`: create (or
    /// reuse) the named object, sized `size` bytes, mapped read-write.
    pub fn create(name: &str, size: usize) -> Result<SharedMemory> {
        let name = posix_name(name)?;
        let fd = shm_open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_CREAT,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| sys("shm_open", e))?;
        nix::unistd::ftruncate(&fd, size as i64).map_err(|e| sys("ftruncate", e))?;
        Self::map(fd.as_fd(), size, true)
    }

    /// `shm_open(name, O_RDWR)` + `mmap` of the whole existing object.
    pub fn open(name: &str) -> Result<SharedMemory> {
        let name = posix_name(name)?;
        let fd = shm_open(name.as_str(), OFlag::O_RDWR, Mode::empty())
            .map_err(|e| sys("shm_open", e))?;
        Self::from_fd(fd.as_fd(), true)
    }

    /// `shm_unlink(name)`: remove the name (mappings stay valid).
    pub fn unlink(name: &str) -> Result<()> {
        let name = posix_name(name)?;
        shm_unlink(name.as_str()).map_err(|e| sys("shm_unlink", e))
    }

    /// An anonymous shared-memory object of `size` bytes (QNX `shm_open(SHM_ANON, ...)`): created
    /// under a unique name that is unlinked at once, so only the fd (and handles made from it)
    /// reach it.
    pub fn anonymous_fd(size: usize) -> Result<OwnedFd> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("/qnet-anon-{}-{n}", std::process::id());
        let fd = shm_open(
            name.as_str(),
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| sys("shm_open", e))?;
        let _ = shm_unlink(name.as_str());
        nix::unistd::ftruncate(&fd, size as i64).map_err(|e| sys("ftruncate", e))?;
        Ok(fd)
    }

    /// Map the whole object behind `fd` (e.g. from [`shm_open_handle`]).
    pub fn from_fd(fd: BorrowedFd<'_>, writable: bool) -> Result<SharedMemory> {
        let st = fstat(fd).map_err(|e| sys("fstat", e))?;
        Self::map(fd, usize::try_from(st.st_size).unwrap_or(0), writable)
    }

    #[allow(unsafe_code)]
    fn map(fd: BorrowedFd<'_>, len: usize, writable: bool) -> Result<SharedMemory> {
        let size = NonZeroUsize::new(len)
            .ok_or_else(|| Error::new(Errno::EINVAL, "cannot map an empty shared memory object"))?;
        let prot = if writable {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        // SAFETY: a fresh shared mapping chosen by the kernel (addr None); it aliases no Rust
        // object, and this value owns it until drop.
        let ptr = unsafe { mmap(None, size, prot, MapFlags::MAP_SHARED, fd, 0) }
            .map_err(|e| sys("mmap", e))?;
        Ok(SharedMemory {
            ptr: ptr.cast(),
            len,
            writable,
        })
    }

    /// Size of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: empty objects are refused).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the mapping is writable.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The mapped bytes. Other processes may change them at any time: synchronise with
    /// messages (the course's pattern) before relying on their contents.
    #[allow(unsafe_code)]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr/len describe a live mapping owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapped bytes, writable. Panics-free: a read-only mapping yields an empty slice.
    #[allow(unsafe_code)]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        if !self.writable {
            return &mut [];
        }
        // SAFETY: ptr/len describe a live, writable mapping owned by self; &mut self makes
        // this the only Rust reference to it in this process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SharedMemory {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `map`; no slice outlives self.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

pub(crate) fn frame(request: LocalRequest) -> Vec<u8> {
    let f = ClientFrame {
        frame: Some(client_frame::Frame::Request(request.into())),
    };
    qnet_proto::frame::frame_to_vec(&f)
}

fn io_err(what: &'static str, e: impl Into<std::io::Error>) -> Error {
    Error::Daemon {
        path: crate::socket_path(),
        what,
        source: e.into(),
    }
}

/// The answer on an SHM session: a frame whose first bytes (if any) came with the
/// descriptors, completed from the stream.
pub(crate) fn read_answer(
    stream: &mut std::os::unix::net::UnixStream,
    first: &[u8],
) -> Result<LocalAnswer> {
    let mut reader = FrameReader::exact(FRAME_OVERHEAD);
    reader.feed(first);
    match reader.read::<DaemonFrame, _>(stream) {
        Ok(Some(frame)) => answer_of(frame),
        Ok(None) => Err(io_err(
            "reading the shm response",
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "daemon closed the session",
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Error::Protocol {
            detail: format!("shm response: {e}"),
        }),
        Err(e) => Err(io_err("reading the shm response", e)),
    }
}

/// `shm_create_handle(fd, pid, perms)`: a handle that lets process `pid` of this node (only
/// it, once) open the object behind `fd` with `perms` (`libc::O_RDONLY` or `libc::O_RDWR`).
/// For the sender of a message, pass its node too with [`shm_create_handle_nd`]: a pid alone
/// names a process of this node.
pub fn shm_create_handle(fd: BorrowedFd<'_>, pid: Pid, perms: i32) -> Result<u64> {
    shm_create_handle_nd(fd, 0, pid, perms)
}

/// `shm_create_handle` for process `pid` of node `nd` (as in `_msg_info.nd`; 0 = this node).
/// Shared memory does not cross nodes: `nd != 0` fails with `ENOREMOTE` and creates nothing.
/// A handle made here and carried to another node fails there with `ENOREMOTE` too.
pub fn shm_create_handle_nd(fd: BorrowedFd<'_>, nd: u32, pid: Pid, perms: i32) -> Result<u64> {
    let (mut stream, _, _) = open(SessionKind::Shm, gettid(), 0)?;
    let bytes = frame(LocalRequest::Shm(ShmRequest::Create {
        nd,
        pid,
        perms: perms as u32,
    }));
    let fds: [RawFd; 1] = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(&bytes)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| io_err("sending the fd", std::io::Error::from(e)))?;
    while sent < bytes.len() {
        use std::io::Write;
        stream
            .write_all(&bytes[sent..])
            .map_err(|e| io_err("sending the shm request", e))?;
        sent = bytes.len();
    }
    match read_answer(&mut stream, &[])? {
        LocalAnswer::ShmHandle(h) => Ok(h),
        other => Err(crate::session::unexpected("shm_create_handle", &other)),
    }
}

/// Read the first bytes of an answer on an SHM session with `recvmsg`, with the descriptors
/// that came with them (at most 4); the rest of the frame is read by [`read_answer`].
#[allow(unsafe_code)]
pub(crate) fn receive_with_fds(
    stream: &mut std::os::unix::net::UnixStream,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = [0u8; 512];
    let mut cmsg_buf = nix::cmsg_space!([RawFd; 4]);
    let mut got: Vec<OwnedFd> = Vec::new();
    let n = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| io_err("receiving the fd", std::io::Error::from(e)))?;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for raw in fds {
                        // SAFETY: the kernel just installed this fd in our table for us via
                        // SCM_RIGHTS; nothing else owns it.
                        got.push(unsafe { OwnedFd::from_raw_fd(raw) });
                    }
                }
            }
        }
        msg.bytes
    };
    if n == 0 {
        return Err(io_err(
            "receiving the fd",
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "daemon closed the session",
            ),
        ));
    }
    Ok((buf[..n].to_vec(), got))
}

/// `shm_open_handle(handle, perms)`: the fd of the object a server made `handle` for this
/// process; map it with [`SharedMemory::from_fd`]. A handle made on another node →
/// `ENOREMOTE` (the message names that node).
pub fn shm_open_handle(handle: u64, perms: i32) -> Result<OwnedFd> {
    let (mut stream, _, _) = open(SessionKind::Shm, gettid(), 0)?;
    let bytes = frame(LocalRequest::Shm(ShmRequest::Open {
        handle,
        perms: perms as u32,
    }));
    {
        use std::io::Write;
        stream
            .write_all(&bytes)
            .map_err(|e| io_err("sending the shm request", e))?;
    }
    let (first, got) = receive_with_fds(&mut stream)?;
    match read_answer(&mut stream, &first)? {
        LocalAnswer::Completion(Completion::Done) => {
            got.into_iter().next().ok_or_else(|| Error::Protocol {
                detail: "shm_open_handle succeeded but no fd came with it".into(),
            })
        }
        other => Err(crate::session::unexpected("shm_open_handle", &other)),
    }
}
