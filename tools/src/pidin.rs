//! Introspection commands: `qnet pidin`, `channels`, `connections`, `names`, `nodes`, `ping`.
//!
//! Each asks the local `qnetd` over an ADMIN session; views of other nodes come through it
//! (the daemon fetches them over the peer link). With several nodes' views at hand, a thread
//! the client node only knows as NET-blocked (its call went to another node) is shown with the
//! state the server node reports for it (SEND or REPLY, on which pid/chid, which rcvid), and
//! the server node's stand-ins for remote clients are not listed twice.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use qnet_proto::local::{
    AdminNodes, AdminPing, AdminSnapshot, NodeView, NodeViews, PeerList, ProcessView, ThreadState,
    ThreadView, admin_request, admin_response,
};
use serde::Serialize;

use crate::admin_client::{AdminClient, socket};

/// Options every introspection command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// qnetd's socket (default: $QNET_SOCKET, else the first of /run/qnet/qnetd.sock and
    /// /tmp/qnetd.sock that answers).
    #[arg(long, env = qnet_proto::SOCKET_ENV)]
    socket: Option<PathBuf>,
    /// Print JSON (one document) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Which node(s) to describe.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node to describe: its name, or `all` for this node and every node that is up
    /// (default: this node).
    #[arg(short = 'n', long = "node", value_name = "NODE|all")]
    node: Option<String>,
    #[command(flatten)]
    common: Common,
}

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
    /// qnetd's socket (default: $QNET_SOCKET, else the first of /run/qnet/qnetd.sock and
    /// /tmp/qnetd.sock that answers).
    #[arg(long, env = qnet_proto::SOCKET_ENV)]
    socket: Option<PathBuf>,
}

/// `qnet nodes`.
#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    common: Common,
}

fn views(args: &NodeArgs) -> anyhow::Result<NodeViews> {
    let mut client = AdminClient::connect(&socket(args.common.socket.clone()))?;
    let query = admin_request::Query::Snapshot(AdminSnapshot {
        node: args.node.clone().unwrap_or_default(),
    });
    match client.query(query)? {
        admin_response::Result::Views(v) => {
            for e in &v.errors {
                eprintln!("qnet: node {}: {}", e.node, e.error);
            }
            if v.views.is_empty() {
                bail!("no node could be described");
            }
            Ok(v)
        }
        other => bail!("unexpected answer {other:?}"),
    }
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print `rows` (the first is the header) as left-aligned columns.
fn print_table(rows: &[Vec<String>]) {
    print!("{}", table(rows));
}

fn table(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---- pidin ----

/// Where a SEND/REPLY-blocked thread's message went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Server node.
    pub node: String,
    /// Server pid (0: unknown).
    pub pid: u32,
    /// Server channel (0: unknown).
    pub chid: i32,
}

/// One thread, as `qnet pidin` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadRow {
    /// Node the thread runs on.
    pub node: String,
    /// Its pid there.
    pub pid: u32,
    /// Its process's name (`/proc/<pid>/comm` on its node; empty if unknown).
    pub name: String,
    /// Its tid.
    pub tid: u32,
    /// READY, SEND, REPLY, RECEIVE or NET.
    pub state: &'static str,
    /// SEND/REPLY: the server's node/pid/chid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// SEND/REPLY: the message's rcvid (on the server's node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcvid: Option<i64>,
    /// SEND/REPLY: the connection (as the server's node numbers it for a remote client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coid: Option<i32>,
    /// RECEIVE: the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chid: Option<i32>,
    /// NET (or a resolved remote call): the node the call went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Priority, where known (that of the message the thread sent).
    pub priority: Option<u32>,
    /// Its real OS priority and policy, QNX style (`10r`, `10f`, `10o`); empty if its node
    /// could not read it.
    pub sched: String,
    /// Whether it runs at a priority inherited from what it received (or boosted).
    pub inherited: bool,
    /// The blocked-on column, as text.
    pub blocked_on: String,
}

