//! Frames on the local Unix sockets: [`FrameReader`], the daemon's one reader of frames
//! there (bounded, cancel-safe, byte-exact for the hello), used by every session kind, and
//! [`Writer`], which encodes the daemon's frames into one reused buffer.

use bytes::{Buf, BytesMut};
use qnet_proto::frame::{
    FrameError, check_eof, decode_frame, encode_frame, encode_frame_split, missing,
};
use qnet_proto::hello;
use qnet_proto::local::{DaemonFrame, daemon_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::session::SessionError;

/// The daemon's one reader of frames on a Unix-socket session: bounded by `max`, cancel-safe
/// (bytes live in the reader, not in a future, so a session may `select!` between its
/// socket and its outbox), byte-exact on request (the hello).
pub(super) struct FrameReader {
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    /// A reader of frames of at most `max` bytes.
    pub(super) fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(max.min(8 * 1024)),
            max,
        }
    }

    /// A whole frame already read, if there is one; reads nothing.
    pub(super) fn next_buffered<M: prost::Message + Default>(
        &mut self,
    ) -> Result<Option<M>, FrameError> {
        decode_frame(&mut self.buf, self.max)
    }

    /// Read more from `stream`: `Ok(false)` at the end of the stream between frames, an error
    /// inside one. Cancel-safe.
    pub(super) async fn fill(&mut self, stream: &mut UnixStream) -> Result<bool, SessionError> {
        let n = stream.read_buf(&mut self.buf).await?;
        self.filled(n)
    }

    /// After a read of `n` bytes: whether the stream goes on.
    fn filled(&self, n: usize) -> Result<bool, SessionError> {
        if n == 0 {
            self.finish()?;
            return Ok(false);
        }
        Ok(true)
    }

    /// The next frame, reading as needed; `Ok(None)` at the end of the stream between frames.
    pub(super) async fn read<M: prost::Message + Default>(
        &mut self,
        stream: &mut UnixStream,
    ) -> Result<Option<M>, SessionError> {
        self.read_frame(stream, false).await
    }

    /// The next frame, reading nothing past it (so that what follows, e.g. an SHM session's
    /// fd-carrying frame, is left for `recvmsg`); `Ok(None)` at the end of the stream.
    pub(super) async fn read_exact<M: prost::Message + Default>(
        &mut self,
        stream: &mut UnixStream,
    ) -> Result<Option<M>, SessionError> {
        self.read_frame(stream, true).await
    }

    async fn read_frame<M: prost::Message + Default>(
        &mut self,
        stream: &mut UnixStream,
        exact: bool,
    ) -> Result<Option<M>, SessionError> {
        loop {
            if let Some(frame) = self.next_buffered()? {
                return Ok(Some(frame));
            }
            let more = match exact {
                false => self.fill(stream).await?,
                true => {
                    let want = missing(&self.buf) as u64;
                    let n = (&mut *stream).take(want).read_buf(&mut self.buf).await?;
                    self.filled(n)?
                }
            };
            if !more {
                return Ok(None);
            }
        }
    }

    /// Take bytes read from the stream by other means (`recvmsg`, with descriptors).
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// At the end of the stream: `Ok` if no frame was cut short.
    pub(super) fn finish(&self) -> Result<(), FrameError> {
        check_eof(&self.buf)
    }
}

/// Encodes daemon frames into one reused buffer; a large payload is not copied into it but
/// written after it in the same (vectored) write.
#[derive(Default)]
pub(super) struct Writer {
    buf: BytesMut,
}

impl Writer {
    /// Encode `frame` alone (for a write that carries descriptors too).
    pub(super) fn encode(&mut self, frame: daemon_frame::Frame) -> &[u8] {
        self.buf.clear();
        encode_frame(&DaemonFrame { frame: Some(frame) }, &mut self.buf);
        &self.buf
    }

    /// Write `frame`; a large payload follows the frame's head in the same write.
    pub(super) async fn send(
        &mut self,
        stream: &mut UnixStream,
        frame: daemon_frame::Frame,
    ) -> Result<(), SessionError> {
        self.buf.clear();
        let mut frame = DaemonFrame { frame: Some(frame) };
        match encode_frame_split(&mut frame, &mut self.buf) {
            None => stream.write_all(&self.buf).await?,
            Some(body) => {
                let mut both = Buf::chain(&self.buf[..], body);
                stream.write_all_buf(&mut both).await?
            }
        }
        Ok(())
    }

    /// Send a refusal and end the session.
    pub(super) async fn refuse(
        &mut self,
        stream: &mut UnixStream,
        reason: String,
    ) -> Result<(), SessionError> {
        self.send(stream, hello::refused(reason)).await?;
        stream.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use qnet_proto::frame::frame_to_vec;
    use qnet_proto::hello::{MAX_HELLO_LEN, hello};
    use qnet_proto::local::{ClientFrame, SessionKind};

    use super::*;

    /// The hello is read without consuming what follows it (an SHM session's next frame
    /// must be read with `recvmsg`, for its descriptors); later frames are read whole however
    /// they arrive; an end inside a frame is an error, an end between frames is not.
    #[tokio::test]
    async fn frames_are_read_whole_and_the_hello_byte_exact() {
        let (mut client, mut daemon) = UnixStream::pair().unwrap();
        let first = hello(SessionKind::Shm, 7);
        let second = hello(SessionKind::Thread, 8);
        let mut bytes = frame_to_vec(&first);
        bytes.extend(frame_to_vec(&second));
        client.write_all(&bytes).await.unwrap();
        client.shutdown().await.unwrap();

        let got: Option<ClientFrame> = FrameReader::new(MAX_HELLO_LEN)
            .read_exact(&mut daemon)
            .await
            .unwrap();
        assert_eq!(got, Some(first));
        // The second frame is still in the socket, whole.
        let mut rest = Vec::new();
        daemon.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, frame_to_vec(&second));

        // Frames cut anywhere arrive whole; the end between frames is a clean end.
        let (mut client, mut daemon) = UnixStream::pair().unwrap();
        let mut reader = FrameReader::new(MAX_HELLO_LEN);
        for piece in bytes.chunks(3) {
            client.write_all(piece).await.unwrap();
        }
        client.shutdown().await.unwrap();
        let a: Option<ClientFrame> = reader.read(&mut daemon).await.unwrap();
        let b: Option<ClientFrame> = reader.read(&mut daemon).await.unwrap();
        let end: Option<ClientFrame> = reader.read(&mut daemon).await.unwrap();
        assert_eq!(
            (a, b, end),
            (Some(hello(SessionKind::Shm, 7)), Some(second), None)
        );

        // An end inside a frame is an error.
        let (mut client, mut daemon) = UnixStream::pair().unwrap();
        client.write_all(&bytes[..bytes.len() - 1]).await.unwrap();
        drop(client);
        let mut reader = FrameReader::new(MAX_HELLO_LEN);
        let _: Option<ClientFrame> = reader.read(&mut daemon).await.unwrap();
        let cut = reader.read::<ClientFrame>(&mut daemon).await;
        assert!(
            matches!(cut, Err(SessionError::Frame(FrameError::Truncated { .. }))),
            "{cut:?}"
        );
    }
}
