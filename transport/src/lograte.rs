//! Rate limit for repeated log lines about one peer (or about refused strangers).
//!
//! A peer that misbehaves in a loop (100,000 refused streams) must not be able to fill the
//! disk with the daemon's warnings about it. Each peer node has one [`LogRate`] (the daemon's
//! peer table), and the refusals of connections without a valid certificate share one here:
//! the first line is always written, then at most `burst` lines per `interval`; a line
//! written after some were dropped carries how many (`suppressed`), so the count is never
//! lost, only delayed until the next line that passes.

use std::collections::HashMap;
use std::net::IpAddr;
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

/// Repeated lines about one source address (refused connection attempts): each new reason
/// from a source is written at once, the same reason from the same source again at most once
/// per `repeat`, with how many were dropped in between. A node with a certificate of another
/// CA that dials every second thus writes one line a minute, not one per attempt. At most
/// `cap` sources are remembered (all are forgotten when it is reached: a flood from many
/// addresses is the [`LogRate`]'s to bound).
#[derive(Debug)]
pub struct PerSource {
    repeat: Duration,
    cap: usize,
    seen: HashMap<IpAddr, (String, Instant, u64)>,
}

impl PerSource {
    /// Sources remembered by [`PerSource::default`].
    pub const CAP: usize = 1024;

    /// Once per `repeat` per source and reason, `cap` sources at most.
    pub fn new(repeat: Duration, cap: usize) -> Self {
        Self {
            repeat,
            cap,
            seen: HashMap::new(),
        }
    }

    /// May a line about `source` failing for `reason` be written at `now`? `Some(k)`: yes,
    /// `k` such lines were dropped since the last one written; `None`: drop it (counted).
    pub fn allow(&mut self, now: Instant, source: IpAddr, reason: &str) -> Option<u64> {
        if let Some((last, at, dropped)) = self.seen.get_mut(&source)
            && last == reason
        {
            if now.saturating_duration_since(*at) < self.repeat {
                *dropped += 1;
                return None;
            }
            *at = now;
            return Some(std::mem::take(dropped));
        }
        if self.seen.len() >= self.cap {
            self.seen.clear();
        }
        self.seen.insert(source, (reason.to_owned(), now, 0));
        Some(0)
    }
}

impl Default for PerSource {
    fn default() -> Self {
        Self::new(crate::explain::REPEAT, Self::CAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// One source failing the same way every second writes one line a minute; another
    /// reason or another source is news at once; the memory of sources is bounded.
    #[test]
    fn a_source_failing_the_same_way_writes_once_per_repeat() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut p = PerSource::new(60 * s, 2);
        assert_eq!(p.allow(t0, a, "unknown CA"), Some(0));
        for k in 1..60 {
            assert_eq!(p.allow(t0 + k * s, a, "unknown CA"), None);
        }
        assert_eq!(p.allow(t0 + 60 * s, a, "unknown CA"), Some(59));
        assert_eq!(
            p.allow(t0 + 61 * s, a, "expired"),
            Some(0),
            "another reason"
        );
        assert_eq!(
            p.allow(t0 + 61 * s, b, "expired"),
            Some(0),
            "another source"
        );
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(p.allow(t0 + 61 * s, c, "x"), Some(0));
        assert!(p.seen.len() <= 2, "bounded");
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
