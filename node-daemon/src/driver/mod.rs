//! The local driver: owns the [`Kernel`], feeds it calls and session ends, routes its outputs.
//!
//! # Concurrency design
//!
//! The kernel sits behind one `std::sync::Mutex`, locked briefly and never across an
//! `.await`. The session task that read a request frame locks it, calls
//! [`Kernel::handle_call`], drains [`Kernel::poll_output`] and unlocks:
//!
//! - the completion of the caller's own call (the common case: every non-blocking call, and a
//!   `MsgReceive` that finds a message waiting) is returned to that task, which writes it to
//!   its socket at once — no hop through another task;
//! - a completion for another thread (the `MsgReceive` a `MsgSend` satisfied, the `MsgSend` a
//!   `MsgReply` answered) is pushed onto that thread's session outbox (an unbounded mpsc
//!   queue, bounded in practice because a thread has at most one call outstanding); its session
//!   task wakes, turns it into a wire response and writes it. No wire conversion happens
//!   under the lock.
//!
//! A `MsgReplyReceive` (qnet extension, [`Driver::reply_receive`]) runs its reply and then its
//! receive as two kernel calls of the same thread under one lock hold; the reply's own `Done`
//! is dropped, so the server gets one response (the receive's, or the reply's error) and the
//! daemon saves one read, one write and one wake-up of the server per round trip.
//!
//! So a local `MsgSend`/`MsgReceive`/`MsgReply` round trip costs one task wake-up per
//! direction on top of the socket I/O a raw ping-pong does, and the daemon runs on a
//! `current_thread` runtime where that wake-up is a queue push, not a cross-core hand-off.
//! Measured with `examples/local_rtt.rs` (64-byte `MsgSend` round trip against a raw
//! Unix-socket ping-pong, same run, 2-core VM with other builds running): p50 ratio 1.6–1.9
//! on `current_thread`, 2.3–2.6 with two worker threads (`--worker-threads 2`), hence the
//! default.
//!
//! One timer task sleeps until [`Kernel::poll_timeout`]; every input re-arms it through a
//! `watch` channel when the deadline changes.
//!
//! Across nodes the driver only carries things; the forwarded-call protocol's decisions (call
//! seqs, a cancel that arrives before its call, a new call superseding an old one, what a
//! notice means, a peer's restart) are the kernel's (`qnet_core` `served.rs`, `remote.rs`,
//! `nodes.rs`). The kernel's `Forward`, `ForwardUnblock` and `Notify` outputs are handed to
//! the peer layer through the [`Network`] trait while the lock is held (a queue push or a
//! task spawn, never an await; the wire conversion happens in the task that writes). The
//! driver does not know the peer layer's types: `peer` depends on `driver`, never the
//! reverse. Remote threads are routed like local ones: the task serving a peer's call stream
//! registers an outbox while the call is blocked, and the completion is pushed there (and the
//! route dropped: a remote call answers once). Lock order: the driver's lock, then the peer
//! table's; never the reverse.
//!
//! The local wing is held the same way: the direct path's authority (`local::direct`) lives
//! in the driver's state as a [`DirectPath`], handed over by the server, and the sessions
//! call the driver. So the driver imports neither `peer` nor `local`; both depend on it.
//!
//! The driver counts what local clients call ([`CallCounters`], `counters.rs`: per kind,
//! their payload bytes, errors per errno), which the metrics read; it knows nothing of how
//! they are exposed.
//!
//! Process bookkeeping: a pid's THREAD and PROCESS sessions count towards its liveness (SHM
//! sessions never touch the kernel and do not count). The first counted session of a pid calls
//! [`Kernel::handle_process_start`]; a THREAD session's end calls
//! [`Kernel::handle_thread_exit`]; the end of the last counted session of a pid calls
//! [`Kernel::handle_process_exit`].

mod counters;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use qnet_core::{
    Call, Chid, Completion, Credentials, DirectHead, Errno, Kernel, Nd, Notice, Output, Pid,
    ProcessKey, RemotePulse, Scoid, ThreadKey, Time,
};
use qnet_proto::codec::DirectGrant;
use qnet_proto::convert::NetmgrRequest;
use qnet_proto::local;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::poll::Activity;

pub use counters::{CALL_KINDS, CallCounters, payload_len};

/// A call's result as the kernel gives it; the session turns it into its wire response after
/// the kernel's lock is released.
pub type Answer = Result<Completion, Errno>;

/// Where a thread session receives completions of its call made by other threads' inputs.
pub type Outbox = mpsc::UnboundedSender<Answer>;

/// The peer layer as the driver sees it: where the kernel's outputs for other nodes go. The
/// driver calls these with the kernel locked, so they must not block and must not call back
/// into the driver; wire conversion belongs to the tasks they hand the work to.
pub trait Network: std::fmt::Debug + Send + Sync {
    /// Send `call` of local `thread` (`cred`: its process's credentials) to node `nd` as its
    /// call `seq`. Its result comes back through [`Driver::forward_result`], once, whatever
    /// happens to the link (`ESRCH` without an answer).
    fn forward(&self, nd: Nd, thread: ThreadKey, seq: u64, call: Call, cred: Credentials);
    /// Send a one-way pulse of local `thread` to node `nd`, before any call the driver
    /// forwards there after it. `false`: no link took it
    /// (it is lost; the driver reports it sent). A pulse it took is reported once, sent or
    /// lost, through [`Driver::pulses_sent`].
    fn forward_pulse(&self, nd: Nd, thread: ThreadKey, pulse: RemotePulse) -> bool;
    /// Cancel the call `seq` local `thread` forwarded to node `nd`.
    fn forward_unblock(&self, nd: Nd, thread: ThreadKey, seq: u64);
    /// Tell node `nd` about `notice`.
    fn notify(&self, nd: Nd, notice: Notice);
    /// Local `thread` exited: give up the stream of its forwarded call, if any.
    fn abandon(&self, thread: ThreadKey);
}

