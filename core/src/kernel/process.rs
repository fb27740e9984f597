//! Processes and threads: what each process owns, what a blocked thread waits for, and the
//! clean-up when a thread or a whole process exits.

use std::collections::{BTreeMap, BTreeSet};

use crate::errno::Errno;
use crate::flags::TimeoutStates;
use crate::ids::{Chid, Coid, Nd, Rcvid, Scoid, ThreadKey};
use crate::info::Credentials;
use crate::notice::Notice;
use crate::pulse::PulseCode;
use crate::{ChannelFlags, ProcessKey};

use super::channel::Channel;
use super::connection::{Connection, ScoidEntry};
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
    /// Server side: scoids of client processes.
    pub(super) scoids: BTreeMap<Scoid, ScoidEntry>,
    /// Server side: the live (still refcounted) scoid of each client process.
    pub(super) scoid_of_client: BTreeMap<ProcessKey, Scoid>,
}

impl Process {
    pub(super) fn new(cred: Credentials, generation: u64) -> Self {
        Self {
            cred,
            generation,
            channels: BTreeMap::new(),
            connections: BTreeMap::new(),
            remote: BTreeMap::new(),
            scoids: BTreeMap::new(),
            scoid_of_client: BTreeMap::new(),
        }
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
}

/// Lowest id >= 1 not used as a key of `map` (QNX hands out chids and coids like fds).
pub(super) fn lowest_free<V>(map: &BTreeMap<i32, V>) -> Option<i32> {
    let mut want = 1i32;
    for &k in map.keys() {
        if k > want {
            break;
        }
        if k == want {
            want = want.checked_add(1)?;
        }
    }
    Some(want)
}

impl Kernel {
    /// A thread is gone; its blocked call (if any) is abandoned.
    ///
    /// A thread blocked in a forwarded call: its node gets [`Notice::ThreadExit`].
    pub fn handle_thread_exit(&mut self, now: Time, thread: ThreadKey) {
        if let Some(nd) = self.abandon_call(thread) {
            self.notify(
                nd,
                Notice::ThreadExit {
                    pid: thread.pid,
                    tid: thread.tid,
                },
            );
        }
        let process = thread.process();
        let tid = i32::try_from(thread.tid).unwrap_or(i32::MAX);
        let chids: Vec<Chid> = self.channels_with(process, ChannelFlags::THREAD_DEATH);
        for chid in chids {
            self.send_system_pulse(process, chid, PulseCode::THREADDEATH, tid, 0);
        }
        self.handle_timeout(now);
    }

    /// A process is gone: its channels, connections, names and events go with it.
    ///
    /// Each node (up) it had connections to, calls on or events with gets one
    /// [`Notice::ProcessExit`].
    pub fn handle_process_exit(&mut self, now: Time, process: ProcessKey) {
        // Receivers go first: abandoning a REPLY-blocked sender of this process can queue an
        // unblock pulse on one of its own channels, which must not reach a receiver of the
        // exiting process (an exited thread gets no completion).
        let mut threads: Vec<(bool, ThreadKey)> = self
            .blocked
            .iter()
            .filter(|(t, _)| t.process() == process)
            .map(|(t, b)| (!matches!(b.wait, Wait::Receive { .. }), *t))
            .collect();
        threads.sort();
        let mut peers: BTreeSet<Nd> = BTreeSet::new();
        for (_, thread) in threads {
            peers.extend(self.abandon_call(thread));
        }
        if let Some(p) = self.processes.get_mut(&process) {
            peers.extend(std::mem::take(&mut p.remote).values().map(|c| c.nd));
        }
        self.remote_events.retain(|(owner, _), e| {
            if *owner == process {
                peers.insert(e.nd);
            }
            *owner != process
        });
        if process.nd == 0 {
            for nd in peers {
                if self.node_reachable(nd).is_ok() {
                    self.notify(nd, Notice::ProcessExit { pid: process.pid });
                }
            }
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
        self.events.retain(|_, e| e.owner != process);
        self.names.retain(|_, (owner, _)| *owner != process);
        self.processes.remove(&process);
        self.handle_timeout(now);
    }

    /// Drop the blocked call of a thread that is gone, with no completion.
    ///
    /// SEND-blocked: the message leaves its queue. REPLY-blocked: the message is forgotten
    /// (a later reply gets `ESRCH`); with `_NTO_CHF_UNBLOCK` the server gets an unblock pulse
    /// first. RECEIVE-blocked: the thread leaves the channel's receivers. In a forwarded
    /// call: its local effects settle as a failure; returns the node it went to.
    fn abandon_call(&mut self, thread: ThreadKey) -> Option<Nd> {
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
            Wait::Forward { nd, what } => {
                let _ = self.settle_forward(thread.process(), nd, what, Err(Errno::ESRCH));
                return Some(nd);
            }
        }
        None
    }

    /// Chids of `process`'s channels that have all of `flags`.
    pub(super) fn channels_with(&self, process: ProcessKey, flags: ChannelFlags) -> Vec<Chid> {
        match self.processes.get(&process) {
            Some(p) => p
                .channels
                .iter()
                .filter(|(_, c)| c.flags.contains(flags))
                .map(|(k, _)| *k)
                .collect(),
            None => Vec::new(),
        }
    }
}
