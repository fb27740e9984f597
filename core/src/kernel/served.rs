//! Calls across nodes, server side: the forwarded-call protocol's decisions about remote
//! threads whose calls run here, and the notices peers send.
//!
//! A peer forwards each call of one of its threads with a seq that only grows, on its own
//! stream, and a cancel of it apart (on the control stream), so they may arrive in any order.
//! Per remote thread the kernel keeps the seq of its latest call and at most one early
//! unblock:
//! - **early unblock**: a cancel naming a seq beyond the latest call's is kept, and applied
//!   when that call arrives (a cancel for an earlier seq is stale and dropped); a cancel of
//!   the call in progress unblocks it; one of an answered call changes nothing;
//! - **superseded call**: a new call from a thread still blocked here in an older one means
//!   its node gave up on the old one (its stream died before the answer): the old call goes
//!   as the thread's exit would take it, then the new one runs;
//! - **abandoned call**: the stream of the thread's current call ended before its answer:
//!   the thread is gone ([`Kernel::handle_thread_exit`]);
//! - **one-way pulses** ([`Kernel::handle_remote_pulse`]) run as the sending thread's
//!   `MsgSendPulse` without a completion and without touching its call state;
//! - **notices** ([`Notice`]) become the matching input, as the sending node's thread or
//!   process; a thread or process exit forgets what is kept for its threads. The calling
//!   node tells of every thread that ever forwarded a call here and of every process that did
//!   (`remote.rs`), so nothing kept for them outlives them;
//! - **a call overtaken by its thread's or process's exit**: calls and notices travel on
//!   different streams, so a call a thread was blocked in when it exited may arrive after the
//!   exit's notice. A thread's notice names that call's seq, a process's the sending node's
//!   next seq (when one of its calls was in flight); a call they cover that has not arrived
//!   is refused (`ESRCH`) when it does, instead of bringing the thread or process back as a
//!   record nobody would remove ([`Exited`], at most [`MAX_EXITED`] entries for at most
//!   [`EXITED_FOR`], the oldest forgotten first; a call that did arrive leaves none). A call
//!   still to come can only be one whose frame left before the notice (the calling daemon
//!   writes none after its thread is gone), so it comes within the link's retransmissions or
//!   its node goes down.
//!
//! Node down (and a restart, see `nodes.rs`) forgets everything kept for that node's threads.

use std::collections::{BTreeMap, VecDeque};

use crate::call::Call;
use crate::errno::Errno;
use crate::ids::{Coid, Nd, Priority, ProcessKey, ThreadKey};
use crate::info::Credentials;
use crate::notice::Notice;

use super::{Kernel, Time};

/// A one-way pulse from a peer ([`super::Output::ForwardPulse`] on its node), as
/// [`Kernel::handle_remote_pulse`] takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemotePulse {
    /// The sender's connection, as this node numbers it.
    pub coid: Coid,
    /// Pulse priority.
    pub priority: Priority,
    /// Code.
    pub code: i8,
    /// Value.
    pub value: i32,
}

/// The latest call of a remote thread served here, by its node's seq.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Served {
    /// seq of its latest call that arrived (0: none yet).
    seq: u64,
    /// An unblock for a later call that has not arrived yet.
    early_unblock: Option<u64>,
}

/// Most exited remote processes [`Exited`] remembers; the oldest go first. An exit notice
/// overtakes a call only by the time one stream's packets take over another's, so a call
/// older than thousands of later exits is not expected.
pub(super) const MAX_EXITED: usize = 4096;

/// How long [`Exited`] remembers an exit: far beyond the time a frame sent before the notice
/// takes to arrive on a live link (a link silent for `--link-timeout` is down, and a node down
/// forgets everything of it).
pub(super) const EXITED_FOR: Time = Time::from_secs(60);

/// Remote threads and processes that exited with a call still on its way here: a thread
/// with the seq of that call (it is refused when it comes, then forgotten), a process with
/// the first seq its node numbered after the exit (a call of that pid numbered below it is
/// the exited process's, one above it a new process's: its node's seqs only grow).
#[derive(Debug, Default)]
pub(super) struct Exited {
    threads: BTreeMap<ThreadKey, u64>,
    processes: BTreeMap<ProcessKey, u64>,
    /// In the order they exited, with when, to forget the oldest (may hold entries already
    /// forgotten).
    order: VecDeque<(Time, ThreadKey, u64)>,
}

/// A process's entry in [`Exited::order`]: its key as a thread key with tid 0 (no thread has
/// it) and this marker seq bit.
const PROCESS_ENTRY: u64 = 1 << 63;

impl Exited {
    fn remember(&mut self, now: Time, key: ThreadKey, seq: u64) {
        self.order.push_back((now, key, seq));
        self.expire(now);
    }

