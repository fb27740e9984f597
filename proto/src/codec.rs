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
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use qnet_core::{Call, Chid, Coid, Completion, Errno, Nd, Priority, Rcvid, Timeout};

use crate::local;

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
    /// A direct-path segment request (SHM sessions only).
    Direct(DirectRequest),
}

impl LocalRequest {
    /// The request's kind, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            LocalRequest::Kernel(_) => "kernel call",
            LocalRequest::ReplyReceive(_) => "reply-and-receive",
            LocalRequest::Shm(_) => "shared-memory handle",
            LocalRequest::Netmgr(_) => "netmgr",
            LocalRequest::Direct(_) => "direct path",
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

/// A direct-path request (SHM sessions only): segments come back with SCM_RIGHTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectRequest {
    /// `MsgReceive` on a direct channel with no direct client (THREAD sessions): blocks in
    /// the kernel unless the channel's pair count moved from `pairs_seen` (`ERESTART`).
    Receive {
        /// The caller's channel.
        chid: Chid,
        /// Its receive buffer's size.
        cap: u64,
        /// The armed timeout.
        timeout: Option<Timeout>,
        /// The pair count the caller saw.
        pairs_seen: u32,
        /// The priority the caller runs at, inherited on this channel on the direct path.
        inherited: Option<Priority>,
    },
    /// Serve channel `chid` of the caller directly: its process's table (read-write) and
    /// bells come back.
    Serve {
        /// The caller's channel.
        chid: Chid,
    },
    /// The pair of the caller's connection `coid` (made on first use): the pair, the
    /// server's table (read-only) and bells come back.
    Map {
        /// The caller's connection to a local direct channel.
        coid: Coid,
    },
    /// Pair `index` of one of the caller's direct channels: the pair comes back.
    Pair {
        /// Index in the caller's table.
        index: u32,
    },
    /// QNX's server boost (THREAD sessions): the caller is about to send on `coid` at
    /// `priority` and no receiver of the channel waits; the daemon raises the channel's
    /// runner to `priority` if it runs below it.
    Boost {
        /// The caller's connection to a direct channel.
        coid: Coid,
        /// The sender's priority.
        priority: Priority,
    },
}

/// What a direct-path request was granted (the segments travel beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectGrant {
    /// Layout version of the segments.
    pub layout: u32,
    /// The pair's index (Map, Pair).
    pub index: u32,
    /// Its entry's generation.
    pub generation: u32,
    /// The channel.
    pub chid: Chid,
    /// The serving process (Map).
    pub server_pid: u32,
    /// The channel's flags.
    pub flags: u32,
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
    /// A direct-path grant.
    Direct(DirectGrant),
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