fn state_name(state: i32) -> &'static str {
    match ThreadState::try_from(state) {
        Ok(ThreadState::Ready) => "READY",
        Ok(ThreadState::Send) => "SEND",
        Ok(ThreadState::Reply) => "REPLY",
        Ok(ThreadState::Receive) => "RECEIVE",
        Ok(ThreadState::Net) => "NET",
        Err(_) => "?",
    }
}

fn thread_row(node: &str, pid: u32, name: &str, t: &ThreadView) -> ThreadRow {
    let state = state_name(t.state);
    let mut row = ThreadRow {
        node: node.to_owned(),
        pid,
        name: name.to_owned(),
        tid: t.tid,
        state,
        target: None,
        rcvid: None,
        coid: None,
        chid: None,
        via: None,
        priority: t.priority,
        sched: t.sched.clone(),
        inherited: t.inherited,
        blocked_on: String::new(),
    };
    match ThreadState::try_from(t.state) {
        Ok(ThreadState::Send | ThreadState::Reply) => {
            let target = t.target.clone().unwrap_or_default();
            row.blocked_on = format!(
                "{}/{}/{} rcvid={}",
                target.node, target.pid, target.chid, t.rcvid
            );
            row.target = Some(Target {
                node: target.node,
                pid: target.pid,
                chid: target.chid,
            });
            row.rcvid = Some(t.rcvid);
            row.coid = Some(t.coid);
        }
        Ok(ThreadState::Receive) => {
            row.chid = Some(t.chid);
            row.blocked_on = format!("chid={}", t.chid);
        }
        Ok(ThreadState::Net) => {
            row.via = Some(t.net_node.clone());
            row.blocked_on = format!("node {} (call forwarded)", t.net_node);
        }
        _ => {}
    }
    row
}

/// Whether `p` (in some node's view) stands for a process of another node.
fn is_remote(p: &ProcessView) -> bool {
    p.nd != 0
}

/// The threads of every view, remote calls resolved across views (see the module doc).
pub fn thread_rows(views: &[NodeView]) -> Vec<ThreadRow> {
    let described: Vec<&str> = views.iter().map(|v| v.node.as_str()).collect();
    // (server node, client node, client pid, tid) → the server node's record of the thread.
    let mut stand_ins: HashMap<(&str, &str, u32, u32), &ThreadView> = HashMap::new();
    for v in views {
        for p in views_remote(v) {
            for t in &p.threads {
                stand_ins.insert((v.node.as_str(), p.node.as_str(), p.pid, t.tid), t);
            }
        }
    }
    let mut rows = Vec::new();
    for v in views {
        for p in &v.processes {
            if is_remote(p) && described.contains(&p.node.as_str()) {
                continue; // shown by its own node, resolved below
            }
            for t in &p.threads {
                let mut row = thread_row(&p.node, p.pid, &p.name, t);
                if row.state == "NET" {
                    let key = (t.net_node.as_str(), p.node.as_str(), p.pid, t.tid);
                    if let Some(remote) = stand_ins.get(&key) {
                        let mut resolved = thread_row(&p.node, p.pid, &p.name, remote);
                        resolved.via = Some(t.net_node.clone());
                        row = resolved;
                    }
                }
                rows.push(row);
            }
        }
    }
    rows
}

fn views_remote(v: &NodeView) -> impl Iterator<Item = &ProcessView> {
    v.processes.iter().filter(|p| is_remote(p))
}

