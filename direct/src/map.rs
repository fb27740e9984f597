//! [`Mapping`]: one `mmap` of a segment, and the only place that turns its bytes into atomics
//! and copies. Every accessor checks its offset against the mapping's length, so a wrong
//! offset is a panic in this process, never a stray access; offsets come from `layout` and
//! indexes their callers checked.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// A shared mapping of the first `len` bytes of a segment.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory; all access goes through atomics or bounded
// copies that tolerate concurrent writers (see `read_bytes`).
#[allow(unsafe_code)]
unsafe impl Send for Mapping {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map the first `len` bytes of `fd` shared, read-write or read-only. The file must be
    /// at least `len` bytes long (a shorter one would fault on access), and `len` a multiple
    /// of the page size is not required.
    #[allow(unsafe_code)]
    pub fn map(fd: BorrowedFd<'_>, len: usize, writable: bool) -> io::Result<Self> {
        // SAFETY: fstat on a valid descriptor into a zeroed struct it fills.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if (st.st_size as u64) < len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("segment is {} bytes, {len} expected", st.st_size),
            ));
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh shared mapping chosen by the kernel; it is unmapped exactly once,
        // in Drop, and no reference into it outlives `self`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave 0"))?;
        Ok(Self { ptr, len, writable })
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is mapped (never: `map` refuses nothing to map).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this process may write it.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Whether this process could make the mapping writable (`mprotect`): never for a
    /// segment mapped from a read-only descriptor (tests of the trust rules).
    #[allow(unsafe_code)]
    pub fn can_make_writable(&self) -> bool {
        // SAFETY: mprotect of exactly this mapping; if it succeeds it is put back at once.
        unsafe {
            let p = self.ptr.as_ptr().cast();
            let ok = libc::mprotect(p, self.len, libc::PROT_READ | libc::PROT_WRITE) == 0;
            if ok && !self.writable {
                libc::mprotect(p, self.len, libc::PROT_READ);
            }
            ok
        }
    }

    fn check(&self, off: usize, n: usize, align: usize) {
        assert!(
            off % align == 0 && off.checked_add(n).is_some_and(|end| end <= self.len),
            "offset {off}+{n} outside a {}-byte mapping",
            self.len
        );
    }

    /// The 32-bit word at `off`.
    #[allow(unsafe_code)]
    pub fn u32(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, 4);
        // SAFETY: in bounds and aligned (checked); the memory lives as long as `self`;
        // AtomicU32 has the layout of u32 and every bit pattern is valid.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU32>() }
    }

    /// The 64-bit word at `off`.
    #[allow(unsafe_code)]
    pub fn u64(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, 8);
        // SAFETY: as for `u32`.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// Copy `src` to `off`. Panics on a read-only mapping (a caller bug).
    #[allow(unsafe_code)]
    pub fn write_bytes(&self, off: usize, src: &[u8]) {
        assert!(self.writable, "write into a read-only mapping");
        self.check(off, src.len(), 1);
        // SAFETY: in bounds (checked), writable, and `src` is this process's own memory, so
        // the ranges do not overlap. Another process may read or write the same bytes at
        // the same time: the bytes are then whatever they are, which the protocol allows
        // (only the side that wrote them can be misled by its own scribbling).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(off), src.len())
        }
    }

    /// Copy `dst.len()` bytes from `off` into `dst`.
    #[allow(unsafe_code)]
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len(), 1);
        // SAFETY: in bounds (checked); `dst` is this process's own memory. Concurrent
        // writers only change which bytes arrive, as in `write_bytes`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), dst.as_mut_ptr(), dst.len())
        }
    }

    /// Zero `n` bytes at `off` and give their pages back where whole pages are covered
    /// (`MADV_REMOVE` on a shared memfd frees them), so a large message leaves no memory
    /// behind.
    #[allow(unsafe_code)]
    pub fn release(&self, off: usize, n: usize) {
        self.check(off, n, 1);
        let page = crate::layout::PAGE;
        let start = off.div_ceil(page) * page;
        let end = (off + n) / page * page;
        if end > start && self.writable {
            // SAFETY: a page-aligned range inside the mapping; MADV_REMOVE only drops the
            // pages' contents (they read as zero afterwards).
            unsafe {
                libc::madvise(
                    self.ptr.as_ptr().add(start).cast(),
                    end - start,
                    libc::MADV_REMOVE,
                );
            }
        }
    }
}

impl Drop for Mapping {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`; every reference into it borrows self.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
