//! One Unix-socket session: credentials, the hello, then frames until the end of the stream.
//!
//! The peer's pid/uid/gid come from SO_PEERCRED, never from frames. The hello is read with
//! exact-length reads (so nothing past it is consumed before an SHM session's fd-carrying
//! frame, which must be read with `recvmsg`). Then, by kind:
//!
//! - THREAD: request/response frames, each request decoded into a [`LocalRequest`]: a kernel
//!   call for the [`Driver`], a netmgr lookup, or a `MsgReplyReceive` (a qnet extension, two
//!   calls run in order with one response); completions of blocked calls arrive on the
//!   session's outbox;
//! - PROCESS: no frames at all, only its end matters (process liveness);
//! - SHM: shared-memory handle requests, served by the [`ShmRegistry`] with fd passing;
//! - ADMIN: read-only introspection requests, served by `admin` (no kernel presence).
//!
//! Any malformed, oversized or unexpected frame ends that one session with a warning naming
//! the reason and the peer pid. Nothing a client sends can panic the daemon.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use qnet_core::{Completion, Credentials, Errno, Pid, ProcessKey, ThreadKey};
use qnet_proto::codec::{CallFailure, DirectRequest, LocalAnswer, LocalRequest, ShmRequest};
use qnet_proto::convert::ConvertError;
use qnet_proto::frame::FrameError;
use qnet_proto::hello::{self, BadHello, MAX_HELLO_LEN};
use qnet_proto::local::{self, ClientFrame, SessionKind, client_frame, daemon_frame};
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::fdpass;
use super::frames::{FrameReader, Writer};
use super::one_copy::{ClientProcess, ClientProcesses, Pending};
use super::shm::ShmRegistry;
use crate::driver::Driver;
use crate::peer::Peers;

/// Largest frame on an SHM session; its requests are a few bytes.
const MAX_SHM_FRAME_LEN: usize = 1024;
/// A connection that sends no hello within this time is closed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// What every session shares.
#[derive(Debug)]
pub struct SessionContext {
    /// The kernel's driver.
    pub driver: Arc<Driver>,
    /// Shared-memory handles.
    pub shm: ShmRegistry,
    /// This node's name (sent in the hello ack).
    pub node: String,
    /// Message-size limit (sent in the hello ack).
    pub max_message_size: u64,
    /// Largest frame a THREAD session accepts.
    pub max_frame_len: usize,
    /// One copy is offered (`--one-copy on`): see `one_copy`.
    pub one_copy: bool,
    /// The pidfds of one copy's clients, one per process.
    pub clients: ClientProcesses,
    /// Expiry of this node's certificate (unix seconds), for `qnet nodes`.
    pub cert_not_after: Option<i64>,
    /// The peer table, when the daemon listens for peers: ADMIN sessions show it and reach
    /// other nodes through it.
    pub peers: Option<Arc<Peers>>,
}

/// Why a session was closed by the daemon.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A frame could not be decoded (malformed, too large, truncated).
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A well-formed frame the protocol does not allow here.
    #[error("unexpected frame: {0}")]
    Unexpected(&'static str),
    /// No hello arrived in time.
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    /// SO_PEERCRED gave no pid.
    #[error("peer credentials carry no pid")]
    NoPeerPid,
}

/// The peer process, as the kernel reports it.
#[derive(Clone, Copy, Debug)]
struct Peer {
    pid: Pid,
    cred: Credentials,
}

