//! Channels and connections: `ChannelCreate`, `ChannelDestroy`, `ConnectAttach`,
//! `ConnectDetach` (of a coid or, after a disconnect pulse, a scoid), `ConnectClientInfo`.

use libc::{c_int, c_uint, pid_t};
use qnet::neutrino as n;
use qnet::{ChannelFlags, Errno};

use crate::ids::{self, Detach, SIDE_CHANNEL};
use crate::layout::CClientInfo;
use crate::{CResult, errno_of, kcall};

fn channel_create(flags: c_uint) -> CResult {
    // Flags qnet does not implement (_NTO_CHF_NET_MSG, …) are accepted and ignored, as a
    // QNX program expects its usual flags to work.
    let flags = ChannelFlags(flags & ChannelFlags::KNOWN.0);
    n::channel_create(flags).map(i64::from).map_err(errno_of)
}

fn channel_destroy(chid: c_int) -> CResult {
    // EINVAL for a chid that names no channel of this process (the kernel's answer, as QNX).
    n::channel_destroy(chid).map(|()| 0).map_err(errno_of)
}

/// `ConnectAttach`: `nd` 0 is this node unless `QNET_NODE` names another (a connection to
/// this process, pid 0 or our own pid, stays local); `index` with `_NTO_SIDE_CHANNEL` gives a
/// coid carrying that bit.
pub(crate) fn connect_attach(
    nd: u32,
    pid: pid_t,
    chid: c_int,
    index: c_uint,
    flags: c_int,
) -> CResult {
    let own = pid == 0 || pid == std::process::id() as pid_t;
    let nd = if nd == 0 && !own {
        ids::default_nd()?
    } else {
        nd
    };
    let pid = u32::try_from(pid).map_err(|_| Errno::ESRCH)?;
    let coid = n::connect_attach(nd, pid, chid).map_err(errno_of)?;
    if flags as u32 & COF_REG_EVENTS != 0 {
        // Only a local server could deliver unregistered events; another node's cannot.
        let _ = n::connect_flags(coid, COF_REG_EVENTS, COF_REG_EVENTS);
    }
    let side = index & SIDE_CHANNEL as u32 != 0;
    Ok(i64::from(ids::to_c(coid, side)))
}

pub(crate) fn connect_detach(id: c_int) -> CResult {
    match ids::detach_target(id) {
        Detach::Coid(coid) => n::connect_detach(coid),
        Detach::Scoid(scoid) => n::scoid_detach(scoid),
    }
    .map(|()| 0)
    .map_err(errno_of)
}

unsafe fn connect_client_info(scoid: c_int, info: *mut CClientInfo, _ngroups: c_int) -> CResult {
    let ci = n::connect_client_info(scoid).map_err(errno_of)?;
    if !info.is_null() {
        // SAFETY: the caller passes a valid `struct _client_info *`.
        unsafe { info.write(CClientInfo::of(&ci)) };
    }
    Ok(0)
}

/// `_NTO_COF_REG_EVENTS`: servers may deliver only registered events on this connection.
pub const COF_REG_EVENTS: u32 = 0x2000;

fn connect_flags(pid: pid_t, coid: c_int, mask: c_uint, bits: c_uint) -> CResult {
    if pid != 0 && pid != std::process::id() as pid_t {
        return Err(Errno::ESRCH);
    }
    n::connect_flags(ids::plain(coid), mask, bits)
        .map(i64::from)
        .map_err(errno_of)
}

kcall!(
    /// `int ConnectFlags(pid_t pid, int coid, unsigned mask, unsigned bits)`: change a
    /// connection's flags (qnet keeps `_NTO_COF_REG_EVENTS`); returns the old flags.
    ConnectFlags, ConnectFlags_r,
    (pid: pid_t, coid: c_int, mask: c_uint, bits: c_uint) -> c_int,
    connect_flags(pid, coid, mask, bits)
);
kcall!(
    /// `int ChannelCreate(unsigned flags)`: a new channel; the first of a process is chid 1.
    ChannelCreate, ChannelCreate_r, (flags: c_uint) -> c_int, channel_create(flags)
);
kcall!(
    /// `int ChannelDestroy(int chid)`.
    ChannelDestroy, ChannelDestroy_r, (chid: c_int) -> c_int, channel_destroy(chid)
);
kcall!(
    /// `int ConnectAttach(uint32_t nd, pid_t pid, int chid, unsigned index, int flags)`.
    ConnectAttach, ConnectAttach_r,
    (nd: u32, pid: pid_t, chid: c_int, index: c_uint, flags: c_int) -> c_int,
    connect_attach(nd, pid, chid, index, flags)
);
kcall!(
    /// `int ConnectDetach(int coid)`: a coid, or a scoid after `_PULSE_CODE_DISCONNECT`.
    ConnectDetach, ConnectDetach_r, (coid: c_int) -> c_int, connect_detach(coid)
);
kcall!(
    /// `int ConnectClientInfo(int scoid, struct _client_info *info, int ngroups)`.
    ConnectClientInfo, ConnectClientInfo_r,
    (scoid: c_int, info: *mut CClientInfo, ngroups: c_int) -> c_int,
    connect_client_info(scoid, info, ngroups)
);
