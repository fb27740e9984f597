//! One copy: on a session whose hello enabled it, the library names large buffers by address
//! ([`local::Span`]s of its own memory) and the daemon copies them directly out of / into the
//! client process (`process_vm_readv` / `process_vm_writev`), one copy instead of a Unix
//! socket's two. This module holds what both ends agree on and the pure arithmetic the
//! daemon applies to spans from an untrusted frame: [`ONE_COPY_MAGIC`] (the hello's probe),
//! [`ONE_COPY_MIN`] (below it bytes travel inline), [`MAX_SPANS`], [`checked_total`] and
//! [`place`] (where a piece at a logical offset lands in the client's memory). The syscalls
//! themselves are the daemon's (`node-daemon/src/local/one_copy.rs`).

use crate::local::Span;

/// The 16 bytes a library keeps at the address its hello names ([`local::Hello`]'s
/// `one_copy_probe`): the daemon turns one copy on only if it reads exactly these there.
///
/// [`local::Hello`]: crate::local::Hello
pub const ONE_COPY_MAGIC: [u8; 16] = *b"qnet one-copy v1";

/// Payloads (and received messages, and replies) smaller than this travel inline in the
/// frame even on a one-copy session: a socket copy of a few KiB costs less than the extra
/// syscall. The same size as [`crate::frame::SPLIT_MIN_BODY`] (measured in BENCHMARKS.md,
/// "One copy").
pub const ONE_COPY_MIN: usize = 16 * 1024;

/// Most spans one buffer may be named by (a send IOV of more parts travels inline). Bounds
/// the iovec lists the daemon builds (`IOV_MAX` is 1024).
pub const MAX_SPANS: usize = 64;

/// Why a list of spans from a frame is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// More than [`MAX_SPANS`] spans.
    #[error("{0} spans, more than {MAX_SPANS}")]
    TooMany(usize),
    /// The lengths add up to more than the limit (or overflow).
    #[error("spans add up to more than {0} bytes")]
    TooLong(u64),
    /// A span that wraps around the address space or does not fit a `usize`.
    #[error("span {addr:#x}+{len} wraps the address space")]
    Wraps {
        /// Its address.
        addr: u64,
        /// Its length.
        len: u64,
    },
}

/// The total length of `spans`, refused if there are more than [`MAX_SPANS`], if any span
/// wraps, or if the total exceeds `max` (all sums overflow-checked).
pub fn checked_total(spans: &[Span], max: u64) -> Result<u64, SpanError> {
    if spans.len() > MAX_SPANS {
        return Err(SpanError::TooMany(spans.len()));
    }
    let mut total: u64 = 0;
    for s in spans {
        let end = s.addr.checked_add(s.len);
        if end.is_none() || usize::try_from(s.len).is_err() || usize::try_from(s.addr).is_err() {
            return Err(SpanError::Wraps {
                addr: s.addr,
                len: s.len,
            });
        }
        total = total
            .checked_add(s.len)
            .filter(|t| *t <= max)
            .ok_or(SpanError::TooLong(max))?;
    }
    Ok(total)
}

/// Where `len` bytes at logical `offset` of the buffer made of `spans` (in order) land in
/// the client's memory: `(addr, len)` ranges in order, cut at the end of the buffer (so they
/// may add up to less than `len`). `spans` must have passed [`checked_total`].
pub fn place(spans: &[Span], offset: u64, len: u64, out: &mut Vec<(u64, u64)>) {
    let mut skip = offset;
    let mut want = len;
    for s in spans {
        if want == 0 {
            return;
        }
        if skip >= s.len {
            skip -= s.len;
            continue;
        }
        let n = (s.len - skip).min(want);
        if n > 0 {
            out.push((s.addr + skip, n));
        }
        want -= n;
        skip = 0;
    }
}

/// A span of `len` bytes at `addr`.
pub fn span(addr: u64, len: u64) -> Span {
    Span { addr, len }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn totals_are_bounded_and_overflow_checked() {
        assert_eq!(checked_total(&[span(10, 5), span(100, 7)], 12), Ok(12));
        assert_eq!(
            checked_total(&[span(10, 5), span(100, 8)], 12),
            Err(SpanError::TooLong(12))
        );
        assert_eq!(
            checked_total(&[span(u64::MAX - 1, 5)], u64::MAX),
            Err(SpanError::Wraps {
                addr: u64::MAX - 1,
                len: 5
            })
        );
        assert_eq!(
            checked_total(
                &[span(0, u64::MAX / 2 + 1), span(0, u64::MAX / 2 + 1)],
                u64::MAX
            ),
            Err(SpanError::TooLong(u64::MAX))
        );
        let many = vec![span(0, 1); MAX_SPANS + 1];
        assert_eq!(
            checked_total(&many, u64::MAX),
            Err(SpanError::TooMany(MAX_SPANS + 1))
        );
    }

    proptest! {
        /// Placing a range over spans gives the same bytes as cutting it from the
        /// concatenated buffer.
        #[test]
        fn place_matches_the_concatenated_buffer(
            lens in proptest::collection::vec(0u64..50, 0..6),
            offset in 0u64..200,
            len in 0u64..200,
        ) {
            // Span i lives at 1000 * (i + 1): addresses tell which span and where.
            let spans: Vec<Span> = lens.iter().enumerate()
                .map(|(i, l)| span(1000 * (i as u64 + 1), *l)).collect();
            let flat: Vec<u64> = spans.iter()
                .flat_map(|s| (0..s.len).map(move |k| s.addr + k)).collect();
            let mut out = Vec::new();
            place(&spans, offset, len, &mut out);
            let got: Vec<u64> = out.iter().flat_map(|(a, n)| *a..*a + *n).collect();
            let from = (offset as usize).min(flat.len());
            let to = (offset.saturating_add(len) as usize).min(flat.len());
            prop_assert_eq!(got, flat[from..to].to_vec());
            prop_assert!(out.iter().all(|(_, n)| *n > 0));
        }
    }
}
