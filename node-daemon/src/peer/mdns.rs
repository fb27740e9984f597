//! Opt-in discovery on the local network (`--discover mdns`): DNS-SD over mDNS with the
//! `mdns-sd` crate (its own thread answers and browses; this module only reads its events).
//!
//! This node announces service [`SERVICE`], instance = its node name, port = its peer port,
//! addresses = the routable ones it advertises (never loopback or link-local, unless its
//! endpoint is bound to loopback), and TXT `ca` = the fingerprint of its cluster CA
//! certificate, `inc` = its incarnation (hex), `v` = the peer protocol version. It browses
//! the same service: a record whose `ca` differs belongs to another cluster and is ignored
//! without a dial (one log line per rate window); the others add candidates to the member
//! table, dialled by name like every discovery candidate (the certificate decides).
//! Interfaces: `--mdns-interface NAME` (repeatable), else all but loopback.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio_util::sync::CancellationToken;

use super::link::Ctx;

/// The DNS-SD service type of qnet daemons.
pub const SERVICE: &str = "_qnet._udp.local.";

/// What mDNS announces and where.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The bound peer endpoint.
    pub listen: SocketAddr,
    /// Its routable addresses.
    pub advertised: Vec<SocketAddr>,
    /// `--mdns-interface` (empty: all but loopback).
    pub interfaces: Vec<String>,
    /// The cluster CA's fingerprint.
    pub ca_fingerprint: String,
}

/// Start announcing and browsing; the task that takes in what is found, until `cancel`.
pub fn start(
    ctx: &Arc<Ctx>,
    settings: &Settings,
    cancel: CancellationToken,
) -> Result<impl Future<Output = ()> + use<>, String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("cannot start mDNS: {e}"))?;
    let interfaces = |r: mdns_sd::Result<()>| r.map_err(|e| format!("mDNS interfaces: {e}"));
    if !settings.interfaces.is_empty() {
        interfaces(daemon.disable_interface(IfKind::All))?;
        for name in &settings.interfaces {
            interfaces(daemon.enable_interface(IfKind::Name(name.clone())))?;
        }
    } else if settings.listen.ip().is_loopback() {
        // A loopback endpoint is reached only from this host: announce there only.
        interfaces(daemon.disable_interface(IfKind::All))?;
        interfaces(daemon.enable_interface(IfKind::LoopbackV4))?;
        interfaces(daemon.enable_interface(IfKind::LoopbackV6))?;
    } else {
        interfaces(daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6]))?;
    }
    let node = ctx.node.clone();
    let fingerprint = settings.ca_fingerprint.clone();
    let ips: Vec<IpAddr> = settings.advertised.iter().map(SocketAddr::ip).collect();
    if ips.is_empty() {
        tracing::warn!(listen = %settings.listen, "mDNS: no routable address to announce; browsing only");
    } else {
        let props = [
            ("ca", fingerprint.clone()),
            ("inc", format!("{:x}", ctx.incarnation)),
            ("v", qnet_proto::PEER_PROTOCOL_VERSION.to_string()),
        ];
        // The host name is per node and cluster, so two clusters' nodes of one name differ.
        let host = format!("{node}-{}.local.", &fingerprint[..8.min(fingerprint.len())]);
        let info = ServiceInfo::new(
            SERVICE,
            &node,
            &host,
            &ips[..],
            settings.listen.port(),
            &props[..],
        )
        .map_err(|e| format!("mDNS record: {e}"))?;
        daemon
            .register(info)
            .map_err(|e| format!("mDNS announce: {e}"))?;
    }
    let events = daemon
        .browse(SERVICE)
        .map_err(|e| format!("mDNS browse: {e}"))?;
    tracing::info!(addrs = ?settings.advertised, interfaces = ?settings.interfaces, "mDNS discovery on ({SERVICE})");
    let ctx = ctx.clone();
    let other_cluster = Mutex::new(qnet_transport::LogRate::default());
    Ok(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                event = events.recv_async() => match event {
                    Ok(ServiceEvent::ServiceResolved(r)) => {
                        found(&ctx, &fingerprint, &r, &other_cluster);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                },
            }
        }
        let _ = daemon.shutdown();
    })
}

/// A resolved record: a candidate if it is of this cluster.
fn found(
    ctx: &Ctx,
    fingerprint: &str,
    r: &mdns_sd::ResolvedService,
    other_cluster: &Mutex<qnet_transport::LogRate>,
) {
    let Some(name) = r
        .fullname
        .strip_suffix(SERVICE)
        .and_then(|n| n.strip_suffix('.'))
    else {
        return;
    };
    if name == ctx.node {
        return;
    }
    if r.get_property_val_str("ca") != Some(fingerprint) {
        if let Some(suppressed) = qnet_transport::lograte::allow_shared(other_cluster) {
            tracing::info!(peer = %name, host = %r.host, suppressed, "ignoring mDNS record: another cluster CA");
        }
        return;
    }
    let incarnation = r
        .get_property_val_str("inc")
        .and_then(|v| u64::from_str_radix(v, 16).ok());
    let addrs: Vec<SocketAddr> = r
        .addresses
        .iter()
        .map(|a| SocketAddr::new(a.to_ip_addr(), r.port))
        .collect();
    tracing::debug!(peer = %name, ?addrs, "mDNS record");
    ctx.peers.discovery.announce_mdns(name, incarnation, &addrs);
}