/// `qnet pidin`.
pub fn pidin(args: NodeArgs) -> anyhow::Result<()> {
    let views = views(&args)?;
    let rows = thread_rows(&views.views);
    if args.common.json {
        return print_json(&rows);
    }
    let mut table = vec![
        [
            "NODE",
            "PID",
            "NAME",
            "TID",
            "PRIO",
            "STATE",
            "BLOCKED-ON",
            "MSG-PRIO",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &rows {
        table.push(vec![
            r.node.clone(),
            r.pid.to_string(),
            if r.name.is_empty() {
                "?".into()
            } else {
                r.name.clone()
            },
            r.tid.to_string(),
            match (r.sched.is_empty(), r.inherited) {
                (true, _) => "-".into(),
                (false, false) => r.sched.clone(),
                (false, true) => format!("{} inherited", r.sched),
            },
            r.state.to_owned(),
            if r.blocked_on.is_empty() {
                "-".into()
            } else {
                r.blocked_on.clone()
            },
            r.priority.map_or("-".into(), |p| p.to_string()),
        ]);
    }
    print_table(&table);
    for v in &views.views {
        if let Some(l) = &v.limits {
            println!(
                "{}: limits per process: {} channels, {} connections, {} names, {} events, {} bytes of unanswered messages",
                v.node, l.channels, l.connections, l.names, l.events, l.message_bytes
            );
        }
    }
    let limited = limit_rows(&views.views);
    if !limited.is_empty() {
        println!("\nprocesses refused by a limit (EAGAIN; see the daemon's limit_* settings):");
        print_table(&limited);
    }
    Ok(())
}

/// Processes that hit a limit, with what they hold: a header row, then one row each.
fn limit_rows(views: &[NodeView]) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "NODE",
            "PID",
            "LIMITS-HIT",
            "CHANNELS",
            "COIDS",
            "NAMES",
            "EVENTS",
            "MSG-BYTES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for v in views {
        for p in v.processes.iter().filter(|p| !p.limits_hit.is_empty()) {
            rows.push(vec![
                p.node.clone(),
                p.pid.to_string(),
                p.limits_hit.join(","),
                p.channels.len().to_string(),
                p.connections.len().to_string(),
                p.names.to_string(),
                p.events.to_string(),
                p.message_bytes.to_string(),
            ]);
        }
    }
    if rows.len() == 1 { Vec::new() } else { rows }
}

// ---- channels ----

/// One channel, as `qnet channels` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRow {
    /// Node of the owning process.
    pub node: String,
    /// Owning pid.
    pub pid: u32,
    /// The channel.
    pub chid: i32,
    /// `ChannelCreate` flags, by name (`UNBLOCK|DISCONNECT`).
    pub flags: String,
    /// The flags' value.
    pub flag_bits: u32,
    /// Messages queued (senders SEND-blocked).
    pub queued_messages: u64,
    /// Pulses queued.
    pub queued_pulses: u64,
    /// Threads RECEIVE-blocked on it.
    pub receivers: u64,
}

/// QNX names of channel flag bits.
fn flag_names(bits: u32) -> String {
    const NAMES: [(u32, &str); 8] = [
        (0x1, "FIXED_PRIORITY"),
        (0x2, "UNBLOCK"),
        (0x4, "THREAD_DEATH"),
        (0x8, "DISCONNECT"),
        (0x20, "SENDER_LEN"),
        (0x40, "COID_DISCONNECT"),
        (0x80, "REPLY_LEN"),
        (0x1000, "PRIVATE"),
    ];
    let mut names: Vec<String> = NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| (*n).to_owned())
        .collect();
    let unknown = NAMES.iter().fold(bits, |acc, (b, _)| acc & !b);
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

/// The channels of every view's own processes.
pub fn channel_rows(views: &[NodeView]) -> Vec<ChannelRow> {
    let mut rows = Vec::new();
    for v in views {
        for p in v.processes.iter().filter(|p| !is_remote(p)) {
            for c in &p.channels {
                rows.push(ChannelRow {
                    node: p.node.clone(),
                    pid: p.pid,
                    chid: c.chid,
                    flags: flag_names(c.flags),
                    flag_bits: c.flags,
                    queued_messages: c.queued_messages,
                    queued_pulses: c.queued_pulses,
                    receivers: c.receivers,
                });
            }
        }
    }
    rows
}

