//! Node names and node descriptors: `netmgr_strtond`, `netmgr_ndtostr`, and the string form
//! `node/pid/chid` of a channel ([`parse_target`]).

use qnet_core::{Chid, Errno, Nd, Pid};
use qnet_proto::codec::{LocalAnswer, LocalRequest, NetmgrRequest};

use crate::error::{Error, Result};
use crate::session::{call, unexpected};

/// `netmgr_strtond(name)`: the node descriptor this node uses for node `name` (this node's
/// own name gives 0, `ND_LOCAL_NODE`). `ENOENT` if the daemon knows no node by that name.
pub fn netmgr_strtond(name: &str) -> Result<Nd> {
    match call(LocalRequest::Netmgr(NetmgrRequest::StrToNd {
        name: name.into(),
    }))? {
        LocalAnswer::Nd(nd) => Ok(nd),
        other => Err(unexpected("netmgr_strtond", &other)),
    }
}

/// The environment setting that makes node 0 and bare names mean another node, for programs
/// that hard-code them (QNX programs written for one node): `QNET_NODE=n2`.
pub const NODE_ENV: &str = "QNET_NODE";

/// The node `QNET_NODE` names, read once per process (`None` when unset or empty).
pub fn default_node() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| std::env::var(NODE_ENV).ok().filter(|s| !s.is_empty()))
        .as_deref()
}

/// The node descriptor node 0 means: 0, or the node `QNET_NODE` names (`EHOSTUNREACH`, naming
/// the variable and the node, if the daemon knows no such node).
pub fn default_nd() -> Result<Nd> {
    let Some(node) = default_node() else {
        return Ok(0);
    };
    netmgr_strtond(node).map_err(|e| match e.errno() {
        Errno::ENOENT => Error::new(
            Errno::EHOSTUNREACH,
            format!(
                "{NODE_ENV}={node}: no node named {node:?} is known to qnetd: give a node \
                 `qnet nodes` lists, or unset {NODE_ENV} for this node"
            ),
        ),
        _ => e,
    })
}

/// `netmgr_ndtostr(nd)`: the name of node `nd` (0 gives this node's name). `ENOENT` if no
/// node has that descriptor.
pub fn netmgr_ndtostr(nd: Nd) -> Result<String> {
    match call(LocalRequest::Netmgr(NetmgrRequest::NdToStr { nd }))? {
        LocalAnswer::NodeName(name) => Ok(name),
        other => Err(unexpected("netmgr_ndtostr", &other)),
    }
}

/// The parts of a target string, before the node name is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetParts<'a> {
    /// The node name; `None` for the bare `pid/chid` form (this node).
    pub node: Option<&'a str>,
    /// The server's process id.
    pub pid: Pid,
    /// The server's channel id.
    pub chid: Chid,
}

/// Split `node/pid/chid` or `pid/chid` without asking the daemon anything (`EINVAL` if the
/// string has another shape or the numbers do not parse).
pub fn split_target(s: &str) -> Result<TargetParts<'_>> {
    let bad = |why: &str| {
        Error::new(
            Errno::EINVAL,
            format!("{s:?} is not node/pid/chid or pid/chid: {why}"),
        )
    };
    let parts: Vec<&str> = s.split('/').collect();
    let (node, pid, chid) = match parts[..] {
        [node, pid, chid] => {
            if node.is_empty() {
                return Err(bad("empty node name"));
            }
            (Some(node), pid, chid)
        }
        [pid, chid] => (None, pid, chid),
        _ => return Err(bad("expected two or three parts separated by '/'")),
    };
    let pid = pid.parse().map_err(|_| bad("pid is not a number"))?;
    let chid = chid.parse().map_err(|_| bad("chid is not a number"))?;
    Ok(TargetParts { node, pid, chid })
}

/// Parse the string form of a channel, `node/pid/chid` (e.g. `n2/4711/1`) or `pid/chid`
/// (this node), into the arguments of `ConnectAttach`. The node name is resolved with
/// [`netmgr_strtond`]: this node's own name gives nd 0; a node the daemon does not know fails
/// with `EHOSTUNREACH` (as a send to it would). Malformed strings fail with `EINVAL`.
pub fn parse_target(s: &str) -> Result<(Nd, Pid, Chid)> {
    let parts = split_target(s)?;
    let nd = match parts.node {
        None => super::ND_LOCAL_NODE,
        Some(node) => match netmgr_strtond(node) {
            Ok(nd) => nd,
            Err(e) if e.errno() == Errno::ENOENT => {
                return Err(Error::new(
                    Errno::EHOSTUNREACH,
                    format!("{s:?}: no node named {node:?} is known to this node"),
                ));
            }
            Err(e) => return Err(e),
        },
    };
    Ok((nd, parts.pid, parts.chid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_both_forms() {
        assert_eq!(
            split_target("n2/4711/3").unwrap(),
            TargetParts {
                node: Some("n2"),
                pid: 4711,
                chid: 3
            }
        );
        assert_eq!(
            split_target("12/1").unwrap(),
            TargetParts {
                node: None,
                pid: 12,
                chid: 1
            }
        );
    }

    #[test]
    fn refuses_other_shapes() {
        for s in ["", "n2", "n2/1/2/3", "/1/2", "n2/x/1", "n2/1/y", "1", "a/b"] {
            assert_eq!(split_target(s).unwrap_err().errno(), Errno::EINVAL, "{s:?}");
        }
    }
}
