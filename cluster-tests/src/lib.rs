//! Test support for multi-node qnet tests: real `qnetd` processes on loopback, each with its
//! own Unix socket, linked over real QUIC with real certificates from a throwaway cluster CA.
//!
//! - [`Cluster::start`] starts one daemon per node name (a full mesh: each node dials the
//!   nodes started before it) and waits until every link is up, from the daemons' own
//!   "node up" log lines;
//! - [`Cluster::start_relayed`] starts `n1` and `n2` with a [`Relay`] between them that the
//!   test can cut and restore;
//! - [`Cluster::start_mutual`] starts nodes that all dial each other (so a node pair holds
//!   two connections), optionally with one of them through a [`Relay`], and with a chosen
//!   `--link-timeout`;
//! - [`Node::spawn`] runs an example or the `qnet-probe` binary against a node
//!   (`QNET_SOCKET` set), capturing its output ([`Proc`]).
//!
//! Everything started here is SIGKILLed and reaped on drop, and also gets the parent-death
//! signal, so an aborted test run leaves nothing behind. Waits are bounded by [`GUARD`], a hang
//! guard only: no assertion depends on timing.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use qnet_transport::{CertAuthority, Validity, issue_node_cert};

/// Hang guard for every wait; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(30);

/// `--link-timeout` of the test daemons: how soon a lost peer is noticed.
pub const LINK_TIMEOUT: &str = "1s";

/// `--max-message-size` of the test daemons (room for 1 MiB messages).
pub const MAX_MESSAGE: u64 = 4 << 20;

/// `<target>/debug`, from this test executable's path (`<target>/debug/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Build `qnetd`, the `qnet` examples and the C library `libqnetc` (for `capi`'s tests) once
/// per test process (cargo makes this a no-op when they are up to date, so a stale binary is
/// never used). One selection for every caller: two different selections resolve features
/// differently and make each build redo the other's work.
pub fn build_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "qnet-daemon",
                "--bin",
                "qnetd",
                "-p",
                "qnet",
                "--examples",
                "-p",
                "qnet-capi",
                "--lib",
            ])
            .status()
            .expect("running cargo build");
        assert!(
            st.success(),
            "building qnetd, the examples and libqnetc failed"
        );
    });
}

/// Path of the `qnetd` binary (built if needed).
pub fn qnetd_path() -> PathBuf {
    build_binaries();
    target_dir().join("qnetd")
}

/// Path of a `qnet` example binary (built if needed).
pub fn example_path(name: &str) -> PathBuf {
    build_binaries();
    target_dir().join("examples").join(name)
}

type Job = (Command, Sender<std::io::Result<Child>>);

/// Spawn `cmd` from one long-lived thread with the parent-death signal set (the signal fires
/// when the *thread* that forked exits, so it must not be a test thread).
#[allow(unsafe_code)]
pub fn spawn(mut cmd: Command) -> Child {
    static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    // SAFETY: the pre_exec hook only calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap()
        .send((cmd, rtx))
        .expect("spawner thread alive");
    rrx.recv()
        .expect("spawner answered")
        .expect("spawning a child")
}

/// Lines collected from a process's output, waitable.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
    closed: AtomicBool,
}

