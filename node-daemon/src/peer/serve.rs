//! Calls of remote threads: each bidirectional stream a peer opens (after the control
//! stream) carries one call.
//!
//! The task reads `PeerStreamFrame { call }`, waits until the pulses its node queued on this
//! connection before it were handled (`PeerCall.after_pulses`, see `pulses`), runs it on the
//! kernel as the remote thread `ThreadKey { nd: the peer's nd, pid, tid }` (its process
//! started with the credentials the peer vouches for), writes the one `local::Response` when
//! it comes and finishes the stream (the FIN rides with the answer). The caller finished its
//! side with the call; its cancels come on the control stream by seq (`control`,
//! [`Driver::remote_unblock`]). A stream that the caller stops or resets before the answer
//! means the calling thread is gone ([`Driver::remote_call_abandoned`]). A malformed frame
//! resets that one stream with a warning naming the peer; the connection and every other
//! stream carry on.
//!
//! The peer is authenticated, not trusted: only the calls a forwarding daemon sends run
//! ([`forwardable`]; others are answered `EPERM`), a call above our message limit is
//! answered `EMSGSIZE` and one our memory budget for the peer cannot hold `EAGAIN`, both
//! unread (the reader is charged and timed out: `frames`, `budget`). Warnings about one peer
//! go through its log rate limit.

use std::sync::Arc;

use qnet_core::{Call, Credentials, Errno, ThreadKey};
use qnet_proto::frame::FrameError;
use qnet_proto::local;
use qnet_proto::peer::{PeerStreamFrame, peer_stream_frame};
use qnet_transport::{RecvStream, SendStream};
use tokio::sync::{mpsc, watch};

use super::PeerNode;
use super::frames::{self, FrameReader, StreamError};
use crate::driver::Driver;

/// STOP_SENDING code of a call stream whose call was refused unread (above the message
/// limit, or beyond the memory budget).
const STOP_REFUSED: u32 = 2;