/// Serve one connection until it ends, the client breaks the protocol, or `cancel`.
pub async fn serve(mut stream: UnixStream, ctx: Arc<SessionContext>, cancel: CancellationToken) {
    let peer = match peer(&stream) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(reason = %e, "closing session");
            return;
        }
    };
    // Taken at once, so that it names the process that connected (see `ClientProcess`);
    // kept only by a THREAD session with one copy, shared with the process's others.
    let process = match ctx.one_copy {
        true => ctx.clients.open(peer.pid),
        false => None,
    };
    let result = tokio::select! {
        // Cancellation first: once the daemon stops, a session writes nothing more.
        biased;
        _ = cancel.cancelled() => Ok(()),
        r = session(&mut stream, &ctx, peer, process) => r,
    };
    match result {
        Ok(()) => tracing::debug!(pid = peer.pid, "session ended"),
        // A client thread or process that ends with a call in flight (killed, cancelled,
        // exited) resets its socket: an ordinary end, handled as its exit, not a warning.
        Err(SessionError::Io(e)) if went_away(&e) => {
            tracing::debug!(pid = peer.pid, reason = %e, "session ended: the client went away")
        }
        Err(e) => tracing::warn!(pid = peer.pid, reason = %e, "closing session"),
    }
}

/// Whether `e` only says that the client closed its end (reset, or gone while we wrote).
fn went_away(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

fn peer(stream: &UnixStream) -> Result<Peer, SessionError> {
    let cred = stream.peer_cred()?;
    let pid = cred
        .pid()
        .and_then(|p| Pid::try_from(p).ok())
        .ok_or(SessionError::NoPeerPid)?;
    Ok(Peer {
        pid,
        cred: Credentials {
            uid: cred.uid(),
            gid: cred.gid(),
        },
    })
}

async fn session(
    stream: &mut UnixStream,
    ctx: &SessionContext,
    peer: Peer,
    process: Option<Arc<ClientProcess>>,
) -> Result<(), SessionError> {
    let first = match tokio::time::timeout(HELLO_TIMEOUT, read_hello(stream)).await {
        Err(_) => return Err(SessionError::HelloTimeout(HELLO_TIMEOUT)),
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(frame))) => frame,
        Ok(Err(e)) => return Err(e),
    };
    let mut out = Writer::default();
    let (kind, tid, probe) = match hello::check_hello(first) {
        Ok(h) => (h.kind, h.tid, h.one_copy_probe),
        Err(BadHello::NotAHello(what)) => return Err(SessionError::Unexpected(what)),
        Err(BadHello::Refuse(reason)) => {
            tracing::info!(pid = peer.pid, %reason, "refusing session");
            return out.refuse(stream, reason).await;
        }
    };
    // One copy is for THREAD sessions only (the others carry no payloads).
    let client = match (kind, probe, ctx.one_copy, process) {
        (SessionKind::Thread, 1.., true, Some(client)) => {
            match super::one_copy::probe(&client, probe) {
                Ok(()) => Some(client),
                Err(reason) => {
                    tracing::debug!(pid = peer.pid, %reason, "one copy off for this session");
                    None
                }
            }
        }
        _ => None,
    };
    let one_copy = client.is_some();
    let ack = hello::ack_with(
        peer.pid,
        ctx.node.clone(),
        ctx.max_message_size,
        one_copy,
        ctx.driver.direct_offered(),
    );
    match kind {
        SessionKind::Thread => {
            let thread = ThreadKey::local(peer.pid, tid);
            let (tx, rx) = mpsc::unbounded_channel();
            if let Err(busy) = ctx.driver.register_thread(thread, peer.cred, tx) {
                let reason = busy.to_string();
                tracing::info!(pid = peer.pid, %reason, "refusing session");
                return out.refuse(stream, reason).await;
            }
            let _registered = ThreadRegistration {
                driver: &ctx.driver,
                thread,
            };
            out.send(stream, ack).await?;
            let copy = CopyState {
                client,
                pending: Default::default(),
            };
            thread_session(stream, ctx, thread, rx, out, copy).await
        }
        SessionKind::Process => {
            ctx.driver.register_process(peer.pid, peer.cred);
            let _registered = ProcessRegistration {
                driver: &ctx.driver,
                pid: peer.pid,
            };
            out.send(stream, ack).await?;
            let mut byte = [0u8; 1];
            match stream.read(&mut byte).await? {
                0 => Ok(()),
                _ => Err(SessionError::Unexpected(
                    "a process session sends no frames",
                )),
            }
        }
        SessionKind::Shm => {
            out.send(stream, ack).await?;
            shm_session(stream, ctx, peer, out).await
        }
        SessionKind::Admin => {
            out.send(stream, ack).await?;
            super::admin::session(stream, ctx).await
        }
    }
}

