//! Clients of resource managers: `open` of a path some manager attached returns a file
//! descriptor that is also a connection (`MsgSend(fd, …)` works on it), and `read`, `write`,
//! `lseek`, `fstat`, `devctl` and `close` on it send QNX's I/O messages. Every other path
//! and descriptor goes to glibc unchanged.
//!
//! `open(path)` of an absolute path asks the daemon which managers `path` reaches
//! (`PathResolve`; `/net/<node>/…` is resolved by that node) and sends QNX's `_IO_CONNECT`
//! to each in turn until one accepts (`ENOENT` or `ENOSYS` from one, or one that died, moves
//! to the next; any other error is the open's). A path no manager attached, or no daemon,
//! is glibc's `open`. The descriptor is a real one (an `O_PATH` descriptor of `/`, close-on-
//! exec) so its number is never handed out twice; `dup`, `dup2`, `dup3` and
//! `fcntl(F_DUPFD)` give descriptors sharing the connection (QNX's dup shares the OCB and
//! its offset too); glibc calls this library does not interpose (`poll`, `mmap`, …) see
//! that `O_PATH` descriptor and fail (`EBADF`) rather than act on something else.
//! `QNET_PATHS=0` in the environment turns all of this off.
//!
//! `devctl` on a descriptor that is not a manager's (e.g. a file of qnetd's FUSE mount) is
//! an `ioctl` with QNX's direction bits swapped into Linux's.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io::{IoSlice, IoSliceMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use libc::{c_char, c_int, c_ulong, c_void, mode_t, off_t, size_t, ssize_t};
use qnet::Errno;
use qnet::neutrino as n;

use crate::resmgr::layout::{
    IO_CLOSE, IO_CONNECT, IO_CONNECT_OPEN, IO_DEVCTL, IO_LSEEK, IO_READ, IO_STAT, IO_WRITE,
    IoConnect, IoDevctl, IoDevctlReply, IoLseek, IoRw, bytes_of,
};
use crate::{next_fn, set_errno};

/// The environment setting that turns path resolution through qnet off (`0`).
pub const PATHS_ENV: &str = "QNET_PATHS";

/// `_IO_XTYPE_OFFSET`.
const XTYPE_OFFSET: u32 = 5;

/// Descriptors below this are tracked in the bitmap (the rest in the map only).
const BITMAP_FDS: usize = 64 * 1024;

/// One bit per descriptor that is a manager's: the fast path of every `read`/`write`.
static BITMAP: [AtomicU64; BITMAP_FDS / 64] = [const { AtomicU64::new(0) }; BITMAP_FDS / 64];
/// Any descriptor above [`BITMAP_FDS`] in use.
static HIGH: AtomicBool = AtomicBool::new(false);

/// What a manager's descriptor is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The library's coid.
    coid: qnet::Coid,
}

/// Manager descriptors, and how many descriptors share each coid (`dup` shares the
/// connection, hence the manager's OCB and its offset, as QNX's dup does).
#[derive(Default)]
struct Table {
    fds: HashMap<c_int, Entry>,
    shared: HashMap<qnet::Coid, usize>,
}

impl Table {
    fn insert(&mut self, fd: c_int, e: Entry) {
        *self.shared.entry(e.coid).or_default() += 1;
        self.fds.insert(fd, e);
    }

    /// Forget `fd`; its coid if no other descriptor shares it any more.
    fn remove(&mut self, fd: c_int) -> Option<(Entry, bool)> {
        let e = self.fds.remove(&fd)?;
        let last = match self.shared.get_mut(&e.coid) {
            Some(k) if *k > 1 => {
                *k -= 1;
                false
            }
            _ => {
                self.shared.remove(&e.coid);
                true
            }
        };
        Some((e, last))
    }

    fn get(&self, fd: &c_int) -> Option<&Entry> {
        self.fds.get(fd)
    }

    fn contains_key(&self, fd: &c_int) -> bool {
        self.fds.contains_key(fd)
    }
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(PATHS_ENV).map_or(true, |v| v != "0"))
}

