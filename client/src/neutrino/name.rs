//! Names: `name_attach`, `name_detach`, `name_open`, `name_close`.

use qnet_core::{Call, ChannelFlags, Chid, Coid, Completion as C, Errno};

use super::channel::{connect_detach, done};
use crate::error::{Error, Result};
use crate::session::{kernel, process_info, unexpected};

/// `name_attach(NULL, name, flags)`: creates a channel with
/// `_NTO_CHF_UNBLOCK | _NTO_CHF_DISCONNECT | _NTO_CHF_COID_DISCONNECT | flags` and attaches
/// `name` to it (unique on this node, else `EEXIST`). Returns the channel id.
pub fn name_attach(name: &str, flags: ChannelFlags) -> Result<Chid> {
    let call = Call::NameAttach {
        name: name.into(),
        flags,
    };
    match kernel("name_attach", call)? {
        C::Chid(c) => {
            super::priority::channel_created(c, flags);
            crate::direct::channel_made(c);
            Ok(c)
        }
        other => Err(unexpected("name_attach", &other)),
    }
}

/// `name_attach(dpp, name)` on a channel this process made already (a dispatch's): `name`
/// goes on `chid`, whose flags stay; [`name_detach`] then removes the name and leaves the
/// channel.
pub fn name_attach_channel(name: &str, chid: Chid) -> Result<()> {
    let call = Call::NameAttachChannel {
        name: name.into(),
        chid,
    };
    done("name_attach", kernel("name_attach", call)?)?;
    named_later().insert(chid);
    Ok(())
}

/// Channel `chid` is destroyed: a name it had went with it.
pub(crate) fn forget_named_later(chid: Chid) {
    named_later().remove(&chid);
}

/// Channels named by [`name_attach_channel`]: their `name_detach` leaves them.
fn named_later() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<Chid>> {
    static SET: std::sync::Mutex<std::collections::BTreeSet<Chid>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    SET.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `name_detach`: removes the name and destroys its channel.
pub fn name_detach(chid: Chid) -> Result<()> {
    done(
        "name_detach",
        kernel("name_detach", Call::NameDetach { chid })?,
    )?;
    if !named_later().remove(&chid) {
        crate::direct::channel_gone(chid);
    }
    Ok(())
}

/// `name_open(name, 0)`: a connection to the channel `name` is attached to (`ENOENT` if none).
///
/// `name` may be node-qualified as `node/name`: the daemon strips this node's own name, and
/// forwards any other node's to that node (`EHOSTUNREACH` if it knows no such node,
/// `EHOSTDOWN` if the node is down). The connection then works like one from
/// `ConnectAttach(nd, …)`. A bare name means the node `QNET_NODE` names, if it is set.
pub fn name_open(name: &str) -> Result<Coid> {
    // A bare name means the node QNET_NODE names, if set.
    let qualified;
    let name = match super::netmgr::default_node() {
        Some(node) if !name.contains('/') => {
            qualified = format!("{node}/{name}");
            &qualified
        }
        _ => name,
    };
    // This node's own prefix is stripped here too: a daemon without networking does not
    // know its node name for names, only for the hello.
    let name = match name.split_once('/') {
        Some((node, rest)) if node == &*process_info()?.node => rest,
        _ => name,
    };
    let result = kernel("name_open", Call::NameOpen { name: name.into() });
    match result {
        Ok(C::Coid(c)) => Ok(c),
        Ok(other) => Err(unexpected("name_open", &other)),
        // The daemon's answer says what is wrong, not with which node: name it.
        Err(e) => Err(match (e.errno(), name.split_once('/')) {
            (Errno::EHOSTUNREACH, Some((node, _))) => Error::new(
                Errno::EHOSTUNREACH,
                format!(
                    "name_open({name:?}): no node named {node:?} is known to this node{}",
                    if super::netmgr::default_node() == Some(node) {
                        format!(" (from {}={node})", super::netmgr::NODE_ENV)
                    } else {
                        String::new()
                    }
                ),
            ),
            (Errno::EHOSTDOWN, Some((node, _))) => Error::new(
                Errno::EHOSTDOWN,
                format!("name_open({name:?}): node {node:?} is down"),
            ),
            _ => e,
        }),
    }
}

/// `name_close(coid)` (a `ConnectDetach`).
pub fn name_close(coid: Coid) -> Result<()> {
    connect_detach(coid)
}

/// Strip a `node/` prefix naming this node; another node fails with `remote`.
pub(crate) fn local_part(name: &str, remote: Errno) -> Result<&str> {
    let Some((node, rest)) = name.split_once('/') else {
        return Ok(name);
    };
    let local = process_info()?.node;
    if node == &*local {
        Ok(rest)
    } else {
        Err(Error::new(
            remote,
            format!("{name:?} names node {node:?}, this node is {local:?}"),
        ))
    }
}