/// Append the frame of `LocalRequest::Kernel(Call::MsgSend { .. })` to `dst` with the send
/// parts copied once, straight from the caller's buffers into the frame (the library's send
/// path: no intermediate gather into a `Bytes`). The bytes are those `frame::encode_frame`
/// produces for that request (property-tested against it).
pub fn encode_msg_send(
    dst: &mut Vec<u8>,
    coid: Coid,
    parts: &[&[u8]],
    reply_cap: u64,
    priority: Priority,
    timeout: Option<Timeout>,
) {
    let timeout = timeout.map(local::Timeout::from);
    let priority = u32::from(priority);
    let data_len: usize = parts.iter().map(|p| p.len()).sum();
    let coid_v = i64::from(coid) as u64;
    let mut body = 0;
    if coid != 0 {
        body += 1 + encoded_len_varint(coid_v);
    }
    if data_len != 0 {
        body += 1 + encoded_len_varint(data_len as u64) + data_len;
    }
    if reply_cap != 0 {
        body += 1 + encoded_len_varint(reply_cap);
    }
    if priority != 0 {
        body += 1 + encoded_len_varint(u64::from(priority));
    }
    if let Some(t) = &timeout {
        body += prost::encoding::message::encoded_len(5, t);
    }
    // Request { msg_send = 6 }
    let req = 1 + encoded_len_varint(body as u64) + body;
    // ClientFrame { request = 2 }
    let frame = 1 + encoded_len_varint(req as u64) + req;
    dst.reserve(crate::frame::HEADER_LEN + frame);
    dst.extend_from_slice(&(frame as u32).to_le_bytes());
    encode_key(2, WireType::LengthDelimited, dst);
    encode_varint(req as u64, dst);
    encode_key(6, WireType::LengthDelimited, dst);
    encode_varint(body as u64, dst);
    if coid != 0 {
        encode_key(1, WireType::Varint, dst);
        encode_varint(coid_v, dst);
    }
    if data_len != 0 {
        encode_key(2, WireType::LengthDelimited, dst);
        encode_varint(data_len as u64, dst);
        for p in parts {
            dst.extend_from_slice(p);
        }
    }
    if reply_cap != 0 {
        encode_key(3, WireType::Varint, dst);
        encode_varint(reply_cap, dst);
    }
    if priority != 0 {
        encode_key(4, WireType::Varint, dst);
        encode_varint(u64::from(priority), dst);
    }
    if let Some(t) = &timeout {
        prost::encoding::message::encode(5, t, dst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::BytesMut;
    use proptest::prelude::*;
    use qnet_core::TimeoutStates;

    use super::*;
    use crate::frame::{decode_frame, encode_frame, encode_frame_split};
    use crate::local::{ClientFrame, client_frame};

    fn frame_of(request: LocalRequest) -> ClientFrame {
        ClientFrame {
            frame: Some(client_frame::Frame::Request(request.into())),
        }
    }

    fn timeout() -> impl Strategy<Value = Option<Timeout>> {
        proptest::option::of((any::<[bool; 3]>(), any::<u64>()).prop_map(
            |([send, reply, receive], ns)| Timeout {
                states: TimeoutStates {
                    send,
                    reply,
                    receive,
                },
                after: Duration::from_nanos(ns),
            },
        ))
    }

    proptest! {
        /// The hand encoding is byte for byte the generic codec's frame of the same call, and
        /// decodes back to that call; the generic split frame (a large body written apart)
        /// decodes to it too.
        #[test]
        fn hand_encoded_msg_send_is_the_codec_frame(
            coid in any::<i32>(),
            parts in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..300), 0..4),
            big in proptest::option::of(crate::frame::SPLIT_MIN_BODY..crate::frame::SPLIT_MIN_BODY + 100),
            reply_cap in any::<u64>(),
            priority in any::<u8>(),
            timeout in timeout(),
        ) {
            let mut parts = parts;
            if let Some(n) = big {
                parts.push(vec![7; n]);
            }
            let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            let mut hand = Vec::new();
            encode_msg_send(&mut hand, coid, &slices, reply_cap, priority, timeout);
            let call = Call::MsgSend {
                coid,
                data: Bytes::from(parts.concat()),
                reply_cap,
                priority,
                realtime: false,
                timeout,
            };
            let request = LocalRequest::Kernel(call);
            let mut generic = BytesMut::new();
            encode_frame(&frame_of(request.clone()), &mut generic);
            prop_assert_eq!(&hand[..], &generic[..]);

            let mut split = Vec::new();
            let body = encode_frame_split(&mut frame_of(request.clone()), &mut split);
            split.extend_from_slice(&body.unwrap_or_default());
            for bytes in [hand, split] {
                let mut buf = BytesMut::from(&bytes[..]);
                let frame: ClientFrame = decode_frame(&mut buf, usize::MAX).unwrap().unwrap();
                let Some(client_frame::Frame::Request(r)) = frame.frame else {
                    panic!("not a request")
                };
                prop_assert_eq!(LocalRequest::try_from(r), Ok(request.clone()));
            }
        }
    }
}
