//! Calls a thread makes, and what the kernel answers.

use std::time::Duration;

use bytes::Bytes;

use crate::extents::Extents;
use crate::flags::{ChannelFlags, TimeoutStates};
use crate::ids::{Chid, Coid, EventId, Nd, Pid, Priority, Rcvid, Scoid, Tid};
use crate::info::{ClientInfo, MsgInfo};
use crate::paths::{PathFlags, PathMatch};
use crate::pulse::{Pulse, PulseEvent};

/// A `TimerTimeout`-style timeout for one blocking call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// The states the timeout applies to.
    pub states: TimeoutStates,
    /// Time from the start of the call. Zero makes the call non-blocking in those states.
    pub after: Duration,
}

/// One kernel call by one thread. Blocking calls (`MsgSend`, `MsgReceive`) complete later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `ChannelCreate(flags)` → [`Completion::Chid`].
    ChannelCreate {
        /// Channel flags.
        flags: ChannelFlags,
    },
    /// `ChannelDestroy(chid)` → [`Completion::Done`].
    ChannelDestroy {
        /// Channel to destroy (must belong to the caller).
        chid: Chid,
    },
    /// `ConnectAttach(nd, pid, chid)` → [`Completion::Coid`]. `pid == 0` means the caller.
    ConnectAttach {
        /// Node descriptor; 0 = local.
        nd: Nd,
        /// Target pid (0 = self).
        pid: Pid,
        /// Target channel.
        chid: Chid,
    },
    /// `ConnectDetach(coid)` → [`Completion::Done`].
    ConnectDetach {
        /// Connection to drop.
        coid: Coid,
    },
    /// `ConnectDetach(scoid)` by a server after a disconnect pulse: frees the scoid.
    ScoidDetach {
        /// Server connection id to free.
        scoid: Scoid,
    },
    /// `MsgSend` (all IOV variants: the library gathers and scatters) → [`Completion::Reply`].
    MsgSend {
        /// Connection to send on.
        coid: Coid,
        /// The whole send buffer.
        data: Bytes,
        /// Size of the reply buffer(s).
        reply_cap: u64,
        /// Sender's priority.
        priority: Priority,
        /// The sender runs a real-time policy (SCHED_RR/FIFO): its receiver runs real-time
        /// while it serves it (priority inheritance in real-time mode). Set by the daemon
        /// from the sending thread's scheduling (a peer's daemon for a remote sender), never
        /// taken from a client.
        realtime: bool,
        /// Optional `TimerTimeout` for SEND/REPLY states.
        timeout: Option<Timeout>,
    },
    /// `MsgReceive(chid, buf, cap)` → [`Completion::Received`].
    MsgReceive {
        /// Channel to receive on (must belong to the caller).
        chid: Chid,
        /// Size of the receive buffer; smaller than a pulse → `EFAULT`.
        cap: u64,
        /// Optional `TimerTimeout` (RECEIVE state).
        timeout: Option<Timeout>,
    },
    /// `MsgReply(rcvid, status, data)` → [`Completion::Done`].
    MsgReply {
        /// Message to answer.
        rcvid: Rcvid,
        /// Status the client's `MsgSend` returns.
        status: i64,
        /// Reply data, written at offset 0 of the client's reply buffer.
        data: Bytes,
    },
    /// `MsgError(rcvid, errno)` → [`Completion::Done`]. `EOK` makes `MsgSend` return 0.
    MsgError {
        /// Message to answer.
        rcvid: Rcvid,
        /// Error for the client.
        errno: i32,
    },
    /// `MsgRead(rcvid, len, offset)` → [`Completion::Data`].
    MsgRead {
        /// Received, not yet replied message.
        rcvid: Rcvid,
        /// Offset into the client's send buffer.
        offset: u64,
        /// Bytes wanted.
        len: u64,
    },
    /// `MsgWrite(rcvid, data, offset)` → [`Completion::Count`] (bytes written).
    MsgWrite {
        /// Received, not yet replied message.
        rcvid: Rcvid,
        /// Offset into the client's reply buffer.
        offset: u64,
        /// Bytes to write.
        data: Bytes,
    },
    /// `MsgInfo(rcvid)` → [`Completion::Info`].
    MsgInfo {
        /// Received, not yet replied message.
        rcvid: Rcvid,
    },
    /// `MsgSendPulse(coid, priority, code, value)` → [`Completion::Done`].
    MsgSendPulse {
        /// Connection to send on.
        coid: Coid,
        /// Pulse priority (the library resolves QNX's -1 to the caller's priority).
        priority: Priority,
        /// Code, 0..=127 for users.
        code: i8,
        /// Value.
        value: i32,
    },
    /// `name_attach(name)` → [`Completion::Chid`]: creates a channel with
    /// `UNBLOCK | DISCONNECT | COID_DISCONNECT | flags` and attaches `name` to it.
    NameAttach {
        /// Name, unique on this node.
        name: String,
        /// Extra channel flags.
        flags: ChannelFlags,
    },
    /// `name_attach(dpp, name)` on the dispatch's existing channel `chid` of the caller →
    /// [`Completion::Done`]: the channel keeps its flags, and `name_detach` leaves it.
    NameAttachChannel {
        /// Name, unique on this node.
        name: String,
        /// The caller's channel.
        chid: Chid,
    },
    /// `name_detach`: removes the name and destroys its channel → [`Completion::Done`].
    NameDetach {
        /// The channel `NameAttach` returned.
        chid: Chid,
    },
    /// `name_open(name)` on this node → [`Completion::Coid`], or `ENOENT`.
    NameOpen {
        /// Name to look up.
        name: String,
    },
    /// `resmgr_attach(path, file_type, flags)` on the caller's channel `chid` →
    /// [`Completion::Count`] with the attachment's id (see `kernel/paths.rs`).
    PathAttach {
        /// Absolute path (empty with `FTYPEONLY`).
        path: String,
        /// The caller's channel its clients connect to.
        chid: Chid,
        /// `_RESMGR_FLAG_*`.
        flags: PathFlags,
        /// `_FTYPE_*` (0 = any).
        file_type: u32,
    },
    /// `resmgr_detach(id)` → [`Completion::Done`].
    PathDetach {
        /// What `PathAttach` returned.
        id: u32,
    },
    /// Resolve `path` for an open of `file_type` → [`Completion::Paths`]: every manager it
    /// reaches, in the order to try them, or `ENOENT`. `/net/<node>/…` is resolved by that
    /// node.
    PathResolve {
        /// Absolute path.
        path: String,
        /// `_FTYPE_*` of the open (0 = any).
        file_type: u32,
    },
    /// Every attachment at or below `path` → [`Completion::Paths`] (`rest` relative to
    /// `path`), for directory listings. `/net/<node>/…` is listed by that node.
    PathList {
        /// Absolute directory path.
        path: String,
    },
    /// `ConnectClientInfo(scoid)` → [`Completion::ClientInfo`].
    ConnectClientInfo {
        /// Server connection id (from `_msg_info` or a pulse).
        scoid: Scoid,
    },
    /// `MsgRegisterEvent(event, server_coid)` → [`Completion::Event`].
    MsgRegisterEvent {
        /// The pulse event to register.
        event: PulseEvent,
        /// Connection to the only server allowed to deliver it.
        server_coid: Coid,
    },
    /// `MsgUnregisterEvent(event)` → [`Completion::Done`].
    MsgUnregisterEvent {
        /// Registered event handle.
        event: EventId,
    },
    /// `MsgVerifyEvent(rcvid, event)` → [`Completion::Done`] if the caller may deliver it.
    MsgVerifyEvent {
        /// A message from the client (0: skip the client check).
        rcvid: Rcvid,
        /// Registered event handle.
        event: EventId,
    },
    /// `MsgDeliverEvent(rcvid, event)` → [`Completion::Done`].
    MsgDeliverEvent {
        /// A message from the client (0: skip the client check).
        rcvid: Rcvid,
        /// Registered event handle.
        event: EventId,
        /// New value, honoured only for updateable events.
        value: Option<i32>,
    },
    /// Cancel the blocking call of another thread of the caller's process (the effect of a
    /// signal in QNX) → [`Completion::Done`]; the target returns `EINTR` or, REPLY-blocked on
    /// an `UNBLOCK` channel, the server gets an unblock pulse.
    Unblock {
        /// Thread of the same process to unblock.
        tid: Tid,
    },
    /// `ConnectFlags(0, coid, mask, bits)`: change the flags of a connection of the caller
    /// (only `_NTO_COF_REG_EVENTS` is kept) → [`Completion::Count`] with the old flags.
    ConnectFlags {
        /// The caller's connection.
        coid: Coid,
        /// Which flags to change.
        mask: u32,
        /// Their new values.
        bits: u32,
    },
    /// `MsgDeliverEvent` of an *unregistered* pulse event (the pattern before QNX 7.0: the
    /// client passed its `struct sigevent` in a message) → [`Completion::Done`]: a pulse on
    /// the client's connection `event.coid`, as the client. The client is the process behind
    /// the caller's `scoid`; `client_coid` is the connection its message came through, and
    /// delivery is refused (`EACCES`) if that connection asked for registered events only
    /// (`_NTO_COF_REG_EVENTS`).
    MsgDeliverPulse {
        /// The client's scoid at the caller.
        scoid: Scoid,
        /// The client's connection to the caller its message came through.
        client_coid: Coid,
        /// The event, as the client filled it in.
        event: PulseEvent,
    },
}

