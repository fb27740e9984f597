//! QNX libc functions glibc lacks: `strlcpy`/`strlcat` (glibc has them only from 2.38; the
//! header declares them only before that), `itoa`/`ltoa`/`utoa`, and `spawnv`/`spawnvp`
//! behind `<process.h>`'s `spawnl`/`spawnlp`. A program that defines its own keeps it (the
//! executable's definition wins over a shared library's). And fork safety: a child forgets the
//! parent's sessions with qnetd.

use libc::{c_char, c_int, c_long, c_uint, pid_t, size_t};

unsafe fn c_len(s: *const c_char) -> usize {
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { libc::strlen(s) }
}

/// `size_t strlcpy(char *dst, const char *src, size_t size)`: copy, always NUL-terminated
/// when `size > 0`; returns `strlen(src)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlcpy(dst: *mut c_char, src: *const c_char, size: size_t) -> size_t {
    // SAFETY: the caller's strings and buffer.
    unsafe {
        let len = c_len(src);
        if size > 0 {
            let k = len.min(size - 1);
            std::ptr::copy(src, dst, k);
            *dst.add(k) = 0;
        }
        len
    }
}

/// `size_t strlcat(char *dst, const char *src, size_t size)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlcat(dst: *mut c_char, src: *const c_char, size: size_t) -> size_t {
    // SAFETY: the caller's strings and buffer.
    unsafe {
        let dlen = libc::strnlen(dst, size);
        if dlen == size {
            return size + c_len(src);
        }
        dlen + strlcpy(dst.add(dlen), src, size - dlen)
    }
}

/// Write `v` (already made non-negative, `neg` says if a minus goes first) in `radix`.
unsafe fn write_radix(mut v: u64, neg: bool, buf: *mut c_char, radix: c_int) -> *mut c_char {
    if buf.is_null() {
        return buf;
    }
    let radix = if (2..=36).contains(&radix) {
        radix as u64
    } else {
        10
    };
    let mut digits = Vec::with_capacity(66);
    loop {
        let d = (v % radix) as u8;
        digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        v /= radix;
        if v == 0 {
            break;
        }
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    digits.push(0);
    // SAFETY: the caller's buffer is large enough, as in QNX's libc.
    unsafe { std::ptr::copy_nonoverlapping(digits.as_ptr().cast(), buf, digits.len()) };
    buf
}

/// `char *itoa(int value, char *buf, int radix)`: a minus sign only in radix 10 (QNX).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn itoa(value: c_int, buf: *mut c_char, radix: c_int) -> *mut c_char {
    // SAFETY: the caller's buffer.
    unsafe { ltoa(c_long::from(value), buf, radix) }
}

/// `char *ltoa(long value, char *buf, int radix)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ltoa(value: c_long, buf: *mut c_char, radix: c_int) -> *mut c_char {
    let neg = radix == 10 && value < 0;
    let v = if neg {
        value.unsigned_abs()
    } else if radix == 10 {
        value as u64
    } else {
        // Other radices print the bit pattern of the int-sized value, as QNX's does for itoa.
        value as u64
            & if i32::try_from(value).is_ok() {
                0xffff_ffff
            } else {
                u64::MAX
            }
    };
    // SAFETY: the caller's buffer.
    unsafe { write_radix(v, neg, buf, radix) }
}

/// `char *utoa(unsigned value, char *buf, int radix)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn utoa(value: c_uint, buf: *mut c_char, radix: c_int) -> *mut c_char {
    // SAFETY: the caller's buffer.
    unsafe { write_radix(u64::from(value), false, buf, radix) }
}

/// `P_WAIT`.
const P_WAIT: c_int = 0;
/// `P_OVERLAY`.
const P_OVERLAY: c_int = 2;

