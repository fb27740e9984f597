//! Reply extents: the parts of a client's reply buffer a server wrote.
//!
//! QNX copies `MsgWrite` pieces and `MsgReply`'s data straight into the client's reply buffer;
//! every byte nobody wrote keeps what the client had there before the send. qnet cannot write
//! into the client's memory while it is blocked, so the kernel keeps what was written as
//! [`Extents`] (pieces at offsets, sorted, never overlapping; a later write replaces what it
//! covers) and the library copies exactly those pieces into the caller's buffers. Nothing is
//! padded: a gap between pieces never travels and never reaches the client's buffer.

use bytes::{Bytes, BytesMut};

/// Neighbouring pieces are joined into one (by copying) while the result stays this small, so
/// a server writing a reply in many small contiguous `MsgWrite`s leaves few pieces.
const JOIN_MAX: usize = 4096;

/// One written piece of a reply buffer: `data` at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Offset in the client's reply buffer.
    pub offset: u64,
    /// The bytes written there (never empty inside [`Extents`]).
    pub data: Bytes,
}

impl Extent {
    /// One past the last byte of the piece.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.data.len() as u64)
    }
}

/// Why a list of pieces (from the wire) is not valid [`Extents`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtentsError {
    /// A piece starts before the previous one ends.
    #[error("reply piece at offset {offset} overlaps or precedes the piece before it")]
    Unordered {
        /// Offset of the offending piece.
        offset: u64,
    },
    /// A piece ends past the largest offset.
    #[error("reply piece at offset {offset} of {len} bytes ends past 2^64")]
    Overflow {
        /// Offset of the offending piece.
        offset: u64,
        /// Its length.
        len: usize,
    },
}

/// What a server wrote into a client's reply buffer: non-empty pieces, sorted by offset,
/// never overlapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extents {
    pieces: Vec<Extent>,
}

impl Extents {
    /// Nothing written.
    pub fn new() -> Self {
        Self::default()
    }

    /// `data` at offset 0 (a plain `MsgReply`), held without a copy.
    pub fn at_zero(data: Bytes) -> Self {
        let mut e = Self::new();
        e.write(0, data);
        e
    }

    /// Pieces in offset order, as they come off the wire: empty ones are dropped; pieces out
    /// of order or overlapping are refused (the kernel never produces them).
    pub fn from_sorted(pieces: impl IntoIterator<Item = Extent>) -> Result<Self, ExtentsError> {
        let mut out: Vec<Extent> = Vec::new();
        for p in pieces {
            if p.data.is_empty() {
                continue;
            }
            if p.offset.checked_add(p.data.len() as u64).is_none() {
                return Err(ExtentsError::Overflow {
                    offset: p.offset,
                    len: p.data.len(),
                });
            }
            if out.last().is_some_and(|last| last.end() > p.offset) {
                return Err(ExtentsError::Unordered { offset: p.offset });
            }
            out.push(p);
        }
        Ok(Self { pieces: out })
    }

    /// Write `data` at `offset`, replacing whatever earlier writes put under it.
    pub fn write(&mut self, offset: u64, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let start = offset;
        let end = offset.saturating_add(data.len() as u64);
        let data = data.slice(..(end - start) as usize);
        // Pieces [first, last) overlap [start, end).
        let first = self.pieces.partition_point(|p| p.end() <= start);
        let last = self.pieces.partition_point(|p| p.offset < end);
        let mut replacement = Vec::with_capacity(3);
        if let Some(p) = self.pieces.get(first).filter(|_| first < last) {
            if p.offset < start {
                replacement.push(Extent {
                    offset: p.offset,
                    data: p.data.slice(..(start - p.offset) as usize),
                });
            }
        }
        let at = first + replacement.len();
        replacement.push(Extent {
            offset: start,
            data,
        });
        if let Some(p) = last.checked_sub(1).filter(|_| first < last) {
            let p = &self.pieces[p];
            if p.end() > end {
                replacement.push(Extent {
                    offset: end,
                    data: p.data.slice((end - p.offset) as usize..),
                });
            }
        }
        self.pieces.splice(first..last, replacement);
        // Join small contiguous neighbours: right first, so `at` stays valid.
        self.join(at);
        if at > 0 {
            self.join(at - 1);
        }
    }