/// The direct path's authority as the driver sees it (the local wing's
/// `local::direct::DirectRegistry`, handed over by the server with [`Driver::attach_direct`]).
/// It lives in the driver's state, under the kernel's lock, so that what it does keeps its
/// order with what the kernel does (a client's abandoned message gets its unblock pulse
/// before that client's disconnect pulse). The driver calls it with the kernel locked, so it
/// must not block and must not call back into the driver. As with [`Network`], the driver
/// does not know the local wing's types: `local` depends on `driver`, never the reverse.
pub trait DirectPath: std::fmt::Debug + Send {
    /// The layout version offered at the hello (0: off).
    fn offered(&self) -> u32;
    /// `server` serves `chid` (which the kernel has made direct, with `flags`) directly: the
    /// grant, and the table (read-write) and bells to hand over.
    fn serve(
        &mut self,
        server: Pid,
        chid: Chid,
        flags: u32,
    ) -> Result<(DirectGrant, [OwnedFd; 2]), Refusal>;
    /// `client` (with `cred`) wants the pair for its connection to `(server, chid, scoid,
    /// channel flags)`, made now if it has none (then `true`): the grant, and the pair, the
    /// server's table (read-only) and bells to hand over.
    fn map(
        &mut self,
        client: Pid,
        cred: Credentials,
        target: (Pid, Chid, Scoid, u32),
    ) -> Result<(DirectGrant, [OwnedFd; 3], bool), Refusal>;
    /// `server` wants the segment of its pair `index`.
    fn pair(&self, server: Pid, index: u32) -> Result<(DirectGrant, [OwnedFd; 1]), Refusal>;
    /// How many pairs were made for `chid` of `server` (`None`: not served directly).
    fn pairs_seq(&self, server: Pid, chid: Chid) -> Option<u32>;
    /// Publish what the kernel holds for a direct channel ([`Kernel::poll_direct_head`]).
    fn publish(&self, head: DirectHead);
    /// `chid` of `server` is gone: its clients' direct calls fail.
    fn channel_gone(&mut self, server: Pid, chid: Chid);
    /// Local process `pid` is gone, as a server and as a client; `abandoned(server, chid,
    /// scoid, priority, rcvid)` for each of its calls a server had received, so that the
    /// kernel sends the unblock pulse an `_NTO_CHF_UNBLOCK` channel wants.
    fn process_gone(&mut self, pid: Pid, abandoned: &mut dyn FnMut(Pid, Chid, Scoid, u32, i32));
    /// Local `client` may have detached its last connection to a direct channel:
    /// `connected(server, chid)` says whether it still has one.
    fn connections_changed(&mut self, client: Pid, connected: &dyn Fn(Pid, Chid) -> bool);
    /// The server boost of a direct send at `priority` to `chid` of `server`: the tid of the
    /// thread to raise, if it runs below `priority`.
    fn boost(&self, server: Pid, chid: Chid, priority: u8) -> Option<u32>;
    /// Direct calls in progress and receivers asleep, for `pidin`.
    fn states(&self) -> DirectStates;
    /// Whether a thread of `server` sleeps in a direct receive on `chid` (RECEIVE-blocked,
    /// as QNX would show it), for a send with a zero timeout.
    fn receiving_on(&self, server: Pid, chid: Chid) -> bool;
}

