//! Dialling a peer again and again until it answers: exponential backoff with seeded jitter.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::endpoint::{PeerConnection, Transport};

/// Exponential backoff: `initial`, doubling up to `max`, each delay drawn uniformly from
/// `[d/2, d]` so that nodes restarted together do not dial in lockstep. The jitter comes from
/// a seeded generator (splitmix64): the same seed gives the same delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// From `initial`, doubling to at most `max`, jitter seeded with `seed`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
            rng: seed,
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
        let nanos = half.as_nanos() as u64;
        let jitter = if nanos == 0 {
            0
        } else {
            self.random() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// Back to the initial delay (after a connection succeeded).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    fn random(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Transport {
    /// Dial `node` at `addr` until it succeeds or `cancel` resolves (then `None`). Each failure
    /// is logged and followed by `backoff.next_delay()`; on success the backoff is reset.
    pub async fn connect_with_backoff(
        &self,
        node: &str,
        addr: SocketAddr,
        backoff: &mut Backoff,
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
                        tracing::info!("dial failed, retrying in {delay:?}: {e}");
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
