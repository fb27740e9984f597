//! `MsgSend` and its IOV forms. The library gathers the send parts straight into the outgoing
//! frame (no intermediate copy) and scatters the reply across the reply parts.

use std::io::{IoSlice, IoSliceMut};

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};
use qnet_core::{Coid, Completion, Errno};
use qnet_proto::codec::LocalAnswer;
use qnet_proto::local::Timeout;

use super::scatter_at;
use super::timer::{priority, take_timeout};
use crate::error::{Error, Result};
use crate::session::{Session, unexpected, with_session};

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
    let timeout = take_timeout();
    let prio = priority();
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
        encode_msg_send(
            s,
            coid,
            parts,
            reply_cap as u64,
            u32::from(prio),
            timeout.as_ref(),
        );
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

/// Encode `ClientFrame { request { msg_send { .. } } }` by hand so the send parts are copied
/// once, straight into the frame. Produces the same bytes prost would.
fn encode_msg_send(
    s: &mut Session,
    coid: Coid,
    parts: &[&[u8]],
    reply_cap: u64,
    priority: u32,
    timeout: Option<&Timeout>,
) {
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
    if let Some(t) = timeout {
        body += prost::encoding::message::encoded_len(5, t);
    }
    // Request { msg_send = 6 }
    let req = 1 + encoded_len_varint(body as u64) + body;
    let buf = &mut s.wbuf;
    buf.clear();
    buf.reserve(4 + 1 + 10 + req);
    buf.extend_from_slice(&[0; 4]);
    encode_key(2, WireType::LengthDelimited, buf); // ClientFrame.request
    encode_varint(req as u64, buf);
    encode_key(6, WireType::LengthDelimited, buf); // Request.msg_send
    encode_varint(body as u64, buf);
    if coid != 0 {
        encode_key(1, WireType::Varint, buf);
        encode_varint(coid_v, buf);
    }
    if data_len != 0 {
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(data_len as u64, buf);
        for p in parts {
            buf.extend_from_slice(p);
        }
    }
    if reply_cap != 0 {
        encode_key(3, WireType::Varint, buf);
        encode_varint(reply_cap, buf);
    }
    if priority != 0 {
        encode_key(4, WireType::Varint, buf);
        encode_varint(u64::from(priority), buf);
    }
    if let Some(t) = timeout {
        prost::encoding::message::encode(5, t, buf);
    }
    s.finish_frame();
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use bytes::BytesMut;
    use qnet_proto::local::{ClientFrame, MsgSend, Request, client_frame, request};

    use super::*;
    use crate::session::DaemonInfo;

    fn session() -> Session {
        let (a, _b) = UnixStream::pair().unwrap();
        Session::for_test(
            a,
            DaemonInfo {
                node: "n".into(),
                max_message_size: 1 << 20,
            },
        )
    }

    #[test]
    fn hand_encoding_matches_prost() {
        let timeout = Timeout {
            send: true,
            reply: false,
            receive: true,
            after_ns: 1_000_000,
        };
        type Case<'a> = (Coid, Vec<&'a [u8]>, u64, u32, Option<Timeout>);
        let cases: Vec<Case<'_>> = vec![
            (1, vec![b"hello", b" world"], 100, 10, None),
            (0, vec![], 0, 0, None),
            (-5, vec![&[0u8; 300][..]], 1 << 40, 255, Some(timeout)),
        ];
        for (coid, parts, cap, prio, t) in cases {
            let mut s = session();
            encode_msg_send(&mut s, coid, &parts, cap, prio, t.as_ref());
            let data: Vec<u8> = parts.concat();
            let want = ClientFrame {
                frame: Some(client_frame::Frame::Request(Request {
                    call: Some(request::Call::MsgSend(MsgSend {
                        coid,
                        data: data.into(),
                        reply_cap: cap,
                        priority: prio,
                        timeout: t,
                    })),
                })),
            };
            let mut expect = BytesMut::new();
            qnet_proto::frame::encode_frame(&want, &mut expect);
            assert_eq!(s.wbuf, expect.to_vec());
        }
    }
}
