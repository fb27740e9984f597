//! Adaptive busy polling: after kernel activity the runtime keeps polling its sockets without
//! sleeping: for up to `--busy-poll-us` (default [`DEFAULT_BUSY_POLL`]) after a call that still
//! waits for its answer was made, and for `--busy-poll-idle-us` (default
//! [`DEFAULT_BUSY_POLL_IDLE`]) after the last kernel call otherwise.
//!
//! Why: a local round trip crosses the daemon twice (client → daemon → server → daemon →
//! client), a remote one four times. When the daemon sleeps in `epoll_wait` between the
//! hops, each crossing costs a scheduler wake-up, which on a VM is most of a raw Unix-socket
//! hop. While the daemon is polling, the sender's write only queues the socket as ready and
//! the daemon picks the frame up on its next non-blocking poll: the crossing costs a syscall,
//! not a wake-up.
//!
//! Which window ("poll by need"): while a call made less than `--busy-poll-us` ago is SEND-,
//! REPLY- or NET-blocked ([`Kernel::newest_caller_since`], published by the driver after
//! every kernel call through [`Activity::set_newest_caller`]) an answer is probably on its
//! way, so the daemon keeps polling: the server's reply, or a remote node's, is caught
//! without a wake-up. The window runs from the call, not from the last activity, so a
//! client parked on a server for seconds (waiting for an event, as QNX clients of resource
//! managers do) does not keep the daemon spinning. Otherwise the short idle window only has
//! to catch the next request of a client that sends again at once (a ping-pong: the
//! client's wake-up and its next write, tens of µs); a control loop that calls every
//! millisecond does not come back within it, and polling longer would only burn CPU.
//! Measured (BENCHMARKS.md, "poll by need"): at one call per ms the daemon's CPU went from
//! 20 % to 6 % of a core locally (47 % to 30 % for both daemons remotely) with the same
//! back-to-back latency; below 50 µs of idle window back-to-back round trips slow down (the
//! next request arrives after the daemon went to sleep).
//!
//! Cost: CPU. A daemon with continuous traffic polls all the time (one core busy); sporadic
//! traffic costs at most one window of polling per message. `--busy-poll-us 0` turns it off
//! (then the daemon only ever sleeps in `epoll_wait`). Same idea as Linux's `SO_BUSY_POLL`,
//! done in user space because the hops are Unix sockets.
//!
//! Why 200 µs for a waiting call: measured with `qnet bench --daemon-arg=--busy-poll-us=N`
//! (BENCHMARKS.md), 50 µs already halves a local round trip, but a remote one needs the window
//! to span the other side's turn (a server's wake-up, a QUIC hop: 100–200 µs on the 2-vCPU VM
//! of session 2). A server that takes longer than the window to answer costs one window of
//! polling per call, then a wake-up.
//!
//! Mechanism: [`spin`] runs as one task that `yield_now`s while the window is open. On a
//! `current_thread` runtime a yielded task makes the scheduler poll the I/O driver with a zero
//! timeout before running it again, so the loop is "epoll_wait(0), run what became ready".
//! [`Activity::note`] is called on every kernel lock (one clock read and one atomic store);
//! it wakes the task through a [`Notify`] only when the task has gone to sleep.
//!
//! [`Kernel::callers_waiting`]: qnet_core::Kernel::callers_waiting

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Default polling window after the last kernel call.
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);

/// Default polling window after the last kernel call when no caller waits for an answer.
pub const DEFAULT_BUSY_POLL_IDLE: Duration = Duration::from_micros(50);

/// Largest window the configuration accepts: beyond a second "polling" is a busy daemon.
pub const MAX_BUSY_POLL: Duration = Duration::from_secs(1);

/// When the kernel was last used, and a way to wake the poller.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Nanoseconds since `epoch` of the last [`Activity::note`].
    last: AtomicU64,
    /// Nanoseconds since `epoch` at which the most recent call still waiting for an answer
    /// was made ([`NO_CALLER`]: none waits), as the kernel said after its last call.
    newest_caller: AtomicU64,
    /// The poller is sleeping (waiting on `wake`).
    idle: AtomicBool,
    wake: Notify,
}

/// [`Activity::newest_caller`] when no caller waits.
const NO_CALLER: u64 = u64::MAX;

impl Default for Activity {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl Activity {
    /// Activity measured from `epoch`, the instant the kernel's `Time` counts from.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            last: AtomicU64::new(0),
            newest_caller: AtomicU64::new(NO_CALLER),
            idle: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

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

    /// When the most recent call still waiting for an answer was made (kernel time, from
    /// the same epoch), as the kernel said after its last call; `None`: no caller waits.
    pub fn set_newest_caller(&self, since: Option<Duration>) {
        let ns = since.map_or(NO_CALLER, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(NO_CALLER - 1)
        });
        if self.newest_caller.load(Ordering::Relaxed) != ns {
            self.newest_caller.store(ns, Ordering::Relaxed);
        }
    }
}