/// Read exactly one frame, byte-exact (nothing past it), bounded by [`MAX_HELLO_LEN`].
/// `Ok(None)`: the stream ended before its first byte.
async fn read_hello(stream: &mut UnixStream) -> Result<Option<ClientFrame>, SessionError> {
    FrameReader::new(MAX_HELLO_LEN).read_exact(stream).await
}

/// A THREAD session's one-copy state: the client process (`None`: one copy off) and the
/// buffers of its pending call.
struct CopyState {
    client: Option<Arc<ClientProcess>>,
    pending: Pending,
}

impl CopyState {
    /// The answer to the pending call, its large bytes written into the client first where
    /// the call named a buffer (`Pending::place`).
    fn answer(&mut self, mut response: local::Response) -> daemon_frame::Frame {
        if let Some(client) = &self.client {
            self.pending.place(&mut response, client);
        }
        daemon_frame::Frame::Response(response)
    }
}

async fn thread_session(
    stream: &mut UnixStream,
    ctx: &SessionContext,
    thread: ThreadKey,
    mut outbox: mpsc::UnboundedReceiver<crate::driver::Answer>,
    mut out: Writer,
    mut copy: CopyState,
) -> Result<(), SessionError> {
    set_send_buffer(stream, qnet_proto::SESSION_SEND_BUFFER);
    let mut incoming = FrameReader::new(ctx.max_frame_len);
    // A call is outstanding: the thread is blocked and may send nothing until it is answered.
    let mut blocked = false;
    loop {
        while let Some(frame) = incoming.next_buffered::<ClientFrame>()? {
            let mut request = match frame.frame {
                Some(client_frame::Frame::Request(r)) => r,
                Some(client_frame::Frame::Interrupt(_)) => {
                    // A signal handler ran in the blocked thread: unblock its call (the
                    // answer comes on the outbox). Not blocked: its answer is already
                    // written, and the interrupt came too late to matter.
                    if blocked {
                        ctx.driver.unblock(thread);
                    }
                    continue;
                }
                Some(client_frame::Frame::Hello(_)) => {
                    return Err(SessionError::Unexpected("second hello"));
                }
                None => return Err(SessionError::Unexpected("empty frame")),
            };
            if blocked {
                return Err(SessionError::Unexpected(
                    "request while the previous call is blocked",
                ));
            }
            if let Err(r) = super::one_copy::resolve(
                &mut request,
                copy.client.as_deref(),
                ctx.max_message_size,
                &mut copy.pending,
            ) {
                let response = error_response(r.errno, &r.detail);
                out.send(stream, daemon_frame::Frame::Response(response))
                    .await?;
                continue;
            }
            let response = match LocalRequest::try_from(request) {
                Ok(LocalRequest::Kernel(call)) => ctx.driver.call(thread, call),
                Ok(LocalRequest::Netmgr(request)) => Some(ctx.driver.netmgr(request)),
                Ok(LocalRequest::ReplyReceive(rr)) => {
                    let (reply, receive) = rr.into_calls();
                    ctx.driver.reply_receive(thread, reply, receive)
                }
                Ok(LocalRequest::Shm(_)) => Some(error_response(
                    Errno::EPROTO,
                    "shared-memory handle requests belong on an SHM session",
                )),
                Ok(LocalRequest::Direct(DirectRequest::Receive {
                    chid,
                    cap,
                    timeout,
                    pairs_seen,
                    inherited,
                })) => ctx
                    .driver
                    .direct_receive(thread, chid, cap, timeout, pairs_seen, inherited),
                Ok(LocalRequest::Direct(DirectRequest::Boost { coid, priority })) => {
                    ctx.driver.direct_boost(thread, coid, priority);
                    Some(Completion::Done.into())
                }
                Ok(LocalRequest::Direct(_)) => Some(error_response(
                    Errno::EPROTO,
                    "direct-path segment requests belong on an SHM session",
                )),
                Err(ConvertError::MissingCall) => {
                    return Err(SessionError::Unexpected("request carries no call"));
                }
                Err(e) => Some(error_response(Errno::EINVAL, &e.to_string())),
            };
            match response {
                Some(r) => {
                    let frame = copy.answer(r);
                    out.send(stream, frame).await?
                }
                None => blocked = true,
            }
        }
        tokio::select! {
            Some(answer) = outbox.recv() => {
                blocked = false;
                let frame = copy.answer(local::Response::from(answer));
                out.send(stream, frame).await?;
            }
            more = incoming.fill(stream) => {
                if !more? {
                    return Ok(());
                }
            }
        }
    }
}

