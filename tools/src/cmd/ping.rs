//! `qnet ping`: round trips to a node's daemon over the peer link.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use qnet_proto::local::{AdminPing, admin_request, admin_response};
use serde::Serialize;

use crate::admin_client::{AdminClient, socket};

/// `qnet ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    /// Node whose daemon to ping.
    node: String,
    /// Number of round trips.
    #[arg(short = 'c', long, default_value_t = 4)]
    count: u64,
    /// Pause between round trips, in seconds (may be 0).
    #[arg(short = 'i', long, default_value_t = 1.0)]
    interval: f64,
    /// Print one JSON object at the end instead of a line per round trip.
    #[arg(long)]
    json: bool,
    /// qnetd's socket (default: $QNET_SOCKET, else the first of /run/qnet/qnetd.sock and
    /// /tmp/qnetd.sock that answers).
    #[arg(long, env = qnet_proto::SOCKET_ENV)]
    socket: Option<PathBuf>,
}

/// `qnet ping`.
pub fn ping(args: PingArgs) -> anyhow::Result<()> {
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        bail!("--interval must be a number of seconds >= 0");
    }
    let mut client = AdminClient::connect(&socket(args.socket))?;
    let interval = Duration::from_secs_f64(args.interval);
    let mut doc = PingDoc {
        node: args.node.clone(),
        sent: args.count,
        ..PingDoc::default()
    };
    for seq in 1..=args.count {
        if seq > 1 {
            std::thread::sleep(interval);
        }
        let query = admin_request::Query::Ping(AdminPing {
            node: args.node.clone(),
            seq,
        });
        match client.query(query) {
            Ok(admin_response::Result::Pong(p)) => {
                let ms = p.rtt_ns as f64 / 1e6;
                if !args.json {
                    outln!("reply from {}: seq={} time={ms:.3} ms", p.node, p.seq);
                }
                doc.replies.push(PingReply {
                    seq: p.seq,
                    rtt_ms: ms,
                });
            }
            Ok(other) => bail!("unexpected answer {other:?}"),
            Err(e) => {
                if !args.json {
                    outln!("no reply from {}: seq={seq}: {e:#}", args.node);
                }
                doc.errors.push(PingError {
                    seq,
                    error: format!("{e:#}"),
                });
            }
        }
    }
    let rtts: Vec<f64> = doc.replies.iter().map(|r| r.rtt_ms).collect();
    doc.received = rtts.len() as u64;
    if !rtts.is_empty() {
        doc.rtt_min_ms = Some(rtts.iter().copied().fold(f64::INFINITY, f64::min));
        doc.rtt_max_ms = Some(rtts.iter().copied().fold(0.0, f64::max));
        doc.rtt_avg_ms = Some(rtts.iter().sum::<f64>() / rtts.len() as f64);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!(
            "--- {} ping: {} sent, {} received",
            doc.node,
            doc.sent,
            doc.received
        );
        if let (Some(min), Some(avg), Some(max)) = (doc.rtt_min_ms, doc.rtt_avg_ms, doc.rtt_max_ms)
        {
            out!(", rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
        }
        outln!();
    }
    if doc.received == 0 && args.count > 0 {
        bail!("node {} did not answer", args.node);
    }
    Ok(())
}

/// `qnet ping --json`.
#[derive(Debug, Default, Serialize)]
struct PingDoc {
    node: String,
    sent: u64,
    received: u64,
    rtt_min_ms: Option<f64>,
    rtt_avg_ms: Option<f64>,
    rtt_max_ms: Option<f64>,
    replies: Vec<PingReply>,
    errors: Vec<PingError>,
}

#[derive(Debug, Serialize)]
struct PingReply {
    seq: u64,
    rtt_ms: f64,
}

#[derive(Debug, Serialize)]
struct PingError {
    seq: u64,
    error: String,
}
