//! Processes and threads: what each process owns, what a blocked thread waits for, and the
//! clean-up when a thread or a whole process exits.

use std::collections::{BTreeMap, BTreeSet};

use crate::ProcessKey;
use crate::errno::Errno;
use crate::flags::TimeoutStates;
use crate::ids::{Chid, Coid, EventId, Nd, Rcvid, Scoid, ThreadKey};
use crate::info::Credentials;
use crate::notice::Notice;
use crate::pulse::PulseCode;

use super::channel::Channel;
use super::connection::{Connection, ScoidEntry};
use super::limits::HitSet;
use super::numbering::LowestFree;
use super::remote::{Forwarded, RemoteConnection};
use super::{Kernel, Time};

/// One process: the channels it owns, its connections (client side) and the scoids of its
/// clients (server side).
#[derive(Debug)]
pub(super) struct Process {
    /// Credentials from the kernel (SO_PEERCRED) or an authenticated peer.
    pub(super) cred: Credentials,
    /// Incarnation number; connections remember it so a reused pid is never reached.
    pub(super) generation: u64,
    /// Channels, by chid.
    pub(super) channels: BTreeMap<Chid, Channel>,
    /// Connections, by coid.
    pub(super) connections: BTreeMap<Coid, Connection>,
    /// Connections to channels on other nodes, by (local) coid; shares the coid space.
    pub(super) remote: BTreeMap<Coid, RemoteConnection>,
    /// `remote` by (nd, epoch, the server node's coid, local coid), for the server node's
    /// connection-dead notices.
    pub(super) remote_by_rc: BTreeSet<(Nd, u64, Coid, Coid)>,
    /// Server side: scoids of client processes.
    pub(super) scoids: BTreeMap<Scoid, ScoidEntry>,
    /// Server side: the live (still refcounted) scoid of each client process.
    pub(super) scoid_of_client: BTreeMap<ProcessKey, Scoid>,
    /// Chids in use.
    pub(super) chids: LowestFree,
    /// Coids in use, local (`connections`) and remote (`remote`) alike.
    pub(super) coids: LowestFree,
    /// Scoids in use (`scoids`).
    pub(super) scoid_ids: LowestFree,
    /// Its names, by channel (a channel carries at most one name).
    pub(super) names: BTreeMap<Chid, String>,
    /// Channels of `names` it made itself and named later (`NameAttachChannel`): its
    /// `name_detach` removes the name and leaves the channel.
    pub(super) named_later: BTreeSet<Chid>,
    /// Its attached paths (`paths.rs`), by id.
    pub(super) paths: BTreeSet<u32>,
    /// Its channels with `_NTO_CHF_COID_DISCONNECT`; the first is its death channel.
    pub(super) coid_death: BTreeSet<Chid>,
    /// Its channels with `_NTO_CHF_THREAD_DEATH`.
    pub(super) thread_death: BTreeSet<Chid>,
    /// Its messages in flight, by the coid they were sent on.
    pub(super) outgoing: BTreeSet<(Coid, Rcvid)>,
    /// Bytes of the send buffers of `outgoing`.
    pub(super) message_bytes: u64,
    /// Events it registered with servers on this node.
    pub(super) events: BTreeSet<EventId>,
    /// Nodes its threads forwarded calls to (each told of its exit).
    pub(super) nodes: BTreeSet<Nd>,
    /// Limits it was refused by (each logged once).
    pub(super) limits_hit: HitSet,
}

impl Process {
    pub(super) fn new(cred: Credentials, generation: u64) -> Self {
        Self {
            cred,
            generation,
            channels: BTreeMap::new(),
            connections: BTreeMap::new(),
            remote: BTreeMap::new(),
            remote_by_rc: BTreeSet::new(),
            scoids: BTreeMap::new(),
            scoid_of_client: BTreeMap::new(),
            chids: LowestFree::default(),
            coids: LowestFree::default(),
            scoid_ids: LowestFree::default(),
            names: BTreeMap::new(),
            named_later: BTreeSet::new(),
            paths: BTreeSet::new(),
            coid_death: BTreeSet::new(),
            thread_death: BTreeSet::new(),
            outgoing: BTreeSet::new(),
            message_bytes: 0,
            events: BTreeSet::new(),
            nodes: BTreeSet::new(),
            limits_hit: HitSet::default(),
        }
    }

