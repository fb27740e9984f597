//! Channels and connections: `ChannelCreate`, `ConnectAttach`, `ConnectClientInfo`, …

use qnet_core::{ChannelFlags, Chid, ClientInfo, Coid, Credentials, Nd, Pid, Scoid};
use qnet_proto::local::{request::Call, response::Result as R};

use crate::error::Result;
use crate::session::{call, unexpected};

/// `ChannelCreate(flags)`: a new channel of this process; returns its chid.
pub fn channel_create(flags: ChannelFlags) -> Result<Chid> {
    match call(Call::ChannelCreate(qnet_proto::local::ChannelCreate {
        flags: flags.0,
    }))? {
        R::Chid(c) => {
            super::priority::channel_created(c, flags);
            Ok(c)
        }
        other => Err(unexpected("ChannelCreate", &other)),
    }
}

/// `ChannelDestroy(chid)`: blocked clients get `ESRCH`, their connections go dead.
pub fn channel_destroy(chid: Chid) -> Result<()> {
    done(
        "ChannelDestroy",
        call(Call::ChannelDestroy(qnet_proto::local::ChannelDestroy {
            chid,
        }))?,
    )
}

/// `ConnectAttach(nd, pid, chid, _NTO_SIDE_CHANNEL, 0)`: a connection to a channel; `pid` 0
/// means this process.
pub fn connect_attach(nd: Nd, pid: Pid, chid: Chid) -> Result<Coid> {
    match call(Call::ConnectAttach(qnet_proto::local::ConnectAttach {
        nd,
        pid,
        chid,
    }))? {
        R::Coid(c) => Ok(c),
        other => Err(unexpected("ConnectAttach", &other)),
    }
}

/// `ConnectDetach(coid)`.
pub fn connect_detach(coid: Coid) -> Result<()> {
    done(
        "ConnectDetach",
        call(Call::ConnectDetach(qnet_proto::local::ConnectDetach {
            coid,
        }))?,
    )
}

/// QNX's `ConnectDetach(scoid)` by a server after a disconnect pulse: frees the scoid.
pub fn scoid_detach(scoid: Scoid) -> Result<()> {
    done(
        "ScoidDetach",
        call(Call::ScoidDetach(qnet_proto::local::ScoidDetach { scoid }))?,
    )
}

/// `ConnectClientInfo(scoid)`: the client's node, pid and credentials (from the OS, never from
/// the client's say-so).
pub fn connect_client_info(scoid: Scoid) -> Result<ClientInfo> {
    match call(Call::ConnectClientInfo(
        qnet_proto::local::ConnectClientInfo { scoid },
    ))? {
        R::ClientInfo(c) => Ok(ClientInfo {
            nd: c.nd,
            pid: c.pid,
            cred: Credentials {
                uid: c.uid,
                gid: c.gid,
            },
        }),
        other => Err(unexpected("ConnectClientInfo", &other)),
    }
}

/// `ConnectFlags(0, coid, mask, bits)`: change the flags of one of our connections; only
/// `_NTO_COF_REG_EVENTS` (0x2000: servers may deliver only registered events to us) is kept.
/// Returns the old flags. `EBADF` for a coid we do not have (or one to another node).
pub fn connect_flags(coid: Coid, mask: u32, bits: u32) -> Result<u32> {
    match call(Call::ConnectFlags(qnet_proto::local::ConnectFlags {
        coid,
        mask,
        bits,
    }))? {
        R::Count(old) => Ok(u32::try_from(old).unwrap_or(0)),
        other => Err(unexpected("ConnectFlags", &other)),
    }
}

/// Expect `Done`.
pub(crate) fn done(what: &str, r: R) -> Result<()> {
    match r {
        R::Done(_) => Ok(()),
        other => Err(unexpected(what, &other)),
    }
}
