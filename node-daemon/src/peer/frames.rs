//! Frames on QUIC streams: the 4-byte little-endian length and one prost message, as
//! everywhere in qnet. Reading is bounded and cancel-safe (bytes live in the reader, not in
//! a future), so a task may `select!` between a stream and its other inputs. On streams a
//! peer opened, reading is also charged to the peer's memory budget and timed out when a
//! frame stops arriving (`budget`).
//!
//! A frame is read as the chunks quinn received it in (no copy while it arrives) and copied
//! once, when whole, into a buffer of its exact size, from which it decodes without further
//! copies: a large payload costs one copy here, as a plain `read` into a user buffer would.
//!
//! Writing hands quinn the encoded frame as a chunk it keeps (no copy into the stream), and a
//! call's or answer's large payload as a chunk of its own ([`write_split`]), so a forwarded
//! message is never copied between the Unix socket and the QUIC packets.

use std::time::Duration;

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use prost::Message;
use qnet_proto::frame::{FrameError, HEADER_LEN, SplitBody, encode_frame, encode_frame_split};
use qnet_transport::{RecvStream, SendStream};

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

/// What a stream a peer opened costs besides the bytes it holds (its task and quinn's stream
/// state, an estimate), charged from its first read on.
const STREAM_BASE: usize = 4096;

/// What holding one chunk costs besides its bytes (its slot, the reference count of quinn's
/// buffer behind it, an estimate): a peer that sends its frames a byte at a time pays for it.
const CHUNK_COST: usize = 64;

/// Chunks shorter than this are copied rather than kept: a short chunk would otherwise keep
/// the whole datagram buffer quinn received it in alive (the buffer is shared by every
/// frame of that datagram), which its length does not charge.
const SMALL_CHUNK: usize = 512;

/// Most chunks taken from quinn at once.
const CHUNKS_PER_READ: usize = 32;

