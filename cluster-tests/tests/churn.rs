//! Issue 22 item 1: churn across nodes leaves no record behind, on either node. Threads that
//! each make one remote call and exit, remote `name_open` / 10 × `MsgSend` / `MsgSendPulse` /
//! `name_close` cycles, short-lived processes: once their threads, connections and
//! processes end, both daemons' tables (`qnet nodes`' records: the kernel's and the daemon's
//! routing and peer tables) are back to what they held before. Records are counted, not
//! memory.

use std::path::Path;
use std::time::Instant;

use cluster_tests::{Cluster, GUARD, Node, Proc, ok_output};
use qnet_proto::local::Tables;

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

fn tables(node: &Node) -> Tables {
    qnet_testkit::admin_nodes(&node.socket)
        .tables
        .expect("qnet nodes carries this node's tables")
}

/// The tables of `now` that differ from `base`, but for the bounded memory of exited
/// processes and the priority state of the server's threads (what it last received).
fn leftovers(now: &Tables, base: &Tables) -> Vec<String> {
    let ignore = |t: &Tables| Tables {
        exited: 0,
        inherited: 0,
        ..*t
    };
    let (now, base) = (ignore(now), ignore(base));
    if now == base {
        return Vec::new();
    }
    vec![format!("now {now:?}\nbefore {base:?}")]
}

/// Wait (hang guard only) until `ok` holds for `node`'s tables; panic with them if never.
fn settle(node: &Node, what: &str, ok: impl Fn(&Tables) -> bool) -> Tables {
    let start = Instant::now();
    loop {
        let t = tables(node);
        if ok(&t) {
            return t;
        }
        assert!(
            start.elapsed() < GUARD,
            "{}: {what} never held: {t:?}",
            node.name
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn churn_leaves_no_records_on_either_node() {
    const THREADS: usize = 200;
    let c = Cluster::start(&["n1", "n2"]);
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let server = n2.spawn(probe(), &["serve", "churnsvc"]);
    let (pid, chid) = server.pid_chid();
    // The server waits in its receive (RECEIVE-blocked) before the baseline is taken.
    let base2 = settle(n2, "the server receiving", |t| t.blocked == 1);
    let base1 = tables(n1);

    // One long-lived process: threads that each make one call and exit, then name cycles.
    let mut cmd = n1.command(probe());
    cmd.args([
        "churn",
        &format!("n2/{pid}/{chid}"),
        "n2/churnsvc",
        &THREADS.to_string(),
        "50",
    ]);
    let mut churner = Proc::spawn_piped("qnet-probe churn on n1", cmd);
    churner.expect_prefix("churned ");
    // While it lives, n2 keeps its process and its connection, and one seq per live thread
    // that called (its main thread), not one per thread that ever called.
    let t2 = settle(n2, "the exited threads forgotten", |t| t.served <= 1);
    assert_eq!(
        (t2.remote_processes, t2.remote_routes),
        (1, 0),
        "n2 while the churner lives: {t2:?}"
    );
    let t1 = settle(n1, "the exited threads' notices sent", |t| t.forwarded <= 1);
    assert_eq!(t1.calls_in_flight, 0, "n1 while the churner lives: {t1:?}");

    // Short-lived processes: each opens the name, sends, and exits.
    for i in 0..20 {
        let mut p = n1.spawn(probe(), &["send", "name:n2/churnsvc", &format!("short{i}")]);
        ok_output(&mut p);
    }
    churner.kill();

    // Everything ended: both nodes hold what they held before.
    let t2 = settle(n2, "n2 back to its records before the churn", |t| {
        leftovers(t, &base2).is_empty()
    });
    let t1 = settle(n1, "n1 back to its records before the churn", |t| {
        leftovers(t, &base1).is_empty()
    });
    assert_eq!(
        t2.remote_processes + t2.served + t2.connections,
        0,
        "{t2:?}"
    );
    assert_eq!(
        t1.forwarded + t1.remote_connections + t1.calls_in_flight,
        0,
        "{t1:?}"
    );
}
