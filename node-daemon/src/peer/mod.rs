//! The peer driver: daemons forwarding node-qualified calls to each other over QUIC.
//!
//! - `link`: the endpoint, dialling configured peers (forever, with backoff), accepting
//!   others, and one connection's life (node up on a node's first live connection, down when
//!   its last closes);
//! - `control`: the control stream of each connection: hello (version, nds, incarnation) and
//!   one-way notices;
//! - `calls`: calls of local threads forwarded to another node, one bidirectional stream each
//!   (finished with the call; a cancel travels on the control stream, see `forward_unblock`);
//! - `serve`: calls of remote threads arriving on streams, run on the local kernel;
//! - `pulses`: one-way pulses, one unidirectional stream per connection, many per frame,
//!   and the count that keeps a call after the pulses its thread sent before it;
//! - `frames`: cancel-safe framing on QUIC streams;
//! - `budget`: the memory budgets of frames arriving from peers (per node and in total);
//! - `admin`: introspection streams (a peer's view, ping), what is known of each link, the
//!   peers as `qnet nodes` and the metrics show them ([`peer_views`]);
//! - `window`: the window of concurrent streams a peer may open on a connection (grows with
//!   use, up to the budget's limit: quinn keeps state for every stream it allows);
//! - `members`: the member table (every node known by name: addresses, how learnt, last
//!   seen, last error, incarnation; the seeds), pure;
//! - `discovery`: seeds, the member directory, dial jobs, the tie-break;
//! - `mdns`: opt-in DNS-SD on the local network.
//!
//! [`Peers`] is the table the kernel's outputs consult: live connections per node (the newest
//! carries new calls and notices) and the forwarded calls in flight (so that a cancel reaches
//! its stream). It is the driver's [`Network`]: its methods are called with the kernel locked,
//! so they never wait and never call back into the driver. The protocol's decisions (seqs,
//! early unblocks, superseded calls, restarts) are the kernel's; this layer moves bytes and
//! converts at the edges. It depends on the driver, never the reverse.

mod admin;
mod budget;
mod calls;
mod control;
mod counters;
mod discovery;
mod frames;
mod link;
mod mdns;
pub mod members;
mod pulses;
mod serve;
mod window;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use qnet_core::{Call, Credentials, Nd, Notice, RemotePulse, ThreadKey};
use qnet_transport::PeerConnection;
use tokio::sync::{mpsc, oneshot};

use crate::driver::{Driver, Network};
use control::Outgoing;

pub use admin::{
    ADMIN_TIMEOUT, AdminError, LinkInfo, ca_cert_not_after, cert_not_after, frame_budget,
    own_cert_not_after, peer_views,
};
pub use budget::BudgetStats;
pub use counters::{PeerCounters, PeerCounts};
pub use discovery::{Counters as DiscoveryCounters, Discovery};
pub use link::{Dialer, PeerEndpoint, PeerError, start};

/// How a new link changes a node, as the peer table sees it (for its log lines and to close
/// the links a restart left behind; the kernel decides the same from the incarnation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    /// The node's first live link: the node is up.
    First,
    /// Another link to a node that is already up.
    Additional,
    /// A link from a new incarnation of the node (it restarted): the old links are gone.
    Restarted,
}

/// One live, hello-completed connection to a node.
#[derive(Debug)]
struct Link {
    id: u64,
    conn: PeerConnection,
    /// The peer's incarnation (from its hello).
    incarnation: u64,
    /// The peer's largest send or reply buffer (from its hello; `None`: not told).
    max_message: Option<u64>,
    /// Notices and unblocks to write on this connection's control stream.
    control: mpsc::UnboundedSender<Outgoing>,
    /// The streams the peer may open on it.
    window: Arc<window::StreamWindow>,
    /// One-way pulses for the peer, not yet written.
    pulses: Arc<pulses::PulseQueue>,
}

/// What this node keeps about one peer node across its connections (a peer may open many:
/// what bounds it must not multiply with them).
#[derive(Debug)]
pub struct PeerNode {
    /// Its nd here.
    pub nd: Nd,
    /// Its name (from its certificate).
    pub name: Arc<str>,
    log: Mutex<qnet_transport::LogRate>,
    /// Failures per attempt (its hello refused), logged once per cause and interval.
    repeats: Mutex<qnet_transport::lograte::Repeats>,
    /// Its frames being received, across its connections.
    budget: Arc<budget::Budget>,
    /// The daemon's budget of all peers' frames being received.
    total: Arc<budget::Budget>,
    /// How long one of its frames may stop arriving.
    frame_timeout: std::time::Duration,
    /// Its calls, bytes and transitions, for the metrics.
    counters: PeerCounters,
}