impl Lines {
    /// Collect every line `r` produces on a background thread.
    fn collect(r: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                sink.lines.lock().unwrap().push(line);
                sink.more.notify_all();
            }
            sink.closed.store(true, Ordering::SeqCst);
            let _guard = sink.lines.lock().unwrap();
            sink.more.notify_all();
        });
        lines
    }

    /// Wait until `n` lines satisfy `pred` and return them; `None` if the stream ends first
    /// or after [`GUARD`].
    pub fn wait_count(&self, n: usize, pred: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lines.lock().unwrap();
        loop {
            let found: Vec<String> = lines.iter().filter(|l| pred(l)).cloned().collect();
            if found.len() >= n {
                return Some(found);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Wait for a line satisfying `pred`.
    pub fn wait(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.wait_count(1, pred).and_then(|v| v.into_iter().next())
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

    /// Wait until the stream is closed (the process exited); [`GUARD`] bounds it.
    fn wait_closed(&self) -> bool {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lines.lock().unwrap();
        while !self.closed.load(Ordering::SeqCst) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
        true
    }

    /// Everything so far, one line each.
    pub fn dump(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// A process started by a test (an example, the probe, or a daemon); SIGKILLed and reaped on
/// drop.
pub struct Proc {
    /// What it is, for messages.
    pub what: String,
    child: Option<Child>,
    /// Its stdout lines.
    pub stdout: Arc<Lines>,
    /// Its stderr lines.
    pub stderr: Arc<Lines>,
}

impl Proc {
    /// Spawn `cmd` with stdout and stderr captured.
    pub fn spawn(what: impl Into<String>, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd);
        let stdout = Lines::collect(child.stdout.take().expect("stdout piped"));
        let stderr = Lines::collect(child.stderr.take().expect("stderr piped"));
        Proc {
            what: what.into(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Wait for a stdout line satisfying `pred`; panics (with the output) if it never comes.
    pub fn line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stdout.wait(pred).unwrap_or_else(|| {
            panic!(
                "{}: no line {what:?}\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout.dump(),
                self.stderr.dump()
            )
        })
    }

    /// Wait for a stdout line starting with `prefix`.
    pub fn line_starting(&self, prefix: &str) -> String {
        self.line(prefix, |l| l.starts_with(prefix))
    }

    /// Wait for a stderr line satisfying `pred`.
    pub fn err_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stderr.wait(pred).unwrap_or_else(|| {
            panic!(
                "{}: no stderr line {what:?}\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout.dump(),
                self.stderr.dump()
            )
        })
    }

    /// The first line of a server: `pid=<pid> chid=<chid>`.
    pub fn pid_chid(&self) -> (u32, i32) {
        let l = self.line_starting("pid=");
        (
            field(&l, "pid").parse().expect("pid"),
            field(&l, "chid").parse().expect("chid"),
        )
    }

    /// Wait for the process to exit (hang guard [`GUARD`]); its output is complete then.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        let Some(child) = self.child.as_mut() else {
            panic!("{}: already reaped", self.what)
        };
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                // Drain the pipes so the output is complete.
                self.stdout.wait_closed();
                self.stderr.wait_closed();
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout.dump(),
                self.stderr.dump()
            );
            // Polling a child for exit; the bound above is the hang guard.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait for exit; return (success, stdout, stderr).
    pub fn output(&mut self) -> (bool, String, String) {
        let st = self.wait_exit();
        (st.success(), self.stdout.dump(), self.stderr.dump())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Is it still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `key=value` in a line of `key=value` words (empty if absent).
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

/// A cluster CA and node certificates in a directory.
pub struct Certs {
    dir: PathBuf,
    ca: CertAuthority,
}

impl Certs {
    /// A new CA in `dir`, with certificates for `nodes`.
    pub fn new(dir: &Path, nodes: &[&str]) -> Result<Certs> {
        std::fs::create_dir_all(dir)?;
        let ca = CertAuthority::generate("qnet-test").context("generating the CA")?;
        ca.save(dir, true).context("saving the CA")?;
        let certs = Certs {
            dir: dir.to_path_buf(),
            ca,
        };
        for n in nodes {
            certs.issue(n)?;
        }
        Ok(certs)
    }

    /// Issue (or reissue) `node`'s certificate.
    pub fn issue(&self, node: &str) -> Result<()> {
        issue_node_cert(&self.ca, node, Validity::days(1))
            .with_context(|| format!("issuing {node}"))?
            .save(&self.dir, true)
            .with_context(|| format!("saving {node}"))?;
        Ok(())
    }

    /// The directory (`--certs`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One node: a `qnetd` with its own socket, listening on 127.0.0.1.
pub struct Node {
    /// The node name.
    pub name: String,
    /// Its Unix socket (`QNET_SOCKET` for its clients).
    pub socket: PathBuf,
    /// Its QUIC address (fixed after the first start, so a restart reuses it).
    pub addr: SocketAddr,
    certs: PathBuf,
    peers: Vec<(String, SocketAddr)>,
    /// Its `--link-timeout`.
    link_timeout: String,
    daemon: Option<Proc>,
    /// Logs of earlier runs of this node's daemon (before restarts), for failure messages.
    earlier_logs: Vec<String>,
    /// More `qnetd` arguments for its next start ([`Cluster::set_daemon_args`]).
    extra_args: Vec<String>,
}

impl Node {
    fn start(
        dir: &Path,
        certs: &Path,
        name: &str,
        port: u16,
        peers: Vec<(String, SocketAddr)>,
        link_timeout: &str,
    ) -> Node {
        let mut node = Node {
            name: name.into(),
            socket: dir.join(format!("{name}.sock")),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            certs: certs.to_path_buf(),
            peers,
            link_timeout: link_timeout.into(),
            daemon: None,
            earlier_logs: Vec::new(),
            extra_args: Vec::new(),
        };
        node.run_daemon();
        node
    }

    /// A node of [`Cluster::start_with_args`]: any port, the default link timeout, `extra`
    /// arguments for its daemon.
    fn start_with_args(
        dir: &Path,
        certs: &Path,
        name: &str,
        peers: Vec<(String, SocketAddr)>,
        extra: Vec<String>,
    ) -> Node {
        let mut node = Node {
            name: name.into(),
            socket: dir.join(format!("{name}.sock")),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            certs: certs.to_path_buf(),
            peers,
            link_timeout: LINK_TIMEOUT.into(),
            daemon: None,
            earlier_logs: Vec::new(),
            extra_args: extra,
        };
        node.run_daemon();
        node
    }

    fn run_daemon(&mut self) {
        let mut cmd = Command::new(qnetd_path());
        cmd.arg("--node")
            .arg(&self.name)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--certs")
            .arg(&self.certs)
            .arg("--link-timeout")
            .arg(&self.link_timeout)
            .args(["--log", "info"]);
        // `--max-message-size` among the extra arguments replaces the default [`MAX_MESSAGE`].
        if !self.extra_args.iter().any(|a| a == "--max-message-size") {
            cmd.arg("--max-message-size").arg(MAX_MESSAGE.to_string());
        }
        for (n, a) in &self.peers {
            cmd.arg("--peer").arg(format!("{n}={a}"));
        }
        cmd.args(&self.extra_args);
        let d = Proc::spawn(format!("qnetd {}", self.name), cmd);
        let line = d
            .stderr
            .wait(|l| l.contains("qnetd listening"))
            .unwrap_or_else(|| panic!("qnetd {} did not start:\n{}", self.name, d.stderr.dump()));
        self.addr = line
            .split("listen=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {line:?}"));
        self.daemon = Some(d);
    }

    /// The running daemon's log (stderr) lines.
    pub fn log(&self) -> &Lines {
        &self.daemon.as_ref().expect("daemon running").stderr
    }

    /// Wait until this daemon has logged "node up" for `peer` at least `n` times.
    pub fn wait_node_up(&self, peer: &str, n: usize) {
        self.wait_log(n, "node up", peer);
    }

    /// Wait until this daemon has logged "node down" for `peer` at least `n` times.
    pub fn wait_node_down(&self, peer: &str, n: usize) {
        self.wait_log(n, "node down", peer);
    }

    /// Wait until this daemon has logged a line containing `what` for `peer` (a `peer=<peer>`
    /// field) at least `n` times.
    pub fn wait_log(&self, n: usize, what: &str, peer: &str) {
        let tag = format!("peer={peer}");
        let ok = self
            .log()
            .wait_count(n, |l| {
                l.contains(what) && l.split_whitespace().any(|w| w == tag)
            })
            .is_some();
        assert!(
            ok,
            "{}: no {what} #{n} for {peer}:\n{}",
            self.name,
            self.log().dump()
        );
    }

    /// How many times this daemon has logged "node up" for `peer`.
    pub fn node_up_count(&self, peer: &str) -> usize {
        let tag = format!("peer={peer}");
        self.daemon.as_ref().map_or(0, |d| {
            d.stderr
                .count(|l| l.contains("node up") && l.split_whitespace().any(|w| w == tag))
        })
    }

    /// The running daemon's process id (0 if it is not running).
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().map_or(0, Proc::pid)
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
            self.earlier_logs.push(d.stderr.dump());
        }
    }

    /// Is the daemon running?
    pub fn is_up(&self) -> bool {
        self.daemon.is_some()
    }

    /// A command for `program` with this node's socket in `QNET_SOCKET`.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("QNET_SOCKET", &self.socket);
        cmd
    }

    /// Run `program` with `args` against this node.
    pub fn spawn(&self, program: &Path, args: &[&str]) -> Proc {
        let mut cmd = self.command(program);
        cmd.args(args);
        let name = program
            .file_name()
            .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned());
        Proc::spawn(format!("{name} {args:?} on {}", self.name), cmd)
    }

    /// Run the `qnet` example `name` with `args` against this node.
    pub fn spawn_example(&self, name: &str, args: &[&str]) -> Proc {
        self.spawn(&example_path(name), args)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several nodes on one machine. Dropping it kills every daemon.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    /// The relay between `n1` and `n2` for [`Cluster::start_relayed`].
    pub relay: Option<Relay>,
    certs: Certs,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// One daemon per name; node *i* dials every node before it, so every pair is linked.
    /// Returns once every daemon has logged "node up" for every other node.
    pub fn start(names: &[&str]) -> Cluster {
        Self::start_with_args(names, &[])
    }

    /// [`Cluster::start`], with more `qnetd` arguments for some nodes: `(name, args)`
    /// (`--max-message-size N` among them replaces the default [`MAX_MESSAGE`]).
    pub fn start_with_args(names: &[&str], daemon_args: &[(&str, &[&str])]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        let mut nodes: Vec<Node> = Vec::new();
        for name in names {
            let peers = nodes.iter().map(|n| (n.name.clone(), n.addr)).collect();
            let extra = daemon_args
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, args)| args.iter().map(|a| (*a).to_owned()))
                .collect();
            nodes.push(Node::start_with_args(
                dir.path(),
                certs.dir(),
                name,
                peers,
                extra,
            ));
        }
        let c = Cluster {
            nodes,
            relay: None,
            certs,
            dir,
        };
        for a in &c.nodes {
            for b in &c.nodes {
                if a.name != b.name {
                    a.wait_node_up(&b.name, 1);
                }
            }
        }
        c
    }

    /// `n1` and `n2` with a [`Relay`] in between: `n2` accepts only (no peer entry), `n1`
    /// dials `n2` at the relay's address. Returns once both see the link up.
    pub fn start_relayed() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), &["n1", "n2"]).expect("certificates");
        let n2 = Node::start(dir.path(), certs.dir(), "n2", 0, Vec::new(), LINK_TIMEOUT);
        let relay = Relay::start(n2.addr).expect("relay");
        let n1 = Node::start(
            dir.path(),
            certs.dir(),
            "n1",
            0,
            vec![("n2".into(), relay.addr())],
            LINK_TIMEOUT,
        );
        n1.wait_node_up("n2", 1);
        n2.wait_node_up("n1", 1);
        Cluster {
            nodes: vec![n1, n2],
            relay: Some(relay),
            certs,
            dir,
        }
    }

    /// Nodes that all `--peer` each other, with `--link-timeout link_timeout`, on UDP ports
    /// reserved before any of them starts (each must know the others' addresses). Each pair
    /// ends up with two connections, one dialled by each side: returns once every daemon has
    /// logged "node up" and "peer link added" for every other node. With `relayed`, `n1`
    /// dials `n2` through a [`Relay`] (so a test can cut that one connection) while `n2`
    /// dials `n1` directly.
    pub fn start_mutual(names: &[&str], link_timeout: &str, relayed: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        // All reserved at once so they differ, then freed for the daemons to bind.
        let reserved: Vec<UdpSocket> = names
            .iter()
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("reserving a UDP port"))
            .collect();
        let addrs: Vec<SocketAddr> = reserved
            .iter()
            .map(|s| s.local_addr().expect("local_addr"))
            .collect();
        drop(reserved);
        let addr_of = |name: &str| addrs[names.iter().position(|n| *n == name).expect(name)];
        let relay = relayed.then(|| Relay::start(addr_of("n2")).expect("relay"));
        let mut nodes = Vec::new();
        for name in names {
            let peers = names
                .iter()
                .filter(|n| *n != name)
                .map(|n| match &relay {
                    Some(r) if (*name, *n) == ("n1", "n2") => (n.to_string(), r.addr()),
                    _ => (n.to_string(), addr_of(n)),
                })
                .collect();
            let port = addr_of(name).port();
            nodes.push(Node::start(
                dir.path(),
                certs.dir(),
                name,
                port,
                peers,
                link_timeout,
            ));
        }
        for a in &nodes {
            for b in &nodes {
                if a.name != b.name {
                    a.wait_node_up(&b.name, 1);
                    a.wait_log(1, "peer link added", &b.name);
                }
            }
        }
        Cluster {
            nodes,
            relay,
            certs,
            dir,
        }
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// SIGKILL `name`'s daemon.
    pub fn kill(&mut self, name: &str) {
        self.node_mut(name).kill();
    }

    /// Start `name`'s daemon again (same name, certificate, address and peers) and wait
    /// until it and every other running node see each other up again.
    pub fn restart(&mut self, name: &str) {
        let before: Vec<(String, usize)> = self
            .nodes
            .iter()
            .filter(|n| n.name != name && n.is_up())
            .map(|n| (n.name.clone(), n.node_up_count(name)))
            .collect();
        self.relaunch(name);
        for (other, count) in before {
            self.node(&other).wait_node_up(name, count + 1);
            self.node(name).wait_node_up(&other, 1);
        }
    }

    /// Start `name`'s daemon again (same name, certificate, address, peers and link
    /// timeout); returns once it listens, without waiting for any link.
    pub fn relaunch(&mut self, name: &str) {
        let node = self.node_mut(name);
        assert!(!node.is_up(), "{name} is running");
        node.run_daemon();
    }

    /// The certificate directory.
    pub fn certs(&self) -> &Path {
        self.certs.dir()
    }

    /// The temporary directory holding sockets and certificates.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A UDP relay between a dialling node and a listening node. The dialler is given
