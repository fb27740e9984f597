//! Peer links end to end: a node pair holding two QUIC connections at once (both daemons
//! `--peer` each other), a node that stays up while one of its links lives, and a restarted
//! daemon recognised by its new incarnation before the old connection's idle timeout.
//! Every wait is bounded by a hang guard only; the one time bound asserted (the restart
//! test's) is a third below a link timeout that would otherwise be what releases the client.

use std::path::Path;
use std::time::{Duration, Instant};

use cluster_tests::{Cluster, LINK_TIMEOUT, Node, Proc, field, ok_output};

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

/// The `result=…` line of a `send`.
fn result_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("result="))
        .unwrap_or_default()
}

/// `node/pid/chid` of a `serve` probe on `node`.
fn target(node: &str, server: &Proc) -> String {
    let (pid, chid) = server.pid_chid();
    format!("{node}/{pid}/{chid}")
}

/// Send `text` from `from` to `to` and assert it was answered as the server's `count`-th
/// message (the server's status is its message count, so a duplicate or lost delivery shows).
fn send_ok(from: &Node, to: &str, text: &str, count: usize) {
    let mut p = from.spawn(probe(), &["send", to, text]);
    let out = ok_output(&mut p);
    let r = result_line(&out);
    assert_eq!(field(r, "result"), "ok", "{} -> {to}: {out}", from.name);
    assert_eq!(field(r, "data"), format!("echo:{text}"), "{out}");
    assert_eq!(
        field(r, "status"),
        count.to_string(),
        "message #{count}: {out}"
    );
}

/// Assert `server` received exactly `texts`, each once, and nothing else.
fn received_exactly(server: &Proc, texts: &[String]) {
    let last = texts.last().expect("some messages");
    // Lines arrive in order: once the last is in, every earlier one is too.
    server.line("the last message", |l| {
        l.starts_with("msg ") && field(l, "data") == last
    });
    for t in texts {
        let n = server
            .stdout
            .count(|l| l.starts_with("msg ") && field(l, "data") == t);
        assert_eq!(n, 1, "{t} delivered once\n{}", server.stdout.dump());
    }
    let all = server.stdout.count(|l| l.starts_with("msg "));
    assert_eq!(all, texts.len(), "{}", server.stdout.dump());
}

/// Does `line` carry the field `peer=<peer>`?
fn about(line: &str, peer: &str) -> bool {
    let tag = format!("peer={peer}");
    line.split_whitespace().any(|w| w == tag)
}

/// A connection to `peer` ended (however the daemon words it).
fn link_closed(line: &str, peer: &str) -> bool {
    about(line, peer)
        && (line.contains("peer link closed") || line.contains("closing peer connection"))
}

fn node_down(line: &str, peer: &str) -> bool {
    about(line, peer) && line.contains("node down")
}

/// Lines of `node`'s log satisfying `pred`.
fn log_count(node: &Node, pred: impl Fn(&str) -> bool) -> usize {
    node.log().count(pred)
}

#[test]
fn two_links_per_pair_carry_calls_both_ways_and_the_node_goes_down_with_the_last() {
    let mut c = Cluster::start_mutual(&["n1", "n2"], LINK_TIMEOUT, false);
    let s1 = c.node("n1").spawn(probe(), &["serve"]);
    let s2 = c.node("n2").spawn(probe(), &["serve"]);
    let (t1, t2) = (target("n1", &s1), target("n2", &s2));

    // Both directions, many times, spread over several link timeouts (so keep-alives and
    // idle timers of both connections run meanwhile; the pauses are not a condition of
    // passing).
    const ROUNDS: usize = 12;
    let mut sent_to_1 = Vec::new();
    let mut sent_to_2 = Vec::new();
    for i in 1..=ROUNDS {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        send_ok(c.node("n1"), &t2, &a, i);
        send_ok(c.node("n2"), &t1, &b, i);
        sent_to_2.push(a);
        sent_to_1.push(b);
        std::thread::sleep(Duration::from_millis(250));
    }
    received_exactly(&s2, &sent_to_2);
    received_exactly(&s1, &sent_to_1);
    for (node, peer) in [("n1", "n2"), ("n2", "n1")] {
        assert_eq!(
            log_count(c.node(node), |l| link_closed(l, peer)),
            0,
            "{node}: both links to {peer} lived throughout\n{}",
            c.node(node).log().dump()
        );
    }

    // A client on n1 REPLY-blocked on n2 is released when n2's daemon dies.
    let mut blocked = c
        .node("n1")
        .spawn(probe(), &["send", &t2, "hold", "--again"]);
    s2.line_starting("held rcvid=");
    c.kill("n2");
    let out = ok_output(&mut blocked);
    assert!(
        out.lines().any(|l| l == "result=err errno=ESRCH"),
        "REPLY-blocked on a dead node: ESRCH\n{out}"
    );
    // The next send on that coid fails too: EBADF once n2 is down, or ESRCH if it went out
    // on the other link before that one's idle timeout closed it as well.
    assert!(
        out.lines()
            .any(|l| l == "again result=err errno=EBADF" || l == "again result=err errno=ESRCH"),
        "later sends on that coid fail\n{out}"
    );

    // n1 says n2 is down once, and only when its second link closed: both closes come
    // before the "node down" line.
    let n1 = c.node("n1");
    n1.wait_node_down("n2", 1);
    n1.log()
        .wait_count(2, |l| link_closed(l, "n2"))
        .unwrap_or_else(|| panic!("n1: two links to n2 closed\n{}", n1.log().dump()));
    let log = n1.log().dump();
    let events: Vec<&str> = log
        .lines()
        .filter(|l| link_closed(l, "n2") || node_down(l, "n2"))
        .collect();
    let down_at = events
        .iter()
        .position(|l| node_down(l, "n2"))
        .expect("node down logged");
    assert_eq!(
        (down_at, events.len()),
        (2, 3),
        "node down exactly once, after both links closed:\n{}",
        events.join("\n")
    );

    // n2 comes back; calls work both ways again.
    c.restart("n2");
    let s2b = c.node("n2").spawn(probe(), &["serve"]);
    let t2b = target("n2", &s2b);
    send_ok(c.node("n1"), &t2b, "back", 1);
    send_ok(c.node("n2"), &t1, "back", ROUNDS + 1);
}