    /// Forget entries past [`MAX_EXITED`] or older than [`EXITED_FOR`].
    pub(super) fn expire(&mut self, now: Time) {
        while let Some(&(since, old, seq)) = self.order.front() {
            if self.order.len() <= MAX_EXITED && now.saturating_sub(since) < EXITED_FOR {
                break;
            }
            self.order.pop_front();
            if seq & PROCESS_ENTRY != 0 {
                let p = old.process();
                if self.processes.get(&p) == Some(&(seq & !PROCESS_ENTRY)) {
                    self.processes.remove(&p);
                }
            } else if self.threads.get(&old) == Some(&seq) {
                self.threads.remove(&old);
            }
        }
    }

    fn insert_thread(&mut self, now: Time, thread: ThreadKey, seq: u64) {
        self.threads.insert(thread, seq);
        self.remember(now, thread, seq);
    }

    fn insert_process(&mut self, now: Time, process: ProcessKey, next_seq: u64) {
        self.processes.insert(process, next_seq);
        let key = ThreadKey {
            nd: process.nd,
            pid: process.pid,
            tid: 0,
        };
        self.remember(now, key, next_seq | PROCESS_ENTRY);
    }

    /// Whether call `seq` of remote `thread` was made before its thread or process exited
    /// here (refuse it). The awaited call of an exited thread is forgotten once it came; a
    /// later seq means a new thread or process, which are no longer remembered as exited.
    fn called_before_exit(&mut self, thread: ThreadKey, seq: u64) -> bool {
        let process = thread.process();
        let of_process = match self.processes.get(&process) {
            Some(&next) if seq < next => true,
            Some(_) => {
                self.processes.remove(&process);
                false
            }
            None => false,
        };
        let of_thread = match self.threads.get(&thread) {
            Some(&awaited) if seq <= awaited => {
                if seq == awaited {
                    self.threads.remove(&thread);
                }
                true
            }
            Some(_) => {
                self.threads.remove(&thread);
                false
            }
            None => false,
        };
        of_process || of_thread
    }

    fn forget_node(&mut self, nd: Nd) {
        self.threads.retain(|t, _| t.nd != nd);
        self.processes.retain(|p, _| p.nd != nd);
        self.order.retain(|(_, t, _)| t.nd != nd);
    }

    pub(super) fn len(&self) -> usize {
        self.threads.len() + self.processes.len()
    }
}

impl Kernel {
    /// Remote `thread` (with `cred`, as its node vouches) makes `call`, its node's call
    /// `seq`. As [`Kernel::handle_call`], after the protocol's rules above: an older call of
    /// the thread still blocked here is superseded (gone, no completion), and an unblock for
    /// `seq` that came first is applied once the call blocks. Its completion is an
    /// [`super::Output::Complete`] for `thread`, at once or later, exactly once unless the
    /// thread goes first.
    pub fn handle_remote_call(
        &mut self,
        now: Time,
        thread: ThreadKey,
        seq: u64,
        cred: Credentials,
        call: Call,
    ) {
        self.clock = self.clock.max(now);
        // Its node is down here (everything of it was forgotten), or its process is gone
        // (its exit notice came first): nothing of it comes back.
        if self.node_reachable(thread.nd).is_err() || self.exited.called_before_exit(thread, seq) {
            self.complete(thread, Err(Errno::ESRCH));
            self.handle_timeout(now);
            return;
        }
        if self.blocked.contains_key(&thread) {
            self.handle_thread_exit(now, thread);
        }
        let served = self.served.entry(thread).or_default();
        served.seq = seq;
        // An unblock kept for this call applies now; one for an earlier call is stale.
        let early = served.early_unblock == Some(seq);
        if served.early_unblock.is_some_and(|s| s <= seq) {
            served.early_unblock = None;
        }
        self.handle_process_start(thread.process(), cred);
        self.handle_call(now, thread, call);
        if early && self.blocked.contains_key(&thread) {
            self.unblock_for(thread, Errno::EINTR, None);
            self.handle_timeout(now);
        }
    }

