//! Read-only views of the kernel's state, for `pidin`-style tools: processes, what each
//! blocked thread waits for, channels with their queues, connections, names, events.
//!
//! Everything here is a getter: plain data copied out of the kernel, no input, no output.

use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Nd, Pid, Priority, ProcessKey, Rcvid, Scoid, ThreadKey};
use crate::info::Credentials;

use super::Kernel;
use super::limits::Limit;
use super::message::Stage;
use super::process::Wait;

/// What a blocked thread waits for, as `pidin` names the states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// In `MsgSend`, its message still queued on the server's channel.
    Send {
        /// The sender's connection (as the sender's node numbers it).
        coid: Coid,
        /// The server process.
        server: ProcessKey,
        /// The server's channel.
        chid: Chid,
        /// The message.
        rcvid: Rcvid,
    },
    /// In `MsgSend`, its message received and not yet answered.
    Reply {
        /// The sender's connection (as the sender's node numbers it).
        coid: Coid,
        /// The server process.
        server: ProcessKey,
        /// The server's channel.
        chid: Chid,
        /// The message.
        rcvid: Rcvid,
    },
    /// In `MsgReceive` on a channel of its own process.
    Receive {
        /// The channel.
        chid: Chid,
    },
    /// In a call forwarded to another node ("net" state); that node knows the rest.
    Net {
        /// The node the call went to.
        nd: Nd,
    },
}

/// A thread blocked in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadSnapshot {
    /// The thread.
    pub thread: ThreadKey,
    /// What it waits for.
    pub state: ThreadState,
    /// Its priority, where the kernel knows it (the priority its message was sent at).
    pub priority: Option<Priority>,
}

/// One channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelSnapshot {
    /// The channel.
    pub chid: Chid,
    /// Its `ChannelCreate` flags.
    pub flags: ChannelFlags,
    /// Messages queued, not yet received (their senders are SEND-blocked).
    pub queued_messages: usize,
    /// Pulses queued, not yet received.
    pub queued_pulses: usize,
    /// Threads RECEIVE-blocked on it.
    pub receivers: usize,
    /// Messages delivered to it since it was created (the counter `qnet top` turns into
    /// rates).
    pub messages_total: u64,
    /// Pulses delivered to it since it was created.
    pub pulses_total: u64,
}

/// Where a connection leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionTarget {
    /// A channel on this node (or, seen from a server node, on the server's own node).
    Local {
        /// The server process.
        server: ProcessKey,
        /// The channel.
        chid: Chid,
        /// The client's scoid at the server.
        scoid: Scoid,
    },
    /// A channel on another node.
    Remote {
        /// The server's node.
        nd: Nd,
        /// The server pid, when known (`ConnectAttach`; not `name_open`).
        pid: Option<Pid>,
        /// The channel, when known (as `pid`).
        chid: Option<Chid>,
        /// The connection as the server's node numbers it.
        remote_coid: Coid,
    },
}

/// One connection of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    /// The coid.
    pub coid: Coid,
    /// Where it leads.
    pub target: ConnectionTarget,
    /// The channel, its server or its node is gone (sends fail `EBADF`).
    pub dead: bool,
}

/// A server's record of one client process (its scoid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoidSnapshot {
    /// The scoid.
    pub scoid: Scoid,
    /// The client process.
    pub client: ProcessKey,
    /// The client's live connections to this server (0: disconnected, awaiting
    /// `ConnectDetach(scoid)`).
    pub connections: u32,
}

/// One process: its blocked threads, channels, connections and clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSnapshot {
    /// The process.
    pub process: ProcessKey,
    /// Its credentials.
    pub cred: Credentials,
    /// Its blocked threads, by tid.
    pub threads: Vec<ThreadSnapshot>,
    /// Its channels, by chid.
    pub channels: Vec<ChannelSnapshot>,
    /// Its connections, by coid.
    pub connections: Vec<ConnectionSnapshot>,
    /// Its clients' scoids, by scoid.
    pub scoids: Vec<ScoidSnapshot>,
    /// Events it registered (as a client).
    pub events: usize,
    /// Names it attached.
    pub names: usize,
    /// Bytes of the send buffers of its messages not yet answered.
    pub message_bytes: u64,
    /// The limits it was refused by so far.
    pub limits_hit: Vec<Limit>,
}