    /// The channel that gets its coid-death pulses: the lowest-numbered of its channels with
    /// `_NTO_CHF_COID_DISCONNECT` (QNX keeps one death channel per process).
    pub(super) fn death_channel(&self) -> Option<Chid> {
        self.coid_death.first().copied()
    }
}

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wait {
    /// In `MsgSend`: SEND-blocked while the message is queued, REPLY-blocked once received.
    Send {
        /// The message.
        rcvid: Rcvid,
    },
    /// In `MsgReceive` on one of its process's channels.
    Receive {
        /// The channel.
        chid: Chid,
        /// Receive buffer size.
        cap: u64,
    },
    /// In a call forwarded to another node ("net" state), until its result or node down.
    Forward {
        /// The node the call went to.
        nd: Nd,
        /// The call's seq ([`super::Output::Forward`]): only its result settles it.
        seq: u64,
        /// What the result does locally.
        what: Forwarded,
    },
}

impl Wait {
    /// Waiting for an answer to a call it made (not for a message to receive).
    pub(super) fn is_caller(&self) -> bool {
        !matches!(self, Wait::Receive { .. })
    }
}

/// A thread blocked in a call.
#[derive(Clone, Copy, Debug)]
pub(super) struct Blocked {
    pub(super) wait: Wait,
    /// Armed timeout: deadline and the states it applies to.
    pub(super) timeout: Option<(Time, TimeoutStates)>,
    /// When the call that blocked it was made.
    pub(super) since: Time,
    /// A zero timeout given a grace to reach a receiver sleeping on the direct path
    /// (`msg_send`): once received, a REPLY timeout fires at once.
    pub(super) immediate: bool,
}

impl Kernel {
    /// A thread is gone; its blocked call (if any) is abandoned.
    ///
    /// Each node it forwarded a call to (that is up; always the one of a call it was blocked
    /// in, with that call's seq) gets [`Notice::ThreadExit`], so it forgets what it kept for
    /// the thread.
    pub fn handle_thread_exit(&mut self, now: Time, thread: ThreadKey) {
        self.clock = self.clock.max(now);
        let mut told: BTreeMap<Nd, u64> = self
            .forwarded
            .range((thread, Nd::MIN)..=(thread, Nd::MAX))
            .map(|&(_, nd)| (nd, 0))
            .collect();
        for nd in told.keys() {
            self.forwarded.remove(&(thread, *nd));
        }
        told.retain(|nd, _| self.node_reachable(*nd).is_ok());
        if let Some((nd, seq)) = self.abandon_call(thread) {
            told.insert(nd, seq);
        }
        for (nd, seq) in told {
            self.notify(
                nd,
                Notice::ThreadExit {
                    pid: thread.pid,
                    tid: thread.tid,
                    seq,
                },
            );
        }
        let process = thread.process();
        let tid = i32::try_from(thread.tid).unwrap_or(i32::MAX);
        // One death channel per process, as for COIDDEATH: the lowest live one with the flag.
        let death = self
            .processes
            .get(&process)
            .and_then(|p| p.thread_death.first().copied());
        if let Some(chid) = death {
            self.send_system_pulse(process, chid, PulseCode::THREADDEATH, tid, 0);
        }
        self.forget_priority(thread);
        self.handle_timeout(now);
    }

    /// How many objects `process` holds: channels, connections, names, events, messages in
    /// flight (so a driver can give memory back after a large one exits).
    pub fn objects_held(&self, process: ProcessKey) -> usize {
        self.processes.get(&process).map_or(0, |p| {
            p.channels.len()
                + p.connections.len()
                + p.remote.len()
                + p.names.len()
                + p.paths.len()
                + p.events.len()
                + p.outgoing.len()
        })
    }

