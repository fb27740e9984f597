//! `_msg_info` and `_client_info`: what a server learns about a sender.

use crate::ids::{Chid, Coid, Nd, Pid, Priority, Scoid, Tid};

/// Credentials of a process, from the kernel (SO_PEERCRED) or from an authenticated peer daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Credentials {
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
}

/// `_msg_info.flags` bits.
pub struct MsgInfoFlags;

impl MsgInfoFlags {
    /// `_NTO_MI_UNBLOCK_REQ`: the client has asked to unblock (timeout or cancel) and waits
    /// for the server to answer.
    pub const UNBLOCK_REQ: u32 = 0x100;
}

/// `struct _msg_info`: who sent a message and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MsgInfo {
    /// Node descriptor of the sender's node, as this node numbers it (0 = local).
    pub nd: Nd,
    /// Node descriptor of this (the receiving) node as the sender's node numbers it (0 = local).
    pub srcnd: Nd,
    /// Sender's pid.
    pub pid: Pid,
    /// Sender's tid.
    pub tid: Tid,
    /// Channel the message arrived on.
    pub chid: Chid,
    /// Server connection id of the sender's process.
    pub scoid: Scoid,
    /// Sender's connection id.
    pub coid: Coid,
    /// Sender's priority.
    pub priority: Priority,
    /// The sender runs a real-time policy (SCHED_RR/FIFO): a qnet addition (QNX's
    /// `_msg_info` has no such field, every QNX thread being priority-scheduled), for the
    /// library's own inheritance when the daemon may not change its threads.
    pub realtime: bool,
    /// Bytes delivered into the receive buffer.
    pub msglen: u64,
    /// Bytes the client sent (always, as QNX 6.6 and later fill it).
    pub srcmsglen: u64,
    /// Bytes the client can take as a reply (always, as QNX 6.6 and later fill it).
    pub dstmsglen: u64,
    /// [`MsgInfoFlags`] bits.
    pub flags: u32,
}

/// `struct _client_info`, as `ConnectClientInfo(scoid)` returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClientInfo {
    /// Client's node descriptor (0 = local).
    pub nd: Nd,
    /// Client's pid.
    pub pid: Pid,
    /// Client's credentials, from the kernel, never from the client's say-so.
    pub cred: Credentials,
}
