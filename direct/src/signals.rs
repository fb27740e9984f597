//! Signal handlers that ran in this thread, for QNX's rule that a signal unblocks a blocked
//! call (`EINTR`, or an unblock pulse for a REPLY-blocked send on an `_NTO_CHF_UNBLOCK`
//! channel).
//!
//! A blocking system call fails `EINTR` when a handler runs while the thread sleeps in it,
//! but a handler that runs just *before* the thread sleeps (it was preempted on its way,
//! and the signal arrived meanwhile) would go unseen, and the call would sleep on. So a
//! library that wraps the program's handlers (libqnetc does, in `sigaction` and `signal`)
//! calls [`handled`] first in each. A call takes [`count`] as it starts and looks at it
//! again before each sleep; and [`crate::futex::wait`] publishes the word it is about to
//! sleep on, which [`handled`] changes ("pokes") so that the `FUTEX_WAIT` finds another value
//! and returns at once. Without a wrapper (a Rust program) only the `EINTR` of a sleep is
//! seen.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

thread_local! {
    /// Handlers run in this thread (wrapped ones).
    static COUNT: AtomicU64 = const { AtomicU64::new(0) };
    /// The futex word this thread is about to sleep on (null: none), the value it expects
    /// there, and the value that makes its wait return instead.
    static WORD: AtomicPtr<AtomicU32> = const { AtomicPtr::new(std::ptr::null_mut()) };
    static EXPECTED: AtomicU32 = const { AtomicU32::new(0) };
    static POKED: AtomicU32 = const { AtomicU32::new(0) };
}

/// Some handler of this process is wrapped (see [`set_wrapped`]).
static WRAPPED: AtomicBool = AtomicBool::new(false);

/// A wrapped signal handler is about to run in this thread. Async-signal-safe: atomics in
/// thread-local storage of a library loaded with the program, and at most one
/// compare-and-swap on a mapped word.
#[allow(unsafe_code)]
pub fn handled() {
    COUNT.with(|c| c.fetch_add(1, Ordering::SeqCst));
    let word = WORD.with(|w| w.load(Ordering::SeqCst));
    if !word.is_null() {
        let expected = EXPECTED.with(|e| e.load(Ordering::SeqCst));
        let poked = POKED.with(|p| p.load(Ordering::SeqCst));
        // SAFETY: published by this thread's `futex::wait` for the duration of its wait
        // (which this handler interrupts), so the word is mapped.
        let word = unsafe { &*word };
        let _ = word.compare_exchange(expected, poked, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Handlers run in this thread so far (wrapped ones): a call compares it with the value
/// at its start.
pub fn count() -> u64 {
    COUNT.with(|c| c.load(Ordering::SeqCst))
}

/// The program installed a wrapped handler: waits that cannot be poked (a socket's `poll`)
/// then close the gap before sleeping another way (`ppoll` with the signals blocked until
/// it sleeps).
pub fn set_wrapped() {
    WRAPPED.store(true, Ordering::Release);
}

/// Whether any handler of this process is wrapped.
pub fn wrapped() -> bool {
    WRAPPED.load(Ordering::Acquire)
}

/// This thread will sleep on `word` while it holds `expected`; a handler sets it to
/// `poked` (if it still holds `expected`). Until [`unpublish`].
pub(crate) fn publish(word: &AtomicU32, expected: u32, poked: u32) {
    EXPECTED.with(|e| e.store(expected, Ordering::SeqCst));
    POKED.with(|p| p.store(poked, Ordering::SeqCst));
    WORD.with(|w| w.store(std::ptr::from_ref(word).cast_mut(), Ordering::SeqCst));
}

/// The thread's wait is over.
pub(crate) fn unpublish() {
    WORD.with(|w| w.store(std::ptr::null_mut(), Ordering::SeqCst));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_counts_and_pokes_the_published_word_only_if_it_holds_the_expected_value() {
        let word = AtomicU32::new(5);
        let before = count();
        handled();
        assert_eq!(count(), before + 1);
        assert_eq!(
            word.load(Ordering::SeqCst),
            5,
            "nothing published: untouched"
        );
        publish(&word, 5, 4);
        handled();
        assert_eq!(word.load(Ordering::SeqCst), 4, "poked");
        word.store(9, Ordering::SeqCst);
        handled();
        assert_eq!(
            word.load(Ordering::SeqCst),
            9,
            "changed meanwhile: left alone"
        );
        unpublish();
        word.store(5, Ordering::SeqCst);
        handled();
        assert_eq!(word.load(Ordering::SeqCst), 5, "unpublished: untouched");
        assert_eq!(count(), before + 4);
    }
}
