//! Deadlines of blocked threads: arming them when a call blocks, and firing them in
//! `handle_timeout`. A deadline applies only in the states its `TimeoutStates` name; one
//! that comes due in another state (say, a SEND-only timeout once the message is received)
//! does nothing.

use crate::errno::Errno;
use crate::ids::ThreadKey;

use super::process::{Blocked, Wait};
use super::{Kernel, Time};

impl Kernel {
    /// Time advanced to `now`: expire due timeouts.
    pub fn handle_timeout(&mut self, now: Time) {
        self.clock = self.clock.max(now);
        // Every input ends here: exits remembered long enough are forgotten (`served.rs`).
        self.exited.expire(now);
        while let Some(&(deadline, thread)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.remove(&(deadline, thread));
            self.fire_timeout(thread);
        }
    }

    /// When [`Kernel::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Record that `thread` is blocked, arming its deadline if it has one.
    pub(super) fn block(&mut self, thread: ThreadKey, blocked: Blocked) {
        // A thread blocks in one call at a time; never leave a stale deadline or count.
        self.forget_blocked(thread);
        if let Some((deadline, _)) = blocked.timeout {
            self.deadlines.insert((deadline, thread));
        }
        if blocked.wait.is_caller() {
            self.callers.insert((blocked.since, thread));
        }
        self.blocked.insert(thread, blocked);
    }

    fn fire_timeout(&mut self, thread: ThreadKey) {
        let Some(blocked) = self.blocked.get(&thread) else {
            return;
        };
        let Some((_, states)) = blocked.timeout else {
            return;
        };
        let applies = match blocked.wait {
            Wait::Receive { .. } => states.receive,
            // Forwarded calls carry their timeout to the server node.
            Wait::Forward { .. } => false,
            Wait::Send { rcvid } => match self.messages.get(&rcvid) {
                Some(m) if m.is_received() => states.reply,
                Some(_) => states.send,
                None => true,
            },
        };
        if applies {
            self.unblock(thread, Errno::ETIMEDOUT);
        }
    }
}