fn marked(fd: c_int) -> bool {
    if fd < 0 {
        return false;
    }
    let i = fd as usize;
    if i < BITMAP_FDS {
        BITMAP[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    } else {
        HIGH.load(Ordering::Acquire) && table().contains_key(&fd)
    }
}

fn mark(fd: c_int, on: bool) {
    let i = fd as usize;
    if i < BITMAP_FDS {
        let bit = 1u64 << (i % 64);
        if on {
            BITMAP[i / 64].fetch_or(bit, Ordering::AcqRel);
        } else {
            BITMAP[i / 64].fetch_and(!bit, Ordering::AcqRel);
        }
    } else if on {
        HIGH.store(true, Ordering::Release);
    }
}

/// The library coid behind `fd`, if it is a manager's descriptor.
fn entry(fd: c_int) -> Option<Entry> {
    if !marked(fd) {
        return None;
    }
    table().get(&fd).copied()
}

/// The library coid of descriptor `fd` (for `MsgSend(fd, …)` and friends), if it is one.
pub(crate) fn coid_of_fd(fd: c_int) -> Option<qnet::Coid> {
    entry(fd).map(|e| e.coid)
}

/// Forget descriptor `fd` (for `ConnectDetach(fd)`): its coid, if it was a manager's.
pub(crate) fn forget_fd(fd: c_int) -> Option<qnet::Coid> {
    forget(fd).map(|(coid, _)| coid)
}

/// Forget descriptor `fd`: its coid, and whether it was the last descriptor on it.
fn forget(fd: c_int) -> Option<(qnet::Coid, bool)> {
    if !marked(fd) {
        return None;
    }
    let (e, last) = table().remove(fd)?;
    mark(fd, false);
    Some((e.coid, last))
}

/// `new` is a duplicate of manager descriptor `old` (same connection).
fn alias(old: Entry, new: c_int) {
    if let Some((coid, true)) = forget(new) {
        let _ = close_coid(coid);
    }
    table().insert(new, old);
    mark(new, true);
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, mode_t) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, mode_t) -> c_int;
type ReadFn = unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t;
type WriteFn = unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t;
type PreadFn = unsafe extern "C" fn(c_int, *mut c_void, size_t, off_t) -> ssize_t;
type PwriteFn = unsafe extern "C" fn(c_int, *const c_void, size_t, off_t) -> ssize_t;
type VecFn = unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> ssize_t;
type LseekFn = unsafe extern "C" fn(c_int, off_t, c_int) -> off_t;
type FstatFn = unsafe extern "C" fn(c_int, *mut libc::stat) -> c_int;
type FxstatFn = unsafe extern "C" fn(c_int, c_int, *mut libc::stat) -> c_int;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type IoctlFn = unsafe extern "C" fn(c_int, c_ulong, *mut c_void) -> c_int;

/// Open `path` through the pathname space: `Some(fd)` (or `Some(-1)` with errno) if a
/// manager took it or refused it, `None` if no manager has it (glibc's turn).
unsafe fn open_managed(path: *const c_char, flags: c_int, mode: mode_t) -> Option<c_int> {
    thread_local! {
        /// This thread is resolving a path already: an `open` the library itself makes
        /// meanwhile (reaching the daemon) is glibc's.
        static RESOLVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if path.is_null() || !enabled() || RESOLVING.get() {
        return None;
    }
    RESOLVING.set(true);
    // SAFETY: the caller's arguments.
    let r = unsafe { open_resolved(path, flags, mode) };
    RESOLVING.set(false);
    r
}

unsafe fn open_resolved(path: *const c_char, flags: c_int, mode: mode_t) -> Option<c_int> {
    // SAFETY: the caller's NUL-terminated path.
    let p = unsafe { CStr::from_ptr(path) }.to_str().ok()?;
    if !p.starts_with('/') {
        return None;
    }
    let found = match n::path_resolve(p, 0) {
        Ok(f) => f,
        Err(e) if e.errno() == Errno::ENOENT => return None,
        // A node that is down or unknown: the path was qnet's (under /net), say why.
        Err(e) if p.starts_with("/net/") => {
            set_errno(e.errno().0);
            return Some(-1);
        }
        // No daemon, or it cannot answer: not ours.
        Err(_) => return None,
    };
    let mut last = Errno::ENOENT;
    for m in found {
        let coid = match n::connect_attach(m.nd, m.pid, m.chid) {
            Ok(c) => c,
            Err(e) => {
                last = e.errno();
                continue;
            }
        };
        match connect(coid, &m, flags, mode) {
            Ok(()) => match placeholder() {
                Ok(fd) => {
                    table().insert(fd, Entry { coid });
                    mark(fd, true);
                    return Some(fd);
                }
                Err(e) => {
                    let _ = close_coid(coid);
                    set_errno(e.0);
                    return Some(-1);
                }
            },
            Err(e) => {
                let _ = n::connect_detach(coid);
                if matches!(
                    e,
                    Errno::ENOENT | Errno::ENOSYS | Errno::ESRCH | Errno::EBADF
                ) {
                    last = e;
                    continue;
                }
                set_errno(e.0);
                return Some(-1);
            }
        }
    }
    set_errno(if last == Errno::ESRCH || last == Errno::EBADF {
        Errno::ENOENT.0
    } else {
        last.0
    });
    Some(-1)
}

/// QNX's `_IO_CONNECT` (`_IO_CONNECT_OPEN`) for match `m`: the path below its prefix, the
/// open flags with the access mode plus one (`_IO_FLAG_RD`/`_WR`), the mode.
fn connect(coid: qnet::Coid, m: &n::PathMatch, flags: c_int, mode: mode_t) -> Result<(), Errno> {
    let path_len = m.rest.len() + 1;
    let hdr = IoConnect {
        type_: IO_CONNECT,
        subtype: IO_CONNECT_OPEN,
        file_type: 0,
        handle: m.handle,
        ioflag: ((flags & !libc::O_ACCMODE) | ((flags & libc::O_ACCMODE) + 1)) as u32,
        mode,
        path_len: u16::try_from(path_len).map_err(|_| Errno::ENAMETOOLONG)?,
        ..IoConnect::default()
    };
    let mut msg = Vec::with_capacity(40 + path_len);
    msg.extend_from_slice(bytes_of(&hdr));
    msg.extend_from_slice(m.rest.as_bytes());
    msg.push(0);
    n::msg_send(coid, &msg, &mut [])
        .map(|_| ())
        .map_err(|e| e.errno())
}

/// A descriptor number of our own: `O_PATH` of `/`, close-on-exec (by syscall: this library
/// interposes `open`).
fn placeholder() -> Result<c_int, Errno> {
    // SAFETY: openat with a static NUL-terminated path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        Err(Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EMFILE),
        ))
    } else {
        Ok(fd as c_int)
    }
}