    /// Join piece `i` with piece `i + 1` if they touch and the result is small.
    fn join(&mut self, i: usize) {
        let (Some(a), Some(b)) = (self.pieces.get(i), self.pieces.get(i + 1)) else {
            return;
        };
        if a.end() != b.offset || a.data.len() + b.data.len() > JOIN_MAX {
            return;
        }
        let mut joined = BytesMut::with_capacity(a.data.len() + b.data.len());
        joined.extend_from_slice(&a.data);
        joined.extend_from_slice(&b.data);
        self.pieces[i].data = joined.freeze();
        self.pieces.remove(i + 1);
    }

    /// The pieces, by offset.
    pub fn pieces(&self) -> &[Extent] {
        &self.pieces
    }

    /// The pieces, by offset.
    pub fn into_pieces(self) -> Vec<Extent> {
        self.pieces
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Bytes written (gaps not counted).
    pub fn written(&self) -> u64 {
        self.pieces.iter().map(|p| p.data.len() as u64).sum()
    }

    /// One past the highest byte written (0 if nothing was).
    pub fn end(&self) -> u64 {
        self.pieces.last().map_or(0, Extent::end)
    }

    /// Copy every piece into `buf` at its offset (cut at `buf`'s end); other bytes of `buf`
    /// keep their values.
    pub fn copy_into(&self, buf: &mut [u8]) {
        let len = buf.len() as u64;
        for p in &self.pieces {
            if p.offset >= len {
                break;
            }
            let n = (len - p.offset).min(p.data.len() as u64) as usize;
            let at = p.offset as usize;
            buf[at..at + n].copy_from_slice(&p.data[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn apply(e: &Extents, fill: u8, len: usize) -> Vec<u8> {
        let mut buf = vec![fill; len];
        e.copy_into(&mut buf);
        buf
    }

    #[test]
    fn gaps_keep_the_buffer_and_later_writes_win() {
        let mut e = Extents::new();
        e.write(40, Bytes::from_static(b"WWWW"));
        e.write(0, Bytes::from_static(b"0123456789"));
        let buf = apply(&e, b'.', 50);
        assert_eq!(&buf[..10], b"0123456789");
        assert!(buf[10..40].iter().all(|&b| b == b'.'));
        assert_eq!(&buf[40..44], b"WWWW");
        assert!(buf[44..].iter().all(|&b| b == b'.'));
        assert_eq!((e.written(), e.end(), e.pieces().len()), (14, 44, 2));
        e.write(2, Bytes::from_static(b"xx"));
        e.write(41, Bytes::from_static(b"yyyyyy"));
        assert_eq!(&apply(&e, b'.', 48)[..], {
            let mut want = vec![b'.'; 48];
            want[..10].copy_from_slice(b"01xx456789");
            want[40..47].copy_from_slice(b"Wyyyyyy");
            want
        });
    }

    #[test]
    fn wire_pieces_must_be_ordered() {
        let p = |offset, s: &'static [u8]| Extent {
            offset,
            data: Bytes::from_static(s),
        };
        assert!(Extents::from_sorted([p(0, b"ab"), p(2, b"c"), p(9, b"")]).is_ok());
        assert_eq!(
            Extents::from_sorted([p(0, b"ab"), p(1, b"c")]),
            Err(ExtentsError::Unordered { offset: 1 })
        );
        assert_eq!(
            Extents::from_sorted([p(5, b"ab"), p(1, b"c")]),
            Err(ExtentsError::Unordered { offset: 1 })
        );
        assert!(matches!(
            Extents::from_sorted([p(u64::MAX, b"ab")]),
            Err(ExtentsError::Overflow { .. })
        ));
    }

    proptest! {
        /// Any sequence of writes gives the same bytes as writing into a flat buffer, touches
        /// nothing else, and keeps the pieces sorted and apart.
        #[test]
        fn writes_match_a_flat_buffer(writes in proptest::collection::vec(
            (0u64..200, proptest::collection::vec(any::<u8>(), 0..5000)), 0..20)) {
            let mut e = Extents::new();
            let mut flat = vec![0xA5u8; 6000];
            for (off, data) in &writes {
                e.write(*off, Bytes::copy_from_slice(data));
                let o = *off as usize;
                flat[o..o + data.len()].copy_from_slice(data);
            }
            prop_assert_eq!(apply(&e, 0xA5, 6000), flat);
            for w in e.pieces().windows(2) {
                prop_assert!(w[0].end() <= w[1].offset);
            }
            prop_assert!(e.pieces().iter().all(|p| !p.data.is_empty()));
            prop_assert_eq!(Extents::from_sorted(e.pieces().to_vec()), Ok(e.clone()));
        }
    }
}
