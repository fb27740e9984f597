//! Shared futexes on words in mapped segments: no `FUTEX_PRIVATE_FLAG`, which would only work
//! within one process.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Why a wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Woken, or the word did not hold the expected value: look again.
    Look,
    /// The timeout passed.
    TimedOut,
    /// A signal handler ran in this thread (QNX: a signal unblocks a blocked call).
    Signal,
}

/// How long a wait without a timeout sleeps at most before it looks again (it says
/// [`Wake::Look`]). The kernel restarts an untimed `FUTEX_WAIT` after a handler installed with
/// `SA_RESTART` (as glibc's `signal()` installs them), so the handler would go unseen; a timed
/// one is never restarted after a handler and fails `EINTR`.
const UNTIMED: Duration = Duration::from_secs(3600);

/// Sleep while `word == expected`, at most `timeout` (none: no limit), for a call that
/// began when [`crate::signals::count`] was `handlers`: if a wrapped signal handler ran
/// since, it does not sleep at all ([`Wake::Signal`]). One that runs from here on sets the
/// word to `poked` (if it still holds `expected`), so the wait cannot begin after it
/// ([`crate::signals`]): `poked` must be a value the word's other users take as harmless
/// (a cleared "sleeping" bit, one more ring).
pub fn wait(
    word: &AtomicU32,
    expected: u32,
    poked: u32,
    timeout: Option<Duration>,
    handlers: u64,
) -> Wake {
    crate::signals::publish(word, expected, poked);
    let wake = match crate::signals::count() == handlers {
        true => wait_published(word, expected, timeout),
        false => Wake::Signal,
    };
    crate::signals::unpublish();
    if crate::signals::count() != handlers {
        return Wake::Signal;
    }
    wake
}

#[allow(unsafe_code)]
fn wait_published(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Wake {
    let t = timeout.unwrap_or(UNTIMED);
    let ts = libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the word at a valid address for the call's duration; the
    // timespec lives on this stack frame.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r != -1 {
        return Wake::Look;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ETIMEDOUT) if timeout.is_some() => Wake::TimedOut,
        Some(libc::EINTR) => Wake::Signal,
        _ => Wake::Look,
    }
}

/// Wake up to `n` threads (of any process) sleeping on `word`; returns how many woke.
#[allow(unsafe_code)]
pub fn wake(word: &AtomicU32, n: u32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address as a key; a read-only mapping is fine.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n.min(i32::MAX as u32) as i32,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}

/// Wake every sleeper on `word`. Bells are woken this way: a client could itself sleep on a
/// bell it can map, and a wake of one would then reach it instead of the server.
pub fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}
