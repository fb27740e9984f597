//! Test helpers: certificates in a temp dir, endpoints on 127.0.0.1:0, a UDP relay that can
//! black-hole traffic, a hang guard.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qnet_transport::{
    CertAuthority, NodeIdentity, Transport, TransportConfig, Validity, issue_node_cert,
};
use tokio::net::UdpSocket;

/// A cluster CA with its files in a temp dir.
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: CertAuthority,
}

impl Certs {
    pub fn new(cluster: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::generate(cluster).unwrap();
        ca.save(dir.path(), false).unwrap();
        Self { dir, ca }
    }

    /// Issue `name` (valid for a day), write it, load it back from disk.
    pub fn node(&self, name: &str) -> NodeIdentity {
        self.node_valid(name, Validity::days(1))
    }

    pub fn node_valid(&self, name: &str, validity: Validity) -> NodeIdentity {
        issue_node_cert(&self.ca, name, validity)
            .unwrap()
            .save(self.dir.path(), true)
            .unwrap();
        NodeIdentity::load(self.dir.path(), name).unwrap()
    }
}

pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn bind(id: NodeIdentity) -> Transport {
    bind_with(id, TransportConfig::default())
}

pub fn bind_with(id: NodeIdentity, cfg: TransportConfig) -> Transport {
    Transport::bind(localhost(), id, cfg).unwrap()
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("qnet_transport=debug")
        .try_init();
}

/// Fails the test instead of hanging forever. Not a timing assertion.
pub async fn guard<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("hang guard: the operation did not finish within 20 s")
}

/// A UDP relay in front of `upstream`: dial `relay.addr` instead. `blackhole(true)` drops
/// every datagram in both directions, like a pulled cable.
pub struct Relay {
    pub addr: SocketAddr,
    dropping: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Self {
        let front = Arc::new(UdpSocket::bind(localhost()).await.unwrap());
        let back = Arc::new(UdpSocket::bind(localhost()).await.unwrap());
        back.connect(upstream).await.unwrap();
        let addr = front.local_addr().unwrap();
        let dropping = Arc::new(AtomicBool::new(false));
        let drop2 = dropping.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut a = vec![0u8; 65536];
            let mut b = vec![0u8; 65536];
            loop {
                tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { return };
                        client = Some(from);
                        if !drop2.load(Ordering::Relaxed) {
                            let _ = back.send(&a[..n]).await;
                        }
                    }
                    r = back.recv(&mut b) => {
                        let Ok(n) = r else { return };
                        if let (Some(c), false) = (client, drop2.load(Ordering::Relaxed)) {
                            let _ = front.send_to(&b[..n], c).await;
                        }
                    }
                }
            }
        });
        Self {
            addr,
            dropping,
            task,
        }
    }

    pub fn blackhole(&self, on: bool) {
        self.dropping.store(on, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
