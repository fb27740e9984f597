//! Links to peer nodes: the endpoint, the dial loop of each configured peer, the accept loop,
//! and the life of one connection.
//!
//! Both sides may dial each other, so a node may have several live connections; it is up
//! while at least one is and down when the last one closes (the QUIC idle timeout, the
//! `--link-timeout`, bounds how late a silent peer is noticed). A configured peer is dialled
//! forever: after a loss, again with backoff. A node that dials in with a valid cluster
//! certificate without being configured is numbered with the next free nd, and so is a node
//! found by discovery once its certificate proved it (`discovery`).
//!
//! Every link, once up, carries this node's member directory to the peer, and takes in the
//! peer's; a node that comes up on a link not made from a directory is news for the other
//! links (its entry goes to each).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use qnet_core::Nd;
use qnet_proto::peer::DialKind;
use qnet_transport::{
    Backoff, BindError, CertError, IncomingPeer, NodeIdentity, PeerConnection, Transport,
    TransportConfig, explain, explain::DialLog,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::control::{self, Control, ControlError};
use super::discovery::{self, Discovery};
use super::members::Via;
use super::window::StreamWindow;
use super::{Link, LinkChange, PeerLimits, PeerNode, Peers, budget, mdns, pulses, serve};
use crate::config::{Config, Discover, PeerSpec};
use crate::driver::Driver;

/// Why the peer endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The node's certificate or the CA could not be loaded.
    #[error(
        "loading the certificates of node {node} from {dir}: {error} (make them with `qnet cert \
         init --dir DIR` and `qnet cert issue --dir DIR --node {node}`)"
    )]
    Identity {
        /// This node.
        node: String,
        /// The certificate directory.
        dir: String,
        /// Why (in the message, not a `source()`: the chain would say it twice).
        error: CertError,
    },
    /// A configured peer could not be numbered (duplicate name).
    #[error("peer {0}: {1}")]
    Node(String, qnet_core::Errno),
    /// The QUIC endpoint could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// What every link task shares.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) driver: Arc<Driver>,
    pub(super) peers: Arc<Peers>,
    pub(super) transport: Transport,
    /// Random per start, told to peers in the hello.
    pub(super) incarnation: u64,
    pub(super) node: String,
    /// The most streams a peer may open on one connection (its window grows to it).
    max_streams: u32,
}

impl Ctx {
    /// The nd of node `name` (proven by its certificate), numbering it and adding it to the
    /// kernel if it is new; `None` if the kernel refuses it.
    pub(super) fn nd_of(&self, name: &str) -> Option<Nd> {
        let (nd, new) = self.peers.nd_for(name);
        if new {
            if let Err(e) = self.driver.add_node(nd, name) {
                tracing::warn!(peer = %name, error = %e, "cannot add node");
                return None;
            }
            tracing::info!(peer = %name, nd, "new peer node");
        }
        Some(nd)
    }
}

/// The bound peer endpoint, not yet dialling or accepting.
#[derive(Debug)]
pub struct PeerEndpoint {
    ctx: Arc<Ctx>,
    peers: Vec<(Nd, PeerSpec)>,
    seeds: Vec<String>,
    mdns: Option<mdns::Settings>,
}

