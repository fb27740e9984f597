//! SIGHUP: a running `qnetd` reads its config file again and applies the log filter, the
//! limits, the metrics address and the peer list at once (new peers dialled, removed ones
//! stopped); settings that need a restart are named; a bad file is refused with one line and
//! the running config stays. The daemon keeps serving throughout (today's code ended with
//! status 129 and left its socket behind).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{Client, GUARD, channel_create, errno};
use qnet_proto::local::{self, request, response};
use qnet_testkit::lines::Lines;
use qnet_testkit::process::{field, spawn};
use qnet_testkit::{Certs, PeerNode, qnetd_path};

/// A `qnetd` started with only `--config FILE` (no `--log`, no `RUST_LOG`: the file's `log`
/// key applies).
struct Configured {
    child: Child,
    logs: Arc<Lines>,
    file: PathBuf,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Configured {
    fn start(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("qnetd.sock");
        let file = dir.path().join("qnetd.toml");
        let c = |body: &str| format!("socket = {:?}\n{body}", socket.display().to_string());
        std::fs::write(&file, c(body)).unwrap();
        let mut cmd = Command::new(qnetd_path());
        cmd.arg("--config")
            .arg(&file)
            .env_remove("RUST_LOG")
            .env_remove(qnet_proto::SOCKET_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd);
        let logs = Lines::collect(child.stderr.take().unwrap());
        assert!(
            logs.wait(|l| l.contains("qnetd listening")).is_some(),
            "did not start:\n{}",
            logs.dump()
        );
        Self {
            child,
            logs,
            file,
            socket,
            _dir: dir,
        }
    }

    /// Write the config file anew (with the same socket) and send SIGHUP; returns the log
    /// length before, to read what the reload logged.
    fn reload(&self, body: &str) -> usize {
        let before = self.logs.all().len();
        let text = format!("socket = {:?}\n{body}", self.socket.display().to_string());
        std::fs::write(&self.file, text).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
        before
    }

    /// The first line from `from` on that holds `what`.
    fn line_after(&self, from: usize, what: &str) -> String {
        self.logs
            .wait_from(from, |l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} after line {from}:\n{}", self.logs.dump()))
            .1
    }

    fn thread(&self, tid: u32) -> Client {
        let mut c = Client::connect(&self.socket);
        c.hello(local::SessionKind::Thread, tid).expect("hello");
        c
    }

    fn alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the daemon exited:\n{}",
            self.logs.dump()
        );
        assert!(self.socket.exists(), "the socket file is still there");
    }
}

impl Drop for Configured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create(c: &mut Client) -> response::Result {
    c.call(request::Call::ChannelCreate(local::ChannelCreate {
        flags: 0,
    }))
}

#[test]
fn sighup_applies_limits_and_the_log_filter_and_names_what_needs_a_restart() {
    let mut d = Configured::start("node = \"n1\"\nlog = \"info\"\nlimit_channels = 100\n");
    let mut c = d.thread(1);
    for _ in 0..3 {
        channel_create(&mut c);
    }

    // Lower the limit and raise the message limit (which needs a restart).
    let from =
        d.reload("node = \"n1\"\nlog = \"info\"\nlimit_channels = 4\nmax_message_size = 1024\n");
    let line = d.line_after(from, "config reloaded");
    assert!(line.contains("limit_channels 100 -> 4"), "{line}");
    let restart = d.line_after(from, "take effect only at the next start");
    assert!(restart.contains("WARN"), "{restart}");
    assert!(
        restart.contains("max_message_size 16777216 -> 1024"),
        "{restart}"
    );
    channel_create(&mut c);
    assert_eq!(
        errno(&create(&mut c)),
        Some(libc::EAGAIN),
        "the new limit holds"
    );
    d.alive();

    // A filter of `warn`: this reload's info line is not written, its warning is.
    let from =
        d.reload("node = \"n1\"\nlog = \"warn\"\nlimit_channels = 5\nmax_message_size = 2048\n");
    let warned = d.line_after(from, "take effect only at the next start");
    assert!(
        warned.contains("max_message_size 16777216 -> 2048"),
        "{warned}"
    );
    assert!(
        !d.logs.all()[from..]
            .iter()
            .any(|l| l.contains("config reloaded")),
        "the info line is filtered out:\n{}",
        d.logs.dump()
    );
    channel_create(&mut c);
    assert_eq!(
        errno(&create(&mut c)),
        Some(libc::EAGAIN),
        "limit 5 applied"
    );
    d.alive();
}

#[test]
fn a_bad_config_is_refused_with_one_line_and_the_running_one_stays() {
    let mut d = Configured::start("node = \"n1\"\nlimit_channels = 2\n");
    let mut c = d.thread(1);
    for (body, says) in [
        ("node = \"n1\"\nlimit_channels = \"many\"\n", "line 3"),
        ("node = \"n1\"\nlimit_chanels = 9\n", "unknown field"),
        (
            "node = \"n1\"\nlimit_channels = 9\nlog = \"[bad\"\n",
            "bad log filter",
        ),
        (
            "node = \"n1\"\nlimit_channels = 0\n",
            "limit_channels must be at least 1",
        ),
    ] {
        let from = d.reload(body);
        let line = d.line_after(from, "config reload refused");
        assert!(
            line.contains("WARN") && line.contains(says),
            "{body}: {line}"
        );
        assert!(
            !line.contains("Error") && !line.contains("Caused by") && !line.contains('\u{7b}'),
            "one plain line: {line}"
        );
        d.alive();
    }
    // Nothing of the refused files applied: the limit is still 2.
    channel_create(&mut c);
    channel_create(&mut c);
    assert_eq!(errno(&create(&mut c)), Some(libc::EAGAIN));
    // And a good one after them applies.
    let from = d.reload("node = \"n1\"\nlimit_channels = 3\n");
    d.line_after(from, "config reloaded");
    channel_create(&mut c);
}

#[test]
fn sighup_adds_and_removes_peers_and_moves_the_metrics_endpoint() {
    let certs = Certs::temp("reload", &["n1", "n2"]);
    let n2 = PeerNode::start(certs.dir(), "n2", 0, &[], &[]);
    let base = |extra: &str| {
        format!(
            "node = \"n1\"\nlisten = \"127.0.0.1:0\"\ncerts = {:?}\n{extra}",
            certs.dir().display().to_string()
        )
    };
    let mut d = Configured::start(&base(""));
    let from = d.reload(&base(&format!(
        "peers = [{{ name = \"n2\", addr = \"{}\" }}]\nmetrics = \"127.0.0.1:0\"\n",
        n2.addr
    )));
    let line = d.line_after(from, "config reloaded");
    assert!(
        line.contains(&format!("peers none -> n2={}", n2.addr)),
        "{line}"
    );
    let up = d.line_after(from, "node up");
    assert!(up.contains("peer=n2"), "the new peer is dialled: {up}");
    let serving = d.line_after(from, "serving metrics");
    let addr = field(&serving, "metrics").to_owned();
    let scrape = get(&addr, "/metrics");
    assert!(scrape.contains("qnet_peer_up{peer=\"n2\"} 1"), "{scrape}");

    // Removed: its dial loop stops and the link it dialled closes (n2 does not dial n1).
    let from = d.reload(&base(""));
    let down = d.line_after(from, "node down");
    assert!(down.contains("peer=n2"), "{down}");
    let line = d.line_after(from, "config reloaded");
    assert!(line.contains("metrics 127.0.0.1:0 -> off"), "{line}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the metrics endpoint is gone"
    );
    d.alive();
    drop(n2);
}

fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
