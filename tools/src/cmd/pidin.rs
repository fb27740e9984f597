//! `qnet pidin`: threads of every process, with what they are blocked on (like QNX's pidin).

use std::collections::HashMap;

use qnet_proto::local::{NodeView, ProcessView, ThreadState, ThreadView};
use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;

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
            outln!(
                "{}: limits per process: {} channels, {} connections, {} names, {} events, {} bytes of unanswered messages",
                v.node,
                l.channels,
                l.connections,
                l.names,
                l.events,
                l.message_bytes
            );
        }
    }
    let limited = limit_rows(&views.views);
    if !limited.is_empty() {
        outln!("\nprocesses refused by a limit (EAGAIN; see the daemon's limit_* settings):");
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

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cmd::fixtures::two_views;

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
