//! Test support: a real `qnetd` process per test (killed on drop) and a raw frame client.

#![allow(dead_code)]

use std::io::{self, IoSlice, IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use qnet_proto::frame::{blocking, frame_to_vec};
use qnet_proto::local::{
    ClientFrame, DaemonFrame, Hello, HelloAck, Request, Response, SessionKind, client_frame,
    daemon_frame, request, response,
};

/// Hang guard for every wait in these tests; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(20);

/// `--max-message-size` the test daemons run with.
pub const MAX_MESSAGE: u64 = 4096;

/// Collected stderr lines of a daemon.
#[derive(Default)]
pub struct Logs {
    lines: Mutex<Vec<String>>,
    more: Condvar,
}

impl Logs {
    /// Wait until a line satisfies `pred`; `None` after [`GUARD`].
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// How many lines so far satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    /// Wait until `n` lines satisfy `pred`; `false` after [`GUARD`].
    pub fn wait_for_count(&self, n: usize, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if lines.iter().filter(|l| pred(l)).count() >= n {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Everything logged so far.
    pub fn dump(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// A running `qnetd`; killed and reaped on drop.
pub struct Daemon {
    pub child: Option<Child>,
    pub socket: PathBuf,
    pub logs: Arc<Logs>,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A daemon on a fresh socket path, ready to accept.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qnetd.sock");
        let mut d = Self::spawn(&socket);
        d._dir = Some(dir);
        d.wait_ready();
        d
    }

    /// Spawn a daemon on `socket` without waiting for it.
    pub fn spawn(socket: &Path) -> Self {
        Self::spawn_with(
            socket,
            &[
                "--node",
                "testnode",
                "--max-message-size",
                &MAX_MESSAGE.to_string(),
            ],
        )
    }

    /// Spawn a daemon on `socket` with `args` (and debug logs) without waiting for it.
    pub fn spawn_with(socket: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qnetd"))
            .arg("--socket")
            .arg(socket)
            .args(args)
            .args(["--log", "debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Logs::default());
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lines.lock().unwrap().push(line);
                sink.more.notify_all();
            }
        });
        Self {
            child: Some(child),
            socket: socket.into(),
            logs,
            _dir: None,
        }
    }

    /// Block until the startup line appears.
    /// [`Daemon::spawn_with`] for a daemon with a peer listener (`--listen` in `args`):
    /// waits for its start line and returns the address it listens on. `name` is for messages.
    pub fn spawn_listening(
        socket: &Path,
        name: &str,
        args: &[&str],
    ) -> (Self, std::net::SocketAddr) {
        let daemon = Self::spawn_with(socket, args);
        let line = daemon
            .logs
            .wait_for(|l| l.contains("qnetd listening"))
            .unwrap_or_else(|| panic!("{name} did not start:\n{}", daemon.logs.dump()));
        let addr = line
            .split("listen=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {line:?}"));
        (daemon, addr)
    }

    pub fn wait_ready(&self) {
        assert!(
            self.logs
                .wait_for(|l| l.contains("qnetd listening"))
                .is_some(),
            "daemon did not start:\n{}",
            self.logs.dump()
        );
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Wait for the daemon to exit (hang guard [`GUARD`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit:\n{}",
                self.logs.dump()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Connect a raw client (no hello yet).
    pub fn connect(&self) -> Client {
        Client::connect(&self.socket)
    }

    /// A THREAD session for `tid`, hello done.
    pub fn thread(&self, tid: u32) -> Client {
        let mut c = self.connect();
        let ack = c.hello(SessionKind::Thread, tid);
        assert!(ack.is_some(), "no hello ack");
        c
    }

    /// Wait for a warning that closed a session of this test process for `reason`.
    pub fn expect_closed_warning(&self, reason: &str) {
        let pid = format!("pid={}", std::process::id());
        let found = self.logs.wait_for(|l| {
            l.contains("WARN")
                && l.contains("closing session")
                && l.contains(&pid)
                && l.contains(reason)
        });
        assert!(
            found.is_some(),
            "no warning naming {reason:?} and {pid}:\n{}",
            self.logs.dump()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw client speaking frames.
pub struct Client {
    pub stream: UnixStream,
}

impl Client {
    /// Connect to `socket` with the hang guard as read timeout.
    pub fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        Self { stream }
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).unwrap();
    }

    /// Send one client frame.
    pub fn send(&mut self, frame: client_frame::Frame) {
        self.send_raw(&frame_to_vec(&ClientFrame { frame: Some(frame) }));
    }

    /// Read one daemon frame; `None` on end of stream.
    pub fn recv(&mut self) -> Option<daemon_frame::Frame> {
        let f: Option<DaemonFrame> =
            blocking::read_frame(&mut self.stream, 1 << 24).expect("reading a frame");
        f.map(|f| f.frame.expect("daemon frame with no content"))
    }

    /// Hello of `kind`: the ack, or `None` if refused or closed.
    pub fn hello(&mut self, kind: SessionKind, tid: u32) -> Option<HelloAck> {
        self.send(client_frame::Frame::Hello(Hello {
            version: qnet_proto::LOCAL_PROTOCOL_VERSION,
            tid,
            kind: kind as i32,
        }));
        match self.recv()? {
            daemon_frame::Frame::HelloAck(a) => Some(a),
            _ => None,
        }
    }

    /// Make a call and read its response.
    pub fn call(&mut self, call: request::Call) -> response::Result {
        self.send(client_frame::Frame::Request(Request { call: Some(call) }));
        self.response()
    }

    /// Read one response.
    pub fn response(&mut self) -> response::Result {
        match self.recv() {
            Some(daemon_frame::Frame::Response(Response { result: Some(r) })) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Whether the daemon has closed this session: reading gives end-of-stream (or a reset,
    /// when the daemon closed with our bytes unread).
    pub fn is_closed_by_daemon(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue, // e.g. a refusal frame before the close
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
                Err(e) => panic!("session not closed: {e}"),
            }
        }
    }

    /// Send `frame` in one sendmsg, with `fd` (if any) attached as SCM_RIGHTS.
    pub fn send_with_fd(&mut self, frame: client_frame::Frame, fd: Option<RawFd>) {
        let bytes = frame_to_vec(&ClientFrame { frame: Some(frame) });
        let iov = [IoSlice::new(&bytes)];
        let fds: Vec<RawFd> = fd.into_iter().collect();
        let cmsg: Vec<ControlMessage<'_>> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        let n = sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        assert_eq!(n, bytes.len());
    }

    /// Read one response frame with recvmsg, with the descriptor that came with it.
    #[allow(unsafe_code)]
    pub fn response_with_fd(&mut self) -> (response::Result, Option<OwnedFd>) {
        let mut buf = vec![0u8; 4096];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .unwrap();
            let mut fd = None;
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    for r in raw {
                        // SAFETY: installed in this process by this recvmsg; we are its only owner.
                        let owned = unsafe { OwnedFd::from_raw_fd(r) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            (msg.bytes, fd)
        };
        buf.truncate(n);
        assert!(n >= 4, "short read of {n} bytes");
        let want = 4 + u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let mut rest = vec![0u8; want - n];
        self.stream.read_exact(&mut rest).unwrap();
        buf.extend_from_slice(&rest);
        let frame: DaemonFrame = prost::Message::decode(&buf[4..]).unwrap();
        match frame.frame {
            Some(daemon_frame::Frame::Response(Response { result: Some(r) })) => (r, fd),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// The errno of an error response.
pub fn errno(r: &response::Result) -> Option<i32> {
    match r {
        response::Result::Error(e) => Some(e.errno),
        _ => None,
    }
}
