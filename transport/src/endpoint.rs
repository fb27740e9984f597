//! One QUIC endpoint per node that both accepts and dials, and the authenticated connection
//! to one peer node.
//!
//! Accepting is two steps so that a slow or hostile handshake never holds up the others:
//! [`Transport::accept_incoming`] yields an [`IncomingPeer`] at once; spawn
//! [`IncomingPeer::handshake`] per peer. [`Transport::accept`] does both in one call, for
//! callers (and tests) that take one peer at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, IdleTimeout, RecvStream, SendStream, VarInt};

use crate::certs::{CertError, NodeIdentity, node_name_from_cert, validate_node_name};
use crate::lograte::{self, LogRate};
use crate::tls::{SERVER_NAME, TlsContext, TlsError};

/// QUIC settings for connections between daemons. The defaults suit a control-system LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Bidirectional streams the peer may have open at once (one per in-flight `MsgSend`).
    /// Default 16384: quinn's 100 would make the 101st concurrent send block in `open_bi`.
    pub max_concurrent_bidi_streams: u32,
    /// Unidirectional streams the peer may have open at once. Default 1024.
    pub max_concurrent_uni_streams: u32,
    /// How often an otherwise idle connection sends a keep-alive. Default 500 ms.
    /// Must be shorter than `max_idle_timeout`.
    pub keep_alive_interval: Duration,
    /// A connection that hears nothing from its peer for this long is lost. QUIC restarts
    /// the idle timer when it sends the first ack-eliciting packet after the last one it
    /// received (RFC 9000, 10.1), and a keep-alive is such a packet: a peer gone silent is
    /// noticed up to `keep_alive_interval + max_idle_timeout` after its last packet. So the
    /// bound on noticing node loss, the link timeout, is their sum
    /// ([`TransportConfig::for_link_timeout`]). Default 2.5 s (a 3 s link timeout). The
    /// smaller of both sides' values applies; quinn never uses less than three probe
    /// timeouts (a few ms on a LAN).
    pub max_idle_timeout: Duration,
    /// Bytes the peer may send on one connection beyond what the application has read (QUIC
    /// connection flow control; `None`: quinn's default, unlimited). Bounds what quinn
    /// buffers for streams nobody reads yet. Default `None`.
    pub receive_window: Option<u64>,
    /// RTT assumed before the first measurement; it shapes the first probe timeouts, so
    /// quinn's WAN default (333 ms) would make a lost handshake packet cost about a second on
    /// a LAN. Default 10 ms.
    pub initial_rtt: Duration,
    /// SO_RCVBUF/SO_SNDBUF asked for on the UDP socket (`None`: the OS default). Default
    /// 2 MiB, as quinn's own perf tool uses: bursts of many streams overflow the ~208 KiB
    /// default and show up as loss and erratic latency. Linux silently caps the value at
    /// `net.core.rmem_max`/`wmem_max`; raise those on busy nodes.
    pub socket_buffer_size: Option<usize>,
    /// How often refused incoming connections from the same address are logged again while
    /// they repeat (with the count in between). Default
    /// [`explain::REPEAT`](crate::explain::REPEAT), a minute.
    pub log_repeat: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        let link = Self::link_timeouts(Duration::from_secs(3));
        Self {
            max_concurrent_bidi_streams: 16384,
            max_concurrent_uni_streams: 1024,
            keep_alive_interval: link.0,
            max_idle_timeout: link.1,
            receive_window: None,
            initial_rtt: Duration::from_millis(10),
            socket_buffer_size: Some(2 * 1024 * 1024),
            log_repeat: crate::explain::REPEAT,
        }
    }
}

impl TransportConfig {
    /// The default config with keep-alive and idle timeout derived from `link_timeout`, the
    /// longest a lost peer may go unnoticed after its last packet arrived: keep-alive every
    /// sixth of it (a few may be lost), idle timeout the rest (see `max_idle_timeout` for
    /// why the two add up).
    pub fn for_link_timeout(link_timeout: Duration) -> Self {
        let (keep_alive_interval, max_idle_timeout) = Self::link_timeouts(link_timeout);
        Self {
            keep_alive_interval,
            max_idle_timeout,
            ..Self::default()
        }
    }

    /// (keep-alive interval, idle timeout) for `link_timeout`.
    fn link_timeouts(link_timeout: Duration) -> (Duration, Duration) {
        let keep_alive = link_timeout / 6;
        (keep_alive, link_timeout - keep_alive)
    }

