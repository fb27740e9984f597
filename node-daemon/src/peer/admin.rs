//! Introspection across the peer link: admin streams (a peer asks for this node's view, or
//! pings this daemon) and the asking side, plus what the peer table knows about each link
//! (RTT, address, the peer certificate's name and expiry), [`peer_views`] (the peers as `qnet
//! nodes` and the metrics show them) and the expiry of this node's certificates.
//!
//! An admin stream starts with `PeerStreamFrame { admin | ping }`; each such frame is
//! answered with one `PeerAdminAnswer`, in order, until the asker finishes its side. Nothing
//! here changes the kernel.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use qnet_core::Nd;
use qnet_proto::local::{self, NodeView};
use qnet_proto::peer::{
    PeerAdmin, PeerAdminAnswer, PeerPing, PeerPong, PeerStreamFrame, peer_admin_answer,
    peer_stream_frame,
};
use qnet_transport::{PeerConnection, RecvStream, SendStream};
use rustls_pki_types::CertificateDer;

use super::Peers;
use super::budget::BudgetStats;
use super::frames::{self, FrameReader, StreamError};
use crate::driver::Driver;

/// Admin frames are small; a node view can be large on a busy node.
const MAX_ADMIN_FRAME: usize = 16 * 1024 * 1024;

/// How long an admin exchange with a peer may take before it counts as failed.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the peer table knows about the newest link to a node.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// Live connections to the node.
    pub links: u32,
    /// QUIC's RTT estimate of the newest link.
    pub rtt: Duration,
    /// Its remote address.
    pub addr: String,
    /// The node name in the peer's (verified) certificate.
    pub cert_node: String,
    /// The peer certificate's expiry, unix seconds (if it could be read).
    pub cert_not_after: Option<i64>,
    /// Streams the peer may have open at once on the newest link (its window, `window`).
    pub stream_window: u32,
    /// UDP payload bytes sent on the live links (QUIC's own count, headers and
    /// retransmissions included; a link's bytes leave the sum when it closes).
    pub bytes_sent: u64,
    /// UDP payload bytes received on the live links.
    pub bytes_received: u64,
}

/// Why an admin exchange with a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No live link to the node.
    #[error("no live link to node {0}")]
    NoLink(Nd),
    /// The connection failed.
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The stream failed or carried a bad frame.
    #[error("{0}")]
    Stream(#[from] StreamError),
    /// The peer answered with something else (or not at all: e.g. an older daemon).
    #[error("unexpected answer from the peer")]
    Unexpected,
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// The expiry (`notAfter`, unix seconds) of a DER certificate.
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The expiry of this node's certificate `DIR/NODE.pem`, unix seconds.
pub fn own_cert_not_after(certs: &Path, node: &str) -> Option<i64> {
    let pem = std::fs::read(certs.join(format!("{node}.pem"))).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    cert_not_after(&pem.contents)
}

/// The expiry of the cluster CA's certificate `DIR/ca.pem`, unix seconds.
pub fn ca_cert_not_after(certs: &Path) -> Option<i64> {
    let pem = std::fs::read(certs.join("ca.pem")).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    cert_not_after(&pem.contents)
}

fn peer_cert_not_after(conn: &PeerConnection) -> Option<i64> {
    let identity = conn.quinn().peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    chain.first().and_then(|leaf| cert_not_after(leaf))
}

impl Peers {
    /// The newest link to `nd`, if any.
    fn newest(&self, nd: Nd) -> Option<PeerConnection> {
        self.lock()
            .links
            .get(&nd)
            .and_then(|l| l.last())
            .map(|l| l.conn.clone())
    }

    /// What the table knows about the links to `nd`; `None` without a live link.
    pub fn link_info(&self, nd: Nd) -> Option<LinkInfo> {
        let (conn, links, stream_window, (bytes_sent, bytes_received)) = {
            let t = self.lock();
            let links = t.links.get(&nd)?;
            let newest = links.last()?;
            let bytes = links.iter().fold((0u64, 0u64), |(tx, rx), l| {
                let stats = l.conn.quinn().stats();
                (tx + stats.udp_tx.bytes, rx + stats.udp_rx.bytes)
            });
            (
                newest.conn.clone(),
                links.len(),
                newest.window.current(),
                bytes,
            )
        };
        Some(LinkInfo {
            bytes_sent,
            bytes_received,
            links: u32::try_from(links).unwrap_or(u32::MAX),
            rtt: conn.rtt(),
            addr: conn.remote_address().to_string(),
            cert_node: conn.peer_node().to_owned(),
            cert_not_after: peer_cert_not_after(&conn),
            stream_window,
        })
    }

    /// Ask node `nd` for its view.
    pub async fn fetch_view(&self, nd: Nd) -> Result<NodeView, AdminError> {
        let frame = peer_stream_frame::Frame::Admin(PeerAdmin {});
        match self.exchange(nd, frame).await? {
            peer_admin_answer::Answer::View(v) => Ok(v),
            peer_admin_answer::Answer::Pong(_) => Err(AdminError::Unexpected),
        }
    }

    /// One round trip to node `nd`'s daemon over a new admin stream: the time from writing
    /// the ping to reading its pong.
    pub async fn ping(&self, nd: Nd, seq: u64) -> Result<Duration, AdminError> {
        let started = Instant::now();
        match self
            .exchange(nd, peer_stream_frame::Frame::Ping(PeerPing { seq }))
            .await?
        {
            peer_admin_answer::Answer::Pong(p) if p.seq == seq => Ok(started.elapsed()),
            _ => Err(AdminError::Unexpected),
        }
    }

    async fn exchange(
        &self,
        nd: Nd,
        frame: peer_stream_frame::Frame,
    ) -> Result<peer_admin_answer::Answer, AdminError> {
        let conn = self.newest(nd).ok_or(AdminError::NoLink(nd))?;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await?;
            frames::write(&mut send, &PeerStreamFrame { frame: Some(frame) }).await?;
            let _ = send.finish();
            let mut reader = FrameReader::new(MAX_ADMIN_FRAME);
            match reader.read::<PeerAdminAnswer>(&mut recv).await? {
                Some(PeerAdminAnswer { answer: Some(a) }) => Ok(a),
                _ => Err(AdminError::Unexpected),
            }
        };
        tokio::time::timeout(ADMIN_TIMEOUT, exchange)
            .await
            .unwrap_or(Err(AdminError::Timeout(ADMIN_TIMEOUT)))
    }
}