/// `qnet channels`.
pub fn channels(args: NodeArgs) -> anyhow::Result<()> {
    let views = views(&args)?;
    let rows = channel_rows(&views.views);
    if args.common.json {
        return print_json(&rows);
    }
    let mut table = vec![
        [
            "NODE",
            "PID",
            "CHID",
            "MSGS",
            "PULSES",
            "RECEIVERS",
            "FLAGS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &rows {
        table.push(vec![
            r.node.clone(),
            r.pid.to_string(),
            r.chid.to_string(),
            r.queued_messages.to_string(),
            r.queued_pulses.to_string(),
            r.receivers.to_string(),
            r.flags.clone(),
        ]);
    }
    print_table(&table);
    for v in &views.views {
        if let Some(l) = &v.limits {
            println!(
                "{}: at most {} queued pulses per channel (limit_queued_pulses); more fail EAGAIN",
                v.node, l.queued_pulses
            );
        }
    }
    Ok(())
}

// ---- connections ----

/// One connection, as `qnet connections` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionRow {
    /// Node of the owning (client) process.
    pub node: String,
    /// Owning pid.
    pub pid: u32,
    /// The coid.
    pub coid: i32,
    /// Where it leads (pid/chid 0: unknown).
    pub target: Target,
    /// The client's scoid at the server, where known.
    pub scoid: Option<i32>,
    /// For a connection to another node: the coid there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_coid: Option<i32>,
    /// The channel, its server or its node is gone.
    pub dead: bool,
}

/// The connections of every view's own processes; a connection to another node is completed
/// (chid, scoid) from that node's view when it is at hand.
pub fn connection_rows(views: &[NodeView]) -> Vec<ConnectionRow> {
    let mut rows = Vec::new();
    for v in views {
        for p in v.processes.iter().filter(|p| !is_remote(p)) {
            for c in &p.connections {
                let t = c.target.clone().unwrap_or_default();
                let mut row = ConnectionRow {
                    node: p.node.clone(),
                    pid: p.pid,
                    coid: c.coid,
                    target: Target {
                        node: t.node.clone(),
                        pid: t.pid,
                        chid: t.chid,
                    },
                    scoid: c.scoid,
                    remote_coid: c.remote_coid,
                    dead: c.dead,
                };
                if let Some(rc) = c.remote_coid {
                    let mirror = views
                        .iter()
                        .filter(|s| s.node == t.node)
                        .flat_map(|s| s.processes.iter())
                        .filter(|q| is_remote(q) && q.node == p.node && q.pid == p.pid)
                        .flat_map(|q| q.connections.iter())
                        .find(|m| m.coid == rc);
                    if let Some(m) = mirror {
                        let mt = m.target.clone().unwrap_or_default();
                        row.target.pid = mt.pid;
                        row.target.chid = mt.chid;
                        row.scoid = m.scoid;
                    }
                }
                rows.push(row);
            }
        }
    }
    rows
}

/// `qnet connections`.
pub fn connections(args: NodeArgs) -> anyhow::Result<()> {
    let views = views(&args)?;
    let rows = connection_rows(&views.views);
    if args.common.json {
        return print_json(&rows);
    }
    let mut table = vec![
        ["NODE", "PID", "COID", "TARGET", "SCOID", "STATE"]
            .map(String::from)
            .to_vec(),
    ];
    let unknown = |v: i64| {
        if v == 0 {
            "?".to_owned()
        } else {
            v.to_string()
        }
    };
    for r in &rows {
        let mut target = format!(
            "{}/{}/{}",
            r.target.node,
            unknown(r.target.pid.into()),
            unknown(r.target.chid.into())
        );
        if let Some(rc) = r.remote_coid {
            let _ = write!(target, " (coid {rc} there)");
        }
        table.push(vec![
            r.node.clone(),
            r.pid.to_string(),
            r.coid.to_string(),
            target,
            r.scoid.map_or("-".into(), |s| s.to_string()),
            if r.dead { "dead" } else { "alive" }.into(),
        ]);
    }
    print_table(&table);
    Ok(())
}

// ---- names ----

/// One attached name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameRow {
    /// Node the name is attached on.
    pub node: String,
    /// The name.
    pub name: String,
    /// The owning pid.
    pub pid: u32,
    /// Its channel.
    pub chid: i32,
}

/// `qnet names`.
pub fn names(args: NodeArgs) -> anyhow::Result<()> {
    let views = views(&args)?;
    let rows: Vec<NameRow> = views
        .views
        .iter()
        .flat_map(|v| {
            v.names.iter().map(|n| NameRow {
                node: v.node.clone(),
                name: n.name.clone(),
                pid: n.pid,
                chid: n.chid,
            })
        })
        .collect();
    if args.common.json {
        return print_json(&rows);
    }
    let mut table = vec![["NODE", "NAME", "PID", "CHID"].map(String::from).to_vec()];
    for r in &rows {
        table.push(vec![
            r.node.clone(),
            r.name.clone(),
            r.pid.to_string(),
            r.chid.to_string(),
        ]);
    }
    print_table(&table);
    Ok(())
}