/// `_IO_CLOSE`, then the connection goes.
fn close_coid(coid: qnet::Coid) -> Result<(), Errno> {
    let hdr: [u16; 2] = [IO_CLOSE, 0];
    let sent = n::msg_send(coid, bytes_of(&hdr), &mut []);
    let _ = n::connect_detach(coid);
    sent.map(|_| ()).map_err(|e| e.errno())
}

/// The C convention for a result.
fn ret(r: Result<i64, Errno>) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

fn do_read(
    coid: qnet::Coid,
    buf: *mut c_void,
    n: size_t,
    offset: Option<off_t>,
) -> Result<i64, Errno> {
    let nbytes = i32::try_from(n).unwrap_or(i32::MAX);
    let hdr = IoRw {
        type_: IO_READ,
        nbytes,
        xtype: if offset.is_some() { XTYPE_OFFSET } else { 0 },
        ..IoRw::default()
    };
    let off = offset.unwrap_or(0) as u64;
    let sparts = [IoSlice::new(bytes_of(&hdr)), IoSlice::new(bytes_of(&off))];
    let sparts = if offset.is_some() {
        &sparts[..]
    } else {
        &sparts[..1]
    };
    // SAFETY: the caller's buffer holds `n` bytes.
    let out = unsafe { crate::bytes_mut(buf, nbytes as usize) };
    let mut rparts = [IoSliceMut::new(out)];
    n::msg_sendv(coid, sparts, &mut rparts).map_err(|e| e.errno())
}

fn do_write(coid: qnet::Coid, parts: &[IoSlice<'_>], offset: Option<off_t>) -> Result<i64, Errno> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let hdr = IoRw {
        type_: IO_WRITE,
        nbytes: i32::try_from(total).map_err(|_| Errno::EINVAL)?,
        xtype: if offset.is_some() { XTYPE_OFFSET } else { 0 },
        ..IoRw::default()
    };
    let off = offset.unwrap_or(0) as u64;
    let mut sparts = Vec::with_capacity(parts.len() + 2);
    sparts.push(IoSlice::new(bytes_of(&hdr)));
    if offset.is_some() {
        sparts.push(IoSlice::new(bytes_of(&off)));
    }
    sparts.extend_from_slice(parts);
    n::msg_sendv(coid, &sparts, &mut []).map_err(|e| e.errno())
}

