//! `MsgReceive` and `MsgReceivev`, and `msg_reply_receive` (a qnet extension).

use std::io::IoSliceMut;

use bytes::Bytes;
use qnet_core::{Call, Chid, Completion, MsgInfo, Rcvid, Received};
use qnet_proto::codec::{LocalAnswer, LocalRequest, ReplyReceive};

use super::pulse::pulse_to_bytes;
use super::scatter;
use super::timer::take_timeout;
use crate::error::Result;
use crate::session::{call, unexpected};

/// `MsgReceive(chid, buf, info)`: wait for a message or a pulse on `chid`.
///
/// A message: its first `buf.len()` bytes land in `buf`, `info` (if given) is filled, and the
/// rcvid (> 0) is returned for `msg_reply`/`msg_error`/`msg_read`/…
/// A pulse: returns 0 and writes QNX's 16-byte `struct _pulse` into `buf` (decode it with
/// [`super::pulse_from_bytes`]); `info` is left untouched. A `buf` shorter than
/// [`qnet_core::PULSE_SIZE`] fails with `EFAULT`.
pub fn msg_receive(chid: Chid, buf: &mut [u8], info: Option<&mut MsgInfo>) -> Result<Rcvid> {
    let mut parts = [IoSliceMut::new(buf)];
    msg_receivev(chid, &mut parts, info)
}

/// `MsgReceivev(chid, riov, info)`: as [`msg_receive`], scattering into the parts of `riov`.
pub fn msg_receivev(
    chid: Chid,
    riov: &mut [IoSliceMut<'_>],
    info: Option<&mut MsgInfo>,
) -> Result<Rcvid> {
    let cap: usize = riov.iter().map(|p| p.len()).sum();
    let got = receive(chid, cap as u64)?;
    Ok(deliver(got, riov, info))
}

/// `MsgReply(rcvid, status, reply)` then `MsgReceive(chid, buf, info)` in one request to the
/// daemon: a **qnet extension** (QNX has no single call for it) that saves a server loop one
/// round trip to `qnetd` per message.
///
/// If the reply fails (e.g. `ESRCH`: `rcvid` was already answered or its client is gone),
/// that error is returned and **no receive is done**. Otherwise the receive happens exactly
/// as [`msg_receive`] does it (it blocks; a pulse returns 0 and fills `buf` with a
/// `struct _pulse`; a `buf` shorter than [`qnet_core::PULSE_SIZE`] fails with `EFAULT`; a
/// `timer_timeout` armed for the receive state applies to it) and its result is returned.
pub fn msg_reply_receive(
    rcvid: Rcvid,
    status: i64,
    reply: &[u8],
    chid: Chid,
    buf: &mut [u8],
    info: Option<&mut MsgInfo>,
) -> Result<Rcvid> {
    let got = reply_receive(
        rcvid,
        status,
        Bytes::copy_from_slice(reply),
        chid,
        buf.len() as u64,
    )?;
    let mut parts = [IoSliceMut::new(buf)];
    Ok(deliver(got, &mut parts, info))
}

/// Copy what arrived into `riov` (and `info`, for a message); the rcvid, 0 for a pulse.
fn deliver(got: Received, riov: &mut [IoSliceMut<'_>], info: Option<&mut MsgInfo>) -> Rcvid {
    match got {
        Received::Message {
            rcvid,
            info: i,
            data,
        } => {
            scatter(&data, riov);
            if let Some(info) = info {
                *info = i;
            }
            rcvid
        }
        Received::Pulse(p) => {
            scatter(&pulse_to_bytes(&p), riov);
            0
        }
    }
}

/// The receive call, with the armed timeout (if any), returning what arrived.
pub(crate) fn receive(chid: Chid, cap: u64) -> Result<Received> {
    let timeout = take_timeout().map(Into::into);
    let got = received(
        "MsgReceive",
        call(LocalRequest::Kernel(Call::MsgReceive {
            chid,
            cap,
            timeout,
        }))?,
    )?;
    super::priority::on_receive(chid, &got);
    Ok(got)
}

/// The reply-then-receive request (qnet extension; see [`msg_reply_receive`]), with the
/// armed timeout (if any) for its receive half.
pub(crate) fn reply_receive(
    rcvid: Rcvid,
    status: i64,
    data: Bytes,
    chid: Chid,
    cap: u64,
) -> Result<Received> {
    let timeout = take_timeout().map(Into::into);
    let got = received(
        "MsgReplyReceive",
        call(LocalRequest::ReplyReceive(Box::new(ReplyReceive {
            rcvid,
            status,
            data,
            chid,
            cap,
            timeout,
        })))?,
    )?;
    super::priority::on_receive(chid, &got);
    Ok(got)
}

fn received(what: &str, answer: LocalAnswer) -> Result<Received> {
    match answer {
        LocalAnswer::Completion(Completion::Received(r)) => Ok(r),
        other => Err(unexpected(what, &other)),
    }
}
