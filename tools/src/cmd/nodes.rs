//! `qnet nodes` (like `ls /net`): link state, round-trip time, certificate.

use anyhow::bail;
use clap::Args;
use qnet_proto::local::{AdminNodes, PeerList, admin_request, admin_response};
use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;
use crate::admin_client::{AdminClient, socket};

/// `qnet nodes`.
#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    common: Common,
}

/// One peer node, as `qnet nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    /// Node name.
    pub name: String,
    /// The nd this node uses for it (0: unverified, not numbered).
    pub nd: u32,
    /// `up`, `down`, or `unverified` (only announced by a member directory or mDNS: no
    /// certificate has proved the name yet).
    pub state: &'static str,
    /// How this node learnt of it: `static`, `seed`, `directory`, `mdns`, `incoming`.
    pub learnt: Vec<String>,
    /// Addresses it may be dialled at.
    pub candidates: Vec<String>,
    /// Its daemon's incarnation, as its last link said.
    pub incarnation: Option<u64>,
    /// Live QUIC connections.
    pub links: u32,
    /// QUIC's smoothed round-trip time, microseconds (up only).
    pub rtt_us: Option<u64>,
    /// Remote address (up only).
    pub addr: Option<String>,
    /// Node name in its certificate (up only).
    pub cert_node: Option<String>,
    /// Certificate expiry, unix seconds (up only).
    pub cert_not_after: Option<i64>,
    /// The same as a UTC date.
    pub cert_expires: Option<String>,
    /// Its frames being received: the daemon's memory budget for this peer node.
    pub frames: Option<FrameBudgetDoc>,
    /// UDP bytes sent on the live links (up only; QUIC's count).
    pub bytes_sent: Option<u64>,
    /// UDP bytes received on the live links (up only).
    pub bytes_received: Option<u64>,
    /// The address this node dials it at (`--peer NAME=ADDR`; `None`: it dials in).
    pub configured_addr: Option<String>,
    /// Why its last dial or link failed, in plain words (down only).
    pub last_error: Option<String>,
    /// When a link to it was last up, unix seconds (down only).
    pub last_seen: Option<i64>,
}

/// A peer memory budget of frames being received (`qnetd --peer-memory-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameBudgetDoc {
    /// Bytes held now.
    pub used: u64,
    /// Most bytes held at once.
    pub peak: u64,
    /// The limit.
    pub limit: u64,
    /// Streams refused because the budget was in use.
    pub refused: u64,
    /// Streams closed because a frame stopped arriving.
    pub timed_out: u64,
}

impl From<qnet_proto::local::FrameBudget> for FrameBudgetDoc {
    fn from(b: qnet_proto::local::FrameBudget) -> Self {
        Self {
            used: b.used,
            peak: b.peak,
            limit: b.limit,
            refused: b.refused,
            timed_out: b.timed_out,
        }
    }
}

/// A seed (`qnetd --seed HOST:PORT`) as its last round found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedDoc {
    /// The seed as configured.
    pub seed: String,
    /// What its name resolved to.
    pub addrs: Vec<String>,
    /// Nodes linked at those addresses.
    pub nodes: Vec<String>,
    /// Why its last round failed (e.g. the DNS error).
    pub last_error: Option<String>,
}

/// `qnet nodes --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodesDoc {
    /// This node.
    pub node: String,
    /// Its certificate's expiry, unix seconds.
    pub cert_not_after: Option<i64>,
    /// Its peers.
    pub peers: Vec<NodeRow>,
    /// All peers' frames being received.
    pub frames: Option<FrameBudgetDoc>,
    /// Its seeds.
    pub seeds: Vec<SeedDoc>,
    /// Announced nodes the member table's caps dropped.
    pub members_refused: u64,
    /// How many records this node's daemon keeps, by table (`Tables` in `local.proto`).
    pub tables: Option<std::collections::BTreeMap<&'static str, u64>>,
}

/// The daemon's tables by name.
pub(crate) fn tables_doc(
    t: qnet_proto::local::Tables,
) -> std::collections::BTreeMap<&'static str, u64> {
    [
        ("processes", t.processes),
        ("remote_processes", t.remote_processes),
        ("blocked", t.blocked),
        ("deadlines", t.deadlines),
        ("messages", t.messages),
        ("channels", t.channels),
        ("connections", t.connections),
        ("remote_connections", t.remote_connections),
        ("scoids", t.scoids),
        ("names", t.names),
        ("events", t.events),
        ("remote_events", t.remote_events),
        ("served", t.served),
        ("forwarded", t.forwarded),
        ("exited", t.exited),
        ("inherited", t.inherited),
        ("thread_sessions", t.thread_sessions),
        ("remote_routes", t.remote_routes),
        ("process_sessions", t.process_sessions),
        ("calls_in_flight", t.calls_in_flight),
        ("links", t.links),
    ]
    .into_iter()
    .collect()
}

/// Bytes as MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `unix` seconds as `YYYY-MM-DD HH:MM:SS UTC` (`?` outside the range `time` represents).
pub fn utc(unix: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "?".to_owned())
}

