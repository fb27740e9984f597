//! Sessions with the local `qnetd`: one process session held for the process lifetime, and
//! one session per OS thread that makes calls (strict request/response on that thread's own
//! socket, so a blocking call blocks exactly that thread and nothing else).

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::io::IoSlice;

use bytes::Bytes;
use prost::Message as _;
use qnet_core::{Call, Completion};
use qnet_proto::codec::{CallFailure, LocalAnswer, LocalRequest};
use qnet_proto::frame::blocking::FrameReader;
use qnet_proto::frame::{FRAME_OVERHEAD, encode_frame_split};
use qnet_proto::hello::{self, HelloError};
use qnet_proto::local::{
    ClientFrame, DaemonFrame, HelloAck, SessionKind, client_frame, daemon_frame,
};

use crate::error::{Error, Result};

/// Socket path set by [`set_socket_path`]; `None` means `qnet_proto::socket_path()`.
static SOCKET_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The process session, opened before the first thread session and kept until exit (or until
/// the daemon is found gone, so that a later call reconnects).
static PROCESS: Mutex<Option<ProcessSession>> = Mutex::new(None);

thread_local! {
    /// This thread's session; dropping it (thread exit) closes the socket, which the daemon
    /// takes as this thread's exit.
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Use `path` instead of `$QNET_SOCKET` or the default sockets (`/run/qnet/qnetd.sock`, then
/// `/tmp/qnetd.sock`) for sessions opened from now on.
/// Call it before the first call (sessions already open keep their socket).
pub fn set_socket_path(path: impl Into<PathBuf>) {
    *SOCKET_PATH.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.into());
}

/// The socket path the library connects to: the one set by [`set_socket_path`] or found by
/// the first session, else `$QNET_SOCKET` or the default.
pub fn socket_path() -> PathBuf {
    SOCKET_PATH
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(qnet_proto::socket_path)
}

/// What the daemon told us at hello time.
#[derive(Clone, Debug)]
pub(crate) struct DaemonInfo {
    /// This node's name.
    pub node: Arc<str>,
    /// Largest message the daemon accepts.
    pub max_message_size: u64,
    /// The direct path's layout version the daemon serves (0: none).
    pub direct: u32,
}

struct ProcessSession {
    stream: UnixStream,
    info: DaemonInfo,
    /// Which process session this is (counts the ones opened in this process).
    generation: u64,
}

/// Process sessions opened so far in this process.
static PROCESS_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// One thread's session: its socket and reusable buffers.
pub(crate) struct Session {
    stream: UnixStream,
    path: PathBuf,
    /// Outgoing frame, reused.
    pub(crate) wbuf: Vec<u8>,
    /// The outgoing frame's large payload, written after `wbuf` without being copied into it
    /// (see `encode_frame_split`); empty when `wbuf` holds the whole frame.
    wbody: Bytes,
    /// Reads responses into one reused buffer (reclaimed once the previous response is
    /// dropped).
    reader: FrameReader,
    /// Hello-time facts.
    pub(crate) info: DaemonInfo,
    /// The request in flight never blocks: spin briefly for its answer (`spin.rs`).
    spin: bool,
    /// `qnet_direct::signals::count()` as the request in flight was sent.
    handlers: u64,
    /// The daemon copies large payloads straight from / into this process's memory
    /// (`qnet_proto::one_copy`): buffers may be named by address.
    pub(crate) one_copy: bool,
}

/// What the daemon reads at the hello's probe address to turn one copy on. A static, so its
/// address stays valid for the process's lifetime.
static ONE_COPY_MAGIC: [u8; 16] = qnet_proto::one_copy::ONE_COPY_MAGIC;

/// Environment variable that turns one copy off for this process when `0` (tests use it to
/// keep the inline path covered).
pub const ONE_COPY_ENV: &str = "QNET_ONE_COPY";

/// The probe address a THREAD session's hello carries: [`ONE_COPY_MAGIC`]'s, or 0 when
/// `QNET_ONE_COPY=0` turns one copy off.
fn one_copy_probe() -> u64 {
    match std::env::var_os(ONE_COPY_ENV) {
        Some(v) if v == "0" || v == "off" => 0,
        _ => std::hint::black_box(&ONE_COPY_MAGIC).as_ptr() as u64,
    }
}

/// The spans naming buffers the daemon will write (a reply or receive buffer), taken from
/// mutable borrows: see [`spans_of`].
pub(crate) fn spans_of_mut(
    parts: &mut [std::io::IoSliceMut<'_>],
) -> Option<Vec<qnet_proto::local::Span>> {
    let spans: Vec<_> = parts
        .iter_mut()
        .filter(|p| !p.is_empty())
        .map(|p| qnet_proto::one_copy::span(p.as_mut_ptr() as u64, p.len() as u64))
        .collect();
    (spans.len() <= qnet_proto::one_copy::MAX_SPANS).then_some(spans)
}

/// The spans naming `parts` (in order, empty ones left out) for a one-copy request, if
/// there are not too many.
pub(crate) fn spans_of<'a>(
    parts: impl Iterator<Item = &'a [u8]>,
) -> Option<Vec<qnet_proto::local::Span>> {
    let spans: Vec<_> = parts
        .filter(|p| !p.is_empty())
        .map(|p| qnet_proto::one_copy::span(p.as_ptr() as u64, p.len() as u64))
        .collect();
    (spans.len() <= qnet_proto::one_copy::MAX_SPANS).then_some(spans)
}

fn daemon_err(path: &std::path::Path, what: &'static str, source: io::Error) -> Error {
    Error::Daemon {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Connect to the daemon: at the path set by [`set_socket_path`]; else at the first of
/// `qnet_proto::client_socket_paths()` (`$QNET_SOCKET`, or the system then the default
/// socket) that answers, remembered so that every later session of this process reaches the
/// same daemon.
fn connect_daemon() -> Result<(UnixStream, PathBuf)> {
    let set = SOCKET_PATH
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let found_by_search = set.is_none();
    let (stream, path) =
        connect_first(set.map_or_else(qnet_proto::client_socket_paths, |p| vec![p]))?;
    if found_by_search {
        set_socket_path(&path);
    }
    Ok((stream, path))
}

/// The first of `candidates` that accepts a connection; else an error naming each.
fn connect_first(candidates: Vec<PathBuf>) -> Result<(UnixStream, PathBuf)> {
    let mut tried = Vec::new();
    for path in candidates {
        match UnixStream::connect(&path) {
            Ok(stream) => return Ok((stream, path)),
            Err(e) => tried.push((path, e)),
        }
    }
    match tried.len() {
        1 => {
            let (path, e) = tried.remove(0);
            Err(daemon_err(&path, "connecting", e))
        }
        _ => Err(Error::NoDaemon { tried }),
    }
}

/// Connect to the daemon and exchange hellos (`probe`: see [`one_copy_probe`]).
pub(crate) fn open(
    kind: SessionKind,
    tid: u32,
    probe: u64,
) -> Result<(UnixStream, PathBuf, HelloAck)> {
    let (mut stream, path) = connect_daemon()?;
    match hello::open_with_probe(&mut stream, kind, tid, probe) {
        Ok(ack) => Ok((stream, path, ack)),
        Err(HelloError::Send(e)) => Err(daemon_err(&path, "sending hello", e)),
        Err(HelloError::Receive(e)) => Err(daemon_err(&path, "reading hello ack", e)),
        // The daemon cannot take a session now (out of descriptors): that errno, its words.
        Err(HelloError::Busy { errno, reason }) => Err(Error::Call {
            errno,
            detail: format!("qnetd at {} refused the session: {reason}", path.display()),
        }),
        Err(e @ HelloError::Refused { .. }) => Err(Error::Protocol {
            detail: format!("qnetd at {} {e}", path.display()),
        }),
        Err(e @ HelloError::Unexpected(_)) => Err(Error::Protocol {
            detail: e.to_string(),
        }),
    }
}

/// The reader of a THREAD session's responses: frames up to the daemon's message-size limit
/// plus the frame's other fields.
fn response_reader(max_message_size: u64) -> FrameReader {
    let max = usize::try_from(max_message_size)
        .unwrap_or(usize::MAX)
        .saturating_add(FRAME_OVERHEAD);
    FrameReader::greedy(max)
}

fn info_of(ack: &HelloAck) -> DaemonInfo {
    DaemonInfo {
        node: ack.node.as_str().into(),
        max_message_size: ack.max_message_size,
        direct: ack.direct,
    }
}

/// The process session's facts, opening it if needed.
pub(crate) fn process_info() -> Result<DaemonInfo> {
    let mut guard = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.info.clone());
    }
    let (stream, _, ack) = open(SessionKind::Process, 0, 0)?;
    let info = info_of(&ack);
    let generation = PROCESS_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    *guard = Some(ProcessSession {
        stream,
        info: info.clone(),
        generation,
    });
    Ok(info)
}

/// A descriptor of the process session (a duplicate, to poll for the daemon's end) and which
/// process session it is.
pub(crate) fn process_watch() -> Option<(std::os::fd::OwnedFd, u64)> {
    let guard = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let p = guard.as_ref()?;
    let fd = std::os::fd::OwnedFd::from(p.stream.try_clone().ok()?);
    Some((fd, p.generation))
}

/// Which process session is open now (0: none yet).
pub(crate) fn process_generation() -> u64 {
    PROCESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map_or(0, |p| p.generation)
}

fn forget_process_session() {
    PROCESS.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// In the child of a `fork()`, before its first call: forget the sessions inherited from the
/// parent (closing the child's copies of their sockets), so that the child opens its own and
/// the daemon sees it as the new process it is; without this the child's calls would travel
/// on the parent's sockets, as the parent. Sessions of the parent's other threads stay open
/// in the child (their sockets are not known here) until it exits or execs (they are
/// close-on-exec). Calling it anywhere but in a fresh child closes the caller's sessions.
pub fn forget_inherited_sessions() {
    if let Ok(mut guard) = PROCESS.try_lock() {
        guard.take();
    }
    crate::direct::forget_inherited();
    SESSION.with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            slot.take();
        }
    });
}

