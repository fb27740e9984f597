//! Conversions between the local wire types and `qnet-core` types, at the edge: the codec
//! of [`LocalRequest`] and [`LocalAnswer`] (`codec.rs`) that the library and the daemon share.
//!
//! Requests from the library are untrusted: `TryFrom<local::Request>` for [`LocalRequest`]
//! rejects a missing call, a missing sub-message and any value that does not fit the core's
//! type (priority above 255, pulse code outside `i8`). A kernel call comes back as
//! [`LocalRequest::Kernel`]; the requests the daemon serves itself (shared-memory handles,
//! netmgr lookups) and `MsgReplyReceive` (a qnet extension, two kernel calls) as their own
//! variants. Results go the other way infallibly: `From<Result<Completion, Errno>>` (and
//! `From<LocalAnswer>`) for [`local::Response`]; the library reads them back with
//! `TryFrom<local::Response>` for `Result<LocalAnswer, CallFailure>`, rejecting what is
//! malformed as the daemon does.
//!
//! Across nodes the daemons use the same wire types in the other direction: the calling
//! daemon turns a forwarded [`Call`] back into a request (`From<&Call>` for
//! [`local::Request`]) and the answer it reads from the peer back into a result
//! (`TryFrom<local::Response>` for `Result<Completion, Errno>`, rejecting what is malformed:
//! the peer is untrusted too); the serving daemon takes only kernel calls
//! (`TryFrom<local::Request>` for [`Call`]).

use std::time::Duration;

use bytes::Bytes;
use qnet_core::{
    Call, ChannelFlags, ClientInfo, Completion, Credentials, Errno, Extent, Extents, ExtentsError,
    MsgInfo, Pulse, PulseEvent, Received, Timeout, TimeoutStates,
};

pub use crate::codec::{
    CallFailure, DirectGrant, DirectRequest, LocalAnswer, LocalRequest, NetmgrRequest,
    ReplyReceive, ShmRequest,
};
use qnet_core::paths::{PathFlags, PathMatch};

use crate::local;
use crate::local::request::Call as WireCall;
use crate::local::response::Result as WireResult;

