//! The resource-manager structures as `<sys/resmgr.h>`, `<sys/iofunc.h>` and
//! `<sys/iomsg.h>` declare them (sizes and offsets checked here and by the headers'
//! `_Static_assert`s against the same numbers).

// The fields are QNX's, named and documented in the C headers.
#![allow(missing_docs)]

use std::mem::{offset_of, size_of};

use libc::{c_int, c_void, iovec};

use crate::layout::CMsgInfo;

/// `_IO_BASE`.
pub const IO_BASE: u16 = 0x100;
/// `_IO_CONNECT`.
pub const IO_CONNECT: u16 = 0x100;
/// `_IO_READ`.
pub const IO_READ: u16 = 0x101;
/// `_IO_WRITE`.
pub const IO_WRITE: u16 = 0x102;
/// `_IO_STAT`.
pub const IO_STAT: u16 = 0x104;
/// `_IO_DEVCTL`.
pub const IO_DEVCTL: u16 = 0x106;
/// `_IO_LSEEK`.
pub const IO_LSEEK: u16 = 0x109;
/// `_IO_CLOSE`.
pub const IO_CLOSE: u16 = 0x116;
/// `_IO_MAX`.
pub const IO_MAX: u16 = 0x1FF;

/// `_IO_CONNECT_COMBINE`, `_COMBINE_CLOSE`, `_OPEN`, `_UNLINK`, `_RENAME`, `_MKNOD`,
/// `_READLINK`, `_LINK`, (reserved), `_MOUNT`.
pub const IO_CONNECT_OPEN: u16 = 2;
/// `_FTYPE_NAME` (a `name_open`'s connect).
pub const FTYPE_NAME: u32 = 12;

/// `_IO_FLAG_RD`.
pub const IO_FLAG_RD: i32 = 1;
/// `_IO_FLAG_WR`.
pub const IO_FLAG_WR: i32 = 2;

/// What a handler returns to say it replied itself.
pub const RESMGR_NOREPLY: c_int = 0x7fff_ffff;
/// What a handler returns to have the default handler run.
pub const RESMGR_DEFAULT: c_int = 0x7fff_fffe;

/// `resmgr_context_t` with its first `iov_t`; the rest of `nparts_max` follow.
#[repr(C)]
pub struct Ctx {
    pub rcvid: i64,
    pub info: CMsgInfo,
    pub msg: *mut u8,
    pub dpp: *mut c_void,
    pub id: c_int,
    pub tid: u32,
    pub msg_max_size: u32,
    pub status: c_int,
    pub offset: c_int,
    pub size: c_int,
    pub iov: [iovec; 1],
}

const _: () = assert!(size_of::<Ctx>() == 128);
const _: () = assert!(offset_of!(Ctx, info) == 8);
const _: () = assert!(offset_of!(Ctx, msg) == 72);
const _: () = assert!(offset_of!(Ctx, status) == 100);
const _: () = assert!(offset_of!(Ctx, iov) == 112);

/// A C handler of the connect table: `(ctp, msg, handle, extra)`.
pub type ConnectFn = unsafe extern "C" fn(*mut Ctx, *mut c_void, *mut c_void, *mut c_void) -> c_int;
/// A C handler of the I/O table: `(ctp, msg, ocb)`.
pub type IoFn = unsafe extern "C" fn(*mut Ctx, *mut c_void, *mut c_void) -> c_int;
/// `resmgr_attr_t.other_func`.
pub type OtherFn = unsafe extern "C" fn(*mut Ctx, *mut c_void) -> c_int;
/// A `pulse_attach` / `message_attach` handler: `(ctp, code, flags, handle)`.
pub type MessageFn = unsafe extern "C" fn(*mut Ctx, c_int, u32, *mut c_void) -> c_int;

/// `resmgr_attr_t`.
#[repr(C)]
pub struct ResmgrAttr {
    pub flags: u32,
    pub nparts_max: u32,
    pub msg_max_size: u32,
    pub other_func: Option<OtherFn>,
    pub reserved: [u32; 4],
}
const _: () = assert!(size_of::<ResmgrAttr>() == 40);

/// `resmgr_connect_funcs_t`: `open, unlink, rename, mknod, readlink, link, unblock, mount`.
#[repr(C)]
pub struct ConnectFuncs {
    pub nfuncs: u32,
    pub funcs: [Option<ConnectFn>; 8],
}
const _: () = assert!(size_of::<ConnectFuncs>() == 72);

/// Indexes into [`ConnectFuncs::funcs`].
pub mod connect {
    pub const OPEN: usize = 0;
    pub const UNBLOCK: usize = 6;
}

/// `resmgr_io_funcs_t`: handler `i` is for message type `_IO_BASE + 1 + i`.
#[repr(C)]
pub struct IoFuncs {
    pub nfuncs: u32,
    pub funcs: [Option<IoFn>; 26],
}
const _: () = assert!(size_of::<IoFuncs>() == 216);

/// Indexes into [`IoFuncs::funcs`].
pub mod io {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE_OCB: usize = 2;
    pub const STAT: usize = 3;
    pub const DEVCTL: usize = 5;
    pub const UNBLOCK: usize = 6;
    pub const LSEEK: usize = 8;
    pub const CHMOD: usize = 9;
    pub const CHOWN: usize = 10;
    pub const CLOSE_DUP: usize = 21;
    pub const LOCK_OCB: usize = 22;
    pub const UNLOCK_OCB: usize = 23;
    pub const SYNC: usize = 24;
}

