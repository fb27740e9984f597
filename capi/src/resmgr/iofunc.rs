//! The POSIX layer (`<sys/iofunc.h>`): attributes and OCBs, permission checks, and the
//! default handlers `iofunc_func_init` puts in the tables, written from QNX's documentation
//! of what each does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use libc::{c_int, c_uint, c_void};
use qnet::neutrino as n;

use super::layout::*;
use super::resmgr_open_bind;
use crate::layout::CClientInfo;

/// `S_IREAD`, `S_IWRITE`, `S_IEXEC` (owner bits), `S_ISUID`.
const S_IREAD: u32 = 0o400;
const S_IWRITE: u32 = 0o200;
const S_ISUID: u32 = 0o4000;

/// `DCMD_ALL_GETFLAGS` / `DCMD_ALL_SETFLAGS`: `__DIOF/__DIOT(_DCMD_ALL, 1/2, int)`.
const DCMD_ALL_GETFLAGS: i32 = (4 << 16) + (1 << 8) + 1 + 0x4000_0000;
const DCMD_ALL_SETFLAGS: i32 = ((4 << 16) + (1 << 8) + 2) | (0x8000_0000_u32 as i32);

/// One lock for every attribute's recursive lock (`lock_tid`, `lock_count`).
static ATTR_LOCK: Mutex<()> = Mutex::new(());
static ATTR_FREED: Condvar = Condvar::new();
static NEXT_INODE: AtomicU64 = AtomicU64::new(1);

fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// `iofunc_func_init(nconnect, connect, nio, io)`: the default handlers in both tables
/// (`open`; `read`, `write`, `close_ocb`, `stat`, `devctl`, `unblock`, `lseek`, `chmod`,
/// `chown`, `close_dup`, `lock_ocb`, `unlock_ocb`, `sync`); the rest `NULL` (`ENOSYS`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_func_init(
    nconnect: c_uint,
    connect: *mut ConnectFuncs,
    nio: c_uint,
    io_funcs: *mut IoFuncs,
) {
    // SAFETY: the caller's tables, of at least nconnect / nio handlers.
    unsafe {
        if let Some(c) = connect.as_mut() {
            let k = (nconnect as usize).min(8);
            c.nfuncs = k as u32;
            c.funcs = [None; 8];
            let open: ConnectFn = std::mem::transmute::<
                unsafe extern "C" fn(*mut Ctx, *mut c_void, *mut Attr, *mut c_void) -> c_int,
                ConnectFn,
            >(iofunc_open_default);
            if k > connect::OPEN {
                c.funcs[connect::OPEN] = Some(open);
            }
        }
        if let Some(t) = io_funcs.as_mut() {
            let k = (nio as usize).min(26);
            t.nfuncs = k as u32;
            t.funcs = [None; 26];
            let defaults: [(usize, IoFn); 13] = [
                (io::READ, as_io(iofunc_read_default as *const () as usize)),
                (io::WRITE, as_io(iofunc_write_default as *const () as usize)),
                (
                    io::CLOSE_OCB,
                    as_io(iofunc_close_ocb_default as *const () as usize),
                ),
                (io::STAT, as_io(iofunc_stat_default as *const () as usize)),
                (
                    io::DEVCTL,
                    as_io(iofunc_devctl_default as *const () as usize),
                ),
                (
                    io::UNBLOCK,
                    as_io(iofunc_unblock_default as *const () as usize),
                ),
                (io::LSEEK, as_io(iofunc_lseek_default as *const () as usize)),
                (io::CHMOD, as_io(iofunc_chmod_default as *const () as usize)),
                (io::CHOWN, as_io(iofunc_chown_default as *const () as usize)),
                (
                    io::CLOSE_DUP,
                    as_io(iofunc_close_dup_default as *const () as usize),
                ),
                (
                    io::LOCK_OCB,
                    as_io(iofunc_lock_ocb_default as *const () as usize),
                ),
                (
                    io::UNLOCK_OCB,
                    as_io(iofunc_unlock_ocb_default as *const () as usize),
                ),
                (io::SYNC, as_io(iofunc_sync_default as *const () as usize)),
            ];
            for (i, f) in defaults {
                if i < k {
                    t.funcs[i] = Some(f);
                }
            }
        }
    }
}

