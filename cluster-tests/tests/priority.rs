//! Priorities across nodes: a client's priority travels with its call and the server thread
//! on the other node runs at it, exactly as locally (messages and pulses; not on a
//! `_NTO_CHF_FIXED_PRIORITY` channel). Real daemons linked over QUIC; the server and the
//! clients are `examples/priority_inversion.rs` processes (the server replies with its
//! thread's scheduling as `qnet pidin` shows it, `7r`).

use cluster_tests::{Cluster, Proc};
use qnet::sched::{self, Mode};

fn realtime() -> bool {
    let ok = matches!(sched::mode(), Mode::Realtime { .. });
    if !ok {
        eprintln!("no real-time permission (not root, no CAP_SYS_NICE): nothing to check");
    }
    ok
}

/// Wait for exit; assert success and return the `reply ` line.
fn reply(mut p: Proc) -> String {
    let line = p.line_starting("reply ");
    let (ok, out, err) = p.output();
    assert!(ok, "{} failed\nstdout:\n{out}\nstderr:\n{err}", p.what);
    line
}

fn across(fixed: bool) -> (Vec<String>, Vec<String>) {
    let c = Cluster::start(&["n1", "n2"]);
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let server = n2.spawn_example(
        "priority_inversion",
        if fixed {
            &["server", "--fixed"]
        } else {
            &["server"]
        },
    );
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");
    let mut replies = Vec::new();
    for prio in ["7", "33", "12"] {
        let client = n1.spawn_example("priority_inversion", &["client", &target, prio, "sched"]);
        replies.push(reply(client));
    }
    let mut pulses = Vec::new();
    for prio in ["21", "4"] {
        let mut client =
            n1.spawn_example("priority_inversion", &["client", &target, prio, "pulse"]);
        client.line_starting("pulse sent");
        assert!(client.output().0, "{}", client.stderr.dump());
        let n = pulses.len() + 1;
        let lines = server
            .stdout
            .wait_count(n, |l| l.starts_with("pulse "))
            .expect("pulse lines");
        pulses.push(lines[n - 1].clone());
    }
    (replies, pulses)
}

#[test]
fn remote_clients_priority_schedules_the_server_thread() {
    if !realtime() {
        return;
    }
    let (replies, pulses) = across(false);
    assert_eq!(
        replies,
        [
            "reply 7r prio=7 inherited=true",
            "reply 33r prio=33 inherited=true",
            "reply 12r prio=12 inherited=true",
        ]
    );
    assert_eq!(pulses, ["pulse code=7 sched=21r", "pulse code=7 sched=4r"]);
}

#[test]
fn fixed_priority_channel_across_nodes_keeps_the_server_priority() {
    if !realtime() {
        return;
    }
    let (replies, pulses) = across(true);
    assert_eq!(replies, ["reply 10r prio=10 inherited=false"; 3]);
    assert_eq!(pulses, ["pulse code=7 sched=10r"; 2]);
}
