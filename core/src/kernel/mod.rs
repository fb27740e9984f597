//! The [`Kernel`]: every channel, connection and in-flight message of one node.
//!
//! The state machine is split by concept, one file each:
//! - `process.rs`: processes and threads, thread and process exit;
//! - `channel.rs`: channels, their receive queues and waiting receivers, `MsgReceive`;
//! - `direct.rs`: channels served on the direct path: what the kernel holds for them;
//! - `connection.rs`: coids, scoids and their refcounts, disconnect and coid-death pulses;
//! - `message.rs`: in-flight messages: send, reply, error, read, write, info;
//! - `pulses.rs`: `MsgSendPulse` and the system pulses the kernel sends itself;
//! - `unblock.rs`: `Call::Unblock`, timeouts firing, the `_NTO_CHF_UNBLOCK` rules;
//! - `names.rs`: `name_attach` / `name_detach` / `name_open`;
//! - `paths.rs`: the pathname space: `resmgr_attach` / `resmgr_detach`, resolving a path to
//!   the managers it reaches;
//! - `events.rs`: registered pulse events;
//! - `timers.rs`: the deadline set behind `poll_timeout` / `handle_timeout`;
//! - `numbering.rs`: lowest-free chids, coids and scoids; rcvids below 2^31;
//! - `priority.rs`: priority inheritance on receive and server boost (`poll_priority`);
//! - `limits.rs`: per-process and per-channel bounds, and which were hit;
//! - `nodes.rs`: the node table (peers, names, up/down), node down;
//! - `remote.rs`: calls across nodes: remote connections, forwarded calls, notices;
//! - `introspect.rs`: read-only snapshots of all of the above, for `pidin`-style tools.

mod channel;
mod connection;
mod direct;
mod events;
mod introspect;
mod limits;
mod message;
mod names;
mod nodes;
mod numbering;
mod paths;
mod priority;
mod process;
mod pulses;
mod remote;
mod served;
mod timers;
mod unblock;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::call::{Call, Completion};
use crate::errno::Errno;
use crate::ids::{Chid, EventId, Nd, Pid, ProcessKey, Rcvid, ThreadKey};
use crate::info::Credentials;
use crate::notice::Notice;

use self::events::RegisteredEvent;
use self::message::Message;
use self::nodes::Node;
use self::process::{Blocked, Process};
use self::remote::RemoteEvent;
use self::served::Served;

pub use self::direct::{DIRECT_SEND_GRACE, DirectHead};
pub use self::introspect::{
    ChannelSnapshot, ConnectionSnapshot, ConnectionTarget, NameSnapshot, ProcessSnapshot, Records,
    ScoidSnapshot, Snapshot, ThreadSnapshot, ThreadState,
};
pub use self::limits::{Limit, LimitHit, Limits};
pub use self::numbering::RCVID_MAX;
pub use self::paths::PathSnapshot;
pub use self::priority::{PriorityCause, PriorityChange};
pub use self::served::RemotePulse;

/// Time as the driver measures it: elapsed since an epoch the driver picks. The kernel never
/// reads a clock.
pub type Time = Duration;

/// Kernel limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest send or reply buffer accepted (`EMSGSIZE` above).
    pub max_message_size: u64,
    /// What one process (local or remote) and one channel may hold.
    pub limits: Limits,
    /// One-way pulses to one peer node handed to its link and not yet sent
    /// ([`Output::ForwardPulse`] not yet reported by [`Kernel::handle_pulses_sent`]): past
    /// it a remote `MsgSendPulse` fails `EAGAIN`, so a sender faster than the link waits
    /// instead of growing a queue.
    pub max_unsent_pulses: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 16 * 1024 * 1024,
            limits: Limits::default(),
            max_unsent_pulses: DEFAULT_MAX_UNSENT_PULSES,
        }
    }
}

/// Default of [`Config::max_unsent_pulses`].
pub const DEFAULT_MAX_UNSENT_PULSES: u64 = 4096;

