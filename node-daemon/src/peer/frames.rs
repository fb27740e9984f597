//! Frames on QUIC streams: the 4-byte little-endian length and one prost message, as
//! everywhere in qnet. Reading is bounded and cancel-safe (bytes live in the reader's buffer,
//! not in a future), so a task may `select!` between a stream and its other inputs. On
//! streams a peer opened, reading is also charged to the peer's memory budget and timed out
//! when a frame stops arriving (`budget`).
//!
//! Writing hands quinn the encoded frame as a chunk it keeps (no copy into the stream), and a
//! call's or answer's large payload as a chunk of its own ([`write_split`]), so a forwarded
//! message is never copied between the Unix socket and the QUIC packets.

use std::time::Duration;

use bytes::BytesMut;
use prost::Message;
use qnet_proto::frame::{
    FrameError, HEADER_LEN, SplitBody, check_eof, decode_frame, encode_frame, encode_frame_split,
};
use qnet_transport::{RecvStream, SendStream};
use tokio::io::AsyncReadExt;

use super::budget::{Charge, Exhausted};

/// Why a frame could not be read or written on a peer stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Malformed, oversized or truncated frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The stream or its connection failed (reset, stopped, lost).
    #[error("stream failed: {0}")]
    Io(#[from] std::io::Error),
    /// A write failed.
    #[error("stream write failed: {0}")]
    Write(#[from] quinn::WriteError),
    /// Buffering more of the frame would exceed the peer's or the daemon's memory budget.
    #[error("{0}")]
    Budget(#[from] Exhausted),
    /// A frame stopped arriving (nothing for this long in the middle of it, or before the
    /// first frame of a call stream).
    #[error("frame stalled: nothing received for {0:?}")]
    Stalled(Duration),
    /// Bytes arrived where the stream must end.
    #[error("bytes after the last frame")]
    Trailing,
}

/// First buffer of a stream; frames this small are read without growing it.
const FIRST_BUFFER: usize = 4096;

/// What a stream a peer opened costs besides its buffer (its task and quinn's stream state,
/// an estimate), charged with the buffer from its first read on.
const STREAM_BASE: usize = 4096;

/// The capacity to grow a buffer holding `held` bytes of a frame of `frame_len` bytes (or of
/// a frame whose header has not arrived yet, `None`) to: up to twice what it holds (at least
/// [`FIRST_BUFFER`]), never beyond the frame, and at least one byte more than it holds.
fn grow_target(held: usize, frame_len: Option<usize>) -> usize {
    frame_len
        .unwrap_or(FIRST_BUFFER)
        .min(held.saturating_mul(2).max(FIRST_BUFFER))
        .max(held + 1)
}

/// Reads frames of at most `max` bytes from one stream.
///
/// The buffer grows with the data that arrived (at most doubling what it holds, never to an
/// announced length the peer has not sent), and a charged reader holds its capacity in the
/// peer's memory budgets, so a frame announced and not sent costs nothing.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max: usize,
    charge: Option<Charge>,
    /// How long a frame may stop arriving.
    stall: Option<Duration>,
    /// The stall timeout also runs before the first byte of the first frame.
    first_pending: bool,
}

impl FrameReader {
    /// A reader for frames of at most `max` payload bytes (uncharged, never timed out: for
    /// streams this node opened or bounded otherwise).
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
            charge: None,
            stall: None,
            first_pending: false,
        }
    }

    /// A reader for a stream a peer opened: its buffer is held in `charge`, and a frame
    /// (the first one included) that stops arriving for `stall` fails the read.
    pub fn charged(max: usize, charge: Charge, stall: Duration) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
            charge: Some(charge),
            stall: Some(stall),
            first_pending: true,
        }
    }

    /// The next frame; `Ok(None)` when the stream finished cleanly between frames.
    /// Cancel-safe: a cancelled call loses nothing.
    pub async fn read<M: Message + Default>(
        &mut self,
        recv: &mut RecvStream,
    ) -> Result<Option<M>, StreamError> {
        loop {
            let frame_len = match self.buf.get(..HEADER_LEN) {
                Some(h) => {
                    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                    if len > self.max {
                        return Err(FrameError::TooLarge { len, max: self.max }.into());
                    }
                    Some(HEADER_LEN + len)
                }
                None => None,
            };
            if frame_len.is_some_and(|n| n <= self.buf.len()) {
                let m = decode_frame(&mut self.buf, self.max)?;
                self.first_pending = false;
                if let Some(c) = &mut self.charge {
                    // The payload is the kernel's now; what stays is the rest of the buffer.
                    c.set(STREAM_BASE + self.buf.capacity())?;
                }
                return Ok(m);
            }
            if self.buf.capacity() == self.buf.len() {
                self.grow(frame_len)?;
            }
            let timed = self
                .stall
                .filter(|_| self.first_pending || !self.buf.is_empty());
            let n = match timed {
                None => recv.read_buf(&mut self.buf).await?,
                Some(stall) => tokio::time::timeout(stall, recv.read_buf(&mut self.buf))
                    .await
                    .map_err(|_| {
                        if let Some(c) = &self.charge {
                            c.node().count_timeout();
                        }
                        StreamError::Stalled(stall)
                    })??,
            };
            if n == 0 {
                check_eof(&self.buf)?;
                return Ok(None);
            }
        }
    }

    /// Wait for the end of a stream on which nothing more may come (a call stream after its
    /// call): `Ok` at its end, [`StreamError::Trailing`] at any byte. Its buffer is given
    /// back first, so a call blocked here holds only its stream's base cost. Cancel-safe.
    pub async fn read_end(&mut self, recv: &mut RecvStream) -> Result<(), StreamError> {
        if !self.buf.is_empty() {
            return Err(StreamError::Trailing);
        }
        if self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
            if let Some(c) = &mut self.charge {
                c.set(STREAM_BASE)?;
            }
        }
        let mut byte = [0u8; 1];
        match recv.read(&mut byte).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(StreamError::Trailing),
            Err(e) => Err(std::io::Error::from(e).into()),
        }
    }

    /// Make room for more of a frame of `frame_len` bytes (header included; `None`: not
    /// known yet), as [`grow_target`] says. Charged before it is allocated.
    fn grow(&mut self, frame_len: Option<usize>) -> Result<(), StreamError> {
        let want = grow_target(self.buf.len(), frame_len);
        if let Some(c) = &mut self.charge {
            c.set(STREAM_BASE + want)?;
        }
        let mut bigger = BytesMut::with_capacity(want);
        bigger.extend_from_slice(&self.buf);
        self.buf = bigger;
        Ok(())
    }
}

