//! Per-thread state carried with calls: `TimerTimeout`, priority, and `unblock` of another thread.

use std::cell::Cell;
use std::time::Duration;

use qnet_core::Call;
use qnet_core::{Errno, Priority, Tid, TimeoutStates};
use qnet_proto::local::Timeout;

use super::DEFAULT_PRIORITY;
use super::channel::done;
use crate::error::{Error, Result};
use crate::session::kernel;

thread_local! {
    static ARMED: Cell<Option<Timeout>> = const { Cell::new(None) };
    static PRIORITY: Cell<Priority> = const { Cell::new(DEFAULT_PRIORITY) };
}

/// `TimerTimeout(CLOCK_MONOTONIC, states, duration)`: arm a timeout for this thread's NEXT
/// blocking call (`msg_send*` in SEND/REPLY state, `msg_receive*` in RECEIVE state) only;
/// that call disarms it whether or not it blocked. A zero duration makes the call fail at once
/// with `ETIMEDOUT` instead of blocking in those states. Arming again replaces the previous one.
pub fn timer_timeout(states: TimeoutStates, duration: Duration) {
    let t = Timeout {
        send: states.send,
        reply: states.reply,
        receive: states.receive,
        after_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
    };
    ARMED.with(|a| a.set(Some(t)));
}

/// Take the armed timeout (the next blocking call consumes it).
pub(crate) fn take_timeout() -> Option<Timeout> {
    ARMED.with(|a| a.take())
}

/// Set this thread's priority (0..=255, default 10). It is carried with every send and pulse
/// and reported to servers in `_msg_info`/pulses; the library does not change the OS
/// scheduling priority of the thread.
pub fn set_priority(p: Priority) {
    PRIORITY.with(|c| c.set(p));
}

/// This thread's priority as set by [`set_priority`] (default 10).
pub fn priority() -> Priority {
    PRIORITY.with(|c| c.get())
}

/// Resolve QNX's priority argument: -1 is the caller's priority.
pub(crate) fn resolve_priority(p: i32) -> Result<Priority> {
    if p == -1 {
        return Ok(priority());
    }
    Priority::try_from(p).map_err(|_| {
        Error::new(
            Errno::EINVAL,
            format!("priority {p} outside 0..=255 (or -1)"),
        )
    })
}

/// Cancel the blocking call of thread `tid` of this process (the effect of a signal in QNX):
/// it returns `EINTR`, or, if REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel, the server gets
/// an unblock pulse and the thread stays blocked until the server answers.
pub fn unblock(tid: Tid) -> Result<()> {
    done("Unblock", kernel("Unblock", Call::Unblock { tid })?)
}