/// How long the poller keeps polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// After a call that still waits for its answer was made (the answer is on its way).
    pub waiting: Duration,
    /// After the last kernel call (catches the next request of a ping-pong); at most
    /// `waiting`.
    pub idle: Duration,
}

impl Windows {
    /// `waiting` and `idle` as configured; `idle` is capped at `waiting`.
    pub fn new(waiting: Duration, idle: Duration) -> Self {
        Self {
            waiting,
            idle: idle.min(waiting),
        }
    }

    /// Polling is off.
    pub fn is_off(&self) -> bool {
        self.waiting.is_zero()
    }

    /// Whether to keep polling now: a call made within the waiting window still waits for
    /// its answer, or the last kernel call is within the idle window.
    fn open(&self, activity: &Activity) -> bool {
        let now = activity.now();
        let newest = activity.newest_caller.load(Ordering::Relaxed);
        let last = activity.last.load(Ordering::Relaxed);
        (newest != NO_CALLER && now.saturating_sub(newest) < nanos(self.waiting))
            || now.saturating_sub(last) < nanos(self.idle)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Poll without sleeping while `windows` is open for `activity` ([`Windows`]); sleep
/// otherwise. Returns at once when polling is off, and when `cancel` fires.
pub async fn spin(activity: std::sync::Arc<Activity>, windows: Windows, cancel: CancellationToken) {
    if windows.is_off() {
        return;
    }
    let run = async {
        loop {
            while windows.open(&activity) {
                // Give the CPU to any other runnable thread first (on a busy host the process
                // we are waiting for may be queued behind us), then poll the sockets.
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            // Register interest before publishing `idle`, so a note() in between is not lost
            // (Notify keeps one permit for a notify_one with no waiter).
            let woken = activity.wake.notified();
            activity.idle.store(true, Ordering::Release);
            if windows.open(&activity) {
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
            Windows::new(Duration::from_micros(200), Duration::from_micros(50)),
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
        stop(cancel, task).await;
    }

    /// While a recent call waits for its answer the long window applies, otherwise the short
    /// one: with an hour for waiting and nothing for idle, the poller never sleeps while a
    /// call made just now waits, and sleeps at once when none does.
    #[tokio::test(flavor = "current_thread")]
    async fn polls_longer_while_a_recent_call_waits() {
        let activity = Arc::new(Activity::default());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(spin(
            activity.clone(),
            Windows::new(Duration::from_secs(3600), Duration::ZERO),
            cancel.clone(),
        ));
        let went_idle = |a: &Activity| a.idle.load(Ordering::Acquire);
        wait_until(|| went_idle(&activity)).await;
        activity.set_newest_caller(Some(activity.epoch.elapsed()));
        activity.note();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(!went_idle(&activity), "slept while a recent call waits");
        }
        activity.set_newest_caller(None);
        activity.note();
        wait_until(|| went_idle(&activity)).await;
        stop(cancel, task).await;
    }

    /// A call that has waited longer than the waiting window (a client parked on a server
    /// that answers on an event) does not keep the daemon polling: the window runs from the
    /// call, not from the last activity.
    #[tokio::test(flavor = "current_thread")]
    async fn an_old_waiting_call_does_not_keep_the_poller_polling() {
        let epoch = Instant::now()
            .checked_sub(Duration::from_secs(30))
            .expect("monotonic clock older than 30 s");
        let activity = Arc::new(Activity::new(epoch));
        // Made at the epoch: 30 s ago, older than the 20 s window.
        activity.set_newest_caller(Some(Duration::ZERO));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(spin(
            activity.clone(),
            Windows::new(Duration::from_secs(20), Duration::ZERO),
            cancel.clone(),
        ));
        activity.note();
        // Asleep within 10 s of wall time, well before the 20 s window would end if it ran
        // from the note (generous: it sleeps at once).
        let noted = Instant::now();
        while !activity.idle.load(Ordering::Acquire) {
            assert!(
                noted.elapsed() < Duration::from_secs(10),
                "still polling 10 s after the note: the window ran from the note"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        stop(cancel, task).await;
    }

    #[test]
    fn idle_window_is_capped_at_the_waiting_window() {
        let w = Windows::new(Duration::from_micros(30), Duration::from_micros(50));
        assert_eq!(w.idle, Duration::from_micros(30));
        assert!(Windows::new(Duration::ZERO, Duration::from_micros(50)).is_off());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn zero_window_returns_at_once() {
        let activity = Arc::new(Activity::default());
        tokio::time::timeout(
            Duration::from_secs(10),
            spin(
                activity,
                Windows::new(Duration::ZERO, Duration::from_micros(50)),
                CancellationToken::new(),
            ),
        )
        .await
        .expect("a zero window does not poll");
    }

    /// Cancel the poller and wait (boundedly) for its task to end cleanly.
    async fn stop(cancel: CancellationToken, task: tokio::task::JoinHandle<()>) {
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("poller ends on cancel")
            .expect("poller task did not panic");
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
