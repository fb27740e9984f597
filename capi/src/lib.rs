//! `libqnetc`: the QNX C API (`<sys/neutrino.h>`, `<sys/dispatch.h>`, `<sys/netmgr.h>`, …) on
//! Linux, thin over the `qnet` library. Headers are in `capi/include/`.
//!
//! Each export maps C pointers to slices, calls `qnet`, and returns -1 with `errno` set on
//! failure; the `_r` variants return `-errno` instead, as QNX's do. This is the only crate
//! besides today's fenced syscall sites that uses `unsafe`: every export trusts its C caller
//! for the validity of the pointers and lengths it passes, exactly as QNX's libc does.
//!
//! What this layer adds over `qnet` (module by module):
//! - [`ids`]: QNX's side-channel bit on coids, and telling a coid from a scoid in
//!   `ConnectDetach`;
//! - [`layout`]: QNX's 64-bit structures (`struct _pulse`, `_msg_info`, `_client_info`,
//!   `name_attach_t`, the pulse fields of `struct sigevent`);
//! - [`channel`], [`msg`], [`name`], [`event`], [`timer`]: the calls;
//! - [`ptrs`]: 64-bit pulse values (pointers) between threads of one process;
//! - [`fdio`]: `open`/`read`/`write`/`devctl`/`close` of paths resource managers attached;
//! - [`compat`]: QNX libc functions glibc lacks (`strlcpy`, `itoa`, `spawnv`);
//! - [`resmgr`]: the resource-manager library (`dispatch_*`, `resmgr_*`, `iofunc_*`, thread
//!   pools).

#![allow(unsafe_code)]
// The exports are C functions: their safety contract is the C one, documented in the headers.
#![allow(clippy::missing_safety_doc)]

pub mod channel;
pub mod compat;
pub mod event;
pub mod fdio;
pub mod ids;
pub mod layout;
pub mod msg;
pub mod name;
pub mod ptrs;
pub mod resmgr;
pub mod signals;
pub mod timer;

use qnet::Errno;

/// What the calls return before the C convention is applied.
pub(crate) type CResult = Result<i64, Errno>;

/// Set the calling thread's `errno`.
pub(crate) fn set_errno(e: i32) {
    // SAFETY: __errno_location always returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e }
}

/// QNX's convention: the value, or -1 with errno set.
pub(crate) fn errno_ret(r: CResult) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

/// The `_r` convention: the value, or `-errno`.
pub(crate) fn neg_ret(r: CResult) -> i64 {
    match r {
        Ok(v) => v,
        Err(e) => -i64::from(e.0),
    }
}

/// The errno of a `qnet` error. A daemon that cannot be reached (or speaks another protocol)
/// is a set-up problem the program's `perror` cannot explain (`Input/output error`): the
/// library says which socket and why on stderr, once per message and process ([`tell_once`]).
pub(crate) fn errno_of(e: qnet::Error) -> Errno {
    if matches!(
        e,
        qnet::Error::Daemon { .. } | qnet::Error::NoDaemon { .. } | qnet::Error::Protocol { .. }
    ) {
        tell_once(&e.to_string());
    }
    e.errno()
}

/// Write `libqnetc: <line>` on stderr, unless this process already did (at most 64 distinct
/// lines per process: a program that retries in a loop prints each cause once).
pub(crate) fn tell_once(line: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if said.len() < 64 && !said.iter().any(|l| l == line) {
        said.push(line.to_owned());
        eprintln!("libqnetc: {line}");
    }
}

/// Define a kernel call and its `_r` variant from one body (an expression of type
/// [`CResult`] over the arguments).
macro_rules! kcall {
    ($(#[$m:meta])* $name:ident, $name_r:ident, ($($a:ident : $t:ty),*) -> $ret:ty, $body:expr) => {
        $(#[$m])*
        #[unsafe(no_mangle)]
        #[allow(unused_unsafe)]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $ret {
            crate::errno_ret(unsafe { $body }) as $ret
        }
        #[doc = concat!("`", stringify!($name), "` returning `-errno` instead of setting errno.")]
        #[unsafe(no_mangle)]
        #[allow(unused_unsafe)]
        pub unsafe extern "C" fn $name_r($($a: $t),*) -> $ret {
            crate::neg_ret(unsafe { $body }) as $ret
        }
    };
}
pub(crate) use kcall;

/// The next definition of C function `$name` (glibc's, past this library), as type `$ty`;
/// `None` if there is none.
macro_rules! next_fn {
    (ident $name:ident, $ty:ty) => {{
        static F: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let p = *F.get_or_init(|| {
            // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds glibc's definition.
            unsafe {
                libc::dlsym(
                    libc::RTLD_NEXT,
                    concat!(stringify!($name), "\0").as_ptr().cast(),
                ) as usize
            }
        });
        if p == 0 {
            None
        } else {
            // SAFETY: the symbol is glibc's function of this exact C type.
            Some(unsafe { std::mem::transmute::<usize, $ty>(p) })
        }
    }};
    ($name:literal, $ty:ty) => {{
        static F: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let p = *F.get_or_init(|| {
            // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds glibc's definition.
            unsafe { libc::dlsym(libc::RTLD_NEXT, concat!($name, "\0").as_ptr().cast()) as usize }
        });
        if p == 0 {
            None
        } else {
            // SAFETY: the symbol is glibc's function of this exact C type.
            Some(unsafe { std::mem::transmute::<usize, $ty>(p) })
        }
    }};
}
pub(crate) use next_fn;

/// A C buffer as a byte slice (empty for a null pointer or zero length).
///
/// # Safety
/// `p` must be valid for `len` bytes of reads while the slice lives.
pub(crate) unsafe fn bytes<'a>(p: *const libc::c_void, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(p.cast(), len) }
    }
}

/// A C buffer as a mutable byte slice (empty for a null pointer or zero length).
///
/// # Safety
/// `p` must be valid for `len` bytes of writes while the slice lives, and not aliased.
pub(crate) unsafe fn bytes_mut<'a>(p: *mut libc::c_void, len: usize) -> &'a mut [u8] {
    if p.is_null() || len == 0 {
        &mut []
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(p.cast(), len) }
    }
}

/// The parts of a C `iov_t` array (empty for null).
///
/// # Safety
/// `iov` must point to `parts` valid `iov_t`s.
pub(crate) unsafe fn iovs<'a>(iov: *const libc::iovec, parts: usize) -> &'a [libc::iovec] {
    if iov.is_null() || parts == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(iov, parts) }
    }
}

/// A NUL-terminated C string as UTF-8 (`EINVAL` for null or invalid UTF-8, `EFAULT` never:
/// the pointer is trusted).
///
/// # Safety
/// `s` must be null or a valid NUL-terminated string.
pub(crate) unsafe fn str_arg<'a>(s: *const libc::c_char) -> Result<&'a str, Errno> {
    if s.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: the caller's contract.
    unsafe { std::ffi::CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Errno::EINVAL)
}