/// Ask for a send buffer of `size` bytes; best effort (the default works, only slower).
fn set_send_buffer(stream: &UnixStream, size: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Err(e) = setsockopt(stream, sockopt::SndBuf, &size) {
        tracing::debug!(error = %e, "cannot set SO_SNDBUF on a session");
    }
}

async fn shm_session(
    stream: &mut UnixStream,
    ctx: &SessionContext,
    peer: Peer,
    mut out: Writer,
) -> Result<(), SessionError> {
    let mut incoming = FrameReader::new(MAX_SHM_FRAME_LEN);
    let mut chunk = [0u8; MAX_SHM_FRAME_LEN];
    let mut fds: Vec<OwnedFd> = Vec::new();
    loop {
        let frame = loop {
            if let Some(f) = incoming.next_buffered::<ClientFrame>()? {
                break f;
            }
            let n = fdpass::recv_with_fds(stream, &mut chunk, &mut fds).await?;
            if n == 0 {
                incoming.finish()?;
                return Ok(());
            }
            incoming.feed(chunk.get(..n).unwrap_or_default());
        };
        // Descriptors belong to the frame they arrived with; take them all (extras are closed).
        let mut frame_fds = std::mem::take(&mut fds).into_iter();
        let request = match frame.frame {
            Some(client_frame::Frame::Request(r)) => r,
            Some(client_frame::Frame::Hello(_)) => {
                return Err(SessionError::Unexpected("second hello"));
            }
            Some(client_frame::Frame::Interrupt(_)) => {
                return Err(SessionError::Unexpected(
                    "interrupt on an SHM session (nothing blocks there)",
                ));
            }
            None => return Err(SessionError::Unexpected("empty frame")),
        };
        match LocalRequest::try_from(request) {
            Ok(LocalRequest::Shm(ShmRequest::Create { nd, pid, perms })) => {
                let creator = ProcessKey {
                    nd: 0,
                    pid: peer.pid,
                };
                let allowed = ProcessKey { nd, pid };
                let r = ctx.shm.create(creator, frame_fds.next(), allowed, perms);
                let response = match r {
                    Ok(handle) => LocalAnswer::ShmHandle(handle).into(),
                    Err(Errno::ENOREMOTE) => error_response(
                        Errno::ENOREMOTE,
                        &format!(
                            "shared memory does not cross nodes: no handle can be made for \
                             pid {pid} on nd {nd}"
                        ),
                    ),
                    Err(e) => e.into(),
                };
                out.send(stream, daemon_frame::Frame::Response(response))
                    .await?;
            }
            Ok(LocalRequest::Shm(ShmRequest::Open { handle, perms })) => {
                let caller = ProcessKey {
                    nd: 0,
                    pid: peer.pid,
                };
                match ctx.shm.open(caller, handle, perms) {
                    Ok(fd) => {
                        let response = LocalAnswer::from(Completion::Done).into();
                        let bytes = out.encode(daemon_frame::Frame::Response(response));
                        fdpass::send_with_fd(stream, bytes, &fd).await?;
                    }
                    Err(Errno::ENOREMOTE) => {
                        let detail = foreign_handle(ctx, handle);
                        let response = error_response(Errno::ENOREMOTE, &detail);
                        out.send(stream, daemon_frame::Frame::Response(response))
                            .await?;
                    }
                    Err(e) => {
                        out.send(stream, daemon_frame::Frame::Response(e.into()))
                            .await?;
                    }
                }
            }
            Ok(LocalRequest::Direct(request)) => {
                let granted = match request {
                    DirectRequest::Serve { chid } => ctx.driver.direct_serve(peer.pid, chid),
                    DirectRequest::Map { coid } => ctx.driver.direct_map(peer.pid, coid),
                    DirectRequest::Pair { index } => ctx.driver.direct_pair(peer.pid, index),
                    DirectRequest::Boost { .. } | DirectRequest::Receive { .. } => Err((
                        Errno::EPROTO,
                        "a boost or a receive belongs on a THREAD session",
                    )),
                };
                match granted {
                    Ok((grant, fds)) => {
                        let response = LocalAnswer::Direct(grant).into();
                        let bytes = out.encode(daemon_frame::Frame::Response(response));
                        fdpass::send_with_fds(stream, bytes, &fds).await?;
                    }
                    Err((errno, detail)) => {
                        let response = error_response(errno, detail);
                        out.send(stream, daemon_frame::Frame::Response(response))
                            .await?;
                    }
                }
            }
            Err(ConvertError::MissingCall) => {
                return Err(SessionError::Unexpected("request carries no call"));
            }
            Ok(_) | Err(_) => {
                return Err(SessionError::Unexpected("kernel call on an SHM session"));
            }
        }
    }
}

