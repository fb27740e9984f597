//! The course in C across two nodes (client on `n1`, server on `n2`, linked by QUIC with
//! mutual TLS), the `QNET_NODE` setting that makes node 0 and bare names mean another node,
//! and C and Rust programs across nodes both ways.

mod common;

use common::{checksum, example, field, two_nodes};

fn sum_line(text: &str) -> String {
    format!("checksum={}", checksum(text))
}

#[test]
fn checksum_and_pulse_across_nodes() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&example("pulse_server"), &[]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(
        &example("pulse_client"),
        &[&pid.to_string(), &chid.to_string(), "7", "99", "n2"],
    );
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l == sum_line("pulse client says hi")),
        "{out}"
    );
    s.line("the pulse", |l| l == "pulse code=7 value=99");

    let s = n2.spawn(&example("checksum_server"), &[]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(
        &example("checksum_client"),
        &[&pid.to_string(), &chid.to_string(), "over the wire", "n2"],
    );
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("over the wire")), "{out}");
    // The server sees a remote sender: a non-zero node descriptor.
    let line = s.line_starting("msg nd=");
    assert_ne!(field(&line, "nd"), "0", "{line}");
}

#[test]
fn names_iov_and_events_across_nodes() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&example("name_server"), &["checksummer"]);
    s.line("attach", |l| l == "attached checksummer");
    let mut cl = n1.spawn(&example("name_client"), &["n2/checksummer", "remote name"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("remote name")), "{out}");
    s.line_starting("connect from pid=");
    s.line_starting("disconnect scoid=");

    let s = n2.spawn(&example("iov_server"), &[]);
    s.line("attach", |l| l == "attached iov_server");
    let text = "an IOV message that crosses nodes";
    let mut cl = n1.spawn(&example("iov_client"), &[text, "n2/iov_server"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line(text)), "{out}");
    s.line("got line", |l| l == format!("got {} bytes", text.len()));

    let s = n2.spawn(&example("event_server"), &[]);
    s.line("attach", |l| l == "attached event_server");
    let mut cl = n1.spawn(&example("event_client"), &["2", "n2/event_server"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    let values: Vec<i32> = out
        .lines()
        .filter_map(|l| l.strip_prefix("event value="))
        .map(|v| v.parse().expect("value"))
        .collect();
    assert_eq!(values.len(), 2, "{out}");
    assert!(values[0] > 0 && values[0] < values[1], "{values:?}");
}

#[test]
fn disconnect_and_unblock_across_nodes() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&example("disconnect_server"), &[]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(
        &example("disconnect_client"),
        &[&pid.to_string(), &chid.to_string(), "n2"],
    );
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    let line = s.line_starting("client scoid=");
    let scoid = field(&line, "scoid").to_string();
    s.line("the disconnect", |l| {
        l == format!("disconnect scoid={scoid}")
    });

    let s = n2.spawn(&example("unblock_server"), &["60"]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(
        &example("unblock_client"),
        &[&pid.to_string(), &chid.to_string(), "n2"],
    );
    let received = s.line_starting("received rcvid=");
    let rcvid = received.trim_start_matches("received rcvid=").to_string();
    s.line("the unblock pulse", |l| {
        l == format!("unblock rcvid={rcvid}")
    });
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l == "MsgSend failed: ETIMEDOUT"),
        "{out}"
    );
}

/// `QNET_NODE=n2`: an unmodified program that hard-codes node 0 (`ConnectAttach(0, …)`) or
/// opens a bare name reaches node `n2`; its connection to itself stays local.
#[test]
fn qnet_node_makes_node_zero_mean_another_node() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&example("checksum_server"), &[]);
    let (pid, chid) = s.pid_chid();
    let mut cmd = n1.command(&example("checksum_client"));
    cmd.args([&pid.to_string(), &chid.to_string(), "node zero"])
        .env("QNET_NODE", "n2");
    let mut cl = common::Proc::spawn("checksum_client QNET_NODE=n2", cmd);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("node zero")), "{out}");
    // Without the setting the same command line looks on n1, where that pid has no channel.
    let mut cl = n1.spawn(
        &example("checksum_client"),
        &[&pid.to_string(), &chid.to_string(), "node zero"],
    );
    let (ok, _, _) = cl.output();
    assert!(!ok, "node 0 must be n1 without QNET_NODE");

    let s = n2.spawn(&example("name_server"), &["bare"]);
    s.line("attach", |l| l == "attached bare");
    let mut cmd = n1.command(&example("name_client"));
    cmd.args(["bare", "bare name"]).env("QNET_NODE", "n2");
    let mut cl = common::Proc::spawn("name_client QNET_NODE=n2", cmd);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("bare name")), "{out}");

    // A timer pulse on a connection to the program's own channel stays local.
    let mut cmd = n1.command(&example("timer_pulse"));
    cmd.args(["2", "10"]).env("QNET_NODE", "n2");
    let mut p = common::Proc::spawn("timer_pulse QNET_NODE=n2", cmd);
    let (ok, out, err) = p.output();
    assert!(ok && out.lines().any(|l| l == "done"), "{out}\n{err}");
}