/// A random 64-bit value (std's per-process hasher keys, the clock and the pid).
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Bind the peer endpoint of `config` (if it has `--listen`), number its peers 1, 2, … and
/// attach the peer table to `driver`. Must run inside the tokio runtime.
pub fn start(config: &Config, driver: &Arc<Driver>) -> Result<Option<PeerEndpoint>, PeerError> {
    let (Some(listen), Some(certs)) = (config.listen, config.certs.as_ref()) else {
        return Ok(None);
    };
    let identity =
        NodeIdentity::load(certs, &config.node).map_err(|error| PeerError::Identity {
            node: config.node.clone(),
            dir: certs.display().to_string(),
            error,
        })?;
    // The link timeout bounds noticing a lost node from its last packet received.
    // Each open stream costs at least a read buffer: a peer gets as many as its memory
    // budget pays for, in a window that grows with use (`window`).
    let max_streams = budget::max_streams(config.peer_memory_per_node);
    let transport_config = TransportConfig {
        max_concurrent_bidi_streams: StreamWindow::initial(max_streams),
        // One pulse stream per connection (`pulses`); nothing else is unidirectional.
        max_concurrent_uni_streams: 1,
        // What quinn buffers of a connection before we read it is bounded the same way.
        receive_window: Some(config.peer_memory_per_node),
        log_repeat: config.log_repeat,
        ..TransportConfig::for_link_timeout(config.link_timeout)
    };
    let ca_fingerprint = identity.ca_fingerprint();
    let transport = Transport::bind(listen, identity, transport_config)?;
    let incarnation = random_u64();
    // The bound address (port 0 picks one): what peers dial and what is advertised.
    let bound = transport.local_addr().unwrap_or(listen);
    let (advertised, own) = discovery::endpoint_addrs(bound, &config.mdns_interfaces);
    let discovery = Discovery::new(&config.node, incarnation, bound, &advertised, &own);
    let peers = Peers::new(
        driver,
        config.max_message_size,
        PeerLimits::of(config),
        discovery.clone(),
    );
    let mut numbered = Vec::new();
    for spec in &config.peers {
        let (nd, _) = peers.nd_for(&spec.name);
        driver
            .add_node(nd, &spec.name)
            .map_err(|e| PeerError::Node(spec.name.clone(), e))?;
        discovery
            .members()
            .learn_static(&spec.name, &spec.addr, Instant::now());
        numbered.push((nd, spec.clone()));
    }
    let mdns = (config.discover == Discover::Mdns).then(|| mdns::Settings {
        listen: bound,
        advertised,
        interfaces: config.mdns_interfaces.clone(),
        ca_fingerprint,
    });
    // Event handles travel between nodes: each start numbers them from a random base
    // (48 bits, so the counter never wraps).
    driver.attach_network(&config.node, random_u64() >> 16, peers.clone());
    Ok(Some(PeerEndpoint {
        ctx: Arc::new(Ctx {
            driver: driver.clone(),
            peers,
            transport,
            incarnation,
            node: config.node.clone(),
            max_streams,
        }),
        peers: numbered,
        seeds: config.seeds.clone(),
        mdns,
    }))
}

impl PeerEndpoint {
    /// The bound UDP address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.ctx.transport.local_addr().ok()
    }

    /// The peer table, for the parts of the daemon that show it (ADMIN sessions, metrics).
    pub fn peers(&self) -> Arc<Peers> {
        self.ctx.peers.clone()
    }

    /// Dial every configured peer, join through the seeds, discover (mDNS if asked) and
    /// accept others, until `cancel`; then close the endpoint. The [`Dialer`] changes the
    /// peers dialled while it runs (a config reload).
    pub fn spawn(self, tracker: &TaskTracker, cancel: CancellationToken) -> Dialer {
        let mut dialer = Dialer {
            ctx: self.ctx.clone(),
            tracker: tracker.clone(),
            cancel: cancel.clone(),
            loops: Vec::new(),
            seeds: Vec::new(),
        };
        for (nd, spec) in self.peers {
            dialer.dial(nd, spec);
        }
        dialer.set_seeds(&self.seeds);
        tracker.spawn(discovery::finder(self.ctx.clone(), cancel.clone()));
        if let Some(settings) = self.mdns {
            match mdns::start(&self.ctx, &settings, cancel.clone()) {
                Ok(task) => {
                    tracker.spawn(task);
                }
                // Discovery on the network is a help, not a condition: say why it is off.
                Err(e) => tracing::warn!("mDNS discovery off: {e}"),
            }
        }
        tracker.spawn(accept_loop(self.ctx, cancel));
        dialer
    }
}

/// The dial loops of the configured peers, changed by [`Dialer::set_peers`].
#[derive(Debug)]
pub struct Dialer {
    ctx: Arc<Ctx>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Each configured peer and what stops its dial loop (and the links it dialled).
    loops: Vec<(PeerSpec, CancellationToken)>,
    /// Each seed and what stops its loop.
    seeds: Vec<(String, CancellationToken)>,
}

impl Dialer {
    fn dial(&mut self, nd: Nd, spec: PeerSpec) {
        let stop = self.cancel.child_token();
        self.loops.push((spec.clone(), stop.clone()));
        self.tracker
            .spawn(dial_loop(self.ctx.clone(), nd, spec, stop));
    }

