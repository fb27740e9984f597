//! One-way pulses between daemons: one unidirectional stream per connection, many pulses
//! per frame.
//!
//! A `MsgSendPulse` on a remote connection completes on this node (the kernel decides it:
//! `Output::ForwardPulse`); the pulse is pushed on the [`PulseQueue`] of the node's newest
//! link, and that link's [`write`] task sends whatever has queued as one `PeerPulses` frame
//! per write, so a fast sender's pulses share QUIC packets. The kernel bounds what is queued
//! and not yet written per node (`Config::max_unsent_pulses`, `EAGAIN` past it): the task
//! reports every pulse it took once it was written or lost ([`Driver::pulses_sent`]).
//!
//! Order with calls: the queue counts the pulses ever pushed on it, and a call forwarded on
//! the same link carries that count (`PeerCall.after_pulses`). The serving side counts the
//! pulses it handled from the link's pulse stream ([`read`], a `watch` of the count) and runs
//! a call only once that count reaches its tag (`serve`): a pulse followed by a send from the
//! same thread is received first, as with local pulses. Both counts belong to one connection:
//! a new link starts at 0 on both sides, and pulses still queued when a link dies are lost
//! with it (best effort), never waited for.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use qnet_core::{Nd, RemotePulse, ThreadKey};
use qnet_proto::frame::encode_frame;
use qnet_proto::peer::{PeerPulse, PeerPulses};
use qnet_transport::PeerConnection;
use tokio::sync::{Notify, watch};

use super::PeerNode;
use super::frames::StreamError;
use crate::driver::Driver;

/// Most pulses written as one frame (and accepted in one: a larger frame breaks the
/// protocol, so that one frame never holds the kernel's lock for long).
const MAX_BATCH: usize = 4096;

/// Largest pulse frame read: [`MAX_BATCH`] pulses of at most 40 bytes each, with room.
const MAX_PULSE_FRAME: usize = 256 * 1024;

/// The pulses of one link not yet written, and how many were ever queued on it.
#[derive(Debug, Default)]
pub struct PulseQueue {
    inner: Mutex<Queued>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queued {
    pulses: Vec<PeerPulse>,
    /// Pulses ever pushed (the tag of a call forwarded after them).
    pushed: u64,
    /// The link is gone: nothing more is taken.
    closed: bool,
}

impl PulseQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a pulse of `thread`; `false` if the link is gone.
    pub fn push(&self, thread: ThreadKey, pulse: RemotePulse) -> bool {
        let mut q = self.lock();
        if q.closed {
            return false;
        }
        q.pulses.push(PeerPulse {
            pid: thread.pid,
            tid: thread.tid,
            coid: pulse.coid,
            priority: u32::from(pulse.priority),
            code: i32::from(pulse.code),
            value: pulse.value,
        });
        q.pushed += 1;
        drop(q);
        self.ready.notify_one();
        true
    }

    /// Pulses ever queued on this link: a call forwarded now runs after that many.
    pub fn pushed(&self) -> u64 {
        self.lock().pushed
    }

    /// The link is gone: take no more; how many queued pulses are lost.
    pub fn close(&self) -> u64 {
        let mut q = self.lock();
        q.closed = true;
        let lost = q.pulses.len() as u64;
        q.pulses = Vec::new();
        drop(q);
        self.ready.notify_one();
        lost
    }

    /// Up to [`MAX_BATCH`] queued pulses, oldest first; `None` once closed and empty.
    fn take(&self) -> Option<Vec<PeerPulse>> {
        let mut q = self.lock();
        if q.pulses.is_empty() {
            return if q.closed { None } else { Some(Vec::new()) };
        }
        Some(if q.pulses.len() <= MAX_BATCH {
            std::mem::take(&mut q.pulses)
        } else {
            let rest = q.pulses.split_off(MAX_BATCH);
            std::mem::replace(&mut q.pulses, rest)
        })
    }
}

/// Write the pulses queued on `queue` to node `nd` on a unidirectional stream of `conn`
/// (opened with the first pulse), each batch as one frame, until the link is gone. Every
/// pulse taken is reported to the driver once, written or lost.
pub async fn write(driver: Arc<Driver>, nd: Nd, conn: PeerConnection, queue: Arc<PulseQueue>) {
    let mut stream = None;
    let mut failed = false;
    loop {
        let Some(batch) = queue.take() else { return };
        if batch.is_empty() {
            queue.ready.notified().await;
            continue;
        }
        let n = batch.len() as u64;
        if !failed {
            if let Err(e) = write_batch(&conn, &mut stream, batch).await {
                // The link is dying: what is queued now is lost too (its run ends soon and
                // closes the queue; until then pulses taken here are dropped and reported).
                tracing::debug!(nd, error = %e, "pulse stream failed");
                failed = true;
            }
        }
        driver.pulses_sent(nd, n);
    }
}

async fn write_batch(
    conn: &PeerConnection,
    stream: &mut Option<quinn::SendStream>,
    pulses: Vec<PeerPulse>,
) -> Result<(), StreamError> {
    let send = match stream {
        Some(s) => s,
        None => stream.insert(
            conn.quinn()
                .open_uni()
                .await
                .map_err(|e| StreamError::Io(e.into()))?,
        ),
    };
    let frame = PeerPulses { pulses };
    let mut buf = BytesMut::new();
    encode_frame(&frame, &mut buf);
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}