/// A default handler's address as the table's generic handler type (every default takes
/// `(ctp, msg-or-reserved pointer, ocb pointer)` and returns `int`).
///
/// # Safety
/// `f` is the address of one of this module's three-pointer `extern "C"` handlers.
unsafe fn as_io(f: usize) -> IoFn {
    // SAFETY: the caller's contract: same C calling convention and argument classes.
    unsafe { std::mem::transmute::<usize, IoFn>(f) }
}

/// `iofunc_attr_init(attr, mode, dattr, info)`: a fresh attribute of `mode` (one link, times
/// now, owner from `info`'s effective ids, else `dattr`'s, else root), no mount.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_attr_init(
    attr: *mut Attr,
    mode: u32,
    dattr: *const Attr,
    info: *const CClientInfo,
) {
    // SAFETY: the caller's structures.
    unsafe {
        let Some(a) = attr.as_mut() else { return };
        std::ptr::write_bytes(attr, 0, 1);
        let (secs, nsec) = now();
        a.mode = mode;
        a.nlink = 1;
        a.mtime = secs;
        a.atime = secs;
        a.ctime = secs;
        a.mtime_ns = nsec;
        a.atime_ns = nsec;
        a.ctime_ns = nsec;
        a.inode = NEXT_INODE.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = info.as_ref() {
            a.uid = i.cred.euid;
            a.gid = i.cred.egid;
        } else if let Some(d) = dattr.as_ref() {
            a.uid = d.uid;
            a.gid = d.gid;
        }
    }
}

/// `iofunc_client_info(ctp, ioflag, info)`: who sent the current message
/// (`ConnectClientInfo` of its scoid).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_client_info(
    ctp: *mut Ctx,
    _ioflag: c_int,
    info: *mut CClientInfo,
) -> c_int {
    if ctp.is_null() || info.is_null() {
        return libc::EINVAL;
    }
    // SAFETY: live context; `info` is the caller's.
    let r = unsafe { crate::channel::ConnectClientInfo_r((*ctp).info.scoid, info.cast(), 8) };
    if r < 0 { -r } else { 0 }
}

/// `iofunc_check_access(ctp, attr, checkmode, info)`: POSIX permission bits of `attr` for
/// the client (`info`, or the current message's sender): `EOK` or `EACCES`; `S_ISUID` asks
/// "owner or root" (`EPERM`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_check_access(
    ctp: *mut Ctx,
    attr: *const Attr,
    checkmode: u32,
    info: *const CClientInfo,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let Some(a) = attr.as_ref() else {
            return libc::EINVAL;
        };
        let mut fetched = CClientInfo::default();
        let who = match info.as_ref() {
            Some(i) => *i,
            None => {
                let e = iofunc_client_info(ctp, 0, &mut fetched);
                if e != 0 {
                    return e;
                }
                fetched
            }
        };
        let euid = who.cred.euid;
        if checkmode & S_ISUID != 0 && euid != 0 && euid != a.uid {
            return libc::EPERM;
        }
        let want = checkmode & 0o700;
        if euid == 0 || want == 0 {
            return 0;
        }
        let groups = &who.cred.grouplist[..(who.cred.ngroups as usize).min(8)];
        let have = if euid == a.uid {
            a.mode & 0o700
        } else if who.cred.egid == a.gid || groups.contains(&a.gid) {
            (a.mode & 0o070) << 3
        } else {
            (a.mode & 0o007) << 6
        };
        if have & want == want { 0 } else { libc::EACCES }
    }
}

