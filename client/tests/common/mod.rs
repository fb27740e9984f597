//! Test harness: real `qnetd` processes and real example processes.
//!
//! Every child is spawned from one thread that lives as long as the test process, with
//! `PR_SET_PDEATHSIG = SIGKILL`, so nothing outlives the test binary even if a test panics
//! or a daemon is held in a `static`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Hang guard for anything a test waits for.
pub const GUARD: Duration = Duration::from_secs(20);

// Locating and (re)building `qnetd` and the examples, and spawning children with the
// parent-death signal, are shared with the multi-node tests.
pub use cluster_tests::{example_path, qnetd_path, spawn};

/// A client thread sending `data` on `coid` with a `cap`-byte reply buffer; receives
/// (status or errno, reply bytes).
pub fn send_in_thread(
    coid: i32,
    data: Vec<u8>,
    cap: usize,
) -> mpsc::Receiver<(Result<i64, qnet::Errno>, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reply = vec![0u8; cap];
        let r = qnet::neutrino::msg_send(coid, &data, &mut reply).map_err(|e| e.errno());
        let _ = tx.send((r, reply));
    });
    rx
}

/// The next value from `rx`, within the hang guard.
pub fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(GUARD).expect("hang guard")
}

/// A `qnetd` on a socket in a fresh temporary directory; SIGKILLed and reaped on drop.
pub struct TestDaemon {
    child: Option<Child>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestDaemon {
    /// Start a daemon and wait until its socket accepts connections.
    pub fn start() -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("qnetd.sock");
        let mut d = TestDaemon {
            child: None,
            socket,
            _dir: dir,
        };
        d.restart();
        d
    }

    /// (Re)start the daemon on the same socket path.
    pub fn restart(&mut self) {
        let mut cmd = Command::new(qnetd_path());
        cmd.arg("--socket")
            .arg(&self.socket)
            .arg("--node")
            .arg("testnode");
        cmd.arg("--log")
            .arg(std::env::var("QNET_TEST_LOG").unwrap_or_else(|_| "warn".into()));
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let child = spawn(cmd);
        self.child = Some(child);
        let start = Instant::now();
        // Readiness: the socket accepts a connection.
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("qnetd exited at start: {st}");
            }
            assert!(start.elapsed() < GUARD, "qnetd did not start listening");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The node name the daemon was started with.
    pub fn node(&self) -> &'static str {
        "testnode"
    }

    /// Stop the daemon with SIGTERM and reap it.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child process whose stdout lines are collected; killed and reaped on drop.
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// The thread collecting stderr; it ends when the child's stderr closes.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
}

impl Proc {
    /// Spawn `cmd` with stdout (and stderr) captured and stdin piped.
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        let mut child = spawn(cmd);
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let s2 = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut s = s2.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdin = child.stdin.take();
        Proc {
            child,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            stdin,
        }
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait (hang guard [`GUARD`]) for a stdout line that satisfies `pred`; returns it.
    pub fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; {}", self.dump())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("process ended before {what}; {}", self.dump())
                }
            }
        }
    }

    /// Wait for a line starting with `prefix`.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        self.expect_line(prefix, |l| l.starts_with(prefix))
    }

    /// Wait for the process to exit (its stdout closes), returning its status and all lines.
    pub fn wait_exit(&mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Timeout) => panic!("process did not exit; {}", self.dump()),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let st = self.child.wait().expect("wait");
        // Let the stderr collector reach the end of the pipe, so `stderr()` after this holds
        // everything the process wrote (it once returned "" for a client that had just
        // printed its error).
        if let Some(reader) = self.stderr_reader.take() {
            let deadline = Instant::now() + GUARD;
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        (st, self.seen.clone())
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn dump(&self) -> String {
        format!("stdout so far: {:?}; stderr: {}", self.seen, self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawn example `name` with `args`, talking to the daemon at `socket`.
pub fn spawn_example(name: &str, args: &[&str], socket: &Path) -> Proc {
    let mut cmd = Command::new(example_path(name));
    cmd.args(args).env("QNET_SOCKET", socket);
    Proc::spawn(cmd)
}

/// Parse `pid=<p> chid=<c>`.
pub fn parse_pid_chid(line: &str) -> (u32, i32) {
    let mut pid = None;
    let mut chid = None;
    for part in line.split_whitespace() {
        if let Some(v) = part.strip_prefix("pid=") {
            pid = v.parse().ok();
        }
        if let Some(v) = part.strip_prefix("chid=") {
            chid = v.parse().ok();
        }
    }
    (pid.expect("pid in line"), chid.expect("chid in line"))
}

/// Run `f` on a thread and get its result, with the hang guard.
pub fn with_guard<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(GUARD)
        .expect("call did not return within the hang guard")
}

/// Wait until thread `tid` of process `pid` is in `state` on the daemon at `socket`, as the
/// daemon's own introspection (an ADMIN session snapshot) reports it. This is the observable
/// signal for "the client is SEND-blocked now"; [`GUARD`] only catches a hang.
pub fn wait_thread_state(socket: &Path, pid: u32, tid: u32, state: qnet_proto::local::ThreadState) {
    use qnet_proto::frame::blocking::{read_frame, write_frame};
    use qnet_proto::local::{
        AdminRequest, AdminResponse, AdminSnapshot, ClientFrame, DaemonFrame, Hello, SessionKind,
        admin_request, admin_response, client_frame, daemon_frame,
    };
    let mut s = UnixStream::connect(socket).expect("admin session");
    s.set_read_timeout(Some(GUARD)).unwrap();
    write_frame(
        &mut s,
        &ClientFrame {
            frame: Some(client_frame::Frame::Hello(Hello {
                version: qnet_proto::LOCAL_PROTOCOL_VERSION,
                tid: 0,
                kind: SessionKind::Admin as i32,
            })),
        },
    )
    .unwrap();
    let ack: Option<DaemonFrame> = read_frame(&mut s, 1 << 20).unwrap();
    assert!(
        matches!(
            ack.and_then(|f| f.frame),
            Some(daemon_frame::Frame::HelloAck(_))
        ),
        "admin hello refused"
    );
    let start = Instant::now();
    loop {
        write_frame(
            &mut s,
            &AdminRequest {
                query: Some(admin_request::Query::Snapshot(AdminSnapshot {
                    node: String::new(),
                })),
            },
        )
        .unwrap();
        let r: Option<AdminResponse> = read_frame(&mut s, 1 << 24).unwrap();
        let Some(admin_response::Result::Views(views)) = r.and_then(|r| r.result) else {
            panic!("admin snapshot failed");
        };
        let last = views
            .views
            .iter()
            .flat_map(|v| &v.processes)
            .filter(|p| p.nd == 0 && p.pid == pid)
            .flat_map(|p| &p.threads)
            .find(|t| t.tid == tid)
            .map(|t| t.state);
        if last == Some(state as i32) {
            return;
        }
        assert!(
            start.elapsed() < GUARD,
            "thread {pid}/{tid} never reached {state:?} (last {last:?})"
        );
        // Asking again: the daemon answers from its current state each time.
        std::thread::yield_now();
    }
}