/// Why a call stream was closed without an answer.
#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error("{0}")]
    Stream(#[from] StreamError),
    #[error("unexpected frame: {0}")]
    Unexpected(&'static str),
    #[error("malformed call: {0}")]
    Malformed(#[from] qnet_proto::convert::ConvertError),
    #[error("admin stream: {0}")]
    Admin(#[from] super::admin::ServeError),
    #[error("the caller stopped the stream")]
    Stopped,
}

/// Serve the call on one stream opened by peer `node`.
pub async fn serve(
    driver: Arc<Driver>,
    node: Arc<PeerNode>,
    mut send: SendStream,
    mut recv: RecvStream,
    max_frame_len: usize,
    pulses: watch::Receiver<u64>,
) {
    let peer = &node.name;
    let mut reader = node.reader(max_frame_len);
    match serve_call(&driver, &node, &mut send, &mut recv, &mut reader, pulses).await {
        Ok(()) => {}
        Err(ServeError::Stream(StreamError::Io(e))) => {
            tracing::debug!(%peer, error = %e, "call stream ended");
        }
        Err(ServeError::Stopped) => tracing::debug!(%peer, "call stream stopped by the caller"),
        Err(e) => {
            if let Some(suppressed) = node.warn_allowed() {
                tracing::warn!(%peer, reason = %e, suppressed, "closing call stream");
            }
            let _ = send.reset(1u32.into());
            let _ = recv.stop(1u32.into());
        }
    }
}

/// The trust rule: a peer is authenticated, not trusted. It may run here only the calls its
/// daemon forwards for its own threads (`qnet_core` `Kernel::remote_call` forwards exactly
/// these: `ConnectAttach` of a local channel, `name_open` of a local name, `MsgSend`,
/// `MsgSendPulse` and `ConnectDetach` on the connections it made, registering and
/// unregistering events with their servers, and resolving and listing this node's paths for
/// `/net/<node>/…`). Everything else (making channels, attaching names or paths, receiving,
/// replying, ...) would let a remote node act as a local process here.
pub fn forwardable(call: &Call) -> bool {
    matches!(
        call,
        Call::ConnectAttach { nd: 0, .. }
            | Call::NameOpen { .. }
            | Call::MsgSend { .. }
            | Call::MsgSendPulse { .. }
            | Call::ConnectDetach { .. }
            | Call::MsgRegisterEvent { .. }
            | Call::MsgUnregisterEvent { .. }
            | Call::PathResolve { .. }
            | Call::PathList { .. }
    )
}

async fn serve_call(
    driver: &Driver,
    node: &PeerNode,
    send: &mut SendStream,
    recv: &mut RecvStream,
    reader: &mut FrameReader,
    mut pulses: watch::Receiver<u64>,
) -> Result<(), ServeError> {
    let first = match reader.read::<PeerStreamFrame>(recv).await {
        // A call above our message limit (a peer that did not learn it from our hello):
        // answered as a local sender would be, without reading it.
        Err(StreamError::Frame(FrameError::TooLarge { .. })) => {
            return refuse(send, recv, Errno::EMSGSIZE).await;
        }
        // This node cannot buffer the call now (the peer's or the daemon's memory budget is
        // in use): EAGAIN, try again, rather than a lost node's ESRCH.
        Err(e @ StreamError::Budget(_)) => {
            if let Some(suppressed) = node.warn_allowed() {
                tracing::warn!(peer = %node.name, reason = %e, suppressed, "refused a call stream (EAGAIN)");
            }
            return refuse(send, recv, Errno::EAGAIN).await;
        }
        other => other?,
    };
    let call = match first {
        None => return Ok(()),
        Some(PeerStreamFrame {
            frame: Some(peer_stream_frame::Frame::Call(c)),
        }) => c,
        // Introspection (`qnet pidin -n`, `qnet ping`): see `admin`.
        Some(PeerStreamFrame {
            frame:
                Some(f @ (peer_stream_frame::Frame::Admin(_) | peer_stream_frame::Frame::Ping(_))),
        }) => return Ok(super::admin::serve(driver, f, send, recv, reader).await?),
        Some(_) => return Err(ServeError::Unexpected("first frame is not a call")),
    };
    let who = call
        .thread
        .ok_or(ServeError::Unexpected("call without its thread"))?;
    let request = call
        .request
        .ok_or(ServeError::Unexpected("call without its request"))?;
    let thread = ThreadKey {
        nd: node.nd,
        pid: who.pid,
        tid: who.tid,
    };
    let cred = Credentials {
        uid: who.uid,
        gid: who.gid,
    };
    let seq = call.seq;
    let after_pulses = call.after_pulses;
    let call = Call::try_from(request)?;
    if !forwardable(&call) {
        if let Some(suppressed) = node.warn_allowed() {
            tracing::warn!(
                peer = %node.name,
                %thread,
                call = call_name(&call),
                suppressed,
                "refused a call a forwarded client never makes (EPERM)"
            );
        }
        frames::write(send, &local::Response::from(Errno::EPERM)).await?;
        let _ = send.finish();
        return Ok(());
    }
    // The pulses the caller's thread (or any of its node's) sent before this call on this
    // connection run first (`pulses`).
    if after_pulses > *pulses.borrow() {
        tokio::select! {
            running = super::pulses::wait_for(&mut pulses, after_pulses) => {
                if !running {
                    // The link is closing: the call never runs, as if it never arrived.
                    let _ = send.reset(0u32.into());
                    return Ok(());
                }
            }
            _ = send.stopped() => return Err(ServeError::Stopped),
        }
    }
    node.counters().served(crate::driver::payload_len(&call));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let response = match driver.remote_call(thread, seq, cred, call, &tx) {
        Some(r) => r,
        None => {
            let waited = wait(&mut rx, send, recv, reader).await;
            if !matches!(waited, Ok(Some(_))) {
                driver.remote_call_abandoned(thread, seq, &tx);
            }
            match waited? {
                Some(r) => r,
                // The thread is gone here (its node said so): no answer, the stream ends.
                None => {
                    let _ = send.reset(0u32.into());
                    return Ok(());
                }
            }
        }
    };
    frames::write_split(send, response).await?;
    // The answer still leaves after the stream is dropped.
    let _ = send.finish();
    Ok(())
}

/// The name of `call`'s kind, for a log line (its payload is not logged).
fn call_name(call: &Call) -> &'static str {
    match call {
        Call::ChannelCreate { .. } => "ChannelCreate",
        Call::ChannelDestroy { .. } => "ChannelDestroy",
        Call::ConnectAttach { .. } => "ConnectAttach",
        Call::ConnectDetach { .. } => "ConnectDetach",
        Call::ScoidDetach { .. } => "ScoidDetach",
        Call::MsgSend { .. } => "MsgSend",
        Call::MsgReceive { .. } => "MsgReceive",
        Call::MsgReply { .. } => "MsgReply",
        Call::MsgError { .. } => "MsgError",
        Call::MsgRead { .. } => "MsgRead",
        Call::MsgWrite { .. } => "MsgWrite",
        Call::MsgInfo { .. } => "MsgInfo",
        Call::MsgSendPulse { .. } => "MsgSendPulse",
        Call::NameAttach { .. } => "NameAttach",
        Call::NameAttachChannel { .. } => "NameAttachChannel",
        Call::NameDetach { .. } => "NameDetach",
        Call::NameOpen { .. } => "NameOpen",
        Call::ConnectClientInfo { .. } => "ConnectClientInfo",
        Call::MsgRegisterEvent { .. } => "MsgRegisterEvent",
        Call::MsgUnregisterEvent { .. } => "MsgUnregisterEvent",
        Call::MsgVerifyEvent { .. } => "MsgVerifyEvent",
        Call::MsgDeliverEvent { .. } => "MsgDeliverEvent",
        Call::Unblock { .. } => "Unblock",
        Call::PathAttach { .. } => "PathAttach",
        #[allow(unreachable_patterns)]
        _ => "another call",
    }
}

/// Answer a call stream whose call was not read with `errno`, and stop its sender.
async fn refuse(
    send: &mut SendStream,
    recv: &mut RecvStream,
    errno: Errno,
) -> Result<(), ServeError> {
    let _ = recv.stop(STOP_REFUSED.into());
    frames::write(send, &local::Response::from(errno)).await?;
    let _ = send.finish();
    Ok(())
}

/// Wait for the blocked call's answer. `Ok(None)`: the route was dropped. The caller stopping
/// or resetting the stream is an error (its thread is gone).
async fn wait(
    rx: &mut mpsc::UnboundedReceiver<crate::driver::Answer>,
    send: &SendStream,
    recv: &mut RecvStream,
    reader: &mut FrameReader,
) -> Result<Option<local::Response>, ServeError> {
    let stopped = send.stopped();
    tokio::pin!(stopped);
    let mut reading = true;
    loop {
        tokio::select! {
            answer = rx.recv() => return Ok(answer.map(local::Response::from)),
            _ = &mut stopped => return Err(ServeError::Stopped),
            // Nothing is read into a buffer here: a blocked call holds no frame memory.
            end = reader.read_end(recv), if reading => match end {
                // The caller finished its side (with the call, normally).
                Ok(()) => reading = false,
                Err(StreamError::Trailing) => {
                    return Err(ServeError::Unexpected("bytes after the call on a call stream"))
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use qnet_core::ChannelFlags;

    use super::*;

    /// What a forwarding daemon sends passes; what only a local process may do does not.
    #[test]
    fn only_calls_a_forwarded_client_makes_are_forwardable() {
        let flags = ChannelFlags::default();
        let allowed = [
            Call::ConnectAttach {
                nd: 0,
                pid: 1,
                chid: 1,
            },
            Call::NameOpen { name: "x".into() },
            Call::ConnectDetach { coid: 1 },
            Call::PathResolve {
                path: "/dev/x".into(),
                file_type: 0,
            },
            Call::PathList { path: "/".into() },
        ];
        let refused = [
            Call::ChannelCreate { flags },
            Call::ChannelDestroy { chid: 1 },
            Call::NameAttach {
                name: "squat".into(),
                flags,
            },
            Call::NameAttachChannel {
                name: "squat".into(),
                chid: 1,
            },
            Call::NameDetach { chid: 1 },
            Call::PathAttach {
                path: "/dev/squat".into(),
                chid: 1,
                flags: qnet_core::paths::PathFlags::default(),
                file_type: 0,
            },
            Call::PathDetach { id: 1 },
            Call::MsgReceive {
                chid: 1,
                cap: 64,
                timeout: None,
            },
            // A remote thread's own ConnectAttach names a local channel (nd 0) only.
            Call::ConnectAttach {
                nd: 3,
                pid: 1,
                chid: 1,
            },
        ];
        for c in &allowed {
            assert!(forwardable(c), "{c:?}");
        }
        for c in &refused {
            assert!(!forwardable(c), "{c:?}");
        }
    }
}
