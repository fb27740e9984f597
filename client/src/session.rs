//! Sessions with the local `qnetd`: one process session held for the process lifetime, and
//! one session per OS thread that makes calls (strict request/response on that thread's own
//! socket, so a blocking call blocks exactly that thread and nothing else).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use prost::Message as _;
use qnet_core::Errno;
use qnet_proto::frame::{FRAME_OVERHEAD, SPLIT_MIN_BODY, encode_frame_split};
use qnet_proto::local::{
    ClientFrame, DaemonFrame, Hello, HelloAck, Request, Response, SessionKind, client_frame,
    daemon_frame, request, response,
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

/// Use `path` instead of `$QNET_SOCKET` / `/tmp/qnetd.sock` for sessions opened from now on.
/// Call it before the first call (sessions already open keep their socket).
pub fn set_socket_path(path: impl Into<PathBuf>) {
    *SOCKET_PATH.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.into());
}

/// The socket path the library connects to.
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
}

struct ProcessSession {
    _stream: UnixStream,
    info: DaemonInfo,
}

/// One thread's session: its socket and reusable buffers.
pub(crate) struct Session {
    stream: UnixStream,
    path: PathBuf,
    /// Outgoing frame, reused.
    pub(crate) wbuf: Vec<u8>,
    /// The outgoing frame's large payload, written after `wbuf` without being copied into it
    /// (see `encode_frame_split`); empty when `wbuf` holds the whole frame.
    wbody: Bytes,
    /// Incoming frame, reused (reclaimed once the previous response is dropped).
    rbuf: BytesMut,
    /// Hello-time facts.
    pub(crate) info: DaemonInfo,
}

fn daemon_err(path: &std::path::Path, what: &'static str, source: io::Error) -> Error {
    Error::Daemon {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Connect to the daemon and exchange hellos.
pub(crate) fn open(kind: SessionKind, tid: u32) -> Result<(UnixStream, PathBuf, HelloAck)> {
    let path = socket_path();
    let mut stream = UnixStream::connect(&path).map_err(|e| daemon_err(&path, "connecting", e))?;
    let hello = ClientFrame {
        frame: Some(client_frame::Frame::Hello(Hello {
            version: qnet_proto::LOCAL_PROTOCOL_VERSION,
            tid,
            kind: kind as i32,
        })),
    };
    qnet_proto::frame::blocking::write_frame(&mut stream, &hello)
        .map_err(|e| daemon_err(&path, "sending hello", e))?;
    let reply: Option<DaemonFrame> =
        qnet_proto::frame::blocking::read_frame(&mut stream, FRAME_OVERHEAD)
            .map_err(|e| daemon_err(&path, "reading hello ack", e))?;
    match reply.and_then(|f| f.frame) {
        Some(daemon_frame::Frame::HelloAck(ack)) => Ok((stream, path, ack)),
        Some(daemon_frame::Frame::Refused(r)) => Err(Error::Protocol {
            detail: format!(
                "qnetd at {} refused the session: {} (daemon protocol version {}, ours {})",
                path.display(),
                r.reason,
                r.daemon_version,
                qnet_proto::LOCAL_PROTOCOL_VERSION
            ),
        }),
        Some(daemon_frame::Frame::Response(_)) => Err(Error::Protocol {
            detail: "qnetd answered the hello with a response".into(),
        }),
        None => Err(daemon_err(
            &path,
            "reading hello ack",
            io::Error::new(io::ErrorKind::UnexpectedEof, "daemon closed the session"),
        )),
    }
}

fn info_of(ack: &HelloAck) -> DaemonInfo {
    DaemonInfo {
        node: ack.node.as_str().into(),
        max_message_size: ack.max_message_size,
    }
}

/// The process session's facts, opening it if needed.
pub(crate) fn process_info() -> Result<DaemonInfo> {
    let mut guard = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.info.clone());
    }
    let (stream, _, ack) = open(SessionKind::Process, 0)?;
    let info = info_of(&ack);
    *guard = Some(ProcessSession {
        _stream: stream,
        info: info.clone(),
    });
    Ok(info)
}

