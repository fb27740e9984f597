//! A thread's priority: its own ([`set_priority`], [`set_scheduler`]), the one it inherits when
//! it receives ([`on_receive`]), and what the OS scheduler is told (through [`crate::sched`]).
//!
//! QNX rules kept here:
//! - a thread receiving a message or pulse on a channel without `_NTO_CHF_FIXED_PRIORITY`
//!   runs at its priority from then on: through the work for that client, its reply, and
//!   whatever it sends meanwhile (sends carry the inherited priority). QNX keeps the
//!   thread's policy, every QNX thread being priority-scheduled; on Linux a SCHED_OTHER
//!   thread would stay below every real-time one, so in real-time mode a message from a
//!   real-time sender lends the receiver SCHED_RR until its next message from a SCHED_OTHER
//!   sender (`_msg_info`'s qnet field `realtime`, see `crate::sched::inherit`);
//! - it does not go back by itself: QNX's Getting Started says the server reverts with
//!   `pthread_setschedparam()` if it does work of its own after replying, and otherwise the
//!   next receive sets the next client's priority ("who cares" what priority a
//!   RECEIVE-blocked thread has). A receive on a fixed-priority channel leaves the priority
//!   as it is; [`set_priority`] sets the thread's own priority again;
//! - the daemon applies the same change to the thread before its receive returns, when it
//!   may (so a starved thread is raised before it has to run); the library applies it again
//!   after the receive, which is what makes it work when the daemon may not.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use qnet_core::{ChannelFlags, Chid, Errno, Priority, Received};

use super::DEFAULT_PRIORITY;
use crate::error::{Error, Result};
use crate::sched::{self, Mode, Policy};

thread_local! {
    /// The priority carried with this thread's sends and pulses (own or inherited).
    static CURRENT: Cell<Priority> = const { Cell::new(DEFAULT_PRIORITY) };
    /// Whether `CURRENT` was inherited from something received.
    static INHERITED: Cell<bool> = const { Cell::new(false) };
    /// What this thread last told the OS: priority and the sender's policy it inherited
    /// (skip a system call when nothing changes).
    static APPLIED: Cell<Option<(Priority, Option<bool>)>> = const { Cell::new(None) };
}

/// Channels of this process created with `_NTO_CHF_FIXED_PRIORITY`.
static FIXED: Mutex<BTreeSet<Chid>> = Mutex::new(BTreeSet::new());
/// Whether `FIXED` was ever non-empty (the receive path skips the lock otherwise).
static ANY_FIXED: AtomicBool = AtomicBool::new(false);

/// Set this thread's priority (QNX 0..=255, default 10; `setprio`, `pthread_setschedprio`).
///
/// It is carried with every send and pulse and reported to servers in `_msg_info`/pulses, and
/// the thread's OS scheduling follows it as [`crate::sched`] says: SCHED_RR (or the
/// SCHED_FIFO it already has) at the table's priority where the process may use real-time
/// scheduling, nothing in report-only mode. An OS refusal is printed on stderr once; the
/// number is carried anyway (use [`set_scheduler`] to see the error).
pub fn set_priority(p: Priority) {
    if let Err(e) = set_scheduler(None, p) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| eprintln!("qnet: set_priority({p}): {e}"));
    }
}

/// The program set this thread's OS priority itself (`pthread_setschedparam`, through
/// libqnetc): carry `p` with its sends and pulses from now on, as QNX does, and leave the OS
/// as the program set it.
pub fn carry_priority(p: Priority) {
    CURRENT.with(|c| c.set(p));
    INHERITED.with(|c| c.set(false));
    APPLIED.with(|a| a.set(None));
}

/// Set this thread's policy (`None`: keep a real-time one, else SCHED_RR) and priority
/// (`pthread_setschedparam`). The number is carried even if the OS refuses (`EPERM`).
pub fn set_scheduler(policy: Option<Policy>, p: Priority) -> Result<()> {
    CURRENT.with(|c| c.set(p));
    INHERITED.with(|c| c.set(false));
    let Mode::Realtime { max_rt, .. } = sched::announce() else {
        return Ok(());
    };
    let policy = match policy {
        Some(policy) => policy,
        None => match sched::thread_sched(0) {
            Ok(s) if s.policy.is_realtime() => s.policy,
            _ => Policy::RoundRobin,
        },
    };
    APPLIED.with(|a| a.set(None));
    sched::set_thread_sched(0, policy, p, max_rt).map_err(|e| {
        Error::new(
            Errno(e.raw_os_error().unwrap_or(libc::EPERM)),
            format!("cannot schedule this thread at priority {p} ({policy:?}): {e}"),
        )
    })?;
    APPLIED.with(|a| a.set(Some((p, None))));
    Ok(())
}

/// This thread's priority: its own, or the one inherited from what it last received.
pub fn priority() -> Priority {
    CURRENT.with(|c| c.get())
}

/// Whether [`priority`] was inherited from a received message or pulse.
pub fn priority_inherited() -> bool {
    INHERITED.with(|c| c.get())
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

/// Remember whether channel `chid` (just created) has `_NTO_CHF_FIXED_PRIORITY`.
pub(crate) fn channel_created(chid: Chid, flags: ChannelFlags) {
    let fixed = flags.contains(ChannelFlags::FIXED_PRIORITY);
    if !fixed && !ANY_FIXED.load(Ordering::Relaxed) {
        return;
    }
    let mut set = FIXED.lock().unwrap_or_else(|e| e.into_inner());
    if fixed {
        set.insert(chid);
        ANY_FIXED.store(true, Ordering::Relaxed);
    } else {
        set.remove(&chid);
    }
}

fn is_fixed(chid: Chid) -> bool {
    ANY_FIXED.load(Ordering::Relaxed)
        && FIXED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&chid)
}

/// This thread received `got` on `chid`: inherit its priority unless the channel is fixed.
pub(crate) fn on_receive(chid: Chid, got: &Received) {
    if is_fixed(chid) {
        return;
    }
    let (p, realtime) = match got {
        Received::Message { info, .. } => (info.priority, Some(info.realtime)),
        Received::Pulse(pulse) => (pulse.priority, None),
    };
    CURRENT.with(|c| c.set(p));
    INHERITED.with(|c| c.set(true));
    if APPLIED.with(|a| a.get()) == Some((p, realtime)) {
        return;
    }
    let mode = sched::mode();
    if mode == Mode::ReportOnly {
        return;
    }
    // A refusal leaves the OS scheduling as it was; the number is carried regardless.
    if sched::inherit(mode, p, realtime).is_ok() {
        APPLIED.with(|a| a.set(Some((p, realtime))));
    }
}