macro_rules! opens {
    ($($name:ident),*) => {$(
        /// glibc's open (and its variants), through the pathname space first (module doc).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments.
            if let Some(fd) = unsafe { open_managed(path, flags, mode) } {
                return fd;
            }
            match next_fn!(ident $name, OpenFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(path, flags, mode) },
                None => {
                    set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    )*};
}
opens!(open, open64, __open_2, __open64_2);

macro_rules! openats {
    ($($name:ident),*) => {$(
        /// glibc's openat (and its variants): absolute paths through the pathname space first.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
            // SAFETY: the caller's arguments.
            if let Some(fd) = unsafe { open_managed(path, flags, mode) } {
                return fd;
            }
            match next_fn!(ident $name, OpenatFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(dirfd, path, flags, mode) },
                None => {
                    set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    )*};
}
openats!(openat, openat64, __openat_2, __openat64_2);

/// `read(fd, buf, n)`: `_IO_READ` on a manager's descriptor; the reply's status is the count.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if let Some(e) = entry(fd) {
        return ret(do_read(e.coid, buf, count, None)) as ssize_t;
    }
    match next_fn!("read", ReadFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(fd, buf, count) },
        None => -1,
    }
}

/// `write(fd, buf, n)`: `_IO_WRITE` with the data.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    if let Some(e) = entry(fd) {
        // SAFETY: the caller's buffer holds `count` bytes.
        let data = unsafe { crate::bytes(buf, count) };
        return ret(do_write(e.coid, &[IoSlice::new(data)], None)) as ssize_t;
    }
    match next_fn!("write", WriteFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(fd, buf, count) },
        None => -1,
    }
}

macro_rules! preads {
    ($($name:ident),*) => {$(
        /// `pread`: `_IO_READ` with `_IO_XTYPE_OFFSET`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut c_void, count: size_t, offset: off_t) -> ssize_t {
            if let Some(e) = entry(fd) {
                return ret(do_read(e.coid, buf, count, Some(offset))) as ssize_t;
            }
            match next_fn!(ident $name, PreadFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(fd, buf, count, offset) },
                None => -1,
            }
        }
    )*};
}
preads!(pread, pread64);

macro_rules! pwrites {
    ($($name:ident),*) => {$(
        /// `pwrite`: `_IO_WRITE` with `_IO_XTYPE_OFFSET`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *const c_void, count: size_t, offset: off_t) -> ssize_t {
            if let Some(e) = entry(fd) {
                // SAFETY: the caller's buffer holds `count` bytes.
                let data = unsafe { crate::bytes(buf, count) };
                return ret(do_write(e.coid, &[IoSlice::new(data)], Some(offset))) as ssize_t;
            }
            match next_fn!(ident $name, PwriteFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(fd, buf, count, offset) },
                None => -1,
            }
        }
    )*};
}
pwrites!(pwrite, pwrite64);

/// `readv(fd, iov, n)`: one `_IO_READ` for the whole, scattered across the parts.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> ssize_t {
    if let Some(e) = entry(fd) {
        // SAFETY: the caller's iov array.
        let parts = unsafe { crate::iovs(iov, cnt.max(0) as usize) };
        let total: usize = parts.iter().map(|p| p.iov_len).sum();
        let mut buf = vec![0u8; total];
        let r = do_read(e.coid, buf.as_mut_ptr().cast(), total, None);
        if let Ok(got) = r {
            let mut off = 0usize;
            let got = got.max(0) as usize;
            for p in parts {
                if off >= got {
                    break;
                }
                let k = p.iov_len.min(got - off);
                // SAFETY: the caller's part holds iov_len bytes.
                unsafe { crate::bytes_mut(p.iov_base, k) }.copy_from_slice(&buf[off..off + k]);
                off += k;
            }
        }
        return ret(r) as ssize_t;
    }
    match next_fn!("readv", VecFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(fd, iov, cnt) },
        None => -1,
    }
}

/// `writev(fd, iov, n)`: one `_IO_WRITE` with every part.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> ssize_t {
    if let Some(e) = entry(fd) {
        // SAFETY: the caller's iov array and its buffers.
        let parts: Vec<IoSlice<'_>> = unsafe { crate::iovs(iov, cnt.max(0) as usize) }
            .iter()
            .map(|p| IoSlice::new(unsafe { crate::bytes(p.iov_base, p.iov_len) }))
            .collect();
        return ret(do_write(e.coid, &parts, None)) as ssize_t;
    }
    match next_fn!("writev", VecFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(fd, iov, cnt) },
        None => -1,
    }
}