    /// A process is gone: its channels, connections, names and events go with it.
    ///
    /// Each node (up) it had connections to, calls on, events with or ever forwarded a call
    /// to gets one [`Notice::ProcessExit`].
    pub fn handle_process_exit(&mut self, now: Time, process: ProcessKey) {
        self.clock = self.clock.max(now);
        // Receivers go first: abandoning a REPLY-blocked sender of this process can queue an
        // unblock pulse on one of its own channels, which must not reach a receiver of the
        // exiting process (an exited thread gets no completion).
        let mut threads: Vec<(bool, ThreadKey)> = self
            .blocked
            .range(process.threads())
            .map(|(t, b)| (!matches!(b.wait, Wait::Receive { .. }), *t))
            .collect();
        threads.sort();
        let mut peers: BTreeSet<Nd> = BTreeSet::new();
        // Nodes a call of it is left in flight to (it may arrive there after the notice).
        let mut abandoned: BTreeSet<Nd> = BTreeSet::new();
        for (_, thread) in threads {
            abandoned.extend(self.abandon_call(thread).map(|(nd, _)| nd));
        }
        peers.extend(&abandoned);
        if let Some(p) = self.processes.get_mut(&process) {
            peers.extend(std::mem::take(&mut p.remote).values().map(|c| c.nd));
            // Every node its threads called keeps a record of it, connections or not.
            peers.extend(std::mem::take(&mut p.nodes));
        }
        let first = ThreadKey {
            nd: process.nd,
            pid: process.pid,
            tid: 0,
        };
        let last = ThreadKey {
            tid: crate::ids::Tid::MAX,
            ..first
        };
        let threads: Vec<(ThreadKey, Nd)> = self
            .forwarded
            .range((first, Nd::MIN)..=(last, Nd::MAX))
            .copied()
            .collect();
        for entry in threads {
            self.forwarded.remove(&entry);
        }
        let ids: Vec<EventId> = self
            .remote_events
            .range((process, 0)..=(process, EventId::MAX))
            .map(|(&(_, id), _)| id)
            .collect();
        for id in ids {
            peers.extend(self.remote_events.remove(&(process, id)).map(|e| e.nd));
        }
        if process.nd == 0 {
            for nd in peers {
                if self.node_reachable(nd).is_ok() {
                    // Only a call left in flight can arrive after the notice.
                    let next_seq = match abandoned.contains(&nd) {
                        true => self.next_forward_seq,
                        false => 0,
                    };
                    self.notify(
                        nd,
                        Notice::ProcessExit {
                            pid: process.pid,
                            next_seq,
                        },
                    );
                }
            }
        }
        // Its own connections die with it: no coid-death pulse to its own channels.
        if let Some(p) = self.processes.get_mut(&process) {
            p.coid_death.clear();
        }
        let chids: Vec<Chid> = match self.processes.get(&process) {
            Some(p) => p.channels.keys().copied().collect(),
            None => Vec::new(),
        };
        for chid in chids {
            let _ = self.channel_destroy(process, chid);
        }
        let coids: Vec<Coid> = match self.processes.get(&process) {
            Some(p) => p.connections.keys().copied().collect(),
            None => Vec::new(),
        };
        for coid in coids {
            let _ = self.connect_detach(process, coid);
        }
        if let Some(p) = self.processes.remove(&process) {
            for id in p.events {
                self.events.remove(&id);
            }
        }
        self.forget_process_priorities(process);
        self.handle_timeout(now);
    }

    /// Drop the blocked call of a thread that is gone, with no completion.
    ///
    /// SEND-blocked: the message leaves its queue. REPLY-blocked: the message is forgotten
    /// (a later reply gets `ESRCH`); with `_NTO_CHF_UNBLOCK` the server gets an unblock pulse
    /// first. RECEIVE-blocked: the thread leaves the channel's receivers. In a forwarded
    /// call: its local effects settle as a failure; returns the node it went to and its seq.
    fn abandon_call(&mut self, thread: ThreadKey) -> Option<(Nd, u64)> {
        let blocked = self.forget_blocked(thread)?;
        match blocked.wait {
            Wait::Send { rcvid } => {
                if let Some(message) = self.remove_message(rcvid) {
                    if message.is_received() {
                        self.notify_unblock(&message.route(), rcvid);
                    }
                }
            }
            Wait::Receive { chid, .. } => {
                if let Some(channel) = self.channel_mut(thread.process(), chid) {
                    channel.receivers.retain(|t| *t != thread);
                }
            }
            Wait::Forward { nd, seq, what } => {
                let _ = self.settle_forward(thread.process(), nd, what, Err(Errno::ESRCH));
                return Some((nd, seq));
            }
        }
        None
    }
}