/// Why a peer's pulse stream was given up.
#[derive(Debug, thiserror::Error)]
pub enum PulseError {
    /// The stream or a frame on it is bad.
    #[error("pulse stream: {0}")]
    Stream(#[from] StreamError),
    /// A pulse that no sending daemon writes.
    #[error("pulse stream: malformed pulse ({0})")]
    Malformed(&'static str),
    /// The connection is gone.
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
}

/// Serve the pulse streams `node` opens on `conn`: run each pulse on the kernel as its
/// thread's, in order, and count them in `handled` (calls wait on it). Returns when the
/// connection ends or a stream breaks the protocol (then the link closes: the order of its
/// calls could no longer be kept).
pub async fn read(
    driver: &Driver,
    node: &PeerNode,
    conn: &PeerConnection,
    handled: &watch::Sender<u64>,
) -> PulseError {
    loop {
        let mut recv = match conn.quinn().accept_uni().await {
            Ok(r) => r,
            Err(e) => return e.into(),
        };
        let mut reader = node.reader(MAX_PULSE_FRAME);
        loop {
            let frame = match reader.read::<PeerPulses>(&mut recv).await {
                Ok(Some(f)) => f,
                // A finished stream: the next one (if any) goes on counting.
                Ok(None) => break,
                Err(e) => return e.into(),
            };
            if frame.pulses.len() > MAX_BATCH {
                return PulseError::Malformed("more pulses in one frame than a sender writes");
            }
            let mut pulses = Vec::with_capacity(frame.pulses.len());
            for p in &frame.pulses {
                match pulse_from_wire(node.nd, p) {
                    Ok(x) => pulses.push(x),
                    Err(what) => return PulseError::Malformed(what),
                }
            }
            let n = pulses.len() as u64;
            let refused = driver.remote_pulses(pulses);
            if refused > 0 {
                tracing::debug!(peer = %node.name, refused, "one-way pulses refused");
            }
            handled.send_modify(|h| *h += n);
        }
    }
}

/// A wire pulse from node `nd` as the kernel's input; a field out of its range is malformed.
fn pulse_from_wire(nd: Nd, p: &PeerPulse) -> Result<(ThreadKey, RemotePulse), &'static str> {
    let pulse = RemotePulse {
        coid: p.coid,
        priority: u8::try_from(p.priority).map_err(|_| "priority")?,
        code: i8::try_from(p.code).map_err(|_| "code")?,
        value: p.value,
    };
    let thread = ThreadKey {
        nd,
        pid: p.pid,
        tid: p.tid,
    };
    Ok((thread, pulse))
}

/// Wait until `handled` reaches `after` pulses. `false`: the pulse stream's reader is gone
/// (the link is closing), so the call will not run.
pub async fn wait_for(handled: &mut watch::Receiver<u64>, after: u64) -> bool {
    if *handled.borrow() >= after {
        return true;
    }
    handled.wait_for(|&h| h >= after).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pulse(value: i32) -> RemotePulse {
        RemotePulse {
            coid: 1,
            priority: 10,
            code: 1,
            value,
        }
    }

    /// The queue hands pulses out in order, in batches of at most `MAX_BATCH`, counts every
    /// pulse ever pushed (the tag of a later call), and once closed takes nothing more and
    /// says how many it dropped.
    #[test]
    fn the_queue_keeps_order_counts_and_closes() {
        let q = PulseQueue::default();
        let t = ThreadKey::local(1, 1);
        for v in 0..(MAX_BATCH as i32 + 10) {
            assert!(q.push(t, pulse(v)));
        }
        assert_eq!(q.pushed(), MAX_BATCH as u64 + 10);
        let first = q.take().unwrap();
        assert_eq!(first.len(), MAX_BATCH);
        assert_eq!(first[0].value, 0);
        assert_eq!(first[MAX_BATCH - 1].value, MAX_BATCH as i32 - 1);
        let second = q.take().unwrap();
        assert_eq!(second.len(), 10);
        assert_eq!(second[0].value, MAX_BATCH as i32);
        assert_eq!(q.take(), Some(Vec::new()));
        assert!(q.push(t, pulse(-1)));
        assert_eq!(q.close(), 1);
        assert!(!q.push(t, pulse(-2)), "closed");
        assert_eq!(q.take(), None);
        assert_eq!(q.pushed(), MAX_BATCH as u64 + 11);
    }

    /// A wire pulse whose priority or code does not fit the kernel's types is malformed,
    /// never truncated into another pulse.
    #[test]
    fn out_of_range_fields_are_malformed() {
        let ok = PeerPulse {
            pid: 7,
            tid: 2,
            coid: 5,
            priority: 10,
            code: 1,
            value: -9,
        };
        let (thread, p) = pulse_from_wire(3, &ok).unwrap();
        assert_eq!((thread.nd, thread.pid, thread.tid), (3, 7, 2));
        assert_eq!((p.coid, p.priority, p.code, p.value), (5, 10, 1, -9));
        let bad_priority = PeerPulse {
            priority: 256,
            ..ok
        };
        assert!(pulse_from_wire(3, &bad_priority).is_err());
        let bad_code = PeerPulse { code: 128, ..ok };
        assert!(pulse_from_wire(3, &bad_code).is_err());
    }
}
