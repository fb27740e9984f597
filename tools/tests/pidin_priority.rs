//! `qnet pidin` shows each thread's real priority and policy QNX style (`7r`) and whether it
//! is inherited: a server (`examples/priority_inversion.rs`, own priority 10r) after a client
//! at priority 7 was served, on a channel with and without `_NTO_CHF_FIXED_PRIORITY`.

use std::process::Command;
use std::time::{Duration, Instant};

use cluster_tests::Cluster;
use serde_json::Value;

/// The server thread's (`sched`, `inherited`) in `qnet pidin --json` after one client at 7.
fn server_row(fixed: bool) -> (String, bool) {
    let c = Cluster::start(&["n1"]);
    let n1 = c.node("n1");
    let server = n1.spawn_example(
        "priority_inversion",
        if fixed {
            &["server", "--fixed"]
        } else {
            &["server"]
        },
    );
    let (pid, chid) = server.pid_chid();
    let mut client = n1.spawn_example(
        "priority_inversion",
        &["client", &format!("{pid}/{chid}"), "7", "sched"],
    );
    client.line_starting("reply ");
    assert!(client.output().0);
    // The server goes back to its receive after replying (hang guard only).
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
            .args(["pidin", "--json"])
            .env("QNET_SOCKET", &n1.socket)
            .output()
            .expect("running qnet");
        assert!(out.status.success());
        let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let found = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pid"] == pid && r["state"] == "RECEIVE")
            .cloned();
        if let Some(row) = found {
            break row;
        }
        assert!(
            Instant::now() < deadline,
            "no RECEIVE thread of {pid} in {rows}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        row["sched"].as_str().unwrap().to_owned(),
        row["inherited"].as_bool().unwrap(),
    )
}

fn realtime() -> bool {
    let ok = matches!(qnet::sched::mode(), qnet::sched::Mode::Realtime { .. });
    if !ok {
        eprintln!("no real-time permission (not root, no CAP_SYS_NICE): nothing to check");
    }
    ok
}

#[test]
fn pidin_shows_the_inherited_priority_and_policy() {
    if !realtime() {
        return;
    }
    assert_eq!(server_row(false), ("7r".to_owned(), true));
}

#[test]
fn pidin_shows_a_fixed_priority_server_at_its_own_priority() {
    if !realtime() {
        return;
    }
    assert_eq!(server_row(true), ("10r".to_owned(), false));
}