/// Why a direct request was refused: an errno for the library, which then keeps to the
/// daemon's path.
pub type Refusal = (Errno, &'static str);

/// The refusal while no direct path is attached (as `--direct off`'s).
const DIRECT_OFF: Refusal = (Errno::ENOTSUP, "the direct path is off (--direct off)");

/// What `pidin` shows of the direct path: calls in progress `(client, server, chid, call)`
/// and threads sleeping in a direct receive `(server, chid, tid)`.
#[derive(Debug, Default)]
pub struct DirectStates {
    /// Calls in progress.
    pub blocked: Vec<(Pid, Pid, Chid, qnet_direct::authority::Blocked)>,
    /// Receivers asleep.
    pub receiving: Vec<(Pid, Chid, u32)>,
}

/// A thread already has a live session.
#[derive(Debug, thiserror::Error)]
#[error("thread {0} already has a session")]
pub struct ThreadBusy(pub ThreadKey);

/// The kernel and the routing tables of the local sessions.
#[derive(Debug)]
pub struct Driver {
    state: Mutex<State>,
    epoch: Instant,
    timer: watch::Sender<Option<Time>>,
    /// The peer layer, when the daemon listens for peers.
    network: OnceLock<Arc<dyn Network>>,
    /// Noted on every kernel lock; keeps the busy poller polling (see `poll`).
    activity: Arc<Activity>,
    /// Calls made by local clients, per kind (`--metrics`).
    calls: CallCounters,
}

#[derive(Debug)]
struct State {
    kernel: Kernel,
    /// Local threads with a session, and remote threads blocked in a call served here.
    threads: HashMap<ThreadKey, Outbox>,
    /// Live THREAD + PROCESS sessions per local pid, and its credentials.
    processes: HashMap<Pid, (usize, Credentials)>,
    /// The daemon is shutting down ([`Driver::stop`]): completions no longer reach local
    /// sessions.
    stopping: bool,
    /// The direct path's authority (segments, vouched credentials, kernel heads, deaths);
    /// `None`: no direct path (until [`Driver::attach_direct`]).
    direct: Option<Box<dyn DirectPath>>,
}

impl Driver {
    /// A driver around a fresh kernel; time starts now.
    pub fn new(config: qnet_core::Config) -> Arc<Self> {
        let (timer, _) = watch::channel(None);
        let epoch = Instant::now();
        Arc::new(Self {
            state: Mutex::new(State {
                kernel: Kernel::new(config),
                threads: HashMap::new(),
                processes: HashMap::new(),
                stopping: false,
                direct: None,
            }),
            epoch,
            timer,
            network: OnceLock::new(),
            // Same epoch as the kernel's time, so the poller can age its waiting calls.
            activity: Arc::new(Activity::new(epoch)),
            calls: Default::default(),
        })
    }

    /// Calls made by local clients, per kind.
    pub fn call_counters(&self) -> &CallCounters {
        &self.calls
    }

    /// The activity the busy poller watches (every kernel lock notes it).
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Name this node (its `node/…` prefix means "here", and netmgr knows it), also when it
    /// runs without peers.
    pub fn set_local_node_name(&self, name: &str) {
        self.lock().kernel.set_local_node_name(name);
    }

    /// Name this node, seed its id base, and hand outputs for other nodes to `network`.
    pub fn attach_network(&self, local_name: &str, id_base: u64, network: Arc<dyn Network>) {
        let mut st = self.lock();
        st.kernel.set_local_node_name(local_name);
        st.kernel.set_id_base(id_base);
        let _ = self.network.set(network);
    }

    fn now(&self) -> Time {
        self.epoch.elapsed()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.activity.note();
        // A poisoned lock means a kernel bug panicked a session task; the other sessions are
        // still better served than dropped.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A THREAD session for `thread` opened. Starts its process if this is its first session.
    pub fn register_thread(
        &self,
        thread: ThreadKey,
        cred: Credentials,
        outbox: Outbox,
    ) -> Result<(), ThreadBusy> {
        let mut st = self.lock();
        match st.threads.entry(thread) {
            Entry::Occupied(_) => return Err(ThreadBusy(thread)),
            Entry::Vacant(v) => {
                v.insert(outbox);
            }
        }
        st.process_session_opened(thread.pid, cred);
        Ok(())
    }

    /// The THREAD session of `thread` closed: the thread is gone, and its process with it if
    /// that was its last session.
    pub fn unregister_thread(&self, thread: ThreadKey) {
        let now = self.now();
        let mut st = self.lock();
        if st.threads.remove(&thread).is_none() {
            return;
        }
        tracing::debug!(%thread, "thread exit");
        if let Some(network) = self.network.get() {
            network.abandon(thread);
        }
        st.kernel.handle_thread_exit(now, thread);
        st.process_session_closed(now, thread.pid);
        self.finish(&mut st, None);
    }

    /// A PROCESS session of `pid` opened.
    pub fn register_process(&self, pid: Pid, cred: Credentials) {
        self.lock().process_session_opened(pid, cred);
    }

    /// A PROCESS session of `pid` closed.
    pub fn unregister_process(&self, pid: Pid) {
        let now = self.now();
        let mut st = self.lock();
        st.process_session_closed(now, pid);
        self.finish(&mut st, None);
    }

    /// `thread` makes `call`. Returns its response if the call completed at once; otherwise
    /// the response arrives later on the thread's [`Outbox`].
    pub fn call(&self, thread: ThreadKey, mut call: Call) -> Option<local::Response> {
        self.calls.count(&call);
        // Whether the sender runs real-time is the daemon's reading, not the client's say.
        if let Call::MsgSend { realtime, .. } = &mut call {
            *realtime = crate::sched::sender_realtime(thread);
        }
        let now = self.now();
        let ends = match call {
            Call::ChannelDestroy { chid } | Call::NameDetach { chid } => Ends::Channel(chid),
            Call::ConnectDetach { .. } => Ends::Connection,
            _ => Ends::Nothing,
        };
        let mut st = self.lock();
        st.hint_direct_receiver(thread, &call);
        st.kernel.handle_call(now, thread, call);
        let result = self.finish(&mut st, Some(thread));
        // A name_detach of a name put on an existing channel leaves the channel.
        let ends = match ends {
            Ends::Channel(chid) if st.kernel.has_channel(thread.pid, chid) => Ends::Nothing,
            other => other,
        };
        if thread.nd == 0 {
            st.direct_ends(thread.pid, ends);
        }
        drop(st);
        if result.is_none() {
            tracing::debug!(%thread, "call blocked");
        }
        result.map(local::Response::from)
    }

    /// As [`Driver::call`], with the kernel's answer itself (for callers inside the daemon,
    /// e.g. the FUSE mount, that have no wire to write it to).
    pub fn call_answer(&self, thread: ThreadKey, call: Call) -> Option<Answer> {
        self.calls.count(&call);
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_call(now, thread, call);
        self.finish(&mut st, Some(thread))
    }

    /// Cancel local `thread`'s blocking call, as a signal does on QNX
    /// ([`Kernel::handle_unblock`]: `EINTR`, or the server's unblock pulse for a
    /// REPLY-blocked send on an `_NTO_CHF_UNBLOCK` channel): the FUSE mount's interrupt, and
    /// a signal handler that ran in a client thread blocked on its session
    /// (`ClientFrame.interrupt`). The answer, if this ends the call, goes where the call's
    /// own answer would.
    pub fn unblock(&self, thread: ThreadKey) {
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_unblock(now, thread);
        self.finish(&mut st, None);
    }

    /// Read-only access to the kernel for callers inside the daemon (listings).
    pub fn with_kernel<R>(&self, f: impl FnOnce(&Kernel) -> R) -> R {
        f(&self.lock().kernel)
    }

    /// `thread` makes `MsgReplyReceive` (a qnet extension): `reply` (a `MsgReply`), then,
    /// only if it succeeded, `receive` (a `MsgReceive`), under one hold of the lock. The
    /// reply's own `Done` is swallowed; the result is the reply's error, or the receive's
    /// response as [`Driver::call`] gives it (`None`: it blocked, the answer comes on the
    /// thread's [`Outbox`]). The reply completes before the receive starts, so the thread
    /// never has two calls at once.
    pub fn reply_receive(
        &self,
        thread: ThreadKey,
        reply: Call,
        receive: Call,
    ) -> Option<local::Response> {
        self.calls.count(&reply);
        self.calls.count(&receive);
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_call(now, thread, reply);
        match self.finish(&mut st, Some(thread)) {
            Some(Ok(Completion::Done)) => {}
            // The reply failed (e.g. ESRCH): no receive. (`None` cannot happen: a reply
            // never blocks; if it did, its answer would come on the outbox as for any call.)
            other => {
                drop(st);
                return other.map(local::Response::from);
            }
        }
        st.kernel.handle_call(now, thread, receive);
        let result = self.finish(&mut st, Some(thread));
        drop(st);
        if result.is_none() {
            tracing::debug!(%thread, "call blocked");
        }
        result.map(local::Response::from)
    }

    /// The direct path's layout version offered at the hello (0: off).
    pub fn direct_offered(&self) -> u32 {
        self.lock().direct.as_ref().map_or(0, |d| d.offered())
    }

    /// The driver's epoch (time 0 of the kernel's times) on CLOCK_MONOTONIC, in ns: the clock
    /// the direct path stamps its messages with.
    pub fn epoch_ns(&self) -> u64 {
        qnet_direct::now_ns().saturating_sub(self.now().as_nanos() as u64)
    }

    /// The direct path's authority from now on (the server hands it over before any session).
    pub fn attach_direct(&self, direct: Box<dyn DirectPath>) {
        self.lock().direct = Some(direct);
    }

    /// `DirectServe`: local `server` serves `chid` directly from now on.
    pub fn direct_serve(
        &self,
        server: Pid,
        chid: Chid,
    ) -> Result<(DirectGrant, Vec<OwnedFd>), Refusal> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(direct) = st.direct.as_mut().filter(|d| d.offered() != 0) else {
            return Err(DIRECT_OFF);
        };
        let flags = st
            .kernel
            .set_channel_direct(server, chid)
            .map_err(|e| (e, "not a channel of the caller"))?;
        let (grant, fds) = direct.serve(server, chid, flags.0)?;
        // What the kernel already holds for it is published at once.
        self.finish(st, None);
        Ok((grant, fds.into()))
    }

    /// `DirectMap`: the pair of local `client`'s connection `coid`.
    pub fn direct_map(
        &self,
        client: Pid,
        coid: qnet_core::Coid,
    ) -> Result<(DirectGrant, Vec<OwnedFd>), Refusal> {
        let mut st = self.lock();
        let (server, chid, scoid, flags) = st
            .kernel
            .direct_target(client, coid)
            .ok_or((Errno::ENOTSUP, "not a live connection to a direct channel"))?;
        let cred = st.processes.get(&client).map(|p| p.1).unwrap_or_default();
        let (grant, fds, made) = st.direct.as_mut().ok_or(DIRECT_OFF)?.map(
            client,
            cred,
            (server, chid, scoid, flags.0),
        )?;
        if made {
            // Its receivers blocked in the kernel must wait on the direct path now.
            let now = self.now();
            st.kernel.kick_receivers(now, server, chid, Errno::ERESTART);
            self.finish(&mut st, None);
        }
        Ok((grant, fds.into()))
    }

    /// QNX's server boost for a direct send by local `client` on `coid` at `priority`: the
    /// channel's runner (the thread that last received on it, as its server published)
    /// rises to `priority` if it runs below it. Applied like the kernel's own boosts (only
    /// with `CAP_SYS_NICE`, only to a thread of the server process).
    pub fn direct_boost(
        &self,
        client: ThreadKey,
        coid: qnet_core::Coid,
        priority: qnet_core::Priority,
    ) {
        // As for a kernel send: a real-time sender (as the OS says) lends its policy.
        let realtime = crate::sched::sender_realtime(client);
        let st = self.lock();
        let Some((server, chid, _, flags)) = st.kernel.direct_target(client.pid, coid) else {
            return;
        };
        if flags.contains(qnet_core::ChannelFlags::FIXED_PRIORITY) {
            return;
        }
        if let Some(tid) = st
            .direct
            .as_ref()
            .and_then(|d| d.boost(server, chid, priority))
        {
            crate::sched::apply_one(qnet_core::PriorityChange {
                thread: ThreadKey::local(server, tid),
                priority,
                cause: qnet_core::PriorityCause::Boost,
                realtime: realtime.then_some(true),
            });
        }
    }

    /// `MsgReceive` by local `thread` on its direct channel `chid` that had no direct client
    /// when it looked (`pairs_seen`, the table's pair count): blocks in the kernel as on the
    /// socket path, so that other nodes' calls and older clients are handed over at once.
    /// `ERESTART` if a pair was made since; a pair made while it waits ends the wait with
    /// `ERESTART` too (see [`Driver::direct_map`]).
    pub fn direct_receive(
        &self,
        thread: ThreadKey,
        chid: Chid,
        cap: u64,
        timeout: Option<qnet_core::Timeout>,
        pairs_seen: u32,
        inherited: Option<qnet_core::Priority>,
    ) -> Option<local::Response> {
        let now = self.now();
        let mut st = self.lock();
        let seq = st
            .direct
            .as_ref()
            .and_then(|d| d.pairs_seq(thread.pid, chid));
        if seq != Some(pairs_seen) {
            return Some(local::Response::from(Err::<Completion, _>(Errno::ERESTART)));
        }
        if let Some(p) = inherited {
            st.kernel.handle_direct_inherited(thread, chid, p);
        }
        st.kernel
            .handle_call(now, thread, Call::MsgReceive { chid, cap, timeout });
        let result = self.finish(&mut st, Some(thread));
        drop(st);
        result.map(local::Response::from)
    }

    /// `DirectPair`: pair `index` of local `server`'s direct channels.
    pub fn direct_pair(
        &self,
        server: Pid,
        index: u32,
    ) -> Result<(DirectGrant, Vec<OwnedFd>), Refusal> {
        let (grant, fds) = (self.lock().direct.as_ref())
            .ok_or(DIRECT_OFF)?
            .pair(server, index)?;
        Ok((grant, fds.into()))
    }

    /// `netmgr_strtond` / `netmgr_ndtostr` from the node table; unknown → `ENOENT`.
    pub fn netmgr(&self, request: NetmgrRequest) -> local::Response {
        use local::response::Result as R;
        let st = self.lock();
        let result = match request {
            NetmgrRequest::StrToNd { name } => st.kernel.node_nd(&name).map(R::Nd),
            NetmgrRequest::NdToStr { nd } => st.kernel.node_name(nd).map(|n| R::NodeName(n.into())),
        };
        match result {
            Some(r) => local::Response { result: Some(r) },
            None => Errno::ENOENT.into(),
        }
    }

    /// The daemon is shutting down: from now on no completion is routed to a local session,
    /// so a call blocked at shutdown ends with its session's close (`EIO` in the library),
    /// never with what other sessions' closing does in the kernel. Call before cancelling
    /// the sessions.
    pub fn stop(&self) {
        self.lock().stopping = true;
    }

    /// Read-only introspection (see `admin`): `f` sees the kernel and the local threads that
    /// have a session, under the lock (so it must be quick and must not block).
    pub(crate) fn inspect<R>(
        &self,
        f: impl FnOnce(&Kernel, &mut dyn Iterator<Item = ThreadKey>) -> R,
    ) -> R {
        let st = self.lock();
        let mut threads = st.threads.keys().copied().filter(|t| t.nd == 0);
        f(&st.kernel, &mut threads)
    }

    /// Calls in progress on the direct path and threads sleeping in a direct receive, for
    /// `pidin`.
    pub(crate) fn direct_states(&self) -> DirectStates {
        let st = self.lock();
        st.direct.as_ref().map(|d| d.states()).unwrap_or_default()
    }

    /// The size of every table: the kernel's ([`Kernel::records`]), the routes of local
    /// thread sessions and of remote threads blocked here, and the live processes' sessions
    /// (`(records, thread sessions, remote routes, processes)`).
    pub(crate) fn tables(&self) -> (qnet_core::Records, usize, usize, usize) {
        let st = self.lock();
        let remote = st.threads.keys().filter(|t| t.nd != 0).count();
        (
            st.kernel.records(),
            st.threads.len() - remote,
            remote,
            st.processes.len(),
        )
    }

    /// Enforce `limits` from now on (a config reload).
    pub fn set_limits(&self, limits: qnet_core::Limits) {
        self.lock().kernel.set_limits(limits);
    }

    /// Configure peer node `nd` named `name`.
    pub fn add_node(&self, nd: Nd, name: &str) -> Result<(), Errno> {
        self.lock().kernel.add_node(nd, name)
    }

    /// A link to node `nd` (which numbers us `srcnd`, in its daemon's `incarnation`)
    /// completed its hello; `register` adds it to the peer table (under this lock, so node up
    /// and down keep their order). The kernel decides what the link means (the node's first,
    /// another one, or its restart).
    pub fn link_up(&self, nd: Nd, srcnd: Nd, incarnation: u64, register: impl FnOnce()) {
        let now = self.now();
        let mut st = self.lock();
        register();
        st.kernel.handle_node_up(now, nd, srcnd, incarnation);
        st.drop_stale_routes(nd);
        self.finish(&mut st, None);
    }

    /// A link to node `nd` closed; `unregister` removes it from the peer table and says
    /// whether it was the node's last one (then the node is down).
    pub fn link_down(&self, nd: Nd, unregister: impl FnOnce() -> bool) {
        let now = self.now();
        let mut st = self.lock();
        if unregister() {
            st.kernel.handle_node_down(now, nd);
            st.drop_stale_routes(nd);
            self.finish(&mut st, None);
        }
    }

    /// The answer to the call `seq` that `thread` forwarded to another node (the kernel drops
    /// it unless `thread` still waits for that call).
    pub fn forward_result(&self, thread: ThreadKey, seq: u64, result: Result<Completion, Errno>) {
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_forward_result(now, thread, seq, result);
        self.finish(&mut st, None);
    }

    /// Remote `thread` (with `cred`, as its node vouches) makes `call`, its node's call
    /// `seq`, here ([`Kernel::handle_remote_call`]). Returns its response if it completed at
    /// once; otherwise it arrives on `outbox`, once.
    pub fn remote_call(
        &self,
        thread: ThreadKey,
        seq: u64,
        cred: Credentials,
        call: Call,
        outbox: &Outbox,
    ) -> Option<local::Response> {
        let now = self.now();
        let mut st = self.lock();
        // The route of an older call of the thread goes: the kernel settles that call.
        st.threads.remove(&thread);
        st.hint_direct_receiver(thread, &call);
        st.kernel.handle_remote_call(now, thread, seq, cred, call);
        let result = self.finish(&mut st, Some(thread));
        if result.is_none() {
            st.threads.insert(thread, outbox.clone());
        }
        drop(st);
        result.map(local::Response::from)
    }

    /// The stream of remote `thread`'s call `seq` (routed to `outbox` while blocked) ended
    /// before its answer ([`Kernel::handle_remote_call_abandoned`]).
    pub fn remote_call_abandoned(&self, thread: ThreadKey, seq: u64, outbox: &Outbox) {
        let now = self.now();
        let mut st = self.lock();
        if st
            .threads
            .get(&thread)
            .is_some_and(|o| o.same_channel(outbox))
        {
            st.threads.remove(&thread);
        }
        st.kernel.handle_remote_call_abandoned(now, thread, seq);
        self.finish(&mut st, None);
    }

    /// `n` one-way pulses for node `nd` left its link (written, or lost with it):
    /// [`Kernel::handle_pulses_sent`].
    pub fn pulses_sent(&self, nd: Nd, n: u64) {
        if n > 0 {
            self.lock().kernel.handle_pulses_sent(nd, n);
        }
    }

    /// One-way pulses from another node, in the order they were sent, each from a thread of
    /// that node ([`Kernel::handle_remote_pulse`]), under one hold of the lock. Best effort: a refusal is counted by the kernel and logged here (debug).
    /// Returns how many were refused.
    pub fn remote_pulses(&self, pulses: impl IntoIterator<Item = (ThreadKey, RemotePulse)>) -> u64 {
        let now = self.now();
        let mut st = self.lock();
        let mut refused = 0;
        for (thread, pulse) in pulses {
            if let Err(errno) = st.kernel.handle_remote_pulse(now, thread, pulse) {
                refused += 1;
                tracing::debug!(%thread, ?pulse, %errno, "one-way pulse from a peer refused");
            }
        }
        self.finish(&mut st, None);
        refused
    }

    /// Remote `thread`'s node cancels its call `seq` ([`Kernel::handle_remote_unblock`]).
    pub fn remote_unblock(&self, thread: ThreadKey, seq: u64) {
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_remote_unblock(now, thread, seq);
        self.finish(&mut st, None);
    }

    /// A notice from node `nd` ([`Kernel::handle_notice`]).
    pub fn notice(&self, nd: Nd, notice: Notice) {
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_notice(now, nd, notice);
        self.finish(&mut st, None);
    }

    /// Expire the kernel's due timeouts.
    fn expire(&self) {
        let now = self.now();
        let mut st = self.lock();
        st.kernel.handle_timeout(now);
        self.finish(&mut st, None);
    }

    /// Drain the kernel's outputs (returning the one for `own`, to be converted after the
    /// lock is released; routing the rest) and re-arm the timer.
    fn finish(&self, st: &mut State, own: Option<ThreadKey>) -> Option<Result<Completion, Errno>> {
        let mut mine = None;
        crate::sched::apply_all(&mut st.kernel);
        while let Some(out) = st.kernel.poll_output() {
            match out {
                Output::Complete {
                    thread,
                    result: response,
                } => {
                    if let (Err(errno), 0) = (&response, thread.nd) {
                        self.calls.count_error(*errno);
                    }
                    if Some(thread) == own {
                        mine = Some(response);
                    } else if thread.nd != 0 {
                        // A remote call is answered once: its route goes with the answer.
                        if let Some(outbox) = st.threads.remove(&thread) {
                            let _ = outbox.send(response);
                        }
                    } else if st.stopping {
                        // Shutting down: what the closing sessions cause (a server's process
                        // exit → ESRCH) must not reach a client before its own session
                        // closes; every local caller gets EIO from the closed socket.
                        tracing::debug!(%thread, "completion dropped: shutting down");
                    } else if let Some(outbox) = st.threads.get(&thread) {
                        // The session may be closing; its completion has no one to go to.
                        let _ = outbox.send(response);
                    } else {
                        tracing::debug!(%thread, "completion for a thread without a session");
                    }
                }
                Output::Forward {
                    nd,
                    thread,
                    seq,
                    call,
                } => match self.network.get() {
                    Some(network) => {
                        let cred = st.processes.get(&thread.pid).map(|p| p.1);
                        network.forward(nd, thread, seq, call, cred.unwrap_or_default());
                    }
                    None => {
                        let now = self.now();
                        st.kernel
                            .handle_forward_result(now, thread, seq, Err(Errno::EHOSTUNREACH));
                    }
                },
                Output::ForwardPulse { nd, thread, pulse } => {
                    let taken = self
                        .network
                        .get()
                        .is_some_and(|network| network.forward_pulse(nd, thread, pulse));
                    if !taken {
                        st.kernel.handle_pulses_sent(nd, 1);
                    }
                }
                Output::ForwardUnblock { nd, thread, seq } => {
                    if let Some(network) = self.network.get() {
                        network.forward_unblock(nd, thread, seq);
                    }
                }
                Output::Notify { nd, notice } => {
                    if let Some(network) = self.network.get() {
                        network.notify(nd, notice);
                    }
                }
            }
        }
        while let Some(head) = st.kernel.poll_direct_head() {
            if let Some(direct) = &st.direct {
                direct.publish(head);
            }
        }
        while let Some(hit) = st.kernel.poll_limit_hit() {
            tracing::warn!(
                process = %hit.process,
                limit = hit.limit.name(),
                max = hit.max,
                "limit hit: calls over it fail with EAGAIN (logged once per process and limit)"
            );
        }
        self.activity
            .set_newest_caller(st.kernel.newest_caller_since());
        let next = st.kernel.poll_timeout();
        self.timer.send_if_modified(|armed| {
            let changed = *armed != next;
            *armed = next;
            changed
        });
        mine
    }

    /// Run the one timer: sleep until the kernel's next deadline, expire, repeat; until
    /// `cancel`.
    pub async fn run_timer(self: Arc<Self>, cancel: CancellationToken) {
        let mut armed = self.timer.subscribe();
        loop {
            let deadline = *armed.borrow_and_update();
            match deadline {
                Some(at) => {
                    let when = tokio::time::Instant::from_std(self.epoch + at);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(when) => self.expire(),
                        r = armed.changed() => if r.is_err() { return },
                    }
                }
                None => {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = armed.changed() => if r.is_err() { return },
                    }
                }
            }
        }
    }
}

