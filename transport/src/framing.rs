//! qnet's frames on async streams for tools and tests: a 4-byte little-endian length, then
//! that many payload bytes (the format of `qnet_proto::frame`), as tokio-util's
//! `LengthDelimitedCodec`: `FramedRead::new(recv, codec(max))` yields payloads, and
//! `FramedWrite::new(send, codec(max))` takes them. Reading is bounded: a length above `max`
//! is an `InvalidData` error before anything of that size is allocated.
//!
//! The daemon reads peer streams with its own reader (`peer/frames.rs`), which also charges
//! each buffer to the peer's memory budget and times out a frame that stops arriving.

use tokio_util::codec::LengthDelimitedCodec;

/// The codec of qnet frames whose payload is at most `max` bytes (writing more fails too).
pub fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .little_endian()
        .length_field_length(HEADER_LEN)
        .max_frame_length(max)
        .new_codec()
}

/// Bytes in the length prefix (`qnet_proto::frame::HEADER_LEN`; `tests/frame_compat.rs`
/// checks the two formats are one).
const HEADER_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::{FramedRead, FramedWrite};

    use super::*;

    #[tokio::test]
    async fn round_trip_eof_truncation_and_limits() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut w = FramedWrite::new(a, codec(16));
        w.send(Bytes::from_static(b"hello")).await.unwrap();
        w.send(Bytes::new()).await.unwrap();
        assert!(w.send(Bytes::from(vec![0; 17])).await.is_err());
        drop(w);
        let mut r = FramedRead::new(b, codec(16));
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"hello");
        assert_eq!(&r.next().await.unwrap().unwrap()[..], b"");
        assert!(r.next().await.is_none());

        // A huge announced length is refused without allocating it.
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        let e = FramedRead::new(b, codec(1 << 20))
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);

        // Truncated header and truncated payload.
        for bytes in [&[1u8, 0][..], &[5, 0, 0, 0, b'x']] {
            let (mut a, b) = tokio::io::duplex(64);
            a.write_all(bytes).await.unwrap();
            drop(a);
            let got = FramedRead::new(b, codec(16)).next().await;
            assert!(matches!(got, Some(Err(_))), "{bytes:?}: {got:?}");
        }
    }
}
