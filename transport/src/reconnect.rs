//! Dialling a peer again and again until it answers: exponential backoff with seeded jitter.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoint::{PeerConnection, Transport};
use crate::explain::DialLog;

/// Exponential backoff: `initial`, doubling up to `max`, each delay drawn uniformly from
/// `[d/2, d]` so that nodes restarted together do not dial in lockstep. The jitter comes from
/// a seeded [`fastrand::Rng`]: the same seed gives the same delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// From `initial`, doubling to at most `max`, jitter seeded with `seed`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// 100 ms doubling to 5 s.
    pub fn lan(seed: u64) -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5), seed)
    }

    /// The delay before the next attempt (advances the schedule).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = d / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// Back to the initial delay (after a connection succeeded).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Transport {
    /// Dial `node` at `addr` until it succeeds or `cancel` resolves (then `None`). Each failure
    /// goes to `log` in plain words (see [`DialLog`]) and is followed by
    /// `backoff.next_delay()`; on success the backoff is reset.
    pub async fn connect_with_backoff(
        &self,
        node: &str,
        addr: SocketAddr,
        backoff: &mut Backoff,
        log: &mut DialLog,
        cancel: impl Future<Output = ()>,
    ) -> Option<PeerConnection> {
        let attempts = async {
            loop {
                match self.connect(node, addr).await {
                    Ok(conn) => {
                        backoff.reset();
                        return conn;
                    }
                    Err(e) => {
                        let delay = backoff.next_delay();
                        log.failed(node, &crate::explain::connect_error(&e), delay);
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        };
        tokio::select! {
            conn = attempts => Some(conn),
            () = cancel => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_with_bounded_jitter_and_is_seeded() {
        let mut b = Backoff::lan(7);
        let mut base = Duration::from_millis(100);
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
            base = (base * 2).min(Duration::from_secs(5));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));

        let seq = |seed| {
            let mut b = Backoff::lan(seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(seq(1), seq(1));
        assert_ne!(seq(1), seq(2));
    }
}
