//! Length-prefixed messages on a byte stream (a quinn stream, or anything async): a 4-byte
//! little-endian length, then that many payload bytes. The same format as `qnet_proto::frame`.
//!
//! Reading is bounded: an announced length above the limit is an error before anything of
//! that size is allocated.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes in the length prefix.
pub const HEADER_LEN: usize = 4;

/// Why a frame could not be read. Each of these means the stream is unusable: close it.
#[derive(Debug, thiserror::Error)]
pub enum FrameReadError {
    /// The length prefix announces more than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({have} of {want} bytes)")]
    Truncated {
        /// Bytes received (including the header).
        have: usize,
        /// Bytes announced (including the header).
        want: usize,
    },
    /// The stream failed (reset by the peer, connection lost, ...).
    #[error("stream read failed: {0}")]
    Io(#[from] io::Error),
}

/// Why a frame could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FrameWriteError {
    /// The payload is longer than the limit (or than a 4-byte length can say).
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream failed (stopped by the peer, connection lost, ...).
    #[error("stream write failed: {0}")]
    Io(#[from] io::Error),
}

/// Write `payload` as one frame. Nothing is written if it is longer than `max`.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    payload: &[u8],
    max: usize,
) -> Result<(), FrameWriteError> {
    let max = max.min(u32::MAX as usize);
    if payload.len() > max {
        return Err(FrameWriteError::TooLarge {
            len: payload.len(),
            max,
        });
    }
    w.write_all(&(payload.len() as u32).to_le_bytes()).await?;
    w.write_all(payload).await?;
    Ok(())
}

/// Read one frame of at most `max` payload bytes.
///
/// `Ok(None)`: the stream ended cleanly before the first byte of a frame.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameReadError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = r.read(&mut header[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(FrameReadError::Truncated {
                have: got,
                want: HEADER_LEN,
            });
        }
        got += n;
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(FrameReadError::TooLarge { len, max });
    }
    let mut payload = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = r.read(&mut payload[filled..]).await?;
        if n == 0 {
            return Err(FrameReadError::Truncated {
                have: HEADER_LEN + filled,
                want: HEADER_LEN + len,
            });
        }
        filled += n;
    }
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_eof_truncation_and_limits() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, b"hello", 16).await.unwrap();
        write_frame(&mut a, b"", 16).await.unwrap();
        assert!(matches!(
            write_frame(&mut a, &[0; 17], 16).await,
            Err(FrameWriteError::TooLarge { len: 17, max: 16 })
        ));
        drop(a);
        assert_eq!(read_frame(&mut b, 16).await.unwrap().unwrap(), b"hello");
        assert_eq!(read_frame(&mut b, 16).await.unwrap().unwrap(), b"");
        assert!(read_frame(&mut b, 16).await.unwrap().is_none());

        // A huge announced length is refused without allocating it.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        assert!(matches!(
            read_frame(&mut b, 1 << 20).await,
            Err(FrameReadError::TooLarge { max: 1048576, .. })
        ));

        // Truncated header and truncated payload.
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[1, 0]).await.unwrap();
        drop(a);
        assert!(matches!(
            read_frame(&mut b, 16).await,
            Err(FrameReadError::Truncated { have: 2, want: 4 })
        ));
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[5, 0, 0, 0, b'x']).await.unwrap();
        drop(a);
        assert!(matches!(
            read_frame(&mut b, 16).await,
            Err(FrameReadError::Truncated { have: 5, want: 9 })
        ));
    }
}
