//! Making segments (the daemon's job): a sealed memfd of the layout's size, its header
//! written, and a read-only descriptor of it for the processes that must not write.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use crate::layout::{HDR_KIND, HDR_MAGIC, HDR_VERSION, Kind, MAGIC, VERSION};
use crate::map::Mapping;

/// A new segment of `len` bytes (zeroed; the pages exist only once touched), sealed so that
/// nobody holding it can shrink or grow it (a shrunk segment would fault the other side) or
/// add seals (say a write seal on the server), with its header written. Returns the
/// descriptor and the daemon's read-write mapping of its first `map_len` bytes.
pub fn create(
    name: &CStr,
    kind: Kind,
    len: usize,
    map_len: usize,
) -> io::Result<(OwnedFd, Mapping)> {
    let fd = memfd(name)?;
    #[allow(unsafe_code)]
    // SAFETY: plain syscalls on a descriptor we own.
    unsafe {
        if libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) != 0 {
            return Err(io::Error::last_os_error());
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let map = Mapping::map(fd.as_fd(), map_len.min(len), true)?;
    map.u64(HDR_MAGIC).store(MAGIC, Ordering::Relaxed);
    map.u32(HDR_VERSION).store(VERSION, Ordering::Relaxed);
    map.u32(HDR_KIND).store(kind as u32, Ordering::Release);
    Ok((fd, map))
}

fn memfd(name: &CStr) -> io::Result<OwnedFd> {
    #[allow(unsafe_code)]
    // SAFETY: memfd_create with a NUL-terminated name; the new descriptor is ours alone.
    unsafe {
        let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A read-only descriptor of the same segment: a new open file description through
/// `/proc/self/fd`, so a process given only it can neither map it writable nor `mprotect`
/// a read-only mapping to writable.
pub fn read_only(fd: &OwnedFd) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    #[allow(unsafe_code)]
    // SAFETY: open of a NUL-terminated path; the new descriptor is ours alone.
    unsafe {
        let ro = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if ro < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(ro))
    }
}

/// Map a segment a daemon made, checking its header: `kind`, this layout's version, and a
/// length of at least `len`. A bells segment's header is not checked: every client of its
/// server may write it, so it proves nothing (and a scribbled one must not keep the next
/// client off the path); its length is.
pub fn open(fd: &OwnedFd, kind: Kind, len: usize, writable: bool) -> io::Result<Mapping> {
    let map = Mapping::map(fd.as_fd(), len, writable)?;
    if kind == Kind::Bells {
        return Ok(map);
    }
    let ok = map.u64(HDR_MAGIC).load(Ordering::Relaxed) == MAGIC
        && map.u32(HDR_VERSION).load(Ordering::Relaxed) == VERSION
        && map.u32(HDR_KIND).load(Ordering::Acquire) == kind as u32;
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a {kind:?} segment of layout version {VERSION}"),
        ));
    }
    Ok(map)
}