/// An attached name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSnapshot {
    /// The name.
    pub name: String,
    /// The process that attached it.
    pub owner: ProcessKey,
    /// Its channel.
    pub chid: Chid,
}

/// Everything the kernel holds, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every known process (local and remote), by (nd, pid).
    pub processes: Vec<ProcessSnapshot>,
    /// Attached names, by name.
    pub names: Vec<NameSnapshot>,
    /// Attached paths (`resmgr_attach`), by id.
    pub paths: Vec<super::PathSnapshot>,
    /// Registered events (this node's servers may deliver them).
    pub events: usize,
    /// Messages in flight (queued or received, not answered).
    pub messages: usize,
}

/// How many records the kernel keeps, table by table: what would grow if something were
/// kept after its owner ended (`Kernel::records`). Counts only, O(processes) to take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Processes of this node.
    pub processes: usize,
    /// Processes of other nodes whose threads made calls here.
    pub remote_processes: usize,
    /// Threads blocked in a call (local and remote).
    pub blocked: usize,
    /// Armed deadlines of blocked threads.
    pub deadlines: usize,
    /// Messages in flight.
    pub messages: usize,
    /// Channels.
    pub channels: usize,
    /// Connections to channels of this node (of local and remote processes).
    pub connections: usize,
    /// Connections of local processes to channels on other nodes.
    pub remote_connections: usize,
    /// Servers' records of client processes.
    pub scoids: usize,
    /// Attached names.
    pub names: usize,
    /// Registered events (with this node's servers).
    pub events: usize,
    /// Events local processes registered with other nodes' servers.
    pub remote_events: usize,
    /// Remote threads whose calls were served here: their latest call's seq.
    pub served: usize,
    /// (local thread, node) pairs: threads that forwarded calls to that node, told of their
    /// exit.
    pub forwarded: usize,
    /// Exited remote processes remembered so that a call overtaken by their exit notice does
    /// not bring them back (bounded).
    pub exited: usize,
    /// Threads the kernel changed the priority of (inheritance, boost).
    pub inherited: usize,
}

impl std::fmt::Display for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "processes={} remote_processes={} blocked={} deadlines={} messages={} \
             channels={} connections={} remote_connections={} scoids={} names={} events={} \
             remote_events={} served={} forwarded={} exited={} inherited={}",
            self.processes,
            self.remote_processes,
            self.blocked,
            self.deadlines,
            self.messages,
            self.channels,
            self.connections,
            self.remote_connections,
            self.scoids,
            self.names,
            self.events,
            self.remote_events,
            self.served,
            self.forwarded,
            self.exited,
            self.inherited
        )
    }
}

impl Kernel {
    /// The size of every table (see [`Records`]): a leak test counts these, not memory.
    pub fn records(&self) -> Records {
        let mut r = Records {
            blocked: self.blocked.len(),
            deadlines: self.deadlines.len(),
            messages: self.messages.len(),
            names: self.names.len(),
            events: self.events.len(),
            remote_events: self.remote_events.len(),
            served: self.served.len(),
            forwarded: self.forwarded.len(),
            exited: self.exited.len(),
            inherited: self.inheritance.len(),
            ..Records::default()
        };
        for (key, p) in &self.processes {
            if key.nd == 0 {
                r.processes += 1;
            } else {
                r.remote_processes += 1;
            }
            r.channels += p.channels.len();
            r.connections += p.connections.len();
            r.remote_connections += p.remote.len();
            r.scoids += p.scoids.len();
        }
        r
    }
}