    fn to_quinn(&self) -> Result<quinn::TransportConfig, BindError> {
        if self.keep_alive_interval >= self.max_idle_timeout {
            return Err(BindError::InvalidConfig(format!(
                "keep_alive_interval ({:?}) must be shorter than max_idle_timeout ({:?})",
                self.keep_alive_interval, self.max_idle_timeout
            )));
        }
        let idle = IdleTimeout::try_from(self.max_idle_timeout)
            .map_err(|_| BindError::InvalidConfig("max_idle_timeout too large".into()))?;
        let mut t = quinn::TransportConfig::default();
        t.max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_bidi_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.max_concurrent_uni_streams))
            .keep_alive_interval(Some(self.keep_alive_interval))
            .max_idle_timeout(Some(idle))
            .initial_rtt(self.initial_rtt);
        if let Some(window) = self.receive_window {
            let window = VarInt::from_u64(window)
                .map_err(|_| BindError::InvalidConfig("receive_window too large".into()))?;
            t.receive_window(window);
        }
        // ACKs: quinn-proto >= 0.11.19 (pinned in Cargo.lock) bundles pending ACKs into
        // outgoing STREAM packets, so request/reply traffic needs no ACK-frequency tuning.
        Ok(t)
    }
}

/// Why [`Transport::bind`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The `TransportConfig` is inconsistent.
    #[error("invalid transport config: {0}")]
    InvalidConfig(String),
    /// TLS could not be configured from the identity.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP socket could not be bound (or no tokio runtime is running).
    #[error("cannot bind UDP {addr}: {source}")]
    Io {
        /// The address asked for.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// Why dialling a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The node name is not a valid node name.
    #[error(transparent)]
    InvalidNodeName(CertError),
    /// TLS could not be configured for this dial.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// quinn refused to start the dial (endpoint closed, bad address, ...).
    #[error("cannot dial {node} at {addr}: {source}")]
    Start {
        /// The node dialled.
        node: String,
        /// Its address.
        addr: SocketAddr,
        /// quinn's reason.
        source: quinn::ConnectError,
    },
    /// The handshake failed: unreachable (idle timeout), refused certificate (either side;
    /// the message carries the TLS reason), wrong ALPN, ...
    #[error("handshake with {node} at {addr} failed: {source}")]
    Handshake {
        /// The node dialled.
        node: String,
        /// Its address.
        addr: SocketAddr,
        /// quinn's reason.
        source: ConnectionError,
    },
    /// The handshake succeeded but the peer's identity could not be read (should not happen:
    /// the verifier already checked it).
    #[error("peer at {addr} has no usable node identity: {reason}")]
    PeerIdentity {
        /// The peer's address.
        addr: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// Why accepting a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The endpoint was closed; no more peers will arrive.
    #[error("endpoint closed")]
    EndpointClosed,
    /// This peer's handshake failed (refused certificate, timeout, ...). Others are unaffected.
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        /// The peer's address.
        addr: SocketAddr,
        /// quinn's reason (for a refused certificate, the TLS reason).
        source: ConnectionError,
    },
    /// The handshake succeeded but the peer's identity could not be read.
    #[error("peer at {addr} has no usable node identity: {reason}")]
    PeerIdentity {
        /// The peer's address.
        addr: SocketAddr,
        /// What was wrong.
        reason: String,
    },
}