    /// Join through `seeds` from now on: a new seed's loop starts, a removed seed's stops
    /// (the links it found stay: they are members now).
    pub fn set_seeds(&mut self, seeds: &[String]) {
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.seeds)
            .into_iter()
            .partition(|(seed, _)| seeds.contains(seed));
        self.seeds = kept;
        for (_, stop) in gone {
            stop.cancel();
        }
        for seed in seeds {
            if self.seeds.iter().any(|(s, _)| s == seed) {
                continue;
            }
            let stop = self.cancel.child_token();
            self.seeds.push((seed.clone(), stop.clone()));
            self.tracker
                .spawn(discovery::seed_loop(self.ctx.clone(), seed.clone(), stop));
        }
    }

    /// Dial `peers` from now on: a new peer's dial loop starts; a removed peer's (or one whose
    /// address changed) stops and closes the links it dialled (the node may still dial in, as
    /// any node with a certificate from the cluster CA may). Validated by the config first.
    pub fn set_peers(&mut self, peers: &[PeerSpec]) -> Result<(), PeerError> {
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.loops)
            .into_iter()
            .partition(|(spec, _)| peers.contains(spec));
        self.loops = kept;
        for (spec, stop) in gone {
            stop.cancel();
            self.ctx.peers.discovery.members().forget_static(&spec.name);
        }
        for spec in peers {
            if self.loops.iter().any(|(s, _)| s == spec) {
                continue;
            }
            let (nd, new) = self.ctx.peers.nd_for(&spec.name);
            if new {
                self.ctx
                    .driver
                    .add_node(nd, &spec.name)
                    .map_err(|e| PeerError::Node(spec.name.clone(), e))?;
            }
            self.ctx
                .peers
                .discovery
                .members()
                .learn_static(&spec.name, &spec.addr, Instant::now());
            self.dial(nd, spec.clone());
        }
        Ok(())
    }
}