/// This thread's id (`gettid()`).
pub fn gettid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

impl Session {
    fn connect() -> Result<Session> {
        process_info()?;
        let (stream, path, ack) = open(SessionKind::Thread, gettid(), one_copy_probe())?;
        // Best effort: the default works, only slower.
        let _ = nix::sys::socket::setsockopt(
            &stream,
            nix::sys::socket::sockopt::SndBuf,
            &qnet_proto::SESSION_SEND_BUFFER,
        );
        Ok(Session {
            stream,
            path,
            wbuf: Vec::with_capacity(256),
            wbody: Bytes::new(),
            reader: response_reader(ack.max_message_size),
            info: info_of(&ack),
            spin: false,
            handlers: 0,
            one_copy: ack.one_copy,
        })
    }

    /// A session over an already connected stream (unit tests of the encoders).
    #[cfg(test)]
    pub(crate) fn for_test(stream: UnixStream, info: DaemonInfo) -> Session {
        Session {
            stream,
            path: PathBuf::from("test"),
            wbuf: Vec::new(),
            wbody: Bytes::new(),
            reader: response_reader(info.max_message_size),
            info,
            spin: false,
            handlers: 0,
            one_copy: false,
        }
    }

    /// Encode `request` as one frame: into the write buffer, except a large payload, which is
    /// kept aside and written after it.
    fn encode(&mut self, request: LocalRequest) {
        let mut frame = ClientFrame {
            frame: Some(client_frame::Frame::Request(request.into())),
        };
        self.wbuf.clear();
        self.wbody = encode_frame_split(&mut frame, &mut self.wbuf).unwrap_or_default();
    }