/// A node's QUIC endpoint: one UDP socket that accepts peers and dials them.
///
/// Must be created inside a tokio runtime. Cheap to clone (shared endpoint).
#[derive(Clone)]
pub struct Transport {
    endpoint: quinn::Endpoint,
    /// The log of refused incoming connections, shared by their handshakes.
    refusals: Arc<std::sync::Mutex<Refusals>>,
    tls: TlsContext,
    transport: Arc<quinn::TransportConfig>,
    node: Arc<str>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("node", &self.node)
            .field("local_addr", &self.endpoint.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Bind `addr` (port 0 picks one) as node `identity.node()`.
    pub fn bind(
        addr: SocketAddr,
        identity: NodeIdentity,
        config: TransportConfig,
    ) -> Result<Self, BindError> {
        let transport = Arc::new(config.to_quinn()?);
        let node: Arc<str> = identity.node().into();
        let tls = TlsContext::new(Arc::new(identity))?;
        let quic = QuicServerConfig::try_from(tls.server_config()?)
            .map_err(|e| TlsError::Quic(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport.clone());
        let io = |source| BindError::Io { addr, source };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io(std::io::Error::other("no tokio runtime is running")));
        }
        let socket = std::net::UdpSocket::bind(addr).map_err(io)?;
        if let Some(size) = config.socket_buffer_size {
            set_buffer_sizes(&socket, size);
        }
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(io)?;
        Ok(Self {
            endpoint,
            refusals: Arc::new(std::sync::Mutex::new(Refusals {
                repeats: lograte::Repeats::new(config.log_repeat),
                rate: LogRate::new(lograte::BURST, lograte::INTERVAL),
            })),
            tls,
            transport,
            node,
        })
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Dial `node` at `addr`. Succeeds only if the server proves, with a certificate from the
    /// cluster CA, that it is `node`, and accepts our certificate.
    pub async fn connect(
        &self,
        node: &str,
        addr: SocketAddr,
    ) -> Result<PeerConnection, ConnectError> {
        validate_node_name(node).map_err(ConnectError::InvalidNodeName)?;
        self.dial(Some(node), node, addr).await
    }

    /// Dial whichever node answers at `addr` (a seed address), labelled `seed` in errors:
    /// the server must prove with a certificate from the cluster CA that it is some node,
    /// and the connection's [`PeerConnection::peer_node`] says which. An address never names
    /// a node: only the certificate does.
    pub async fn connect_any(
        &self,
        seed: &str,
        addr: SocketAddr,
    ) -> Result<PeerConnection, ConnectError> {
        self.dial(None, seed, addr).await
    }

    async fn dial(
        &self,
        expected: Option<&str>,
        label: &str,
        addr: SocketAddr,
    ) -> Result<PeerConnection, ConnectError> {
        let rustls = self.tls.client_config(expected)?;
        let quic = QuicClientConfig::try_from(rustls).map_err(|e| TlsError::Quic(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic));
        client.transport_config(self.transport.clone());
        let connecting = self
            .endpoint
            .connect_with(client, addr, SERVER_NAME)
            .map_err(|source| ConnectError::Start {
                node: label.to_owned(),
                addr,
                source,
            })?;
        let conn = connecting.await.map_err(|source| ConnectError::Handshake {
            node: label.to_owned(),
            addr,
            source,
        })?;
        // The verifier has checked the name; read it back the same way the acceptor does.
        let peer =
            peer_node(&conn).map_err(|reason| ConnectError::PeerIdentity { addr, reason })?;
        tracing::debug!(node = %peer, %addr, "connected");
        Ok(PeerConnection::new(conn, peer))
    }

    /// The next incoming connection attempt, before its handshake; `None` once the endpoint
    /// is closed. Spawn [`IncomingPeer::handshake`] to let handshakes proceed concurrently.
    pub async fn accept_incoming(&self) -> Option<IncomingPeer> {
        self.endpoint.accept().await.map(|incoming| IncomingPeer {
            incoming,
            refusals: self.refusals.clone(),
        })
    }

    /// The next incoming peer, handshaken: [`Transport::accept_incoming`] then
    /// [`IncomingPeer::handshake`]. A failed handshake is returned as an error (call again).
    pub async fn accept(&self) -> Result<PeerConnection, AcceptError> {
        let incoming = self
            .accept_incoming()
            .await
            .ok_or(AcceptError::EndpointClosed)?;
        incoming.handshake().await
    }

    /// Close every connection with `reason` and stop accepting.
    pub fn close(&self, reason: &str) {
        self.endpoint.close(VarInt::from_u32(0), reason.as_bytes());
    }

    /// Wait until every connection of this endpoint is closed and its packets are sent.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// Best effort: a smaller buffer than asked for is not an error (the kernel caps it).
fn set_buffer_sizes(socket: &std::net::UdpSocket, size: usize) {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if let Err(e) = setsockopt(socket, sockopt::RcvBuf, &size) {
        tracing::warn!("cannot set SO_RCVBUF to {size}: {e}");
    }
    if let Err(e) = setsockopt(socket, sockopt::SndBuf, &size) {
        tracing::warn!("cannot set SO_SNDBUF to {size}: {e}");
    }
    tracing::debug!(
        asked = size,
        rcvbuf = %getsockopt(socket, sockopt::RcvBuf).map_or_else(|e| e.to_string(), |n| n.to_string()),
        sndbuf = %getsockopt(socket, sockopt::SndBuf).map_or_else(|e| e.to_string(), |n| n.to_string()),
        "UDP socket buffers"
    );
}

/// Refused incoming connections, as logged: each address and cause once per interval, and
/// all of them at most [`lograte::BURST`] lines per [`lograte::INTERVAL`] (strangers choose
/// their addresses).
#[derive(Debug)]
struct Refusals {
    repeats: lograte::Repeats,
    rate: LogRate,
}

/// A connection attempt from a peer, before the handshake.
#[derive(Debug)]
pub struct IncomingPeer {
    incoming: quinn::Incoming,
    refusals: Arc<std::sync::Mutex<Refusals>>,
}

impl IncomingPeer {
    /// Where the attempt comes from (unauthenticated).
    pub fn remote_address(&self) -> SocketAddr {
        self.incoming.remote_address()
    }

    /// Run the handshake. On success the peer's node name comes from its verified client
    /// certificate, never from anything it says.
    pub async fn handshake(self) -> Result<PeerConnection, AcceptError> {
        let addr = self.incoming.remote_address();
        let result: Result<PeerConnection, AcceptError> = async {
            let conn = self
                .incoming
                .accept()
                .map_err(|source| AcceptError::Handshake { addr, source })?
                .await
                .map_err(|source| AcceptError::Handshake { addr, source })?;
            let peer =
                peer_node(&conn).map_err(|reason| AcceptError::PeerIdentity { addr, reason })?;
            Ok(PeerConnection::new(conn, peer))
        }
        .await;
        match &result {
            Ok(c) => tracing::debug!(node = %c.peer_node(), %addr, "accepted"),
            Err(e) => {
                // A peer retries a refused handshake every few seconds: one line per address
                // and interval, whatever the cause (one stranger's attempts end in different
                // ways: its certificate refused, its own refusal of ours, a dial it gave up);
                // anyone can try, so all addresses share a burst limit.
                let now = std::time::Instant::now();
                let mut r = self
                    .refusals
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let repeated = r.repeats.allow(now, &addr.ip().to_string());
                if let Some(repeated) = repeated.filter(|_| r.rate.allow(now).is_some()) {
                    tracing::warn!(repeated, "refused incoming connection: {e}");
                }
            }
        }
        result
    }
}

fn peer_node(conn: &quinn::Connection) -> Result<String, String> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| "no peer certificate".to_owned())?;
    let certs = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .map_err(|_| "peer identity is not a certificate chain".to_owned())?;
    let leaf = certs
        .first()
        .ok_or_else(|| "empty peer certificate chain".to_owned())?;
    node_name_from_cert(leaf).map_err(|e| e.to_string())
}

