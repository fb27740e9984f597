//! What is counted per peer node for the metrics endpoint (`metrics.rs` names and exposes
//! them): calls forwarded there and served here with the message bytes they carried, and the
//! node's up and down transitions. Relaxed atomic adds, outside the kernel lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one peer node (kept in its `PeerNode`, across its connections).
#[derive(Debug, Default)]
pub struct PeerCounters {
    forwarded_calls: AtomicU64,
    forwarded_bytes: AtomicU64,
    served_calls: AtomicU64,
    served_bytes: AtomicU64,
    ups: AtomicU64,
    downs: AtomicU64,
}

/// A reading of [`PeerCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// Calls of local threads forwarded to the node.
    pub forwarded_calls: u64,
    /// Send-buffer bytes of those calls.
    pub forwarded_bytes: u64,
    /// Calls of the node's threads served here.
    pub served_calls: u64,
    /// Send-buffer bytes of those calls.
    pub served_bytes: u64,
    /// Times the node came up (its first live link, or a restart's new link).
    pub ups: u64,
    /// Times it went down (its last link closed, or it restarted).
    pub downs: u64,
}

impl PeerCounters {
    /// A call carrying `bytes` was forwarded to the node.
    pub fn forwarded(&self, bytes: usize) {
        self.forwarded_calls.fetch_add(1, Ordering::Relaxed);
        self.forwarded_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A call of the node carrying `bytes` is served here.
    pub fn served(&self, bytes: usize) {
        self.served_calls.fetch_add(1, Ordering::Relaxed);
        self.served_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The node came up.
    pub fn up(&self) {
        self.ups.fetch_add(1, Ordering::Relaxed);
    }

    /// The node went down.
    pub fn down(&self) {
        self.downs.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> PeerCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PeerCounts {
            forwarded_calls: get(&self.forwarded_calls),
            forwarded_bytes: get(&self.forwarded_bytes),
            served_calls: get(&self.served_calls),
            served_bytes: get(&self.served_bytes),
            ups: get(&self.ups),
            downs: get(&self.downs),
        }
    }
}