    /// Encode a wire request (one copy: it names buffers, so it is small) into the write
    /// buffer.
    pub(crate) fn encode_wire(&mut self, request: qnet_proto::local::Request) {
        let mut frame = ClientFrame {
            frame: Some(client_frame::Frame::Request(request)),
        };
        self.wbuf.clear();
        self.wbody = encode_frame_split(&mut frame, &mut self.wbuf).unwrap_or_default();
    }

    /// Send the frame in the write buffer (and its payload kept aside, if any) and read the
    /// response.
    pub(crate) fn round_trip(&mut self) -> Result<LocalAnswer> {
        // Signal handlers that run from here on unblock the call (QNX's rule).
        self.handlers = qnet_direct::signals::count();
        let body = std::mem::take(&mut self.wbody);
        if let Err(e) = write_all_vectored(&mut self.stream, &self.wbuf, &body) {
            return Err(daemon_err(&self.path, "sending a request", e));
        }
        drop(body);
        let payload = self.read_response()?;
        let frame = DaemonFrame::decode(payload).map_err(|e| Error::Protocol {
            detail: format!("malformed response: {e}"),
        })?;
        answer_of(frame)
    }

    /// Wait for the response and return its body. One `poll` for POLLIN, then, for a response
    /// of up to [`SMALL_READ`] bytes, one `read` for header and body together: the session is
    /// strict request/response, so nothing can follow the response.
    ///
    /// Why `poll` and not a blocking `read`: a thread blocked in `recv` sleeps on the socket's
    /// one wait queue, and the daemon reading our request frees send-buffer space, which wakes
    /// that queue (`unix_write_space`) without a key the sleeper could filter on. Each call
    /// then costs a spurious wake-up and context switch, and the daemon an extra wake-up. A
    /// `poll` waiter is woken only for readability. (BENCHMARKS.md, "Spurious wake-ups".)
    fn read_response(&mut self) -> Result<Bytes> {
        let failed = |path: &std::path::Path, e: io::Error| match e.kind() {
            io::ErrorKind::InvalidData => Error::Protocol {
                detail: format!("response: {e}"),
            },
            _ => daemon_err(path, "reading the response", eof_named(e)),
        };
        if !(std::mem::take(&mut self.spin) && crate::spin::readable_soon(&self.stream)) {
            wait_readable(&self.stream, self.handlers, || send_interrupt(&self.stream))
                .map_err(|e| failed(&self.path, e))?;
        }
        let payload = match self.reader.read_payload(&mut self.stream) {
            Ok(Some(p)) => p,
            Ok(None) => return Err(failed(&self.path, io::ErrorKind::UnexpectedEof.into())),
            Err(e) => return Err(failed(&self.path, e)),
        };
        // Strict request/response: nothing may follow the response.
        if self.reader.buffered() > 0 {
            return Err(Error::Protocol {
                detail: format!(
                    "{} bytes after a {}-byte response",
                    self.reader.buffered(),
                    payload.len()
                ),
            });
        }
        Ok(payload)
    }