/// `iofunc_open(ctp, msg, attr, dattr, info)`: may the client open `attr` as its connect
/// message asks (read and/or write permission; `O_CREAT|O_EXCL` of an existing one is
/// `EEXIST`; a directory for writing `EISDIR`)?
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_open(
    ctp: *mut Ctx,
    msg: *mut c_void,
    attr: *mut Attr,
    _dattr: *mut Attr,
    info: *mut CClientInfo,
) -> c_int {
    // SAFETY: the caller's message and attribute.
    unsafe {
        let Some(a) = attr.as_ref() else {
            return libc::ENOENT;
        };
        let c: IoConnect = std::ptr::read_unaligned(msg.cast());
        let ioflag = c.ioflag as i32;
        let mut check = 0;
        if ioflag & IO_FLAG_RD != 0 {
            check |= S_IREAD;
        }
        if ioflag & IO_FLAG_WR != 0 {
            check |= S_IWRITE;
        }
        if ioflag & libc::O_CREAT != 0 && ioflag & libc::O_EXCL != 0 {
            return libc::EEXIST;
        }
        if a.mode & libc::S_IFMT == libc::S_IFDIR && ioflag & IO_FLAG_WR != 0 {
            return libc::EISDIR;
        }
        iofunc_check_access(ctp, attr, check, info)
    }
}

/// `iofunc_ocb_attach(ctp, msg, ocb, attr, io_funcs)`: fill `ocb` (`NULL`: allocate one, with
/// the mount's `ocb_calloc` if it has one), count it in `attr`, and bind it to the client's
/// connection.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_ocb_attach(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
    attr: *mut Attr,
    io_funcs: *const IoFuncs,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let Some(a) = attr.as_mut() else {
            return libc::EINVAL;
        };
        let ocb = if ocb.is_null() {
            let calloc = a
                .mount
                .as_ref()
                .and_then(|m| m.funcs.as_ref())
                .filter(|f| f.nfuncs >= 1)
                .and_then(|f| f.ocb_calloc);
            match calloc {
                Some(f) => f(ctp, attr),
                None => libc::calloc(1, std::mem::size_of::<Ocb>()).cast(),
            }
        } else {
            ocb
        };
        let Some(o) = ocb.as_mut() else {
            return libc::ENOMEM;
        };
        let c: IoConnect = std::ptr::read_unaligned(msg.cast());
        o.attr = attr;
        o.ioflag = c.ioflag as i32;
        o.sflag = c.sflag;
        o.offset = 0;
        o.flags = 0;
        a.count = a.count.saturating_add(1);
        if o.ioflag & IO_FLAG_RD != 0 {
            a.rcount = a.rcount.saturating_add(1);
        }
        if o.ioflag & IO_FLAG_WR != 0 {
            a.wcount = a.wcount.saturating_add(1);
        }
        resmgr_open_bind(ctp, ocb.cast(), io_funcs);
        0
    }
}

/// `iofunc_ocb_detach(ctp, ocb)`: uncount `ocb` in its attribute; returns which counts
/// reached zero (`IOFUNC_OCB_LAST_INUSE`, `_READER`, `_WRITER`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_ocb_detach(_ctp: *mut Ctx, ocb: *mut Ocb) -> c_int {
    // SAFETY: the caller's OCB and its attribute.
    unsafe {
        let Some(o) = ocb.as_mut() else { return 0 };
        let Some(a) = o.attr.as_mut() else { return 0 };
        let mut flags = 0;
        a.count = a.count.saturating_sub(1);
        if a.count == 0 {
            flags |= 1;
        }
        if o.ioflag & IO_FLAG_RD != 0 {
            a.rcount = a.rcount.saturating_sub(1);
            if a.rcount == 0 {
                flags |= 2;
            }
        }
        if o.ioflag & IO_FLAG_WR != 0 {
            a.wcount = a.wcount.saturating_sub(1);
            if a.wcount == 0 {
                flags |= 4;
            }
        }
        flags
    }
}

/// `iofunc_close_ocb(ctp, ocb, attr)`: detach `ocb` and free it (the mount's `ocb_free`, or
/// `free`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_close_ocb(ctp: *mut Ctx, ocb: *mut Ocb, attr: *mut Attr) -> c_int {
    // SAFETY: the caller's OCB, allocated by iofunc_ocb_attach or the mount's ocb_calloc.
    unsafe {
        if ocb.is_null() {
            return 0;
        }
        iofunc_ocb_detach(ctp, ocb);
        let free = attr
            .as_ref()
            .and_then(|a| a.mount.as_ref())
            .and_then(|m| m.funcs.as_ref())
            .filter(|f| f.nfuncs >= 2)
            .and_then(|f| f.ocb_free);
        match free {
            Some(f) => f(ocb),
            None => libc::free(ocb.cast()),
        }
        0
    }
}

