//! Priorities that schedule, against a real `qnetd` (CI runs as root, so the real-time path
//! runs for real; without real-time permission the tests that need it say so and pass).
//!
//! - a receiving thread's OS policy and priority follow what it receives, messages and
//!   pulses, and stay put on a `_NTO_CHF_FIXED_PRIORITY` channel;
//! - the priority-inversion demonstration (`examples/priority_inversion.rs`, everything on
//!   one CPU): the high-priority client's reply comes before the medium-priority hog finishes
//!   with inheritance, after it with a fixed-priority channel;
//! - the fallback (`QNET_SCHED=report`): numbers carried, OS scheduling unchanged.

mod common;

use std::process::Command;
use std::sync::{OnceLock, mpsc};

use cluster_tests::Proc;
use common::{GUARD, TestDaemon, example_path, recv};
use qnet::neutrino::{self, ChannelFlags};
use qnet::sched::{self, Mode, Policy};

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start();
        qnet::set_socket_path(d.socket());
        d
    })
}

/// Whether this process may use real-time scheduling (else the test only says why it
/// cannot check).
fn realtime() -> bool {
    let ok = matches!(sched::mode(), Mode::Realtime { .. });
    if !ok {
        eprintln!("no real-time permission (not root, no CAP_SYS_NICE): nothing to check");
    }
    ok
}

/// The calling thread's scheduling, QNX style.
fn me() -> String {
    let s = sched::thread_sched(0).expect("sched_getscheduler");
    sched::display(s.priority(), s.policy)
}

/// On its own thread (the test thread's scheduling is left alone): a server at priority 20
/// on a channel with `flags` receives what a client at priority `msg` sends and pulses at
/// `pulses` send; returns the server thread's scheduling after each receive.
fn server_sched_after(flags: ChannelFlags, msg: u8, pulses: &[u8]) -> Vec<String> {
    let pulses = pulses.to_vec();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        neutrino::set_scheduler(Some(Policy::RoundRobin), 20).expect("RR 20");
        let mut seen = vec![me()];
        let chid = neutrino::channel_create(flags).unwrap();
        let coid = neutrino::connect_attach(0, 0, chid).unwrap();
        let client = std::thread::spawn(move || {
            neutrino::set_priority(msg);
            let mut reply = [0u8; 8];
            neutrino::msg_send(coid, b"hello", &mut reply).unwrap();
            for p in pulses {
                neutrino::msg_send_pulse(coid, i32::from(p), 1, 0).unwrap();
            }
        });
        let mut buf = [0u8; 64];
        let rcvid = neutrino::msg_receive(chid, &mut buf, None).unwrap();
        seen.push(format!(
            "{} inherited={}",
            me(),
            neutrino::priority_inherited()
        ));
        neutrino::msg_reply(rcvid, 0, b"").unwrap();
        client.join().unwrap();
        loop {
            // The pulses are queued by now (the client thread finished).
            neutrino::timer_timeout(
                qnet::TimeoutStates {
                    receive: true,
                    ..Default::default()
                },
                std::time::Duration::ZERO,
            );
            match neutrino::msg_receive(chid, &mut buf, None) {
                Ok(0) => seen.push(me()),
                Ok(_) => panic!("only pulses were left"),
                Err(_) => break,
            }
        }
        neutrino::set_scheduler(Some(Policy::Other), 10).unwrap();
        tx.send(seen).unwrap();
    });
    recv(&rx)
}

#[test]
fn receiving_thread_runs_at_each_message_and_pulse_priority() {
    daemon();
    if !realtime() {
        return;
    }
    let seen = server_sched_after(ChannelFlags::default(), 7, &[33, 5]);
    assert_eq!(seen, ["20r", "7r inherited=true", "33r", "5r"]);
}

#[test]
fn fixed_priority_channel_leaves_the_receiver_alone() {
    daemon();
    if !realtime() {
        return;
    }
    let seen = server_sched_after(ChannelFlags::FIXED_PRIORITY, 7, &[33, 5]);
    assert_eq!(seen, ["20r", "20r inherited=false", "20r", "20r"]);
}

/// Run the inversion demo (`--fixed`, `--other` as given) against a daemon pinned to the
/// demo's CPU; its `order:` line.
fn inversion(flags: &[&str]) -> String {
    // One demo at a time: two on the same CPU would compete.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let mut daemon = Command::new("taskset");
    daemon
        .args(["-c", "0"])
        .arg(common::qnetd_path())
        .arg("--socket")
        .arg(&socket)
        .args(["--node", "prio", "--log", "warn", "--rt-priority", "90"]);
    let _daemon = Proc::spawn("qnetd on cpu 0", daemon);
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed() < GUARD, "qnetd did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut demo = Command::new("taskset");
    demo.args(["-c", "0"])
        .arg(example_path("priority_inversion"))
        .arg("demo")
        .env("QNET_SOCKET", &socket);
    demo.args(flags);
    let mut p = Proc::spawn("priority_inversion demo", demo);
    let line = p.line_starting("order: ");
    assert!(p.wait_exit().success(), "{}", p.stderr.dump());
    line
}