    /// One request, one response.
    pub(crate) fn call(&mut self, request: LocalRequest) -> Result<LocalAnswer> {
        self.spin = crate::spin::never_blocks(&request);
        self.encode(request);
        self.round_trip()
    }
}

/// The answer a daemon frame carries: a failed call's errno and detail as [`Error::Call`];
/// anything but a well-formed response as [`Error::Protocol`].
pub(crate) fn answer_of(frame: DaemonFrame) -> Result<LocalAnswer> {
    let Some(daemon_frame::Frame::Response(response)) = frame.frame else {
        return Err(Error::Protocol {
            detail: "expected a response frame".into(),
        });
    };
    match std::result::Result::<LocalAnswer, CallFailure>::try_from(response) {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(CallFailure { errno, detail })) => Err(Error::Call { errno, detail }),
        Err(e) => Err(Error::Protocol {
            detail: format!("malformed response: {e}"),
        }),
    }
}

/// Write `head` then `body` completely, in as few (vectored) writes as the socket allows.
fn write_all_vectored(stream: &mut UnixStream, head: &[u8], body: &[u8]) -> io::Result<()> {
    let mut parts = [IoSlice::new(head), IoSlice::new(body)];
    let mut parts = &mut parts[..];
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match stream.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Block until `stream` has data (or is closed), waiting in `poll(POLLIN)` rather than in a
/// blocking `recv`. The first time a signal handler runs meanwhile, `on_signal` tells the
/// daemon: QNX unblocks a blocked call on a signal, and the call's answer says how it ended.
/// A handler is seen by the `EINTR` of `poll` (never restarted, whatever `SA_RESTART` says)
/// and, for handlers libqnetc wraps, by `qnet_direct::signals::count` moving from
/// `handlers` (its value as the call began); then the sleep is a `ppoll` that unblocks
/// signals only as it sleeps, so a handler cannot slip in just before it.
fn wait_readable(
    stream: &UnixStream,
    handlers: u64,
    mut on_signal: impl FnMut() -> io::Result<()>,
) -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll, ppoll};
    use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    let mut told = false;
    loop {
        let signalled = qnet_direct::signals::count() != handlers;
        let r = if told {
            poll(&mut fds, PollTimeout::NONE)
        } else if signalled {
            Err(nix::errno::Errno::EINTR)
        } else if qnet_direct::signals::wrapped() {
            let mut old = SigSet::empty();
            pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut old))?;
            let r = match qnet_direct::signals::count() != handlers {
                true => Err(nix::errno::Errno::EINTR),
                false => ppoll(&mut fds, None, Some(old)),
            };
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
            r
        } else {
            poll(&mut fds, PollTimeout::NONE)
        };
        match r {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {
                if !std::mem::replace(&mut told, true) {
                    on_signal()?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Tell the daemon a signal handler ran while this thread's call waits
/// (`ClientFrame.interrupt`): a blocked call ends as QNX's signal ends it. Nothing answers it.
fn send_interrupt(mut stream: &UnixStream) -> io::Result<()> {
    // Rare (once per interrupted call): built when needed. `write_all` retries after a
    // signal itself.
    stream.write_all(&qnet_proto::frame::frame_to_vec(&ClientFrame {
        frame: Some(client_frame::Frame::Interrupt(
            qnet_proto::local::Interrupt {},
        )),
    }))
}

fn eof_named(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(io::ErrorKind::UnexpectedEof, "daemon closed the session")
    } else {
        e
    }
}

/// Run `f` on this thread's session, opening it first if needed. If the daemon is found
/// gone, the session is dropped so that a later call reconnects.
pub(crate) fn with_session<R>(f: impl FnOnce(&mut Session) -> Result<R>) -> Result<R> {
    SESSION.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Session::connect()?);
        }
        let Some(session) = slot.as_mut() else {
            unreachable!("session set above")
        };
        let r = f(session);
        if let Err(Error::Daemon { .. } | Error::Protocol { .. }) = &r {
            // The socket is unusable (or out of step); start afresh next time.
            *slot = None;
            forget_process_session();
        }
        r
    })
}