    /// A one-way pulse from remote `thread` on its connection `pulse.coid`
    /// ([`super::Output::ForwardPulse`] there): delivered as that thread's `MsgSendPulse`,
    /// with no completion (its sender finished long ago). A refusal (a process not known here,
    /// dead connection, bad code, a channel whose pulse queue is full) is counted in
    /// [`Kernel::rejected_remote_pulses`] and returned for the daemon's log. A thread still
    /// blocked here in a call is not disturbed: a pulse belongs to its process.
    pub fn handle_remote_pulse(
        &mut self,
        now: Time,
        thread: ThreadKey,
        pulse: RemotePulse,
    ) -> Result<(), Errno> {
        self.clock = self.clock.max(now);
        // Its connection was made by a call, which started the process here: a process not
        // known here holds no connection (it exited, or its node restarted), and a pulse
        // must not bring it back as an empty entry nobody would remove.
        if !self.processes.contains_key(&thread.process()) {
            self.rejected_remote_pulses += 1;
            self.handle_timeout(now);
            return Err(Errno::EBADF);
        }
        let r = self.msg_send_pulse(
            thread.process(),
            pulse.coid,
            pulse.priority,
            pulse.code,
            pulse.value,
        );
        if r.is_err() {
            self.rejected_remote_pulses += 1;
        }
        self.handle_timeout(now);
        r
    }

    /// How many one-way pulses from peers were refused here ([`Kernel::handle_remote_pulse`]).
    pub fn rejected_remote_pulses(&self) -> u64 {
        self.rejected_remote_pulses
    }

    /// Remote `thread`'s node cancels its call `seq` ([`super::Output::ForwardUnblock`]
    /// there): the call may be in progress (unblocked as [`Kernel::handle_unblock`]), not
    /// arrived yet (the unblock is kept for it) or answered already (nothing happens). A
    /// thread has one call at a time and its node's seqs only grow, so one kept unblock per
    /// thread is enough.
    pub fn handle_remote_unblock(&mut self, now: Time, thread: ThreadKey, seq: u64) {
        self.clock = self.clock.max(now);
        if self.node_reachable(thread.nd).is_err() {
            return;
        }
        let in_progress = self.blocked.contains_key(&thread);
        let served = self.served.entry(thread).or_default();
        if seq > served.seq {
            served.early_unblock = Some(seq);
        } else if seq == served.seq && in_progress {
            // Its node says only that it asked: the cause stays unknown here.
            self.unblock_for(thread, Errno::EINTR, None);
            self.handle_timeout(now);
        }
    }

    /// The stream of remote `thread`'s call `seq` ended before its answer: if that is the
    /// call the thread is blocked in, the thread is gone. Nothing happens if the call was
    /// answered or a newer one superseded it.
    pub fn handle_remote_call_abandoned(&mut self, now: Time, thread: ThreadKey, seq: u64) {
        self.clock = self.clock.max(now);
        // Its seq stays: the thread's exit notice (which follows if the thread is gone) then
        // knows the call it names arrived, and forgets it.
        let current = self.served.get(&thread).is_some_and(|s| s.seq == seq);
        if current && self.blocked.contains_key(&thread) {
            self.handle_thread_exit(now, thread);
        }
    }

    /// A notice from peer `nd` (its [`super::Output::Notify`]), as the input it stands for.
    pub fn handle_notice(&mut self, now: Time, nd: Nd, notice: Notice) {
        self.clock = self.clock.max(now);
        match notice {
            Notice::ThreadExit { pid, tid, seq } => {
                let thread = ThreadKey { nd, pid, tid };
                // The call it left in flight here: refused if it has not come yet.
                let arrived = self.served.remove(&thread).is_some_and(|s| s.seq >= seq);
                if seq > 0 && !arrived {
                    self.exited.insert_thread(now, thread, seq);
                }
                self.handle_thread_exit(now, thread);
            }
            Notice::ProcessExit { pid, next_seq } => {
                let process = ProcessKey { nd, pid };
                self.forget_served_of(process);
                if next_seq > 0 {
                    self.exited.insert_process(now, process, next_seq);
                }
                self.handle_process_exit(now, process);
            }
            Notice::ConnectionDead { pid, coid } => {
                self.handle_remote_connection_dead(now, nd, pid, coid);
            }
            Notice::DeliverEvent {
                client_pid,
                event,
                value,
                server_pid,
            } => self.handle_remote_event(now, nd, client_pid, event, value, server_pid),
        }
    }

    /// The seq of remote `thread`'s latest call served here (`None`: none kept).
    pub fn served_seq(&self, thread: ThreadKey) -> Option<u64> {
        self.served.get(&thread).map(|s| s.seq).filter(|&s| s != 0)
    }

    /// Forget what is kept for the threads of remote `process`.
    fn forget_served_of(&mut self, process: ProcessKey) {
        let threads: Vec<ThreadKey> = self
            .served
            .range(process.threads())
            .map(|(t, _)| *t)
            .collect();
        for t in threads {
            self.served.remove(&t);
        }
    }

    /// Forget what is kept for node `nd`'s threads and exited processes (it went down).
    pub(super) fn forget_node_served(&mut self, nd: Nd) {
        self.served.retain(|t, _| t.nd != nd);
        self.exited.forget_node(nd);
    }
}
