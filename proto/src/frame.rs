//! Framing shared by both protocols: a 4-byte little-endian length, then that many bytes
//! of one prost message. Decoding is bounded and never panics on any input.
//!
//! Large payloads are not copied into the frame buffer: [`encode_frame_split`] encodes
//! everything but a message's one large `bytes` field (its *body*, see [`SplitBody`]) and
//! hands the body back to be written as a second chunk (vectored write, quinn chunk).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::{local, peer};

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Room for a frame's non-payload fields on top of the message-size limit.
pub const FRAME_OVERHEAD: usize = 64 * 1024;

/// Why a frame could not be decoded. Each of these closes the session that sent it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces more than the session's limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is not a valid message of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({have} of {want} bytes)")]
    Truncated {
        /// Bytes received.
        have: usize,
        /// Bytes announced (including the header).
        want: usize,
    },
}

/// Append `msg` to `dst` as one frame.
pub fn encode_frame<M: Message>(msg: &M, dst: &mut BytesMut) {
    let len = msg.encoded_len();
    dst.reserve(HEADER_LEN + len);
    dst.put_u32_le(len as u32);
    // Encoding into a BytesMut with reserved room cannot fail.
    msg.encode(dst).expect("reserved capacity");
}

/// Bodies at least this long are written apart from the frame buffer by
/// [`encode_frame_split`]; shorter ones are copied (one write of one buffer is cheaper).
pub const SPLIT_MIN_BODY: usize = 16 * 1024;

/// Deepest [`BodyPath`]: `PeerStreamFrame.call.request.<call>.data`.
const MAX_BODY_DEPTH: usize = 5;

/// Field numbers from a framed message down to its body (a `bytes` field), outermost first.
/// Every field on the path but the last is a (possibly oneof) message field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyPath {
    tags: [u32; MAX_BODY_DEPTH],
    depth: usize,
}

impl BodyPath {
    /// The path of a body field `tag` of the message itself.
    pub const fn field(tag: u32) -> Self {
        let mut tags = [0; MAX_BODY_DEPTH];
        tags[0] = tag;
        Self { tags, depth: 1 }
    }

    /// This path, inside field `tag` of an enclosing message. `None` past the deepest shape.
    pub fn within(self, tag: u32) -> Option<Self> {
        if self.depth >= MAX_BODY_DEPTH {
            return None;
        }
        let mut tags = [0; MAX_BODY_DEPTH];
        tags[0] = tag;
        tags[1..=self.depth].copy_from_slice(&self.tags[..self.depth]);
        Some(Self {
            tags,
            depth: self.depth + 1,
        })
    }

    /// The field numbers, outermost first.
    pub fn tags(&self) -> &[u32] {
        &self.tags[..self.depth]
    }
}

/// A message with at most one large `bytes` field worth writing apart (its body).
pub trait SplitBody {
    /// Take the body out of `self` (leaving it empty) if it is at least `min` bytes long, with
    /// where it was.
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)>;
}

/// Take `data` if it is at least `min` bytes long.
fn take_if(data: &mut Bytes, min: usize, tag: u32) -> Option<(BodyPath, Bytes)> {
    (data.len() >= min).then(|| (BodyPath::field(tag), std::mem::take(data)))
}

impl SplitBody for local::Request {
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)> {
        use local::request::Call;
        let (tag, body) = match self.call.as_mut()? {
            Call::MsgSend(m) => (6, take_if(&mut m.data, min, 2)?),
            Call::MsgReply(m) => (8, take_if(&mut m.data, min, 3)?),
            Call::MsgWrite(m) => (11, take_if(&mut m.data, min, 3)?),
            Call::MsgReplyReceive(m) => (27, take_if(&mut m.data, min, 3)?),
            _ => return None,
        };
        Some((body.0.within(tag)?, body.1))
    }
}

impl SplitBody for local::Response {
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)> {
        use local::response::Result;
        let (tag, body) = match self.result.as_mut()? {
            Result::Reply(r) => (5, take_if(&mut r.data, min, 2)?),
            Result::Message(m) => (6, take_if(&mut m.data, min, 3)?),
            Result::Data(d) => return take_if(d, min, 8),
            _ => return None,
        };
        Some((body.0.within(tag)?, body.1))
    }
}

impl SplitBody for local::ClientFrame {
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)> {
        match self.frame.as_mut()? {
            local::client_frame::Frame::Request(r) => {
                let (path, body) = r.take_body(min)?;
                Some((path.within(2)?, body))
            }
            local::client_frame::Frame::Hello(_) | local::client_frame::Frame::Interrupt(_) => None,
        }
    }
}