/// The bytes of a stream received and not yet taken as frames, as the chunks they arrived
/// in (quinn's own buffers, not copied). A frame is copied once, when it is whole, into a
/// buffer of exactly its size; until then it holds what arrived and nothing more, however
/// long its header says it is.
#[derive(Debug, Default)]
struct Chunks {
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`.
    len: usize,
}

impl Chunks {
    /// What the held chunks cost (for the budget): their bytes and their slots.
    fn cost(&self) -> usize {
        self.len + self.chunks.len() * CHUNK_COST
    }

    /// Whether nothing is held.
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a chunk that arrived (copied if short, see [`SMALL_CHUNK`]).
    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        if chunk.len() < SMALL_CHUNK {
            self.chunks.push_back(Bytes::copy_from_slice(&chunk));
        } else {
            self.chunks.push_back(chunk);
        }
    }

    /// The first `N` bytes, if held.
    fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        if self.len < N {
            return None;
        }
        let mut out = [0u8; N];
        let mut at = 0;
        for c in &self.chunks {
            let n = (N - at).min(c.len());
            out[at..at + n].copy_from_slice(&c[..n]);
            at += n;
            if at == N {
                break;
            }
        }
        Some(out)
    }

    /// The length of the first frame (header included) once its header is held.
    fn frame_len(&self, max: usize) -> Result<Option<usize>, FrameError> {
        let Some(h) = self.peek::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(h) as usize;
        if len > max {
            return Err(FrameError::TooLarge { len, max });
        }
        Ok(Some(HEADER_LEN + len))
    }

    /// Drop the first `n` held bytes (`n <= len`).
    fn skip(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front_mut().expect("n <= len");
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }

    /// The first `n` held bytes (`n <= len`), in one buffer of exactly that size; the chunks
    /// they came in are released as they are copied.
    fn take(&mut self, mut n: usize) -> Bytes {
        self.len -= n;
        let mut out = BytesMut::with_capacity(n);
        while n > 0 {
            let front = self.chunks.front_mut().expect("n <= len");
            if front.len() > n {
                out.extend_from_slice(&front.split_to(n));
                break;
            }
            n -= front.len();
            out.extend_from_slice(front);
            self.chunks.pop_front();
        }
        out.freeze()
    }

    /// The first frame, if it is whole: taken off the front and decoded.
    fn next_frame<M: Message + Default>(&mut self, max: usize) -> Result<Option<M>, FrameError> {
        let Some(frame_len) = self.frame_len(max)? else {
            return Ok(None);
        };
        if self.len < frame_len {
            return Ok(None);
        }
        self.skip(HEADER_LEN);
        let payload = self.take(frame_len - HEADER_LEN);
        // `bytes` fields are slices of `payload` (prost decodes them without copying).
        Ok(Some(M::decode(payload)?))
    }

    /// At the end of the stream: `Ok` if nothing is left over, else the truncation.
    fn check_eof(&self) -> Result<(), FrameError> {
        if self.is_empty() {
            return Ok(());
        }
        let want = match self.peek::<HEADER_LEN>() {
            Some(h) => HEADER_LEN + u32::from_le_bytes(h) as usize,
            None => HEADER_LEN,
        };
        Err(FrameError::Truncated {
            have: self.len,
            want,
        })
    }
}

/// Reads frames of at most `max` bytes from one stream.
///
/// It keeps the chunks quinn received a frame in until the frame is whole, then copies
/// them once into a buffer of exactly the frame's size ([`Chunks`]): the memory it holds is
/// what arrived (never an announced length the peer has not sent), and a charged reader
/// holds it in the peer's memory budgets, so a frame announced and not sent costs nothing.
#[derive(Debug)]
pub struct FrameReader {
    held: Chunks,
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
            held: Chunks::default(),
            max,
            charge: None,
            stall: None,
            first_pending: false,
        }
    }

    /// A reader for a stream a peer opened: what it holds is charged to `charge`, and a
    /// frame (the first one included) that stops arriving for `stall` fails the read.
    pub fn charged(max: usize, charge: Charge, stall: Duration) -> Self {
        Self {
            held: Chunks::default(),
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
            if let Some(m) = self.held.next_frame(self.max)? {
                self.first_pending = false;
                // The payload is the kernel's now; what stays is the rest of the chunks.
                self.recharge()?;
                return Ok(Some(m));
            }
            let timed = self
                .stall
                .filter(|_| self.first_pending || !self.held.is_empty());
            let mut got: [Bytes; CHUNKS_PER_READ] = Default::default();
            let n = match timed {
                None => recv.read_chunks(&mut got).await,
                Some(stall) => tokio::time::timeout(stall, recv.read_chunks(&mut got))
                    .await
                    .map_err(|_| {
                        if let Some(c) = &self.charge {
                            c.node().count_timeout();
                        }
                        StreamError::Stalled(stall)
                    })?,
            }
            .map_err(std::io::Error::from)?;
            let Some(n) = n else {
                self.held.check_eof()?;
                return Ok(None);
            };
            for chunk in got.into_iter().take(n) {
                self.held.push(chunk);
            }
            if let Err(e) = self.recharge() {
                // Refused: what arrived is dropped at once, not held uncharged.
                self.held = Chunks::default();
                self.recharge()?;
                return Err(e);
            }
        }
    }

    /// Charge what the reader holds now (nothing while uncharged).
    fn recharge(&mut self) -> Result<(), StreamError> {
        if let Some(c) = &mut self.charge {
            c.set(STREAM_BASE + self.held.cost())?;
        }
        Ok(())
    }

    /// Wait for the end of a stream on which nothing more may come (a call stream after its
    /// call): `Ok` at its end, [`StreamError::Trailing`] at any byte. It holds nothing
    /// meanwhile, so a call blocked here costs only its stream's base. Cancel-safe.
    pub async fn read_end(&mut self, recv: &mut RecvStream) -> Result<(), StreamError> {
        if !self.held.is_empty() {
            return Err(StreamError::Trailing);
        }
        self.recharge()?;
        let mut byte = [0u8; 1];
        match recv.read(&mut byte).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(StreamError::Trailing),
            Err(e) => Err(std::io::Error::from(e).into()),
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

#[cfg(test)]
mod tests {
    use qnet_proto::frame::frame_to_vec;
    use qnet_proto::peer::{PeerStreamFrame, peer_stream_frame};

    use super::*;

    /// Two frames, one with a 200 KiB payload, then a small one.
    fn two_frames() -> (Vec<u8>, Vec<PeerStreamFrame>) {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let big = PeerStreamFrame {
            frame: Some(peer_stream_frame::Frame::Ping(Default::default())),
            ..Default::default()
        };
        let mut msgs = vec![big];
        // A message whose encoding is mostly one bytes field: a call's request.
        let call = qnet_proto::local::Request {
            call: Some(qnet_proto::local::request::Call::MsgSend(
                qnet_proto::local::MsgSend {
                    coid: 3,
                    data: Bytes::from(data),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        msgs.push(PeerStreamFrame {
            frame: Some(peer_stream_frame::Frame::Call(qnet_proto::peer::PeerCall {
                request: Some(call),
                ..Default::default()
            })),
            ..Default::default()
        });
        let mut wire = Vec::new();
        for m in &msgs {
            wire.extend(frame_to_vec(m));
        }
        (wire, msgs)
    }

    /// Feed `wire` split at `cuts` and take every frame that becomes whole, checking that
    /// the reader holds exactly the bytes that arrived and not yet taken.
    fn decode_split(wire: &[u8], cuts: &[usize]) -> Vec<PeerStreamFrame> {
        let mut held = Chunks::default();
        let mut out = Vec::new();
        let mut taken = 0;
        let mut at = 0;
        for &cut in cuts.iter().chain([&wire.len()]) {
            held.push(Bytes::copy_from_slice(&wire[at..cut]));
            at = cut;
            while let Some(m) = held.next_frame::<PeerStreamFrame>(1 << 20).unwrap() {
                taken += HEADER_LEN + m.encoded_len();
                out.push(m);
            }
            assert_eq!(held.len, at - taken, "held is what arrived, not yet taken");
        }
        held.check_eof().unwrap();
        out
    }

    /// However a stream's bytes are cut into chunks (one byte each, across headers, at
    /// random), its frames decode the same.
    #[test]
    fn frames_in_any_chunks_decode_identically() {
        let (wire, msgs) = two_frames();
        assert_eq!(decode_split(&wire, &[]), msgs);
        let every: Vec<usize> = (1..wire.len()).collect();
        assert_eq!(decode_split(&wire, &every), msgs);
        // Cuts inside and around the headers (the first frame is short).
        let first = HEADER_LEN + msgs[0].encoded_len();
        for near in [
            1,
            2,
            3,
            first - 1,
            first,
            first + 1,
            first + 2,
            first + 3,
            first + 5,
        ] {
            assert_eq!(decode_split(&wire, &[near]), msgs, "cut at {near}");
        }
        // Random cuts (a fixed linear congruential sequence).
        let mut x: u64 = 17;
        let mut next = |below: usize| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as usize % below
        };
        for _ in 0..50 {
            let count = 1 + next(400);
            let mut cuts: Vec<usize> = (0..count).map(|_| 1 + next(wire.len() - 1)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            assert_eq!(decode_split(&wire, &cuts), msgs);
        }
    }

    /// A frame announced large and not sent holds only what arrived: its bytes and one slot
    /// per chunk, not the announced 16 MiB; short chunks are copied, long ones kept as they
    /// are (the same memory, not a copy).
    #[test]
    fn an_announced_frame_holds_only_what_arrived() {
        let mut held = Chunks::default();
        let mut head = BytesMut::new();
        head.extend_from_slice(&(16u32 << 20).to_le_bytes());
        held.push(head.freeze());
        let long = Bytes::from(vec![5u8; 4096]);
        for _ in 0..3 {
            held.push(long.clone());
        }
        assert_eq!(held.frame_len(32 << 20), Ok(Some(HEADER_LEN + (16 << 20))));
        assert!(
            held.next_frame::<PeerStreamFrame>(32 << 20)
                .unwrap()
                .is_none()
        );
        assert_eq!(held.len, HEADER_LEN + 3 * 4096);
        assert_eq!(held.cost(), HEADER_LEN + 3 * 4096 + 4 * CHUNK_COST);
        assert_eq!(
            held.chunks[1].as_ptr(),
            long.as_ptr(),
            "a long chunk is kept"
        );
        assert!(
            held.check_eof().is_err(),
            "the stream ending here truncates the frame"
        );
        // Over the reader's limit: refused from the header alone.
        assert!(matches!(
            held.next_frame::<PeerStreamFrame>(1 << 20),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
