//! Calls of local threads forwarded to another node: one bidirectional stream per call.
//!
//! The task writes `PeerStreamFrame { call }`, then waits for the one `local::Response` the
//! callee writes, meanwhile writing `PeerStreamFrame { unblock }` if the kernel cancels the
//! call. Whatever ends the stream first (answer, reset, lost connection, malformed answer,
//! our thread's exit) the driver gets exactly one result; without an answer it is `ESRCH`.
//! A call is never sent twice.

use std::sync::Arc;

use qnet_core::{Call, Completion, Credentials, Errno, ThreadKey};
use qnet_proto::local;
use qnet_proto::peer::{PeerCall, PeerStreamFrame, PeerUnblock, RemoteThread, peer_stream_frame};
use qnet_transport::PeerConnection;
use tokio::sync::mpsc;

use super::Signal;
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
    /// Id of this call in the peer table.
    pub id: u64,
    /// Largest frame.
    pub max_frame_len: usize,
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

/// Run `job` on `conn` and hand its result to the driver.
pub async fn run(
    driver: Arc<Driver>,
    conn: Option<PeerConnection>,
    job: Forwarded,
    signals: mpsc::UnboundedReceiver<Signal>,
) {
    let (thread, id) = (job.thread, job.id);
    let peer = conn
        .as_ref()
        .map(|c| c.peer_node().to_owned())
        .unwrap_or_default();
    let result = match conn {
        None => Err(CallError::NoLink),
        Some(conn) => exchange(&conn, job, signals).await,
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
    if let Some(peers) = driver.peers() {
        peers.call_done(thread, id);
    }
    driver.forward_result(thread, result);
}

async fn exchange(
    conn: &PeerConnection,
    job: Forwarded,
    mut signals: mpsc::UnboundedReceiver<Signal>,
) -> Result<Result<Completion, Errno>, CallError> {
    let (mut send, mut recv) = conn.open_bi().await?;
    let frame = PeerStreamFrame {
        frame: Some(peer_stream_frame::Frame::Call(PeerCall {
            thread: Some(RemoteThread {
                pid: job.thread.pid,
                tid: job.thread.tid,
                uid: job.cred.uid,
                gid: job.cred.gid,
            }),
            request: Some(local::Request::from(&job.call)),
        })),
    };
    drop(job.call);
    frames::write(&mut send, &frame).await?;
    let mut reader = FrameReader::new(job.max_frame_len);
    let mut signals_open = true;
    loop {
        tokio::select! {
            answer = reader.read::<local::Response>(&mut recv) => {
                let response = answer?.ok_or(CallError::NoAnswer)?;
                return Ok(Result::<Completion, Errno>::try_from(response)?);
            }
            signal = signals.recv(), if signals_open => match signal {
                Some(Signal::Unblock) => {
                    let unblock = PeerStreamFrame {
                        frame: Some(peer_stream_frame::Frame::Unblock(PeerUnblock {})),
                    };
                    // A failed write shows up as a failed read next.
                    let _ = frames::write(&mut send, &unblock).await;
                }
                Some(Signal::Abandon) => {
                    let _ = send.reset(0u32.into());
                    let _ = recv.stop(0u32.into());
                    return Err(CallError::Abandoned);
                }
                None => signals_open = false,
            },
        }
    }
}