/// This node's name and its peers with their links (`qnet nodes`, the per-peer metrics):
/// every node the kernel numbers, then the names only announced (by a member directory or
/// mDNS), which have no nd. `peers`: the peer table, if the daemon has one.
pub fn peer_views(driver: &Driver, peers: Option<&Peers>) -> (String, Vec<local::PeerView>) {
    let (node, nodes): (String, Vec<(Nd, String, bool)>) = driver.inspect(|kernel, _| {
        (
            kernel.node_name(0).unwrap_or_default().to_owned(),
            kernel
                .nodes()
                .map(|(nd, name, up)| (nd, name.to_owned(), up))
                .collect(),
        )
    });
    let mut members: BTreeMap<String, super::members::MemberView> = peers
        .map(|p| {
            p.discovery
                .members()
                .views()
                .into_iter()
                .map(|v| (v.name.to_string(), v))
                .collect()
        })
        .unwrap_or_default();
    let unix = |t: std::time::SystemTime| {
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(secs.as_secs()).unwrap_or(i64::MAX)
    };
    let member_fields = |view: &mut local::PeerView, m: super::members::MemberView| {
        view.configured_addr = m.configured.unwrap_or_default();
        view.last_error = m.last_error;
        view.last_seen = m.last_seen.map(unix);
        view.learnt = m.learnt.iter().map(|l| (*l).to_owned()).collect();
        view.candidates = m.addrs.iter().map(ToString::to_string).collect();
        view.incarnation = m.incarnation;
        view.unverified = !m.verified;
    };
    let mut views: Vec<local::PeerView> = nodes
        .into_iter()
        .map(|(nd, name, up)| {
            let mut view = local::PeerView {
                name,
                nd,
                up,
                ..Default::default()
            };
            if let Some(node) = peers.map(|p| p.node(nd)) {
                view.frame_budget = Some(frame_budget(node.budget_stats()));
            }
            if let Some(m) = members.remove(&view.name) {
                member_fields(&mut view, m);
            }
            if let Some(info) = peers.and_then(|p| p.link_info(nd)) {
                view.links = info.links;
                view.rtt_us = Some(u64::try_from(info.rtt.as_micros()).unwrap_or(u64::MAX));
                view.addr = info.addr;
                view.cert_node = info.cert_node;
                view.cert_not_after = info.cert_not_after;
                view.stream_window = info.stream_window;
                view.bytes_sent = info.bytes_sent;
                view.bytes_received = info.bytes_received;
            }
            view
        })
        .collect();
    for (name, m) in members {
        let mut view = local::PeerView {
            name,
            ..Default::default()
        };
        member_fields(&mut view, m);
        views.push(view);
    }
    (node, views)
}

/// A budget's counters as `qnet nodes` shows them.
pub fn frame_budget(s: BudgetStats) -> local::FrameBudget {
    local::FrameBudget {
        used: s.used,
        peak: s.peak,
        limit: s.limit,
        refused: s.refused,
        timed_out: s.timed_out,
    }
}

/// Why an admin stream was closed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The stream failed or carried a bad frame.
    #[error("{0}")]
    Stream(#[from] StreamError),
    /// A well-formed frame an admin stream does not allow.
    #[error("unexpected frame: {0}")]
    Unexpected(&'static str),
}

/// Serve an admin stream whose first frame was `first`: answer it and every later admin
/// frame, until the peer finishes its side.
pub async fn serve(
    driver: &Driver,
    first: peer_stream_frame::Frame,
    send: &mut SendStream,
    recv: &mut RecvStream,
    reader: &mut FrameReader,
) -> Result<(), ServeError> {
    let mut next = Some(first);
    while let Some(frame) = next {
        let answer = match frame {
            peer_stream_frame::Frame::Admin(_) => {
                peer_admin_answer::Answer::View(crate::node_view::node_view(driver))
            }
            peer_stream_frame::Frame::Ping(p) => {
                peer_admin_answer::Answer::Pong(PeerPong { seq: p.seq })
            }
            // A call on an admin stream: end it.
            peer_stream_frame::Frame::Call(_) => {
                return Err(ServeError::Unexpected("call frame on an admin stream"));
            }
        };
        let answer = PeerAdminAnswer {
            answer: Some(answer),
        };
        frames::write(send, &answer).await?;
        next = match reader.read::<PeerStreamFrame>(recv).await? {
            Some(PeerStreamFrame { frame: Some(f) }) => Some(f),
            Some(PeerStreamFrame { frame: None }) | None => None,
        };
    }
    let _ = send.finish();
    Ok(())
}