impl IoFuncs {
    /// Handler `i`, if the program's table has it.
    pub fn get(&self, i: usize) -> Option<IoFn> {
        if i < self.nfuncs as usize {
            self.funcs.get(i).copied().flatten()
        } else {
            None
        }
    }
}

impl ConnectFuncs {
    /// Handler `i`, if the program's table has it.
    pub fn get(&self, i: usize) -> Option<ConnectFn> {
        if i < self.nfuncs as usize {
            self.funcs.get(i).copied().flatten()
        } else {
            None
        }
    }
}

/// `iofunc_funcs_t`.
#[repr(C)]
pub struct IofuncFuncs {
    pub nfuncs: u32,
    pub ocb_calloc: Option<unsafe extern "C" fn(*mut Ctx, *mut Attr) -> *mut Ocb>,
    pub ocb_free: Option<unsafe extern "C" fn(*mut Ocb)>,
}
const _: () = assert!(size_of::<IofuncFuncs>() == 24);

/// `iofunc_mount_t`.
#[repr(C)]
pub struct Mount {
    pub flags: u32,
    pub conf: u32,
    pub dev: u64,
    pub blocksize: i32,
    pub funcs: *mut IofuncFuncs,
    pub size: *mut c_void,
}
const _: () = assert!(size_of::<Mount>() == 40);

/// `iofunc_attr_t`.
#[repr(C)]
pub struct Attr {
    pub mount: *mut Mount,
    pub flags: u32,
    pub lock_tid: i32,
    pub lock_count: u16,
    pub count: u16,
    pub rcount: u16,
    pub wcount: u16,
    pub rlocks: u16,
    pub wlocks: u16,
    pub mmap_list: *mut c_void,
    pub lock_list: *mut c_void,
    pub list: *mut c_void,
    pub list_size: u32,
    pub nbytes: i64,
    pub inode: u64,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    pub mode: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub mtime_ns: u32,
    pub atime_ns: u32,
    pub ctime_ns: u32,
}
const _: () = assert!(size_of::<Attr>() == 152);
const _: () = assert!(offset_of!(Attr, nbytes) == 64);
const _: () = assert!(offset_of!(Attr, mode) == 112);

/// `iofunc_attr_t.flags`: times to update.
pub const ATTR_ATIME: u32 = 0x2;
/// `IOFUNC_ATTR_CTIME`.
pub const ATTR_CTIME: u32 = 0x4;
/// `IOFUNC_ATTR_MTIME`.
pub const ATTR_MTIME: u32 = 0x8;

/// `iofunc_ocb_t`.
#[repr(C)]
pub struct Ocb {
    pub attr: *mut Attr,
    pub ioflag: i32,
    pub offset: i64,
    pub sflag: u16,
    pub flags: u16,
    pub reserved: *mut c_void,
}
const _: () = assert!(size_of::<Ocb>() == 40);
const _: () = assert!(offset_of!(Ocb, offset) == 16);

/// `struct _io_connect` (its path follows at 40).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IoConnect {
    pub type_: u16,
    pub subtype: u16,
    pub file_type: u32,
    pub reply_max: u16,
    pub entry_max: u16,
    pub key: u32,
    pub handle: u32,
    pub ioflag: u32,
    pub mode: u32,
    pub sflag: u16,
    pub access: u16,
    pub zero: u16,
    pub path_len: u16,
    pub eflag: u8,
    pub extra_type: u8,
    pub extra_len: u16,
}
const _: () = assert!(size_of::<IoConnect>() == 40);

/// `struct _io_read` / `_io_write` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IoRw {
    pub type_: u16,
    pub combine_len: u16,
    pub nbytes: i32,
    pub xtype: u32,
    pub zero: u32,
}
const _: () = assert!(size_of::<IoRw>() == 16);

/// `struct _io_devctl` (and, same size, `_io_devctl_reply`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IoDevctl {
    pub type_: u16,
    pub combine_len: u16,
    pub dcmd: i32,
    pub nbytes: i32,
    pub zero: i32,
}
const _: () = assert!(size_of::<IoDevctl>() == 16);

/// `struct _io_devctl_reply`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IoDevctlReply {
    pub zero: u32,
    pub ret_val: i32,
    pub nbytes: i32,
    pub zero2: i32,
}

/// `struct _io_lseek`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IoLseek {
    pub type_: u16,
    pub combine_len: u16,
    pub whence: i16,
    pub zero: u16,
    pub offset: u64,
}
const _: () = assert!(size_of::<IoLseek>() == 16);

/// The bytes of a `#[repr(C)]` value with no padding holes that matter (message headers).
pub fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: `v` is a live value of `size_of::<T>()` bytes; message headers are plain data.
    unsafe { std::slice::from_raw_parts((v as *const T).cast(), size_of::<T>()) }
}

/// A header of type `T` read from the start of `b` (zero-filled if `b` is shorter).
pub fn read_header<T: Copy + Default>(b: &[u8]) -> T {
    let mut v = T::default();
    let n = b.len().min(size_of::<T>());
    // SAFETY: copies at most size_of::<T>() bytes into a plain-data `T`.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (&mut v as *mut T).cast::<u8>(), n) };
    v
}
