//! `qnet names`: attached names.

use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;

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