/// What a local call may have ended, for the direct path.
#[derive(Clone, Copy, Debug)]
enum Ends {
    Nothing,
    /// `ChannelDestroy` / `name_detach` of this chid.
    Channel(qnet_core::Chid),
    /// `ConnectDetach` (perhaps the last connection to a direct channel).
    Connection,
}

impl State {
    /// Before `thread` makes `call`: a `MsgSend` with a zero SEND timeout to a direct channel
    /// reaches a receiver that sleeps on the direct path, as one RECEIVE-blocked in the
    /// kernel ([`Kernel::hint_direct_receiver`]); the kernel is told whether there is one.
    fn hint_direct_receiver(&mut self, thread: ThreadKey, call: &Call) {
        let Some((server, chid)) = self.kernel.zero_send_target(thread, call) else {
            return;
        };
        let waiting = self
            .direct
            .as_ref()
            .is_some_and(|d| d.receiving_on(server, chid));
        self.kernel
            .hint_direct_receiver(waiting.then_some((server, chid)));
    }

    /// After a local call of `pid`: a direct channel it destroyed, or the last connection it
    /// detached from one, ends its pairs.
    fn direct_ends(&mut self, pid: Pid, ends: Ends) {
        match ends {
            Ends::Nothing => {}
            Ends::Channel(chid) => {
                if let Some(direct) = &mut self.direct
                    && !self.kernel.is_channel_direct(pid, chid)
                {
                    direct.channel_gone(pid, chid);
                }
            }
            Ends::Connection => {
                if let Some(direct) = &mut self.direct {
                    let kernel = &self.kernel;
                    direct.connections_changed(pid, &|server, chid| {
                        kernel.is_connected(pid, server, chid)
                    });
                }
            }
        }
    }

