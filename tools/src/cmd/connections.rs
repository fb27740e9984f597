//! `qnet connections`: owner, target node/pid/chid, scoid, alive or dead.

use std::fmt::Write as _;

use qnet_proto::local::NodeView;
use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;

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

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cmd::fixtures::two_views;

    #[test]
    fn connections_to_other_nodes_are_completed() {
        let rows = connection_rows(&two_views());
        assert_eq!(rows.len(), 1, "{rows:#?}");
        assert_eq!(rows[0].target.chid, 1);
        assert_eq!(rows[0].scoid, Some(1));
    }
}
