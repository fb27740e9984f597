//! Every course example pair, run as real processes against a real `qnetd`.

mod common;

use std::io::Write;

use common::{TestDaemon, parse_pid_chid, spawn_example};

fn checksum(s: &str) -> u32 {
    s.bytes().map(u32::from).sum()
}

#[test]
fn checksum_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("checksum_server", &[], d.socket());
    let first = server.expect_line("first line", |_| true);
    let (pid, chid) = parse_pid_chid(&first);
    assert_eq!(
        pid,
        server.pid(),
        "first line must be pid=<pid> chid=<chid>: {first}"
    );
    let mut client = spawn_example(
        "checksum_client",
        &[&pid.to_string(), &chid.to_string(), "hello qnx"],
        d.socket(),
    );
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("checksum={}", checksum("hello qnx"))),
        "{lines:?}"
    );
}

#[test]
fn pulse_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("pulse_server", &[], d.socket());
    let (pid, chid) = parse_pid_chid(&server.expect_prefix("pid="));
    let mut client = spawn_example(
        "pulse_client",
        &[&pid.to_string(), &chid.to_string(), "5", "1234"],
        d.socket(),
    );
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("checksum={}", checksum("pulse client says hi"))),
        "{lines:?}"
    );
    server.expect_line("the pulse", |l| l == "pulse code=5 value=1234");
}

#[test]
fn name_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("name_server", &["checksummer"], d.socket());
    server.expect_line("attach", |l| l == "attached checksummer");
    let mut client = spawn_example("name_client", &["checksummer", "by name"], d.socket());
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("checksum={}", checksum("by name"))),
        "{lines:?}"
    );
    // name_attach's channel has DISCONNECT: the client's exit is noticed.
    server.expect_prefix("disconnect scoid=");

    // A node-qualified name for this node works too; another node is unreachable.
    let local = format!("{}/checksummer", d.node());
    let mut client = spawn_example("name_client", &[&local, "qualified"], d.socket());
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("checksum={}", checksum("qualified"))),
        "{lines:?}"
    );
    let mut client = spawn_example("name_client", &["elsewhere/checksummer", "x"], d.socket());
    let (st, _) = client.wait_exit_lines();
    assert!(!st.success());
    assert!(
        client.stderr().contains("EHOSTUNREACH"),
        "{}",
        client.stderr()
    );
}

#[test]
fn disconnect_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("disconnect_server", &[], d.socket());
    let (pid, chid) = parse_pid_chid(&server.expect_prefix("pid="));
    for _ in 0..2 {
        let mut client = spawn_example(
            "disconnect_client",
            &[&pid.to_string(), &chid.to_string()],
            d.socket(),
        );
        let (st, lines) = client.wait_exit_lines();
        assert!(st.success(), "client failed: {}", client.stderr());
        assert!(
            lines.contains(&format!("checksum={}", checksum("disconnect me"))),
            "{lines:?}"
        );
        let client_line = server.expect_prefix("client scoid=");
        let scoid = client_line
            .split_whitespace()
            .find_map(|p| p.strip_prefix("scoid="))
            .expect("scoid in line");
        server.expect_line("the disconnect pulse", |l| {
            l == format!("disconnect scoid={scoid}")
        });
    }
}

#[test]
fn unblock_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("unblock_server", &["60"], d.socket());
    let (pid, chid) = parse_pid_chid(&server.expect_prefix("pid="));
    let mut client = spawn_example(
        "unblock_client",
        &[&pid.to_string(), &chid.to_string()],
        d.socket(),
    );
    let received = server.expect_prefix("received rcvid=");
    let rcvid = received.trim_start_matches("received rcvid=");
    server.expect_line("the unblock pulse", |l| {
        l == format!("unblock rcvid={rcvid}")
    });
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("MsgSend failed: ETIMEDOUT")),
        "{lines:?}"
    );
}

#[test]
fn iov_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("iov_server", &[], d.socket());
    server.expect_line("attach", |l| l == "attached iov_server");
    let text = "a string of some length, longer than the header buffer";
    let mut client = spawn_example("iov_client", &[text], d.socket());
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("checksum={}", checksum(text))),
        "{lines:?}"
    );
    server.expect_line("got line", |l| l == format!("got {} bytes", text.len()));
}

#[test]
fn event_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("event_server", &[], d.socket());
    server.expect_line("attach", |l| l == "attached event_server");
    let mut client = spawn_example("event_client", &["3"], d.socket());
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    let values: Vec<i32> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("event value="))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 3, "{lines:?}");
    // Updateable: the server's increasing value replaces the registered 0.
    assert!(
        values.windows(2).all(|w| w[0] < w[1]) && values[0] > 0,
        "{values:?}"
    );
    server.expect_prefix("registered rcvid=");
}

#[test]
fn shmem_creator_and_user() {
    let d = TestDaemon::start();
    let name = format!("/qnet-test-{}", std::process::id());
    let mut creator = spawn_example("shmem_creator", &[&name, "5", "100"], d.socket());
    creator.expect_line("created", |l| l == format!("created {name}"));
    let mut user = spawn_example("shmem_user", &[&name, "5"], d.socket());
    let (st, lines) = user.wait_exit_lines();
    assert!(st.success(), "user failed: {}", user.stderr());
    assert_eq!(
        lines.last().map(String::as_str),
        Some("count=5 text=update number 5"),
        "{lines:?}"
    );
    // Let the creator unlink and exit.
    drop(creator.stdin.take().map(|mut s| s.write_all(b"\n")));
    let (st, _) = creator.wait_exit_lines();
    assert!(st.success(), "creator failed: {}", creator.stderr());
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn shmem_server_and_client() {
    let d = TestDaemon::start();
    let mut server = spawn_example("shmem_server", &[], d.socket());
    server.expect_line("attach", |l| l == "attached shmem_server");
    let mut client = spawn_example("shmem_client", &[], d.socket());
    let client_pid = client.pid();
    let (st, lines) = client.wait_exit_lines();
    assert!(st.success(), "client failed: {}", client.stderr());
    assert!(
        lines.contains(&format!("shared: hello pid {client_pid} from shmem_server")),
        "{lines:?}"
    );
    server.expect_line("handle", |l| l == format!("handle for pid={client_pid}"));
}

/// A server that fails prints one line, `error: <ERRNAME> …`, and exits 1: no `Caused by:`
/// chain and no backtrace, even with `RUST_BACKTRACE=1` (they used to return
/// `anyhow::Result` from `main`, which prints both).
#[test]
fn a_failing_server_prints_one_line() {
    let d = TestDaemon::start();
    let mut first = spawn_example("name_server", &["taken"], d.socket());
    first.expect_line("attached", |l| l.contains("taken"));
    let mut cmd = std::process::Command::new(qnet_testkit::example_path("name_server"));
    cmd.arg("taken")
        .env("QNET_SOCKET", d.socket())
        .env("RUST_BACKTRACE", "1");
    let out = qnet_testkit::process::run_guarded("name_server taken", cmd, common::GUARD);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: EEXIST"), "{err}");
}
