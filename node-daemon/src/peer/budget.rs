//! Memory budgets for frames arriving from peers.
//!
//! A peer is authenticated, not trusted: one that opens many streams, announces large frames
//! and stalls must not make this daemon hold unbounded memory. Every buffer a peer's stream
//! is read into is charged, by its capacity, to two [`Budget`]s: the peer node's (shared by
//! all its connections, so opening more does not buy more) and the daemon's total. A buffer
//! grows only with the data that actually arrived (`frames`), and a charge that would exceed
//! either budget fails: the stream is refused and its memory returned. Once a frame is whole
//! its payload belongs to the kernel (a SEND-blocked message), which bounds it by its own
//! per-process limits; the charge covers the bytes still being received.
//!
//! Counters (bytes held, peak, refusals, timeouts) are shown by `qnet nodes` and are what the
//! tests check: a bound that is counted, not timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What one open stream costs at least (its first read buffer and the stream's state): the
/// concurrent-stream limit a peer gets is its budget divided by this.
pub const STREAM_COST: u64 = 16 << 10;

/// Concurrent streams a peer may open, from its node budget (at least 64, at most 16,384).
pub fn max_streams(per_node: u64) -> u32 {
    u32::try_from((per_node / STREAM_COST).clamp(64, 16_384)).unwrap_or(16_384)
}

/// A byte budget with its counters.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    /// Charges refused (each refuses one stream).
    refused: AtomicU64,
    /// Frames that stopped arriving.
    timed_out: AtomicU64,
}

/// A snapshot of a `Budget`'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetStats {
    /// Bytes charged now.
    pub used: u64,
    /// Most bytes ever charged at once.
    pub peak: u64,
    /// The limit.
    pub limit: u64,
    /// Streams refused because a charge did not fit.
    pub refused: u64,
    /// Streams closed because a frame stopped arriving.
    pub timed_out: u64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }

    fn take(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(n).filter(|&v| v <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// Count a frame that stopped arriving.
    pub fn count_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn stats(&self) -> BudgetStats {
        BudgetStats {
            used: self.used.load(Ordering::Relaxed) as u64,
            peak: self.peak.load(Ordering::Relaxed) as u64,
            limit: self.limit as u64,
            refused: self.refused.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
        }
    }
}

/// The bytes one stream's reader holds, charged to its node's budget and the total; given
/// back when dropped.
#[derive(Debug)]
pub struct Charge {
    node: Arc<Budget>,
    total: Arc<Budget>,
    held: usize,
}

/// A charge did not fit: the stream must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "peer memory budget exhausted: {want} bytes wanted, {which} budget of {limit} bytes in use"
)]
pub struct Exhausted {
    /// Bytes the stream wanted to hold.
    pub want: usize,
    /// "node" or "total".
    pub which: &'static str,
    /// That budget's limit.
    pub limit: usize,
}

impl Charge {
    /// An empty charge against `node` and `total`.
    pub fn new(node: Arc<Budget>, total: Arc<Budget>) -> Self {
        Self {
            node,
            total,
            held: 0,
        }
    }

    /// Hold `bytes` in all (more or less than now). Fails, holding what it held, if the
    /// growth does not fit either budget; the refusal is counted on the budget that refused.
    pub fn set(&mut self, bytes: usize) -> Result<(), Exhausted> {
        if bytes <= self.held {
            let back = self.held - bytes;
            self.node.give(back);
            self.total.give(back);
            self.held = bytes;
            return Ok(());
        }
        let more = bytes - self.held;
        if !self.node.take(more) {
            self.node.refused.fetch_add(1, Ordering::Relaxed);
            return Err(self.exhausted(bytes, "node", self.node.limit));
        }
        if !self.total.take(more) {
            self.node.give(more);
            self.total.refused.fetch_add(1, Ordering::Relaxed);
            return Err(self.exhausted(bytes, "total", self.total.limit));
        }
        self.held = bytes;
        Ok(())
    }

    fn exhausted(&self, want: usize, which: &'static str, limit: usize) -> Exhausted {
        Exhausted { want, which, limit }
    }

    /// The node budget (to count a timeout on).
    pub fn node(&self) -> &Budget {
        &self.node
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.node.give(self.held);
        self.total.give(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fit_both_budgets_and_are_given_back() {
        let total = Arc::new(Budget::new(300));
        let a = Arc::new(Budget::new(200));
        let b = Arc::new(Budget::new(200));
        let mut a1 = Charge::new(a.clone(), total.clone());
        let mut a2 = Charge::new(a.clone(), total.clone());
        let mut b1 = Charge::new(b.clone(), total.clone());
        a1.set(150).unwrap();
        // The node's budget refuses a second stream of the same node.
        let e = a2.set(100).unwrap_err();
        assert_eq!(e.which, "node");
        a2.set(50).unwrap();
        // The total refuses another node's stream beyond it.
        assert_eq!(b1.set(101).unwrap_err().which, "total");
        assert_eq!(b.stats().used, 0, "a refused charge takes nothing");
        b1.set(100).unwrap();
        assert_eq!(total.stats().used, 300);
        a1.set(10).unwrap();
        assert_eq!((a.stats().used, total.stats().used), (60, 160));
        drop(a1);
        drop(a2);
        drop(b1);
        let (sa, st) = (a.stats(), total.stats());
        assert_eq!((sa.used, st.used), (0, 0), "everything given back");
        assert_eq!((sa.peak, st.peak, sa.refused, st.refused), (200, 300, 1, 1));
    }

    #[test]
    fn the_stream_limit_follows_the_budget() {
        assert_eq!(
            max_streams(crate::config::DEFAULT_PEER_MEMORY_PER_NODE),
            8192
        );
        assert_eq!(max_streams(0), 64);
        assert_eq!(max_streams(u64::MAX), 16_384);
    }
}