/// Write `msg` as one frame.
pub async fn write<M: Message>(send: &mut SendStream, msg: &M) -> Result<(), StreamError> {
    let mut buf = BytesMut::with_capacity(msg.encoded_len() + 4);
    encode_frame(msg, &mut buf);
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}

/// Write `msg` as one frame whose large payload (if any) quinn takes as it is.
pub async fn write_split<M: Message + SplitBody>(
    send: &mut SendStream,
    mut msg: M,
) -> Result<(), StreamError> {
    let mut head = BytesMut::new();
    match encode_frame_split(&mut msg, &mut head) {
        None => send.write_chunk(head.freeze()).await?,
        Some(body) => send.write_all_chunks(&mut [head.freeze(), body]).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer grows with the data that arrived, never to the announced length: a peer
    /// that announces 16 MiB and sends 1 KiB holds 4 KiB; a frame that does arrive is read
    /// into a buffer of exactly its size after a doubling series.
    #[test]
    fn buffers_grow_with_the_data_not_the_announcement() {
        let announced = Some(16 << 20);
        assert_eq!(grow_target(0, None), FIRST_BUFFER);
        assert_eq!(grow_target(0, announced), FIRST_BUFFER);
        assert_eq!(grow_target(4096, announced), 8192);
        assert_eq!(grow_target(1 << 20, announced), 2 << 20);
        // Never beyond the frame, always at least one more byte.
        assert_eq!(grow_target(12 << 20, announced), 16 << 20);
        assert_eq!(grow_target(100, Some(200)), 200);
        assert_eq!(grow_target(4096, Some(4000)), 4097);
        let mut held = 0;
        let mut steps = 0;
        while held < 16 << 20 {
            let next = grow_target(held, announced);
            assert!(next <= (2 * held).max(FIRST_BUFFER), "{held} -> {next}");
            held = next;
            steps += 1;
        }
        assert_eq!((held, steps), (16 << 20, 13));
    }
}
