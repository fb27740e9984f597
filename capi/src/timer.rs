//! Time: `TimerTimeout` (kernel timeouts for the next blocking call), and POSIX timers that
//! deliver pulses: `timer_create` with a `SIGEV_PULSE` event, `timer_settime`,
//! `timer_gettime`, `timer_delete`.
//!
//! `SIGEV_PULSE` is 4, Linux's `SIGEV_THREAD_ID`: such an event never reaches glibc. Every
//! other event, and every timer glibc made, passes through to glibc's functions (found with
//! `dlsym(RTLD_NEXT, …)`). A pulse timer is a thread of this library that sends the event's
//! pulse on its connection at each expiry.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use libc::{c_int, c_void, clockid_t, itimerspec, timespec};
use qnet::neutrino as n;
use qnet::{Errno, TimeoutStates};

use crate::ids::plain;
use crate::layout::{CSigevent, SIGEV_PULSE, SIGEV_UNBLOCK};
use crate::{CResult, errno_ret, kcall, next_fn, set_errno};

thread_local! {
    /// The timeout this thread armed with `TimerTimeout` for its next blocking call, for the
    /// calls that wait more than once (`MsgReceivePulse` passing over messages).
    static ARMED: std::cell::Cell<Option<(TimeoutStates, Instant)>> =
        const { std::cell::Cell::new(None) };
}

/// Take the timeout this thread armed (the next blocking call consumes it).
pub(crate) fn take_armed() -> Option<(TimeoutStates, Instant)> {
    ARMED.with(|a| a.take())
}

/// Arm the rest of a taken timeout again (for another wait of the same call).
pub(crate) fn rearm(armed: Option<(TimeoutStates, Instant)>) {
    if let Some((states, deadline)) = armed {
        n::timer_timeout(states, deadline.saturating_duration_since(Instant::now()));
    }
}

/// `_NTO_TIMEOUT_SEND`.
const TIMEOUT_SEND: c_int = 1 << 4;
/// `_NTO_TIMEOUT_RECEIVE`.
const TIMEOUT_RECEIVE: c_int = 1 << 5;
/// `_NTO_TIMEOUT_REPLY`.
const TIMEOUT_REPLY: c_int = 1 << 6;
/// Absolute time: glibc's `TIMER_ABSTIME` (1) or QNX's (0x80000000).
const ABSTIME: c_int = 1 | i32::MIN;

fn now(clock: clockid_t) -> Duration {
    let mut ts = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain syscall wrapper with a valid out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    to_duration(&ts)
}

fn to_duration(ts: &timespec) -> Duration {
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

fn to_timespec(d: Duration) -> timespec {
    timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    }
}

unsafe fn timer_timeout(
    clock: clockid_t,
    flags: c_int,
    notify: *const CSigevent,
    ntime: *const u64,
    otime: *mut u64,
) -> CResult {
    // SAFETY: the caller's event, if any.
    if let Some(ev) = unsafe { notify.as_ref() } {
        if ev.kind() != SIGEV_UNBLOCK {
            return Err(Errno::ENOTSUP);
        }
    }
    // SAFETY: the caller's time, if any; none means "don't block at all".
    let mut ns = unsafe { ntime.as_ref() }.copied().unwrap_or(0);
    if flags & ABSTIME != 0 {
        ns = ns.saturating_sub(u64::try_from(now(clock).as_nanos()).unwrap_or(u64::MAX));
    }
    let states = TimeoutStates {
        send: flags & TIMEOUT_SEND != 0,
        reply: flags & TIMEOUT_REPLY != 0,
        receive: flags & TIMEOUT_RECEIVE != 0,
    };
    n::timer_timeout(states, Duration::from_nanos(ns));
    ARMED.with(|a| a.set(Some((states, Instant::now() + Duration::from_nanos(ns)))));
    if !otime.is_null() {
        // SAFETY: the caller's out pointer.
        unsafe { *otime = 0 };
    }
    Ok(0)
}