/// `iofunc_close_ocb_default(ctp, reserved, ocb)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_close_ocb_default(
    ctp: *mut Ctx,
    _reserved: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's OCB.
    unsafe {
        let attr = ocb.as_ref().map_or(std::ptr::null_mut(), |o| o.attr);
        iofunc_close_ocb(ctp, ocb, attr)
    }
}

/// `iofunc_close_dup_default(ctp, msg, ocb)`: nothing to do (`EOK`).
#[unsafe(no_mangle)]
pub extern "C" fn iofunc_close_dup_default(
    _ctp: *mut Ctx,
    _msg: *mut c_void,
    _ocb: *mut Ocb,
) -> c_int {
    0
}

/// `iofunc_read_verify(ctp, msg, ocb, nonblock)`: `EBADF` unless opened for reading;
/// `*nonblock` says whether the read must not block (`O_NONBLOCK` or `_IO_XFLAG_NONBLOCK`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_read_verify(
    _ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
    nonblock: *mut c_int,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe { verify(msg, ocb, nonblock, IO_FLAG_RD) }
}

/// `iofunc_write_verify(ctp, msg, ocb, nonblock)`: `EBADF` unless opened for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_write_verify(
    _ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
    nonblock: *mut c_int,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe { verify(msg, ocb, nonblock, IO_FLAG_WR) }
}

unsafe fn verify(msg: *mut c_void, ocb: *mut Ocb, nonblock: *mut c_int, need: i32) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let Some(o) = ocb.as_ref() else {
            return libc::EBADF;
        };
        if o.ioflag & need == 0 {
            return libc::EBADF;
        }
        if let Some(nb) = nonblock.as_mut() {
            let rw: IoRw = msg.cast::<IoRw>().as_ref().copied().unwrap_or_default();
            *nb = c_int::from(o.ioflag & libc::O_NONBLOCK != 0 || rw.xtype & 0x4000 != 0);
        }
        0
    }
}

/// `iofunc_read_default(ctp, msg, ocb)`: end of file (0 bytes).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_read_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let e = iofunc_read_verify(ctp, msg, ocb, std::ptr::null_mut());
        if e != 0 {
            return e;
        }
        (*ctp).status = 0;
        0
    }
}

/// `iofunc_write_default(ctp, msg, ocb)`: the bytes are taken and dropped (as `/dev/null`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_write_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let e = iofunc_write_verify(ctp, msg, ocb, std::ptr::null_mut());
        if e != 0 {
            return e;
        }
        let rw: IoRw = std::ptr::read_unaligned(msg.cast());
        (*ctp).status = rw.nbytes.max(0);
        if let Some(a) = (*ocb).attr.as_mut() {
            a.flags |= ATTR_MTIME | ATTR_CTIME;
        }
        0
    }
}

/// `iofunc_time_update(attr)`: the times flagged dirty (`IOFUNC_ATTR_ATIME`, …) become now.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_time_update(attr: *mut Attr) -> c_int {
    // SAFETY: the caller's attribute.
    unsafe {
        let Some(a) = attr.as_mut() else { return 0 };
        let (secs, nsec) = now();
        if a.flags & ATTR_ATIME != 0 {
            (a.atime, a.atime_ns) = (secs, nsec);
        }
        if a.flags & ATTR_MTIME != 0 {
            (a.mtime, a.mtime_ns) = (secs, nsec);
        }
        if a.flags & ATTR_CTIME != 0 {
            (a.ctime, a.ctime_ns) = (secs, nsec);
        }
        a.flags &= !(ATTR_ATIME | ATTR_MTIME | ATTR_CTIME);
        0
    }
}