impl Kernel {
    /// What `thread` is blocked on; `None` if it is not blocked.
    pub fn thread_state(&self, thread: ThreadKey) -> Option<ThreadSnapshot> {
        let blocked = self.blocked.get(&thread)?;
        let (state, priority) = match blocked.wait {
            Wait::Send { rcvid } => {
                let m = self.messages.get(&rcvid)?;
                let (coid, server, chid) = (m.coid, m.server, m.chid);
                let state = match m.stage {
                    Stage::Queued(_) => ThreadState::Send {
                        coid,
                        server,
                        chid,
                        rcvid,
                    },
                    Stage::Received { .. } => ThreadState::Reply {
                        coid,
                        server,
                        chid,
                        rcvid,
                    },
                };
                (state, Some(m.priority))
            }
            Wait::Receive { chid, .. } => (ThreadState::Receive { chid }, None),
            Wait::Forward { nd, .. } => (ThreadState::Net { nd }, None),
        };
        Some(ThreadSnapshot {
            thread,
            state,
            priority,
        })
    }

    /// Every blocked thread, by (nd, pid, tid).
    pub fn blocked_threads(&self) -> Vec<ThreadSnapshot> {
        self.blocked
            .keys()
            .filter_map(|t| self.thread_state(*t))
            .collect()
    }

    /// Attached names, by name.
    pub fn names(&self) -> Vec<NameSnapshot> {
        self.names
            .iter()
            .map(|(name, (owner, chid))| NameSnapshot {
                name: name.clone(),
                owner: *owner,
                chid: *chid,
            })
            .collect()
    }

    /// Number of registered events.
    pub fn registered_events(&self) -> usize {
        self.events.len()
    }

    /// The whole state as plain data.
    pub fn snapshot(&self) -> Snapshot {
        // By process, so that building each process's list is not a scan of every thread.
        let mut threads: std::collections::BTreeMap<ProcessKey, Vec<ThreadSnapshot>> =
            std::collections::BTreeMap::new();
        for t in self.blocked_threads() {
            threads.entry(t.thread.process()).or_default().push(t);
        }
        let processes = self
            .processes
            .iter()
            .map(|(key, p)| {
                let channels = p
                    .channels
                    .iter()
                    .map(|(chid, c)| {
                        let queued_pulses = c.pulses;
                        ChannelSnapshot {
                            chid: *chid,
                            flags: c.flags,
                            queued_messages: c.queue.len() - queued_pulses,
                            queued_pulses,
                            receivers: c.receivers.len(),
                            messages_total: c.messages_total,
                            pulses_total: c.pulses_total,
                        }
                    })
                    .collect();
                let mut connections: Vec<ConnectionSnapshot> = p
                    .connections
                    .iter()
                    .map(|(coid, c)| {
                        let alive = self.processes.get(&c.server).is_some_and(|s| {
                            s.generation == c.server_generation && s.channels.contains_key(&c.chid)
                        });
                        ConnectionSnapshot {
                            coid: *coid,
                            target: ConnectionTarget::Local {
                                server: c.server,
                                chid: c.chid,
                                scoid: c.scoid,
                            },
                            dead: c.dead || !alive,
                        }
                    })
                    .chain(p.remote.iter().map(|(coid, c)| {
                        let stale = self
                            .nodes
                            .get(&c.nd)
                            .is_none_or(|n| !n.up || n.epoch != c.epoch);
                        ConnectionSnapshot {
                            coid: *coid,
                            target: ConnectionTarget::Remote {
                                nd: c.nd,
                                pid: c.pid,
                                chid: c.chid,
                                remote_coid: c.rc,
                            },
                            dead: c.dead || stale,
                        }
                    }))
                    .collect();
                connections.sort_by_key(|c| c.coid);
                let scoids = p
                    .scoids
                    .iter()
                    .map(|(scoid, e)| ScoidSnapshot {
                        scoid: *scoid,
                        client: e.client,
                        connections: e.refs,
                    })
                    .collect();
                let events = self.events_held(*key);
                ProcessSnapshot {
                    process: *key,
                    cred: p.cred,
                    threads: threads.remove(key).unwrap_or_default(),
                    channels,
                    connections,
                    scoids,
                    events,
                    names: p.names.len(),
                    message_bytes: p.message_bytes,
                    limits_hit: p.limits_hit.limits(),
                }
            })
            .collect();
        Snapshot {
            processes,
            names: self.names(),
            paths: self.paths(),
            events: self.events.len(),
            messages: self.messages.len(),
        }
    }
}