pub(crate) fn nodes_doc(list: PeerList) -> NodesDoc {
    NodesDoc {
        node: list.node,
        cert_not_after: list.cert_not_after,
        frames: list.frame_budget.map(FrameBudgetDoc::from),
        members_refused: list.members_refused,
        seeds: list
            .seeds
            .into_iter()
            .map(|s| SeedDoc {
                seed: s.seed,
                addrs: s.addrs,
                nodes: s.nodes,
                last_error: s.last_error,
            })
            .collect(),
        tables: list.tables.map(tables_doc),
        peers: list
            .peers
            .into_iter()
            .map(|p| NodeRow {
                state: if p.up {
                    "up"
                } else if p.unverified {
                    "unverified"
                } else {
                    "down"
                },
                learnt: p.learnt,
                candidates: p.candidates,
                incarnation: p.incarnation,
                links: p.links,
                rtt_us: p.rtt_us.filter(|_| p.up),
                addr: Some(p.addr).filter(|a| p.up && !a.is_empty()),
                cert_node: Some(p.cert_node).filter(|c| p.up && !c.is_empty()),
                cert_expires: p.cert_not_after.filter(|_| p.up).map(utc),
                cert_not_after: p.cert_not_after.filter(|_| p.up),
                frames: p.frame_budget.map(FrameBudgetDoc::from),
                bytes_sent: Some(p.bytes_sent).filter(|_| p.up),
                bytes_received: Some(p.bytes_received).filter(|_| p.up),
                configured_addr: Some(p.configured_addr).filter(|a| !a.is_empty()),
                last_error: p.last_error.filter(|_| !p.up),
                last_seen: p.last_seen.filter(|_| !p.up),
                name: p.name,
                nd: p.nd,
            })
            .collect(),
    }
}

/// `qnet nodes`.
pub fn nodes(args: NodesArgs) -> anyhow::Result<()> {
    let mut client = AdminClient::connect(&socket(args.common.socket))?;
    let list = match client.query(admin_request::Query::Nodes(AdminNodes {}))? {
        admin_response::Result::Peers(p) => p,
        other => bail!("unexpected answer {other:?}"),
    };
    let doc = nodes_doc(list);
    if args.common.json {
        return print_json(&doc);
    }
    outln!(
        "this node: {} (certificate expires {})",
        doc.node,
        doc.cert_not_after.map_or("-".into(), utc)
    );
    let mut table = vec![
        [
            "NODE",
            "ND",
            "STATE",
            "LINKS",
            "RTT",
            "ADDRESS",
            "LEARNT",
            "CERT",
            "CERT EXPIRES",
            "FRAMES PEAK/LIMIT",
            "REFUSED+STALLED",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &doc.peers {
        table.push(vec![
            r.name.clone(),
            r.nd.to_string(),
            r.state.into(),
            r.links.to_string(),
            r.rtt_us
                .map_or("-".into(), |us| format!("{:.3} ms", us as f64 / 1000.0)),
            r.addr
                .clone()
                .or_else(|| r.configured_addr.clone())
                .or_else(|| r.candidates.first().cloned())
                .unwrap_or_else(|| "-".into()),
            if r.learnt.is_empty() {
                "-".into()
            } else {
                r.learnt.join(",")
            },
            r.cert_node.clone().unwrap_or_else(|| "-".into()),
            r.cert_expires.clone().unwrap_or_else(|| "-".into()),
            r.frames
                .map_or("-".into(), |f| format!("{}/{}", mib(f.peak), mib(f.limit))),
            r.frames
                .map_or("-".into(), |f| format!("{}+{}", f.refused, f.timed_out)),
        ]);
    }
    print_table(&table);
    for r in doc.peers.iter().filter(|r| r.state != "up") {
        outln!(
            "{}: {}, last seen {}{}{}",
            r.name,
            r.state,
            r.last_seen.map_or("never".into(), utc),
            if r.candidates.is_empty() {
                String::new()
            } else {
                format!("; dialled at {}", r.candidates.join(" "))
            },
            r.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}"))
        );
    }
    for s in &doc.seeds {
        outln!(
            "seed {}: {}{}{}",
            s.seed,
            if s.addrs.is_empty() {
                "not resolved".to_owned()
            } else {
                format!("at {}", s.addrs.join(" "))
            },
            if s.nodes.is_empty() {
                String::new()
            } else {
                format!(" (node {})", s.nodes.join(", "))
            },
            s.last_error
                .as_ref()
                .map_or(String::new(), |e| format!("; last error: {e}"))
        );
    }
    if doc.members_refused > 0 {
        outln!(
            "announced nodes dropped (member table full): {}",
            doc.members_refused
        );
    }
    if let Some(f) = doc.frames {
        outln!(
            "peer frames being received: {} held, peak {} of {}; streams refused {}, timed out {}",
            mib(f.used),
            mib(f.peak),
            mib(f.limit),
            f.refused,
            f.timed_out
        );
    }
    if let Some(t) = &doc.tables {
        // The tables that hold something (`--json` lists them all).
        let held: Vec<String> = t
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        outln!("records kept: {}", held.join(" "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34:56 UTC");
    }
}