// ---- nodes ----

/// One peer node, as `qnet nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    /// Node name.
    pub name: String,
    /// The nd this node uses for it.
    pub nd: u32,
    /// `up` or `down`.
    pub state: &'static str,
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
}

/// Bytes as MiB with one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// `unix` seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn nodes_doc(list: PeerList) -> NodesDoc {
    NodesDoc {
        node: list.node,
        cert_not_after: list.cert_not_after,
        frames: list.frame_budget.map(FrameBudgetDoc::from),
        peers: list
            .peers
            .into_iter()
            .map(|p| NodeRow {
                state: if p.up { "up" } else { "down" },
                links: p.links,
                rtt_us: p.rtt_us.filter(|_| p.up),
                addr: Some(p.addr).filter(|a| p.up && !a.is_empty()),
                cert_node: Some(p.cert_node).filter(|c| p.up && !c.is_empty()),
                cert_expires: p.cert_not_after.filter(|_| p.up).map(utc),
                cert_not_after: p.cert_not_after.filter(|_| p.up),
                frames: p.frame_budget.map(FrameBudgetDoc::from),
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
    println!(
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
            r.addr.clone().unwrap_or_else(|| "-".into()),
            r.cert_node.clone().unwrap_or_else(|| "-".into()),
            r.cert_expires.clone().unwrap_or_else(|| "-".into()),
            r.frames
                .map_or("-".into(), |f| format!("{}/{}", mib(f.peak), mib(f.limit))),
            r.frames
                .map_or("-".into(), |f| format!("{}+{}", f.refused, f.timed_out)),
        ]);
    }
    print_table(&table);
    if let Some(f) = doc.frames {
        println!(
            "peer frames being received: {} held, peak {} of {}; streams refused {}, timed out {}",
            mib(f.used),
            mib(f.peak),
            mib(f.limit),
            f.refused,
            f.timed_out
        );
    }
    Ok(())
}

// ---- ping ----