impl Kernel {
    /// Recompute every index the kernel keeps beside its tables (id allocators, per-process
    /// and per-channel sets and counters, names) and compare; the first mismatch, described.
    /// For property tests: O(everything).
    #[doc(hidden)]
    pub fn audit(&self) -> Result<(), String> {
        use std::collections::BTreeSet;

        use crate::flags::ChannelFlags;
        use crate::ids::EventId;

        for (key, p) in &self.processes {
            let chids: BTreeSet<Chid> = p.channels.keys().copied().collect();
            if !p.chids.holds_exactly(&chids) {
                return Err(format!("{key}: chid allocator"));
            }
            let coids: BTreeSet<Coid> = p
                .connections
                .keys()
                .chain(p.remote.keys())
                .copied()
                .collect();
            if coids.len() != p.connections.len() + p.remote.len() || !p.coids.holds_exactly(&coids)
            {
                return Err(format!("{key}: coid allocator"));
            }
            let by_rc: BTreeSet<(Nd, u64, Coid, Coid)> = p
                .remote
                .iter()
                .map(|(coid, c)| (c.nd, c.epoch, c.rc, *coid))
                .collect();
            if p.remote_by_rc != by_rc {
                return Err(format!("{key}: remote connections by server coid"));
            }
            let scoids: BTreeSet<Scoid> = p.scoids.keys().copied().collect();
            if !p.scoid_ids.holds_exactly(&scoids) {
                return Err(format!("{key}: scoid allocator"));
            }
            let with = |f: ChannelFlags| -> BTreeSet<Chid> {
                p.channels
                    .iter()
                    .filter(|(_, c)| c.flags.contains(f))
                    .map(|(k, _)| *k)
                    .collect()
            };
            if p.coid_death != with(ChannelFlags::COID_DISCONNECT)
                || p.thread_death != with(ChannelFlags::THREAD_DEATH)
            {
                return Err(format!("{key}: death channels"));
            }
            for (chid, name) in &p.names {
                if self.names.get(name) != Some(&(*key, *chid)) {
                    return Err(format!("{key}: name {name} on {chid}"));
                }
            }
            let outgoing: BTreeSet<(Coid, Rcvid)> = self
                .messages
                .iter()
                .filter(|(_, m)| m.client.process() == *key)
                .map(|(r, m)| (m.coid, *r))
                .collect();
            let bytes: u64 = self
                .messages
                .values()
                .filter(|m| m.client.process() == *key)
                .map(|m| m.data.len() as u64)
                .sum();
            if p.outgoing != outgoing || p.message_bytes != bytes {
                return Err(format!("{key}: outgoing messages"));
            }
            let events: BTreeSet<EventId> = self
                .events
                .iter()
                .filter(|(_, e)| e.owner == *key)
                .map(|(id, _)| *id)
                .collect();
            if p.events != events {
                return Err(format!("{key}: events"));
            }
            for (chid, c) in &p.channels {
                let messages: BTreeSet<Rcvid> = self
                    .messages
                    .iter()
                    .filter(|(_, m)| m.server == *key && m.chid == *chid)
                    .map(|(r, _)| *r)
                    .collect();
                let pulses = c
                    .queue
                    .values()
                    .filter(|q| matches!(q, super::channel::Queued::Pulse(_)))
                    .count();
                let connections: BTreeSet<(ProcessKey, Coid)> = self
                    .processes
                    .iter()
                    .flat_map(|(client, cp)| {
                        cp.connections
                            .iter()
                            .filter(|(_, conn)| {
                                !conn.dead
                                    && conn.server == *key
                                    && conn.server_generation == p.generation
                                    && conn.chid == *chid
                            })
                            .map(move |(coid, _)| (*client, *coid))
                    })
                    .collect();
                let clients: BTreeSet<Scoid> = p
                    .scoids
                    .iter()
                    .filter(|(_, e)| e.channels.contains(chid))
                    .map(|(s, _)| *s)
                    .collect();
                if c.messages != messages
                    || c.pulses != pulses
                    || c.connections != connections
                    || c.clients != clients
                {
                    return Err(format!("{key}: indexes of channel {chid}"));
                }
            }
        }
        for (name, (owner, chid)) in &self.names {
            let listed = self.processes.get(owner).and_then(|p| p.names.get(chid));
            if listed != Some(name) {
                return Err(format!("name {name} not listed by {owner}"));
            }
        }
        if let Some(r) = self.messages.keys().find(|r| !self.rcvid_issued(**r)) {
            return Err(format!("rcvid {r} out of range"));
        }
        // What is kept for other nodes' threads and about our threads' calls to them.
        for &(t, nd) in &self.forwarded {
            let listed = self
                .processes
                .get(&t.process())
                .is_some_and(|p| p.nodes.contains(&nd));
            if t.nd != 0 || nd == 0 || !listed {
                return Err(format!(
                    "{t} forwarded to {nd}: not a local thread of a process listing it"
                ));
            }
        }
        if let Some(t) = self.served.keys().find(|t| t.nd == 0) {
            return Err(format!("served record for local thread {t}"));
        }
        if self.exited.len() > super::served::MAX_EXITED {
            return Err(format!("{} exited processes remembered", self.exited.len()));
        }
        self.audit_paths()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::call::{Call, Completion};
    use crate::kernel::{Config, Output, Time};

    const NOW: Time = Time::ZERO;

    fn kernel() -> Kernel {
        Kernel::new(Config::default())
    }

    /// Make `call` and return its immediate completion.
    fn call(k: &mut Kernel, thread: ThreadKey, c: Call) -> Option<Completion> {
        k.handle_call(NOW, thread, c);
        let mut mine = None;
        while let Some(out) = k.poll_output() {
            if let Output::Complete { thread: t, result } = out {
                if t == thread {
                    mine = Some(result.expect("call failed"));
                }
            }
        }
        mine
    }

    fn send(coid: Coid, priority: Priority) -> Call {
        Call::MsgSend {
            coid,
            data: Bytes::from_static(b"hello"),
            reply_cap: 16,
            priority,
            realtime: false,
            timeout: None,
        }
    }

    fn receive(chid: Chid) -> Call {
        Call::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
        }
    }

