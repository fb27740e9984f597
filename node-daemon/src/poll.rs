//! Adaptive busy polling: after kernel activity the runtime keeps polling its sockets without
//! sleeping for a short window (`--busy-poll-us`, default [`DEFAULT_BUSY_POLL`]).
//!
//! Why: a local round trip crosses the daemon twice (client → daemon → server → daemon →
//! client), a remote one four times. When the daemon sleeps in `epoll_wait` between the
//! hops, each crossing costs a scheduler wake-up, which on a VM is most of a raw Unix-socket
//! hop. While the daemon is polling, the sender's write only queues the socket as ready and
//! the daemon picks the frame up on its next non-blocking poll: the crossing costs a syscall,
//! not a wake-up. The window restarts at every kernel call, so a ping-pong (the server's
//! reply, the client's next request) is caught while the daemon polls, and an idle daemon
//! goes back to sleeping one window after its last message.
//!
//! Cost: CPU. A daemon with continuous traffic polls all the time (one core busy); sporadic
//! traffic costs at most one window of polling per message. `--busy-poll-us 0` turns it off
//! (then the daemon only ever sleeps in `epoll_wait`). Same idea as Linux's `SO_BUSY_POLL`,
//! done in user space because the hops are Unix sockets.
//!
//! Why 200 µs: measured with `qnet bench --daemon-arg=--busy-poll-us=N` (BENCHMARKS.md), 50 µs
//! already halves a local round trip, but a remote one needs the window to span the other
//! side's turn (a server's wake-up, a QUIC hop: 100–200 µs on the 2-vCPU VM): at 200 µs the
//! remote round trip drops to about the raw quinn floor, at 50 µs it does not move. On that
//! VM the daemon's CPU per round trip barely changes (waking from `epoll_wait` costs about what
//! polling does); the price is up to one window of polling after the last message.
//!
//! Mechanism: [`spin`] runs as one task that `yield_now`s while the window is open. On a
//! `current_thread` runtime a yielded task makes the scheduler poll the I/O driver with a zero
//! timeout before running it again, so the loop is "epoll_wait(0), run what became ready".
//! [`Activity::note`] is called on every kernel lock (one clock read and one atomic store);
//! it wakes the task through a [`Notify`] only when the task has gone to sleep.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Default polling window after the last kernel call.
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);

/// Largest window the configuration accepts: beyond a second "polling" is a busy daemon.
pub const MAX_BUSY_POLL: Duration = Duration::from_secs(1);

/// When the kernel was last used, and a way to wake the poller.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Nanoseconds since `epoch` of the last [`Activity::note`].
    last: AtomicU64,
    /// The poller is sleeping (waiting on `wake`).
    idle: AtomicBool,
    wake: Notify,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            idle: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }
}

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Something happened: (re)open the polling window.
    pub fn note(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
        // A plain load first: the read-modify-write only when the poller sleeps.
        if self.idle.load(Ordering::Acquire) && self.idle.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// Time since the last [`Activity::note`].
    fn quiet_for(&self) -> Duration {
        Duration::from_nanos(self.now().saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// Poll without sleeping while `activity` was noted within `window`; sleep otherwise. Returns
/// at once when `window` is zero, and when `cancel` fires.
pub async fn spin(activity: std::sync::Arc<Activity>, window: Duration, cancel: CancellationToken) {
    if window.is_zero() {
        return;
    }
    let run = async {
        loop {
            while activity.quiet_for() < window {
                // Give the CPU to any other runnable thread first (on a busy host the process
                // we are waiting for may be queued behind us), then poll the sockets.
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            // Register interest before publishing `idle`, so a note() in between is not lost
            // (Notify keeps one permit for a notify_one with no waiter).
            let woken = activity.wake.notified();
            activity.idle.store(true, Ordering::Release);
            if activity.quiet_for() < window {
                // Activity raced the flag: keep polling (the permit, if any, is harmless).
                activity.idle.store(false, Ordering::Release);
                continue;
            }
            woken.await;
        }
    };
    tokio::select! {
        () = run => {}
        () = cancel.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The poller sleeps when there is no activity and polls again after a note: observed by
    /// the `idle` flag, which only the poller sets (no timing is asserted, only states
    /// reached within generous bounds).
    #[tokio::test(flavor = "current_thread")]
    async fn poller_sleeps_when_quiet_and_wakes_on_activity() {
        let activity = Arc::new(Activity::default());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(spin(
            activity.clone(),
            Duration::from_micros(200),
            cancel.clone(),
        ));
        let went_idle = |a: &Activity| a.idle.load(Ordering::Acquire);
        wait_until(|| went_idle(&activity)).await;
        activity.note();
        assert!(
            !went_idle(&activity),
            "note() clears idle and wakes the poller"
        );
        // It polls for the window, then sleeps again.
        wait_until(|| went_idle(&activity)).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("poller ends on cancel")
            .expect("poller task did not panic");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn zero_window_returns_at_once() {
        let activity = Arc::new(Activity::default());
        tokio::time::timeout(
            Duration::from_secs(10),
            spin(activity, Duration::ZERO, CancellationToken::new()),
        )
        .await
        .expect("a zero window does not poll");
    }

    async fn wait_until(mut cond: impl FnMut() -> bool) {
        for _ in 0..10_000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("condition not reached within 10 s");
    }
}