#[test]
fn a_node_stays_up_while_one_of_its_links_lives() {
    let c = Cluster::start_mutual(&["n1", "n2"], LINK_TIMEOUT, true);
    let relay = c.relay.as_ref().expect("relay");
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s1 = n1.spawn(probe(), &["serve"]);
    let s2 = n2.spawn(probe(), &["serve"]);
    let (t1, t2) = (target("n1", &s1), target("n2", &s2));
    send_ok(n1, &t2, "before", 1);
    send_ok(n2, &t1, "before", 1);

    // Cut the connection n1 dialled through the relay; the one n2 dialled lives on.
    relay.cut();
    for (node, peer) in [(n1, "n2"), (n2, "n1")] {
        node.log()
            .wait(|l| link_closed(l, peer))
            .unwrap_or_else(|| {
                panic!(
                    "{}: the relayed link closes\n{}",
                    node.name,
                    node.log().dump()
                )
            });
    }
    for (node, peer) in [(n1, "n2"), (n2, "n1")] {
        assert_eq!(
            log_count(node, |l| node_down(l, peer)),
            0,
            "{}: {peer} stays up while a link lives\n{}",
            node.name,
            node.log().dump()
        );
    }
    send_ok(n1, &t2, "onelink", 2);
    send_ok(n2, &t1, "onelink", 2);

    // The relayed link comes back (n1 redials it) as another link, and becomes the newest.
    relay.restore();
    n1.wait_log(2, "peer link added", "n2");
    n2.wait_log(2, "peer link added", "n1");
    send_ok(n1, &t2, "restored", 3);
    send_ok(n2, &t1, "restored", 3);
    let texts = ["before", "onelink", "restored"].map(String::from);
    received_exactly(&s1, &texts);
    received_exactly(&s2, &texts);
    for (node, peer) in [(n1, "n2"), (n2, "n1")] {
        assert_eq!(
            log_count(node, |l| node_down(l, peer)),
            0,
            "{}",
            node.log().dump()
        );
    }
}

/// Long enough that the idle timeout cannot be what releases anything in the restart test.
const LONG_LINK_TIMEOUT: &str = "30s";

#[test]
fn a_restarted_node_is_recognised_by_its_incarnation_before_the_idle_timeout() {
    let mut c = Cluster::start_mutual(&["n1", "n2"], LONG_LINK_TIMEOUT, false);
    let mut s2 = c.node("n2").spawn(probe(), &["serve"]);
    let t2 = target("n2", &s2);

    // A client on n1 REPLY-blocked on n2, and one watching for its connection's death.
    let mut blocked = c
        .node("n1")
        .spawn(probe(), &["send", &t2, "hold", "--again"]);
    s2.line_starting("held rcvid=");
    let mut watcher = c.node("n1").spawn(probe(), &["watch", &t2]);
    let w = watcher.line_starting("watching coid=");
    let coid = field(&w, "coid").to_owned();

    // The daemon first: killing the server while its daemon lives would release the client
    // the ordinary way (channel destroyed).
    let killed = Instant::now();
    c.kill("n2");
    s2.kill();
    c.relaunch("n2");

    let out = ok_output(&mut blocked);
    let released = killed.elapsed();
    assert!(
        out.lines().any(|l| l == "result=err errno=ESRCH"),
        "the client bound to the old incarnation gets ESRCH\n{out}"
    );
    assert!(
        out.lines().any(|l| l == "again result=err errno=EBADF"),
        "its coid is dead\n{out}"
    );
    assert!(
        released < Duration::from_secs(20),
        "released after {released:?}: the link timeout ({LONG_LINK_TIMEOUT}) did it, not the restart"
    );
    let out = ok_output(&mut watcher);
    assert!(
        out.contains(&format!("pulse code=-35 value={coid}")),
        "COIDDEATH for the connection to the old incarnation: {out}"
    );

    // n1 took the new incarnation's link as a restart: down and up at once, without a
    // "node down" from a link closing; both old links closed (n1's dial loop, which only
    // redials once its link ended, added a link to the new daemon).
    let n1 = c.node("n1");
    n1.wait_node_up("n2", 2);
    n1.wait_log(2, "peer link added", "n2");
    c.node("n2").wait_node_up("n1", 1);
    let log = n1.log();
    assert!(
        log.count(|l| l.contains("node restarted")) == 1,
        "n1 logs the restart once\n{}",
        log.dump()
    );
    assert_eq!(log.count(|l| node_down(l, "n2")), 0, "{}", log.dump());

    let s2b = c.node("n2").spawn(probe(), &["serve"]);
    send_ok(c.node("n1"), &target("n2", &s2b), "new", 1);
}