kcall!(
    /// `int TimerTimeout(clockid_t id, int flags, const struct sigevent *notify,
    /// const uint64_t *ntime, uint64_t *otime)`: a timeout (`SIGEV_UNBLOCK` or NULL) for the
    /// calling thread's next blocking call in the `_NTO_TIMEOUT_*` states of `flags`.
    TimerTimeout, TimerTimeout_r,
    (clock: clockid_t, flags: c_int, notify: *const CSigevent, ntime: *const u64, otime: *mut u64) -> c_int,
    timer_timeout(clock, flags, notify, ntime, otime)
);

/// Tag of this library's timer ids (never a glibc timer: not a canonical address, not a
/// kernel timer id).
const TAG: usize = 0x7154_0000_0000_0000;

#[derive(Default)]
struct Schedule {
    /// Next expiry and reload interval; `None` when disarmed.
    next: Option<(Instant, Option<Duration>)>,
    deleted: bool,
    /// The pulse value when it stands for a wider one ([`crate::ptrs`]).
    value: Option<i32>,
}

struct PulseTimer {
    schedule: Mutex<Schedule>,
    wake: Condvar,
}

fn timers() -> std::sync::MutexGuard<'static, HashMap<usize, Arc<PulseTimer>>> {
    static T: OnceLock<Mutex<HashMap<usize, Arc<PulseTimer>>>> = OnceLock::new();
    T.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn ours(id: *mut c_void) -> Option<Arc<PulseTimer>> {
    let k = id as usize;
    if k & TAG == TAG {
        timers().get(&k).cloned()
    } else {
        None
    }
}