/// What the kernel asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The blocking or immediate call of `thread` finished.
    Complete {
        /// The thread whose call finished.
        thread: ThreadKey,
        /// Its result.
        result: Result<Completion, Errno>,
    },
    /// Send `call` of local `thread` to node `nd` (as `thread`'s call there); its result comes
    /// back through [`Kernel::handle_forward_result`]. Coids in `call` are the server node's.
    Forward {
        /// Node to send the call to.
        nd: Nd,
        /// The calling (local) thread, blocked until the result.
        thread: ThreadKey,
        /// This node's number for the call (it only grows): the server node orders a cancel
        /// with its call by it ([`Kernel::handle_remote_call`]), and its result comes back
        /// with it.
        seq: u64,
        /// The call as the server node must run it.
        call: Call,
    },
    /// Cancel the call `seq` that `thread` forwarded to node `nd` (that node hands it to
    /// [`Kernel::handle_remote_unblock`], in whatever order it arrives with the call); the
    /// result still comes through [`Kernel::handle_forward_result`].
    ForwardUnblock {
        /// Node the call went to.
        nd: Nd,
        /// The local thread whose forwarded call is cancelled.
        thread: ThreadKey,
        /// The call's seq (as its [`Output::Forward`] said).
        seq: u64,
    },
    /// A pulse of local `thread` for node `nd`, one way: the thread's `MsgSendPulse` has
    /// completed already (remote pulses are best effort in QNX: "across the native Neutrino
    /// network, you can't be guaranteed even that the receiver is still alive"). The node
    /// hands it to [`Kernel::handle_remote_pulse`]; its failure there is counted, never
    /// reported back. The link carries it before any call the thread forwards to `nd` after
    /// it (the daemon's pulse stream and call tags keep that order). Once it has left (sent,
    /// or lost with its link) the driver reports it with [`Kernel::handle_pulses_sent`].
    ForwardPulse {
        /// Node to send the pulse to.
        nd: Nd,
        /// The sending (local) thread; its process's credentials go with the pulse.
        thread: ThreadKey,
        /// The pulse (its coid as the server node numbers the connection).
        pulse: RemotePulse,
    },
    /// Tell node `nd` about something outside any call.
    Notify {
        /// Node to tell.
        nd: Nd,
        /// What happened.
        notice: Notice,
    },
}