/// A message or a pulse delivered by `MsgReceive`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A message (rcvid > 0).
    Message {
        /// Receive id to reply to.
        rcvid: Rcvid,
        /// `_msg_info`.
        info: MsgInfo,
        /// The first `min(cap, len)` bytes of the send buffer.
        data: Bytes,
    },
    /// A pulse (rcvid 0).
    Pulse(Pulse),
}

/// A successful result of a [`Call`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The call succeeded with nothing to report.
    Done,
    /// A new channel id.
    Chid(Chid),
    /// A new connection id.
    Coid(Coid),
    /// `MsgSend` answered: status and the pieces the server wrote into the reply buffer (all
    /// below `reply_cap`; the bytes between them keep what the client's buffer held).
    Reply {
        /// `MsgReply` status (0 after `MsgError(EOK)`).
        status: i64,
        /// What `MsgWrite` and `MsgReply` wrote, at their offsets.
        data: Extents,
    },
    /// `MsgReceive` delivered something.
    Received(Received),
    /// `MsgRead` data.
    Data(Bytes),
    /// Byte count (`MsgWrite`).
    Count(u64),
    /// `MsgInfo` result.
    Info(MsgInfo),
    /// `ConnectClientInfo` result.
    ClientInfo(ClientInfo),
    /// A registered event handle.
    Event(EventId),
    /// Managers a path reaches (`PathResolve`) or attachments below a path (`PathList`).
    Paths(Vec<PathMatch>),
}
