//! `MsgReceive` and `MsgReceivev`, and `msg_reply_receive` (a qnet extension).

use std::io::IoSliceMut;

use bytes::Bytes;
use qnet_core::{Call, Chid, Completion, MsgInfo, Rcvid, Received, Timeout};
use qnet_proto::codec::{LocalAnswer, LocalRequest, ReplyReceive};
use qnet_proto::local;
use qnet_proto::one_copy::ONE_COPY_MIN;

use super::pulse::pulse_to_bytes;
use super::scatter;
use super::timer::take_timeout;
use crate::error::Result;
use crate::session::{call, call_wire, spans_of, spans_of_mut, unexpected};

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
    let armed = take_timeout();
    if let Some(got) = crate::direct::receive(chid, cap, armed.as_ref()) {
        return deliver_direct(got?, riov, info);
    }
    let at = buffer_spans(riov);
    let got = receive_into(chid, cap as u64, at, armed)?;
    Ok(deliver(got, riov, info))
}

/// Copy what a receive on the direct path took into `riov` (and `info`); the rcvid.
fn deliver_direct(
    got: crate::direct::Got,
    riov: &mut [IoSliceMut<'_>],
    info: Option<&mut MsgInfo>,
) -> Result<Rcvid> {
    match got {
        crate::direct::Got::Message { rcvid, info: i } => {
            crate::direct::read(rcvid, 0, riov)?;
            if let Some(info) = info {
                *info = i;
            }
            Ok(rcvid)
        }
        crate::direct::Got::Received(r) => Ok(deliver(r, riov, info)),
    }
}

/// What a receive on the direct path took, with a message's bytes copied out.
fn owned(got: crate::direct::Got) -> Result<Received> {
    match got {
        crate::direct::Got::Message { rcvid, info } => {
            let mut data = vec![0u8; info.msglen as usize];
            crate::direct::read(rcvid, 0, &mut [IoSliceMut::new(&mut data)])?;
            Ok(Received::Message {
                rcvid,
                info,
                data: Bytes::from(data),
            })
        }
        crate::direct::Got::Received(r) => Ok(r),
    }
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
    if crate::direct::is_direct(rcvid) || crate::direct::serves(chid) {
        // The reply (in place or by the kernel), then the receive on the direct path.
        super::msg_reply(rcvid, status, reply)?;
        return msg_receive(chid, buf, info);
    }
    let mut parts = [IoSliceMut::new(buf)];
    let cap = parts[0].len() as u64;
    let buf_at = buffer_spans(&mut parts);
    let timeout = take_timeout().map(Into::into);
    let answer = call_wire(|one_copy| {
        // One copy: a large reply is read by the daemon from `reply` itself.
        let (data, data_at) = match one_copy && reply.len() >= ONE_COPY_MIN {
            true => (
                Bytes::new(),
                spans_of(std::iter::once(reply)).unwrap_or_default(),
            ),
            false => (Bytes::copy_from_slice(reply), Vec::new()),
        };
        let mut r = local::Request::from(reply_receive_request(
            rcvid, status, data, chid, cap, timeout,
        ));
        if let Some(local::request::Call::MsgReplyReceive(c)) = &mut r.call {
            c.data_at = data_at;
            if one_copy {
                c.buf_at = buf_at.unwrap_or_default();
            }
        }
        r
    })?;
    let got = received("MsgReplyReceive", answer)?;
    super::priority::on_receive(chid, &got);
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
    let armed = take_timeout();
    if let Some(got) = crate::direct::receive(chid, cap as usize, armed.as_ref()) {
        return owned(got?);
    }
    receive_into(chid, cap, None, armed)
}

/// The spans naming a receive buffer for one copy: only for a large one.
fn buffer_spans(riov: &mut [IoSliceMut<'_>]) -> Option<Vec<local::Span>> {
    let cap: usize = riov.iter().map(|p| p.len()).sum();
    if cap < ONE_COPY_MIN {
        return None;
    }
    spans_of_mut(riov)
}

/// [`receive`], naming the receive buffer by `at` (its spans) on a one-copy session: the
/// daemon may then write a large message there itself, and the answer carries no bytes.
fn receive_into(
    chid: Chid,
    cap: u64,
    at: Option<Vec<local::Span>>,
    armed: Option<local::Timeout>,
) -> Result<Received> {
    let timeout = armed.map(Into::into);
    let request = LocalRequest::Kernel(Call::MsgReceive { chid, cap, timeout });
    let answer = match at {
        None => call(request)?,
        Some(at) => call_wire(|one_copy| {
            let mut r = local::Request::from(request);
            if let (true, Some(local::request::Call::MsgReceive(c))) = (one_copy, &mut r.call) {
                c.buf_at = at;
            }
            r
        })?,
    };
    let got = received("MsgReceive", answer)?;
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
    if crate::direct::is_direct(rcvid) || crate::direct::serves(chid) {
        super::msg_reply(rcvid, status, &data)?;
        return receive(chid, cap);
    }
    let timeout = take_timeout().map(Into::into);
    let got = received(
        "MsgReplyReceive",
        call(reply_receive_request(
            rcvid, status, data, chid, cap, timeout,
        ))?,
    )?;
    super::priority::on_receive(chid, &got);
    Ok(got)
}

/// The `MsgReplyReceive` request both forms send (with `data` inline).
fn reply_receive_request(
    rcvid: Rcvid,
    status: i64,
    data: Bytes,
    chid: Chid,
    cap: u64,
    timeout: Option<Timeout>,
) -> LocalRequest {
    LocalRequest::ReplyReceive(Box::new(ReplyReceive {
        rcvid,
        status,
        data,
        chid,
        cap,
        timeout,
    }))
}

fn received(what: &str, answer: LocalAnswer) -> Result<Received> {
    match answer {
        LocalAnswer::Completion(Completion::Received(r)) => Ok(r),
        other => Err(unexpected(what, &other)),
    }
}