    #[test]
    fn states_follow_a_message_from_send_to_reply() {
        let mut k = kernel();
        let server = ThreadKey::local(100, 1);
        let client = ThreadKey::local(200, 7);
        let Some(Completion::Chid(chid)) = call(
            &mut k,
            server,
            Call::NameAttach {
                name: "svc".into(),
                flags: ChannelFlags::default(),
            },
        ) else {
            panic!("no chid")
        };
        let Some(Completion::Coid(coid)) = call(
            &mut k,
            client,
            Call::ConnectAttach {
                nd: 0,
                pid: 100,
                chid,
            },
        ) else {
            panic!("no coid")
        };
        assert_eq!(k.thread_state(client), None, "not blocked yet");

        // No receiver: the client is SEND-blocked and its message is queued.
        assert!(call(&mut k, client, send(coid, 15)).is_none());
        let t = k.thread_state(client).unwrap();
        let ThreadState::Send {
            coid: c,
            server: s,
            chid: ch,
            rcvid,
        } = t.state
        else {
            panic!("{t:?}")
        };
        assert_eq!((c, s, ch), (coid, server.process(), chid));
        assert_eq!(t.priority, Some(15));
        let snap = k.snapshot();
        let srv = snap
            .processes
            .iter()
            .find(|p| p.process == server.process())
            .unwrap();
        assert_eq!(srv.channels[0].queued_messages, 1);
        assert_eq!(srv.channels[0].queued_pulses, 0);
        assert_eq!(srv.scoids.len(), 1);
        assert_eq!(srv.scoids[0].client, client.process());

        // The server receives: the client is REPLY-blocked on the same rcvid.
        assert!(call(&mut k, server, receive(chid)).is_some());
        assert_eq!(
            k.thread_state(client).unwrap().state,
            ThreadState::Reply {
                coid,
                server: server.process(),
                chid,
                rcvid
            }
        );
        assert_eq!(k.snapshot().messages, 1);

        // The server waits again: RECEIVE-blocked on its channel.
        assert!(call(&mut k, server, receive(chid)).is_none());
        assert_eq!(
            k.thread_state(server).unwrap().state,
            ThreadState::Receive { chid }
        );
        let snap = k.snapshot();
        let srv = snap
            .processes
            .iter()
            .find(|p| p.process == server.process())
            .unwrap();
        assert_eq!(srv.channels[0].receivers, 1);
        assert_eq!(
            (srv.channels[0].messages_total, srv.channels[0].pulses_total),
            (1, 0),
            "received messages stay counted"
        );
        assert_eq!(srv.threads.len(), 1);
        assert_eq!(
            snap.names,
            vec![NameSnapshot {
                name: "svc".into(),
                owner: server.process(),
                chid
            }]
        );
        let cli = snap
            .processes
            .iter()
            .find(|p| p.process == client.process())
            .unwrap();
        assert_eq!(
            cli.connections,
            vec![ConnectionSnapshot {
                coid,
                target: ConnectionTarget::Local {
                    server: server.process(),
                    chid,
                    scoid: 1
                },
                dead: false
            }]
        );
        assert_eq!(k.blocked_threads().len(), 2);
    }

