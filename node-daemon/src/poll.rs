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
//! Sparse traffic ([`Spin`], issue 17): both windows are maxima. A call that comes after
//! more than two waiting windows (400 µs) of quiet is *cold*: the processes its answer
//! depends on have gone idle too. Then the idle window is learnt (one [`Window`], grown and
//! shrunk like Linux KVM's halt polling) from the gaps no window could span, and the cold
//! call's answer is polled for by a window of its own, learnt the same way and at most the
//! idle window's maximum. A control loop calling once per millisecond thus makes the daemon
//! sleep right after each reply (the next call is 1 ms away), still catch a local server's
//! reply (30–90 µs), and not poll for a remote answer (170–300 µs after the call when the
//! other node wakes from idle). Dense traffic (calls less than 400 µs apart: a ping-pong, a
//! busy server) polls the full windows as a fixed poller does: learning them there lost
//! answers now and then (BENCHMARKS.md, "adaptive busy polling"). `--busy-poll-fixed`
//! polls the full windows always.
//!
//! Cost: CPU. A daemon with continuous traffic polls all the time (one core busy); sporadic
//! traffic costs at most one window of polling per message. `--busy-poll 0s` turns it off
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
//! [`Activity::note`] is called on every kernel lock (one clock read, a few atomics, an
//! uncontended lock of the learner); it wakes the task through a [`Notify`] only when the
//! task has gone to sleep.
//!
//! [`Kernel::callers_waiting`]: qnet_core::Kernel::callers_waiting

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
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
    /// The windows as learnt so far, in nanoseconds ([`Spin::current`]): published by
    /// [`Activity::note`], read by the poller.
    waiting_ns: AtomicU64,
    idle_ns: AtomicU64,
    /// What learns them; off (both windows zero) until [`spin`] starts with its windows.
    learner: Mutex<Spin>,
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
            waiting_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            learner: Mutex::new(Spin::new(Windows::new(Duration::ZERO, Duration::ZERO))),
        }
    }

    /// Start learning with `windows` (their maxima; adaptive or fixed).
    fn configure(&self, windows: Windows) {
        let spin = Spin::new(windows);
        self.publish(&spin);
        *self.learner.lock().unwrap_or_else(PoisonError::into_inner) = spin;
    }

    fn publish(&self, spin: &Spin) {
        let (waiting, idle) = spin.current();
        self.waiting_ns.store(waiting, Ordering::Relaxed);
        self.idle_ns.store(idle, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Something happened: (re)open the polling window, and tell the learner how long after
    /// the previous activity (or after the waiting call) it came.
    pub fn note(&self) {
        let now = self.now();
        let last = self.last.swap(now, Ordering::Relaxed);
        // A plain load first: the read-modify-write only when the poller sleeps.
        let slept = self.idle.load(Ordering::Acquire);
        if slept && self.idle.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
        // Another thread noting at the same moment (a multi-threaded runtime) skips its
        // sample rather than wait: one sample more or less does not move the windows.
        if let Ok(mut spin) = self.learner.try_lock() {
            let newest = self.newest_caller.load(Ordering::Relaxed);
            let event = Event {
                now,
                last,
                newest: (newest != NO_CALLER).then_some(newest),
                slept,
            };
            if spin.observe(event) {
                self.publish(&spin);
            }
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

/// How long the poller keeps polling at most, and whether it learns shorter windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// After a call that still waits for its answer was made (the answer is on its way).
    pub waiting: Duration,
    /// After the last kernel call (catches the next request of a ping-pong); at most
    /// `waiting`.
    pub idle: Duration,
    /// Learn each window from what the traffic does ([`Spin`]); `false`: always the full
    /// windows (`--busy-poll-fixed`).
    pub adaptive: bool,
}

impl Windows {
    /// `waiting` and `idle` as configured, adaptive; `idle` is capped at `waiting`.
    pub fn new(waiting: Duration, idle: Duration) -> Self {
        Self {
            waiting,
            idle: idle.min(waiting),
            adaptive: true,
        }
    }

    /// The same windows, learnt (`true`) or fixed.
    pub fn adaptive(self, adaptive: bool) -> Self {
        Self { adaptive, ..self }
    }

    /// Polling is off.
    pub fn is_off(&self) -> bool {
        self.waiting.is_zero()
    }
}

/// Whether to keep polling now: a call made within the waiting window still waits for its
/// answer, or the last kernel call is within the idle window (both as learnt so far).
fn open(activity: &Activity) -> bool {
    let now = activity.now();
    let newest = activity.newest_caller.load(Ordering::Relaxed);
    let last = activity.last.load(Ordering::Relaxed);
    let waiting = activity.waiting_ns.load(Ordering::Relaxed);
    let idle = activity.idle_ns.load(Ordering::Relaxed);
    (newest != NO_CALLER && now.saturating_sub(newest) < waiting) || now.saturating_sub(last) < idle
}

/// Kernel activity as the learner sees it: all times in nanoseconds from the kernel's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// When it happened.
    pub now: u64,
    /// When the activity before it happened.
    pub last: u64,
    /// When the newest call still waiting for its answer after that activity was made
    /// (`None`: no caller waited).
    pub newest: Option<u64>,
    /// The poller was asleep when it came (the daemon was woken from `epoll_wait` for it).
    pub slept: bool,
}

/// The windows the poller uses, by traffic: for dense traffic the configured ones; for
/// sparse traffic (a cold call, see [`COLD_GAP`]) an idle [`Window`] and a cold calls'
/// waiting [`Window`], each learnt from when activity actually comes (see
/// [`Window::observe`]). Pure: time comes in with each [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spin {
    /// For hot calls: always the configured window.
    waiting: Window,
    idle: Window,
    /// The waiting window of cold calls: learnt apart, at most the idle window's maximum.
    waiting_cold: Window,
    /// The call being waited for came after a quiet spell ([`COLD_GAP`]s): its answer is
    /// polled for by `waiting_cold`.
    cold: bool,
    adaptive: bool,
}

/// A call that comes after the daemon was quiet for this many waiting windows is "cold":
/// the processes its answer depends on (the server, the other node's daemon) have gone idle
/// too, and their wake-ups, not the daemon's, make the answer late: 170–300 µs on the
/// client's node of a remote call, 30–90 µs for a local server. Polling the full waiting
/// window for it costs the whole wait in CPU. So cold calls have a window of their own,
/// learnt the same way but at most the idle window's maximum (50 µs): a local server's
/// reply is still caught, a remote answer is not polled for (BENCHMARKS.md, "adaptive busy
/// polling"). A ping-pong's calls come tens of µs apart, a remote one's ≈100 µs (the other
/// side's turn): hot.
pub const COLD_GAP: u64 = 2;

impl Spin {
    /// Both windows start at their maxima (what a fixed poller does), and shrink when the
    /// traffic shows that polling does not catch anything.
    pub fn new(windows: Windows) -> Self {
        Self {
            waiting: Window::new(nanos(windows.waiting)),
            idle: Window::new(nanos(windows.idle)),
            waiting_cold: Window::new(nanos(windows.idle)),
            cold: false,
            adaptive: windows.adaptive,
        }
    }

    /// The current windows (waiting, idle), in nanoseconds: the waiting one is the cold
    /// calls' while the call waited for is cold.
    pub fn current(&self) -> (u64, u64) {
        let waiting = if self.cold {
            self.waiting_cold.current
        } else {
            self.waiting.current
        };
        (waiting, self.idle.current)
    }

    /// Learn from `event`; `true` when a window changed.
    ///
    /// An answer (a call made within the waiting window's maximum still waited at the
    /// previous activity; the sample is the time since that call, as the window runs from
    /// the call) teaches the cold calls' window if the call was cold, nothing otherwise.
    /// Other activity (the sample is the time since the previous activity) says whether
    /// what comes now is cold; a cold gap teaches the idle window, a dense one restores it
    /// to its maximum.
    pub fn observe(&mut self, e: Event) -> bool {
        if !self.adaptive {
            return false;
        }
        let before = self.current();
        match e.newest {
            Some(call) if e.last.saturating_sub(call) < self.waiting.max => {
                // A hot call's answer is polled for the full window: a ping-pong's answers
                // come well within it, and learning it lost them now and then (remote
                // back-to-back p50 1.5x of raw quinn in some runs instead of 0.85x).
                if self.cold {
                    self.waiting_cold
                        .observe(e.now.saturating_sub(call), e.slept);
                }
            }
            _ => {
                let gap = e.now.saturating_sub(e.last);
                self.cold = gap > self.waiting.max.saturating_mul(COLD_GAP);
                if self.cold {
                    // Sparse traffic: a gap no window could span teaches the idle window.
                    self.idle.observe(gap, e.slept);
                } else {
                    // Dense traffic polls the full idle window, as a fixed poller does:
                    // learning it from gaps of 50–400 µs (the server's node of a remote
                    // ping-pong sees the next call ≈100 µs after its reply) lost the short
                    // ones now and then (remote back-to-back p50 1.2–1.7x of raw quinn in
                    // some runs instead of 0.85x).
                    self.idle = Window::new(self.idle.max);
                }
            }
        }
        self.current() != before
    }
}

/// One adaptive polling window, after Linux KVM's halt polling (`halt_poll_ns`): polling
/// that catches the event is kept; an event that came after the window but within its
/// maximum grows the window (polling longer would have caught it: to twice the window, and
/// at least twice that event's delay); events beyond the maximum halve it (polling up to the
/// maximum would not have caught them, so it was CPU for nothing), down to zero, once
/// [`SHRINK_AFTER`] of them came in a row: one window often sees two kinds of gap (a
/// server's reply, tens of µs, and the next call, much later), and halving at every long
/// one would lose the short ones. A call every millisecond thus stops the daemon polling
/// after it within a few calls, and a window grows back within a few events that polling
/// longer would have caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The configured window, nanoseconds.
    pub max: u64,
    /// The window polled now, `0..=max`.
    pub current: u64,
    /// Events beyond the maximum in a row.
    pub misses: u32,
}