impl SplitBody for local::DaemonFrame {
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)> {
        match self.frame.as_mut()? {
            local::daemon_frame::Frame::Response(r) => {
                let (path, body) = r.take_body(min)?;
                Some((path.within(3)?, body))
            }
            _ => None,
        }
    }
}

impl SplitBody for peer::PeerStreamFrame {
    fn take_body(&mut self, min: usize) -> Option<(BodyPath, Bytes)> {
        match self.frame.as_mut()? {
            peer::peer_stream_frame::Frame::Call(c) => {
                let (path, body) = c.request.as_mut()?.take_body(min)?;
                Some((path.within(2)?.within(1)?, body))
            }
            _ => None,
        }
    }
}

/// Append `msg` as one frame to `dst` (a growable buffer: `Vec<u8>`, `BytesMut`), except its
/// body if it has one of at least [`SPLIT_MIN_BODY`] bytes: that is returned, and the frame
/// is `dst`'s new bytes followed by the body's. `msg` is left without its body.
///
/// The body travels as a second encoding of `msg`'s type that holds nothing but the path down
/// to the body. A protobuf decoder merges concatenated encodings of one message (nested
/// messages, oneof variants included, merge field by field; a `bytes` field takes the last
/// value), so the frame decodes as `msg` with its body in place, and no length prefix of
/// `msg` has to count bytes it does not hold.
pub fn encode_frame_split<M: Message + SplitBody>(
    msg: &mut M,
    dst: &mut impl BufMut,
) -> Option<Bytes> {
    let Some((path, body)) = msg.take_body(SPLIT_MIN_BODY) else {
        let len = msg.encoded_len();
        dst.put_u32_le(len as u32);
        msg.encode(dst).expect("a growable buffer");
        return None;
    };
    let tags = path.tags();
    // What each field on the path holds, then the whole tail: innermost first.
    let mut held = [0usize; MAX_BODY_DEPTH];
    let mut tail = body.len();
    for (i, &tag) in tags.iter().enumerate().rev() {
        held[i] = tail;
        tail += key_len(tag) + encoded_len_varint(tail as u64);
    }
    dst.put_u32_le((msg.encoded_len() + tail) as u32);
    msg.encode(dst).expect("a growable buffer");
    for (&tag, &len) in tags.iter().zip(&held) {
        encode_key(tag, WireType::LengthDelimited, dst);
        encode_varint(len as u64, dst);
    }
    Some(body)
}

/// `msg` as one frame, in a fresh buffer.
pub fn frame_to_vec<M: Message>(msg: &M) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_frame(msg, &mut b);
    b.to_vec()
}