/// `iofunc_stat(ctp, attr, stat)`: `attr` as a `struct stat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_stat(
    _ctp: *mut Ctx,
    attr: *mut Attr,
    st: *mut libc::stat,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let (Some(a), Some(s)) = (attr.as_ref(), st.as_mut()) else {
            return libc::EINVAL;
        };
        std::ptr::write_bytes(st, 0, 1);
        s.st_ino = a.inode;
        s.st_size = a.nbytes;
        s.st_uid = a.uid;
        s.st_gid = a.gid;
        s.st_mode = a.mode;
        s.st_nlink = a.nlink;
        s.st_rdev = a.rdev;
        s.st_mtime = a.mtime;
        s.st_mtime_nsec = a.mtime_ns.into();
        s.st_atime = a.atime;
        s.st_atime_nsec = a.atime_ns.into();
        s.st_ctime = a.ctime;
        s.st_ctime_nsec = a.ctime_ns.into();
        let blksize = a
            .mount
            .as_ref()
            .map_or(512, |m| if m.blocksize > 0 { m.blocksize } else { 512 });
        s.st_dev = a.mount.as_ref().map_or(0, |m| m.dev);
        s.st_blksize = blksize.into();
        s.st_blocks = (a.nbytes.max(0) + 511) / 512;
        0
    }
}

/// `iofunc_stat_default(ctp, msg, ocb)`: replies with the OCB's attribute as `struct stat`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_stat_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures; the reply overlays the message (io_stat_t.o).
    unsafe {
        let Some(o) = ocb.as_ref() else {
            return libc::EBADF;
        };
        iofunc_time_update(o.attr);
        let st = msg.cast::<libc::stat>();
        let e = iofunc_stat(ctp, o.attr, st);
        if e != 0 {
            return e;
        }
        (*ctp).iov[0] = libc::iovec {
            iov_base: st.cast(),
            iov_len: std::mem::size_of::<libc::stat>(),
        };
        -1
    }
}

/// `iofunc_devctl(ctp, msg, ocb, attr)`: the generic commands (`DCMD_ALL_GETFLAGS`,
/// `DCMD_ALL_SETFLAGS`); `_RESMGR_DEFAULT` for any other.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_devctl(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
    _attr: *mut Attr,
) -> c_int {
    // SAFETY: the caller's structures; the reply overlays the message (io_devctl_t.o).
    unsafe {
        let Some(o) = ocb.as_mut() else {
            return libc::EBADF;
        };
        let d: IoDevctl = std::ptr::read_unaligned(msg.cast());
        let data = msg.cast::<u8>().add(16).cast::<c_int>();
        match d.dcmd {
            DCMD_ALL_GETFLAGS => {
                // The open() flags again: the access mode is one less than in ioflag.
                let flags = (o.ioflag & !3) | ((o.ioflag & 3) - 1).max(0);
                std::ptr::write_unaligned(
                    msg.cast::<IoDevctlReply>(),
                    IoDevctlReply {
                        nbytes: 4,
                        ..Default::default()
                    },
                );
                std::ptr::write_unaligned(data, flags);
                (*ctp).iov[0] = libc::iovec {
                    iov_base: msg,
                    iov_len: 20,
                };
                -1
            }
            DCMD_ALL_SETFLAGS => {
                let flags = std::ptr::read_unaligned(data);
                let settable = libc::O_NONBLOCK | libc::O_APPEND;
                o.ioflag = (o.ioflag & !settable) | (flags & settable);
                0
            }
            _ => RESMGR_DEFAULT,
        }
    }
}

/// `iofunc_devctl_default(ctp, msg, ocb)`: [`iofunc_devctl`] on the OCB's attribute
/// (`_RESMGR_DEFAULT` for commands it does not know, as QNX's: the caller answers those).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_devctl_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let attr = ocb.as_ref().map_or(std::ptr::null_mut(), |o| o.attr);
        iofunc_devctl(ctp, msg, ocb, attr)
    }
}

/// `iofunc_unblock_default(ctp, msg, ocb)`: nothing of the library's is blocked
/// (`_RESMGR_DEFAULT`: the client stays blocked until the manager answers it).
#[unsafe(no_mangle)]
pub extern "C" fn iofunc_unblock_default(
    _ctp: *mut Ctx,
    _msg: *mut c_void,
    _ocb: *mut Ocb,
) -> c_int {
    RESMGR_DEFAULT
}

