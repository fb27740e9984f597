//! The local protocol as `qnet-core` types, one codec for both ends: what a library thread
//! asks ([`LocalRequest`]: a kernel call, or one of the requests the daemon serves itself) and
//! what the daemon answers ([`LocalAnswer`], or a [`CallFailure`]).
//!
//! The library encodes with `From<LocalRequest> for local::Request` and decodes with
//! `TryFrom<local::Response> for Result<LocalAnswer, CallFailure>`; the daemon decodes with
//! `TryFrom<local::Request> for LocalRequest` and encodes with `From` (for
//! [`local::Response`]). The conversions themselves live in `convert.rs`; both directions
//! reject what does not fit the core's types (a priority above 255, a pulse code outside `i8`,
//! reply pieces out of order), so neither end clamps or defaults what the other sent.

use bytes::Bytes;
use qnet_core::{Call, Chid, Completion, Errno, Nd, Rcvid, Timeout};

/// One request from a library thread, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalRequest {
    /// A kernel call.
    Kernel(Call),
    /// `MsgReply` then `MsgReceive` in one request (a qnet extension).
    ReplyReceive(Box<ReplyReceive>),
    /// A shared-memory handle operation (SHM sessions only).
    Shm(ShmRequest),
    /// A netmgr lookup in the node table.
    Netmgr(NetmgrRequest),
}

impl LocalRequest {
    /// The request's kind, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            LocalRequest::Kernel(_) => "kernel call",
            LocalRequest::ReplyReceive(_) => "reply-and-receive",
            LocalRequest::Shm(_) => "shared-memory handle",
            LocalRequest::Netmgr(_) => "netmgr",
        }
    }
}

impl From<Call> for LocalRequest {
    fn from(call: Call) -> Self {
        LocalRequest::Kernel(call)
    }
}

/// A netmgr lookup in the node table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetmgrRequest {
    /// `netmgr_strtond(name)`: the nd of node `name`.
    StrToNd {
        /// Node name.
        name: String,
    },
    /// `netmgr_ndtostr(nd)`: the name of node `nd`.
    NdToStr {
        /// Node descriptor.
        nd: u32,
    },
}

/// `MsgReplyReceive` (a qnet extension; QNX has no single call for it): a `MsgReply` first;
/// only if it succeeds, a `MsgReceive` on the same thread ([`ReplyReceive::into_calls`]). The
/// caller gets the reply's error or the receive's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyReceive {
    /// The message to answer.
    pub rcvid: Rcvid,
    /// The reply's status.
    pub status: i64,
    /// The reply's data.
    pub data: Bytes,
    /// The channel to receive on.
    pub chid: Chid,
    /// The receive buffer's size.
    pub cap: u64,
    /// The receive's timeout, if armed.
    pub timeout: Option<Timeout>,
}

impl ReplyReceive {
    /// The two kernel calls: a [`Call::MsgReply`], then a [`Call::MsgReceive`].
    pub fn into_calls(self) -> (Call, Call) {
        (
            Call::MsgReply {
                rcvid: self.rcvid,
                status: self.status,
                data: self.data,
            },
            Call::MsgReceive {
                chid: self.chid,
                cap: self.cap,
                timeout: self.timeout,
            },
        )
    }
}

/// A shared-memory handle operation (SHM sessions only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmRequest {
    /// `shm_create_handle(fd, pid, perms)`: the fd travels with the frame as SCM_RIGHTS.
    Create {
        /// The node of the process that may open the handle (0 = this node; others are
        /// refused: shared memory is local).
        nd: u32,
        /// The only pid (on node `nd`) that may open the handle.
        pid: u32,
        /// `O_RDONLY` or `O_RDWR` (libc values).
        perms: u32,
    },
    /// `shm_open_handle(handle, perms)`: the fd comes back with the response.
    Open {
        /// Handle from `Create`.
        handle: u64,
        /// `O_RDONLY` or `O_RDWR` (libc values).
        perms: u32,
    },
}

/// A successful answer from the daemon, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalAnswer {
    /// A kernel call's (or a reply-and-receive's) result.
    Completion(Completion),
    /// A shared-memory handle made by `ShmRequest::Create`.
    ShmHandle(u64),
    /// `netmgr_strtond`'s node descriptor.
    Nd(Nd),
    /// `netmgr_ndtostr`'s node name.
    NodeName(String),
}

impl From<Completion> for LocalAnswer {
    fn from(c: Completion) -> Self {
        LocalAnswer::Completion(c)
    }
}

/// A failed request as the daemon answered it: the errno and the daemon's explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct CallFailure {
    /// The error.
    pub errno: Errno,
    /// The daemon's words (they name the errno).
    pub detail: String,
}