fn do_lseek(coid: qnet::Coid, offset: off_t, whence: c_int) -> Result<i64, Errno> {
    let hdr = IoLseek {
        type_: IO_LSEEK,
        whence: i16::try_from(whence).map_err(|_| Errno::EINVAL)?,
        offset: offset as u64,
        ..IoLseek::default()
    };
    let mut o = [0u8; 8];
    n::msg_send(coid, bytes_of(&hdr), &mut o).map_err(|e| e.errno())?;
    Ok(u64::from_ne_bytes(o) as i64)
}

macro_rules! lseeks {
    ($($name:ident),*) => {$(
        /// `lseek`: `_IO_LSEEK`; the reply is the new offset.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, offset: off_t, whence: c_int) -> off_t {
            if let Some(e) = entry(fd) {
                return ret(do_lseek(e.coid, offset, whence)) as off_t;
            }
            match next_fn!(ident $name, LseekFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(fd, offset, whence) },
                None => -1,
            }
        }
    )*};
}
lseeks!(lseek, lseek64);

fn do_fstat(coid: qnet::Coid, st: *mut libc::stat) -> Result<i64, Errno> {
    let hdr: [u16; 4] = [IO_STAT, 0, 0, 0];
    // SAFETY: the caller's struct stat.
    let out = unsafe { crate::bytes_mut(st.cast(), std::mem::size_of::<libc::stat>()) };
    n::msg_send(coid, bytes_of(&hdr), out).map_err(|e| e.errno())?;
    Ok(0)
}

macro_rules! fstats {
    ($($name:ident),*) => {$(
        /// `fstat`: `_IO_STAT`; the reply is the `struct stat`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, st: *mut libc::stat) -> c_int {
            if let Some(e) = entry(fd) {
                return ret(do_fstat(e.coid, st)) as c_int;
            }
            match next_fn!(ident $name, FstatFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(fd, st) },
                None => -1,
            }
        }
    )*};
}
fstats!(fstat, fstat64);

macro_rules! fxstats {
    ($($name:ident),*) => {$(
        /// `__fxstat` (what programs built against glibc before 2.33 call for `fstat`).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int {
            if let Some(e) = entry(fd) {
                return ret(do_fstat(e.coid, st)) as c_int;
            }
            match next_fn!(ident $name, FxstatFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(ver, fd, st) },
                None => -1,
            }
        }
    )*};
}
fxstats!(__fxstat, __fxstat64);

/// `close(fd)`: the descriptor goes; with the last descriptor on a manager's connection,
/// `_IO_CLOSE` to the manager and the connection goes too.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    let managed = forget(fd);
    let real = match next_fn!("close", CloseFn) {
        // SAFETY: glibc's own function.
        Some(f) => unsafe { f(fd) },
        None => -1,
    };
    match managed {
        Some((coid, true)) => ret(close_coid(coid).map(|()| 0)) as c_int,
        Some((_, false)) => 0,
        None => real,
    }
}

type DupFn = unsafe extern "C" fn(c_int) -> c_int;
type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type FcntlFn = unsafe extern "C" fn(c_int, c_int, libc::c_long) -> c_int;

/// `dup(fd)`: a manager's descriptor's duplicate shares its connection.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    let Some(f) = next_fn!("dup", DupFn) else {
        return -1;
    };
    // SAFETY: glibc's own function.
    let new = unsafe { f(fd) };
    if new >= 0 {
        if let Some(e) = entry(fd) {
            alias(e, new);
        }
    }
    new
}

/// `dup2(old, new)`: as `dup`; a manager's descriptor at `new` is closed first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    let Some(f) = next_fn!("dup2", Dup2Fn) else {
        return -1;
    };
    // SAFETY: glibc's own function.
    let r = unsafe { f(old, new) };
    if r >= 0 && old != new {
        match entry(old) {
            Some(e) => alias(e, r),
            None => {
                if let Some((coid, true)) = forget(r) {
                    let _ = close_coid(coid);
                }
            }
        }
    }
    r
}

/// `dup3(old, new, flags)`: as `dup2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    let Some(f) = next_fn!("dup3", Dup3Fn) else {
        return -1;
    };
    // SAFETY: glibc's own function.
    let r = unsafe { f(old, new, flags) };
    if r >= 0 {
        match entry(old) {
            Some(e) => alias(e, r),
            None => {
                if let Some((coid, true)) = forget(r) {
                    let _ = close_coid(coid);
                }
            }
        }
    }
    r
}

