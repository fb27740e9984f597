//! Channels and connections: `ChannelCreate`, `ConnectAttach`, `ConnectClientInfo`, …

use qnet_core::{Call, ChannelFlags, Chid, ClientInfo, Coid, Completion as C, Nd, Pid, Scoid};

use crate::error::Result;
use crate::session::{kernel, unexpected};

/// `ChannelCreate(flags)`: a new channel of this process; returns its chid.
pub fn channel_create(flags: ChannelFlags) -> Result<Chid> {
    match kernel("ChannelCreate", Call::ChannelCreate { flags })? {
        C::Chid(c) => {
            super::priority::channel_created(c, flags);
            crate::direct::channel_made(c);
            Ok(c)
        }
        other => Err(unexpected("ChannelCreate", &other)),
    }
}

/// `ChannelDestroy(chid)`: blocked clients get `ESRCH`, their connections go dead; a chid that
/// names no channel of this process is `EINVAL` (as QNX).
pub fn channel_destroy(chid: Chid) -> Result<()> {
    done(
        "ChannelDestroy",
        kernel("ChannelDestroy", Call::ChannelDestroy { chid })?,
    )?;
    super::name::forget_named_later(chid);
    crate::direct::channel_gone(chid);
    Ok(())
}

/// `ConnectAttach(nd, pid, chid, _NTO_SIDE_CHANNEL, 0)`: a connection to a channel; `pid` 0
/// means this process. `nd` 0 is this node, unless `QNET_NODE` names another
/// ([`super::netmgr::default_node`]; a connection to this process stays local).
pub fn connect_attach(nd: Nd, pid: Pid, chid: Chid) -> Result<Coid> {
    let own = pid == 0 || pid == std::process::id();
    let nd = if nd == 0 && !own {
        super::netmgr::default_nd()?
    } else {
        nd
    };
    match kernel("ConnectAttach", Call::ConnectAttach { nd, pid, chid })? {
        C::Coid(c) => Ok(c),
        other => Err(unexpected("ConnectAttach", &other)),
    }
}

/// `ConnectDetach(coid)`.
pub fn connect_detach(coid: Coid) -> Result<()> {
    done(
        "ConnectDetach",
        kernel("ConnectDetach", Call::ConnectDetach { coid })?,
    )?;
    crate::direct::forget_coid(coid);
    Ok(())
}

/// QNX's `ConnectDetach(scoid)` by a server after a disconnect pulse: frees the scoid.
pub fn scoid_detach(scoid: Scoid) -> Result<()> {
    done(
        "ScoidDetach",
        kernel("ScoidDetach", Call::ScoidDetach { scoid })?,
    )
}

/// `ConnectClientInfo(scoid)`: the client's node, pid and credentials (from the OS, never from
/// the client's say-so).
pub fn connect_client_info(scoid: Scoid) -> Result<ClientInfo> {
    match kernel("ConnectClientInfo", Call::ConnectClientInfo { scoid })? {
        C::ClientInfo(c) => Ok(c),
        other => Err(unexpected("ConnectClientInfo", &other)),
    }
}

/// `ConnectFlags(0, coid, mask, bits)`: change the flags of one of our connections; only
/// `_NTO_COF_REG_EVENTS` (0x2000: servers may deliver only registered events to us) is kept.
/// Returns the old flags. `EBADF` for a coid we do not have (or one to another node).
pub fn connect_flags(coid: Coid, mask: u32, bits: u32) -> Result<u32> {
    match kernel("ConnectFlags", Call::ConnectFlags { coid, mask, bits })? {
        C::Count(old) => Ok(u32::try_from(old).unwrap_or(0)),
        other => Err(unexpected("ConnectFlags", &other)),
    }
}

/// Expect `Done`.
pub(crate) fn done(what: &str, c: C) -> Result<()> {
    match c {
        C::Done => Ok(()),
        other => Err(unexpected(what, &other)),
    }
}
