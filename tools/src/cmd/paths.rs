//! `qnet paths`: the pathname space, the paths resource managers attached (`resmgr_attach`).

use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;

/// One attached path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRow {
    /// Node the path is attached on (reached elsewhere as `/net/<node>/<path>`).
    pub node: String,
    /// The path (`-` for an `FTYPEONLY` attachment, which has none).
    pub path: String,
    /// The manager's pid.
    pub pid: u32,
    /// The manager's process name on its node (empty if unknown).
    pub owner: String,
    /// Its channel.
    pub chid: i32,
    /// The attachment's id (`resmgr_attach`'s return value).
    pub id: u32,
    /// `_RESMGR_FLAG_*` by name (`DIR`, `AFTER`, …).
    pub flags: String,
    /// `_FTYPE_*` number (0 = any).
    pub file_type: u32,
}

/// `_RESMGR_FLAG_*` bits by name.
fn flag_names(bits: u32) -> String {
    let names = [
        (0x1, "BEFORE"),
        (0x2, "AFTER"),
        (0x4, "DIR"),
        (0x8, "OPAQUE"),
        (0x10, "FTYPEONLY"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "-".into()
    } else {
        set.join("|")
    }
}

/// `qnet paths`.
pub fn paths(args: NodeArgs) -> anyhow::Result<()> {
    let views = views(&args)?;
    let rows: Vec<PathRow> = views
        .views
        .iter()
        .flat_map(|v| {
            v.paths.iter().map(|p| PathRow {
                node: v.node.clone(),
                path: if p.path.is_empty() {
                    "-".into()
                } else {
                    p.path.clone()
                },
                pid: p.pid,
                owner: v
                    .processes
                    .iter()
                    .find(|proc| proc.nd == 0 && proc.pid == p.pid)
                    .map(|proc| proc.name.clone())
                    .unwrap_or_default(),
                chid: p.chid,
                id: p.id,
                flags: flag_names(p.flags),
                file_type: p.file_type,
            })
        })
        .collect();
    if args.common.json {
        return print_json(&rows);
    }
    let mut table = vec![
        [
            "NODE", "PATH", "PID", "OWNER", "CHID", "ID", "FLAGS", "FTYPE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &rows {
        table.push(vec![
            r.node.clone(),
            r.path.clone(),
            r.pid.to_string(),
            r.owner.clone(),
            r.chid.to_string(),
            r.id.to_string(),
            r.flags.clone(),
            r.file_type.to_string(),
        ]);
    }
    print_table(&table);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_by_name() {
        assert_eq!(flag_names(0), "-");
        assert_eq!(flag_names(0x4 | 0x2), "AFTER|DIR");
    }
}