#[test]
fn inheritance_and_boost_beat_a_medium_priority_hog_on_one_cpu() {
    if !realtime() {
        return;
    }
    assert_eq!(inversion(&[]), "order: high-first");
}

#[test]
fn fixed_priority_server_is_starved_by_the_hog() {
    if !realtime() {
        return;
    }
    assert_eq!(inversion(&["--fixed"]), "order: medium-first");
}

/// Issue 22: a SCHED_OTHER server (an ordinary Linux program) serving real-time clients runs
/// real-time at their priorities while it serves them, so the SCHED_FIFO 15 hog on its CPU
/// cannot starve it once the priority-30 client sends (with nice values alone it did:
/// `medium-first`).
#[test]
fn a_sched_other_server_inherits_real_time_and_beats_the_hog() {
    if !realtime() {
        return;
    }
    assert_eq!(inversion(&["--other"]), "order: high-first");
}

/// Issue 22: a SCHED_OTHER receiver of a real-time sender's message runs real-time at its
/// priority (lent SCHED_RR: `40r`), and goes back to SCHED_OTHER (at the table's nice) with
/// its next message from a SCHED_OTHER sender; `qnet pidin`'s view says so while it serves.
#[test]
fn a_real_time_senders_message_lends_real_time_until_a_sched_other_one() {
    daemon();
    if !realtime() {
        return;
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        neutrino::set_scheduler(Some(Policy::Other), 10).unwrap();
        let chid = neutrino::channel_create(ChannelFlags::default()).unwrap();
        let coid = neutrino::connect_attach(0, 0, chid).unwrap();
        let send = move |policy: Policy, prio: u8| {
            std::thread::spawn(move || {
                neutrino::set_scheduler(Some(policy), prio).unwrap();
                let mut reply = [0u8; 8];
                neutrino::msg_send(coid, b"x", &mut reply).unwrap();
            })
        };
        let mut seen = vec![me()];
        let mut buf = [0u8; 64];
        for (policy, prio) in [(Policy::RoundRobin, 40), (Policy::Other, 12)] {
            let client = send(policy, prio);
            let rcvid = neutrino::msg_receive(chid, &mut buf, None).unwrap();
            seen.push(me());
            neutrino::msg_reply(rcvid, 0, b"").unwrap();
            client.join().unwrap();
        }
        tx.send(seen).unwrap();
    });
    // SCHED_OTHER at 10 (nice 0), real-time 40 while serving the RR 40 client, then
    // SCHED_OTHER again at 12 (nice -2) for the SCHED_OTHER client at 12.
    assert_eq!(recv(&rx), ["10o", "40r", "12o"]);
}

#[test]
fn report_only_mode_carries_numbers_and_changes_no_scheduling() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let mut daemon = Command::new(common::qnetd_path());
    daemon
        .arg("--socket")
        .arg(&socket)
        .args(["--node", "prio", "--log", "info"])
        .env("QNET_SCHED", "report");
    let d = Proc::spawn("qnetd report-only", daemon);
    d.err_line("report-only start line", |l| {
        l.contains("scheduling=SCHED_OTHER, report-only for client threads")
    });
    let example = |args: &[&str]| {
        let mut cmd = Command::new(example_path("priority_inversion"));
        cmd.args(args)
            .env("QNET_SOCKET", &socket)
            .env("QNET_SCHED", "report");
        Proc::spawn(format!("priority_inversion {args:?}"), cmd)
    };
    let server = example(&["server"]);
    let (pid, chid) = server.pid_chid();
    server.err_line("the mode line", |l| {
        l.starts_with("qnet: priorities are report-only")
    });
    let mut client = example(&["client", &format!("{pid}/{chid}"), "7", "sched"]);
    let reply = client.line_starting("reply ");
    assert!(client.wait_exit().success());
    // The number is inherited and carried; the thread is still SCHED_OTHER at nice 0.
    assert_eq!(reply, "reply 10o prio=7 inherited=true");

    // A real-time library under that daemon (which changes no client thread) applies
    // inherited priorities to its own threads after their receive returns.
    if !realtime() {
        return;
    }
    let mut cmd = Command::new(example_path("priority_inversion"));
    cmd.arg("server").env("QNET_SOCKET", &socket);
    let server = Proc::spawn("priority_inversion server (real-time)", cmd);
    let (pid, chid) = server.pid_chid();
    let mut client = example(&["client", &format!("{pid}/{chid}"), "7", "sched"]);
    let reply = client.line_starting("reply ");
    assert!(client.wait_exit().success());
    assert_eq!(reply, "reply 7r prio=7 inherited=true");
}