/// Why handle `handle` (made on another node) cannot be opened here, naming that node when a
/// known node's tag matches.
fn foreign_handle(ctx: &SessionContext, handle: u64) -> String {
    let tag = super::shm::tag_of(handle);
    let nodes: Vec<String> = ctx.driver.inspect(|k, _| {
        k.nodes()
            .filter(|(_, name, _)| super::shm::node_tag(name) == tag)
            .map(|(_, name, _)| name.to_owned())
            .collect()
    });
    let made_on = match nodes.as_slice() {
        [one] => format!("node {one}"),
        _ => "another node".to_owned(),
    };
    format!(
        "shared-memory handle {handle:#x} was made on {made_on}, not on {}: shared memory \
         does not cross nodes, a handle opens only on the node that made it",
        ctx.node
    )
}

fn error_response(errno: Errno, detail: &str) -> local::Response {
    CallFailure {
        errno,
        detail: format!("{errno}: {detail}"),
    }
    .into()
}

/// Ends a THREAD session's kernel presence however the session ends (error, cancel, panic).
struct ThreadRegistration<'a> {
    driver: &'a Driver,
    thread: ThreadKey,
}

impl Drop for ThreadRegistration<'_> {
    fn drop(&mut self) {
        // Unwinding from a kernel panic: calling the kernel again could abort the daemon.
        if !std::thread::panicking() {
            self.driver.unregister_thread(self.thread);
        }
    }
}

/// Ends a PROCESS session's share of its process's liveness however the session ends.
struct ProcessRegistration<'a> {
    driver: &'a Driver,
    pid: Pid,
}

impl Drop for ProcessRegistration<'_> {
    fn drop(&mut self) {
        // Unwinding from a kernel panic: calling the kernel again could abort the daemon.
        if !std::thread::panicking() {
            self.driver.unregister_process(self.pid);
        }
    }
}