fn forget_process_session() {
    PROCESS.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// This thread's id (`gettid()`).
pub fn gettid() -> u32 {
    nix::unistd::gettid().as_raw() as u32
}

impl Session {
    fn connect() -> Result<Session> {
        process_info()?;
        let (stream, path, ack) = open(SessionKind::Thread, gettid())?;
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
            rbuf: BytesMut::with_capacity(256),
            info: info_of(&ack),
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
            rbuf: BytesMut::new(),
            info,
        }
    }

    /// Encode `call` as one frame: into the write buffer, except a large payload, which is
    /// kept aside and written after it.
    fn encode(&mut self, call: request::Call) {
        let mut frame = ClientFrame {
            frame: Some(client_frame::Frame::Request(Request { call: Some(call) })),
        };
        self.wbuf.clear();
        self.wbody = encode_frame_split(&mut frame, &mut self.wbuf).unwrap_or_default();
    }

    /// Fill in the length prefix of the frame in the write buffer.
    pub(crate) fn finish_frame(&mut self) {
        let len = (self.wbuf.len() - 4) as u32;
        self.wbuf[..4].copy_from_slice(&len.to_le_bytes());
    }

    /// Send the frame in the write buffer (and its payload kept aside, if any) and read the
    /// response.
    pub(crate) fn round_trip(&mut self) -> Result<response::Result> {
        let body = std::mem::take(&mut self.wbody);
        if let Err(e) = write_all_vectored(&mut self.stream, &self.wbuf, &body) {
            return Err(daemon_err(&self.path, "sending a request", e));
        }
        drop(body);
        let mut header = [0u8; 4];
        if let Err(e) = self.stream.read_exact(&mut header) {
            return Err(daemon_err(
                &self.path,
                "waiting for the response",
                eof_named(e),
            ));
        }
        let len = u32::from_le_bytes(header) as usize;
        let max = (self.info.max_message_size as usize).saturating_add(FRAME_OVERHEAD);
        if len > max {
            return Err(Error::Protocol {
                detail: format!("response of {len} bytes exceeds {max}"),
            });
        }
        let payload = match self.read_payload(len) {
            Ok(p) => p,
            Err(e) => return Err(daemon_err(&self.path, "reading the response", eof_named(e))),
        };
        let frame = DaemonFrame::decode(payload).map_err(|e| Error::Protocol {
            detail: format!("malformed response: {e}"),
        })?;
        match frame.frame {
            Some(daemon_frame::Frame::Response(Response { result: Some(r) })) => match r {
                response::Result::Error(e) => Err(Error::Call {
                    errno: Errno(e.errno),
                    detail: e.detail,
                }),
                other => Ok(other),
            },
            _ => Err(Error::Protocol {
                detail: "expected a response frame".into(),
            }),
        }
    }

    /// The `len` bytes of a response after its header. A large one is read into a fresh
    /// buffer that is never zero-filled (the reused one would be: `read_exact` needs
    /// initialized bytes); a small one into the reused buffer.
    fn read_payload(&mut self, len: usize) -> io::Result<Bytes> {
        if len >= SPLIT_MIN_BODY {
            let mut payload = Vec::new();
            payload.try_reserve_exact(len).map_err(io::Error::other)?;
            (&mut self.stream)
                .take(len as u64)
                .read_to_end(&mut payload)?;
            if payload.len() < len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(Bytes::from(payload));
        }
        self.rbuf.clear();
        self.rbuf.resize(len, 0);
        self.stream.read_exact(&mut self.rbuf[..])?;
        Ok(self.rbuf.split_to(len).freeze())
    }

    /// One request, one response.
    pub(crate) fn call(&mut self, call: request::Call) -> Result<response::Result> {
        self.encode(call);
        self.round_trip()
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
pub(crate) fn call(c: request::Call) -> Result<response::Result> {
    with_session(|s| s.call(c))
}

/// The local node's name (opens the process session if needed).
pub fn local_node() -> Result<String> {
    Ok(process_info()?.node.to_string())
}

/// An unexpected response kind.
pub(crate) fn unexpected(what: &str, got: &response::Result) -> Error {
    Error::Protocol {
        detail: format!("{what}: unexpected response {got:?}"),
    }
}
