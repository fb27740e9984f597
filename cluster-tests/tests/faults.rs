//! Faults across nodes with real daemons: a daemon SIGKILLed while clients are blocked on
//! it, a daemon restarted, unknown and down nodes, and a link cut mid-send by a relay the
//! test controls. Every wait is bounded by a hang guard only.

use std::path::Path;

use cluster_tests::{Cluster, Proc, fails_with, field};

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

/// Wait for exit; return stdout (success not required: the probe reports call errors on
/// stdout and exits 0).
fn stdout_of(p: &mut Proc) -> String {
    p.output().1
}

#[test]
fn a_killed_daemon_releases_blocked_clients_and_comes_back() {
    let mut c = Cluster::start(&["n1", "n2", "n3"]);
    let others_before = [c.node("n1").daemon_pid(), c.node("n3").daemon_pid()];

    // A client on n1 REPLY-blocked on a server on n2.
    let server2 = c.node("n2").spawn(probe(), &["serve"]);
    let (pid2, chid2) = server2.pid_chid();
    let t2 = format!("n2/{pid2}/{chid2}");
    let mut blocked = c
        .node("n1")
        .spawn(probe(), &["send", &t2, "hold", "--again"]);
    server2.line_starting("held rcvid=");

    // A server on n3 with a client on n2.
    let server3 = c.node("n3").spawn(probe(), &["serve"]);
    let (pid3, chid3) = server3.pid_chid();
    let t3 = format!("n3/{pid3}/{chid3}");
    let n2_client = c.node("n2").spawn(probe(), &["attach-hold", &t3]);
    n2_client.line_starting("attached coid=");

    c.kill("n2");

    // The REPLY-blocked client gets ESRCH; its coid is dead afterwards.
    let out = stdout_of(&mut blocked);
    assert!(
        out.lines().any(|l| l == "result=err errno=ESRCH"),
        "REPLY-blocked on a dead node: ESRCH\n{out}"
    );
    assert!(
        out.lines().any(|l| l == "again result=err errno=EBADF"),
        "later sends on that coid: EBADF\n{out}"
    );
    // The server on n3 is told its client on n2 is gone.
    server3.line("disconnect pulse", |l| l.starts_with("pulse code=-33"));
    drop(n2_client);

    // While n2 is down, n1 says so.
    c.node("n1").wait_node_down("n2", 1);
    let mut down = c.node("n1").spawn_example("checksum_client", &[&t2, "x"]);
    fails_with(&mut down, "EHOSTDOWN");

    // n2 comes back on its own address; n1 and n3 were not restarted.
    c.restart("n2");
    assert_eq!(
        [c.node("n1").daemon_pid(), c.node("n3").daemon_pid()],
        others_before,
        "no other daemon was restarted"
    );
    let server = c.node("n2").spawn_example("checksum_server", &[]);
    let (pid, chid) = server.pid_chid();
    for from in ["n1", "n3"] {
        let mut client = c
            .node(from)
            .spawn_example("checksum_client", &[&format!("n2/{pid}/{chid}"), "back"]);
        let (ok, out, err) = client.output();
        assert!(ok, "from {from}: {out}\n{err}");
        let sum: u32 = "back".bytes().map(u32::from).sum();
        assert!(out.contains(&format!("checksum={sum}")), "{out}");
    }
}

#[test]
fn a_cut_link_releases_the_client_and_a_send_is_delivered_at_most_once() {
    let c = Cluster::start_relayed();
    let relay = c.relay.as_ref().expect("relay");
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let server = n2.spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");

    // A: delivered, REPLY-blocked, then the link is cut under it.
    let mut a = n1.spawn(probe(), &["send", &target, "hold"]);
    server.line_starting("held rcvid=");
    relay.cut();
    // B: sent into the cut link (or refused if n1 already noticed).
    let mut b = n1.spawn(probe(), &["send", &target, "during"]);

    let out = stdout_of(&mut a);
    assert!(
        out.lines().any(|l| l == "result=err errno=ESRCH"),
        "the client blocked across a cut link is released with ESRCH\n{out}"
    );
    let (_, out_b, err_b) = b.output();
    assert!(
        out_b.contains("result=err") || err_b.contains("error: "),
        "a send into a cut link fails\n{out_b}\n{err_b}"
    );
    n1.wait_node_down("n2", 1);
    n2.wait_node_down("n1", 1);

    relay.restore();
    n1.wait_node_up("n2", 2);
    n2.wait_node_up("n1", 2);
    let mut after = n1.spawn(probe(), &["send", &target, "after"]);
    let out = stdout_of(&mut after);
    let result = out
        .lines()
        .find(|l| l.starts_with("result="))
        .unwrap_or_default();
    assert_eq!(field(result, "result"), "ok", "{out}");
    assert_eq!(
        field(result, "data"),
        "echo:after",
        "the reply is this send's, not an earlier one's"
    );

    // The server prints each message before answering it, and its output is read in order:
    // once the "after" line is in, every earlier message line is too.
    server.line("the after message", |l| {
        l.starts_with("msg ") && field(l, "data") == "after"
    });
    let msgs = |data: &str| {
        server
            .stdout
            .count(|l| l.starts_with("msg ") && field(l, "data") == data)
    };
    assert_eq!(msgs("hold"), 1, "the cut send was delivered exactly once");
    assert!(msgs("during") <= 1, "never delivered twice");
    assert_eq!(msgs("after"), 1);
    // The reply status is the server's request count: nothing was delivered in between.
    let expected = 2 + msgs("during");
    assert_eq!(field(result, "status"), expected.to_string(), "{out}");
}

#[test]
fn unknown_and_down_nodes_fail_fast() {
    let mut c = Cluster::start(&["n1", "n2"]);
    let mut unknown = c.node("n1").spawn(probe(), &["send", "nowhere/1/1", "x"]);
    fails_with(&mut unknown, "EHOSTUNREACH");
    let mut by_name = c
        .node("n1")
        .spawn_example("name_client", &["nowhere/srv", "x"]);
    fails_with(&mut by_name, "EHOSTUNREACH");
    c.kill("n2");
    c.node("n1").wait_node_down("n2", 1);
    let mut down = c.node("n1").spawn_example("name_client", &["n2/srv", "x"]);
    fails_with(&mut down, "EHOSTDOWN");
    let mut down = c
        .node("n1")
        .spawn_example("checksum_client", &["n2/1/1", "x"]);
    fails_with(&mut down, "EHOSTDOWN");
}