/// Why a [`local::Request`] is not a kernel [`Call`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The request's `call` oneof is empty.
    #[error("request carries no call")]
    MissingCall,
    /// A required sub-message is absent.
    #[error("{0} is missing")]
    MissingField(&'static str),
    /// A value does not fit the range the call allows.
    #[error("{field} = {value} is out of range")]
    OutOfRange {
        /// Field, as `message.field`.
        field: &'static str,
        /// The value received.
        value: i64,
    },
    /// A well-formed request that is not one kernel call (a shared-memory handle request, a
    /// netmgr lookup, a reply-and-receive) where only a kernel call may come (a forwarded call).
    #[error("{0} request is not a kernel call")]
    NotAKernelCall(&'static str),
    /// A response that cannot answer a kernel call (empty, or a netmgr/shm-only result).
    #[error("response is not a call's result: {0}")]
    NotACompletion(&'static str),
    /// A reply whose pieces overlap or are out of order.
    #[error("malformed reply: {0}")]
    Extents(ExtentsError),
    /// Buffers named by address (one copy) where only bytes may come: the daemon resolves a
    /// one-copy session's spans before converting, so any left here (a session without one
    /// copy, a peer) are refused.
    #[error("{0} names client memory where bytes are expected")]
    Spans(&'static str),
}

/// Refuse spans that nobody resolved (see [`ConvertError::Spans`]).
fn no_spans(field: &'static str, spans: &[local::Span]) -> Result<(), ConvertError> {
    match spans.is_empty() {
        true => Ok(()),
        false => Err(ConvertError::Spans(field)),
    }
}

fn priority(field: &'static str, v: u32) -> Result<u8, ConvertError> {
    u8::try_from(v).map_err(|_| ConvertError::OutOfRange {
        field,
        value: i64::from(v),
    })
}

fn pulse_code(field: &'static str, v: i32) -> Result<i8, ConvertError> {
    i8::try_from(v).map_err(|_| ConvertError::OutOfRange {
        field,
        value: i64::from(v),
    })
}

/// A pulse event from the wire: `field` is required, its priority and code must fit.
fn pulse_event(
    field: &'static str,
    e: Option<local::PulseEvent>,
) -> Result<PulseEvent, ConvertError> {
    let e = e.ok_or(ConvertError::MissingField(field))?;
    Ok(PulseEvent {
        coid: e.coid,
        priority: priority("PulseEvent.priority", e.priority)?,
        code: pulse_code("PulseEvent.code", e.code)?,
        value: e.value,
        updateable: e.updateable,
    })
}

impl From<&PulseEvent> for local::PulseEvent {
    fn from(event: &PulseEvent) -> Self {
        Self {
            coid: event.coid,
            priority: u32::from(event.priority),
            code: i32::from(event.code),
            value: event.value,
            updateable: event.updateable,
        }
    }
}

impl From<local::Timeout> for Timeout {
    fn from(t: local::Timeout) -> Self {
        Timeout {
            states: TimeoutStates {
                send: t.send,
                reply: t.reply,
                receive: t.receive,
            },
            after: Duration::from_nanos(t.after_ns),
        }
    }
}

impl From<Timeout> for local::Timeout {
    /// A duration past `u64::MAX` nanoseconds (584 years) is sent as that.
    fn from(t: Timeout) -> Self {
        local::Timeout {
            send: t.states.send,
            reply: t.states.reply,
            receive: t.states.receive,
            after_ns: u64::try_from(t.after.as_nanos()).unwrap_or(u64::MAX),
        }
    }
}

fn timeout(t: Option<local::Timeout>) -> Option<Timeout> {
    t.map(Timeout::from)
}

impl TryFrom<local::Request> for LocalRequest {
    type Error = ConvertError;

    fn try_from(req: local::Request) -> Result<Self, Self::Error> {
        let call = req.call.ok_or(ConvertError::MissingCall)?;
        Ok(LocalRequest::Kernel(match call {
            WireCall::ChannelCreate(c) => Call::ChannelCreate {
                flags: ChannelFlags(c.flags),
            },
            WireCall::ChannelDestroy(c) => Call::ChannelDestroy { chid: c.chid },
            WireCall::ConnectAttach(c) => Call::ConnectAttach {
                nd: c.nd,
                pid: c.pid,
                chid: c.chid,
            },
            WireCall::ConnectDetach(c) => Call::ConnectDetach { coid: c.coid },
            WireCall::ScoidDetach(c) => Call::ScoidDetach { scoid: c.scoid },
            WireCall::MsgSend(c) => Call::MsgSend {
                coid: {
                    no_spans("MsgSend.data_at", &c.data_at)?;
                    no_spans("MsgSend.reply_at", &c.reply_at)?;
                    c.coid
                },
                data: c.data,
                reply_cap: c.reply_cap,
                priority: priority("MsgSend.priority", c.priority)?,
                realtime: c.realtime,
                timeout: timeout(c.timeout),
            },
            WireCall::MsgReceive(c) => Call::MsgReceive {
                chid: {
                    no_spans("MsgReceive.buf_at", &c.buf_at)?;
                    c.chid
                },
                cap: c.cap,
                timeout: timeout(c.timeout),
            },
            WireCall::MsgReply(c) => Call::MsgReply {
                rcvid: {
                    no_spans("MsgReply.data_at", &c.data_at)?;
                    c.rcvid
                },
                status: c.status,
                data: c.data,
            },
            WireCall::MsgError(c) => Call::MsgError {
                rcvid: c.rcvid,
                errno: c.errno,
            },
            WireCall::MsgRead(c) => Call::MsgRead {
                rcvid: c.rcvid,
                offset: c.offset,
                len: c.len,
            },
            WireCall::MsgWrite(c) => Call::MsgWrite {
                rcvid: c.rcvid,
                offset: c.offset,
                data: c.data,
            },
            WireCall::MsgInfo(c) => Call::MsgInfo { rcvid: c.rcvid },
            WireCall::MsgSendPulse(c) => Call::MsgSendPulse {
                coid: c.coid,
                priority: priority("MsgSendPulse.priority", c.priority)?,
                code: pulse_code("MsgSendPulse.code", c.code)?,
                value: c.value,
            },
            WireCall::NameAttach(c) => Call::NameAttach {
                name: c.name,
                flags: ChannelFlags(c.flags),
            },
            WireCall::NameAttachChannel(c) => Call::NameAttachChannel {
                name: c.name,
                chid: c.chid,
            },
            WireCall::NameDetach(c) => Call::NameDetach { chid: c.chid },
            WireCall::NameOpen(c) => Call::NameOpen { name: c.name },
            WireCall::PathAttach(c) => Call::PathAttach {
                path: c.path,
                chid: c.chid,
                flags: PathFlags(c.flags),
                file_type: c.file_type,
            },
            WireCall::PathDetach(c) => Call::PathDetach { id: c.id },
            WireCall::PathResolve(c) => Call::PathResolve {
                path: c.path,
                file_type: c.file_type,
            },
            WireCall::PathList(c) => Call::PathList { path: c.path },
            WireCall::ConnectClientInfo(c) => Call::ConnectClientInfo { scoid: c.scoid },
            WireCall::MsgRegisterEvent(c) => Call::MsgRegisterEvent {
                event: pulse_event("MsgRegisterEvent.event", c.event)?,
                server_coid: c.server_coid,
            },
            WireCall::MsgUnregisterEvent(c) => Call::MsgUnregisterEvent { event: c.event },
            WireCall::MsgVerifyEvent(c) => Call::MsgVerifyEvent {
                rcvid: c.rcvid,
                event: c.event,
            },
            WireCall::MsgDeliverEvent(c) => Call::MsgDeliverEvent {
                rcvid: c.rcvid,
                event: c.event,
                value: c.value,
            },
            WireCall::Unblock(c) => Call::Unblock { tid: c.tid },
            WireCall::ConnectFlags(c) => Call::ConnectFlags {
                coid: c.coid,
                mask: c.mask,
                bits: c.bits,
            },
            WireCall::MsgDeliverPulse(c) => Call::MsgDeliverPulse {
                scoid: c.scoid,
                client_coid: c.client_coid,
                event: pulse_event("MsgDeliverPulse.event", c.event)?,
            },
            WireCall::ShmCreateHandle(c) => {
                return Ok(LocalRequest::Shm(ShmRequest::Create {
                    nd: c.nd,
                    pid: c.pid,
                    perms: c.perms,
                }));
            }
            WireCall::ShmOpenHandle(c) => {
                return Ok(LocalRequest::Shm(ShmRequest::Open {
                    handle: c.handle,
                    perms: c.perms,
                }));
            }
            WireCall::DirectServe(c) => {
                return Ok(LocalRequest::Direct(DirectRequest::Serve { chid: c.chid }));
            }
            WireCall::DirectMap(c) => {
                return Ok(LocalRequest::Direct(DirectRequest::Map { coid: c.coid }));
            }
            WireCall::DirectPair(c) => {
                return Ok(LocalRequest::Direct(DirectRequest::Pair { index: c.index }));
            }
            WireCall::DirectReceive(c) => {
                let r = c.receive.ok_or(ConvertError::MissingCall)?;
                no_spans("DirectReceive.receive.buf_at", &r.buf_at)?;
                return Ok(LocalRequest::Direct(DirectRequest::Receive {
                    chid: r.chid,
                    cap: r.cap,
                    timeout: timeout(r.timeout),
                    pairs_seen: c.pairs_seen,
                    inherited: c
                        .inherited
                        .map(|p| priority("DirectReceive.inherited", p))
                        .transpose()?,
                }));
            }
            WireCall::DirectBoost(c) => {
                return Ok(LocalRequest::Direct(DirectRequest::Boost {
                    coid: c.coid,
                    priority: priority("DirectBoost.priority", c.priority)?,
                }));
            }
            WireCall::NetmgrStrToNd(c) => {
                return Ok(LocalRequest::Netmgr(NetmgrRequest::StrToNd {
                    name: c.name,
                }));
            }
            WireCall::NetmgrNdToStr(c) => {
                return Ok(LocalRequest::Netmgr(NetmgrRequest::NdToStr { nd: c.nd }));
            }
            WireCall::MsgReplyReceive(c) => {
                no_spans("MsgReplyReceive.data_at", &c.data_at)?;
                no_spans("MsgReplyReceive.buf_at", &c.buf_at)?;
                return Ok(LocalRequest::ReplyReceive(Box::new(ReplyReceive {
                    rcvid: c.rcvid,
                    status: c.status,
                    data: c.data,
                    chid: c.chid,
                    cap: c.cap,
                    timeout: timeout(c.timeout),
                })));
            }
        }))
    }
}

impl TryFrom<local::Request> for Call {
    type Error = ConvertError;

    /// A request that must be one kernel call (a forwarded call): anything else is refused.
    fn try_from(req: local::Request) -> Result<Self, Self::Error> {
        match LocalRequest::try_from(req)? {
            LocalRequest::Kernel(call) => Ok(call),
            other => Err(ConvertError::NotAKernelCall(other.name())),
        }
    }
}

fn wire_timeout(t: Option<Timeout>) -> Option<local::Timeout> {
    t.map(local::Timeout::from)
}

impl From<&Call> for local::Request {
    /// The request a daemon sends to run `call` on another node (the inverse of
    /// `TryFrom<local::Request> for Call`).
    fn from(call: &Call) -> Self {
        local::Request {
            call: Some(wire_call(call.clone())),
        }
    }
}

impl From<LocalRequest> for local::Request {
    /// The request the library sends (the inverse of `TryFrom<local::Request> for
    /// LocalRequest`).
    fn from(request: LocalRequest) -> Self {
        let call = match request {
            LocalRequest::Kernel(call) => wire_call(call),
            LocalRequest::ReplyReceive(rr) => WireCall::MsgReplyReceive(local::MsgReplyReceive {
                rcvid: rr.rcvid,
                status: rr.status,
                data: rr.data,
                chid: rr.chid,
                cap: rr.cap,
                timeout: wire_timeout(rr.timeout),
                ..Default::default()
            }),
            LocalRequest::Shm(ShmRequest::Create { nd, pid, perms }) => {
                WireCall::ShmCreateHandle(local::ShmCreateHandle { pid, perms, nd })
            }
            LocalRequest::Shm(ShmRequest::Open { handle, perms }) => {
                WireCall::ShmOpenHandle(local::ShmOpenHandle { handle, perms })
            }
            LocalRequest::Netmgr(NetmgrRequest::StrToNd { name }) => {
                WireCall::NetmgrStrToNd(local::NetmgrStrToNd { name })
            }
            LocalRequest::Netmgr(NetmgrRequest::NdToStr { nd }) => {
                WireCall::NetmgrNdToStr(local::NetmgrNdToStr { nd })
            }
            LocalRequest::Direct(DirectRequest::Serve { chid }) => {
                WireCall::DirectServe(local::DirectServe { chid })
            }
            LocalRequest::Direct(DirectRequest::Map { coid }) => {
                WireCall::DirectMap(local::DirectMap { coid })
            }
            LocalRequest::Direct(DirectRequest::Pair { index }) => {
                WireCall::DirectPair(local::DirectPair { index })
            }
            LocalRequest::Direct(DirectRequest::Receive {
                chid,
                cap,
                timeout,
                pairs_seen,
                inherited,
            }) => WireCall::DirectReceive(local::DirectReceive {
                inherited: inherited.map(u32::from),
                receive: Some(local::MsgReceive {
                    chid,
                    cap,
                    timeout: wire_timeout(timeout),
                    ..Default::default()
                }),
                pairs_seen,
            }),
            LocalRequest::Direct(DirectRequest::Boost { coid, priority }) => {
                WireCall::DirectBoost(local::DirectBoost {
                    coid,
                    priority: u32::from(priority),
                })
            }
        };
        local::Request { call: Some(call) }
    }
}

/// The wire form of one kernel call.
fn wire_call(call: Call) -> WireCall {
    {
        match call {
            Call::ChannelCreate { flags } => {
                WireCall::ChannelCreate(local::ChannelCreate { flags: flags.0 })
            }
            Call::ChannelDestroy { chid } => {
                WireCall::ChannelDestroy(local::ChannelDestroy { chid })
            }
            Call::ConnectAttach { nd, pid, chid } => {
                WireCall::ConnectAttach(local::ConnectAttach { nd, pid, chid })
            }
            Call::ConnectDetach { coid } => WireCall::ConnectDetach(local::ConnectDetach { coid }),
            Call::ScoidDetach { scoid } => WireCall::ScoidDetach(local::ScoidDetach { scoid }),
            Call::MsgSend {
                coid,
                data,
                reply_cap,
                priority,
                realtime,
                timeout,
            } => WireCall::MsgSend(local::MsgSend {
                coid,
                data,
                reply_cap,
                priority: u32::from(priority),
                realtime,
                timeout: wire_timeout(timeout),
                ..Default::default()
            }),
            Call::MsgReceive { chid, cap, timeout } => WireCall::MsgReceive(local::MsgReceive {
                chid,
                cap,
                timeout: wire_timeout(timeout),
                ..Default::default()
            }),
            Call::MsgReply {
                rcvid,
                status,
                data,
            } => WireCall::MsgReply(local::MsgReply {
                rcvid,
                status,
                data,
                ..Default::default()
            }),
            Call::MsgError { rcvid, errno } => WireCall::MsgError(local::MsgError { rcvid, errno }),
            Call::MsgRead { rcvid, offset, len } => {
                WireCall::MsgRead(local::MsgRead { rcvid, offset, len })
            }
            Call::MsgWrite {
                rcvid,
                offset,
                data,
            } => WireCall::MsgWrite(local::MsgWrite {
                rcvid,
                offset,
                data,
            }),
            Call::MsgInfo { rcvid } => WireCall::MsgInfo(local::MsgInfoReq { rcvid }),
            Call::MsgSendPulse {
                coid,
                priority,
                code,
                value,
            } => WireCall::MsgSendPulse(local::MsgSendPulse {
                coid,
                priority: u32::from(priority),
                code: i32::from(code),
                value,
            }),
            Call::NameAttach { name, flags } => WireCall::NameAttach(local::NameAttach {
                name,
                flags: flags.0,
            }),
            Call::NameAttachChannel { name, chid } => {
                WireCall::NameAttachChannel(local::NameAttachChannel { name, chid })
            }
            Call::NameDetach { chid } => WireCall::NameDetach(local::NameDetach { chid }),
            Call::NameOpen { name } => WireCall::NameOpen(local::NameOpen { name }),
            Call::PathAttach {
                path,
                chid,
                flags,
                file_type,
            } => WireCall::PathAttach(local::PathAttach {
                path,
                chid,
                flags: flags.0,
                file_type,
            }),
            Call::PathDetach { id } => WireCall::PathDetach(local::PathDetach { id }),
            Call::PathResolve { path, file_type } => {
                WireCall::PathResolve(local::PathResolve { path, file_type })
            }
            Call::PathList { path } => WireCall::PathList(local::PathList { path }),
            Call::ConnectClientInfo { scoid } => {
                WireCall::ConnectClientInfo(local::ConnectClientInfo { scoid })
            }
            Call::MsgRegisterEvent { event, server_coid } => {
                WireCall::MsgRegisterEvent(local::MsgRegisterEvent {
                    event: Some(local::PulseEvent::from(&event)),
                    server_coid,
                })
            }
            Call::MsgUnregisterEvent { event } => {
                WireCall::MsgUnregisterEvent(local::MsgUnregisterEvent { event })
            }
            Call::MsgVerifyEvent { rcvid, event } => {
                WireCall::MsgVerifyEvent(local::MsgVerifyEvent { rcvid, event })
            }
            Call::MsgDeliverEvent {
                rcvid,
                event,
                value,
            } => WireCall::MsgDeliverEvent(local::MsgDeliverEvent {
                rcvid,
                event,
                value,
            }),
            Call::Unblock { tid } => WireCall::Unblock(local::Unblock { tid }),
            Call::ConnectFlags { coid, mask, bits } => {
                WireCall::ConnectFlags(local::ConnectFlags { coid, mask, bits })
            }
            Call::MsgDeliverPulse {
                scoid,
                client_coid,
                event,
            } => WireCall::MsgDeliverPulse(local::MsgDeliverPulse {
                scoid,
                client_coid,
                event: Some(local::PulseEvent::from(&event)),
            }),
        }
    }
}

impl TryFrom<local::MsgInfo> for MsgInfo {
    type Error = ConvertError;

    fn try_from(i: local::MsgInfo) -> Result<Self, Self::Error> {
        Ok(MsgInfo {
            nd: i.nd,
            srcnd: i.srcnd,
            pid: i.pid,
            tid: i.tid,
            chid: i.chid,
            scoid: i.scoid,
            coid: i.coid,
            priority: priority("MsgInfo.priority", i.priority)?,
            realtime: i.realtime,
            msglen: i.msglen,
            srcmsglen: i.srcmsglen,
            dstmsglen: i.dstmsglen,
            flags: i.flags,
        })
    }
}

impl TryFrom<local::Pulse> for Pulse {
    type Error = ConvertError;

    fn try_from(p: local::Pulse) -> Result<Self, Self::Error> {
        Ok(Pulse {
            code: pulse_code("Pulse.code", p.code)?,
            value: p.value,
            scoid: p.scoid,
            priority: priority("Pulse.priority", p.priority)?,
        })
    }
}

impl TryFrom<local::Response> for Result<LocalAnswer, CallFailure> {
    type Error = ConvertError;

    /// The daemon's answer as the library reads it (the inverse of `From` for
    /// [`local::Response`]).
    fn try_from(r: local::Response) -> Result<Self, Self::Error> {
        let result = r
            .result
            .ok_or(ConvertError::NotACompletion("empty response"))?;
        Ok(Ok(LocalAnswer::Completion(match result {
            WireResult::Error(e) => {
                return Ok(Err(CallFailure {
                    errno: Errno(e.errno),
                    detail: e.detail,
                }));
            }
            WireResult::Done(_) => Completion::Done,
            WireResult::Chid(c) => Completion::Chid(c),
            WireResult::Coid(c) => Completion::Coid(c),
            WireResult::Reply(r) => Completion::Reply {
                status: r.status,
                data: extents(r)?,
            },
            WireResult::Message(m) => Completion::Received(Received::Message {
                rcvid: m.rcvid,
                info: m
                    .info
                    .ok_or(ConvertError::MissingField("ReceivedMessage.info"))?
                    .try_into()?,
                data: m.data,
            }),
            WireResult::Pulse(p) => Completion::Received(Received::Pulse(p.try_into()?)),
            WireResult::Data(d) => Completion::Data(d),
            WireResult::Count(n) => Completion::Count(n),
            WireResult::Info(i) => Completion::Info(i.try_into()?),
            WireResult::ClientInfo(c) => Completion::ClientInfo(ClientInfo {
                nd: c.nd,
                pid: c.pid,
                cred: Credentials {
                    uid: c.uid,
                    gid: c.gid,
                },
            }),
            WireResult::Event(e) => Completion::Event(e),
            WireResult::Paths(p) => Completion::Paths(
                p.matches
                    .into_iter()
                    .map(|m| PathMatch {
                        nd: m.nd,
                        pid: m.pid,
                        chid: m.chid,
                        handle: m.handle,
                        flags: PathFlags(m.flags),
                        file_type: m.file_type,
                        prefix: m.prefix,
                        rest: m.rest,
                    })
                    .collect(),
            ),
            WireResult::ShmHandle(h) => return Ok(Ok(LocalAnswer::ShmHandle(h))),
            WireResult::Nd(nd) => return Ok(Ok(LocalAnswer::Nd(nd))),
            WireResult::NodeName(n) => return Ok(Ok(LocalAnswer::NodeName(n))),
            WireResult::Direct(d) => {
                return Ok(Ok(LocalAnswer::Direct(DirectGrant {
                    layout: d.layout,
                    index: d.index,
                    generation: d.generation,
                    chid: d.chid,
                    server_pid: d.server_pid,
                    flags: d.flags,
                })));
            }
        })))
    }
}

impl TryFrom<local::Response> for Result<Completion, Errno> {
    type Error = ConvertError;

    /// The result of a call as another node's daemon answered it (the inverse of
    /// `From<Result<Completion, Errno>> for local::Response`).
    fn try_from(r: local::Response) -> Result<Self, Self::Error> {
        match Result::<LocalAnswer, CallFailure>::try_from(r)? {
            Ok(LocalAnswer::Completion(c)) => Ok(Ok(c)),
            Ok(LocalAnswer::ShmHandle(_)) => Err(ConvertError::NotACompletion("shm_handle")),
            Ok(LocalAnswer::Nd(_)) => Err(ConvertError::NotACompletion("nd")),
            Ok(LocalAnswer::NodeName(_)) => Err(ConvertError::NotACompletion("node_name")),
            Ok(LocalAnswer::Direct(_)) => Err(ConvertError::NotACompletion("direct")),
            Err(f) => Ok(Err(f.errno)),
        }
    }
}

/// A reply on the wire: its largest piece as `data` (written apart from the frame when large,
/// see `frame::encode_frame_split`), the others as `pieces`.
fn wire_reply(status: i64, data: Extents) -> local::Reply {
    let mut pieces = data.into_pieces();
    let largest = pieces
        .iter()
        .enumerate()
        .max_by_key(|(i, p)| (p.data.len(), std::cmp::Reverse(*i)))
        .map(|(i, _)| i);
    let (data_offset, data) = match largest {
        Some(i) => {
            let p = pieces.remove(i);
            (p.offset, p.data)
        }
        None => (0, Bytes::new()),
    };
    local::Reply {
        status,
        data,
        pieces: pieces
            .into_iter()
            .map(|p| local::ReplyPiece {
                offset: p.offset,
                data: p.data,
            })
            .collect(),
        data_offset,
    }
}

/// The pieces of a reply from the wire (a peer's answer): sorted and apart, or refused.
fn extents(r: local::Reply) -> Result<Extents, ConvertError> {
    let main = Extent {
        offset: r.data_offset,
        data: r.data,
    };
    let mut pieces: Vec<Extent> = r
        .pieces
        .into_iter()
        .map(|p| Extent {
            offset: p.offset,
            data: p.data,
        })
        .collect();
    let at = pieces.partition_point(|p| p.offset < main.offset);
    pieces.insert(at, main);
    Extents::from_sorted(pieces).map_err(ConvertError::Extents)
}

impl From<MsgInfo> for local::MsgInfo {
    fn from(i: MsgInfo) -> Self {
        local::MsgInfo {
            nd: i.nd,
            srcnd: i.srcnd,
            pid: i.pid,
            tid: i.tid,
            chid: i.chid,
            scoid: i.scoid,
            coid: i.coid,
            priority: u32::from(i.priority),
            realtime: i.realtime,
            msglen: i.msglen,
            srcmsglen: i.srcmsglen,
            dstmsglen: i.dstmsglen,
            flags: i.flags,
        }
    }
}

impl From<Pulse> for local::Pulse {
    fn from(p: Pulse) -> Self {
        local::Pulse {
            code: i32::from(p.code),
            value: p.value,
            scoid: p.scoid,
            priority: u32::from(p.priority),
        }
    }
}

impl From<ClientInfo> for local::ClientInfo {
    fn from(c: ClientInfo) -> Self {
        local::ClientInfo {
            nd: c.nd,
            pid: c.pid,
            uid: c.cred.uid,
            gid: c.cred.gid,
        }
    }
}

impl From<Errno> for local::Error {
    fn from(e: Errno) -> Self {
        local::Error {
            errno: e.0,
            detail: e.to_string(),
        }
    }
}

impl From<Completion> for local::Response {
    fn from(c: Completion) -> Self {
        let result = match c {
            Completion::Done => WireResult::Done(local::Done {}),
            Completion::Chid(chid) => WireResult::Chid(chid),
            Completion::Coid(coid) => WireResult::Coid(coid),
            Completion::Reply { status, data } => WireResult::Reply(wire_reply(status, data)),
            Completion::Received(Received::Message { rcvid, info, data }) => {
                WireResult::Message(local::ReceivedMessage {
                    rcvid,
                    info: Some(info.into()),
                    data,
                })
            }
            Completion::Received(Received::Pulse(p)) => WireResult::Pulse(p.into()),
            Completion::Data(d) => WireResult::Data(d),
            Completion::Count(n) => WireResult::Count(n),
            Completion::Info(i) => WireResult::Info(i.into()),
            Completion::ClientInfo(c) => WireResult::ClientInfo(c.into()),
            Completion::Event(e) => WireResult::Event(e),
            Completion::Paths(found) => WireResult::Paths(local::PathMatches {
                matches: found
                    .into_iter()
                    .map(|m| local::PathMatch {
                        nd: m.nd,
                        pid: m.pid,
                        chid: m.chid,
                        handle: m.handle,
                        flags: m.flags.0,
                        file_type: m.file_type,
                        prefix: m.prefix,
                        rest: m.rest,
                    })
                    .collect(),
            }),
        };
        local::Response {
            result: Some(result),
        }
    }
}

impl From<LocalAnswer> for local::Response {
    fn from(a: LocalAnswer) -> Self {
        let result = match a {
            LocalAnswer::Completion(c) => return c.into(),
            LocalAnswer::ShmHandle(h) => WireResult::ShmHandle(h),
            LocalAnswer::Nd(nd) => WireResult::Nd(nd),
            LocalAnswer::NodeName(n) => WireResult::NodeName(n),
            LocalAnswer::Direct(d) => WireResult::Direct(local::Direct {
                layout: d.layout,
                index: d.index,
                generation: d.generation,
                chid: d.chid,
                server_pid: d.server_pid,
                flags: d.flags,
            }),
        };
        local::Response {
            result: Some(result),
        }
    }
}

impl From<CallFailure> for local::Response {
    fn from(f: CallFailure) -> Self {
        local::Response {
            result: Some(WireResult::Error(local::Error {
                errno: f.errno.0,
                detail: f.detail,
            })),
        }
    }
}

impl From<Errno> for local::Response {
    fn from(e: Errno) -> Self {
        local::Response {
            result: Some(WireResult::Error(e.into())),
        }
    }
}

impl From<Result<Completion, Errno>> for local::Response {
    fn from(r: Result<Completion, Errno>) -> Self {
        match r {
            Ok(c) => c.into(),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn req(call: WireCall) -> local::Request {
        local::Request { call: Some(call) }
    }

    #[test]
    fn missing_call_is_rejected() {
        assert_eq!(
            Call::try_from(local::Request { call: None }),
            Err(ConvertError::MissingCall)
        );
    }

    #[test]
    fn msg_send_converts_with_timeout() {
        let r = req(WireCall::MsgSend(local::MsgSend {
            coid: 3,
            data: Bytes::from_static(b"hi"),
            reply_cap: 64,
            priority: 255,
            timeout: Some(local::Timeout {
                send: true,
                reply: false,
                receive: false,
                after_ns: 1_500,
            }),
            ..Default::default()
        }));
        assert_eq!(
            Call::try_from(r),
            Ok(Call::MsgSend {
                coid: 3,
                data: Bytes::from_static(b"hi"),
                reply_cap: 64,
                priority: 255,
                realtime: false,
                timeout: Some(Timeout {
                    states: TimeoutStates {
                        send: true,
                        reply: false,
                        receive: false
                    },
                    after: Duration::from_nanos(1_500),
                }),
            })
        );
    }

    #[test]
    fn priority_above_255_is_out_of_range() {
        let r = req(WireCall::MsgSend(local::MsgSend {
            priority: 256,
            ..Default::default()
        }));
        assert_eq!(
            Call::try_from(r),
            Err(ConvertError::OutOfRange {
                field: "MsgSend.priority",
                value: 256
            })
        );
        let r = req(WireCall::MsgSendPulse(local::MsgSendPulse {
            priority: 1000,
            ..Default::default()
        }));
        assert!(matches!(
            Call::try_from(r),
            Err(ConvertError::OutOfRange { .. })
        ));
    }

    #[test]
    fn pulse_code_outside_i8_is_out_of_range() {
        for code in [128, -129, i32::MAX] {
            let r = req(WireCall::MsgSendPulse(local::MsgSendPulse {
                coid: 1,
                priority: 10,
                code,
                value: 0,
            }));
            assert_eq!(
                Call::try_from(r),
                Err(ConvertError::OutOfRange {
                    field: "MsgSendPulse.code",
                    value: i64::from(code)
                })
            );
        }
        // In range, including the system's negative codes (the kernel decides what users may send).
        let r = req(WireCall::MsgSendPulse(local::MsgSendPulse {
            coid: 1,
            priority: 10,
            code: -33,
            value: 7,
        }));
        assert_eq!(
            Call::try_from(r),
            Ok(Call::MsgSendPulse {
                coid: 1,
                priority: 10,
                code: -33,
                value: 7
            })
        );
    }

    #[test]
    fn register_event_needs_its_event_and_checks_it() {
        let r = req(WireCall::MsgRegisterEvent(local::MsgRegisterEvent {
            event: None,
            server_coid: 1,
        }));
        assert_eq!(
            Call::try_from(r),
            Err(ConvertError::MissingField("MsgRegisterEvent.event"))
        );
        let ev = local::PulseEvent {
            coid: 2,
            priority: 300,
            code: 1,
            value: 5,
            updateable: true,
        };
        let r = req(WireCall::MsgRegisterEvent(local::MsgRegisterEvent {
            event: Some(ev),
            server_coid: 1,
        }));
        assert!(matches!(
            Call::try_from(r),
            Err(ConvertError::OutOfRange { .. })
        ));
        let ev = local::PulseEvent {
            coid: 2,
            priority: 20,
            code: 1,
            value: 5,
            updateable: true,
        };
        let r = req(WireCall::MsgRegisterEvent(local::MsgRegisterEvent {
            event: Some(ev),
            server_coid: 1,
        }));
        assert_eq!(
            Call::try_from(r),
            Ok(Call::MsgRegisterEvent {
                event: PulseEvent {
                    coid: 2,
                    priority: 20,
                    code: 1,
                    value: 5,
                    updateable: true
                },
                server_coid: 1,
            })
        );
    }

    #[test]
    fn simple_calls_convert() {
        let cases = [
            (
                WireCall::ChannelCreate(local::ChannelCreate { flags: 0x8 }),
                Call::ChannelCreate {
                    flags: ChannelFlags::DISCONNECT,
                },
            ),
            (
                WireCall::ConnectAttach(local::ConnectAttach {
                    nd: 0,
                    pid: 42,
                    chid: 1,
                }),
                Call::ConnectAttach {
                    nd: 0,
                    pid: 42,
                    chid: 1,
                },
            ),
            (
                WireCall::MsgDeliverEvent(local::MsgDeliverEvent {
                    rcvid: 9,
                    event: 4,
                    value: Some(-1),
                }),
                Call::MsgDeliverEvent {
                    rcvid: 9,
                    event: 4,
                    value: Some(-1),
                },
            ),
            (
                WireCall::NameOpen(local::NameOpen { name: "srv".into() }),
                Call::NameOpen { name: "srv".into() },
            ),
            (
                WireCall::Unblock(local::Unblock { tid: 77 }),
                Call::Unblock { tid: 77 },
            ),
        ];
        for (wire, call) in cases {
            assert_eq!(Call::try_from(req(wire)), Ok(call));
        }
    }

    #[test]
    fn shm_requests_are_not_kernel_calls() {
        let r = req(WireCall::ShmCreateHandle(local::ShmCreateHandle {
            pid: 5,
            perms: 2,
            nd: 3,
        }));
        assert_eq!(
            LocalRequest::try_from(r),
            Ok(LocalRequest::Shm(ShmRequest::Create {
                nd: 3,
                pid: 5,
                perms: 2
            }))
        );
        let r = req(WireCall::ShmOpenHandle(local::ShmOpenHandle {
            handle: 99,
            perms: 0,
        }));
        assert_eq!(
            LocalRequest::try_from(r),
            Ok(LocalRequest::Shm(ShmRequest::Open {
                handle: 99,
                perms: 0
            }))
        );
    }

    #[test]
    fn errors_carry_errno_and_display() {
        let r: local::Response = Err(Errno::ESRCH).into();
        assert_eq!(
            r.result,
            Some(WireResult::Error(local::Error {
                errno: 3,
                detail: Errno::ESRCH.to_string(),
            }))
        );
        let r: local::Response = Err(Errno(1234)).into();
        assert!(
            matches!(r.result, Some(WireResult::Error(local::Error { errno: 1234, ref detail })) if detail.contains("1234"))
        );
    }

    #[test]
    fn completions_convert() {
        let info = MsgInfo {
            pid: 7,
            tid: 8,
            chid: 1,
            scoid: 2,
            priority: 200,
            msglen: 3,
            ..Default::default()
        };
        let r: local::Response = Ok(Completion::Received(Received::Message {
            rcvid: 11,
            info,
            data: Bytes::from_static(b"abc"),
        }))
        .into();
        let Some(WireResult::Message(m)) = r.result else {
            panic!("not a message: {r:?}")
        };
        assert_eq!(m.rcvid, 11);
        assert_eq!(m.data, Bytes::from_static(b"abc"));
        let wi = m.info.unwrap();
        assert_eq!(
            (wi.pid, wi.tid, wi.chid, wi.scoid, wi.priority, wi.msglen),
            (7, 8, 1, 2, 200, 3)
        );

        let r: local::Response = Ok(Completion::Received(Received::Pulse(Pulse {
            code: -33,
            value: 0,
            scoid: 4,
            priority: 21,
        })))
        .into();
        assert_eq!(
            r.result,
            Some(WireResult::Pulse(local::Pulse {
                code: -33,
                value: 0,
                scoid: 4,
                priority: 21
            }))
        );

        let r: local::Response = Ok(Completion::ClientInfo(ClientInfo {
            nd: 0,
            pid: 5,
            cred: Credentials {
                uid: 1000,
                gid: 100,
            },
        }))
        .into();
        assert_eq!(
            r.result,
            Some(WireResult::ClientInfo(local::ClientInfo {
                nd: 0,
                pid: 5,
                uid: 1000,
                gid: 100
            }))
        );

        let simple = [
            (Completion::Done, WireResult::Done(local::Done {})),
            (Completion::Chid(3), WireResult::Chid(3)),
            (Completion::Coid(4), WireResult::Coid(4)),
            (
                Completion::Reply {
                    status: -5,
                    data: Extents::at_zero(Bytes::from_static(b"r")),
                },
                WireResult::Reply(local::Reply {
                    status: -5,
                    data: Bytes::from_static(b"r"),
                    ..Default::default()
                }),
            ),
            (
                Completion::Data(Bytes::from_static(b"d")),
                WireResult::Data(Bytes::from_static(b"d")),
            ),
            (Completion::Count(9), WireResult::Count(9)),
            (Completion::Event(12), WireResult::Event(12)),
        ];
        let found = vec![PathMatch {
            nd: 3,
            pid: 100,
            chid: 1,
            handle: 7,
            flags: PathFlags::DIR,
            file_type: 0,
            prefix: "/dev".into(),
            rest: "x/y".into(),
        }];
        let r: local::Response = Ok(Completion::Paths(found.clone())).into();
        let back: Result<Completion, Errno> = r.try_into().unwrap();
        assert_eq!(back.unwrap(), Completion::Paths(found));
        for (c, w) in simple {
            let r: local::Response = Ok(c).into();
            assert_eq!(r.result, Some(w));
        }
    }
    /// Every call survives `Call` → wire request → `Call` unchanged.
    #[test]
    fn calls_round_trip_through_the_wire_request() {
        let timeout = Some(Timeout {
            states: TimeoutStates {
                send: true,
                reply: true,
                receive: false,
            },
            after: Duration::from_millis(250),
        });
        let calls = [
            Call::ChannelCreate {
                flags: ChannelFlags(0x18),
            },
            Call::ChannelDestroy { chid: 2 },
            Call::ConnectAttach {
                nd: 3,
                pid: 44,
                chid: 1,
            },
            Call::ConnectDetach { coid: 5 },
            Call::ScoidDetach { scoid: 6 },
            Call::MsgSend {
                coid: 1,
                data: Bytes::from_static(b"ping"),
                reply_cap: 99,
                priority: 200,
                realtime: false,
                timeout,
            },
            Call::MsgReceive {
                chid: 1,
                cap: 16,
                timeout: None,
            },
            Call::MsgReply {
                rcvid: 7,
                status: -2,
                data: Bytes::from_static(b"pong"),
            },
            Call::MsgError { rcvid: 7, errno: 4 },
            Call::MsgRead {
                rcvid: 7,
                offset: 1 << 20,
                len: 10,
            },
            Call::MsgWrite {
                rcvid: 7,
                offset: 3,
                data: Bytes::from_static(b"w"),
            },
            Call::MsgInfo { rcvid: 8 },
            Call::MsgSendPulse {
                coid: 1,
                priority: 9,
                code: -5,
                value: 77,
            },
            Call::NameAttach {
                name: "srv".into(),
                flags: ChannelFlags(1),
            },
            Call::NameDetach { chid: 1 },
            Call::NameOpen {
                name: "n2/srv".into(),
            },
            Call::PathAttach {
                path: "/dev/x".into(),
                chid: 2,
                flags: PathFlags(PathFlags::DIR.0 | PathFlags::AFTER.0),
                file_type: 6,
            },
            Call::PathDetach { id: 3 },
            Call::PathResolve {
                path: "/net/n2/dev/x".into(),
                file_type: 0,
            },
            Call::PathList { path: "/".into() },
            Call::ConnectClientInfo { scoid: 1 },
            Call::MsgRegisterEvent {
                event: PulseEvent {
                    coid: 2,
                    priority: 10,
                    code: 3,
                    value: 4,
                    updateable: true,
                },
                server_coid: 2,
            },
            Call::MsgUnregisterEvent { event: 1 << 40 },
            Call::MsgVerifyEvent { rcvid: 1, event: 2 },
            Call::MsgDeliverEvent {
                rcvid: 1,
                event: 2,
                value: Some(-9),
            },
            Call::Unblock { tid: 12 },
        ];
        for call in calls {
            let wire = local::Request::from(&call);
            assert_eq!(Call::try_from(wire), Ok(call));
        }
    }

    /// Every result survives result → wire response → result unchanged.
    #[test]
    fn results_round_trip_through_the_wire_response() {
        let info = MsgInfo {
            nd: 2,
            srcnd: 1,
            pid: 7,
            tid: 8,
            chid: 1,
            scoid: 2,
            coid: 3,
            priority: 200,
            realtime: true,
            msglen: 3,
            srcmsglen: 3,
            dstmsglen: 9,
            flags: 0x100,
        };
        let results: Vec<Result<Completion, Errno>> = vec![
            Err(Errno::ESRCH),
            Err(Errno(4321)),
            Ok(Completion::Done),
            Ok(Completion::Chid(3)),
            Ok(Completion::Coid(4)),
            Ok(Completion::Reply {
                status: 5,
                data: Extents::at_zero(Bytes::from_static(b"r")),
            }),
            Ok(Completion::Reply {
                status: 0,
                data: Extents::new(),
            }),
            Ok(Completion::Reply {
                status: 6,
                data: {
                    let mut e = Extents::new();
                    e.write(40, Bytes::from_static(b"WWWW"));
                    e.write(0, Bytes::from_static(b"0123456789"));
                    e.write(100, Bytes::from(vec![7u8; 5000]));
                    e
                },
            }),
            Ok(Completion::Received(Received::Message {
                rcvid: 11,
                info,
                data: Bytes::from_static(b"abc"),
            })),
            Ok(Completion::Received(Received::Pulse(Pulse {
                code: -33,
                value: 1,
                scoid: 4,
                priority: 21,
            }))),
            Ok(Completion::Data(Bytes::from_static(b"d"))),
            Ok(Completion::Count(9)),
            Ok(Completion::Info(info)),
            Ok(Completion::ClientInfo(ClientInfo {
                nd: 1,
                pid: 5,
                cred: Credentials { uid: 10, gid: 20 },
            })),
            Ok(Completion::Event(1 << 50)),
        ];
        for r in results {
            let wire = local::Response::from(r.clone());
            assert_eq!(Result::<Completion, Errno>::try_from(wire), Ok(r));
        }
    }

    #[test]
    fn malformed_peer_responses_are_rejected() {
        let bad = [
            local::Response { result: None },
            local::Response {
                result: Some(WireResult::Message(local::ReceivedMessage {
                    rcvid: 1,
                    info: None,
                    data: Bytes::new(),
                })),
            },
            local::Response {
                result: Some(WireResult::Pulse(local::Pulse {
                    code: 1000,
                    value: 0,
                    scoid: 0,
                    priority: 0,
                })),
            },
            local::Response {
                result: Some(WireResult::Nd(3)),
            },
            // Pieces that overlap the main piece, or each other.
            local::Response {
                result: Some(WireResult::Reply(local::Reply {
                    status: 0,
                    data: Bytes::from_static(b"abcdef"),
                    data_offset: 10,
                    pieces: vec![local::ReplyPiece {
                        offset: 12,
                        data: Bytes::from_static(b"x"),
                    }],
                })),
            },
            local::Response {
                result: Some(WireResult::Reply(local::Reply {
                    status: 0,
                    data: Bytes::new(),
                    data_offset: 0,
                    pieces: vec![
                        local::ReplyPiece {
                            offset: 5,
                            data: Bytes::from_static(b"xyz"),
                        },
                        local::ReplyPiece {
                            offset: 1,
                            data: Bytes::from_static(b"x"),
                        },
                    ],
                })),
            },
        ];
        for r in bad {
            assert!(Result::<Completion, Errno>::try_from(r).is_err());
        }
    }

    #[test]
    fn spans_nobody_resolved_are_refused() {
        let span = || vec![crate::one_copy::span(4096, 16)];
        let cases = [
            (
                WireCall::MsgSend(local::MsgSend {
                    data_at: span(),
                    ..Default::default()
                }),
                "MsgSend.data_at",
            ),
            (
                WireCall::MsgSend(local::MsgSend {
                    reply_at: span(),
                    ..Default::default()
                }),
                "MsgSend.reply_at",
            ),
            (
                WireCall::MsgReceive(local::MsgReceive {
                    buf_at: span(),
                    ..Default::default()
                }),
                "MsgReceive.buf_at",
            ),
            (
                WireCall::MsgReply(local::MsgReply {
                    data_at: span(),
                    ..Default::default()
                }),
                "MsgReply.data_at",
            ),
            (
                WireCall::MsgReplyReceive(local::MsgReplyReceive {
                    buf_at: span(),
                    ..Default::default()
                }),
                "MsgReplyReceive.buf_at",
            ),
        ];
        for (call, field) in cases {
            assert_eq!(
                LocalRequest::try_from(req(call)),
                Err(ConvertError::Spans(field))
            );
        }
    }

    #[test]
    fn netmgr_requests_are_not_kernel_calls() {
        let r = req(WireCall::NetmgrStrToNd(local::NetmgrStrToNd {
            name: "n2".into(),
        }));
        assert_eq!(
            LocalRequest::try_from(r),
            Ok(LocalRequest::Netmgr(NetmgrRequest::StrToNd {
                name: "n2".into()
            }))
        );
        let r = req(WireCall::NetmgrNdToStr(local::NetmgrNdToStr { nd: 2 }));
        assert_eq!(
            LocalRequest::try_from(r),
            Ok(LocalRequest::Netmgr(NetmgrRequest::NdToStr { nd: 2 }))
        );
    }
    #[test]
    fn reply_receive_is_a_reply_then_a_receive() {
        let r = req(WireCall::MsgReplyReceive(local::MsgReplyReceive {
            rcvid: 7,
            status: -2,
            data: Bytes::from_static(b"ok"),
            chid: 3,
            cap: 64,
            timeout: Some(local::Timeout {
                send: false,
                reply: false,
                receive: true,
                after_ns: 5_000,
            }),
            ..Default::default()
        }));
        let timeout = Some(Timeout {
            states: TimeoutStates {
                send: false,
                reply: false,
                receive: true,
            },
            after: Duration::from_micros(5),
        });
        let Ok(LocalRequest::ReplyReceive(rr)) = LocalRequest::try_from(r.clone()) else {
            panic!("not a reply-and-receive: {r:?}")
        };
        assert_eq!(
            rr.into_calls(),
            (
                Call::MsgReply {
                    rcvid: 7,
                    status: -2,
                    data: Bytes::from_static(b"ok"),
                },
                Call::MsgReceive {
                    chid: 3,
                    cap: 64,
                    timeout,
                },
            )
        );
        // Where only a kernel call may come (a forwarded call), it is refused.
        assert_eq!(
            Call::try_from(r),
            Err(ConvertError::NotAKernelCall("reply-and-receive"))
        );
    }

    /// The requests that are not one kernel call, and the answers that are not completions,
    /// survive the codec both ways too (the library encodes, the daemon decodes, and back).
    #[test]
    fn local_requests_and_answers_round_trip() {
        let requests = [
            LocalRequest::Kernel(Call::ChannelDestroy { chid: 4 }),
            LocalRequest::ReplyReceive(Box::new(ReplyReceive {
                rcvid: 3,
                status: -1,
                data: Bytes::from_static(b"r"),
                chid: 2,
                cap: 16,
                timeout: None,
            })),
            LocalRequest::Shm(ShmRequest::Create {
                nd: 1,
                pid: 2,
                perms: 3,
            }),
            LocalRequest::Shm(ShmRequest::Open {
                handle: 1 << 60,
                perms: 2,
            }),
            LocalRequest::Netmgr(NetmgrRequest::StrToNd { name: "n2".into() }),
            LocalRequest::Netmgr(NetmgrRequest::NdToStr { nd: 7 }),
        ];
        for r in requests {
            let wire = local::Request::from(r.clone());
            assert_eq!(LocalRequest::try_from(wire), Ok(r));
        }
        let answers: Vec<Result<LocalAnswer, CallFailure>> = vec![
            Ok(LocalAnswer::Completion(Completion::Coid(3))),
            Ok(LocalAnswer::ShmHandle(1 << 60)),
            Ok(LocalAnswer::Nd(2)),
            Ok(LocalAnswer::NodeName("n2".into())),
            Err(CallFailure {
                errno: Errno::ENOREMOTE,
                detail: "made on another node".into(),
            }),
        ];
        for a in answers {
            let wire = match a.clone() {
                Ok(a) => local::Response::from(a),
                Err(f) => local::Response::from(f),
            };
            assert_eq!(Result::<LocalAnswer, CallFailure>::try_from(wire), Ok(a));
        }
    }
}