/// `iofunc_lseek(ctp, msg, ocb, attr)`: the OCB's offset moves (`SEEK_SET`, `SEEK_CUR`,
/// `SEEK_END` from `attr->nbytes`); the reply is the new offset.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_lseek(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
    attr: *mut Attr,
) -> c_int {
    // SAFETY: the caller's structures; the reply overlays the message (io_lseek_t.o).
    unsafe {
        let Some(o) = ocb.as_mut() else {
            return libc::EBADF;
        };
        let l: IoLseek = std::ptr::read_unaligned(msg.cast());
        let base = match c_int::from(l.whence) {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => o.offset,
            libc::SEEK_END => attr.as_ref().map_or(0, |a| a.nbytes),
            _ => return libc::EINVAL,
        };
        let Some(new) = base.checked_add(l.offset as i64).filter(|v| *v >= 0) else {
            return libc::EINVAL;
        };
        o.offset = new;
        std::ptr::write_unaligned(msg.cast::<u64>(), new as u64);
        (*ctp).iov[0] = libc::iovec {
            iov_base: msg,
            iov_len: 8,
        };
        -1
    }
}

/// `iofunc_lseek_default(ctp, msg, ocb)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_lseek_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let attr = ocb.as_ref().map_or(std::ptr::null_mut(), |o| o.attr);
        iofunc_lseek(ctp, msg, ocb, attr)
    }
}

/// `iofunc_chmod_default(ctp, msg, ocb)`: the owner or root sets the permission bits.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_chmod_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures (struct _io_chmod: type, combine_len, mode).
    unsafe {
        let Some(a) = ocb.as_ref().and_then(|o| o.attr.as_mut()) else {
            return libc::EBADF;
        };
        let e = iofunc_check_access(ctp, a, S_ISUID, std::ptr::null());
        if e != 0 {
            return e;
        }
        let mode = std::ptr::read_unaligned(msg.cast::<u8>().add(4).cast::<u32>());
        a.mode = (a.mode & !0o7777) | (mode & 0o7777);
        a.flags |= ATTR_CTIME;
        0
    }
}

/// `iofunc_chown_default(ctp, msg, ocb)`: root sets owner and group.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_chown_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's structures (struct _io_chown: type, combine_len, gid, uid).
    unsafe {
        let Some(a) = ocb.as_ref().and_then(|o| o.attr.as_mut()) else {
            return libc::EBADF;
        };
        let mut who = CClientInfo::default();
        let e = iofunc_client_info(ctp, 0, &mut who);
        if e != 0 {
            return e;
        }
        if who.cred.euid != 0 {
            return libc::EPERM;
        }
        let gid = std::ptr::read_unaligned(msg.cast::<u8>().add(4).cast::<i32>());
        let uid = std::ptr::read_unaligned(msg.cast::<u8>().add(8).cast::<i32>());
        if uid >= 0 {
            a.uid = uid as u32;
        }
        if gid >= 0 {
            a.gid = gid as u32;
        }
        a.flags |= ATTR_CTIME;
        0
    }
}

/// `iofunc_sync_default(ctp, msg, ocb)`: nothing is cached (`EOK`).
#[unsafe(no_mangle)]
pub extern "C" fn iofunc_sync_default(_ctp: *mut Ctx, _msg: *mut c_void, _ocb: *mut Ocb) -> c_int {
    0
}

/// `iofunc_lock_ocb_default(ctp, reserved, ocb)`: lock the OCB's attribute.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_lock_ocb_default(
    _ctp: *mut Ctx,
    _reserved: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's OCB.
    unsafe { ocb.as_ref().map_or(0, |o| iofunc_attr_lock(o.attr)) }
}

/// `iofunc_unlock_ocb_default(ctp, reserved, ocb)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_unlock_ocb_default(
    _ctp: *mut Ctx,
    _reserved: *mut c_void,
    ocb: *mut Ocb,
) -> c_int {
    // SAFETY: the caller's OCB.
    unsafe { ocb.as_ref().map_or(0, |o| iofunc_attr_unlock(o.attr)) }
}