/// [`Relay::addr`] as the peer's address; datagrams are forwarded both ways until
/// [`Relay::cut`], dropped while cut, and forwarded again after [`Relay::restore`].
pub struct Relay {
    front: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// A relay on 127.0.0.1 forwarding to `target`.
    pub fn start(target: SocketAddr) -> Result<Relay> {
        let front = UdpSocket::bind("127.0.0.1:0")?;
        let back = UdpSocket::bind("127.0.0.1:0")?;
        back.connect(target)?;
        // Read timeouts only let the threads notice `stop`.
        front.set_read_timeout(Some(Duration::from_millis(50)))?;
        back.set_read_timeout(Some(Duration::from_millis(50)))?;
        let front_addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let dialler: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front2, back2) = (front.try_clone()?, back.try_clone()?);
        let mut threads = Vec::new();
        {
            let (cut, stop, dialler) = (cut.clone(), stop.clone(), dialler.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    *dialler.lock().unwrap() = Some(from);
                    if !cut.load(Ordering::SeqCst) {
                        let _ = back.send(&buf[..n]);
                    }
                }
            }));
        }
        {
            let (cut, stop) = (cut.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok(n) = back2.recv(&mut buf) else {
                        continue;
                    };
                    let to = *dialler.lock().unwrap();
                    if let (false, Some(to)) = (cut.load(Ordering::SeqCst), to) {
                        let _ = front2.send_to(&buf[..n], to);
                    }
                }
            }));
        }
        Ok(Relay {
            front: front_addr,
            cut,
            stop,
            threads,
        })
    }

    /// The address the dialling node is given for the listening node.
    pub fn addr(&self) -> SocketAddr {
        self.front
    }

    /// Drop every datagram from now on, both ways.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