    fn process_session_opened(&mut self, pid: Pid, cred: Credentials) {
        let n = &mut self.processes.entry(pid).or_insert((0, cred)).0;
        if *n == 0 {
            self.kernel
                .handle_process_start(ProcessKey::local(pid), cred);
        }
        *n += 1;
    }

    /// After a load drains, give its memory back: tables that grew for many sessions keep
    /// their capacity (and glibc keeps freed heap) unless asked. When the routing tables are
    /// down to a quarter of their capacity, or a process that held `TRIM_AFTER` objects or
    /// more (`held`) exited, they shrink and the heap is trimmed (`heap::trim`). Capacity
    /// halves at least each time and a large exit costs far more than the trim, so trims
    /// stay rare next to the work they follow; never one per call.
    fn shrink_after_drain(&mut self, held: usize) {
        const SMALL: usize = 64;
        const TRIM_AFTER: usize = 1024;
        let sparse = |len: usize, cap: usize| cap > SMALL && len < cap / 4;
        if !(held >= TRIM_AFTER
            || sparse(self.threads.len(), self.threads.capacity())
            || sparse(self.processes.len(), self.processes.capacity()))
        {
            return;
        }
        self.threads.shrink_to_fit();
        self.processes.shrink_to_fit();
        self.kernel.shrink_to_fit();
        crate::heap::trim();
    }