/// Take one whole frame off the front of `src` if there is one.
///
/// `Ok(None)`: more bytes are needed (nothing consumed). `Err`: the stream is bad; close it.
pub fn decode_frame<M: Message + Default>(
    src: &mut BytesMut,
    max: usize,
) -> Result<Option<M>, FrameError> {
    if src.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_le_bytes([src[0], src[1], src[2], src[3]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if src.len() < HEADER_LEN + len {
        src.reserve(HEADER_LEN + len - src.len());
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    let payload = src.split_to(len).freeze();
    Ok(Some(M::decode(payload)?))
}

/// Bytes still missing before `src` holds its first frame whole (0: it does). A reader that
/// reads at most this many each time consumes nothing past that frame (a session's hello,
/// before an SHM session's fd-carrying frame that must be read with `recvmsg`).
pub fn missing(src: &[u8]) -> usize {
    match src.get(..HEADER_LEN) {
        None => HEADER_LEN - src.len(),
        Some(h) => {
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            (HEADER_LEN + len).saturating_sub(src.len())
        }
    }
}

/// At end of stream: `Ok` if nothing is left over, else the truncation.
pub fn check_eof(src: &BytesMut) -> Result<(), FrameError> {
    if src.is_empty() {
        return Ok(());
    }
    let want = if src.len() >= HEADER_LEN {
        HEADER_LEN + u32::from_le_bytes([src[0], src[1], src[2], src[3]]) as usize
    } else {
        HEADER_LEN
    };
    Err(FrameError::Truncated {
        have: src.len(),
        want,
    })
}

/// Blocking helpers for `std::io` streams (the library's side): the one reader of frames
/// on a blocking Unix socket, [`blocking::FrameReader`].
pub mod blocking {
    use std::io::{self, Read, Write};

    use bytes::{Buf, Bytes, BytesMut};
    use prost::Message;

    use super::{FrameError, HEADER_LEN, SPLIT_MIN_BODY, missing};

    /// Write `msg` as one frame.
    pub fn write_frame<M: Message, W: Write>(w: &mut W, msg: &M) -> io::Result<()> {
        let mut buf = BytesMut::new();
        super::encode_frame(msg, &mut buf);
        w.write_all(&buf)
    }

    /// Read one frame, consuming nothing past it; `Ok(None)` on a clean end of stream
    /// before any byte. A bad frame is an [`io::ErrorKind::InvalidData`] error carrying the
    /// [`FrameError`].
    pub fn read_frame<M: Message + Default, R: Read>(
        r: &mut R,
        max: usize,
    ) -> io::Result<Option<M>> {
        FrameReader::exact(max).read(r)
    }

    /// What a greedy reader reads at once while a frame's length is unknown: most frames
    /// (the library's responses) fit it whole, header and body in one `read`.
    pub const SMALL_READ: usize = 2048;

    fn invalid(e: FrameError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    /// Reads frames of at most `max` payload bytes from a blocking stream into one reused
    /// buffer. A payload of [`SPLIT_MIN_BODY`] bytes or more that does not fit the first read
    /// is read into a fresh buffer that is never zero-filled.
    #[derive(Debug)]
    pub struct FrameReader {
        buf: BytesMut,
        max: usize,
        greedy: bool,
    }

    impl FrameReader {
        /// A reader that reads at most what the current frame still misses, so nothing past
        /// a frame is consumed (a hello, after which the stream may carry descriptors).
        pub fn exact(max: usize) -> Self {
            Self {
                buf: BytesMut::new(),
                max,
                greedy: false,
            }
        }

        /// A reader that reads up to [`SMALL_READ`] bytes while a frame's length is unknown
        /// (one `read` for a small frame); bytes past a frame stay [`buffered`](Self::buffered)
        /// for the next one.
        pub fn greedy(max: usize) -> Self {
            Self {
                buf: BytesMut::with_capacity(SMALL_READ),
                max,
                greedy: true,
            }
        }

        /// Take bytes the caller read from the stream itself (with `recvmsg`, for the
        /// descriptors that came with them) as the next bytes of the stream.
        pub fn feed(&mut self, bytes: &[u8]) {
            self.buf.extend_from_slice(bytes);
        }

        /// Bytes read past the last frame returned.
        pub fn buffered(&self) -> usize {
            self.buf.len()
        }

        /// The next frame, decoded; `Ok(None)` on a clean end of stream between frames.
        pub fn read<M: Message + Default, R: Read>(&mut self, r: &mut R) -> io::Result<Option<M>> {
            match self.read_payload(r)? {
                None => Ok(None),
                Some(payload) => M::decode(payload)
                    .map(Some)
                    .map_err(|e| invalid(FrameError::Malformed(e))),
            }
        }

        /// The next frame's payload; `Ok(None)` on a clean end of stream between frames.
        pub fn read_payload<R: Read>(&mut self, r: &mut R) -> io::Result<Option<Bytes>> {
            loop {
                if let Some(h) = self.buf.get(..HEADER_LEN) {
                    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                    if len > self.max {
                        return Err(invalid(FrameError::TooLarge { len, max: self.max }));
                    }
                    if self.buf.len() >= HEADER_LEN + len {
                        self.buf.advance(HEADER_LEN);
                        return Ok(Some(self.buf.split_to(len).freeze()));
                    }
                    if len >= SPLIT_MIN_BODY && HEADER_LEN + len > SMALL_READ {
                        return self.read_large(r, len).map(Some);
                    }
                }
                let want = match self.greedy && self.buf.len() < HEADER_LEN {
                    true => SMALL_READ - self.buf.len(),
                    false => missing(&self.buf),
                };
                let start = self.buf.len();
                self.buf.resize(start + want, 0);
                let n = loop {
                    match r.read(&mut self.buf[start..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.buf.truncate(start);
                            return Err(e);
                        }
                    }
                };
                self.buf.truncate(start + n);
                if n == 0 {
                    return match start {
                        0 => Ok(None),
                        _ => Err(io::ErrorKind::UnexpectedEof.into()),
                    };
                }
            }
        }

        /// The rest of a large frame of `len` payload bytes, read straight into its own
        /// buffer (`read_to_end` does not zero-fill it first).
        fn read_large<R: Read>(&mut self, r: &mut R, len: usize) -> io::Result<Bytes> {
            let mut payload = Vec::new();
            payload.try_reserve_exact(len).map_err(io::Error::other)?;
            payload.extend_from_slice(&self.buf[HEADER_LEN..]);
            self.buf.clear();
            r.take((len - payload.len()) as u64)
                .read_to_end(&mut payload)?;
            if payload.len() < len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(Bytes::from(payload))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::local::{ClientFrame, Hello, client_frame};

    #[test]
    fn round_trip() {
        let msg = ClientFrame {
            frame: Some(client_frame::Frame::Hello(Hello {
                version: 1,
                tid: 7,
                kind: 0,
                ..Default::default()
            })),
        };
        let mut buf = BytesMut::new();
        encode_frame(&msg, &mut buf);
        encode_frame(&msg, &mut buf);
        let a: ClientFrame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        let b: ClientFrame = decode_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(a, msg);
        assert_eq!(b, msg);
        assert!(buf.is_empty());
        assert_eq!(check_eof(&buf), Ok(()));
    }

    #[test]
    fn oversized_length_is_refused_before_reading_payload() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0x7f][..]);
        let r: Result<Option<ClientFrame>, _> = decode_frame(&mut buf, 1024);
        assert!(matches!(r, Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn partial_frame_waits_and_eof_reports_truncation() {
        let mut buf = BytesMut::from(&[5, 0, 0, 0, 1, 2][..]);
        let r: Option<ClientFrame> = decode_frame(&mut buf, 1024).unwrap();
        assert!(r.is_none());
        assert_eq!(missing(&buf), 3);
        assert_eq!(missing(&buf[..2]), 2);
        assert_eq!(missing(&[]), HEADER_LEN);
        assert_eq!(
            check_eof(&buf),
            Err(FrameError::Truncated { have: 6, want: 9 })
        );
    }

    /// Encode `msg` split, join head and body, decode: the original, and the body was not copied
    /// into the head.
    fn split_round_trip<M>(msg: M, expect_split: bool)
    where
        M: Message + SplitBody + Default + Clone + PartialEq + std::fmt::Debug,
    {
        let mut taken = msg.clone();
        let mut head = BytesMut::new();
        let body = encode_frame_split(&mut taken, &mut head);
        assert_eq!(body.is_some(), expect_split, "{msg:?}");
        let body = body.unwrap_or_default();
        if expect_split {
            assert!(head.len() < 64, "the head holds only fields and prefixes");
        }
        let mut joined = head.clone();
        joined.extend_from_slice(&body);
        let got: M = decode_frame(&mut joined, 4 << 20).unwrap().unwrap();
        assert_eq!(got, msg);
        assert!(
            joined.is_empty(),
            "the length prefix covers exactly the frame"
        );
    }

    fn big() -> Bytes {
        Bytes::from(
            (0..SPLIT_MIN_BODY + 300)
                .map(|i| i as u8)
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn split_frames_decode_as_the_whole_message() {
        use crate::local::{
            DaemonFrame, MsgReplyReceive, MsgSend, MsgWrite, ReceivedMessage, Reply, Request,
            Response, Timeout, daemon_frame, request, response,
        };
        let requests = [
            request::Call::MsgSend(MsgSend {
                coid: 3,
                data: big(),
                reply_cap: 1 << 20,
                priority: 10,
                timeout: Some(Timeout {
                    send: true,
                    reply: false,
                    receive: false,
                    after_ns: 5,
                }),
                ..Default::default()
            }),
            request::Call::MsgReply(local::MsgReply {
                rcvid: 9,
                status: -2,
                data: big(),
                ..Default::default()
            }),
            request::Call::MsgWrite(MsgWrite {
                rcvid: 9,
                offset: 77,
                data: big(),
            }),
            request::Call::MsgReplyReceive(MsgReplyReceive {
                rcvid: 9,
                status: 1,
                data: big(),
                chid: 4,
                cap: 100,
                timeout: None,
                ..Default::default()
            }),
        ];
        for call in requests {
            let req = Request { call: Some(call) };
            split_round_trip(
                ClientFrame {
                    frame: Some(client_frame::Frame::Request(req.clone())),
                },
                true,
            );
            split_round_trip(
                peer::PeerStreamFrame {
                    frame: Some(peer::peer_stream_frame::Frame::Call(peer::PeerCall {
                        thread: Some(peer::RemoteThread {
                            pid: 1,
                            tid: 2,
                            uid: 3,
                            gid: 4,
                        }),
                        request: Some(req),
                        seq: 12345,
                        after_pulses: 7,
                    })),
                },
                true,
            );
        }
        let responses = [
            response::Result::Reply(Reply {
                status: 7,
                data: big(),
                ..Default::default()
            }),
            // A large MsgWrite away from offset 0 with small pieces around it: the largest
            // piece is still the body written apart, the others stay in the frame.
            response::Result::Reply(Reply {
                status: 8,
                data: big(),
                data_offset: 64,
                pieces: vec![
                    local::ReplyPiece {
                        offset: 0,
                        data: Bytes::from_static(b"header"),
                    },
                    local::ReplyPiece {
                        offset: (1 << 21) + 64,
                        data: Bytes::from_static(b"trailer"),
                    },
                ],
            }),
            response::Result::Message(ReceivedMessage {
                rcvid: 5,
                info: Some(local::MsgInfo {
                    pid: 8,
                    msglen: 1 << 20,
                    ..Default::default()
                }),
                data: big(),
            }),
            response::Result::Data(big()),
        ];
        for result in responses {
            let r = Response {
                result: Some(result),
            };
            split_round_trip(r.clone(), true);
            split_round_trip(
                DaemonFrame {
                    frame: Some(daemon_frame::Frame::Response(r)),
                },
                true,
            );
        }
    }

    #[test]
    fn small_bodies_are_encoded_whole() {
        use crate::local::{Reply, Response, response};
        let small = Response {
            result: Some(response::Result::Reply(Reply {
                status: 1,
                data: Bytes::from_static(b"small"),
                ..Default::default()
            })),
        };
        split_round_trip(small.clone(), false);
        let mut head = BytesMut::new();
        let mut whole = BytesMut::new();
        let _ = encode_frame_split(&mut small.clone(), &mut head);
        encode_frame(&small, &mut whole);
        assert_eq!(head, whole, "same bytes as encode_frame");
        split_round_trip(
            ClientFrame {
                frame: Some(client_frame::Frame::Hello(Hello {
                    version: 1,
                    tid: 2,
                    kind: 3,
                    ..Default::default()
                })),
            },
            false,
        );
    }

    /// A stream that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn blocking_readers_return_whole_frames_and_the_exact_one_reads_nothing_past_them() {
        use blocking::{FrameReader, SMALL_READ};
        let sizes = [
            0,
            5,
            SMALL_READ - 4,
            SMALL_READ + 10,
            SPLIT_MIN_BODY + SMALL_READ,
        ];
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .map(|&n| {
                let mut f = (n as u32).to_le_bytes().to_vec();
                f.extend((0..n).map(|i| i as u8));
                f
            })
            .collect();
        let stream = frames.concat();
        for step in [1, 3, 700, usize::MAX] {
            for mut reader in [FrameReader::exact(1 << 20), FrameReader::greedy(1 << 20)] {
                let mut src = Trickle {
                    data: &stream,
                    step,
                };
                for f in &frames {
                    let got = reader.read_payload(&mut src).unwrap().unwrap();
                    assert_eq!(&got[..], &f[HEADER_LEN..], "step {step}");
                }
                assert!(reader.read_payload(&mut src).unwrap().is_none());
            }
            // The exact reader leaves what follows a frame in the stream.
            let mut src = Trickle {
                data: &stream,
                step,
            };
            let mut exact = FrameReader::exact(1 << 20);
            exact.read_payload(&mut src).unwrap().unwrap();
            assert_eq!(exact.buffered(), 0);
            assert_eq!(src.data, &stream[frames[0].len()..]);
        }
        // Limits, truncation.
        let mut src = Trickle {
            data: &stream[frames[0].len()..],
            step: usize::MAX,
        };
        let e = FrameReader::greedy(4).read_payload(&mut src).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
        for cut in [2, 7, frames[4].len() - 1] {
            let mut src = Trickle {
                data: &frames[4][..cut],
                step: usize::MAX,
            };
            let e = FrameReader::greedy(1 << 20)
                .read_payload(&mut src)
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut buf = BytesMut::from(&bytes[..]);
            // Drain frames until an error or a need for more bytes; both are fine, a panic is not.
            while let Ok(Some(_)) = decode_frame::<ClientFrame>(&mut buf, 2048) {}
            let mut slice = &bytes[..];
            let _ = blocking::read_frame::<ClientFrame, _>(&mut slice, 2048);
        }
    }
}