/// The message-passing state machine of one node.
///
/// Call order, for a driver:
/// 1. [`Kernel::handle_process_start`] when a process is first seen (credentials from the kernel);
/// 2. [`Kernel::handle_call`] for each call a thread makes (a thread makes one call at a time);
/// 3. [`Kernel::handle_thread_exit`] / [`Kernel::handle_process_exit`] when a thread's or
///    process's session ends;
/// 4. after every input, drain [`Kernel::poll_output`] until `None`, then re-arm one timer at
///    [`Kernel::poll_timeout`] and call [`Kernel::handle_timeout`] when it fires; drain
///    [`Kernel::poll_limit_hit`] too (limits refused for the first time, to log).
///
/// Across nodes, the driver only carries things; the kernel decides what they mean:
/// - configures peers with [`Kernel::add_node`] and reports each link with
///   [`Kernel::handle_node_up`] (with the peer's incarnation: a new one while the node is up
///   means it restarted) and the loss of a node's last link with [`Kernel::handle_node_down`];
/// - carries [`Output::Forward`] / [`Output::ForwardUnblock`] to the peer, which hands them
///   to [`Kernel::handle_remote_call`] / [`Kernel::handle_remote_unblock`] as a thread with
///   our nd, in whatever order they arrive; the peer's [`Output::Complete`] for that thread
///   comes back, with the call's seq, into [`Kernel::handle_forward_result`]; a call whose
///   stream ended before its answer is [`Kernel::handle_remote_call_abandoned`] there and
///   `Err(ESRCH)` here;
/// - carries [`Output::Notify`] to the peer, which hands it to [`Kernel::handle_notice`];
/// - carries [`Output::ForwardPulse`] to the peer one way, before any later call of the
///   same thread to that peer, where it becomes [`Kernel::handle_remote_pulse`]; reports
///   each with [`Kernel::handle_pulses_sent`] once it left (or was lost).
///
/// `net` (feature `net`) links several kernels this way in memory, for tests.
///
/// Every call produces exactly one [`Output::Complete`] for its thread: at once for
/// non-blocking calls, later for `MsgSend`, `MsgReceive` and forwarded calls. A call from a thread that is
/// still blocked in an earlier call is a driver bug; it completes with `EPROTO` and the
/// blocked call is left alone. A thread or process that exits gets no completion.
///
/// A call from a process that [`Kernel::handle_process_start`] never announced registers the
/// process with default (zero) credentials rather than failing.
#[derive(Debug)]
pub struct Kernel {
    config: Config,
    /// Live processes, local and remote.
    processes: BTreeMap<ProcessKey, Process>,
    /// Threads blocked in `MsgSend` or `MsgReceive`. A thread not in here is not blocked.
    blocked: BTreeMap<ThreadKey, Blocked>,
    /// The threads of `blocked` that wait in a `MsgSend` or a forwarded call (not a
    /// `MsgReceive`), by the time of that call.
    callers: BTreeSet<(Time, ThreadKey)>,
    /// In-flight messages (queued or received, not yet answered), by rcvid.
    messages: BTreeMap<Rcvid, Message>,
    /// Next rcvid candidate (see `numbering.rs`).
    rcvid_counter: Rcvid,
    /// The rcvid counter went past its maximum at least once.
    rcvids_wrapped: bool,
    /// Incarnation counter, so that a dead connection can never reach a new process that
    /// reused a pid.
    next_generation: u64,
    /// Sequence number for FIFO order within a priority in receive queues.
    next_seq: u64,
    /// Local names: name → (owner, chid).
    names: BTreeMap<String, (ProcessKey, Chid)>,
    /// Attached paths by normalized path, each list in resolve order (`paths.rs`).
    paths: BTreeMap<String, Vec<u32>>,
    /// `FTYPEONLY` attachments by file type, in resolve order.
    ftype_only: BTreeMap<u32, Vec<u32>>,
    /// Every attachment, by id.
    path_entries: BTreeMap<u32, paths::PathEntry>,
    /// Attachment ids in use.
    path_ids: numbering::LowestFree,
    /// Registered events.
    events: BTreeMap<EventId, RegisteredEvent>,
    /// Next event handle.
    next_event: EventId,
    /// Peer nodes, by nd.
    nodes: BTreeMap<Nd, Node>,
    /// This node's name (for `node/name` lookups).
    local_name: String,
    /// Next seq of a forwarded call ([`Output::Forward`]).
    next_forward_seq: u64,
    /// Remote threads whose calls are served here: their current call's seq, an early
    /// unblock (see `served.rs`).
    served: BTreeMap<ThreadKey, Served>,
    /// Local threads that forwarded calls to a node (each told of the thread's exit, so that
    /// it forgets what it keeps for the thread: `remote.rs`).
    forwarded: BTreeSet<(ThreadKey, Nd)>,
    /// Remote processes that exited, remembered (bounded) so that a call their exit notice
    /// overtook does not bring them back (`served.rs`).
    exited: served::Exited,
    /// Events local processes registered with servers on other nodes.
    remote_events: BTreeMap<(ProcessKey, EventId), RemoteEvent>,
    /// Remote event deliveries refused.
    rejected_remote_events: u64,
    /// One-way pulses from peers refused here ([`Kernel::handle_remote_pulse`]).
    rejected_remote_pulses: u64,
    /// Armed deadlines of blocked threads.
    deadlines: BTreeSet<(Time, ThreadKey)>,
    /// Outputs not yet drained.
    outputs: VecDeque<Output>,
    /// Limits hit for the first time by a process, not yet drained.
    limit_hits: VecDeque<LimitHit>,
    /// Refusals per [`Limit`] (index: its discriminant), for metrics.
    limit_refusals: [u64; Limit::ALL.len()],
    /// Priority inheritance and boosts (`priority.rs`).
    inheritance: priority::Inheritance,
    /// The latest `now` an input carried (arrival times of items queued on direct channels).
    clock: Time,
    /// Direct channels whose queue changed since [`Kernel::poll_direct_head`] last looked.
    direct_dirty: BTreeSet<(ProcessKey, Chid)>,
    /// The daemon's word, for the next `MsgSend` only, that a thread of this direct channel
    /// sleeps in a receive on the direct path ([`Kernel::hint_direct_receiver`]).
    direct_waiting: Option<(ProcessKey, Chid)>,
}