/// `qnet ping`.
pub fn ping(args: PingArgs) -> anyhow::Result<()> {
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        bail!("--interval must be a number of seconds >= 0");
    }
    let mut client = AdminClient::connect(&socket(args.socket))?;
    let interval = Duration::from_secs_f64(args.interval);
    let mut rtts: Vec<f64> = Vec::new();
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
                println!("reply from {}: seq={} time={ms:.3} ms", p.node, p.seq);
                rtts.push(ms);
            }
            Ok(other) => bail!("unexpected answer {other:?}"),
            Err(e) => println!("no reply from {}: seq={seq}: {e:#}", args.node),
        }
    }
    let received = rtts.len();
    print!(
        "--- {} ping: {} sent, {received} received",
        args.node, args.count
    );
    if received > 0 {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / received as f64;
        print!(", rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms");
    }
    println!();
    if received == 0 && args.count > 0 {
        bail!("node {} did not answer", args.node);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use qnet_proto::local::{self, ChannelView, ConnectionView};

    use super::*;

    fn thread(tid: u32, state: ThreadState) -> ThreadView {
        ThreadView {
            tid,
            state: state as i32,
            ..Default::default()
        }
    }

    /// n1: client pid 10 tid 1 NET-blocked towards n2, plus a READY thread; n2: server pid 20
    /// RECEIVE-blocked on chid 1... and REPLY-holding n1's client (stand-in nd 1).
    fn two_views() -> Vec<NodeView> {
        let mut net = thread(1, ThreadState::Net);
        net.net_node = "n2".into();
        let client = ProcessView {
            node: "n1".into(),
            nd: 0,
            pid: 10,
            threads: vec![net, thread(2, ThreadState::Ready)],
            connections: vec![ConnectionView {
                coid: 3,
                target: Some(local::Target {
                    node: "n2".into(),
                    nd: 1,
                    pid: 20,
                    chid: 0,
                }),
                scoid: None,
                remote_coid: Some(1),
                dead: false,
            }],
            ..Default::default()
        };
        let mut receive = thread(5, ThreadState::Receive);
        receive.chid = 1;
        let server = ProcessView {
            node: "n2".into(),
            nd: 0,
            pid: 20,
            threads: vec![receive],
            channels: vec![ChannelView {
                chid: 1,
                flags: 0x2 | 0x8,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut reply = thread(1, ThreadState::Reply);
        reply.target = Some(local::Target {
            node: "n2".into(),
            nd: 0,
            pid: 20,
            chid: 1,
        });
        reply.rcvid = 7;
        reply.coid = 1;
        reply.priority = Some(10);
        let stand_in = ProcessView {
            node: "n1".into(),
            nd: 1,
            pid: 10,
            threads: vec![reply],
            connections: vec![ConnectionView {
                coid: 1,
                target: Some(local::Target {
                    node: "n2".into(),
                    nd: 0,
                    pid: 20,
                    chid: 1,
                }),
                scoid: Some(1),
                remote_coid: None,
                dead: false,
            }],
            ..Default::default()
        };
        vec![
            NodeView {
                node: "n1".into(),
                processes: vec![client],
                ..Default::default()
            },
            NodeView {
                node: "n2".into(),
                processes: vec![stand_in, server],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn remote_calls_are_resolved_from_the_server_node() {
        let rows = thread_rows(&two_views());
        assert_eq!(rows.len(), 3, "{rows:#?}");
        let client = &rows[0];
        assert_eq!(
            (client.node.as_str(), client.pid, client.tid),
            ("n1", 10, 1)
        );
        assert_eq!(client.state, "REPLY");
        assert_eq!(
            client.target,
            Some(Target {
                node: "n2".into(),
                pid: 20,
                chid: 1
            })
        );
        assert_eq!(client.rcvid, Some(7));
        assert_eq!(client.via.as_deref(), Some("n2"));
        assert_eq!(client.blocked_on, "n2/20/1 rcvid=7");
        assert_eq!(rows[1].state, "READY");
        assert_eq!(rows[2].state, "RECEIVE");
        assert_eq!(rows[2].blocked_on, "chid=1");
    }

    #[test]
    fn one_node_alone_shows_net_and_stand_ins() {
        let views = two_views();
        let n1 = thread_rows(&views[..1]);
        assert_eq!(n1[0].state, "NET");
        assert_eq!(n1[0].blocked_on, "node n2 (call forwarded)");
        let n2 = thread_rows(&views[1..]);
        assert_eq!(
            n2.len(),
            2,
            "the stand-in is shown when n1 is not described"
        );
        assert_eq!((n2[0].node.as_str(), n2[0].state), ("n1", "REPLY"));
    }

    #[test]
    fn connections_to_other_nodes_are_completed_and_channels_named() {
        let views = two_views();
        let rows = connection_rows(&views);
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].target.chid, 1);
        assert_eq!(rows[0].scoid, Some(1));
        let chans = channel_rows(&views);
        assert_eq!(chans.len(), 1);
        assert_eq!(chans[0].flags, "UNBLOCK|DISCONNECT");
        assert_eq!(flag_names(0x10000 | 0x1), "FIXED_PRIORITY|0x10000");
    }

    #[test]
    fn dates_and_tables() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34:56 UTC");
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "A    BB\nccc  d\n");
    }

    #[test]
    fn processes_refused_by_a_limit_are_listed_with_what_they_hold() {
        let mut views = two_views();
        assert!(limit_rows(&views).is_empty(), "no limit hit: no section");
        let p = &mut views[0].processes[0];
        p.limits_hit = vec!["channels".into(), "queued_pulses".into()];
        p.names = 2;
        p.message_bytes = 77;
        let (node, pid, coids) = (p.node.clone(), p.pid, p.connections.len());
        let rows = limit_rows(&views);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0][2], "LIMITS-HIT");
        assert_eq!(
            rows[1],
            [
                node,
                pid.to_string(),
                "channels,queued_pulses".into(),
                "0".into(),
                coids.to_string(),
                "2".into(),
                "0".into(),
                "77".into()
            ]
        );
    }
}
