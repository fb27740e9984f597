//! Test helpers: endpoints on 127.0.0.1:0 and a hang guard; certificates and the UDP relay
//! come from the workspace test kit (`qnet-testkit`).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use qnet_transport::{NodeIdentity, Transport, TransportConfig};

pub use qnet_testkit::{Certs, Relay};

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
