//! Answering and inspecting a received message: `MsgReply`, `MsgError`, `MsgRead`,
//! `MsgWrite`, `MsgInfo` (and their IOV forms).

use std::io::{IoSlice, IoSliceMut};

use bytes::Bytes;
use qnet_core::{Call, Completion as C, Errno, MsgInfo, Rcvid};

use super::channel::done;
use super::{gather, scatter};
use qnet_proto::codec::LocalAnswer;
use qnet_proto::local;
use qnet_proto::one_copy::ONE_COPY_MIN;

use crate::error::Result;
use crate::session::{call_wire, kernel, spans_of, unexpected};

/// `MsgReply(rcvid, status, msg)`: unblock the client; its `MsgSend` returns `status` and the
/// reply buffer gets `msg` at offset 0 (truncated to its size). A second answer → `ESRCH`.
pub fn msg_reply(rcvid: Rcvid, status: i64, msg: &[u8]) -> Result<()> {
    msg_replyv(rcvid, status, &[IoSlice::new(msg)])
}

/// `MsgReplyv(rcvid, status, iov)`: as [`msg_reply`], the parts gathered.
pub fn msg_replyv(rcvid: Rcvid, status: i64, iov: &[IoSlice<'_>]) -> Result<()> {
    if crate::direct::is_direct(rcvid) {
        let parts: Vec<&[u8]> = iov.iter().map(|p| &**p).collect();
        return crate::direct::reply(rcvid, status, &parts);
    }
    let len: usize = iov.iter().map(|p| p.len()).sum();
    if len < ONE_COPY_MIN {
        return reply(rcvid, status, gather(iov));
    }
    // Large: on a one-copy session the daemon reads the parts from this process itself.
    let answer = call_wire(|one_copy| {
        let spans = match one_copy {
            true => spans_of(iov.iter().map(|p| &**p)),
            false => None,
        };
        let (data, data_at) = match spans {
            Some(at) => (Bytes::new(), at),
            None => (gather(iov), Vec::new()),
        };
        local::Request {
            call: Some(local::request::Call::MsgReply(local::MsgReply {
                rcvid,
                status,
                data,
                data_at,
            })),
        }
    })?;
    match answer {
        LocalAnswer::Completion(c) => done("MsgReply", c),
        other => Err(unexpected("MsgReply", &other)),
    }
}

fn reply(rcvid: Rcvid, status: i64, data: Bytes) -> Result<()> {
    if crate::direct::is_direct(rcvid) {
        return crate::direct::reply(rcvid, status, &[&data]);
    }
    done(
        "MsgReply",
        kernel(
            "MsgReply",
            Call::MsgReply {
                rcvid,
                status,
                data,
            },
        )?,
    )
}

/// `MsgError(rcvid, errno)`: unblock the client with `errno` (`EOK` makes its `MsgSend`
/// return 0).
pub fn msg_error(rcvid: Rcvid, errno: Errno) -> Result<()> {
    if crate::direct::is_direct(rcvid) {
        return crate::direct::error(rcvid, errno);
    }
    done(
        "MsgError",
        kernel(
            "MsgError",
            Call::MsgError {
                rcvid,
                errno: errno.0,
            },
        )?,
    )
}

/// `MsgRead(rcvid, buf, offset)`: copy the client's send buffer from `offset` into `buf`;
/// returns the bytes copied (fewer at the end of the message).
pub fn msg_read(rcvid: Rcvid, buf: &mut [u8], offset: usize) -> Result<usize> {
    let mut parts = [IoSliceMut::new(buf)];
    msg_readv(rcvid, &mut parts, offset)
}

/// `MsgReadv(rcvid, iov, offset)`: as [`msg_read`], scattering into `iov`.
pub fn msg_readv(rcvid: Rcvid, iov: &mut [IoSliceMut<'_>], offset: usize) -> Result<usize> {
    if crate::direct::is_direct(rcvid) {
        return crate::direct::read(rcvid, offset as u64, iov);
    }
    let len: usize = iov.iter().map(|p| p.len()).sum();
    let call = Call::MsgRead {
        rcvid,
        offset: offset as u64,
        len: len as u64,
    };
    match kernel("MsgRead", call)? {
        C::Data(d) => Ok(scatter(&d, iov)),
        other => Err(unexpected("MsgRead", &other)),
    }
}

/// `MsgWrite(rcvid, msg, offset)`: copy `msg` into the client's reply buffer at `offset`
/// without unblocking it; returns the bytes copied (the reply buffer bounds it).
pub fn msg_write(rcvid: Rcvid, msg: &[u8], offset: usize) -> Result<usize> {
    write(rcvid, Bytes::copy_from_slice(msg), offset)
}

/// `MsgWritev(rcvid, iov, offset)`: as [`msg_write`], the parts gathered.
pub fn msg_writev(rcvid: Rcvid, iov: &[IoSlice<'_>], offset: usize) -> Result<usize> {
    write(rcvid, gather(iov), offset)
}

fn write(rcvid: Rcvid, data: Bytes, offset: usize) -> Result<usize> {
    if crate::direct::is_direct(rcvid) {
        return crate::direct::write(rcvid, offset as u64, &[&data]);
    }
    let call = Call::MsgWrite {
        rcvid,
        offset: offset as u64,
        data,
    };
    match kernel("MsgWrite", call)? {
        C::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        other => Err(unexpected("MsgWrite", &other)),
    }
}

/// `MsgInfo(rcvid)`: the `_msg_info` of a received, unanswered message (flags show
/// `_NTO_MI_UNBLOCK_REQ` once the client asked to unblock).
pub fn msg_info(rcvid: Rcvid) -> Result<MsgInfo> {
    if crate::direct::is_direct(rcvid) {
        return crate::direct::info(rcvid);
    }
    match kernel("MsgInfo", Call::MsgInfo { rcvid })? {
        C::Info(i) => Ok(i),
        other => Err(unexpected("MsgInfo", &other)),
    }
}