    /// After node `nd` went down or restarted: the routes of its threads the kernel let go
    /// (their streams' tasks would drop them too, when they see their link close).
    fn drop_stale_routes(&mut self, nd: Nd) {
        let kernel = &self.kernel;
        self.threads
            .retain(|t, _| t.nd != nd || kernel.is_blocked(*t));
    }

    fn process_session_closed(&mut self, now: Time, pid: Pid) {
        let Entry::Occupied(mut e) = self.processes.entry(pid) else {
            return;
        };
        e.get_mut().0 -= 1;
        let mut held = 0;
        if e.get().0 == 0 {
            e.remove();
            let process = ProcessKey::local(pid);
            held = self.kernel.objects_held(process);
            // Direct calls first: an abandoned message's unblock pulse comes before the
            // disconnect pulse the kernel's exit makes, as for the kernel's own clients.
            // Not when the daemon stops: its clients' watchdogs end their waits with EIO, as
            // on the socket path (not ESRCH for the servers whose sessions close now).
            let kernel = &mut self.kernel;
            if let (false, Some(direct)) = (self.stopping, &mut self.direct) {
                direct.process_gone(pid, &mut |server, chid, scoid, priority, rcvid| {
                    let priority = priority.min(255) as qnet_core::Priority;
                    kernel.handle_direct_abandoned(
                        now,
                        server,
                        chid,
                        scoid,
                        priority,
                        rcvid.into(),
                    );
                });
            }
            self.kernel.handle_process_exit(now, process);
        }
        // Also when only a thread went: many threads of one process may drain.
        self.shrink_after_drain(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_process(d: &Driver, pid: Pid) -> bool {
        d.lock().kernel.has_process(pid)
    }

    fn outbox() -> Outbox {
        mpsc::unbounded_channel().0
    }

    /// `thread` creates a channel; its chid.
    fn channel(d: &Driver, thread: ThreadKey) -> i32 {
        let create = Call::ChannelCreate {
            flags: Default::default(),
        };
        match d.call(thread, create) {
            Some(local::Response {
                result: Some(local::response::Result::Chid(c)),
            }) => c,
            other => panic!("{other:?}"),
        }
    }

    /// `thread` attaches to local `pid`/`chid`; its coid.
    fn attach(d: &Driver, thread: ThreadKey, pid: Pid, chid: i32) -> i32 {
        match d.call(thread, Call::ConnectAttach { nd: 0, pid, chid }) {
            Some(local::Response {
                result: Some(local::response::Result::Coid(c)),
            }) => c,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn process_lives_while_any_thread_or_process_session_does() {
        let d = Driver::new(qnet_core::Config::default());
        let cred = Credentials { uid: 1, gid: 1 };
        let (t1, t2) = (ThreadKey::local(50, 1), ThreadKey::local(50, 2));
        d.register_thread(t1, cred, outbox()).unwrap();
        assert!(has_process(&d, 50));
        assert!(
            d.register_thread(t1, cred, outbox()).is_err(),
            "a thread has one session"
        );
        d.register_thread(t2, cred, outbox()).unwrap();
        d.register_process(50, cred);
        d.unregister_thread(t1);
        d.unregister_process(50);
        assert!(has_process(&d, 50), "thread 2 still lives");
        d.unregister_thread(t2);
        assert!(!has_process(&d, 50), "last session closed");
        // Unregistering twice changes nothing.
        d.unregister_thread(t2);
        assert!(!has_process(&d, 50));
    }

    /// Memory after a load (issue 12, item 8): a process whose 1,000 thread sessions all
    /// closed leaves no table sized for 1,000 behind.
    #[tokio::test]
    async fn routing_tables_shrink_after_a_drain() {
        let d = Driver::new(qnet_core::Config::default());
        let cred = Credentials::default();
        d.register_process(70, cred);
        for tid in 1..=1000 {
            d.register_thread(ThreadKey::local(70, tid), cred, outbox())
                .unwrap();
        }
        let peak = d.lock().threads.capacity();
        for tid in 1..=1000 {
            d.unregister_thread(ThreadKey::local(70, tid));
        }
        let after = d.lock().threads.capacity();
        assert!(peak >= 1000, "{peak}");
        assert!(
            after <= 64,
            "capacity {after} kept after the drain (peak {peak})"
        );
        assert!(
            has_process(&d, 70),
            "the process lives on with its process session"
        );
    }

    #[tokio::test]
    async fn completions_for_other_threads_go_to_their_outbox() {
        let d = Driver::new(qnet_core::Config::default());
        let cred = Credentials::default();
        let (server, client) = (ThreadKey::local(60, 1), ThreadKey::local(61, 1));
        let (tx, mut rx) = mpsc::unbounded_channel();
        d.register_thread(server, cred, tx).unwrap();
        d.register_thread(client, cred, outbox()).unwrap();
        let chid = channel(&d, server);
        assert!(
            d.call(
                server,
                Call::MsgReceive {
                    chid,
                    cap: 64,
                    timeout: None
                }
            )
            .is_none()
        );
        let coid = attach(&d, client, 60, chid);
        let send = Call::MsgSend {
            coid,
            data: bytes::Bytes::from_static(b"x"),
            reply_cap: 8,
            priority: 10,
            realtime: false,
            timeout: None,
        };
        assert!(d.call(client, send).is_none(), "the sender blocks");
        let got =
            local::Response::from(rx.try_recv().expect("the receiver's completion was routed"));
        assert!(
            matches!(got.result, Some(local::response::Result::Message(_))),
            "{got:?}"
        );
    }

    fn errno_of(r: Option<local::Response>) -> Option<i32> {
        match r?.result? {
            local::response::Result::Error(e) => Some(e.errno),
            _ => None,
        }
    }

    #[tokio::test]
    async fn remote_unblocks_apply_to_their_call_whatever_the_arrival_order() {
        let d = Driver::new(qnet_core::Config::default());
        let cred = Credentials::default();
        let server = ThreadKey::local(60, 1);
        d.register_thread(server, cred, outbox()).unwrap();
        let chid = channel(&d, server);
        // The calling node is up here (calls from a node that is down are refused).
        d.add_node(1, "n1").unwrap();
        d.link_up(1, 1, 1, || {});
        let remote = ThreadKey {
            nd: 1,
            pid: 70,
            tid: 1,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let attach = Call::ConnectAttach {
            nd: 0,
            pid: 60,
            chid,
        };
        let coid = match d.remote_call(remote, 1, cred, attach, &tx) {
            Some(local::Response {
                result: Some(local::response::Result::Coid(c)),
            }) => c,
            other => panic!("{other:?}"),
        };
        let send = || Call::MsgSend {
            coid,
            data: bytes::Bytes::from_static(b"x"),
            reply_cap: 8,
            priority: 10,
            realtime: false,
            timeout: None,
        };
        let eintr = Some(Errno::EINTR.0);
        // An unblock for a later call (3) arrives first: call 2 is not touched by it.
        d.remote_unblock(remote, 3);
        assert!(d.remote_call(remote, 2, cred, send(), &tx).is_none());
        assert!(rx.try_recv().is_err(), "call 2 stays SEND-blocked");
        // The unblock of call 2 while it is in progress unblocks it.
        d.remote_unblock(remote, 2);
        assert_eq!(errno_of(rx.try_recv().ok().map(Into::into)), eintr);
        // Call 3 arrives after its unblock: applied on arrival.
        assert_eq!(errno_of(d.remote_call(remote, 3, cred, send(), &tx)), eintr);
        // A late unblock of a finished call changes nothing: call 4 stays blocked.
        d.remote_unblock(remote, 3);
        assert!(d.remote_call(remote, 4, cred, send(), &tx).is_none());
        d.remote_unblock(remote, 3);
        assert!(
            rx.try_recv().is_err(),
            "call 4 untouched by unblocks of call 3"
        );
    }
    #[tokio::test]
    async fn reply_receive_swallows_the_reply_done_and_skips_the_receive_on_error() {
        let d = Driver::new(qnet_core::Config::default());
        let cred = Credentials::default();
        let (server, client) = (ThreadKey::local(60, 1), ThreadKey::local(61, 1));
        let (ctx, mut crx) = mpsc::unbounded_channel();
        let (stx, mut srx) = mpsc::unbounded_channel();
        d.register_thread(server, cred, stx).unwrap();
        d.register_thread(client, cred, ctx).unwrap();
        let chid = channel(&d, server);
        let coid = attach(&d, client, 60, chid);
        let send = || Call::MsgSend {
            coid,
            data: bytes::Bytes::from_static(b"x"),
            reply_cap: 8,
            priority: 10,
            realtime: false,
            timeout: None,
        };
        let receive = Call::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
        };
        assert!(d.call(client, send()).is_none());
        let rcvid = match d.call(server, receive.clone()) {
            Some(local::Response {
                result: Some(local::response::Result::Message(m)),
            }) => m.rcvid,
            other => panic!("{other:?}"),
        };
        let reply = |rcvid| Call::MsgReply {
            rcvid,
            status: 5,
            data: bytes::Bytes::from_static(b"y"),
        };
        // Reply, then the receive blocks: no response to the server yet, the client answered.
        assert!(
            d.reply_receive(server, reply(rcvid), receive.clone())
                .is_none()
        );
        let got = local::Response::from(crx.try_recv().expect("the client's reply was routed"));
        assert!(
            matches!(got.result, Some(local::response::Result::Reply(_))),
            "{got:?}"
        );
        // The blocked receive takes the next message (routed to the server's outbox).
        assert!(d.call(client, send()).is_none());
        let rcvid2 = match srx.try_recv().map(local::Response::from) {
            Ok(local::Response {
                result: Some(local::response::Result::Message(m)),
            }) => m.rcvid,
            other => panic!("{other:?}"),
        };
        assert!(errno_of(d.call(server, reply(rcvid2))).is_none());
        assert!(crx.try_recv().is_ok(), "second reply routed");
        // A third message waits queued; an already-answered rcvid gives ESRCH and does not
        // receive: the message is still there for the next receive.
        assert!(d.call(client, send()).is_none());
        assert_eq!(
            errno_of(d.reply_receive(server, reply(rcvid), receive.clone())),
            Some(Errno::ESRCH.0)
        );
        assert!(
            matches!(
                d.call(server, receive),
                Some(local::Response {
                    result: Some(local::response::Result::Message(_)),
                })
            ),
            "the queued message was not consumed by the failed reply_receive"
        );
    }
}
