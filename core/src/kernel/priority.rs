//! Priority inheritance and server boost: which receiving thread should run at which priority
//! ([`PriorityChange`], drained with [`Kernel::poll_priority`]).
//!
//! QNX (System Architecture, "Priority inheritance and messages" and "Server boost"):
//! - a thread that receives a message or pulse on a channel without
//!   `_NTO_CHF_FIXED_PRIORITY` takes on its priority (not its policy) and keeps it until it
//!   receives again (or sets its own); on a fixed-priority channel its priority is left alone;
//! - a thread is associated with the channel it last received on;
//! - when something is queued on a channel no thread is RECEIVE-blocked on, one thread
//!   associated with the channel is boosted to its priority, if that is higher; the priority it
//!   had before its first boost is recorded;
//! - at the next receive on the channel the kernel re-evaluates: a boosted thread stays boosted
//!   at the highest priority still queued above its recorded one, or drops back to it.
//!
//! Real-time mode (issue 22): on QNX every thread is priority-scheduled, so inheriting
//! priority 40 means preempting everything below 40. On Linux a SCHED_OTHER thread at nice -20
//! is still below every real-time thread, so a change also says whether the sender runs a
//! real-time policy ([`PriorityChange::realtime`]): a receiver of a real-time sender's message
//! runs real-time at its priority while it serves it, and goes back to its own policy when it
//! next takes a message from a SCHED_OTHER sender (the daemon marks a policy it lent with
//! `SCHED_RESET_ON_FORK`, see its `sched.rs`). A pulse, a boost by a pulse and a fixed-priority
//! channel change no policy.
//!
//! The kernel knows a thread's priority only from what it decided here; a thread that changes
//! its own priority between receives is not seen (the library applies the received priority
//! itself too, see the client's `priority.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::flags::ChannelFlags;
use crate::ids::{Chid, Priority, ProcessKey, ThreadKey};

use super::Kernel;
use super::process::Wait;

/// The smallest thread key, to start a range over one channel's threads.
const LOWEST: ThreadKey = ThreadKey {
    nd: 0,
    pid: 0,
    tid: 0,
};

/// Why a thread's priority changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityCause {
    /// It received a message or pulse of this priority (inheritance).
    Received,
    /// Something of this priority waits on a channel it is associated with (server boost).
    Boost,
    /// Its boost ended: back to the priority it had before.
    Restore,
}

/// A local thread must now run at `priority` (the driver changes its OS scheduling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityChange {
    /// The thread (always local: only local threads receive).
    pub thread: ThreadKey,
    /// The QNX priority it runs at from now.
    pub priority: Priority,
    /// Why.
    pub cause: PriorityCause,
    /// The policy that goes with it: `Some(true)`, a real-time policy (the message came from
    /// a real-time sender); `Some(false)`, its own policy (from a SCHED_OTHER sender: a
    /// real-time policy it was lent goes); `None`, the policy it has (pulses).
    pub realtime: Option<bool>,
}

/// What the kernel decided about one receiving thread.
#[derive(Clone, Copy, Debug)]
struct Inherited {
    /// The (non-fixed) channel it last received on.
    chid: Chid,
    /// The priority it runs at, as decided here.
    priority: Priority,
    /// The policy that goes with it ([`PriorityChange::realtime`]).
    realtime: Option<bool>,
    /// Boosted: the priority and policy it had before its first boost.
    boosted_from: Option<(Priority, Option<bool>)>,
}

/// Per-thread inheritance state and the changes not yet drained.
#[derive(Debug, Default)]
pub(super) struct Inheritance {
    threads: BTreeMap<ThreadKey, Inherited>,
    /// (server process, chid, thread): the threads associated with each channel.
    by_channel: BTreeSet<(ProcessKey, Chid, ThreadKey)>,
    changes: std::collections::VecDeque<PriorityChange>,
}