/// `iofunc_attr_lock(attr)`: a lock per attribute, recursive for the thread holding it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_attr_lock(attr: *mut Attr) -> c_int {
    let tid = n::gettid() as i32;
    let mut g = ATTR_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        // SAFETY: the caller's attribute; its lock fields change only under ATTR_LOCK.
        let Some(a) = (unsafe { attr.as_mut() }) else {
            return libc::EINVAL;
        };
        if a.lock_count == 0 || a.lock_tid == tid {
            a.lock_tid = tid;
            a.lock_count = a.lock_count.saturating_add(1);
            return 0;
        }
        g = ATTR_FREED.wait(g).unwrap_or_else(PoisonError::into_inner);
    }
}

/// `iofunc_attr_trylock(attr)`: as [`iofunc_attr_lock`], `EBUSY` instead of waiting.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_attr_trylock(attr: *mut Attr) -> c_int {
    let tid = n::gettid() as i32;
    let _g = ATTR_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: the caller's attribute.
    let Some(a) = (unsafe { attr.as_mut() }) else {
        return libc::EINVAL;
    };
    if a.lock_count == 0 || a.lock_tid == tid {
        a.lock_tid = tid;
        a.lock_count = a.lock_count.saturating_add(1);
        0
    } else {
        libc::EBUSY
    }
}

/// `iofunc_attr_unlock(attr)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_attr_unlock(attr: *mut Attr) -> c_int {
    let tid = n::gettid() as i32;
    let _g = ATTR_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: the caller's attribute.
    let Some(a) = (unsafe { attr.as_mut() }) else {
        return libc::EINVAL;
    };
    if a.lock_count == 0 || a.lock_tid != tid {
        return libc::EPERM;
    }
    a.lock_count -= 1;
    if a.lock_count == 0 {
        a.lock_tid = 0;
        ATTR_FREED.notify_all();
    }
    0
}

/// `iofunc_open_default(ctp, msg, attr, extra)`: [`iofunc_open`], then [`iofunc_ocb_attach`]
/// with the attachment's I/O table.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn iofunc_open_default(
    ctp: *mut Ctx,
    msg: *mut c_void,
    attr: *mut Attr,
    _extra: *mut c_void,
) -> c_int {
    // SAFETY: the caller's structures.
    unsafe {
        let e = iofunc_open(ctp, msg, attr, std::ptr::null_mut(), std::ptr::null_mut());
        if e != 0 {
            return e;
        }
        iofunc_ocb_attach(ctp, msg, std::ptr::null_mut(), attr, std::ptr::null())
    }
}

/// The default for I/O handler `index` when a handler returned `_RESMGR_DEFAULT` (or the
/// table has none): the iofunc default where there is one, else `ENOSYS`.
///
/// # Safety
/// `ctp` is a live context holding `msg`; `ocb` is the bound OCB.
pub(super) unsafe fn default_io(
    ctp: *mut Ctx,
    index: usize,
    msg: *mut c_void,
    ocb: *mut c_void,
) -> c_int {
    let ocb = ocb.cast::<Ocb>();
    // SAFETY: the caller's contract.
    let r = unsafe {
        match index {
            io::READ => iofunc_read_default(ctp, msg, ocb),
            io::WRITE => iofunc_write_default(ctp, msg, ocb),
            io::STAT => iofunc_stat_default(ctp, msg, ocb),
            io::DEVCTL => iofunc_devctl_default(ctp, msg, ocb),
            io::UNBLOCK => RESMGR_NOREPLY,
            io::LSEEK => iofunc_lseek_default(ctp, msg, ocb),
            io::CHMOD => iofunc_chmod_default(ctp, msg, ocb),
            io::CHOWN => iofunc_chown_default(ctp, msg, ocb),
            io::SYNC | io::CLOSE_DUP => 0,
            _ => libc::ENOSYS,
        }
    };
    if r == RESMGR_DEFAULT { libc::ENOSYS } else { r }
}