/// One request on this thread's session.
pub(crate) fn call(request: LocalRequest) -> Result<LocalAnswer> {
    with_session(|s| s.call(request))
}

/// One request on this thread's session, given the wire request as `make` builds it knowing
/// whether the session has one copy (so it may name buffers by address).
pub(crate) fn call_wire(
    make: impl FnOnce(bool) -> qnet_proto::local::Request,
) -> Result<LocalAnswer> {
    with_session(|s| {
        let request = make(s.one_copy);
        s.encode_wire(request);
        s.round_trip()
    })
}

/// One kernel call on this thread's session; `what` names it if the answer is not a
/// completion.
pub(crate) fn kernel(what: &str, call: Call) -> Result<Completion> {
    match self::call(LocalRequest::Kernel(call))? {
        LocalAnswer::Completion(c) => Ok(c),
        other => Err(unexpected(what, &other)),
    }
}

/// Whether this thread's session has one copy (the daemon copies large payloads straight
/// from and into this process's memory; see `qnet_proto::one_copy`), opening the session if
/// needed. Off when `QNET_ONE_COPY=0`, with `qnetd --one-copy off`, or when the daemon may not
/// read this process's memory.
pub fn one_copy() -> Result<bool> {
    with_session(|s| Ok(s.one_copy))
}

/// The local node's name (opens the process session if needed).
pub fn local_node() -> Result<String> {
    Ok(process_info()?.node.to_string())
}