#[test]
fn c_and_rust_across_nodes_both_ways() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    // C client on n1 -> Rust server on n2.
    let rs = n2.spawn_example("checksum_server", &[]);
    let (pid, chid) = rs.pid_chid();
    let mut cl = n1.spawn(
        &example("checksum_client"),
        &[&pid.to_string(), &chid.to_string(), "C to Rust", "n2"],
    );
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("C to Rust")), "{out}");
    // Rust client on n1 -> C server on n2 (the Rust client's node/pid/chid form).
    let cs = n2.spawn(&example("checksum_server"), &[]);
    let (pid, chid) = cs.pid_chid();
    let mut rc = n1.spawn_example(
        "checksum_client",
        &[&format!("n2/{pid}/{chid}"), "Rust to C"],
    );
    let (ok, out, err) = rc.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("Rust to C")), "{out}");
}

/// `QNET_NODE` works for Rust programs too (the `qnet` library): the Rust examples with node
/// 0 and a bare name reach n2, and a node the daemon does not know is named in the error.
#[test]
fn qnet_node_works_for_the_rust_library_too() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&example("checksum_server"), &[]);
    let (pid, chid) = s.pid_chid();
    let rust = |name: &str| qnet_testkit::example_path(name);
    let mut cmd = n1.command(&rust("checksum_client"));
    cmd.args([&pid.to_string(), &chid.to_string(), "rust node zero"])
        .env("QNET_NODE", "n2");
    let mut cl = common::Proc::spawn("rust checksum_client QNET_NODE=n2", cmd);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l == sum_line("rust node zero")),
        "{out}"
    );

    let s = n2.spawn(&example("name_server"), &["rustbare"]);
    s.line("attach", |l| l == "attached rustbare");
    let mut cmd = n1.command(&rust("name_client"));
    cmd.args(["rustbare", "bare from rust"])
        .env("QNET_NODE", "n2");
    let mut cl = common::Proc::spawn("rust name_client QNET_NODE=n2", cmd);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l == sum_line("bare from rust")),
        "{out}"
    );

    let mut cmd = n1.command(&rust("checksum_client"));
    cmd.args([&pid.to_string(), &chid.to_string(), "x"])
        .env("QNET_NODE", "n9");
    let mut cl = common::Proc::spawn("rust checksum_client QNET_NODE=n9", cmd);
    let (ok, _, err) = cl.output();
    assert!(!ok);
    assert!(
        err.contains("QNET_NODE=n9") && err.contains("EHOSTUNREACH"),
        "{err}"
    );
}

/// A signal ends a C client's `MsgSend` to another node's server with `EINTR` (the server's
/// late reply gets `ESRCH`), or, on an `_NTO_CHF_UNBLOCK` channel, becomes the server's
/// unblock pulse and the client takes its answer: the calling node forwards the unblock.
/// The signals are sent once the server holds each message, so no state is guessed.
#[test]
fn a_signal_unblocks_a_call_to_another_node() {
    let exe = common::compile(
        &common::crate_dir().join("tests/c/signal_remote.c"),
        "signal_remote",
        "-Wall -Wextra -Werror",
    );
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let mut s = n2.spawn(&exe, &["server"]);
    let line = s.line_starting("pid=");
    let ids = ["pid", "chid", "uchid"].map(|k| field(&line, k).to_owned());
    let mut cl = n1.spawn(&exe, &["client", "n2", &ids[0], &ids[1], &ids[2]]);
    let client = cl.pid().to_string();
    let signal = |sig: &str| {
        let st = std::process::Command::new("kill")
            .args([sig, &client])
            .status()
            .expect("kill");
        assert!(st.success(), "kill {sig} {client}: {st}");
    };
    s.line("the first held message", |l| {
        l == "PASS server: held a remote message"
    });
    signal("-USR1");
    s.line("the second held message", |l| {
        l == "PASS server: held a remote message on the unblock channel"
    });
    signal("-USR2");
    let (ok, out, err) = cl.output();
    let (sok, sout, serr) = s.output();
    for (ok, out, err, min) in [(ok, &out, &err, 5), (sok, &sout, &serr, 8)] {
        let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert!(ok && fails.is_empty(), "failures: {fails:#?}\n{out}\n{err}");
        let passed = out.lines().filter(|l| l.starts_with("PASS")).count();
        assert!(passed >= min, "only {passed} checks passed:\n{out}");
    }
}