    #[test]
    fn pulses_are_counted_and_dead_connections_shown() {
        let mut k = kernel();
        let server = ThreadKey::local(100, 1);
        let client = ThreadKey::local(200, 1);
        let Some(Completion::Chid(chid)) = call(
            &mut k,
            server,
            Call::ChannelCreate {
                flags: ChannelFlags::DISCONNECT,
            },
        ) else {
            panic!()
        };
        let Some(Completion::Coid(coid)) = call(
            &mut k,
            client,
            Call::ConnectAttach {
                nd: 0,
                pid: 100,
                chid,
            },
        ) else {
            panic!()
        };
        for code in [1, 2] {
            call(
                &mut k,
                client,
                Call::MsgSendPulse {
                    coid,
                    priority: 10,
                    code,
                    value: 0,
                },
            );
        }
        let snap = k.snapshot();
        let ch = snap.processes[0].channels[0];
        assert_eq!((ch.queued_messages, ch.queued_pulses), (0, 2));
        assert_eq!((ch.messages_total, ch.pulses_total), (0, 2));
        assert_eq!(ch.flags, ChannelFlags::DISCONNECT);

        call(&mut k, server, Call::ChannelDestroy { chid });
        let snap = k.snapshot();
        let cli = snap
            .processes
            .iter()
            .find(|p| p.process == client.process())
            .unwrap();
        assert!(cli.connections[0].dead, "{cli:?}");
    }

    #[test]
    fn forwarded_calls_are_net_blocked_and_remote_connections_listed() {
        let mut k = kernel();
        k.add_node(2, "n2").unwrap();
        k.handle_node_up(NOW, 2, 1, 1);
        let client = ThreadKey::local(300, 4);
        // ConnectAttach to another node is forwarded: NET-blocked on node 2.
        k.handle_call(
            NOW,
            client,
            Call::ConnectAttach {
                nd: 2,
                pid: 77,
                chid: 1,
            },
        );
        assert_eq!(
            k.thread_state(client).unwrap().state,
            ThreadState::Net { nd: 2 }
        );
        while k.poll_output().is_some() {}
        k.handle_forward_result(NOW, client, 1, Ok(Completion::Coid(5)));
        while k.poll_output().is_some() {}
        assert_eq!(k.thread_state(client), None);
        let snap = k.snapshot();
        let p = &snap.processes[0];
        assert_eq!(p.connections.len(), 1);
        assert_eq!(
            p.connections[0].target,
            ConnectionTarget::Remote {
                nd: 2,
                pid: Some(77),
                chid: Some(1),
                remote_coid: 5
            }
        );
        assert!(!p.connections[0].dead);
        k.handle_node_down(NOW, 2);
        assert!(k.snapshot().processes[0].connections[0].dead);
    }
}
