//! QNX libc functions glibc lacks: `strlcpy`/`strlcat` (glibc has them only from 2.38; the
//! header declares them only before that), `itoa`/`ltoa`/`utoa`, and QNX's spawn family
//! (`spawnv`, `spawnve`, `spawnvp`, `spawnvpe` here, the list forms in `<process.h>` over
//! them) on glibc's `posix_spawn`. A program that defines its own keeps it (the
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

/// `P_WAIT`: run the child and wait for it (QNX's value, as all four).
const P_WAIT: c_int = 0;
/// `P_NOWAIT`: run the child concurrently; the caller collects it with `waitpid`.
const P_NOWAIT: c_int = 1;
/// `P_OVERLAY`: the child replaces the caller (`exec*`).
const P_OVERLAY: c_int = 2;
/// `P_NOWAITO`: run the child concurrently, leaving no zombie (QNX's `SPAWN_NOZOMBIE`).
const P_NOWAITO: c_int = 3;

unsafe extern "C" {
    static environ: *const *mut c_char;
}

/// `posix_spawn`/`posix_spawnp` with no file actions or attributes: the child's pid, or the
/// error number.
unsafe fn posix_spawn(
    path: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
    search: bool,
) -> Result<pid_t, c_int> {
    let mut pid: pid_t = 0;
    let f = if search {
        libc::posix_spawnp
    } else {
        libc::posix_spawn
    };
    let (actions, attr) = (std::ptr::null(), std::ptr::null());
    // SAFETY: the caller's NUL-terminated path and NULL-terminated vectors.
    match unsafe { f(&mut pid, path, actions, attr, argv, envp) } {
        0 => Ok(pid),
        e => Err(e),
    }
}

/// `waitpid(pid, &status, 0)`, again after a signal.
fn wait_for(pid: pid_t) -> Result<c_int, c_int> {
    let mut status = 0;
    loop {
        // SAFETY: a plain syscall writing to our own int.
        if unsafe { libc::waitpid(pid, &mut status, 0) } >= 0 {
            return Ok(status);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            e => return Err(e.unwrap_or(libc::ECHILD)),
        }
    }
}

/// `P_NOWAITO`: spawn the child from a short-lived intermediate process, which reports the
/// child's pid (or the error) on a pipe and exits; the child is reparented (to init or the
/// nearest subreaper), so it never becomes this process's zombie and `wait` cannot see it.
unsafe fn spawn_detached(
    path: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
    search: bool,
) -> Result<pid_t, c_int> {
    let errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors into our array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(errno());
    }
    let [rd, wr] = fds;
    // SAFETY: fork; the child only spawns, writes to the pipe and `_exit`s.
    let mid = unsafe { libc::fork() };
    if mid == 0 {
        // SAFETY: the caller's arguments; a write of 8 bytes from our own array.
        unsafe {
            let report: [c_int; 2] = match posix_spawn(path, argv, envp, search) {
                Ok(pid) => [0, pid],
                Err(e) => [e, 0],
            };
            libc::write(wr, report.as_ptr().cast(), std::mem::size_of_val(&report));
            libc::_exit(0);
        }
    }
    // SAFETY: our own descriptors.
    unsafe { libc::close(wr) };
    if mid < 0 {
        let e = errno();
        // SAFETY: our own descriptor.
        unsafe { libc::close(rd) };
        return Err(e);
    }
    let mut report = [0 as c_int; 2];
    let want = std::mem::size_of_val(&report);
    let mut got = 0;
    while got < want {
        // SAFETY: reading into the rest of our own array.
        let n = unsafe {
            libc::read(
                rd,
                report.as_mut_ptr().cast::<u8>().add(got).cast(),
                want - got,
            )
        };
        match n {
            n if n > 0 => got += n as usize,
            0 => break,
            _ if errno() == libc::EINTR => {}
            _ => break,
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(rd) };
    // The intermediate exits at once; a SIGCHLD handler of the program may reap it first.
    let _ = wait_for(mid);
    match (got == want, report) {
        (true, [0, pid]) => Ok(pid),
        (true, [e, _]) => Err(e),
        (false, _) => Err(libc::EIO),
    }
}

