//! [`Daemon`]: one `qnetd` on a Unix socket, its log collected; [`PeerNode`]: one that also
//! listens on QUIC, for the daemon's peer tests. Both are SIGKILLed and reaped on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qnet_proto::local::SessionKind;

use crate::GUARD;
use crate::bins::qnetd_path;
use crate::lines::Lines;
use crate::process::{field, spawn};
use crate::raw_session::RawSession;

/// `--max-message-size` of [`Daemon::start`] and [`Daemon::spawn`].
pub const MAX_MESSAGE: u64 = 4096;

/// A running `qnetd`; killed and reaped on drop.
pub struct Daemon {
    /// The process, until it exits or is killed.
    pub child: Option<Child>,
    /// Its Unix socket.
    pub socket: PathBuf,
    /// Its log (stderr) lines.
    pub logs: Arc<Lines>,
    /// Its arguments after `--socket`, for [`Daemon::restart`].
    args: Vec<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// A daemon (node `testnode`, `--max-message-size` [`MAX_MESSAGE`]) on a fresh socket
    /// path, ready to accept.
    pub fn start() -> Self {
        Self::start_with(&[
            "--node",
            "testnode",
            "--max-message-size",
            &MAX_MESSAGE.to_string(),
        ])
    }

    /// A daemon with `args` on a fresh socket path, ready to accept.
    pub fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("qnetd.sock");
        let mut d = Self::spawn_with(&socket, args);
        d._dir = Some(dir);
        d.wait_ready();
        d
    }

    /// Spawn a daemon on `socket` (as [`Daemon::start`]) without waiting for it.
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

    /// Spawn a daemon on `socket` with `args` (and debug logs, unless `args` has `--log`)
    /// without waiting for it.
    pub fn spawn_with(socket: &Path, args: &[&str]) -> Self {
        let mut d = Self {
            child: None,
            socket: socket.into(),
            logs: Arc::default(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            _dir: None,
        };
        d.run();
        d
    }

    fn run(&mut self) {
        let mut cmd = Command::new(qnetd_path());
        cmd.arg("--socket").arg(&self.socket).args(&self.args);
        if !self.args.iter().any(|a| a == "--log") {
            cmd.args(["--log", "debug"]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd);
        self.logs = Lines::collect(child.stderr.take().expect("stderr piped"));
        self.child = Some(child);
    }

    /// [`Daemon::spawn_with`] for a daemon with a peer listener (`--listen` in `args`):
    /// waits for its start line and returns the address it listens on. `name` is for messages.
    pub fn spawn_listening(socket: &Path, name: &str, args: &[&str]) -> (Self, SocketAddr) {
        let daemon = Self::spawn_with(socket, args);
        let listen = daemon.start_field(name, "listen");
        let addr = listen
            .parse()
            .unwrap_or_else(|_| panic!("{name}: no listen address in {listen:?}"));
        (daemon, addr)
    }

    /// The value of `key=` on the daemon's start line ("qnetd listening …"), once it is
    /// logged; panics (naming `name`, with the log) if it never is or has no such field.
    pub fn start_field(&self, name: &str, key: &str) -> String {
        let line = self
            .logs
            .wait(|l| l.contains("qnetd listening"))
            .unwrap_or_else(|| panic!("{name} did not start:\n{}", self.logs.dump()));
        let value = field(&line, key);
        assert!(!value.is_empty(), "{name}: no {key}= in {line:?}");
        value.to_owned()
    }

    /// Block until the startup line appears.
    pub fn wait_ready(&self) {
        assert!(
            self.logs.wait(|l| l.contains("qnetd listening")).is_some(),
            "daemon did not start:\n{}",
            self.logs.dump()
        );
    }

    /// Start the daemon again, on the same socket with the same arguments (after it was
    /// killed, terminated or exited), and wait until it is ready.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
        self.wait_ready();
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The node name the daemon was started with (`--node`).
    pub fn node(&self) -> &str {
        self.args
            .iter()
            .position(|a| a == "--node")
            .and_then(|i| self.args.get(i + 1))
            .map_or("", String::as_str)
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// Wait for the daemon to exit (hang guard [`GUARD`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("daemon running");
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit:\n{}",
                self.logs.dump()
            );
            // Polling a child for exit; the bound above is the hang guard.
            std::thread::sleep(Duration::from_millis(10));
        }
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

    /// SIGKILL the daemon and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Connect a raw session (no hello yet).
    pub fn connect(&self) -> RawSession {
        RawSession::connect(&self.socket)
    }

    /// A THREAD session for `tid`, hello done.
    pub fn thread(&self, tid: u32) -> RawSession {
        let mut c = self.connect();
        let ack = c.hello(SessionKind::Thread, tid);
        assert!(ack.is_some(), "no hello ack");
        c
    }

    /// Wait for a warning that closed a session of this test process for `reason`.
    pub fn expect_closed_warning(&self, reason: &str) {
        let pid = format!("pid={}", std::process::id());
        let found = self.logs.wait(|l| {
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
        self.kill();
    }
}

/// One daemon of a linked test cluster, listening on QUIC on 127.0.0.1, with its socket in a
/// temp dir of its own; killed on drop.
pub struct PeerNode {
    /// The daemon.
    pub daemon: Daemon,
    /// Its QUIC address.
    pub addr: SocketAddr,
}

impl PeerNode {
    /// Node `name` listening on 127.0.0.1:`port` (0: any) with the certificates in `certs`,
    /// dialling `peers`, with `args` more `qnetd` arguments; returns once it listens.
    pub fn start(
        certs: &Path,
        name: &str,
        port: u16,
        peers: &[(&str, SocketAddr)],
        args: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("qnetd.sock");
        let listen = format!("127.0.0.1:{port}");
        let certs = certs.to_str().expect("certs path in UTF-8").to_owned();
        let peer_args: Vec<String> = peers.iter().map(|(n, a)| format!("{n}={a}")).collect();
        let mut all = vec!["--node", name, "--listen", &listen, "--certs", &certs];
        for p in &peer_args {
            all.extend(["--peer", p.as_str()]);
        }
        all.extend_from_slice(args);
        let (mut daemon, addr) = Daemon::spawn_listening(&socket, name, &all);
        daemon._dir = Some(dir);
        Self { daemon, addr }
    }

    /// A THREAD session for `tid`, hello done.
    pub fn thread(&self, tid: u32) -> RawSession {
        self.daemon.thread(tid)
    }

    /// Wait until the `n`th "node up" line for `peer` (hang guard only).
    pub fn wait_node_up(&self, peer: &str, n: usize) {
        let tag = format!("peer={peer}");
        assert!(
            self.daemon
                .logs
                .wait_count(n, |l| l.contains("node up") && l.contains(&tag))
                .is_some(),
            "{peer} never came up ({n}):\n{}",
            self.daemon.logs.dump()
        );
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }
}
