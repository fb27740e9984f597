//! Framing shared by both protocols: a 4-byte little-endian length, then that many bytes
//! of one prost message. Decoding is bounded and never panics on any input.

use bytes::{Buf, BufMut, BytesMut};
use prost::Message;

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

/// Blocking helpers for `std::io` streams (the library's side).
pub mod blocking {
    use std::io::{self, Read, Write};

    use bytes::BytesMut;
    use prost::Message;

    use super::{FrameError, HEADER_LEN};

    /// Write `msg` as one frame.
    pub fn write_frame<M: Message, W: Write>(w: &mut W, msg: &M) -> io::Result<()> {
        let mut buf = BytesMut::new();
        super::encode_frame(msg, &mut buf);
        w.write_all(&buf)
    }

    /// Read one frame; `Ok(None)` on a clean end of stream before any byte.
    pub fn read_frame<M: Message + Default, R: Read>(
        r: &mut R,
        max: usize,
    ) -> io::Result<Option<M>> {
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match r.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                FrameError::TooLarge { len, max },
            ));
        }
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        M::decode(payload.as_slice())
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, FrameError::Malformed(e)))
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
        assert_eq!(
            check_eof(&buf),
            Err(FrameError::Truncated { have: 6, want: 9 })
        );
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