/// QNX's `spawnvpe` and everything built on it (see `<process.h>` for the modes and what
/// each returns). Follows QNX's own implementation: `P_WAIT` returns the status `waitpid`
/// gave, not only the exit code.
unsafe fn spawn(
    mode: c_int,
    path: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
    search: bool,
) -> c_int {
    if path.is_null() || argv.is_null() {
        crate::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the process's environment, read as glibc's exec* read it.
    let envp = if envp.is_null() {
        unsafe { environ }
    } else {
        envp
    };
    // SAFETY: the caller's NUL-terminated path and NULL-terminated vectors.
    let r = unsafe {
        match mode {
            P_OVERLAY => {
                if search {
                    libc::execvpe(path, argv.cast(), envp.cast());
                } else {
                    libc::execve(path, argv.cast(), envp.cast());
                }
                // exec returned: it failed, errno says why.
                return -1;
            }
            P_WAIT => posix_spawn(path, argv, envp, search).and_then(wait_for),
            P_NOWAIT => posix_spawn(path, argv, envp, search),
            P_NOWAITO => spawn_detached(path, argv, envp, search),
            _ => Err(libc::EINVAL),
        }
    };
    match r {
        Ok(v) => v,
        Err(e) => {
            crate::set_errno(e);
            -1
        }
    }
}

/// `int spawnv(int mode, const char *path, char *const argv[])`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnv(
    mode: c_int,
    path: *const c_char,
    argv: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, path, argv, std::ptr::null(), false) }
}

/// `int spawnve(int mode, const char *path, char *const argv[], char *const envp[])`: the
/// child's environment is `envp` (NULL: this process's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnve(
    mode: c_int,
    path: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, path, argv, envp, false) }
}

/// `int spawnvp(int mode, const char *file, char *const argv[])`: searches `PATH`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnvp(
    mode: c_int,
    file: *const c_char,
    argv: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, file, argv, std::ptr::null(), true) }
}

/// `int spawnvpe(int mode, const char *file, char *const argv[], char *const envp[])`:
/// searches `PATH`, the child's environment is `envp` (NULL: this process's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spawnvpe(
    mode: c_int,
    file: *const c_char,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { spawn(mode, file, argv, envp, true) }
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

type PthreadCancelFn = unsafe extern "C" fn(libc::pthread_t) -> c_int;

/// `pthread_cancel`: glibc's, then, if the thread waits in a call on the direct local path
/// (a futex wait, which glibc does not treat as a cancellation point), that call ends as an
/// unblock ends it, and the thread acts on the cancellation in libqnetc right after
/// ([`CancellableCall`]): QNX's `MsgSend*`, `MsgReceive*` are cancellation points.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cancel(thread: libc::pthread_t) -> c_int {
    let Some(f) = crate::next_fn!("pthread_cancel", PthreadCancelFn) else {
        return libc::ENOSYS;
    };
    // SAFETY: glibc's own function with the caller's argument.
    let r = unsafe { f(thread) };
    if r == 0 {
        qnet::pthread_cancelled(thread as usize);
    }
    r
}

unsafe extern "C-unwind" {
    /// glibc's; it unwinds the calling thread (a forced unwind) when a cancellation is due.
    fn pthread_testcancel();
}

/// A libqnetc call that is a cancellation point (`MsgSend*`, `MsgReceive*`): a due
/// cancellation of the calling thread acts as it starts (unless it starts after a reply,
/// `MsgReplyReceive`'s) and as it ends ([`CancellableCall::end`]); while it runs, libqnetc's
/// `pthread_cancel` finds the thread and ends a direct wait of it. Its drop (also when a
/// cancellation unwinds the thread) forgets the thread.
pub(crate) struct CancellableCall(bool);

impl CancellableCall {
    pub(crate) fn begin(test_first: bool) -> Self {
        let call = CancellableCall(qnet::cancellable_call_begin());
        if test_first {
            // SAFETY: no precondition; a due cancellation unwinds from here (dropping
            // `call`), as from any cancellation point.
            unsafe { pthread_testcancel() };
        }
        call
    }

    /// The call's end: the thread is forgotten, then a due cancellation acts.
    pub(crate) fn end(self) {
        drop(self);
        // SAFETY: as in `begin`; nothing of the call is left to free.
        unsafe { pthread_testcancel() };
    }
}

/// Run `call` as a libqnetc cancellation point (see [`CancellableCall`]).
pub(crate) fn cancellable<R>(test_first: bool, call: impl FnOnce() -> R) -> R {
    let c = CancellableCall::begin(test_first);
    let r = call();
    c.end();
    r
}

impl Drop for CancellableCall {
    fn drop(&mut self) {
        if self.0 {
            qnet::cancellable_call_end();
        }
    }
}

unsafe extern "C" {
    /// glibc's; not a cancellation point.
    fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
}

/// Cancellation held off (`PTHREAD_CANCEL_DISABLE`) while it lives, then the state as it was.
pub(crate) struct CancelHeld(c_int);

impl CancelHeld {
    pub(crate) fn new() -> Self {
        let mut old = 0;
        // SAFETY: a valid out-pointer; 1 is PTHREAD_CANCEL_DISABLE.
        unsafe { pthread_setcancelstate(1, &mut old) };
        CancelHeld(old)
    }
}