/// The timer thread: sleep to the next expiry, send the pulse, reload or disarm.
fn run(t: Arc<PulseTimer>, coid: i32, priority: i32, code: i32, value: i32) {
    let mut s = t.schedule.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if s.deleted {
            return;
        }
        match s.next {
            None => s = t.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
            Some((at, interval)) => {
                let now = Instant::now();
                if now < at {
                    s = t
                        .wake
                        .wait_timeout(s, at - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                    continue;
                }
                s.next = interval.map(|i| (at + i, Some(i)));
                drop(s);
                // A failed pulse (the channel is gone) is what QNX would silently drop too.
                let _ = n::msg_send_pulse(coid, priority, code, value);
                s = t.schedule.lock().unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

type CreateFn = unsafe extern "C" fn(clockid_t, *mut libc::sigevent, *mut *mut c_void) -> c_int;
type SetFn = unsafe extern "C" fn(*mut c_void, c_int, *const itimerspec, *mut itimerspec) -> c_int;
type GetFn = unsafe extern "C" fn(*mut c_void, *mut itimerspec) -> c_int;
type DeleteFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// `timer_create`: a `SIGEV_PULSE` event makes a pulse timer of this library; any other
/// event goes to glibc.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_create(
    clock: clockid_t,
    sevp: *mut libc::sigevent,
    timerid: *mut *mut c_void,
) -> c_int {
    // SAFETY: the caller's event, seen through the QNX overlay.
    let ev = unsafe { sevp.cast::<CSigevent>().as_ref() };
    let Some(ev) = ev.filter(|e| e.kind() == SIGEV_PULSE) else {
        return match next_fn!("timer_create", CreateFn) {
            // SAFETY: glibc's own function with the caller's arguments.
            Some(f) => unsafe { f(clock, sevp, timerid) },
            None => errno_ret(Err(Errno::ENOSYS)) as c_int,
        };
    };
    if timerid.is_null() {
        set_errno(Errno::EFAULT.0);
        return -1;
    }
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let id = TAG | NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (coid, prio, code) = (plain(ev.signo_coid), ev.priority, ev.code);
    // A pointer in sigev_value survives to this process's receivers (timers notify their own
    // process), as on QNX.
    let value = crate::ptrs::encode(ev.value, true);
    let t = Arc::new(PulseTimer {
        schedule: Mutex::new(Schedule {
            value: (value as u32 & 0x8000_0000 != 0 && crate::ptrs::resolve(value).is_some())
                .then_some(value),
            ..Schedule::default()
        }),
        wake: Condvar::new(),
    });
    let t2 = t.clone();
    let spawned = std::thread::Builder::new()
        .name("qnet-timer".into())
        .spawn(move || run(t2, coid, prio, code, value));
    if spawned.is_err() {
        set_errno(Errno::EAGAIN.0);
        return -1;
    }
    timers().insert(id, t);
    // SAFETY: the caller's out pointer.
    unsafe { *timerid = id as *mut c_void };
    0
}

/// `timer_settime` for pulse timers (others go to glibc). A zero `it_value` disarms.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_settime(
    id: *mut c_void,
    flags: c_int,
    new: *const itimerspec,
    old: *mut itimerspec,
) -> c_int {
    let Some(t) = ours(id) else {
        return match next_fn!("timer_settime", SetFn) {
            // SAFETY: glibc's own function with the caller's arguments.
            Some(f) => unsafe { f(id, flags, new, old) },
            None => errno_ret(Err(Errno::ENOSYS)) as c_int,
        };
    };
    // SAFETY: the caller's new setting.
    let Some(new) = (unsafe { new.as_ref() }) else {
        set_errno(Errno::EFAULT.0);
        return -1;
    };
    let mut s = t.schedule.lock().unwrap_or_else(|p| p.into_inner());
    if !old.is_null() {
        // SAFETY: the caller's out pointer.
        unsafe { *old = setting(&s) };
    }
    let value = to_duration(&new.it_value);
    let interval = to_duration(&new.it_interval);
    s.next = if value.is_zero() {
        None
    } else {
        let wait = if flags & ABSTIME != 0 {
            value.saturating_sub(now(libc::CLOCK_REALTIME))
        } else {
            value
        };
        Some((
            Instant::now() + wait,
            (!interval.is_zero()).then_some(interval),
        ))
    };
    t.wake.notify_all();
    0
}

fn setting(s: &Schedule) -> itimerspec {
    let zero = to_timespec(Duration::ZERO);
    match s.next {
        None => itimerspec {
            it_value: zero,
            it_interval: zero,
        },
        Some((at, interval)) => itimerspec {
            it_value: to_timespec(
                at.saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1)),
            ),
            it_interval: interval.map_or(zero, to_timespec),
        },
    }
}

/// `timer_gettime` for pulse timers (others go to glibc).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_gettime(id: *mut c_void, cur: *mut itimerspec) -> c_int {
    let Some(t) = ours(id) else {
        return match next_fn!("timer_gettime", GetFn) {
            // SAFETY: glibc's own function with the caller's arguments.
            Some(f) => unsafe { f(id, cur) },
            None => errno_ret(Err(Errno::ENOSYS)) as c_int,
        };
    };
    if cur.is_null() {
        set_errno(Errno::EFAULT.0);
        return -1;
    }
    let s = t.schedule.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: the caller's out pointer.
    unsafe { *cur = setting(&s) };
    0
}

/// `timer_delete` for pulse timers (others go to glibc).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timer_delete(id: *mut c_void) -> c_int {
    let Some(t) = ours(id) else {
        return match next_fn!("timer_delete", DeleteFn) {
            // SAFETY: glibc's own function with the caller's argument.
            Some(f) => unsafe { f(id) },
            None => errno_ret(Err(Errno::ENOSYS)) as c_int,
        };
    };
    timers().remove(&(id as usize));
    let mut s = t.schedule.lock().unwrap_or_else(|p| p.into_inner());
    s.deleted = true;
    if let Some(v) = s.value {
        crate::ptrs::forget(v);
    }
    drop(s);
    t.wake.notify_all();
    0
}