unsafe fn spawn(mode: c_int, path: *const c_char, argv: *const *mut c_char, search: bool) -> pid_t {
    unsafe extern "C" {
        static environ: *const *mut c_char;
    }
    // SAFETY: the caller's path and NULL-terminated argv; environ is the process's.
    unsafe {
        if mode == P_OVERLAY {
            if search {
                libc::execvp(path, argv.cast());
            } else {
                libc::execv(path, argv.cast());
            }
            return -1;
        }
        let mut pid: pid_t = 0;
        let rc = if search {
            libc::posix_spawnp(
                &mut pid,
                path,
                std::ptr::null(),
                std::ptr::null(),
                argv,
                environ,
            )
        } else {
            libc::posix_spawn(
                &mut pid,
                path,
                std::ptr::null(),
                std::ptr::null(),
                argv,
                environ,
            )
        };
        if rc != 0 {
            crate::set_errno(rc);
            return -1;
        }
        if mode == P_WAIT {
            let mut status = 0;
            if libc::waitpid(pid, &mut status, 0) < 0 {
                return -1;
            }
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            };
        }
        pid
    }
}

/// `pid_t spawnv(int mode, const char *path, char *const argv[])`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnv(
    mode: c_int,
    path: *const c_char,
    argv: *const *mut c_char,
) -> pid_t {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, path, argv, false) }
}

/// `pid_t spawnvp(int mode, const char *file, char *const argv[])`: searches `PATH`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnvp(
    mode: c_int,
    file: *const c_char,
    argv: *const *mut c_char,
) -> pid_t {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, file, argv, true) }
}

type PthreadStart = extern "C" fn(*mut libc::c_void) -> *mut libc::c_void;
type PthreadCreateFn = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    PthreadStart,
    *mut libc::c_void,
) -> c_int;

/// `pthread_create`, accepting a NULL thread id as QNX's does (glibc's would write through
/// it); everything else is glibc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: PthreadStart,
    arg: *mut libc::c_void,
) -> c_int {
    let Some(f) = crate::next_fn!("pthread_create", PthreadCreateFn) else {
        return libc::ENOSYS;
    };
    let mut ignored: libc::pthread_t = 0;
    let thread = if thread.is_null() {
        &mut ignored
    } else {
        thread
    };
    // SAFETY: glibc's own function with the caller's arguments (a valid id slot).
    unsafe { f(thread, attr, start, arg) }
}

/// `unsigned delay(unsigned msec)` (QNX `<unistd.h>`): sleep `msec` milliseconds; returns 0.
#[unsafe(no_mangle)]
pub extern "C" fn delay(msec: c_uint) -> c_uint {
    std::thread::sleep(std::time::Duration::from_millis(u64::from(msec)));
    0
}

/// `int getprio(pid_t pid)` (QNX `<sched.h>`): the calling thread's priority: its own, or the
/// one it inherited from the message or pulse it last received (carried with its messages and
/// pulses; pid 0 or our own pid only, else `ESRCH`).
#[unsafe(no_mangle)]
pub extern "C" fn getprio(pid: pid_t) -> c_int {
    if pid != 0 && pid != std::process::id() as pid_t {
        crate::set_errno(libc::ESRCH);
        return -1;
    }
    c_int::from(qnet::neutrino::priority())
}

/// `int setprio(pid_t pid, int prio)` (QNX `<sched.h>`): set the calling thread's priority
/// (1..=255); returns the previous one. The thread's OS scheduling follows it
/// (`qnet::sched`: SCHED_RR at the table's priority, or report-only): -1 with `EPERM` if the
/// OS refuses (the number is carried with messages anyway).
#[unsafe(no_mangle)]
pub extern "C" fn setprio(pid: pid_t, prio: c_int) -> c_int {
    if pid != 0 && pid != std::process::id() as pid_t {
        crate::set_errno(libc::ESRCH);
        return -1;
    }
    let Ok(p) = u8::try_from(prio) else {
        crate::set_errno(libc::EINVAL);
        return -1;
    };
    let old = qnet::neutrino::priority();
    if let Err(e) = qnet::neutrino::set_scheduler(None, p) {
        crate::set_errno(e.errno().0);
        return -1;
    }
    c_int::from(old)
}

/// Registered at load time (`.init_array`): a forked child forgets the parent's sessions with
/// `qnet`, so its calls are its own (see `qnet::forget_inherited_sessions`).
#[used]
#[unsafe(link_section = ".init_array")]
static REGISTER_ATFORK: extern "C" fn() = register_atfork;

extern "C" fn register_atfork() {
    // SAFETY: plain libc call with a valid handler.
    unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
}

extern "C" fn forked_child() {
    qnet::forget_inherited_sessions();
}
