//! The closed-loop workload every variant runs: N clients, each doing one round trip at a
//! time; a warm-up phase, then a timed phase bounded by a duration and an iteration count.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use hdrhistogram::Histogram;

use super::stats::{Sample, histogram};

/// How long one measurement lasts.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Warm-up per client (not recorded).
    pub warmup: Duration,
    /// Timed phase (all clients together).
    pub duration: Duration,
    /// Most round trips per client in the timed phase.
    pub max_iters: u64,
    /// Start one round trip per client at most every this long (a control loop), warm-up
    /// included; `None`: back to back.
    pub pace: Option<Duration>,
}

impl Budget {
    /// When the next round trip may start, if it started at `began` and ended at `ended`:
    /// `None` to start at once.
    fn wait_until(&self, began: Instant, ended: Instant) -> Option<Instant> {
        let next = began + self.pace?;
        (next > ended).then_some(next)
    }
}

/// What one client thread measured.
struct ClientRun {
    hist: Histogram<u64>,
    count: u64,
    warm_count: u64,
    start: Instant,
    end: Instant,
}

/// Run `clients` threads: each calls `setup(i)` once, then `op(&mut state)` in a loop (warm-up,
/// a barrier, the timed phase). Every thread reaches the barriers even when its setup failed,
/// so one failure cannot hang the others.
pub fn run_threads<S>(
    clients: usize,
    size: usize,
    budget: Budget,
    setup: impl Fn(usize) -> Result<S> + Sync,
    op: impl Fn(&mut S) -> Result<()> + Sync,
) -> Result<Sample> {
    let barrier = Barrier::new(clients);
    let runs: Vec<Result<ClientRun>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (barrier, setup, op) = (&barrier, &setup, &op);
                scope.spawn(move || -> Result<ClientRun> {
                    let state = setup(i);
                    barrier.wait();
                    let mut state = match state {
                        Ok(s) => s,
                        Err(e) => {
                            barrier.wait();
                            return Err(e);
                        }
                    };
                    let warm_end = Instant::now() + budget.warmup;
                    let mut warm = Ok(());
                    let mut warm_count = 0;
                    while warm.is_ok() && Instant::now() < warm_end {
                        let began = Instant::now();
                        warm = op(&mut state);
                        warm_count += 1;
                        if let Some(next) = budget.wait_until(began, Instant::now()) {
                            std::thread::sleep(next - Instant::now());
                        }
                    }
                    barrier.wait();
                    warm?;
                    let mut hist = histogram();
                    let start = Instant::now();
                    let deadline = start + budget.duration;
                    let mut count = 0;
                    let mut now = start;
                    while count < budget.max_iters && now < deadline {
                        op(&mut state)?;
                        let after = Instant::now();
                        hist.saturating_record((after - now).as_nanos() as u64);
                        count += 1;
                        now = match budget.wait_until(now, after) {
                            Some(next) => {
                                std::thread::sleep(next - after);
                                Instant::now()
                            }
                            None => after,
                        };
                    }
                    Ok(ClientRun {
                        hist,
                        count,
                        warm_count,
                        start,
                        end: now,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a client thread panicked")))
            })
            .collect()
    });
    merge(runs.into_iter().collect::<Result<Vec<_>>>()?, size)
}

fn merge(runs: Vec<ClientRun>, size: usize) -> Result<Sample> {
    let mut hist = histogram();
    let mut messages = 0;
    let mut warmup_messages = 0;
    let mut start: Option<Instant> = None;
    let mut end: Option<Instant> = None;
    for r in runs {
        hist.add(&r.hist)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
        messages += r.count;
        warmup_messages += r.warm_count;
        start = Some(start.map_or(r.start, |s| s.min(r.start)));
        end = Some(end.map_or(r.end, |e| e.max(r.end)));
    }
    let elapsed = match (start, end) {
        (Some(s), Some(e)) => e - s,
        _ => Duration::ZERO,
    };
    Ok(Sample {
        hist,
        messages,
        warmup_messages,
        elapsed,
        size,
        daemon_cpu: None,
        daemon_deliveries: None,
    })
}

/// The async twin of [`run_threads`] for the raw quinn floor: `clients` tasks on `rt`, each
/// with the state `setup(i)` produced, looping `op`.
pub fn run_tasks<S, Fs, Fo>(
    rt: &tokio::runtime::Runtime,
    clients: usize,
    size: usize,
    budget: Budget,
    setup: impl Fn(usize) -> Fs,
    op: impl Fn(S) -> Fo + Send + Sync + Clone + 'static,
) -> Result<Sample>
where
    S: Send + 'static,
    Fs: std::future::Future<Output = Result<S>>,
    Fo: std::future::Future<Output = Result<S>> + Send,
{
    rt.block_on(async {
        let mut states = Vec::with_capacity(clients);
        for i in 0..clients {
            states.push(setup(i).await?);
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients));
        let tasks: Vec<_> = states
            .into_iter()
            .map(|state| {
                let (barrier, op) = (barrier.clone(), op.clone());
                rt.spawn(async move {
                    let mut state = state;
                    let warm_end = Instant::now() + budget.warmup;
                    let mut warm_count = 0;
                    while Instant::now() < warm_end {
                        warm_count += 1;
                        let began = Instant::now();
                        let result = op(state).await;
                        if let Some(next) = budget.wait_until(began, Instant::now()) {
                            tokio::time::sleep_until(next.into()).await;
                        }
                        match result {
                            Ok(s) => state = s,
                            Err(e) => {
                                // Still meet the others at the barrier.
                                barrier.wait().await;
                                return Err(e);
                            }
                        }
                    }
                    barrier.wait().await;
                    let mut hist = histogram();
                    let start = Instant::now();
                    let deadline = start + budget.duration;
                    let mut count = 0;
                    let mut now = start;
                    while count < budget.max_iters && now < deadline {
                        state = op(state).await?;
                        let after = Instant::now();
                        hist.saturating_record((after - now).as_nanos() as u64);
                        count += 1;
                        now = match budget.wait_until(now, after) {
                            Some(next) => {
                                tokio::time::sleep_until(next.into()).await;
                                Instant::now()
                            }
                            None => after,
                        };
                    }
                    Ok::<_, anyhow::Error>(ClientRun {
                        hist,
                        count,
                        warm_count,
                        start,
                        end: now,
                    })
                })
            })
            .collect();
        let mut runs = Vec::with_capacity(clients);
        for t in tasks {
            runs.push(
                t.await
                    .map_err(|e| anyhow!("a client task failed: {e}"))??,
            );
        }
        merge(runs, size)
    })
}
