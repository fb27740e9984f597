//! `qnet channels`: flags, queued messages and pulses, waiting receivers.

use qnet_proto::local::NodeView;
use serde::Serialize;

use super::render::{print_json, print_table};
use super::*;

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
            outln!(
                "{}: at most {} queued pulses per channel (limit_queued_pulses); more fail EAGAIN",
                v.node,
                l.queued_pulses
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cmd::fixtures::two_views;

    #[test]
    fn channels_are_named_with_their_flags() {
        let chans = channel_rows(&two_views());
        assert_eq!(chans.len(), 1);
        assert_eq!(chans[0].flags, "UNBLOCK|DISCONNECT");
        assert_eq!(flag_names(0x10000 | 0x1), "FIXED_PRIORITY|0x10000");
    }
}
