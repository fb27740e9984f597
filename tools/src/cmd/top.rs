//! `qnet top`: live message and pulse rates per channel and byte rates per peer link,
//! refreshed in the terminal. Each refresh takes one snapshot (the same the introspection
//! commands read: every channel's `messages_total`/`pulses_total`, every peer's
//! `bytes_sent`/`bytes_received`) and divides the growth since the previous one by the time
//! between them; the counters are kept by the daemons (the kernel counts deliveries per
//! channel, QUIC counts bytes), so `top` adds no cost to the calls it watches.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use qnet_proto::local::{AdminNodes, NodeViews, admin_request, admin_response};
use serde::Serialize;

use super::render::table;
use super::*;
use crate::admin_client::{AdminClient, socket};

/// `qnet top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Seconds between refreshes.
    #[arg(short = 'i', long, default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many refreshes (default: until interrupted).
    #[arg(short = 'c', long)]
    count: Option<u64>,
    /// Rows per table (busiest first).
    #[arg(long, default_value_t = 20)]
    rows: usize,
    #[command(flatten)]
    nodes: NodeArgs,
}

/// One channel's counters at one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChannelTotals {
    /// Messages delivered since it was created.
    pub messages: u64,
    /// Pulses delivered since it was created.
    pub pulses: u64,
}

/// One channel in a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelRate {
    /// Node of the owning process.
    pub node: String,
    /// Owning pid and its name.
    pub pid: u32,
    /// Process name (`?` if unknown).
    pub name: String,
    /// The channel.
    pub chid: i32,
    /// Messages per second since the previous refresh.
    pub msgs_per_s: f64,
    /// Pulses per second since the previous refresh.
    pub pulses_per_s: f64,
    /// Messages delivered since the channel was created.
    pub messages_total: u64,
    /// Pulses delivered since the channel was created.
    pub pulses_total: u64,
    /// Messages queued now.
    pub queued: u64,
    /// Threads RECEIVE-blocked on it now.
    pub receivers: u64,
}

/// One peer link in a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerRate {
    /// Peer node.
    pub node: String,
    /// `up` or `down`.
    pub state: &'static str,
    /// UDP bytes per second sent since the previous refresh.
    pub sent_per_s: f64,
    /// UDP bytes per second received since the previous refresh.
    pub received_per_s: f64,
    /// QUIC's smoothed RTT, microseconds.
    pub rtt_us: Option<u64>,
}

/// One refresh (`--json` prints one per line).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refresh {
    /// Seconds the rates are measured over (0 for the first refresh of `--count 1`).
    pub seconds: f64,
    /// Channels, busiest first.
    pub channels: Vec<ChannelRate>,
    /// Peers of the local node.
    pub peers: Vec<PeerRate>,
}

type ChannelKey = (String, u32, i32);

/// Per-second growth of `now` over `before` across `seconds` (0 when no time passed; a
/// counter that went down, because its channel or link was replaced, counts from zero).
pub fn rate(before: Option<u64>, now: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    let grown = match before {
        Some(b) if b <= now => now - b,
        Some(_) => now,
        None => 0,
    };
    grown as f64 / seconds
}

/// The rates of `views` against the previous totals, which are replaced by the new ones.
pub fn channel_rates(
    views: &NodeViews,
    previous: &mut HashMap<ChannelKey, ChannelTotals>,
    seconds: f64,
) -> Vec<ChannelRate> {
    let mut next = HashMap::new();
    let mut rows = Vec::new();
    for v in &views.views {
        for p in v.processes.iter().filter(|p| !is_remote(p)) {
            for c in &p.channels {
                let key = (v.node.clone(), p.pid, c.chid);
                let before = previous.get(&key);
                rows.push(ChannelRate {
                    node: v.node.clone(),
                    pid: p.pid,
                    name: if p.name.is_empty() {
                        "?".into()
                    } else {
                        p.name.clone()
                    },
                    chid: c.chid,
                    msgs_per_s: rate(before.map(|b| b.messages), c.messages_total, seconds),
                    pulses_per_s: rate(before.map(|b| b.pulses), c.pulses_total, seconds),
                    messages_total: c.messages_total,
                    pulses_total: c.pulses_total,
                    queued: c.queued_messages,
                    receivers: c.receivers,
                });
                next.insert(
                    key,
                    ChannelTotals {
                        messages: c.messages_total,
                        pulses: c.pulses_total,
                    },
                );
            }
        }
    }
    *previous = next;
    rows.sort_by(|a, b| {
        (b.msgs_per_s + b.pulses_per_s)
            .total_cmp(&(a.msgs_per_s + a.pulses_per_s))
            .then((b.messages_total + b.pulses_total).cmp(&(a.messages_total + a.pulses_total)))
    });
    rows
}

