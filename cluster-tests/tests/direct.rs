//! The direct local path end to end on one real `qnetd`, with real client and server
//! processes (`qnet-probe`): the daemon is not woken for an ordinary call and a client can
//! keep off the path; a client that scribbles over every page it may write harms only its
//! own calls; deaths (a server's, a client's, the daemon's) end every direct wait.
//!
//! The latencies printed (`… within N ms`) are figures for BENCHMARKS.md, not assertions:
//! the tests wait with the hang guard only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cluster_tests::{Cluster, Node, Proc, field, ok_output};

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

const GUARD: Duration = Duration::from_secs(30);

/// A probe server on `node` that has taken one message already (so its channel is served
/// directly before the clients under test connect): its process and `pid/chid`.
fn warm_server(node: &Node) -> (Proc, String) {
    let server = node.spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("{pid}/{chid}");
    let mut warm = node.spawn(probe(), &["send", &target, "warm"]);
    ok_output(&mut warm);
    server.line_starting("msg count=1");
    (server, target)
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The daemon's count of `MsgSend` calls made by local clients through it.
fn msg_sends(addr: &str) -> u64 {
    let text = scrape(addr);
    text.lines()
        .find_map(|l| l.strip_prefix("qnet_calls_total{kind=\"MsgSend\"} "))
        .map_or(0, |v| v.parse().unwrap())
}

/// QNX's non-blocking send (`TimerTimeout` with `_NTO_TIMEOUT_SEND` and no time) goes
/// through when the server waits in `MsgReceive`. A server on the direct path waits in its
/// library, not in the daemon: the send (which takes the daemon's path) must still reach it,
/// on either path (the kernel's tests in `core/src/kernel/direct.rs` cover the rest: at
/// once `ETIMEDOUT` when nobody waits, the REPLY state's zero timeout, the grace).
#[test]
fn a_zero_send_timeout_reaches_a_server_waiting_on_the_direct_path() {
    for direct in ["on", "off"] {
        let c = Cluster::start_with_args(&["n1"], &[("n1", &["--direct", direct])]);
        let n1 = c.node("n1");
        let (_server, target) = warm_server(n1);
        // A client that made a direct call (so the server sleeps on the direct path, not in
        // the daemon), a pause, then a send with a zero SEND timeout on the same connection.
        // It goes through once the server is back in its receive (a slow machine may find it
        // still busy with the message before: then ETIMEDOUT, as on QNX; retried).
        for i in 0..5 {
            let start = Instant::now();
            let out = loop {
                let mut now = n1.spawn(
                    probe(),
                    &[
                        "send",
                        &target,
                        "now",
                        "--again",
                        "--again-now",
                        "--pause-ms",
                        "50",
                    ],
                );
                let out = ok_output(&mut now);
                if !out.contains("again result=err errno=ETIMEDOUT") || start.elapsed() > GUARD {
                    break out;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(
                out.contains("again result=ok status="),
                "--direct {direct}, send {i} with a zero SEND timeout to a waiting server: {out}"
            );
        }
    }
}

#[test]
fn direct_sends_do_not_reach_the_daemon_and_qnet_direct_0_keeps_a_client_off() {
    let c = Cluster::start_with_args(&["n1"], &[("n1", &["--metrics", "127.0.0.1:0"])]);
    let n1 = c.node("n1");
    let start = n1
        .log()
        .wait(|l| l.contains("metrics="))
        .expect("a start line naming the metrics address");
    let addr = field(&start, "metrics").trim_matches('"').to_owned();
    let (_server, target) = warm_server(n1);

    let mut on = n1.spawn(probe(), &["direct"]);
    assert_eq!(ok_output(&mut on).trim(), "direct=on");
    let before = msg_sends(&addr);
    let mut direct = n1.spawn(probe(), &["send", &target, "x", "--repeat", "300"]);
    assert!(ok_output(&mut direct).contains("repeat ok n=300"));
    let after = msg_sends(&addr);
    assert_eq!(
        after, before,
        "300 direct sends, yet the daemon counted MsgSends"
    );

    let mut cmd = n1.command(probe());
    cmd.env("QNET_DIRECT", "0").arg("direct");
    let mut off = Proc::spawn("probe direct, QNET_DIRECT=0", cmd);
    assert_eq!(ok_output(&mut off).trim(), "direct=off");
    let mut cmd = n1.command(probe());
    cmd.env("QNET_DIRECT", "0")
        .args(["send", &target, "x", "--repeat", "300"]);
    let mut socket = Proc::spawn("probe send, QNET_DIRECT=0", cmd);
    assert!(ok_output(&mut socket).contains("repeat ok n=300"));
    assert_eq!(
        msg_sends(&addr),
        after + 300,
        "a client off the direct path sends through the daemon"
    );
}

#[test]
fn a_daemon_with_direct_off_serves_every_call_itself() {
    let c = Cluster::start_with_args(&["n1"], &[("n1", &["--direct", "off"])]);
    let n1 = c.node("n1");
    let (_server, target) = warm_server(n1);
    let mut off = n1.spawn(probe(), &["direct"]);
    assert_eq!(ok_output(&mut off).trim(), "direct=off");
    let mut client = n1.spawn(probe(), &["send", &target, "x", "--repeat", "50"]);
    assert!(ok_output(&mut client).contains("repeat ok n=50"));
}

/// One hostile client scribbles random values over every page of the direct path it may
/// write (its pair's header, ring and slots; the server's bells) between its own sends,
/// while three honest clients make 300 calls each: every honest call is answered, with
/// its own data, and the server credits every message it took to a real sender. The hostile
/// client cannot make the server's table (the credentials) writable.
#[test]
fn a_scribbling_client_harms_only_its_own_calls() {
    let c = Cluster::start(&["n1"]);
    let n1 = c.node("n1");
    let (mut server, target) = warm_server(n1);
    let mut hostile = n1.spawn(probe(), &["scribble", &target, "400"]);
    let honest: Vec<Proc> = (0..3)
        .map(|i| {
            n1.spawn(
                probe(),
                &["send", &target, &format!("honest{i}"), "--repeat", "300"],
            )
        })
        .collect();
    let mut senders = vec![hostile.pid(), server.pid()];
    for mut p in honest {
        senders.push(p.pid());
        let out = ok_output(&mut p);
        assert!(out.contains("repeat ok n=300"), "{out}");
    }
    let report = ok_output(&mut hostile);
    assert!(report.contains("direct=on"), "{report}");
    assert!(report.contains("table_writable=false"), "{report}");
    let writes: usize = field(report.trim(), "writes").parse().unwrap();
    assert!(writes > 10_000, "{report}");
    // The server is still serving, and credited each message to a process that sent one
    // (the warm-up probe has exited; its pid is in the first line).
    let mut after = n1.spawn(probe(), &["send", &target, "after"]);
    let after_pid = after.pid();
    assert!(ok_output(&mut after).contains("data=echo:after"));
    server.kill();
    assert!(server.stdout.wait_closed());
    let lines = server.stdout.all();
    let warm_pid: u32 = lines
        .iter()
        .find(|l| l.starts_with("msg count=1 "))
        .map(|l| field(l, "pid").parse().unwrap())
        .unwrap();
    senders.push(warm_pid);
    senders.push(after_pid);
    // The honest clients' and the late one's messages came on the direct path (rcvids from
    // 2^30): the scribbling did not push them onto the daemon's.
    let direct = |l: &String| field(l, "rcvid").parse::<i64>().unwrap() >= 1 << 30;
    for l in lines.iter().filter(|l| l.starts_with("msg ")) {
        let data = field(l, "data");
        if data.starts_with("honest") || data == "after" {
            assert!(direct(l), "an honest message went through the daemon: {l}");
        }
    }
    for l in lines.iter().filter(|l| l.starts_with("msg ")) {
        let pid: u32 = field(l, "pid").parse().unwrap();
        assert!(
            senders.contains(&pid),
            "a message credited to pid {pid}: {l}"
        );
    }
}

/// `kill -9` of a server with 8 clients blocked on it (4 REPLY-blocked, 4 SEND-blocked
/// behind them): every client gets `ESRCH`.
#[test]
fn killing_a_server_fails_its_blocked_direct_clients_with_esrch() {
    let c = Cluster::start(&["n1"]);
    let n1 = c.node("n1");
    let (mut server, target) = warm_server(n1);
    let clients: Vec<Proc> = (0..8)
        .map(|i| n1.spawn(probe(), &["send", &target, &format!("hold{i}")]))
        .collect();
    // The probe server holds each `hold` message unanswered; wait until it has all 8.
    assert!(
        server
            .stdout
            .wait_count(8, |l| l.starts_with("held rcvid="))
            .is_some(),
        "{}",
        server.stdout.dump()
    );
    let killed = Instant::now();
    server.kill();
    let mut worst = Duration::ZERO;
    for mut p in clients {
        let (_, lines) = p.wait_exit_lines();
        worst = worst.max(killed.elapsed());
        assert!(
            lines.iter().any(|l| l == "result=err errno=ESRCH"),
            "{lines:?}"
        );
    }
    eprintln!("all 8 blocked clients had ESRCH within {worst:?} of the server's kill");
}

/// `kill -9` of a REPLY-blocked client: the server gets its unblock pulse (the channel has
/// `_NTO_CHF_UNBLOCK`), then its disconnect pulse, as for a client of the kernel.
#[test]
fn killing_a_reply_blocked_client_gives_the_server_its_pulses() {
    let c = Cluster::start(&["n1"]);
    let n1 = c.node("n1");
    let (server, target) = warm_server(n1);
    let mut client = n1.spawn(probe(), &["send", &target, "hold me"]);
    let held = server.line_starting("held rcvid=");
    let rcvid = field(&held, "rcvid").to_owned();
    client.kill();
    let unblock = server.line_starting("pulse code=-32");
    assert_eq!(field(&unblock, "value"), rcvid, "{unblock}");
    server.line_starting("pulse code=-33");
}

/// `kill -9` of qnetd: a client REPLY-blocked on the direct path and the server asleep in a
/// direct receive both get `EIO` (the daemon is gone), neither hangs.
#[test]
fn killing_qnetd_ends_every_direct_wait_with_eio() {
    let mut c = Cluster::start(&["n1"]);
    let n1 = c.node("n1");
    let (mut server, target) = warm_server(n1);
    let mut client = n1.spawn(probe(), &["send", &target, "hold"]);
    server.line_starting("held rcvid=");
    let killed = Instant::now();
    c.kill("n1");
    let (_, lines) = client.wait_exit_lines();
    let client_done = killed.elapsed();
    assert!(
        lines.iter().any(|l| l == "result=err errno=EIO"),
        "{lines:?}"
    );
    let status = server.wait_exit();
    let server_done = killed.elapsed();
    assert!(!status.success());
    assert!(
        server.stderr.dump().contains("EIO"),
        "{}",
        server.stderr.dump()
    );
    eprintln!(
        "after qnetd's kill: the REPLY-blocked client had EIO within {client_done:?}, the \
         receiving server within {server_done:?}"
    );
}