impl Drop for CancelHeld {
    fn drop(&mut self) {
        let mut ignored = 0;
        // SAFETY: puts back the state `new` found.
        unsafe { pthread_setcancelstate(self.0, &mut ignored) };
    }
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

type SetSchedParamFn =
    unsafe extern "C" fn(libc::pthread_t, c_int, *const libc::sched_param) -> c_int;
type SetSchedPrioFn = unsafe extern "C" fn(libc::pthread_t, c_int) -> c_int;

/// The QNX priority a thread the program scheduled itself carries: its real-time priority,
/// or QNX's default for SCHED_OTHER.
fn carried(policy: c_int, rt_priority: c_int) -> u8 {
    if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
        u8::try_from(rt_priority.clamp(1, 255)).unwrap_or(u8::MAX)
    } else {
        qnet::neutrino::DEFAULT_PRIORITY
    }
}

/// QNX's SCHED_OTHER with a priority (Linux allows only 0 there): QNX runs it as
/// SCHED_RR, and so does qnet (`setprio`'s path). 0, or the errno.
fn qnx_other(prio: c_int) -> c_int {
    match u8::try_from(prio) {
        Ok(p) => match qnet::neutrino::set_scheduler(None, p) {
            Ok(()) => 0,
            Err(e) => e.errno().0,
        },
        Err(_) => libc::EINVAL,
    }
}

/// `pthread_setschedparam`: glibc's; for the calling thread, its messages and pulses then
/// carry the new priority, as on QNX (the server inherits it). QNX's SCHED_OTHER with a
/// priority runs as SCHED_RR, as `setprio` does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setschedparam(
    thread: libc::pthread_t,
    policy: c_int,
    param: *const libc::sched_param,
) -> c_int {
    let Some(f) = crate::next_fn!("pthread_setschedparam", SetSchedParamFn) else {
        return libc::ENOSYS;
    };
    // SAFETY: pthread_self has no precondition.
    let own = unsafe { libc::pthread_equal(thread, libc::pthread_self()) } != 0;
    // SAFETY: the caller's pointer, null or valid.
    let prio = unsafe { param.as_ref() }.map(|p| p.sched_priority);
    if let (true, libc::SCHED_OTHER, Some(p)) = (own, policy, prio) {
        if p > 0 {
            return qnx_other(p);
        }
    }
    // SAFETY: glibc's own function with the caller's arguments.
    let r = unsafe { f(thread, policy, param) };
    if let (0, true, Some(p)) = (r, own, prio) {
        qnet::neutrino::carry_priority(carried(policy, p));
    }
    r
}

type GetSchedParamFn =
    unsafe extern "C" fn(libc::pthread_t, *mut c_int, *mut libc::sched_param) -> c_int;

/// `pthread_getschedparam`: for the calling thread, what the kernel says now (glibc answers
/// from a cache its own `pthread_setschedparam` keeps, which `setprio` and priority
/// inheritance, both system calls, leave stale); glibc's for another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getschedparam(
    thread: libc::pthread_t,
    policy: *mut c_int,
    param: *mut libc::sched_param,
) -> c_int {
    // SAFETY: pthread_self has no precondition.
    if unsafe { libc::pthread_equal(thread, libc::pthread_self()) } != 0
        && !policy.is_null()
        && !param.is_null()
    {
        // SAFETY: plain system calls on the calling thread; the caller's valid pointers.
        unsafe {
            let pol = libc::sched_getscheduler(0);
            if pol >= 0 && libc::sched_getparam(0, param) == 0 {
                *policy = pol & !libc::SCHED_RESET_ON_FORK;
                return 0;
            }
        }
    }
    match crate::next_fn!("pthread_getschedparam", GetSchedParamFn) {
        // SAFETY: glibc's own function with the caller's arguments.
        Some(f) => unsafe { f(thread, policy, param) },
        None => libc::ENOSYS,
    }
}

/// `pthread_setschedprio`: as [`pthread_setschedparam`], keeping the policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setschedprio(thread: libc::pthread_t, prio: c_int) -> c_int {
    let Some(f) = crate::next_fn!("pthread_setschedprio", SetSchedPrioFn) else {
        return libc::ENOSYS;
    };
    // SAFETY: pthread_self has no precondition.
    let own = unsafe { libc::pthread_equal(thread, libc::pthread_self()) } != 0;
    // SAFETY: plain system call on the calling thread.
    let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
    if own && policy == libc::SCHED_OTHER && prio > 0 {
        return qnx_other(prio);
    }
    // SAFETY: glibc's own function with the caller's arguments.
    let r = unsafe { f(thread, prio) };
    if r == 0 && own {
        qnet::neutrino::carry_priority(carried(policy, prio));
    }
    r
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