impl Inheritance {
    /// Threads with inheritance state.
    pub(super) fn len(&self) -> usize {
        self.threads.len()
    }

    fn set(
        &mut self,
        thread: ThreadKey,
        priority: Priority,
        realtime: Option<bool>,
        cause: PriorityCause,
    ) {
        self.changes.push_back(PriorityChange {
            thread,
            priority,
            cause,
            realtime,
        });
    }

    fn forget(&mut self, thread: ThreadKey) {
        if let Some(old) = self.threads.remove(&thread) {
            self.by_channel
                .remove(&(thread.process(), old.chid, thread));
        }
    }
}

impl Kernel {
    /// The next priority change to apply, in the order decided.
    pub fn poll_priority(&mut self) -> Option<PriorityChange> {
        self.inheritance.changes.pop_front()
    }

    /// The priority `thread` runs at by inheritance or boost, and whether it is boosted
    /// (`None`: the kernel has not changed it, or it last received on a fixed-priority channel).
    pub fn inherited_priority(&self, thread: ThreadKey) -> Option<(Priority, bool)> {
        self.inheritance
            .threads
            .get(&thread)
            .map(|i| (i.priority, i.boosted_from.is_some()))
    }

    /// `thread` received something of `priority` on `chid` (of its own process), from a
    /// real-time sender or not (`None`: a pulse, no policy said).
    pub(super) fn on_received(
        &mut self,
        thread: ThreadKey,
        chid: Chid,
        priority: Priority,
        realtime: Option<bool>,
    ) {
        let process = thread.process();
        let Some(flags) = self.channel(process, chid).map(|c| c.flags) else {
            return;
        };
        if flags.contains(ChannelFlags::FIXED_PRIORITY) {
            self.inheritance.forget(thread);
            return;
        }
        let previous = self
            .inheritance
            .threads
            .get(&thread)
            .map(|i| (i.priority, i.realtime));
        self.inheritance.forget(thread);
        // A pulse keeps the policy the thread runs with.
        let realtime = realtime.or(previous.and_then(|p| p.1));
        self.inheritance.threads.insert(
            thread,
            Inherited {
                chid,
                priority,
                realtime,
                boosted_from: None,
            },
        );
        self.inheritance.by_channel.insert((process, chid, thread));
        if previous != Some((priority, realtime)) {
            self.inheritance
                .set(thread, priority, realtime, PriorityCause::Received);
        }
        self.reevaluate_boosts(process, chid);
    }

    /// A thread that received on the direct path runs at `priority` inherited from what it
    /// received on `chid` (its library applied it): the kernel records it as if it had
    /// delivered it (for `pidin` and the boost of the thread associated with the channel),
    /// changing nothing itself.
    pub fn handle_direct_inherited(&mut self, thread: ThreadKey, chid: Chid, priority: Priority) {
        let process = thread.process();
        if self
            .channel(process, chid)
            .is_none_or(|c| c.flags.contains(ChannelFlags::FIXED_PRIORITY))
        {
            return;
        }
        self.inheritance.forget(thread);
        self.inheritance.threads.insert(
            thread,
            Inherited {
                chid,
                priority,
                realtime: None,
                boosted_from: None,
            },
        );
        self.inheritance.by_channel.insert((process, chid, thread));
    }

