//! Calls across nodes, client side: connections to channels on other nodes, forwarding calls
//! on them (`Output::Forward`), one-way pulses on them (`Output::ForwardPulse`: the sender
//! does not wait for the server node), cancelling forwarded calls (`Output::ForwardUnblock`), telling
//! peers about exits (`Output::Notify`), and the notices peers send back (connection dead,
//! event delivered). The server side needs little: remote threads are ordinary threads there.
//!
//! A forwarded call blocks its thread (state "net", [`Wait::Forward`]) until
//! [`Kernel::handle_forward_result`] with its seq, or until the node goes down (`ESRCH`). A
//! result for a thread that is no longer waiting on that call is ignored: a call completes at
//! most once. The server side of these calls is `served.rs`.
//!
//! The serving node keeps something for each remote thread that called it (its latest
//! seq) and each such process (a record, maybe connections), so every node a thread forwarded
//! a call to hears of its exit ([`Notice::ThreadExit`], `forwarded`), and every node a
//! process's threads called, of the process's ([`Notice::ProcessExit`], `Process::nodes`):
//! not only the nodes it still holds connections to or waits on.

use crate::call::{Call, Completion};
use crate::errno::Errno;
use crate::ids::{Chid, Coid, EventId, Nd, Pid, Priority, ProcessKey, ThreadKey};
use crate::notice::Notice;
use crate::pulse::{Pulse, PulseCode, PulseEvent};

use super::channel::Queued;
use super::limits::Limit;
use super::process::{Blocked, Wait};
use super::{Kernel, Output, RemotePulse, Time};

/// A connection of a local process to a channel on another node.
#[derive(Clone, Copy, Debug)]
pub(super) struct RemoteConnection {
    /// The server's node.
    pub(super) nd: Nd,
    /// The connection as the server's node numbers it.
    pub(super) rc: Coid,
    /// Target pid, when known (`ConnectAttach`; not `name_open`).
    pub(super) pid: Option<Pid>,
    /// Target channel, when known (as `pid`).
    pub(super) chid: Option<Chid>,
    /// The node's epoch when connected: a connection from an earlier link is dead.
    pub(super) epoch: u64,
    /// The channel, its server or its node is gone: calls fail `EBADF`.
    pub(super) dead: bool,
    /// A `ConnectDetach` is on its way: other calls fail `EBADF`.
    pub(super) detaching: bool,
}

/// Where a path is resolved ([`Kernel::net_path`]).
enum NetPath {
    Local(String),
    Remote(Nd, String),
    Bad(Errno),
}

/// An event a local process registered with a server on another node.
#[derive(Clone, Copy, Debug)]
pub(super) struct RemoteEvent {
    /// The server's node.
    pub(super) nd: Nd,
    /// The server process, when known.
    pub(super) server_pid: Option<Pid>,
    /// The event as registered (its `coid` is a local connection of the client).
    pub(super) event: PulseEvent,
}

/// What a forwarded call does locally once its result arrives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Forwarded {
    /// `ConnectAttach` / `name_open`: a remote coid becomes a local one.
    Connect {
        /// The server pid, when the caller named it.
        pid: Option<Pid>,
        /// The channel, when the caller named it.
        chid: Option<Chid>,
    },
    /// `MsgSend`: the result passes through.
    Pass,
    /// `ConnectDetach` of local coid `coid`: freed whatever the result.
    Detach { coid: Coid },
    /// `MsgRegisterEvent`: the returned handle is recorded.
    RegisterEvent {
        event: PulseEvent,
        server_pid: Option<Pid>,
    },
    /// `MsgUnregisterEvent`: the record goes whatever the result.
    UnregisterEvent { id: EventId },
    /// `PathResolve` / `PathList` under `/net/<node>`: the managers' node becomes the nd
    /// this node uses for it.
    Paths,
}

impl Kernel {
    /// Seed the counter behind event handles ([`crate::Completion::Event`]). Handles travel
    /// between nodes, so each node's daemon seeds a different (random) base; 0 acts as 1.
    pub fn set_id_base(&mut self, base: u64) {
        self.next_event = base.max(1);
    }