/// `fcntl(fd, cmd, arg)`: `F_DUPFD`/`F_DUPFD_CLOEXEC` of a manager's descriptor share its
/// connection; `F_GETFL` answers the open's access mode; everything else is glibc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: libc::c_long) -> c_int {
    let Some(f) = next_fn!("fcntl", FcntlFn) else {
        return -1;
    };
    if let Some(e) = entry(fd) {
        if cmd == libc::F_GETFL {
            return libc::O_RDWR;
        }
        // SAFETY: glibc's own function with the caller's arguments.
        let r = unsafe { f(fd, cmd, arg) };
        if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
            alias(e, r);
        }
        return r;
    }
    // SAFETY: glibc's own function with the caller's arguments.
    unsafe { f(fd, cmd, arg) }
}

/// Linux's `_IOC` direction bits for a QNX dcmd (QNX: bit 31 to the device, bit 30 from it;
/// Linux: bit 30 write, bit 31 read), size and class/command unchanged.
pub fn linux_request(dcmd: u32) -> u32 {
    let to = dcmd & 0x8000_0000 != 0;
    let from = dcmd & 0x4000_0000 != 0;
    (dcmd & 0x3fff_ffff) | if to { 0x4000_0000 } else { 0 } | if from { 0x8000_0000 } else { 0 }
}

/// The QNX dcmd for a Linux `ioctl` request (the inverse of [`linux_request`]).
pub fn qnx_dcmd(request: u32) -> u32 {
    linux_request(request)
}

fn do_devctl(
    coid: qnet::Coid,
    dcmd: c_int,
    data: *mut c_void,
    nbytes: size_t,
    info: *mut c_int,
) -> c_int {
    let dir = dcmd as u32;
    let nbytes32 = i32::try_from(nbytes).unwrap_or(i32::MAX);
    let hdr = IoDevctl {
        type_: IO_DEVCTL,
        dcmd,
        nbytes: nbytes32,
        ..IoDevctl::default()
    };
    // SAFETY: the caller's buffer holds `nbytes` bytes (both directions use it).
    let buf = unsafe { crate::bytes_mut(data, nbytes) };
    let mut reply_hdr = IoDevctlReply::default();
    let result = {
        let to = if dir & 0x8000_0000 != 0 {
            buf.to_vec()
        } else {
            Vec::new()
        };
        let sparts = [IoSlice::new(bytes_of(&hdr)), IoSlice::new(&to)];
        // SAFETY: a plain-data header as bytes.
        let rh = unsafe {
            std::slice::from_raw_parts_mut(
                (&mut reply_hdr as *mut IoDevctlReply).cast::<u8>(),
                std::mem::size_of::<IoDevctlReply>(),
            )
        };
        let from: &mut [u8] = if dir & 0x4000_0000 != 0 { buf } else { &mut [] };
        let mut rparts = [IoSliceMut::new(rh), IoSliceMut::new(from)];
        n::msg_sendv(coid, &sparts, &mut rparts)
    };
    match result {
        Ok(_) => {
            if !info.is_null() {
                // SAFETY: the caller's int.
                unsafe { *info = reply_hdr.ret_val };
            }
            0
        }
        Err(e) if e.errno() == Errno::ENOSYS => libc::ENOTTY,
        Err(e) => e.errno().0,
    }
}

/// `devctl(fd, dcmd, data, nbytes, info)` (`<devctl.h>`): one `_IO_DEVCTL` message; `EOK`
/// or an errno (never sets errno; a manager's `ENOSYS` is `ENOTTY`). On a descriptor that
/// is not a manager's (a file of the FUSE mount, a device), an `ioctl` with the direction
/// bits swapped.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devctl(
    fd: c_int,
    dcmd: c_int,
    data: *mut c_void,
    nbytes: size_t,
    info: *mut c_int,
) -> c_int {
    if let Some(e) = entry(fd) {
        return do_devctl(e.coid, dcmd, data, nbytes, info);
    }
    if fd & crate::ids::SIDE_CHANNEL != 0 {
        return do_devctl(crate::ids::plain(fd), dcmd, data, nbytes, info);
    }
    let Some(f) = next_fn!("ioctl", IoctlFn) else {
        return libc::ENOSYS;
    };
    let request = linux_request(dcmd as u32);
    // SAFETY: glibc's ioctl with the caller's buffer.
    let r = unsafe { f(fd, c_ulong::from(request), data) };
    if r < 0 {
        return std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
    }
    if !info.is_null() {
        // SAFETY: the caller's int.
        unsafe { *info = r };
    }
    0
}

/// `devctl_r`: the same function under QNX's other name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devctl_r(
    fd: c_int,
    dcmd: c_int,
    data: *mut c_void,
    nbytes: size_t,
    info: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { devctl(fd, dcmd, data, nbytes, info) }
}

