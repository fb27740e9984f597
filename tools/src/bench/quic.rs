//! The network floor: a raw quinn ping-pong between two processes over 127.0.0.1, one
//! long-lived connection, one long-lived bidirectional stream per client, the same framing
//! as the Unix-socket floor. Endpoints come from `qnet_transport` (real certificates from the
//! cluster CA, the daemon's `TransportConfig`), so the floor runs the settings qnetd runs.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail};
use qnet_transport::{
    CertAuthority, NodeIdentity, PeerConnection, RecvStream, SendStream, Transport,
    TransportConfig, Validity, issue_node_cert,
};

use super::procs::{Peer, announce, exit_when_stdin_closes};
use super::stats::Sample;
use super::workload::{Budget, run_tasks};

/// Node names of the floor's two ends (certificates are issued for them).
const CLIENT_NODE: &str = "rawc";
const SERVER_NODE: &str = "raws";

/// A cluster CA and certificates for `nodes` (plus the floor's own two) in `dir`.
pub fn issue_certs(dir: &Path, nodes: &[&str]) -> Result<()> {
    let ca = CertAuthority::generate("qnet-bench")?;
    ca.save(dir, false)?;
    for node in nodes.iter().chain(&[CLIENT_NODE, SERVER_NODE]) {
        issue_node_cert(&ca, node, Validity::days(1))?.save(dir, true)?;
    }
    Ok(())
}

/// Peer side (`qnet bench peer quic CERTS`): accept connections, echo every frame on every
/// stream. One `current_thread` runtime, as in qnetd.
pub fn serve(certs: &Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let identity = NodeIdentity::load(certs, SERVER_NODE)?;
        let addr: SocketAddr = "127.0.0.1:0".parse()?;
        let transport = Transport::bind(addr, identity, TransportConfig::default())?;
        exit_when_stdin_closes();
        announce(&transport.local_addr()?.to_string());
        while let Some(incoming) = transport.accept_incoming().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.handshake().await else {
                    return;
                };
                while let Ok((send, recv)) = conn.accept_bi().await {
                    tokio::spawn(echo(send, recv));
                }
            });
        }
        Ok(())
    })
}

async fn echo(mut send: SendStream, mut recv: RecvStream) -> Result<()> {
    let mut buf = Vec::new();
    loop {
        read_frame(&mut recv, &mut buf).await?;
        send.write_all(&buf).await?;
    }
}

async fn read_frame(recv: &mut RecvStream, buf: &mut Vec<u8>) -> Result<()> {
    let mut header = [0u8; 4];
    recv.read_exact(&mut header).await?;
    let len = u32::from_le_bytes(header) as usize;
    buf.resize(4 + len, 0);
    buf[..4].copy_from_slice(&header);
    recv.read_exact(&mut buf[4..]).await?;
    Ok(())
}

/// The echo peer and one connection to it, driven by a one-worker runtime (the worker keeps
/// the connection alive between measurements; the client tasks run on it, as on a
/// `current_thread` runtime).
pub struct Floor {
    conn: PeerConnection,
    _transport: Transport,
    rt: tokio::runtime::Runtime,
    _peer: Peer,
}

impl Floor {
    /// Start the echo peer and connect to it with the certificates in `certs`.
    pub fn start(certs: &Path) -> Result<Self> {
        let certs_str = certs.to_str().context("temp path is not UTF-8")?;
        let peer = Peer::start("quic", &[certs_str])?;
        let addr: SocketAddr = peer.field(0)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (transport, conn) = rt.block_on(async {
            let identity = NodeIdentity::load(certs, CLIENT_NODE)?;
            let transport =
                Transport::bind("127.0.0.1:0".parse()?, identity, TransportConfig::default())?;
            let conn = transport.connect(SERVER_NODE, addr).await?;
            anyhow::Ok((transport, conn))
        })?;
        Ok(Self {
            conn,
            _transport: transport,
            rt,
            _peer: peer,
        })
    }

    /// `clients` streams on the one connection, each a closed-loop ping-pong of `size` bytes.
    pub fn measure(&self, size: usize, clients: usize, budget: Budget) -> Result<Sample> {
        let conn = &self.conn;
        run_tasks(
            &self.rt,
            clients,
            size,
            budget,
            |_| async move {
                let (send, recv) = conn.open_bi().await?;
                let mut out = vec![0x5a; 4 + size];
                out[..4].copy_from_slice(&(size as u32).to_le_bytes());
                Ok((send, recv, out, Vec::with_capacity(4 + size)))
            },
            |(mut send, mut recv, out, mut back): (SendStream, RecvStream, Vec<u8>, Vec<u8>)| async move {
                send.write_all(&out).await?;
                read_frame(&mut recv, &mut back).await?;
                if back.len() != out.len() {
                    bail!("echo of {} bytes came back as {}", out.len(), back.len());
                }
                Ok((send, recv, out, back))
            },
        )
    }
}