async fn dial_loop(ctx: Arc<Ctx>, nd: Nd, spec: PeerSpec, cancel: CancellationToken) {
    let mut backoff = Backoff::lan(ctx.incarnation ^ u64::from(nd));
    let disc = ctx.peers.discovery.clone();
    let name = spec.name.clone();
    let mut log = DialLog::observed(move |e| {
        disc.counters.failed(Via::Static);
        disc.members().set_error(&name, &e.text);
    })
    .every(ctx.peers.limits.log_repeat);
    loop {
        let Some(addr) = resolve(&spec, &mut backoff, &mut log, &cancel).await else {
            return;
        };
        let dialled = ctx
            .transport
            .connect_with_backoff(&spec.name, addr, &mut backoff, &mut log, cancel.cancelled())
            .await;
        let Some(conn) = dialled else { return };
        match control::dial(
            &conn,
            nd,
            ctx.incarnation,
            ctx.peers.max_message,
            DialKind::Static,
        )
        .await
        {
            Ok(control) => {
                log.reset();
                run_link(&ctx, nd, conn, control, Via::Static, &cancel).await;
            }
            Err(e) => {
                // With TLS 1.3 a peer that refuses this node's certificate does so after the
                // dial returned: its close reason says why.
                let why = match conn.close_reason() {
                    Some(closed) => {
                        explain::connection_error(&spec.name, &addr.to_string(), &closed)
                    }
                    None => explain::Explained::permanent(format!(
                        "peer handshake with node {} at {addr} failed: {e}",
                        spec.name
                    )),
                };
                conn.close(&e.to_string());
                let delay = backoff.next_delay();
                log.failed(&spec.name, &why, delay);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
        if cancel.is_cancelled() {
            return;
        }
    }
}

/// `spec.addr` as a socket address, retrying (a host name may not resolve yet); each failure
/// goes to the dial log (rate-limited, and the peer's last error for `qnet nodes`).
async fn resolve(
    spec: &PeerSpec,
    backoff: &mut Backoff,
    log: &mut DialLog,
    cancel: &CancellationToken,
) -> Option<SocketAddr> {
    loop {
        match discovery::resolve_one(&spec.addr).await {
            Ok(addr) => return Some(addr),
            Err(text) => {
                let delay = backoff.next_delay();
                log.failed(&spec.name, &explain::Explained::transient(text), delay);
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn accept_loop(ctx: Arc<Ctx>, cancel: CancellationToken) {
    let listening = &ctx.peers.listening;
    listening.store(true, std::sync::atomic::Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            incoming = ctx.transport.accept_incoming() => match incoming {
                Some(incoming) => {
                    tokio::spawn(accept_one(ctx.clone(), incoming, cancel.clone()));
                }
                None => break,
            },
        }
    }
    listening.store(false, std::sync::atomic::Ordering::Relaxed);
    ctx.transport.close("shutdown");
}

async fn accept_one(ctx: Arc<Ctx>, incoming: IncomingPeer, cancel: CancellationToken) {
    // The transport logs a refused handshake (certificate from another CA, ...).
    let Ok(conn) = incoming.handshake().await else {
        return;
    };
    let name = conn.peer_node().to_owned();
    if name == ctx.node {
        tracing::warn!(peer = %name, addr = %conn.remote_address(), "closing peer connection: it claims this node's name");
        conn.close("same node name");
        return;
    }
    let Some(nd) = ctx.nd_of(&name) else {
        conn.close("cannot add node");
        return;
    };
    let disc = ctx.peers.discovery.clone();
    // The tie-break: a discovery dial that would make a second link is turned down.
    let mut taken = false;
    let duplicate = |h: &qnet_proto::peer::PeerHello| {
        let discovery = h.dial() != DialKind::Static;
        let r = disc
            .members()
            .accept(&name, h.incarnation, discovery, Instant::now());
        taken = r.is_ok();
        r.err().map(str::to_owned)
    };
    let accepted =
        control::accept(&conn, nd, ctx.incarnation, ctx.peers.max_message, duplicate).await;
    if accepted.is_err() && taken {
        disc.members().accept_failed(&name);
    }
    match accepted {
        Ok(control) => run_link(&ctx, nd, conn, control, Via::Incoming, &cancel).await,
        Err(ControlError::Duplicate(reason)) => {
            tracing::debug!(peer = %name, %reason, "refused a duplicate discovery dial");
            conn.close("duplicate link");
        }
        // A discovery dial that found the pair linked once its handshake was done.
        Err(ControlError::Connection(quinn::ConnectionError::ApplicationClosed(c)))
            if c.reason.as_ref() == b"already linked" =>
        {
            tracing::debug!(peer = %name, "the peer dropped a dial: already linked");
        }
        Err(e) => {
            // A peer that fails its hello retries every few seconds: once per cause and
            // interval.
            let reason = e.to_string();
            if let Some(repeated) = ctx.peers.node(nd).repeat_allowed(&reason) {
                tracing::warn!(peer = %name, %reason, repeated, "closing peer connection");
            }
            conn.close(&reason);
        }
    }
}

/// One hello-completed connection (made `made`: by this node's dial of that kind, or
/// `Incoming`): register it, send it this node's directory, carry notices, directories and
/// calls until it closes, unregister it.
pub(super) async fn run_link(
    ctx: &Ctx,
    nd: Nd,
    conn: PeerConnection,
    control: Control,
    made: Via,
    cancel: &CancellationToken,
) {
    let name: Arc<str> = conn.peer_node().into();
    let disc = ctx.peers.discovery.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let window = Arc::new(StreamWindow::new(ctx.max_streams));
    let pulse_queue = Arc::new(pulses::PulseQueue::default());
    let mut link = (0, LinkChange::Additional);
    let addr = conn.remote_address();
    // This node's directory goes first on the new link.
    for frame in disc.directory() {
        let _ = tx.send(control::Outgoing::Directory(frame));
    }
    ctx.driver
        .link_up(nd, control.srcnd, control.incarnation, || {
            let new = Link {
                id: 0,
                conn: conn.clone(),
                incarnation: control.incarnation,
                max_message: control.max_message,
                control: tx,
                window: window.clone(),
                pulses: pulse_queue.clone(),
            };
            link = ctx.peers.add_link(nd, new);
            // In the same lock as the peer table: the tie-break sees the link at once.
            disc.members()
                .link_up(&name, control.incarnation, addr, made, Instant::now());
        });
    let (id, change) = link;
    let node = ctx.peers.node(nd);
    if change == LinkChange::Restarted {
        node.counters().down();
    }
    if change != LinkChange::Additional {
        node.counters().up();
    }
    match change {
        LinkChange::Additional => tracing::info!(peer = %name, nd, %addr, "peer link added"),
        LinkChange::First | LinkChange::Restarted => {
            if change == LinkChange::Restarted {
                tracing::info!(peer = %name, nd, "node restarted");
            }
            tracing::info!(peer = %name, nd, %addr, srcnd = control.srcnd, "node up");
            disc.counters.joins.fetch_add(1, Ordering::Relaxed);
            // A node found some other way than a directory may be unknown to the others.
            if control.dial != DialKind::Directory
                && let Some(entry) = disc.entry(&name)
            {
                ctx.peers.broadcast(nd, &entry);
            }
        }
    }
    let writer = tokio::spawn(pulses::write(
        ctx.driver.clone(),
        nd,
        conn.clone(),
        pulse_queue.clone(),
    ));
    // Pulses handled from the peer's pulse stream: its calls wait for their count.
    let (handled, handled_rx) = tokio::sync::watch::channel(0u64);
    let directory = |d: qnet_proto::peer::PeerDirectory| {
        let refused = disc.apply(&name, &d);
        if refused > 0
            && let Some(suppressed) = node.warn_allowed()
        {
            tracing::warn!(peer = %name, refused, suppressed, "member directory entries dropped: the member table holds as many unverified nodes as it may");
        }
    };
    let reason = tokio::select! {
        e = control::run(&ctx.driver, nd, control, rx, handled_rx.clone(), directory) => {
            match &e {
                ControlError::Stream(super::frames::StreamError::Io(_))
                | ControlError::Stream(super::frames::StreamError::Write(_))
                | ControlError::Connection(_) => tracing::info!(peer = %name, nd, reason = %e, "peer link closed"),
                _ => {
                    if let Some(suppressed) = node.warn_allowed() {
                        tracing::warn!(peer = %name, nd, reason = %e, suppressed, "closing peer connection");
                    }
                }
            }
            e.to_string()
        }
        e = accept_calls(ctx, &node, &conn, &window, &handled_rx) => {
            tracing::info!(peer = %name, nd, reason = %e, "peer link closed");
            e.to_string()
        }
        e = pulses::read(&ctx.driver, &node, &conn, &handled) => {
            match &e {
                pulses::PulseError::Connection(_) => {
                    tracing::info!(peer = %name, nd, reason = %e, "peer link closed");
                }
                _ => {
                    if let Some(suppressed) = node.warn_allowed() {
                        tracing::warn!(peer = %name, nd, reason = %e, suppressed, "closing peer connection");
                    }
                }
            }
            e.to_string()
        }
        _ = cancel.cancelled() => "shutdown".to_owned(),
    };
    conn.close(&reason);
    let mut last = false;
    ctx.driver.link_down(nd, || {
        last = ctx.peers.remove_link(nd, id);
        disc.members().link_down(
            &name,
            format!("link from {addr} closed: {reason}"),
            Instant::now(),
        );
        last
    });
    if last {
        tracing::warn!(peer = %name, nd, reason = %reason, "node down");
        node.counters().down();
        disc.counters.leaves.fetch_add(1, Ordering::Relaxed);
        // Its addresses may still answer (or another may): dial it again.
        disc.wake();
    }
    // Pulses still queued on this link are lost with it (best effort): room for more.
    ctx.driver.pulses_sent(nd, pulse_queue.close());
    let _ = writer.await;
    // Calls still waiting for pulses of this link will not run.
    drop(handled);
}

async fn accept_calls(
    ctx: &Ctx,
    node: &Arc<PeerNode>,
    conn: &PeerConnection,
    window: &Arc<StreamWindow>,
    handled: &tokio::sync::watch::Receiver<u64>,
) -> quinn::ConnectionError {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let open = window.opened(conn);
                let serving = serve::serve(
                    ctx.driver.clone(),
                    node.clone(),
                    send,
                    recv,
                    ctx.peers.max_frame_len,
                    handled.clone(),
                );
                tokio::spawn(async move {
                    serving.await;
                    drop(open);
                });
            }
            Err(e) => return e,
        }
    }
}