    /// Something of `priority` was queued on `chid` of `server` (no thread was
    /// RECEIVE-blocked on it), from a real-time sender or not (`None`: a pulse): boost one
    /// associated thread, the one running lowest, if it is below `priority` (with the
    /// sender's policy, so that a real-time sender's server is not left below a real-time
    /// hog while it finishes the work before its next receive).
    pub(super) fn on_queued(
        &mut self,
        server: ProcessKey,
        chid: Chid,
        priority: Priority,
        realtime: Option<bool>,
    ) {
        let fixed = self
            .channel(server, chid)
            .is_none_or(|c| c.flags.contains(ChannelFlags::FIXED_PRIORITY));
        if fixed {
            return;
        }
        let first = (server, chid, LOWEST);
        let candidate = self
            .inheritance
            .by_channel
            .range(first..)
            .take_while(|(p, c, _)| *p == server && *c == chid)
            .map(|&(_, _, t)| t)
            .filter(|t| {
                // One waiting in a receive on another channel is not going to serve this one.
                !matches!(
                    self.blocked.get(t).map(|b| &b.wait),
                    Some(Wait::Receive { .. })
                )
            })
            .filter_map(|t| self.inheritance.threads.get(&t).map(|i| (i.priority, t)))
            .min();
        let Some((current, thread)) = candidate else {
            return;
        };
        if current >= priority {
            return;
        }
        let Some(i) = self.inheritance.threads.get_mut(&thread) else {
            return;
        };
        i.boosted_from.get_or_insert((current, i.realtime));
        i.priority = priority;
        // Raised to a real-time sender's priority, it runs real-time; a SCHED_OTHER one's or
        // a pulse's leaves its policy.
        if realtime == Some(true) {
            i.realtime = Some(true);
        }
        let realtime = i.realtime;
        self.inheritance
            .set(thread, priority, realtime, PriorityCause::Boost);
    }

    /// After a receive on `chid`: each other thread boosted for it keeps the highest priority
    /// still queued above the one it had, or goes back to that one.
    fn reevaluate_boosts(&mut self, server: ProcessKey, chid: Chid) {
        let top = self.channel(server, chid).and_then(|c| {
            let (key, item) = c.queue.iter().next()?;
            let realtime = match item {
                super::channel::Queued::Message(rcvid) => {
                    self.messages.get(rcvid).map(|m| m.realtime)
                }
                super::channel::Queued::Pulse(_) => None,
            };
            Some((key.0.0, realtime))
        });
        let first = (server, chid, LOWEST);
        let associated: Vec<ThreadKey> = self
            .inheritance
            .by_channel
            .range(first..)
            .take_while(|(p, c, _)| *p == server && *c == chid)
            .map(|&(_, _, t)| t)
            .collect();
        for thread in associated {
            let Some(i) = self.inheritance.threads.get_mut(&thread) else {
                continue;
            };
            let Some((from, from_realtime)) = i.boosted_from else {
                continue;
            };
            let (priority, realtime, cause) = match top {
                Some((top, top_realtime)) if top > from => (
                    top.min(i.priority),
                    match top_realtime {
                        Some(true) => Some(true),
                        _ => i.realtime,
                    },
                    PriorityCause::Boost,
                ),
                _ => (from, from_realtime, PriorityCause::Restore),
            };
            if cause == PriorityCause::Restore {
                i.boosted_from = None;
            }
            if (priority, realtime) != (i.priority, i.realtime) {
                i.priority = priority;
                i.realtime = realtime;
                self.inheritance.set(thread, priority, realtime, cause);
            }
        }
    }

    /// Channel `chid` of `process` is gone: no thread is associated with it any more.
    pub(super) fn forget_channel_priorities(&mut self, process: ProcessKey, chid: Chid) {
        let associated: Vec<ThreadKey> = self
            .inheritance
            .by_channel
            .range((process, chid, LOWEST)..)
            .take_while(|(p, c, _)| *p == process && *c == chid)
            .map(|&(_, _, t)| t)
            .collect();
        for t in associated {
            self.inheritance.forget(t);
        }
    }

    /// `thread` is gone: nothing more to decide for it.
    pub(super) fn forget_priority(&mut self, thread: ThreadKey) {
        self.inheritance.forget(thread);
    }

    /// `process` is gone: forget its threads.
    pub(super) fn forget_process_priorities(&mut self, process: ProcessKey) {
        let threads: Vec<ThreadKey> = self
            .inheritance
            .threads
            .range(process.threads())
            .map(|(t, _)| *t)
            .collect();
        for t in threads {
            self.inheritance.forget(t);
        }
    }
}