/// `qnet top`.
pub fn top(args: TopArgs) -> anyhow::Result<()> {
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        bail!("--interval must be a number of seconds >= 0");
    }
    let mut client = AdminClient::connect(&socket(args.nodes.common.socket.clone()))?;
    let json = args.nodes.common.json;
    let clear = !json && std::io::stdout().is_terminal();
    let mut channels = HashMap::new();
    let mut peers: HashMap<String, (u64, u64)> = HashMap::new();
    let mut last: Option<Instant> = None;
    let mut shown = 0;
    loop {
        let views = views_over(&mut client, &args.nodes)?;
        let list = match client.query(admin_request::Query::Nodes(AdminNodes {}))? {
            admin_response::Result::Peers(p) => p,
            other => bail!("unexpected answer {other:?}"),
        };
        let now = Instant::now();
        let seconds = last.map_or(0.0, |l| now.duration_since(l).as_secs_f64());
        let first = last.is_none();
        last = Some(now);
        let channel_rows = channel_rates(&views, &mut channels, seconds);
        let peer_rows = list
            .peers
            .iter()
            .map(|p| {
                let before = peers.insert(p.name.clone(), (p.bytes_sent, p.bytes_received));
                PeerRate {
                    node: p.name.clone(),
                    state: if p.up { "up" } else { "down" },
                    sent_per_s: rate(before.map(|b| b.0), p.bytes_sent, seconds),
                    received_per_s: rate(before.map(|b| b.1), p.bytes_received, seconds),
                    rtt_us: p.rtt_us.filter(|_| p.up),
                }
            })
            .collect();
        // The first snapshot is only a baseline, unless one refresh is all that was asked.
        if !first || args.count == Some(1) {
            let refresh = Refresh {
                seconds,
                channels: channel_rows,
                peers: peer_rows,
            };
            if json {
                outln!("{}", serde_json::to_string(&refresh)?);
            } else {
                if clear {
                    out!("\x1b[2J\x1b[H");
                }
                out!("{}", render(&refresh, args.rows));
            }
            shown += 1;
            if args.count.is_some_and(|c| shown >= c) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_secs_f64(args.interval));
    }
}

fn render(r: &Refresh, rows: usize) -> String {
    let mut out = format!("qnet top: rates over the last {:.1} s\n\n", r.seconds);
    let mut channels = vec![
        [
            "NODE", "PID", "NAME", "CHID", "MSG/S", "PULSE/S", "MSGS", "PULSES", "QUEUED", "RECV",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for c in r.channels.iter().take(rows) {
        channels.push(vec![
            c.node.clone(),
            c.pid.to_string(),
            c.name.clone(),
            c.chid.to_string(),
            format!("{:.1}", c.msgs_per_s),
            format!("{:.1}", c.pulses_per_s),
            c.messages_total.to_string(),
            c.pulses_total.to_string(),
            c.queued.to_string(),
            c.receivers.to_string(),
        ]);
    }
    out.push_str(&table(&channels));
    if !r.peers.is_empty() {
        out.push('\n');
        let mut peers = vec![
            ["PEER", "STATE", "SENT KB/S", "RECEIVED KB/S", "RTT"]
                .map(String::from)
                .to_vec(),
        ];
        for p in r.peers.iter().take(rows) {
            peers.push(vec![
                p.node.clone(),
                p.state.into(),
                format!("{:.1}", p.sent_per_s / 1000.0),
                format!("{:.1}", p.received_per_s / 1000.0),
                p.rtt_us
                    .map_or("-".into(), |us| format!("{:.3} ms", us as f64 / 1000.0)),
            ]);
        }
        out.push_str(&table(&peers));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::fixtures::two_views;

    #[test]
    fn rates_are_growth_over_time_and_busiest_come_first() {
        assert_eq!(rate(Some(10), 30, 2.0), 10.0);
        assert_eq!(rate(None, 30, 2.0), 0.0, "a new channel has no rate yet");
        assert_eq!(
            rate(Some(50), 20, 2.0),
            10.0,
            "a replaced counter counts from 0"
        );
        assert_eq!(rate(Some(10), 30, 0.0), 0.0);

        let mut views = NodeViews {
            views: two_views(),
            ..Default::default()
        };
        let mut prev = HashMap::new();
        let rows = channel_rates(&views, &mut prev, 0.0);
        assert_eq!(
            rows.len(),
            1,
            "the stand-in's channels are not listed: {rows:?}"
        );
        assert_eq!(prev.len(), 1);
        // Another channel; the first one receives 30 messages and 4 pulses in 2 s.
        let server = &mut views.views[1].processes[1];
        let mut quiet = server.channels[0];
        quiet.chid = 2;
        server.channels.push(quiet);
        server.channels[0].messages_total += 30;
        server.channels[0].pulses_total += 4;
        let rows = channel_rates(&views, &mut prev, 2.0);
        assert_eq!(rows[0].chid, 1);
        assert_eq!((rows[0].msgs_per_s, rows[0].pulses_per_s), (15.0, 2.0));
        assert_eq!((rows[1].chid, rows[1].msgs_per_s), (2, 0.0));
        let text = render(
            &Refresh {
                seconds: 2.0,
                channels: rows,
                peers: Vec::new(),
            },
            20,
        );
        assert!(text.contains("MSG/S"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("n2") && l.contains("15.0")),
            "{text}"
        );
    }
}
