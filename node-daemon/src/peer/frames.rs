//! Frames on QUIC streams: the 4-byte little-endian length and one prost message, as
//! everywhere in qnet. Reading is bounded and cancel-safe (bytes live in the reader's buffer,
//! not in a future), so a task may `select!` between a stream and its other inputs.
//!
//! Writing hands quinn the encoded frame as a chunk it keeps (no copy into the stream), and a
//! call's or answer's large payload as a chunk of its own ([`write_split`]), so a forwarded
//! message is never copied between the Unix socket and the QUIC packets.

use bytes::BytesMut;
use prost::Message;
use qnet_proto::frame::{
    FrameError, SplitBody, check_eof, decode_frame, encode_frame, encode_frame_split,
};
use qnet_transport::{RecvStream, SendStream};
use tokio::io::AsyncReadExt;

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
}

/// Reads frames of at most `max` bytes from one stream.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    /// A reader for frames of at most `max` payload bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(4096),
            max,
        }
    }

    /// The next frame; `Ok(None)` when the stream finished cleanly between frames.
    /// Cancel-safe: a cancelled call loses nothing.
    pub async fn read<M: Message + Default>(
        &mut self,
        recv: &mut RecvStream,
    ) -> Result<Option<M>, StreamError> {
        loop {
            if let Some(m) = decode_frame(&mut self.buf, self.max)? {
                return Ok(Some(m));
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(4096);
            }
            if recv.read_buf(&mut self.buf).await? == 0 {
                check_eof(&self.buf)?;
                return Ok(None);
            }
        }
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
