//! How ids are handed out: chids, coids and scoids per process with QNX's lowest-free
//! numbering ([`LowestFree`]), rcvids node-wide from a counter that wraps below 2^31
//! ([`Kernel::next_rcvid`]). Both are O(log n) per id, whatever the number of live ids.

use std::collections::BTreeSet;

use crate::ids::Rcvid;

use super::Kernel;

/// Ids from 1 up, always the lowest one not in use (as QNX numbers chids and coids, like
/// file descriptors): the ids below `next` that were freed, plus the counter `next`.
#[derive(Debug, Clone)]
pub(super) struct LowestFree {
    /// Every id in `1..next` not in here is in use.
    freed: BTreeSet<i32>,
    next: i32,
}

impl Default for LowestFree {
    fn default() -> Self {
        Self {
            freed: BTreeSet::new(),
            next: 1,
        }
    }
}

impl LowestFree {
    /// The lowest free id, now in use; `None` when `i32` is exhausted.
    pub(super) fn alloc(&mut self) -> Option<i32> {
        if let Some(id) = self.freed.pop_first() {
            return Some(id);
        }
        let id = self.next;
        self.next = id.checked_add(1)?;
        Some(id)
    }

    /// `id` is free again (an id never handed out is ignored).
    pub(super) fn free(&mut self, id: i32) {
        if id < 1 || id >= self.next {
            return;
        }
        self.freed.insert(id);
        // Keep the freed set to the holes: a free tail shrinks the counter instead.
        while self.freed.last() == Some(&(self.next - 1)) {
            self.freed.pop_last();
            self.next -= 1;
        }
    }

    /// Ids in use.
    pub(super) fn in_use(&self) -> usize {
        (self.next - 1) as usize - self.freed.len()
    }

    /// Whether exactly `used` are in use (for [`Kernel::audit`]).
    pub(super) fn holds_exactly(&self, used: &BTreeSet<i32>) -> bool {
        used.iter()
            .all(|&id| id >= 1 && id < self.next && !self.freed.contains(&id))
            && used.len() == self.in_use()
    }
}

/// rcvids live in `1..=RCVID_MAX`, so that C programs may keep them in an `int` (and an
/// unblock pulse's 32-bit value carries one exactly). The range above it, up to
/// `i32::MAX`, belongs to the direct path: a serving library numbers the messages it takes
/// from shared memory there (`qnet_direct::server::RCVID_BASE`), so the two never meet.
pub const RCVID_MAX: Rcvid = (1 << 30) - 1;

impl Kernel {
    /// The next rcvid: the counter's value, skipping rcvids still live; after `RCVID_MAX` the
    /// counter starts again at 1. A value comes back only after 2^30 - 1 further sends, so a
    /// late reply to an answered message cannot reach a new one in any realistic window.
    pub(super) fn next_rcvid(&mut self) -> Rcvid {
        loop {
            let rcvid = self.rcvid_counter;
            if rcvid >= RCVID_MAX {
                self.rcvid_counter = 1;
                self.rcvids_wrapped = true;
            } else {
                self.rcvid_counter = rcvid + 1;
            }
            // Live rcvids are at most the messages in flight, so this ends.
            if !self.messages.contains_key(&rcvid) {
                return rcvid;
            }
        }
    }

    /// Whether `rcvid` was ever handed out (every rcvid in range once the counter wrapped).
    pub(super) fn rcvid_issued(&self, rcvid: Rcvid) -> bool {
        (1..=RCVID_MAX).contains(&rcvid) && (self.rcvids_wrapped || rcvid < self.rcvid_counter)
    }

    /// Test hook: start the rcvid counter at `next` (clamped to `1..=RCVID_MAX`), to exercise
    /// the wrap without 2^30 sends.
    #[doc(hidden)]
    pub fn set_next_rcvid(&mut self, next: Rcvid) {
        self.rcvid_counter = next.clamp(1, RCVID_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_reuses_holes_first_and_shrinks_its_tail() {
        let mut ids = LowestFree::default();
        assert_eq!(
            (1..=5).map(|_| ids.alloc().unwrap()).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        ids.free(2);
        ids.free(4);
        assert_eq!(ids.in_use(), 3);
        assert_eq!(ids.alloc(), Some(2));
        ids.free(5);
        ids.free(4); // already free: ignored
        assert_eq!(ids.alloc(), Some(4));
        assert_eq!(ids.alloc(), Some(5));
        for id in 1..=5 {
            ids.free(id);
        }
        assert_eq!(ids.in_use(), 0);
        assert!(ids.freed.is_empty(), "a free tail leaves no holes behind");
        assert_eq!(ids.alloc(), Some(1));
        ids.free(0);
        ids.free(99);
        assert_eq!(ids.in_use(), 1);
    }
}