/// `devctlv(fd, dcmd, sparts, rparts, sv, rv, info)`: the parts gathered into one buffer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn devctlv(
    fd: c_int,
    dcmd: c_int,
    sparts: c_int,
    rparts: c_int,
    sv: *const libc::iovec,
    rv: *const libc::iovec,
    info: *mut c_int,
) -> c_int {
    // SAFETY: the caller's iov arrays.
    let (s, r) = unsafe {
        (
            crate::iovs(sv, sparts.max(0) as usize),
            crate::iovs(rv, rparts.max(0) as usize),
        )
    };
    let slen: usize = s.iter().map(|p| p.iov_len).sum();
    let rlen: usize = r.iter().map(|p| p.iov_len).sum();
    let mut buf = vec![0u8; slen.max(rlen)];
    let mut off = 0;
    for p in s {
        // SAFETY: the caller's send part.
        buf[off..off + p.iov_len].copy_from_slice(unsafe { crate::bytes(p.iov_base, p.iov_len) });
        off += p.iov_len;
    }
    // SAFETY: our own buffer.
    let e = unsafe { devctl(fd, dcmd, buf.as_mut_ptr().cast(), buf.len(), info) };
    let mut off = 0;
    for p in r {
        // SAFETY: the caller's receive part.
        unsafe { crate::bytes_mut(p.iov_base, p.iov_len) }
            .copy_from_slice(&buf[off..off + p.iov_len]);
        off += p.iov_len;
    }
    e
}

/// `ioctl(fd, request, arg)` on a manager's descriptor is `devctl` with QNX's direction
/// bits; any other descriptor is glibc's `ioctl`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    if let Some(e) = entry(fd) {
        let dcmd = qnx_dcmd(request as u32);
        let size = ((dcmd >> 16) & 0x3fff) as usize;
        let r = do_devctl(e.coid, dcmd as c_int, arg, size, std::ptr::null_mut());
        if r != 0 {
            set_errno(r);
            return -1;
        }
        return 0;
    }
    match next_fn!("ioctl", IoctlFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(fd, request, arg) },
        None => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_bits_swap_both_ways() {
        // __DIOF(_DCMD_ALL, 1, int): size 4, class 1, cmd 1, from the device.
        let diof = (4 << 16) | (1 << 8) | 1 | 0x4000_0000;
        // Linux _IOR(1, 1, int): read bit 31.
        assert_eq!(linux_request(diof), (4 << 16) | (1 << 8) | 1 | 0x8000_0000);
        assert_eq!(qnx_dcmd(linux_request(diof)), diof);
        let tofrom = 0xc000_0000 | (8 << 16) | 0x305;
        assert_eq!(linux_request(tofrom), tofrom);
        let none = (1 << 8) | 7;
        assert_eq!(linux_request(none), none);
    }
}

/// glibc's `cookie_io_functions_t` (`<stdio.h>`, `_GNU_SOURCE`).
#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, size_t) -> ssize_t>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, size_t) -> ssize_t>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

unsafe extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut libc::FILE;
}

type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type StatFn = unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
type AccessFn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;

/// The cookie of a stream over a manager's descriptor is the descriptor.
fn cookie_fd(cookie: *mut c_void) -> c_int {
    cookie as usize as c_int
}

unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, n: size_t) -> ssize_t {
    // SAFETY: stdio's buffer of `n` bytes; the descriptor is the stream's.
    unsafe { read(cookie_fd(cookie), buf.cast(), n) }
}

unsafe extern "C" fn cookie_write(cookie: *mut c_void, buf: *const c_char, n: size_t) -> ssize_t {
    // SAFETY: stdio's buffer of `n` bytes; the descriptor is the stream's.
    unsafe { write(cookie_fd(cookie), buf.cast(), n) }
}

unsafe extern "C" fn cookie_seek(cookie: *mut c_void, pos: *mut i64, whence: c_int) -> c_int {
    // SAFETY: stdio's position; the descriptor is the stream's.
    unsafe {
        let at = lseek(cookie_fd(cookie), *pos as off_t, whence);
        if at < 0 {
            return -1;
        }
        *pos = at as i64;
    }
    0
}

unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    // SAFETY: the stream's own descriptor, closed once (stdio closes a stream once).
    unsafe { close(cookie_fd(cookie)) }
}