    /// How many [`Kernel::handle_remote_event`] deliveries were refused (no matching
    /// registration for that node and server, or the event's connection is gone).
    pub fn rejected_remote_events(&self) -> u64 {
        self.rejected_remote_events
    }

    /// The result of the call `thread` forwarded as `seq` (an [`Output::Forward`]) arrived.
    /// Ignored unless that call is the one `thread` still waits for: a result arriving after
    /// the node went down (or restarted), or one of an earlier call whose thread has
    /// forwarded a newer one since, completes nothing. A call completes at most once.
    pub fn handle_forward_result(
        &mut self,
        now: Time,
        thread: ThreadKey,
        seq: u64,
        result: Result<Completion, Errno>,
    ) {
        self.clock = self.clock.max(now);
        self.settle_blocked_forward(thread, Some(seq), result);
        self.handle_timeout(now);
    }

    /// Cancel `thread`'s blocking call as [`Call::Unblock`] would (`EINTR`, or an unblock
    /// pulse for a REPLY-blocked send on an `UNBLOCK` channel). For remote threads, whose
    /// node forwarded a cancel ([`Output::ForwardUnblock`]).
    pub fn handle_unblock(&mut self, now: Time, thread: ThreadKey) {
        self.clock = self.clock.max(now);
        self.unblock(thread, Errno::EINTR);
        self.handle_timeout(now);
    }

    /// Notice from node `nd`: the channel behind its connection `remote_coid` (held by local
    /// process `pid`) is gone. The matching local coid dies and the owner gets
    /// `_PULSE_CODE_COIDDEATH` (value = local coid) where it asked for it.
    pub fn handle_remote_connection_dead(
        &mut self,
        now: Time,
        nd: Nd,
        pid: Pid,
        remote_coid: Coid,
    ) {
        self.clock = self.clock.max(now);
        let epoch = self.nodes.get(&nd).map(|n| n.epoch);
        let process = ProcessKey::local(pid);
        let mut killed = Vec::new();
        if let (Some(p), Some(epoch)) = (self.processes.get_mut(&process), epoch) {
            let key = (nd, epoch, remote_coid);
            let coids: Vec<Coid> = p
                .remote_by_rc
                .range((nd, epoch, remote_coid, Coid::MIN)..=(nd, epoch, remote_coid, Coid::MAX))
                .map(|&(_, _, _, coid)| coid)
                .collect();
            for coid in coids {
                if let Some(c) = p.remote.get_mut(&coid) {
                    if (c.nd, c.epoch, c.rc) == key && !c.dead {
                        c.dead = true;
                        killed.push((process, coid));
                    }
                }
            }
        }
        self.coid_death_pulses(killed);
        self.handle_timeout(now);
    }