/// Events beyond the maximum in a row before a window starts halving.
pub const SHRINK_AFTER: u32 = 3;

/// Where a window grows from when it was zero, nanoseconds (KVM's `halt_poll_ns_grow_start`
/// is 10 µs too); it doubles from there.
pub const GROW_START: u64 = 10_000;

/// What an event that came while the poller slept is credited for the daemon's own
/// wake-up, nanoseconds: the activity is seen only once the woken daemon runs, up to this
/// much after it arrived (30–50 µs on the 2-vCPU VMs of BENCHMARKS.md). Without it a
/// window at zero could never grow back: every event it sleeps through is seen a wake-up
/// late, beyond the short idle window.
pub const WAKE_ALLOWANCE: u64 = 50_000;

impl Window {
    /// A window of `max` nanoseconds, starting full.
    pub fn new(max: u64) -> Self {
        Self {
            max,
            current: max,
            misses: 0,
        }
    }

    /// The event came `after` nanoseconds into the window; `slept`: the poller was asleep
    /// then, so the window had not caught it (and the event arrived up to
    /// [`WAKE_ALLOWANCE`] before `after`).
    pub fn observe(&mut self, after: u64, slept: bool) {
        if !slept && after <= self.current {
            // Caught by polling: keep polling as long.
            self.misses = 0;
        } else if let Some(arrived) =
            Some(after.saturating_sub(if slept { WAKE_ALLOWANCE } else { 0 }))
                .filter(|&a| a <= self.max)
        {
            // Missed (the poller slept through it, or stopped polling just before), but
            // polling up to the maximum would have caught it: poll twice as long, and at
            // least twice as long as this event took (a margin for jitter).
            self.misses = 0;
            self.current = (self.current * 2)
                .max(arrived * 2)
                .max(GROW_START)
                .min(self.max);
        } else {
            self.misses = self.misses.saturating_add(1);
            if self.misses >= SHRINK_AFTER {
                self.current /= 2;
                if self.current < GROW_START {
                    self.current = 0;
                }
            }
        }
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
    activity.configure(windows);
    let run = async {
        loop {
            while open(&activity) {
                // Give the CPU to any other runnable thread first (on a busy host the process
                // we are waiting for may be queued behind us), then poll the sockets.
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            // Register interest before publishing `idle`, so a note() in between is not lost
            // (Notify keeps one permit for a notify_one with no waiter).
            let woken = activity.wake.notified();
            activity.idle.store(true, Ordering::Release);
            if open(&activity) {
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

    const US: u64 = 1_000;

    /// One window's decisions, row by row: (window before, misses in a row before, event
    /// after µs, poller slept, window after, misses after), max 200 µs.
    #[test]
    fn a_window_keeps_grows_and_shrinks_as_the_events_say() {
        let last = SHRINK_AFTER - 1;
        let rows: &[(u64, u32, u64, bool, u64, u32, &str)] = &[
            (200, 0, 150, false, 200, 0, "caught: kept"),
            (40, 0, 40, false, 40, 0, "caught at the edge: kept"),
            (40, 0, 60, false, 120, 0, "just missed: twice the delay"),
            (40, 0, 45, false, 90, 0, "just missed: at least doubled"),
            (
                160,
                0,
                190,
                false,
                200,
                0,
                "growth is capped at the maximum",
            ),
            (
                0,
                0,
                3,
                false,
                10,
                0,
                "grows from zero to at least GROW_START",
            ),
            (
                200,
                0,
                201,
                false,
                200,
                1,
                "one event beyond the maximum: counted",
            ),
            (
                200,
                1,
                150,
                false,
                200,
                0,
                "a caught event clears the count",
            ),
            (100, 1, 150, false, 200, 0, "so does one within the maximum"),
            (
                200,
                last,
                201,
                false,
                100,
                SHRINK_AFTER,
                "the last of a row: halved",
            ),
            (
                100,
                SHRINK_AFTER,
                300,
                false,
                50,
                SHRINK_AFTER + 1,
                "and halved again",
            ),
            (
                12,
                last,
                300,
                false,
                0,
                SHRINK_AFTER,
                "below GROW_START after halving: zero",
            ),
            (0, last, 900, false, 0, SHRINK_AFTER, "zero stays zero"),
            (
                0,
                0,
                80,
                true,
                60,
                0,
                "slept, 80 µs - the wake-up: would have caught",
            ),
            (
                0,
                0,
                20,
                true,
                10,
                0,
                "slept through an event at once: grows",
            ),
            (
                200,
                0,
                240,
                true,
                200,
                0,
                "slept, 190 µs after allowance: within the maximum",
            ),
            (
                200,
                last,
                260,
                true,
                100,
                SHRINK_AFTER,
                "slept, 210 µs after allowance",
            ),
            (
                100,
                0,
                90,
                true,
                200,
                0,
                "slept while it should have polled: grows",
            ),
            (
                50,
                0,
                140,
                true,
                180,
                0,
                "slept: twice the delay less the wake-up",
            ),
        ];
        for &(before, misses, after, slept, want, want_misses, why) in rows {
            let mut w = Window {
                max: 200 * US,
                current: before * US,
                misses,
            };
            w.observe(after * US, slept);
            assert_eq!((w.current, w.misses), (want * US, want_misses), "{why}");
        }
    }

    /// The traffic the daemon sees, as one event per kernel activity: `Gap` µs after the
    /// previous activity, with a call waiting (made at the previous activity) or not.
    #[derive(Clone, Copy)]
    enum Step {
        /// A call is made `.0` µs after the last activity (nobody waited); the poller
        /// slept (`.1`).
        Call(u64, bool),
        /// The call made at the last activity is answered `.0` µs later; the poller slept.
        Answer(u64, bool),
        /// Other activity `.0` µs after the last, nobody waiting before or after it (as the
        /// server's node of a remote call sees the forwarded call and its reply); slept.
        Other(u64, bool),
    }

    /// Run `steps` from a fresh `Spin` (200 / 50 µs windows) and return its windows in µs.
    fn run(steps: &[Step], times: usize) -> (u64, u64) {
        let mut spin = Spin::new(Windows::new(DEFAULT_BUSY_POLL, DEFAULT_BUSY_POLL_IDLE));
        let mut now = 1_000_000 * US;
        let mut waiting_since = None;
        for _ in 0..times {
            for &step in steps {
                let last = now;
                let (gap, slept, newest) = match step {
                    Step::Call(gap, slept) | Step::Other(gap, slept) => (gap, slept, None),
                    Step::Answer(gap, slept) => (gap, slept, waiting_since),
                };
                now += gap * US;
                spin.observe(Event {
                    now,
                    last,
                    newest,
                    slept,
                });
                waiting_since = match step {
                    Step::Call(..) => Some(now),
                    Step::Answer(..) | Step::Other(..) => None,
                };
            }
        }
        let (waiting, idle) = spin.current();
        (waiting / US, idle / US)
    }

    /// What the daemon learns from each kind of traffic (the cases of issue 17).
    #[test]
    fn the_windows_follow_the_traffic() {
        use Step::*;
        let rows: &[(&str, &[Step], (u64, u64))] = &[
            (
                "local control loop, 1 call/ms: each call comes after 960 µs of quiet (cold): \
                 poll up to the cold window (50 µs) for its answer, caught, not after it",
                &[Call(960, true), Answer(40, false)],
                (50, 0),
            ),
            (
                "client's node of a remote call at 1 call/ms: cold, and the answer comes \
                 300 µs after the call, beyond the cold window: poll neither",
                &[Call(700, true), Answer(300, true)],
                (0, 0),
            ),
            (
                "a call every 300 µs (within two waiting windows: dense): poll for the answer \
                 (caught) and the full idle window after it, as a fixed poller",
                &[Call(260, true), Answer(40, false)],
                (200, 50),
            ),
            (
                "back-to-back local ping-pong: answer after 30 µs, next call 20 µs later: \
                 both windows stay open",
                &[Call(20, false), Answer(30, false)],
                (200, 50),
            ),
            (
                "back-to-back remote on the client's node: answer after 120 µs",
                &[Call(20, false), Answer(120, false)],
                (200, 50),
            ),
            (
                "back-to-back remote on the server's node: the next call comes 110 µs after \
                 the reply (the other side's turn), beyond the idle window but dense: full",
                &[Call(110, true), Answer(30, false)],
                (200, 50),
            ),
            (
                "the server's node of a remote ping-pong, when the forwarded call's caller does \
                 not count as waiting: the idle window sees the next call 110 µs after the \
                 reply (beyond it) and the server's reply 35 µs after the call (caught): kept",
                &[Other(110, true), Other(35, false)],
                (200, 50),
            ),
            (
                "the server's node at 1 call/ms: the forwarded call after 900 µs (cold), the \
                 reply 120 µs later (the server wakes from idle), beyond the cold window: \
                 poll neither",
                &[Call(900, true), Answer(120, true)],
                (0, 0),
            ),
        ];
        for &(why, steps, want) in rows {
            assert_eq!(run(steps, 20), want, "{why}");
        }
    }

    /// After a quiet phase has shut both windows, a ping-pong opens them again within a few
    /// round trips, although the poller sleeps through its first events: a simulated
    /// poller sees an event that arrives within the current window at once, otherwise one
    /// wake-up (50 µs) late.
    #[test]
    fn a_ping_pong_after_a_control_loop_opens_the_windows_again() {
        let mut spin = Spin::new(Windows::new(DEFAULT_BUSY_POLL, DEFAULT_BUSY_POLL_IDLE));
        let mut now = 0;
        // An event `arrives` µs after the last; an answer to the call made then, or not.
        // Returns whether the poller slept through it, and the windows after it.
        let mut event = |arrives: u64, answer: bool| {
            let (waiting, idle) = spin.current();
            let window = if answer { waiting } else { idle };
            let slept = window < arrives * US;
            let last = now;
            now += arrives * US + if slept { 50 * US } else { 0 };
            spin.observe(Event {
                now,
                last,
                newest: answer.then_some(last),
                slept,
            });
            (slept, spin.current())
        };
        // A control loop, remote (answers after 300 µs): both windows shut.
        let mut windows = (1, 1);
        for _ in 0..10 {
            event(700, false);
            windows = event(300, true).1;
        }
        assert_eq!(windows, (0, 0), "control loop: both shut");
        // Ping-pong: answers after 60 µs, the next call 20 µs after each answer. Within a
        // few round trips every event is caught while polling, and stays caught.
        let mut round_trips = 0;
        loop {
            round_trips += 1;
            let (call_slept, _) = event(20, false);
            let (answer_slept, now) = event(60, true);
            windows = now;
            if !call_slept && !answer_slept {
                break;
            }
            assert!(round_trips < 4, "still {windows:?} ns");
        }
        for _ in 0..100 {
            assert_eq!((event(20, false).0, event(60, true).0), (false, false));
        }
        let (waiting, idle) = windows;
        assert!(
            waiting >= 120 * US && idle >= 40 * US,
            "{waiting}, {idle} ns"
        );
    }

    /// A cold call (after a quiet spell) is polled for by a window of its own, at most the
    /// idle window's maximum, which its late answers shut; they do not teach the waiting
    /// window: the next hot call is polled for as before.
    #[test]
    fn a_cold_call_has_a_short_window_of_its_own() {
        use Step::*;
        // Hot ping-pong, then one cold call answered after 300 µs, then hot again.
        let mut spin = Spin::new(Windows::new(DEFAULT_BUSY_POLL, DEFAULT_BUSY_POLL_IDLE));
        let mut now = 0;
        let mut step = |s: Step| {
            let last = now;
            let (gap, slept, newest) = match s {
                Call(gap, slept) | Other(gap, slept) => (gap, slept, None),
                Answer(gap, slept) => (gap, slept, Some(last)),
            };
            now += gap * US;
            spin.observe(Event {
                now,
                last,
                newest,
                slept,
            });
            spin.current().0 / US
        };
        assert_eq!(step(Call(20, false)), 200);
        assert_eq!(step(Answer(30, false)), 200);
        assert_eq!(step(Call(2_000, true)), 50, "cold: the cold window");
        assert_eq!(step(Answer(40, false)), 50, "a local reply, caught");
        for _ in 0..SHRINK_AFTER {
            step(Call(2_000, true));
            step(Answer(300, true));
        }
        assert_eq!(step(Call(2_000, true)), 25, "remote answers: shrinking");
        assert_eq!(step(Answer(300, true)), 12);
        assert_eq!(step(Call(20, false)), 200, "hot again: the window it had");
        // The boundary: two waiting windows of quiet.
        assert_eq!(step(Answer(30, false)), 200);
        assert_eq!(step(Call(400, true)), 200, "400 µs: still hot");
        assert_eq!(step(Answer(30, false)), 200);
        assert_eq!(step(Call(401, true)), 12, "401 µs: cold");
    }

    /// A caller parked longer than the waiting window (a client waiting on a resource
    /// manager for an event) does not count as waiting: sparse activity teaches the idle
    /// window (and the calls are cold).
    #[test]
    fn a_parked_caller_teaches_the_idle_window() {
        let mut spin = Spin::new(Windows::new(DEFAULT_BUSY_POLL, DEFAULT_BUSY_POLL_IDLE));
        let parked_at = 0;
        let mut now = 10_000_000 * US;
        for _ in 0..10 {
            let last = now;
            now += 1_000 * US;
            spin.observe(Event {
                now,
                last,
                newest: Some(parked_at),
                slept: true,
            });
        }
        assert_eq!(spin.current(), (nanos(DEFAULT_BUSY_POLL_IDLE), 0));
    }

    /// `--busy-poll-fixed`: the windows never move.
    #[test]
    fn fixed_windows_do_not_learn() {
        let windows = Windows::new(DEFAULT_BUSY_POLL, DEFAULT_BUSY_POLL_IDLE).adaptive(false);
        let mut spin = Spin::new(windows);
        for i in 0..10 {
            let changed = spin.observe(Event {
                now: (i + 1) * 1_000 * US,
                last: i * 1_000 * US,
                newest: None,
                slept: true,
            });
            assert!(!changed);
        }
        assert_eq!(
            spin.current(),
            (nanos(DEFAULT_BUSY_POLL), nanos(DEFAULT_BUSY_POLL_IDLE))
        );
    }

    /// `Activity::note` feeds the learner and publishes its windows to the poller: notes
    /// 30 s after the last activity halve the idle window the poller reads.
    #[tokio::test(flavor = "current_thread")]
    async fn notes_teach_the_poller() {
        let epoch = Instant::now()
            .checked_sub(Duration::from_secs(30))
            .expect("monotonic clock older than 30 s");
        let activity = Arc::new(Activity::new(epoch));
        let windows = Windows::new(Duration::from_micros(200), Duration::from_micros(40));
        activity.configure(windows);
        assert_eq!(activity.idle_ns.load(Ordering::Relaxed), 40 * US);
        // SHRINK_AFTER notes, each 30 s after the (reset) last activity.
        for _ in 0..SHRINK_AFTER {
            activity.last.store(0, Ordering::Relaxed);
            activity.note();
        }
        assert_eq!(activity.idle_ns.load(Ordering::Relaxed), 20 * US);
        assert_eq!(
            activity.waiting_ns.load(Ordering::Relaxed),
            40 * US,
            "a call after 30 s of quiet is cold: the cold window, at most the idle maximum"
        );
        let fixed = windows.adaptive(false);
        activity.configure(fixed);
        activity.last.store(0, Ordering::Relaxed);
        activity.note();
        assert_eq!(activity.idle_ns.load(Ordering::Relaxed), 40 * US, "fixed");
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
