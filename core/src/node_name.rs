//! The rule for node names, one place for every crate that takes one: `qnetd --node` and its
//! config file, `qnet cert issue`, certificates presented by peers, the kernel's node table.
//!
//! A node name is 1 to 63 bytes of ASCII letters, digits, `-`, `_` and `.` (a host name or
//! a dotted domain name fits), and is not `all`, which means "every node" in qnet's commands
//! (`qnet pidin -n all`). Names are case-sensitive. A `/` would break `node/name` and
//! `node/pid/chid` addressing, hence the closed alphabet.

/// Longest node name, in bytes.
pub const MAX_NODE_NAME_LEN: usize = 63;

/// The name qnet's commands read as "every node": never a node's own.
pub const ALL_NODES: &str = "all";

/// The rule, in words, for error messages.
pub const NODE_NAME_RULE: &str =
    "1 to 63 of A-Z a-z 0-9 - _ . and not \"all\" (which means every node)";

/// Why a node name is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid node name {name:?}: {reason} (allowed: {NODE_NAME_RULE})")]
pub struct NodeNameError {
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Check `name` against the rule ([`NODE_NAME_RULE`]).
pub fn validate_node_name(name: &str) -> Result<(), NodeNameError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NODE_NAME_LEN {
        Some("longer than 63 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("contains a character other than A-Z a-z 0-9 - _ .")
    } else if name == ALL_NODES {
        Some("reserved")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NodeNameError {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        let long = "z".repeat(63);
        for ok in [
            "n1",
            "a",
            "A_b-9",
            "-x",
            "x-",
            "host.example.org",
            "ALL",
            &long,
        ] {
            validate_node_name(ok).unwrap();
        }
        let longer = "z".repeat(64);
        for bad in ["", "a b", "é", "a/b", "bad/name", "all", "a:b", &longer] {
            let e = validate_node_name(bad).unwrap_err();
            assert!(e.to_string().contains(NODE_NAME_RULE), "{e}");
        }
        assert_eq!(validate_node_name("all").unwrap_err().reason, "reserved");
    }
}
