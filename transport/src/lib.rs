//! `qnet-transport`: QUIC between qnet daemons (quinn + rustls, mutual TLS from a cluster CA).
//!
//! - [`certs`]: the cluster CA, node certificates, their files, the node name in a certificate.
//! - [`tls`]: rustls configurations and verifiers (who may talk to whom).
//! - [`endpoint`]: [`Transport`] (one endpoint per node, accepts and dials) and
//!   [`PeerConnection`] (an authenticated connection to one peer node).
//! - [`reconnect`]: [`Backoff`] and [`Transport::connect_with_backoff`].
//! - [`framing`]: the `LengthDelimitedCodec` of qnet frames on streams, bounded (tools, tests).
//! - [`lograte`]: [`LogRate`], the rate limit of repeated log lines about a peer.
//!
//! Typical use: `Transport::bind(addr, NodeIdentity::load(dir, "n1")?, TransportConfig::default())`,
//! then `connect("n2", addr)` / `accept()`, one bidirectional stream per request, frames on it.

pub mod certs;
pub mod endpoint;
pub mod explain;
pub mod framing;
pub mod lograte;
pub mod reconnect;
pub mod tls;

pub use certs::{
    CertAuthority, CertError, NodeCert, NodeIdentity, Validity, issue_node_cert,
    node_name_from_cert, validate_node_name,
};
pub use endpoint::{
    AcceptError, BindError, ConnectError, IncomingPeer, PeerConnection, Transport, TransportConfig,
};
pub use framing::codec as frame_codec;
pub use lograte::LogRate;
pub use quinn::{ConnectionError, RecvStream, SendStream};
pub use reconnect::Backoff;
pub use tls::ALPN;
