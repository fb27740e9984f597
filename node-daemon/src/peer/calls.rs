//! Calls of local threads forwarded to another node: one bidirectional stream per call.
//!
//! The task writes `PeerStreamFrame { call }` and finishes its side in the same write (the
//! FIN rides in the call's packet: nothing more is ever written on a call stream), then waits
//! for the one `local::Response` the callee writes. A cancel does not travel here: it goes
//! on the control stream naming the call's seq (`Network::forward_unblock` of `Peers`). Whatever
//! ends the stream first (answer, reset, lost connection, malformed answer, our thread's exit)
//! the driver gets exactly one result, with the call's seq; without an answer it is `ESRCH`.
//! Whether it still counts (the thread may have been released and forwarded a newer call) is
//! the kernel's decision. Our thread's exit stops
//! and resets the stream, which the callee takes as that remote thread's exit. A call is never
//! sent twice.

use std::sync::Arc;

use qnet_core::{Call, Completion, Credentials, Errno, ThreadKey};
use qnet_proto::local;
use qnet_proto::peer::{PeerCall, PeerStreamFrame, RemoteThread, peer_stream_frame};
use qnet_transport::{PeerConnection, RecvStream};
use tokio::sync::oneshot;

use super::Peers;
use super::frames::{self, FrameReader, StreamError};
use crate::driver::Driver;

/// One forwarded call.
#[derive(Debug)]
pub struct Forwarded {
    /// The calling local thread.
    pub thread: ThreadKey,
    /// Its process's credentials (the callee's `ConnectClientInfo`).
    pub cred: Credentials,
    /// The call, as the callee runs it.
    pub call: Call,
    /// The kernel's seq of this call (its key in the peer table and on the wire).
    pub seq: u64,
    /// One-way pulses queued on the link before this call (`PeerCall.after_pulses`).
    pub after_pulses: u64,
    /// Largest frame.
    pub max_frame_len: usize,
    /// The callee's largest send or reply buffer, as its hello said (`None`: not told).
    pub peer_max_message: Option<u64>,
}

impl Forwarded {
    /// `EMSGSIZE` if the callee's limit refuses this call's buffers: the same check its
    /// kernel makes for a local sender, made here so that the message is never sent.
    fn too_large(&self) -> bool {
        match (&self.call, self.peer_max_message) {
            (
                Call::MsgSend {
                    data, reply_cap, ..
                },
                Some(max),
            ) => data.len() as u64 > max || *reply_cap > max,
            _ => false,
        }
    }
}

/// Why a forwarded call got no answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("no live link to the node")]
    NoLink,
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("stream ended without an answer")]
    NoAnswer,
    #[error("malformed answer: {0}")]
    Malformed(#[from] qnet_proto::convert::ConvertError),
    #[error("the calling thread is gone")]
    Abandoned,
}

/// How long an answered call's stream may take to show its end (normally it came with the
/// answer).
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Run `job` on `conn` and hand its result to the driver.
pub async fn run(
    driver: Arc<Driver>,
    peers: Arc<Peers>,
    conn: Option<PeerConnection>,
    job: Forwarded,
    abandon: oneshot::Receiver<()>,
) {
    let (thread, seq) = (job.thread, job.seq);
    let peer = conn
        .as_ref()
        .map(|c| c.peer_node().to_owned())
        .unwrap_or_default();
    let mut rest = None;
    let result = match conn {
        None => Err(CallError::NoLink),
        Some(_) if job.too_large() => Ok(Err(Errno::EMSGSIZE)),
        Some(conn) => match exchange(&conn, job, abandon).await {
            Ok((r, recv, reader)) => {
                rest = Some((recv, reader));
                Ok(r)
            }
            Err(e) => Err(e),
        },
    };
    let result = result.unwrap_or_else(|e| {
        match e {
            CallError::Malformed(_) => {
                tracing::warn!(peer = %peer, %thread, reason = %e, "forwarded call failed")
            }
            _ => tracing::debug!(peer = %peer, %thread, reason = %e, "forwarded call failed"),
        }
        Err(Errno::ESRCH)
    });
    // The result goes with its seq: the kernel drops a stale one (it released this call
    // already, e.g. on a peer restart, and the thread may have forwarded a newer one since).
    peers.finished(thread, seq);
    driver.forward_result(thread, seq, result);
    // Read the stream to its end (the callee's FIN came with the answer), so that dropping it
    // does not send a needless STOP_SENDING.
    if let Some((mut recv, mut reader)) = rest {
        let _ =
            tokio::time::timeout(DRAIN_TIMEOUT, reader.read::<local::Response>(&mut recv)).await;
    }
}

async fn exchange(
    conn: &PeerConnection,
    job: Forwarded,
    mut abandon: oneshot::Receiver<()>,
) -> Result<(Result<Completion, Errno>, RecvStream, FrameReader), CallError> {
    // A thread gone while its call waits for a stream (the peer's window is full) sends
    // nothing: its exit notice is the last word about it there.
    let (mut send, mut recv) = tokio::select! {
        opened = conn.open_bi() => opened?,
        _ = &mut abandon => return Err(CallError::Abandoned),
    };
    let frame = PeerStreamFrame {
        frame: Some(peer_stream_frame::Frame::Call(PeerCall {
            thread: Some(RemoteThread {
                pid: job.thread.pid,
                tid: job.thread.tid,
                uid: job.cred.uid,
                gid: job.cred.gid,
            }),
            request: Some(local::Request::from(&job.call)),
            seq: job.seq,
            after_pulses: job.after_pulses,
        })),
    };
    drop(job.call);
    let written = frames::write_split(&mut send, frame).await;
    // Nothing else is written here: the FIN leaves with the call. A write that failed (the
    // callee stopped reading: it refused an oversized call) may still have its answer.
    if written.is_ok() {
        let _ = send.finish();
    }
    let mut reader = FrameReader::new(job.max_frame_len);
    tokio::select! {
        answer = reader.read::<local::Response>(&mut recv) => {
            let response = match (answer, written) {
                (Ok(Some(r)), _) => r,
                (_, Err(e)) => return Err(e.into()),
                (Ok(None), Ok(())) => return Err(CallError::NoAnswer),
                (Err(e), Ok(())) => return Err(e.into()),
            };
            Ok((Result::<Completion, Errno>::try_from(response)?, recv, reader))
        }
        // Our thread is gone (or its entry was dropped): stop the stream, the callee treats
        // that as the remote thread's exit.
        _ = &mut abandon => {
            let _ = recv.stop(0u32.into());
            let _ = send.reset(0u32.into());
            Err(CallError::Abandoned)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(len: usize, reply_cap: u64, peer_max_message: Option<u64>) -> Forwarded {
        Forwarded {
            thread: ThreadKey::local(1, 1),
            cred: Credentials::default(),
            call: Call::MsgSend {
                coid: 1,
                data: bytes::Bytes::from(vec![0; len]),
                reply_cap,
                priority: 10,
                realtime: false,
                timeout: None,
            },
            seq: 1,
            after_pulses: 0,
            max_frame_len: 1 << 20,
            peer_max_message,
        }
    }

    /// The callee's limit from its hello refuses a send or reply buffer above it, as its
    /// kernel would; without a limit (an older peer) the call goes and the callee decides.
    #[test]
    fn a_send_above_the_callees_limit_is_refused_before_sending() {
        assert!(send(1001, 10, Some(1000)).too_large());
        assert!(send(10, 1001, Some(1000)).too_large());
        assert!(!send(1000, 1000, Some(1000)).too_large());
        assert!(!send(1 << 20, 1 << 20, None).too_large());
    }
}
