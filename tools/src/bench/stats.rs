//! What one measurement yields (round-trip histogram, count, wall time) and the medians over
//! rounds.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Round-trip times of one measurement, in nanoseconds (3 significant digits, up to 60 s).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static histogram bounds")
}

/// One measurement of one variant in one cell (size × clients) of one round.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Round trips, nanoseconds.
    pub hist: Histogram<u64>,
    /// Round trips completed in the timed phase.
    pub messages: u64,
    /// Round trips completed in the warm-up (not timed; counted for CPU per round trip).
    pub warmup_messages: u64,
    /// Wall time of the timed phase (first client start to last client end).
    pub elapsed: Duration,
    /// Payload bytes per message (each direction).
    pub size: usize,
    /// CPU time the qnetd(s) on the path used over warm-up and timed phase (qnet only).
    pub daemon_cpu: Option<Duration>,
    /// Messages the daemon's kernel delivered to the server over warm-up and timed phase
    /// (qnet local only): calls that took the socket path, not the direct one.
    pub daemon_deliveries: Option<u64>,
}

/// The figures of one sample.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Figures {
    /// Median round trip, µs.
    pub p50_us: f64,
    /// 99th percentile round trip, µs.
    pub p99_us: f64,
    /// Round trips per second, all clients together.
    pub msgs_per_s: f64,
    /// Payload MiB per second in one direction (the echo carries as much back).
    pub mib_per_s: f64,
    /// CPU µs the daemon(s) spent per round trip (all their threads; remote: both daemons);
    /// 0 for the floors.
    pub daemon_cpu_us: f64,
    /// Share of the round trips the daemon's kernel delivered (the socket path), 0 to 1;
    /// `None` where not counted (floors, remote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_daemon: Option<f64>,
}

impl Sample {
    /// Reduce to figures.
    pub fn figures(&self) -> Figures {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let msgs_per_s = self.messages as f64 / secs;
        let calls = (self.messages + self.warmup_messages).max(1) as f64;
        Figures {
            p50_us: self.hist.value_at_quantile(0.5) as f64 / 1000.0,
            p99_us: self.hist.value_at_quantile(0.99) as f64 / 1000.0,
            msgs_per_s,
            mib_per_s: msgs_per_s * self.size as f64 / (1024.0 * 1024.0),
            daemon_cpu_us: self
                .daemon_cpu
                .map_or(0.0, |cpu| cpu.as_secs_f64() * 1e6 / calls),
            via_daemon: self.daemon_deliveries.map(|d| d as f64 / calls),
        }
    }
}

/// Median of `v` (mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per-field medians over rounds.
pub fn median_figures(rounds: &[Figures]) -> Figures {
    let col = |f: fn(&Figures) -> f64| median(rounds.iter().map(f).collect());
    Figures {
        p50_us: col(|f| f.p50_us),
        p99_us: col(|f| f.p99_us),
        msgs_per_s: col(|f| f.msgs_per_s),
        mib_per_s: col(|f| f.mib_per_s),
        daemon_cpu_us: col(|f| f.daemon_cpu_us),
        via_daemon: {
            let counted: Vec<f64> = rounds.iter().filter_map(|f| f.via_daemon).collect();
            (!counted.is_empty()).then(|| median(counted))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemons_share_is_a_median_of_the_rounds_that_counted_it() {
        let f = |via| Figures {
            via_daemon: via,
            ..Figures::default()
        };
        assert_eq!(median_figures(&[f(None), f(None)]).via_daemon, None);
        assert_eq!(
            median_figures(&[f(Some(0.0)), f(None), f(Some(1.0)), f(Some(0.5))]).via_daemon,
            Some(0.5)
        );
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn figures_from_a_sample() {
        let mut hist = histogram();
        for v in [1_000, 2_000, 3_000] {
            hist.record(v).unwrap();
        }
        let f = Sample {
            hist,
            messages: 1000,
            warmup_messages: 250,
            elapsed: Duration::from_secs(2),
            size: 1024 * 1024,
            daemon_cpu: Some(Duration::from_millis(25)),
            daemon_deliveries: Some(125),
        }
        .figures();
        assert_eq!(f.msgs_per_s, 500.0);
        assert_eq!(f.daemon_cpu_us, 20.0, "25 ms over 1250 round trips");
        assert_eq!(
            f.via_daemon,
            Some(0.1),
            "125 of 1250 round trips through the daemon"
        );
        assert_eq!(f.mib_per_s, 500.0);
        assert!((f.p50_us - 2.0).abs() < 0.01, "{f:?}");
    }
}