impl PeerNode {
    fn new(nd: Nd, name: &str, limits: &PeerLimits, total: &Arc<budget::Budget>) -> Self {
        Self {
            nd,
            name: name.into(),
            log: Mutex::default(),
            repeats: Mutex::new(qnet_transport::lograte::Repeats::new(limits.log_repeat)),
            budget: Arc::new(budget::Budget::new(limits.per_node)),
            total: total.clone(),
            frame_timeout: limits.frame_timeout,
            counters: PeerCounters::default(),
        }
    }

    /// Its calls, bytes and transitions.
    pub fn counters(&self) -> &PeerCounters {
        &self.counters
    }

    /// A frame reader for a stream this peer opened: charged to its budgets, timed out.
    fn reader(&self, max: usize) -> frames::FrameReader {
        let charge = budget::Charge::new(self.budget.clone(), self.total.clone());
        frames::FrameReader::charged(max, charge, self.frame_timeout)
    }

    /// Its budget's counters.
    pub fn budget_stats(&self) -> BudgetStats {
        self.budget.stats()
    }

    /// May a warning about this peer be written now? `Some(k)`: yes, `k` were dropped since
    /// the last one (put it in the line); `None`: it is dropped (counted). See
    /// `qnet_transport::lograte`.
    pub fn warn_allowed(&self) -> Option<u64> {
        qnet_transport::lograte::allow_shared(&self.log)
    }

    /// May a line about a failure that repeats per attempt, `text`, be written now? `Some(k)`:
    /// yes, `k` with the same text were not written since (put it in the line); see
    /// `qnet_transport::lograte::Repeats`.
    pub fn repeat_allowed(&self, text: &str) -> Option<u64> {
        self.repeats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(std::time::Instant::now(), text)
    }
}

/// What bounds the peers (from the config).
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    /// Budget of one peer node's frames being received.
    pub per_node: u64,
    /// Budget of all peers' frames being received.
    pub total: u64,
    /// How long a frame may stop arriving.
    pub frame_timeout: std::time::Duration,
    /// How often a failure that repeats per attempt is logged again.
    pub log_repeat: std::time::Duration,
}

impl PeerLimits {
    /// The limits `config` sets.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            per_node: config.peer_memory_per_node,
            total: config.peer_memory_total,
            frame_timeout: config.peer_frame_timeout,
            log_repeat: config.log_repeat,
        }
    }
}

