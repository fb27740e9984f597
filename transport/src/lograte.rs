//! Rate limit for repeated log lines about one peer (or about refused strangers).
//!
//! A peer that misbehaves in a loop (100,000 refused streams) must not be able to fill the
//! disk with the daemon's warnings about it. Each peer node has one [`LogRate`] (the daemon's
//! peer table), and the refusals of connections without a valid certificate share one here:
//! the first line is always written, then at most `burst` lines per `interval`; a line
//! written after some were dropped carries how many (`suppressed`), so the count is never
//! lost, only delayed until the next line that passes.

use std::time::{Duration, Instant};

/// Lines written per interval for one peer.
pub const BURST: u32 = 10;

/// The interval of [`BURST`].
pub const INTERVAL: Duration = Duration::from_secs(10);

/// A fixed-window limiter of log lines.
#[derive(Debug)]
pub struct LogRate {
    burst: u32,
    interval: Duration,
    /// Start of the current window (`None`: nothing logged yet).
    window: Option<Instant>,
    /// Lines written in the current window.
    written: u32,
    /// Lines dropped since the last written one.
    suppressed: u64,
}

impl Default for LogRate {
    fn default() -> Self {
        Self::new(BURST, INTERVAL)
    }
}

impl LogRate {
    /// At most `burst` lines (at least 1) per `interval`.
    pub const fn new(burst: u32, interval: Duration) -> Self {
        Self {
            burst: if burst == 0 { 1 } else { burst },
            interval,
            window: None,
            written: 0,
            suppressed: 0,
        }
    }

    /// May a line be written at `now`? `Some(k)`: yes, and `k` lines were dropped since the
    /// last written one (say so in the line); `None`: drop it (it is counted).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        let fresh = self
            .window
            .is_none_or(|start| now.saturating_duration_since(start) >= self.interval);
        if fresh {
            self.window = Some(now);
            self.written = 0;
        }
        if self.written < self.burst {
            self.written += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// A shared limiter (a `static`) said whether a line may be written now; see
/// [`LogRate::allow`].
pub fn allow_shared(limiter: &std::sync::Mutex<LogRate>) -> Option<u64> {
    limiter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .allow(Instant::now())
}

/// Repeated failures logged by their text: a text not seen for `every` is written at once,
/// the same text again at most once per `every`, with how many were not written in between.
/// For failures that repeat per attempt (a peer dialling with a refused certificate every few
/// seconds): a line a minute per cause, however often it is tried. At most
/// [`Repeats::MAX_TEXTS`] texts are remembered (the oldest are forgotten first), so a flood
/// of distinct texts costs bounded memory and is bounded by nothing else: pair it with a
/// [`LogRate`] where strangers choose the text.
#[derive(Debug)]
pub struct Repeats {
    every: Duration,
    /// Per text: when it was last written, and the failures since.
    seen: std::collections::HashMap<String, (Instant, u64)>,
}

impl Repeats {
    /// Texts remembered at most.
    pub const MAX_TEXTS: usize = 256;

    /// Write each text at most once per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            seen: std::collections::HashMap::new(),
        }
    }

    /// May a line with `text` be written at `now`? `Some(k)`: yes, and `k` with this text were
    /// not written since its last line (say so); `None`: not now (it is counted).
    pub fn allow(&mut self, now: Instant, text: &str) -> Option<u64> {
        if let Some((at, unlogged)) = self.seen.get_mut(text) {
            if now.saturating_duration_since(*at) < self.every {
                *unlogged += 1;
                return None;
            }
            *at = now;
            return Some(std::mem::take(unlogged));
        }
        if self.seen.len() >= Self::MAX_TEXTS {
            let every = self.every;
            self.seen
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < every);
            if self.seen.len() >= Self::MAX_TEXTS {
                if let Some(oldest) = self
                    .seen
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    self.seen.remove(&oldest);
                }
            }
        }
        self.seen.insert(text.to_owned(), (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_written_once_per_interval_with_the_count_in_between() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let mut r = Repeats::new(minute);
        assert_eq!(r.allow(t0, "bad certificate from 10.0.0.2"), Some(0));
        for s in 1..=20 {
            assert_eq!(
                r.allow(
                    t0 + Duration::from_secs(2 * s),
                    "bad certificate from 10.0.0.2"
                ),
                None
            );
        }
        assert_eq!(
            r.allow(t0 + Duration::from_secs(3), "another cause"),
            Some(0)
        );
        assert_eq!(
            r.allow(t0 + minute, "bad certificate from 10.0.0.2"),
            Some(20),
            "the attempts in between are counted"
        );
        assert_eq!(r.allow(t0 + minute, "bad certificate from 10.0.0.2"), None);
    }

    #[test]
    fn distinct_texts_are_remembered_up_to_a_bound() {
        let t0 = Instant::now();
        let mut r = Repeats::new(Duration::from_secs(60));
        for i in 0..10_000 {
            assert_eq!(r.allow(t0, &format!("text {i}")), Some(0));
        }
        assert!(r.seen.len() <= Repeats::MAX_TEXTS);
    }

    #[test]
    fn first_line_then_burst_per_interval_with_the_suppressed_count() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut r = LogRate::new(3, 10 * second);
        assert_eq!(r.allow(t0), Some(0), "the first line is written");
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0 + second), Some(0));
        // The burst is spent: the rest of the window is counted, not written.
        for _ in 0..1000 {
            assert_eq!(r.allow(t0 + 2 * second), None);
        }
        assert_eq!(r.allow(t0 + 9 * second), None);
        // A new window: the first line says how many were dropped, then the count restarts.
        assert_eq!(r.allow(t0 + 10 * second), Some(1001));
        assert_eq!(r.allow(t0 + 10 * second), Some(0));
        assert_eq!(r.allow(t0 + 10 * second), Some(0));
        assert_eq!(r.allow(t0 + 11 * second), None);
        assert_eq!(r.allow(t0 + 30 * second), Some(1));
    }

    #[test]
    fn a_zero_burst_still_writes_one_line_per_interval() {
        let t0 = Instant::now();
        let mut r = LogRate::new(0, Duration::from_secs(1));
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), None);
        assert_eq!(r.allow(t0 + Duration::from_secs(1)), Some(1));
    }

    /// 100,000 lines in a burst (the refused-streams flood) write `burst` lines.
    #[test]
    fn a_flood_writes_a_bounded_number_of_lines() {
        let t0 = Instant::now();
        let mut r = LogRate::default();
        let written = (0..100_000).filter(|_| r.allow(t0).is_some()).count();
        assert_eq!(written, BURST as usize);
    }
}
