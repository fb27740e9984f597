//! The window of concurrent streams a peer may open on one connection: it starts small and
//! grows with the streams the peer actually keeps open, up to the budget's limit.
//!
//! Why not the whole limit at once: quinn keeps per-stream receive state for every stream
//! the window allows, used or not yet opened. A stream's state is recycled, with the
//! capacity its reassembly queue reached, into the stream the window admits next, so with a
//! window of W streams, W such states end up alive however few calls run at once: a few KiB
//! each after 64 KiB messages, measured +35 MiB of daemon RSS that never came back with the
//! budget's 8,192 streams against +3 MiB with 512 (BENCHMARKS.md, "Daemon memory after remote
//! load"). So the window follows what the peer uses: when more than half of it is open, it
//! doubles (the peer learns it in a `MAX_STREAMS` frame), so a peer whose calls all block
//! here never waits for a stream before the limit. It never shrinks: quinn keeps the states
//! it already made (lowering the limit frees none of them), so what stays after a burst of
//! N concurrent calls from one connection is proportional to N, not to the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use qnet_transport::PeerConnection;
use quinn::VarInt;

/// The window a new connection starts with (or the limit, if that is smaller).
pub const INITIAL_STREAMS: u32 = 256;

/// One connection's stream window and the streams its peer has open in it.
#[derive(Debug)]
pub struct StreamWindow {
    /// The limit (from the node's memory budget, `budget::max_streams`).
    max: u32,
    /// The window quinn enforces now.
    current: AtomicU32,
    /// Streams being served now.
    open: AtomicU32,
}

/// A stream counted open in its [`StreamWindow`] until dropped.
#[derive(Debug)]
pub struct OpenStream(Arc<StreamWindow>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl StreamWindow {
    /// A window of at most `max` streams, starting at [`INITIAL_STREAMS`] (the transport's
    /// `max_concurrent_bidi_streams` must be [`StreamWindow::initial`]).
    pub fn new(max: u32) -> Self {
        Self {
            max,
            current: AtomicU32::new(Self::initial(max)),
            open: AtomicU32::new(0),
        }
    }

    /// The window every connection starts with for a limit of `max`.
    pub fn initial(max: u32) -> u32 {
        INITIAL_STREAMS.min(max)
    }

    /// The window now.
    pub fn current(&self) -> u32 {
        self.current.load(Ordering::Relaxed)
    }

    /// The peer opened a stream on `conn`: count it, and widen the window if more than half
    /// of it is open.
    pub fn opened(self: &Arc<Self>, conn: &PeerConnection) -> OpenStream {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(window) = self.grown(open) {
            conn.quinn()
                .set_max_concurrent_bi_streams(VarInt::from_u32(window));
        }
        OpenStream(self.clone())
    }

    /// With `open` streams open: the doubled window if more than half is in use and it is
    /// below the limit (stored), else `None`.
    fn grown(&self, open: u32) -> Option<u32> {
        let current = self.current();
        if open.saturating_mul(2) <= current || current >= self.max {
            return None;
        }
        let next = current.saturating_mul(2).min(self.max);
        // One accept loop per connection calls this; a lost race only means no change.
        self.current
            .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window doubles when more than half is open, up to the limit, and never shrinks.
    #[test]
    fn window_doubles_past_half_use_up_to_the_limit() {
        let w = StreamWindow::new(1000);
        assert_eq!(w.current(), 256);
        assert_eq!(w.grown(128), None, "half open: unchanged");
        assert_eq!(w.grown(129), Some(512));
        assert_eq!(w.grown(129), None);
        assert_eq!(w.grown(300), Some(1000), "capped at the limit");
        assert_eq!(w.grown(1000), None);
        assert_eq!(w.grown(1), None, "never shrinks");
        assert_eq!(w.current(), 1000);
        let small = StreamWindow::new(64);
        assert_eq!(small.current(), 64, "a limit below the initial window");
        assert_eq!(small.grown(64), None);
    }
}