/// An unexpected response kind.
pub(crate) fn unexpected(what: &str, got: &impl std::fmt::Debug) -> Error {
    Error::Protocol {
        detail: format!("{what}: unexpected response {got:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use bytes::BytesMut;
    use qnet_core::{Errno, Extents};
    use qnet_proto::frame::SPLIT_MIN_BODY;
    use qnet_proto::frame::blocking::SMALL_READ;
    use qnet_proto::local::{Done, Reply, Response, response};

    use super::*;

    #[test]
    fn the_first_socket_that_answers_is_used_and_an_error_names_every_path_tried() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("run-qnetd.sock");
        let user = dir.path().join("tmp-qnetd.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&user).unwrap();
        let (_, path) = connect_first(vec![system.clone(), user.clone()]).unwrap();
        assert_eq!(path, user, "the missing system socket is skipped");
        let e = connect_first(vec![system.clone(), dir.path().join("none.sock")]).unwrap_err();
        assert_eq!(e.errno(), Errno::EIO);
        let text = e.to_string();
        assert!(
            text.contains(&format!("{} (No such file", system.display()))
                && text.contains("none.sock (No such file")
                && text.contains("set QNET_SOCKET"),
            "{text}"
        );
        // A single path (QNET_SOCKET or set_socket_path): the plain error for that path.
        let e = connect_first(vec![system.clone()]).unwrap_err();
        assert!(
            matches!(e, Error::Daemon { ref path, .. } if *path == system),
            "{e}"
        );
    }

    /// A session whose daemon end is `daemon`, answering one request as `answer` says.
    fn exchange(answer: impl FnOnce(&mut UnixStream) + Send + 'static) -> Result<LocalAnswer> {
        let (ours, mut daemon) = UnixStream::pair().unwrap();
        let info = DaemonInfo {
            node: "n".into(),
            max_message_size: 1 << 20,
            direct: 0,
        };
        let fake = thread::spawn(move || {
            let req: Option<ClientFrame> =
                qnet_proto::frame::blocking::read_frame(&mut daemon, FRAME_OVERHEAD).unwrap();
            assert!(req.is_some());
            answer(&mut daemon);
        });
        let mut s = Session::for_test(ours, info);
        let r = s.call(LocalRequest::Kernel(Call::ChannelCreate {
            flags: Default::default(),
        }));
        fake.join().unwrap();
        r
    }

    fn response_frame(result: response::Result) -> Vec<u8> {
        let frame = DaemonFrame {
            frame: Some(daemon_frame::Frame::Response(Response {
                result: Some(result),
            })),
        };
        let mut out = BytesMut::new();
        qnet_proto::frame::encode_frame(&frame, &mut out);
        out.to_vec()
    }

    fn reply_of(len: usize) -> response::Result {
        response::Result::Reply(Reply {
            status: 7,
            data: (0..len)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<u8>>()
                .into(),
            ..Default::default()
        })
    }

    /// Write `bytes` in pieces cut at `cuts`, pausing between them so that the reader sees
    /// each piece on its own.
    fn write_in_pieces(s: &mut UnixStream, bytes: &[u8], cuts: &[usize]) {
        let mut at = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            s.write_all(&bytes[at..cut]).unwrap();
            at = cut;
            thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn responses_of_every_size_and_split_arrive_whole() {
        let big = SMALL_READ + SPLIT_MIN_BODY;
        let cases: Vec<(usize, Vec<usize>)> = vec![
            (0, vec![]),
            (64, vec![]),
            (64, vec![1]),
            (64, vec![3, 4, 10]),
            (SMALL_READ - 20, vec![]),
            (SMALL_READ + 100, vec![]),
            (SMALL_READ + 100, vec![2, SMALL_READ + 50]),
            (big, vec![]),
            (big, vec![2]),
            (big, vec![100, 10_000]),
        ];
        for (len, cuts) in cases {
            let wire = reply_of(len);
            let response::Result::Reply(r) = wire.clone() else {
                unreachable!()
            };
            let want = LocalAnswer::Completion(Completion::Reply {
                status: r.status,
                data: Extents::at_zero(r.data),
            });
            let bytes = response_frame(wire);
            let got = exchange(move |d| write_in_pieces(d, &bytes, &cuts))
                .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
            assert_eq!(got, want, "{len}-byte reply");
        }
    }

    #[test]
    fn bad_responses_are_errors_not_hangs() {
        let done = response_frame(response::Result::Done(Done {}));
        let mut trailing = done.clone();
        trailing.extend_from_slice(&done);
        let r = exchange(move |d| d.write_all(&trailing).unwrap());
        assert!(
            matches!(&r, Err(Error::Protocol { detail }) if detail.contains("after a")),
            "{r:?}"
        );

        let r = exchange(|d| d.write_all(&u32::MAX.to_le_bytes()).unwrap());
        assert!(
            matches!(&r, Err(Error::Protocol { detail }) if detail.contains("exceeds")),
            "{r:?}"
        );

        let r = exchange(|d| d.write_all(&[9, 0]).unwrap());
        assert!(
            matches!(&r, Err(e @ Error::Daemon { .. }) if e.to_string().contains("closed the session")),
            "{r:?}"
        );

        let half = response_frame(reply_of(SMALL_READ * 20));
        let r = exchange(move |d| d.write_all(&half[..half.len() / 2]).unwrap());
        assert!(
            matches!(&r, Err(e @ Error::Daemon { .. }) if e.to_string().contains("closed the session")),
            "{r:?}"
        );
    }
}