/// A forwarded call in flight.
#[derive(Debug)]
struct InFlight {
    /// Its seq (the kernel's number, also `PeerCall.seq` on the wire).
    seq: u64,
    /// The control stream of the link carrying it (for an unblock), if there is a link.
    control: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Tells its task that the calling thread is gone.
    abandon: oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Table {
    by_name: HashMap<String, Nd>,
    names: HashMap<Nd, String>,
    links: HashMap<Nd, Vec<Link>>,
    next_nd: Nd,
    /// Next link id.
    next_id: u64,
    /// Forwarded calls in flight, by calling thread.
    calls: HashMap<ThreadKey, InFlight>,
    /// Per peer node state, made with its nd.
    nodes: HashMap<Nd, Arc<PeerNode>>,
}

/// The peer table and what every peer task shares.
#[derive(Debug)]
pub struct Peers {
    driver: Weak<Driver>,
    /// Itself, for the tasks of forwarded calls.
    me: Weak<Peers>,
    table: Mutex<Table>,
    /// Largest frame read from or written to a peer.
    max_frame_len: usize,
    /// This node's largest send or reply buffer (told to peers in the hello).
    max_message: u64,
    limits: PeerLimits,
    /// All peers' frames being received.
    total: Arc<budget::Budget>,
    /// The member table and what discovery shares.
    pub discovery: Arc<Discovery>,
    /// The endpoint accepts peers (its accept loop runs), for `/readyz`.
    listening: std::sync::atomic::AtomicBool,
}

impl Peers {
    fn new(
        driver: &Arc<Driver>,
        max_message: u64,
        limits: PeerLimits,
        discovery: Arc<Discovery>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            driver: Arc::downgrade(driver),
            me: me.clone(),
            table: Mutex::new(Table {
                next_nd: 1,
                ..Table::default()
            }),
            max_frame_len: usize::try_from(max_message)
                .unwrap_or(usize::MAX)
                .saturating_add(qnet_proto::frame::FRAME_OVERHEAD),
            max_message,
            limits,
            total: Arc::new(budget::Budget::new(limits.total)),
            discovery,
            listening: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether the peer endpoint accepts peers now.
    pub fn endpoint_bound(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Send `dir` on the newest link of every node but `except`.
    fn broadcast(&self, except: Nd, dir: &qnet_proto::peer::PeerDirectory) {
        let t = self.lock();
        for (nd, links) in &t.links {
            if *nd != except
                && let Some(link) = links.last()
            {
                let _ = link.control.send(Outgoing::Directory(dir.clone()));
            }
        }
    }

    /// Forwarded calls whose stream is open, and live links (all nodes): what the peer table
    /// holds besides one entry per peer node.
    pub fn tables(&self) -> (usize, usize) {
        let t = self.lock();
        (t.calls.len(), t.links.values().map(Vec::len).sum())
    }

    /// The counters of the daemon's budget of all peers' frames.
    pub fn total_budget_stats(&self) -> BudgetStats {
        self.total.stats()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The nd of node `name`, numbering it (next free nd) if it is new. `true`: it is new.
    fn nd_for(&self, name: &str) -> (Nd, bool) {
        let mut t = self.lock();
        if let Some(nd) = t.by_name.get(name) {
            return (*nd, false);
        }
        let nd = t.next_nd;
        t.next_nd += 1;
        t.by_name.insert(name.to_owned(), nd);
        t.names.insert(nd, name.to_owned());
        let node = PeerNode::new(nd, name, &self.limits, &self.total);
        t.nodes.insert(nd, Arc::new(node));
        (nd, true)
    }

    /// What this node keeps about peer node `nd` (numbered by `Peers::nd_for`).
    pub fn node(&self, nd: Nd) -> Arc<PeerNode> {
        let mut t = self.lock();
        let name = t.names.get(&nd).cloned().unwrap_or_default();
        t.nodes
            .entry(nd)
            .or_insert_with(|| Arc::new(PeerNode::new(nd, &name, &self.limits, &self.total)))
            .clone()
    }

    /// Add live link `link` to `nd` (called under the driver's lock); its id is assigned
    /// here.
    fn add_link(&self, nd: Nd, mut link: Link) -> (u64, LinkChange) {
        let mut t = self.lock();
        let id = t.next_id;
        t.next_id += 1;
        link.id = id;
        let links = t.links.entry(nd).or_default();
        let change = if links.is_empty() {
            LinkChange::First
        } else if links.iter().all(|l| l.incarnation == link.incarnation) {
            LinkChange::Additional
        } else {
            // Links of an earlier incarnation are dead even if QUIC has not noticed yet.
            for old in links.drain(..) {
                old.conn.close("peer restarted");
            }
            LinkChange::Restarted
        };
        links.push(link);
        (id, change)
    }

    /// Remove link `id` of `nd`; `true` if the node has no live link left (and had this one).
    fn remove_link(&self, nd: Nd, id: u64) -> bool {
        let mut t = self.lock();
        let Some(links) = t.links.get_mut(&nd) else {
            return false;
        };
        let before = links.len();
        links.retain(|l| l.id != id);
        before != links.len() && links.is_empty()
    }

    /// The forwarded call `seq` of `thread` finished: its entry goes if it is still the
    /// thread's current call (the kernel decides whether its result still counts).
    fn finished(&self, thread: ThreadKey, seq: u64) {
        let mut t = self.lock();
        if t.calls.get(&thread).is_some_and(|c| c.seq == seq) {
            t.calls.remove(&thread);
        }
    }
}

impl Network for Peers {
    /// Send local `thread`'s call `seq` to node `nd` (a new stream on its newest link). Its
    /// result reaches the driver once, whatever happens to the link.
    fn forward(&self, nd: Nd, thread: ThreadKey, seq: u64, call: Call, cred: Credentials) {
        let (Some(driver), Some(peers)) = (self.driver.upgrade(), self.me.upgrade()) else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        let (conn, peer_max, after_pulses) = {
            let mut t = self.lock();
            let link = t.links.get(&nd).and_then(|l| l.last());
            let conn = link.map(|l| l.conn.clone());
            let control = link.map(|l| l.control.clone());
            let peer_max = link.and_then(|l| l.max_message);
            // The callee runs the call after the pulses queued on this link before it.
            let after_pulses = link.map_or(0, |l| l.pulses.pushed());
            if let Some(node) = t.nodes.get(&nd) {
                node.counters.forwarded(crate::driver::payload_len(&call));
            }
            t.calls.insert(
                thread,
                InFlight {
                    seq,
                    control,
                    abandon: tx,
                },
            );
            (conn, peer_max, after_pulses)
        };
        let job = calls::Forwarded {
            thread,
            cred,
            call,
            seq,
            after_pulses,
            max_frame_len: self.max_frame_len,
            peer_max_message: peer_max,
        };
        tokio::spawn(calls::run(driver, peers, conn, job, rx));
    }

    /// Queue a one-way pulse of local `thread` on the newest link to `nd` (the link calls
    /// forwarded after it use, so they are ordered after it there).
    fn forward_pulse(&self, nd: Nd, thread: ThreadKey, pulse: RemotePulse) -> bool {
        match self.lock().links.get(&nd).and_then(|l| l.last()) {
            Some(link) => link.pulses.push(thread, pulse),
            None => false,
        }
    }

    /// Cancel the call `seq` local `thread` forwarded: an unblock naming it on the control
    /// stream of the link that carries it (the callee orders it with the call).
    fn forward_unblock(&self, _nd: Nd, thread: ThreadKey, seq: u64) {
        if let Some(call) = self.lock().calls.get(&thread)
            && call.seq == seq
            && let Some(control) = &call.control
        {
            let _ = control.send(Outgoing::Unblock { thread, seq });
        }
    }

    /// Tell node `nd` about `notice` on its newest link's control stream (dropped if the node
    /// has no link: its down already settled what the notice was about).
    fn notify(&self, nd: Nd, notice: Notice) {
        match self.lock().links.get(&nd).and_then(|l| l.last()) {
            Some(link) => {
                let after_pulses = link.pulses.pushed();
                let _ = link.control.send(Outgoing::Notice {
                    notice,
                    after_pulses,
                });
            }
            None => tracing::debug!(nd, ?notice, "notice for a node without a link dropped"),
        }
    }

    /// Local `thread` exited: abandon its forwarded call, if any (the callee sees the stream
    /// stopped and treats the remote thread as gone).
    fn abandon(&self, thread: ThreadKey) {
        if let Some(call) = self.lock().calls.remove(&thread) {
            let _ = call.abandon.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_discovery() -> Arc<Discovery> {
        let listen = "127.0.0.1:7100".parse().unwrap();
        Discovery::new("n1", 1, listen, &[listen], &[])
    }

    fn in_flight(peers: &Peers, thread: ThreadKey, seq: u64) {
        let (abandon, _) = oneshot::channel();
        peers.lock().calls.insert(
            thread,
            InFlight {
                seq,
                control: None,
                abandon,
            },
        );
    }

    /// A forwarded call's end removes its thread's entry only while it is the thread's
    /// current call: after a newer forward replaced it, the old task leaves the new entry
    /// (so a cancel of the new call still finds its stream). Whether the old result still
    /// counts is the kernel's decision (`handle_forward_result`, by seq).
    #[test]
    fn only_the_current_call_of_a_thread_leaves_the_table() {
        let driver = Driver::new(qnet_core::Config::default());
        let limits = PeerLimits {
            per_node: 1 << 20,
            total: 1 << 20,
            frame_timeout: std::time::Duration::from_secs(1),
            log_repeat: std::time::Duration::from_secs(60),
        };
        let peers = Peers::new(&driver, 1024, limits, test_discovery());
        let thread = ThreadKey::local(7, 1);
        let current = |peers: &Peers| peers.lock().calls.get(&thread).map(|c| c.seq);
        in_flight(&peers, thread, 1);
        in_flight(&peers, thread, 2); // the thread was released and forwarded again
        peers.finished(thread, 1);
        assert_eq!(current(&peers), Some(2), "superseded call");
        peers.finished(ThreadKey::local(7, 2), 2);
        assert_eq!(current(&peers), Some(2), "another thread");
        peers.finished(thread, 2);
        assert_eq!(current(&peers), None, "current call");
    }
}