    /// Notice from node `nd`: its server `server_pid` delivers event `event` registered by
    /// local process `client_pid`. The pulse goes out on the registered event's connection only
    /// if that process registered that event with a server of that node and pid; otherwise
    /// the notice is counted in [`Kernel::rejected_remote_events`] and dropped.
    pub fn handle_remote_event(
        &mut self,
        now: Time,
        nd: Nd,
        client_pid: Pid,
        event: EventId,
        value: Option<i32>,
        server_pid: Pid,
    ) {
        self.clock = self.clock.max(now);
        let client = ProcessKey::local(client_pid);
        let delivered = match self.remote_events.get(&(client, event)) {
            Some(r) if r.nd == nd && r.server_pid.is_none_or(|p| p == server_pid) => {
                let ev = r.event;
                let conn = self.live_connection(client, ev.coid).and_then(|conn| {
                    // A full channel drops the event as a refused delivery.
                    self.pulse_room(client, conn.server, conn.chid)?;
                    Ok(conn)
                });
                match conn {
                    Ok(conn) => {
                        let pulse = Pulse {
                            code: ev.code,
                            value: match value {
                                Some(v) if ev.updateable => v,
                                _ => ev.value,
                            },
                            scoid: conn.scoid,
                            priority: ev.priority,
                        };
                        self.deliver(conn.server, conn.chid, ev.priority, Queued::Pulse(pulse))
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if !delivered {
            self.rejected_remote_events += 1;
        }
        self.handle_timeout(now);
    }

    /// Forget remote connection `coid` of `process`; its number is free again.
    fn drop_remote(&mut self, process: ProcessKey, coid: Coid) {
        if let Some(p) = self.processes.get_mut(&process) {
            if let Some(c) = p.remote.remove(&coid) {
                p.remote_by_rc.remove(&(c.nd, c.epoch, c.rc, coid));
                p.coids.free(coid);
            }
        }
    }

    /// `EAGAIN` unless `process` may hold one more connection (checked before a connect is
    /// forwarded, so the server node never makes one that would be refused here).
    fn connection_room(&mut self, process: ProcessKey) -> Result<(), Errno> {
        let in_use = self.processes.get(&process).map_or(0, |p| p.coids.in_use());
        self.within(process, Limit::Connections, in_use as u64, 1)
    }

    /// A usable remote connection of `process`: `None` if `coid` is not remote,
    /// `Some(Err(EBADF))` if it is dead.
    fn remote_coid(
        &self,
        process: ProcessKey,
        coid: Coid,
    ) -> Option<Result<RemoteConnection, Errno>> {
        let c = *self.processes.get(&process)?.remote.get(&coid)?;
        let current = self
            .nodes
            .get(&c.nd)
            .is_some_and(|n| n.up && n.epoch == c.epoch);
        Some(if c.dead || c.detaching || !current {
            Err(Errno::EBADF)
        } else {
            Ok(c)
        })
    }

    /// The part of `handle_call` that crosses nodes. Returns the call back if it is local.
    pub(super) fn remote_call(&mut self, now: Time, thread: ThreadKey, call: Call) -> Option<Call> {
        if thread.nd != 0 {
            return Some(call);
        }
        let process = thread.process();
        match call {
            Call::ConnectAttach { nd, pid, chid } if nd != 0 => {
                if let Err(e) = self.connection_room(process) {
                    self.complete(thread, Err(e));
                    return None;
                }
                let call = Call::ConnectAttach { nd: 0, pid, chid };
                let what = Forwarded::Connect {
                    pid: Some(pid),
                    chid: Some(chid),
                };
                self.forward(now, thread, nd, what, call);
                None
            }
            Call::NameOpen { name } => {
                let Some((node, rest)) = name.split_once('/') else {
                    return Some(Call::NameOpen { name });
                };
                if node == self.local_name {
                    return Some(Call::NameOpen {
                        name: rest.to_owned(),
                    });
                }
                match self.node_nd(node) {
                    Some(_) if self.connection_room(process).is_err() => {
                        self.complete(thread, Err(Errno::EAGAIN));
                    }
                    Some(nd) => {
                        let what = Forwarded::Connect {
                            pid: None,
                            chid: None,
                        };
                        let call = Call::NameOpen {
                            name: rest.to_owned(),
                        };
                        self.forward(now, thread, nd, what, call);
                    }
                    None => self.complete(thread, Err(Errno::EHOSTUNREACH)),
                }
                None
            }
            Call::PathResolve { path, file_type } => {
                match self.net_path(&path) {
                    NetPath::Local(path) => return Some(Call::PathResolve { path, file_type }),
                    NetPath::Remote(nd, path) => {
                        let call = Call::PathResolve { path, file_type };
                        self.forward(now, thread, nd, Forwarded::Paths, call);
                    }
                    NetPath::Bad(e) => self.complete(thread, Err(e)),
                }
                None
            }
            Call::PathList { path } => {
                match self.net_path(&path) {
                    NetPath::Local(path) => return Some(Call::PathList { path }),
                    NetPath::Remote(nd, path) => {
                        self.forward(now, thread, nd, Forwarded::Paths, Call::PathList { path });
                    }
                    NetPath::Bad(e) => self.complete(thread, Err(e)),
                }
                None
            }
            Call::MsgSend {
                coid,
                data,
                reply_cap,
                priority,
                realtime,
                timeout,
            } => {
                let Some(rc) = self.remote_coid(process, coid) else {
                    return Some(Call::MsgSend {
                        coid,
                        data,
                        reply_cap,
                        priority,
                        realtime,
                        timeout,
                    });
                };
                let max = self.config.max_message_size;
                let r = rc.and_then(|rc| {
                    if data.len() as u64 > max || reply_cap > max {
                        Err(Errno::EMSGSIZE)
                    } else {
                        Ok(rc)
                    }
                });
                match r {
                    Err(e) => self.complete(thread, Err(e)),
                    Ok(rc) => {
                        let call = Call::MsgSend {
                            coid: rc.rc,
                            data,
                            reply_cap,
                            priority,
                            realtime,
                            timeout,
                        };
                        self.forward(now, thread, rc.nd, Forwarded::Pass, call);
                    }
                }
                None
            }
            Call::MsgSendPulse {
                coid,
                priority,
                code,
                value,
            } => {
                let Some(rc) = self.remote_coid(process, coid) else {
                    return Some(call);
                };
                // The code first, as a local MsgSendPulse checks it.
                let r = if (PulseCode::MINAVAIL..=PulseCode::MAXAVAIL).contains(&code) {
                    rc.and_then(|rc| self.pulse_one_way(thread, rc, priority, code, value))
                } else {
                    Err(Errno::EINVAL)
                };
                self.complete(thread, r.map(|()| Completion::Done));
                None
            }
            Call::ConnectDetach { coid } => {
                let Some(c) = self
                    .processes
                    .get(&process)
                    .and_then(|p| p.remote.get(&coid))
                    .copied()
                else {
                    return Some(call);
                };
                if c.detaching {
                    // Another thread's detach already took it: it no longer exists.
                    self.complete(thread, Err(Errno::EINVAL));
                    return None;
                }
                let (nd, rc, epoch) = (c.nd, c.rc, c.epoch);
                if self.node_reachable(nd).ok() == Some(epoch) {
                    // Live, or dead because its channel went: the server node still holds
                    // the connection (and its scoid reference) until it is detached.
                    if let Some(c) = self
                        .processes
                        .get_mut(&process)
                        .and_then(|p| p.remote.get_mut(&coid))
                    {
                        c.detaching = true;
                    }
                    let call = Call::ConnectDetach { coid: rc };
                    self.forward(now, thread, nd, Forwarded::Detach { coid }, call);
                } else {
                    // From an earlier link: the peer forgot it when it saw us go.
                    self.drop_remote(process, coid);
                    self.complete(thread, Ok(Completion::Done));
                }
                None
            }
            Call::MsgRegisterEvent { event, server_coid } => {
                let Some(rc) = self.remote_coid(process, server_coid) else {
                    return Some(call);
                };
                let local_ok = (PulseCode::MINAVAIL..=PulseCode::MAXAVAIL).contains(&event.code)
                    && self.live_connection(process, event.coid).is_ok();
                let held = self.events_held(process) as u64;
                if local_ok && rc.is_ok() {
                    if let Err(e) = self.within(process, Limit::Events, held, 1) {
                        self.complete(thread, Err(e));
                        return None;
                    }
                }
                match rc {
                    Ok(rc) if local_ok => {
                        let what = Forwarded::RegisterEvent {
                            event,
                            server_pid: rc.pid,
                        };
                        let call = Call::MsgRegisterEvent {
                            event,
                            server_coid: rc.rc,
                        };
                        self.forward(now, thread, rc.nd, what, call);
                    }
                    _ => self.complete(thread, Err(Errno::EINVAL)),
                }
                None
            }
            Call::MsgUnregisterEvent { event } => {
                let Some(r) = self.remote_events.get(&(process, event)) else {
                    return Some(call);
                };
                let nd = r.nd;
                self.forward(
                    now,
                    thread,
                    nd,
                    Forwarded::UnregisterEvent { id: event },
                    call,
                );
                None
            }
            other => Some(other),
        }
    }

    /// One-way pulse of `thread` on remote connection `rc` (see [`Output::ForwardPulse`]):
    /// checked here as far as this node can (the caller checked the code and that the
    /// connection and its node are live; here the node's queue of unsent pulses has room, else `EAGAIN`), then handed to the
    /// link. The server node's own checks (its channel's queue, the connection there) are
    /// best effort: a failure there is counted there, not reported.
    fn pulse_one_way(
        &mut self,
        thread: ThreadKey,
        rc: RemoteConnection,
        priority: Priority,
        code: i8,
        value: i32,
    ) -> Result<(), Errno> {
        self.node_reachable(rc.nd)?;
        let max = self.config.max_unsent_pulses;
        let node = self.nodes.get_mut(&rc.nd).ok_or(Errno::EHOSTUNREACH)?;
        if node.unsent_pulses >= max {
            return Err(Errno::EAGAIN);
        }
        node.unsent_pulses += 1;
        self.outputs.push_back(Output::ForwardPulse {
            nd: rc.nd,
            thread,
            pulse: RemotePulse {
                coid: rc.rc,
                priority,
                code,
                value,
            },
        });
        Ok(())
    }

    /// `n` one-way pulses for node `nd` ([`Output::ForwardPulse`]) have left this node: sent
    /// on its link, or lost with it. Room for as many more.
    pub fn handle_pulses_sent(&mut self, nd: Nd, n: u64) {
        if let Some(node) = self.nodes.get_mut(&nd) {
            node.unsent_pulses = node.unsent_pulses.saturating_sub(n);
        }
    }

    /// One-way pulses for node `nd` handed to its link and not yet reported sent.
    pub fn unsent_pulses(&self, nd: Nd) -> u64 {
        self.nodes.get(&nd).map_or(0, |n| n.unsent_pulses)
    }

    /// Send `call` of `thread` to node `nd` and block the thread until its result.
    fn forward(&mut self, now: Time, thread: ThreadKey, nd: Nd, what: Forwarded, call: Call) {
        if let Err(e) = self.node_reachable(nd) {
            if let Forwarded::Detach { coid } = what {
                self.drop_remote(thread.process(), coid);
            }
            self.complete(thread, Err(e));
            return;
        }
        let seq = self.next_forward_seq;
        self.next_forward_seq += 1;
        // The node keeps something for this thread (and its process) until told it exited.
        self.forwarded.insert((thread, nd));
        if let Some(p) = self.processes.get_mut(&thread.process()) {
            p.nodes.insert(nd);
        }
        self.outputs.push_back(Output::Forward {
            nd,
            thread,
            seq,
            call,
        });
        self.block(
            thread,
            Blocked {
                wait: Wait::Forward { nd, seq, what },
                timeout: None,
                since: now,
                immediate: false,
            },
        );
    }

    /// Finish `thread`'s forwarded call with `result` if it is waiting for one (the one
    /// numbered `seq`, if given).
    pub(super) fn settle_blocked_forward(
        &mut self,
        thread: ThreadKey,
        seq: Option<u64>,
        result: Result<Completion, Errno>,
    ) {
        let Some(Blocked {
            wait:
                Wait::Forward {
                    nd,
                    seq: current,
                    what,
                },
            ..
        }) = self.blocked.get(&thread).copied()
        else {
            return;
        };
        if seq.is_some_and(|s| s != current) {
            return;
        }
        self.forget_blocked(thread);
        let result = self.settle_forward(thread.process(), nd, what, result);
        self.complete(thread, result);
    }

    /// The local side effects of a forwarded call's `result`; returns what the caller gets.
    pub(super) fn settle_forward(
        &mut self,
        process: ProcessKey,
        nd: Nd,
        what: Forwarded,
        result: Result<Completion, Errno>,
    ) -> Result<Completion, Errno> {
        match what {
            Forwarded::Pass => result,
            Forwarded::Connect { pid, chid } => match result {
                Ok(Completion::Coid(rc)) => {
                    let epoch = self.node_reachable(nd).map_err(|_| Errno::ESRCH)?;
                    let p = self.processes.get_mut(&process).ok_or(Errno::ESRCH)?;
                    let coid = p.coids.alloc().ok_or(Errno::EAGAIN)?;
                    p.remote_by_rc.insert((nd, epoch, rc, coid));
                    p.remote.insert(
                        coid,
                        RemoteConnection {
                            nd,
                            rc,
                            pid,
                            chid,
                            epoch,
                            dead: false,
                            detaching: false,
                        },
                    );
                    Ok(Completion::Coid(coid))
                }
                Ok(_) => Err(Errno::EPROTO),
                Err(e) => Err(e),
            },
            Forwarded::Detach { coid } => {
                self.drop_remote(process, coid);
                // The coid existed here and is gone now, whatever the server node still held.
                result.or(Ok(Completion::Done))
            }
            Forwarded::RegisterEvent { event, server_pid } => match result {
                Ok(Completion::Event(id)) => {
                    self.remote_events.insert(
                        (process, id),
                        RemoteEvent {
                            nd,
                            server_pid,
                            event,
                        },
                    );
                    Ok(Completion::Event(id))
                }
                Ok(_) => Err(Errno::EPROTO),
                Err(e) => Err(e),
            },
            Forwarded::UnregisterEvent { id } => {
                self.remote_events.remove(&(process, id));
                result
            }
            Forwarded::Paths => match result {
                Ok(Completion::Paths(mut found)) => {
                    // The serving node answers only its own attachments (nd 0 there).
                    found.retain(|m| m.nd == 0);
                    for m in &mut found {
                        m.nd = nd;
                    }
                    Ok(Completion::Paths(found))
                }
                Ok(_) => Err(Errno::EPROTO),
                Err(e) => Err(e),
            },
        }
    }

    /// Where a path of the pathname space is resolved: `/net/<this node>/x` is `/x` here,
    /// `/net/<peer>/x` is `/x` on that peer (unknown node: `ENOENT`, as for any path that
    /// names nothing), anything else is local.
    fn net_path(&self, path: &str) -> NetPath {
        let path = match crate::paths::normalize(path) {
            Ok(p) => p,
            Err(e) => return NetPath::Bad(e),
        };
        let Some((node, rest)) = crate::paths::split_net(&path) else {
            return NetPath::Local(path);
        };
        if node == self.local_name {
            return NetPath::Local(rest);
        }
        match self.node_nd(node) {
            Some(nd) => NetPath::Remote(nd, rest),
            None => NetPath::Bad(Errno::ENOENT),
        }
    }

    /// Kill every live remote connection matching `which`, with coid-death pulses.
    pub(super) fn kill_remote_connections(&mut self, which: impl Fn(&RemoteConnection) -> bool) {
        let mut killed = Vec::new();
        for (key, p) in self.processes.iter_mut() {
            for (coid, c) in p.remote.iter_mut() {
                if !c.dead && which(c) {
                    c.dead = true;
                    killed.push((*key, *coid));
                }
            }
        }
        self.coid_death_pulses(killed);
    }

    /// `_PULSE_CODE_COIDDEATH` (value = coid) to each owner's death channel (the first of its
    /// `COID_DISCONNECT` channels): one pulse per dead connection, however many channels
    /// carry the flag.
    pub(super) fn coid_death_pulses(&mut self, killed: Vec<(ProcessKey, Coid)>) {
        for (client, coid) in killed {
            let death = self.processes.get(&client).and_then(|p| p.death_channel());
            if let Some(chid) = death {
                self.send_system_pulse(client, chid, PulseCode::COIDDEATH, coid, 0);
            }
        }
    }

    /// Queue a notice to node `nd`.
    pub(super) fn notify(&mut self, nd: Nd, notice: Notice) {
        self.outputs.push_back(Output::Notify { nd, notice });
    }
}
