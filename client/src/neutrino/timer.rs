//! `TimerTimeout` (armed per thread for its next blocking call) and `unblock` of another thread.

use std::cell::Cell;
use std::time::Duration;

use qnet_core::{Call, Tid, TimeoutStates};
use qnet_proto::local::Timeout;

use super::channel::done;
use crate::error::Result;
use crate::session::kernel;

thread_local! {
    static ARMED: Cell<Option<Timeout>> = const { Cell::new(None) };
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

/// Cancel the blocking call of thread `tid` of this process (the effect of a signal in QNX):
/// it returns `EINTR`, or, if REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel, the server gets
/// an unblock pulse and the thread stays blocked until the server answers.
pub fn unblock(tid: Tid) -> Result<()> {
    if crate::direct::unblock(tid) {
        return Ok(());
    }
    done("Unblock", kernel("Unblock", Call::Unblock { tid })?)
}