/// An authenticated connection to one peer node. Cheap to clone (shared connection).
#[derive(Debug, Clone)]
pub struct PeerConnection {
    conn: quinn::Connection,
    peer: Arc<str>,
}

impl PeerConnection {
    fn new(conn: quinn::Connection, peer: String) -> Self {
        Self {
            conn,
            peer: peer.into(),
        }
    }

    /// The peer's node name, from its verified certificate.
    pub fn peer_node(&self) -> &str {
        &self.peer
    }

    /// The peer's current UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// Open a bidirectional stream. Waits while the peer's stream limit is reached.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        self.conn.open_bi().await
    }

    /// The next bidirectional stream the peer opened.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        self.conn.accept_bi().await
    }

    /// Resolves when the connection is closed, with the reason: closed locally or by the
    /// peer (with its reason), or timed out (peer lost: nothing heard for the idle timeout).
    pub async fn closed(&self) -> ConnectionError {
        self.conn.closed().await
    }

    /// Why the connection is closed, if it is.
    pub fn close_reason(&self) -> Option<ConnectionError> {
        self.conn.close_reason()
    }

    /// The current round-trip time estimate.
    pub fn rtt(&self) -> Duration {
        self.conn.rtt()
    }

    /// Close the connection at once, telling the peer `reason`. Streams are abandoned.
    pub fn close(&self, reason: &str) {
        self.conn.close(VarInt::from_u32(0), reason.as_bytes());
    }

    /// The underlying quinn connection (unidirectional streams, datagrams, statistics).
    pub fn quinn(&self) -> &quinn::Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The idle timer restarts at the first keep-alive after the last packet received, so a
    /// silent peer is noticed `keep_alive + idle` after its last packet: that sum is the
    /// link timeout, and the keep-alive stays well inside the idle timeout.
    #[test]
    fn keep_alive_plus_idle_timeout_is_the_link_timeout() {
        for ms in [60, 1000, 1500, 3000, 10_000] {
            let link = Duration::from_millis(ms);
            let c = TransportConfig::for_link_timeout(link);
            assert_eq!(c.keep_alive_interval + c.max_idle_timeout, link, "{link:?}");
            assert!(c.keep_alive_interval * 4 < c.max_idle_timeout, "{link:?}");
            assert!(c.to_quinn().is_ok(), "{link:?}");
        }
        let d = TransportConfig::default();
        assert_eq!(
            d.keep_alive_interval + d.max_idle_timeout,
            Duration::from_secs(3)
        );
    }
}