impl Kernel {
    /// A kernel with no processes.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            processes: BTreeMap::new(),
            blocked: BTreeMap::new(),
            callers: BTreeSet::new(),
            messages: BTreeMap::new(),
            rcvid_counter: 1,
            rcvids_wrapped: false,
            next_generation: 1,
            next_seq: 0,
            names: BTreeMap::new(),
            paths: BTreeMap::new(),
            ftype_only: BTreeMap::new(),
            path_entries: BTreeMap::new(),
            path_ids: numbering::LowestFree::default(),
            events: BTreeMap::new(),
            next_event: 1,
            nodes: BTreeMap::new(),
            local_name: nodes::DEFAULT_LOCAL_NAME.to_owned(),
            next_forward_seq: 1,
            served: BTreeMap::new(),
            forwarded: BTreeSet::new(),
            exited: served::Exited::default(),
            remote_events: BTreeMap::new(),
            rejected_remote_events: 0,
            rejected_remote_pulses: 0,
            deadlines: BTreeSet::new(),
            outputs: VecDeque::new(),
            limit_hits: VecDeque::new(),
            limit_refusals: [0; Limit::ALL.len()],
            inheritance: priority::Inheritance::default(),
            clock: Time::ZERO,
            direct_dirty: BTreeSet::new(),
            direct_waiting: None,
        }
    }

    /// The limits this kernel enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether the local process `pid` is known.
    pub fn has_process(&self, pid: Pid) -> bool {
        self.processes.contains_key(&ProcessKey::local(pid))
    }

    /// Whether `thread` is blocked in a `MsgSend`, a `MsgReceive` or a call forwarded to
    /// another node.
    pub fn is_blocked(&self, thread: ThreadKey) -> bool {
        self.blocked.contains_key(&thread)
    }

    /// Number of messages sent and not yet answered (queued or received).
    pub fn messages_in_flight(&self) -> usize {
        self.messages.len()
    }

    /// Number of threads waiting for an answer: blocked in a `MsgSend` (SEND- or
    /// REPLY-blocked, local or remote callers) or in a call forwarded to another node. Threads
    /// waiting in `MsgReceive` do not count.
    pub fn callers_waiting(&self) -> usize {
        self.callers.len()
    }

    /// When the most recent call still waiting for an answer was made (`None`: no caller
    /// waits). A call younger than a round trip is likely to be answered soon; one that
    /// has waited long (a client parked on a server that answers on an event) is not.
    pub fn newest_caller_since(&self) -> Option<Time> {
        self.callers.last().map(|&(since, _)| since)
    }

    /// A process appeared (idempotent: credentials of a known process are kept).
    pub fn handle_process_start(&mut self, process: ProcessKey, cred: Credentials) {
        if !self.processes.contains_key(&process) {
            let generation = self.next_generation;
            self.next_generation += 1;
            self.processes
                .insert(process, Process::new(cred, generation));
        }
    }

    /// `thread` makes `call` at `now`.
    pub fn handle_call(&mut self, now: Time, thread: ThreadKey, call: Call) {
        self.clock = self.clock.max(now);
        if self.blocked.contains_key(&thread) {
            self.complete(thread, Err(Errno::EPROTO));
            return;
        }
        self.handle_process_start(thread.process(), Credentials::default());
        let Some(call) = self.remote_call(now, thread, call) else {
            self.handle_timeout(now);
            return;
        };
        match call {
            Call::ChannelCreate { flags } => {
                let r = self
                    .channel_create(thread.process(), flags)
                    .map(Completion::Chid);
                self.complete(thread, r);
            }
            Call::ChannelDestroy { chid } => {
                let r = self
                    .channel_destroy(thread.process(), chid)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::ConnectAttach { nd, pid, chid } => {
                let r = self
                    .connect_attach(thread.process(), nd, pid, chid)
                    .map(Completion::Coid);
                self.complete(thread, r);
            }
            Call::ConnectDetach { coid } => {
                let r = self
                    .connect_detach(thread.process(), coid)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::ScoidDetach { scoid } => {
                let r = self
                    .scoid_detach(thread.process(), scoid)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::ConnectClientInfo { scoid } => {
                let r = self
                    .client_info(thread.process(), scoid)
                    .map(Completion::ClientInfo);
                self.complete(thread, r);
            }
            Call::MsgSend {
                coid,
                data,
                reply_cap,
                priority,
                realtime,
                timeout,
            } => {
                let sched = message::SenderSched { priority, realtime };
                self.msg_send(now, thread, coid, data, reply_cap, sched, timeout);
            }
            Call::MsgReceive { chid, cap, timeout } => {
                self.msg_receive(now, thread, chid, cap, timeout);
            }
            Call::MsgReply {
                rcvid,
                status,
                data,
            } => {
                let r = self.msg_reply(thread.process(), rcvid, status, data);
                self.complete(thread, r.map(|()| Completion::Done));
            }
            Call::MsgError { rcvid, errno } => {
                let r = self.msg_error(thread.process(), rcvid, errno);
                self.complete(thread, r.map(|()| Completion::Done));
            }
            Call::MsgRead { rcvid, offset, len } => {
                let r = self
                    .msg_read(thread.process(), rcvid, offset, len)
                    .map(Completion::Data);
                self.complete(thread, r);
            }
            Call::MsgWrite {
                rcvid,
                offset,
                data,
            } => {
                let r = self.msg_write(thread.process(), rcvid, offset, data);
                self.complete(thread, r.map(Completion::Count));
            }
            Call::MsgInfo { rcvid } => {
                let r = self.msg_info(thread.process(), rcvid).map(Completion::Info);
                self.complete(thread, r);
            }
            Call::MsgSendPulse {
                coid,
                priority,
                code,
                value,
            } => {
                let r = self.msg_send_pulse(thread.process(), coid, priority, code, value);
                self.complete(thread, r.map(|()| Completion::Done));
            }
            Call::NameAttach { name, flags } => {
                let r = self
                    .name_attach(thread.process(), &name, flags)
                    .map(Completion::Chid);
                self.complete(thread, r);
            }
            Call::NameAttachChannel { name, chid } => {
                let r = self
                    .name_attach_channel(thread.process(), &name, chid)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::NameDetach { chid } => {
                let r = self
                    .name_detach(thread.process(), chid)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::NameOpen { name } => {
                let r = self
                    .name_open(thread.process(), &name)
                    .map(Completion::Coid);
                self.complete(thread, r);
            }
            Call::PathAttach {
                path,
                chid,
                flags,
                file_type,
            } => {
                let r = self
                    .path_attach(thread.process(), &path, chid, flags, file_type)
                    .map(|id| Completion::Count(u64::from(id)));
                self.complete(thread, r);
            }
            Call::PathDetach { id } => {
                let r = self
                    .path_detach(thread.process(), id)
                    .map(|()| Completion::Done);
                self.complete(thread, r);
            }
            Call::PathResolve { path, file_type } => {
                let r = self.path_resolve(&path, file_type).map(Completion::Paths);
                self.complete(thread, r);
            }
            Call::PathList { path } => {
                let r = self.path_list(&path).map(Completion::Paths);
                self.complete(thread, r);
            }
            Call::MsgRegisterEvent { event, server_coid } => {
                let r = self.register_event(thread.process(), event, server_coid);
                self.complete(thread, r.map(Completion::Event));
            }
            Call::MsgUnregisterEvent { event } => {
                let r = self.unregister_event(thread.process(), event);
                self.complete(thread, r.map(|()| Completion::Done));
            }
            Call::MsgVerifyEvent { rcvid, event } => {
                let r = self
                    .verify_event(thread.process(), rcvid, event)
                    .map(|_| Completion::Done);
                self.complete(thread, r);
            }
            Call::MsgDeliverEvent {
                rcvid,
                event,
                value,
            } => {
                let r = self.deliver_event(thread.process(), rcvid, event, value);
                self.complete(thread, r.map(|()| Completion::Done));
            }
            Call::Unblock { tid } => {
                let target = ThreadKey { tid, ..thread };
                self.unblock(target, Errno::EINTR);
                self.complete(thread, Ok(Completion::Done));
            }
            Call::ConnectFlags { coid, mask, bits } => {
                let r = self.connect_flags(thread.process(), coid, mask, bits);
                self.complete(thread, r.map(|old| Completion::Count(u64::from(old))));
            }
            Call::MsgDeliverPulse {
                scoid,
                client_coid,
                event,
            } => {
                let r = self.deliver_pulse(thread.process(), scoid, client_coid, event);
                self.complete(thread, r.map(|()| Completion::Done));
            }
        }
        // A zero timeout makes the call non-blocking: fire what is already due.
        self.handle_timeout(now);
    }

    /// Give back the spare capacity of queues that grew under load and are drained now (the
    /// maps free their nodes as entries go; these queues keep their peak otherwise).
    pub fn shrink_to_fit(&mut self) {
        self.outputs.shrink_to_fit();
        self.limit_hits.shrink_to_fit();
    }

    /// Next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Queue the completion of `thread`'s call.
    fn complete(&mut self, thread: ThreadKey, result: Result<Completion, Errno>) {
        self.outputs.push_back(Output::Complete { thread, result });
    }

    /// Finish a blocked thread's call: forget its blocked state and deadline, then complete.
    fn release(&mut self, thread: ThreadKey, result: Result<Completion, Errno>) {
        self.forget_blocked(thread);
        self.complete(thread, result);
    }

    /// Forget `thread`'s blocked state and deadline without completing anything.
    fn forget_blocked(&mut self, thread: ThreadKey) -> Option<Blocked> {
        let blocked = self.blocked.remove(&thread)?;
        if blocked.wait.is_caller() {
            self.callers.remove(&(blocked.since, thread));
        }
        if let Some((deadline, _)) = blocked.timeout {
            self.deadlines.remove(&(deadline, thread));
        }
        Some(blocked)
    }
}
