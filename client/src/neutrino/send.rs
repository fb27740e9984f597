//! `MsgSend` and its IOV forms. The library gathers the send parts straight into the outgoing
//! frame (no intermediate copy) and scatters the reply across the reply parts.

use std::io::{IoSlice, IoSliceMut};

use bytes::Bytes;
use qnet_core::{Coid, Completion, Errno};
use qnet_proto::codec::{LocalAnswer, encode_msg_send};
use qnet_proto::local;
use qnet_proto::one_copy::ONE_COPY_MIN;

use super::priority::priority;
use super::scatter_at;
use super::timer::take_timeout;
use crate::error::{Error, Result};
use crate::session::{spans_of, spans_of_mut, unexpected, with_session};

/// `MsgSend(coid, smsg, rmsg)`: send `smsg`, block until the server replies. What the server
/// wrote (`MsgReply`'s data at offset 0, each `MsgWrite` at its offset, cut at `rmsg`'s length)
/// lands in `rmsg`; every other byte of `rmsg` keeps its value. Returns the status the server
/// passed to `MsgReply`.
pub fn msg_send(coid: Coid, smsg: &[u8], rmsg: &mut [u8]) -> Result<i64> {
    let mut reply = [IoSliceMut::new(rmsg)];
    send(coid, &[smsg], &mut reply)
}

/// `MsgSendv(coid, siov, riov)`: the send parts travel as one message; the reply is scattered
/// across the reply parts in order.
pub fn msg_sendv(coid: Coid, siov: &[IoSlice<'_>], riov: &mut [IoSliceMut<'_>]) -> Result<i64> {
    let parts: Vec<&[u8]> = siov.iter().map(|s| &**s).collect();
    send(coid, &parts, riov)
}

/// `MsgSendsv(coid, smsg, riov)`: one send buffer, reply scattered across `riov`.
pub fn msg_sendsv(coid: Coid, smsg: &[u8], riov: &mut [IoSliceMut<'_>]) -> Result<i64> {
    send(coid, &[smsg], riov)
}

/// `MsgSendvs(coid, siov, rmsg)`: send parts gathered, reply into one buffer.
pub fn msg_sendvs(coid: Coid, siov: &[IoSlice<'_>], rmsg: &mut [u8]) -> Result<i64> {
    let parts: Vec<&[u8]> = siov.iter().map(|s| &**s).collect();
    let mut reply = [IoSliceMut::new(rmsg)];
    send(coid, &parts, &mut reply)
}

/// The common path: encode, round trip, scatter.
pub(crate) fn send(coid: Coid, parts: &[&[u8]], reply: &mut [IoSliceMut<'_>]) -> Result<i64> {
    let armed = take_timeout();
    let prio = priority();
    if let Some(r) = crate::direct::send(coid, parts, reply, prio, armed.as_ref()) {
        return r;
    }
    let timeout = armed.map(Into::into);
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let reply_cap: usize = reply.iter().map(|p| p.len()).sum();
    with_session(|s| {
        if len as u64 > s.info.max_message_size || reply_cap as u64 > s.info.max_message_size {
            return Err(Error::new(
                Errno::EMSGSIZE,
                format!(
                    "MsgSend of {len} bytes (reply buffer {reply_cap}) exceeds the daemon's limit of {} bytes",
                    s.info.max_message_size
                ),
            ));
        }
        let big = |n: usize| s.one_copy && n >= ONE_COPY_MIN;
        let data_at = if big(len) {
            spans_of(parts.iter().copied())
        } else {
            None
        };
        let reply_at = if big(reply_cap) {
            spans_of_mut(reply)
        } else {
            None
        };
        if data_at.is_none() && reply_at.is_none() {
            s.wbuf.clear();
            encode_msg_send(&mut s.wbuf, coid, parts, reply_cap as u64, prio, timeout);
        } else {
            // One copy: the daemon reads the send buffer and writes the reply buffer in
            // this process's memory; the frame names them.
            let data = match data_at {
                Some(_) => Bytes::new(),
                None => Bytes::from(parts.concat()),
            };
            s.encode_wire(local::Request {
                call: Some(local::request::Call::MsgSend(local::MsgSend {
                    coid,
                    data,
                    reply_cap: reply_cap as u64,
                    priority: u32::from(prio),
                    timeout: timeout.map(local::Timeout::from),
                    data_at: data_at.unwrap_or_default(),
                    reply_at: reply_at.unwrap_or_default(),
                    // The daemon reads this thread's scheduling itself.
                    realtime: false,
                })),
            });
        }
        match s.round_trip()? {
            LocalAnswer::Completion(Completion::Reply { status, data }) => {
                // Only what the server wrote, at its offsets: every other byte of the
                // caller's reply buffers keeps its value, as in QNX.
                for p in data.pieces() {
                    scatter_at(&p.data, p.offset, reply);
                }
                Ok(status)
            }
            other => Err(unexpected("MsgSend", &other)),
        }
    })
}
