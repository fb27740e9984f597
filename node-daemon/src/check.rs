//! `qnetd --check`: everything a start would find wrong with the configuration, found without
//! starting — the certificates load and name this node and are not expired, the socket's
//! directory exists, the peer address is one this host has. A running daemon is not
//! disturbed (nothing is bound on its socket or port).

use std::net::{SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use qnet_transport::NodeIdentity;

use crate::config::Config;

/// Check `config` beyond what parsing it did. `Ok` is a one-line summary, `Err` the one line
/// saying what is wrong and what to do.
pub fn check(config: &Config) -> Result<String, String> {
    if let Some(dir) = config.socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(format!(
                "socket directory {} does not exist (socket {}): create it, or give another \
                 --socket",
                dir.display(),
                config.socket.display()
            ));
        }
    }
    if let (Some(listen), Some(certs)) = (config.listen, &config.certs) {
        NodeIdentity::load(certs, &config.node).map_err(|e| {
            format!(
                "loading the certificates of node {n} from {d}: {e} (make them with `qnet \
                 cert init --dir DIR` and `qnet cert issue --dir DIR --node {n}`)",
                n = config.node,
                d = certs.display()
            )
        })?;
        if let Some(not_after) = crate::peer::own_cert_not_after(certs, &config.node) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if not_after <= now {
                return Err(format!(
                    "the certificate of node {n} in {d} has expired: issue a new one with \
                     `qnet cert issue --dir DIR --node {n} --force`",
                    n = config.node,
                    d = certs.display()
                ));
            }
        }
        // Port 0: the address must be this host's, but the port may be a running daemon's.
        UdpSocket::bind(SocketAddr::new(listen.ip(), 0)).map_err(|e| {
            format!(
                "--listen {listen}: {} is not an address of this host ({e}): give one of its \
                 addresses, or 0.0.0.0",
                listen.ip()
            )
        })?;
    }
    Ok(format!(
        "configuration OK: node {}, socket {}, {}",
        config.node,
        config.socket.display(),
        match config.listen {
            None => "single-node (no --listen)".to_owned(),
            Some(l) => format!(
                "listen {l}, {} peer(s), {} seed(s){}",
                config.peers.len(),
                config.seeds.len(),
                if config.discover == crate::config::Discover::Mdns {
                    ", mDNS"
                } else {
                    ""
                }
            ),
        }
    ))
}