/// `open` flags of an `fopen` mode (`r`, `w`, `a`, with `+`, `b`, `e`, `x`), or `None` if
/// it is not one (glibc then says `EINVAL`).
fn fopen_flags(mode: &[u8]) -> Option<c_int> {
    let (&first, rest) = mode.split_first()?;
    let plus = rest.contains(&b'+');
    let mut flags = match (first, plus) {
        (b'r', false) => libc::O_RDONLY,
        (b'r', true) => libc::O_RDWR,
        (b'w', false) => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        (b'w', true) => libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC,
        (b'a', false) => libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND,
        (b'a', true) => libc::O_RDWR | libc::O_CREAT | libc::O_APPEND,
        _ => return None,
    };
    if rest.contains(&b'x') {
        flags |= libc::O_EXCL;
    }
    if rest.contains(&b'e') {
        flags |= libc::O_CLOEXEC;
    }
    Some(flags)
}

macro_rules! fopens {
    ($($name:ident),*) => {$(
        /// `fopen` of a manager's path: a stdio stream whose reads, writes, seeks and close
        /// are the descriptor's (glibc's own `fopen` opens through its internal `open`, which
        /// this library cannot see, and would reach the file system instead). Every other
        /// path is glibc's.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
            // SAFETY: the caller's NUL-terminated mode (null: glibc's answer).
            let flags = (!mode.is_null())
                .then(|| fopen_flags(unsafe { CStr::from_ptr(mode) }.to_bytes()))
                .flatten();
            // SAFETY: the caller's path.
            if let Some(fd) = flags.and_then(|f| unsafe { open_managed(path, f, 0o666) }) {
                if fd < 0 {
                    return std::ptr::null_mut();
                }
                let io = CookieIo {
                    read: Some(cookie_read),
                    write: Some(cookie_write),
                    seek: Some(cookie_seek),
                    close: Some(cookie_close),
                };
                // SAFETY: a valid mode; the cookie is the descriptor, closed by the stream.
                let f = unsafe { fopencookie(fd as usize as *mut c_void, mode, io) };
                if f.is_null() {
                    // SAFETY: our own descriptor; errno is fopencookie's.
                    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM);
                    unsafe { close(fd) };
                    set_errno(e);
                }
                return f;
            }
            match next_fn!(ident $name, FopenFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(path, mode) },
                None => {
                    set_errno(libc::ENOSYS);
                    std::ptr::null_mut()
                }
            }
        }
    )*};
}
fopens!(fopen, fopen64);

/// Open a manager's path for a look (`stat`, `access`) and close it again: `Some(result)` of
/// `look` on its descriptor, `None` if no manager has the path.
///
/// # Safety
/// `path` is null or NUL-terminated.
unsafe fn with_managed(
    path: *const c_char,
    flags: c_int,
    look: impl FnOnce(c_int) -> c_int,
) -> Option<c_int> {
    // SAFETY: the caller's path.
    let fd = unsafe { open_managed(path, flags, 0) }?;
    if fd < 0 {
        return Some(-1);
    }
    let r = look(fd);
    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: our own descriptor, closed once.
    unsafe { close(fd) };
    if r < 0 {
        set_errno(e);
    }
    Some(r)
}

macro_rules! stats {
    ($($name:ident),*) => {$(
        /// `stat` of a manager's path: opened, `_IO_STAT`, closed (QNX combines the three in
        /// one message). Every other path is glibc's.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, st: *mut libc::stat) -> c_int {
            // SAFETY: the caller's path; `st` is the caller's buffer.
            let managed = unsafe {
                with_managed(path, libc::O_RDONLY, |fd| {
                    entry(fd).map_or(-1, |e| ret(do_fstat(e.coid, st)) as c_int)
                })
            };
            if let Some(r) = managed {
                return r;
            }
            match next_fn!(ident $name, StatFn) {
                // SAFETY: glibc's own function with the caller's arguments.
                Some(f) => unsafe { f(path, st) },
                None => {
                    set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    )*};
}
stats!(stat, stat64, lstat, lstat64);

/// `access(path, mode)` of a manager's path: whether an open for that access succeeds (the
/// manager checks it, as QNX's does). Every other path is glibc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    let flags = match (mode & libc::R_OK != 0, mode & libc::W_OK != 0) {
        (true, true) => libc::O_RDWR,
        (false, true) => libc::O_WRONLY,
        _ => libc::O_RDONLY,
    };
    // SAFETY: the caller's path.
    if let Some(r) = unsafe { with_managed(path, flags, |_| 0) } {
        return r;
    }
    match next_fn!("access", AccessFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(path, mode) },
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    }
}
