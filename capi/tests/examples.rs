//! The course in C (`capi/examples/*.c`), built with the documented compile line and run as
//! real processes against a real `qnetd`; and C and Rust programs talking to each other.

mod common;

use std::process::Command;

use common::{checksum, example, local};

fn sum_line(text: &str) -> String {
    format!("checksum={}", checksum(text))
}

#[test]
fn checksum_server_and_client() {
    let (server, client) = (example("checksum_server"), example("checksum_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    let (pid, chid) = s.pid_chid();
    assert_eq!(pid, s.pid(), "the server prints its own pid");
    assert_eq!(chid, 1, "the first channel of a process is chid 1");
    let mut cl = n1.spawn(&client, &[&pid.to_string(), &chid.to_string(), "hello qnx"]);
    let client_pid = cl.pid();
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("hello qnx")), "{out}");
    let want = format!("msg nd=0 pid={client_pid} len=9");
    s.line("the message's info", |l| l == want);
}

#[test]
fn pulse_server_and_client() {
    let (server, client) = (example("pulse_server"), example("pulse_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(&client, &[&pid.to_string(), &chid.to_string(), "5", "1234"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines().any(|l| l == sum_line("pulse client says hi")),
        "{out}"
    );
    s.line("the pulse", |l| l == "pulse code=5 value=1234");
}

#[test]
fn name_server_and_client_with_io_connect() {
    let (server, client) = (example("name_server"), example("name_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &["checksummer"]);
    s.line("attach", |l| l == "attached checksummer");
    let mut cl = n1.spawn(&client, &["checksummer", "by name"]);
    let client_pid = cl.pid();
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("by name")), "{out}");
    // name_open sent _IO_CONNECT and the server answered it; the client's exit is noticed.
    let want = format!("connect from pid={client_pid}");
    s.line("the _IO_CONNECT", |l| l == want);
    s.line_starting("disconnect scoid=");
    // An unknown name fails with ENOENT.
    let mut cl = n1.spawn(&client, &["nobody", "x"]);
    let (ok, _, err) = cl.output();
    assert!(!ok && err.contains("No such file or directory"), "{err}");
}

#[test]
fn disconnect_server_releases_scoids() {
    let (server, client) = (example("disconnect_server"), example("disconnect_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    let (pid, chid) = s.pid_chid();
    for round in 1..=2 {
        let mut cl = n1.spawn(&client, &[&pid.to_string(), &chid.to_string()]);
        let client_pid = cl.pid();
        let (ok, out, err) = cl.output();
        assert!(ok, "{out}\n{err}");
        assert!(out.lines().any(|l| l == sum_line("disconnect me")), "{out}");
        let lines = s
            .stdout
            .wait_count(round, |l| l.starts_with("client scoid="))
            .expect("client line");
        let line = &lines[round - 1];
        assert!(line.ends_with(&format!("pid={client_pid}")), "{line}");
        let scoid = common::field(line, "scoid").to_string();
        // ConnectDetach(scoid) succeeded (the server prints only then).
        s.line("the disconnect", |l| {
            l == format!("disconnect scoid={scoid}")
        });
    }
}

#[test]
fn unblock_server_and_client() {
    let (server, client) = (example("unblock_server"), example("unblock_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &["60"]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(&client, &[&pid.to_string(), &chid.to_string()]);
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

#[test]
fn iov_server_reads_the_rest() {
    let (server, client) = (example("iov_server"), example("iov_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    s.line("attach", |l| l == "attached iov_server");
    let text = "a string of some length, longer than the header buffer";
    let mut cl = n1.spawn(&client, &[text]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line(text)), "{out}");
    s.line("got line", |l| l == format!("got {} bytes", text.len()));
}

/// The values the event client printed.
fn event_values(out: &str) -> Vec<i32> {
    out.lines()
        .filter_map(|l| l.strip_prefix("event value="))
        .map(|v| v.parse().expect("value"))
        .collect()
}

#[test]
fn event_server_and_client_registered_updateable() {
    let (server, client) = (example("event_server"), example("event_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    s.line("attach", |l| l == "attached event_server");
    let mut cl = n1.spawn(&client, &["3"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    let values = event_values(&out);
    assert_eq!(values.len(), 3, "{out}");
    // Updateable: the server's increasing value replaces the registered 0.
    assert!(
        values.windows(2).all(|w| w[0] < w[1]) && values[0] > 0,
        "{values:?}"
    );
    s.line_starting("registered rcvid=");
}

/// The older pattern: the same server delivers an event the client did not register.
#[test]
fn event_server_and_client_unregistered_event() {
    let (server, client) = (example("event_server"), example("event_client"));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    s.line("attach", |l| l == "attached event_server");
    let mut cl = n1.spawn(&client, &["2", "event_server", "old"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    let values = event_values(&out);
    assert_eq!(values.len(), 2, "{out}");
    assert!(values[0] > 0 && values[0] < values[1], "{values:?}");
}

#[test]
fn timer_pulses() {
    let exe = example("timer_pulse");
    let c = local();
    let mut p = c.node("n1").spawn(&exe, &["3", "20"]);
    let (ok, out, err) = p.output();
    assert!(ok, "{out}\n{err}");
    let want = [
        "tick 1 code=3 value=42",
        "tick 2 code=3 value=42",
        "tick 3 code=3 value=42",
        "done",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

/// SIGTERM `pid` (the shared-memory creator waits for it to unlink).
fn terminate(pid: u32) {
    let st = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

#[test]
fn shmem_creator_and_user() {
    let (creator, user) = (example("shmem_creator"), example("shmem_user"));
    let c = local();
    let n1 = c.node("n1");
    let name = format!("/qnet-capi-test-{}", std::process::id());
    let mut cr = n1.spawn(&creator, &[&name, "5", "20"]);
    cr.line("created", |l| l == format!("created {name}"));
    let mut us = n1.spawn(&user, &[&name, "5"]);
    let (ok, out, err) = us.output();
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        out.lines().last(),
        Some("count=5 text=update number 5"),
        "{out}"
    );
    cr.line("last update", |l| l == "updated count=5");
    terminate(cr.pid());
    let (ok, out, err) = cr.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == format!("removed {name}")), "{out}");
    assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
}

#[test]
fn c_client_and_rust_server_both_ways() {
    let (c_server, c_client) = (example("checksum_server"), example("checksum_client"));
    let c = local();
    let n1 = c.node("n1");
    // C client -> Rust server.
    let rs = n1.spawn_example("checksum_server", &[]);
    let (pid, chid) = rs.pid_chid();
    let mut cl = n1.spawn(&c_client, &[&pid.to_string(), &chid.to_string(), "from C"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("from C")), "{out}");
    // Rust client -> C server.
    let cs = n1.spawn(&c_server, &[]);
    let (pid, chid) = cs.pid_chid();
    let mut rc = n1.spawn_example(
        "checksum_client",
        &[&pid.to_string(), &chid.to_string(), "from Rust"],
    );
    let (ok, out, err) = rc.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("from Rust")), "{out}");
    // By name: a C client's name_open (with its _IO_CONNECT) reaches a Rust name server,
    // and a Rust client reaches a C name server.
    let rn = n1.spawn_example("name_server", &["rust_named"]);
    rn.line("attach", |l| l == "attached rust_named");
    let mut cl = n1.spawn(&example("name_client"), &["rust_named", "C by name"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("C by name")), "{out}");
    let cn = n1.spawn(&example("name_server"), &["c_named"]);
    cn.line("attach", |l| l == "attached c_named");
    let mut rc = n1.spawn_example("name_client", &["c_named", "Rust by name"]);
    let (ok, out, err) = rc.output();
    assert!(ok, "{out}\n{err}");
    assert!(out.lines().any(|l| l == sum_line("Rust by name")), "{out}");
}

/// A C program whose daemon cannot be reached, or whose `QNET_NODE` names no node, gets its
/// errno as QNX programs expect, and the library says on stderr what failed, once: which
/// sockets were tried and why, or which variable named which node (`perror` alone said only
/// "Input/output error" or "No route to host").
#[test]
fn library_errors_name_the_socket_and_the_variable() {
    let client = example("name_client");
    let out = Command::new(&client)
        .args(["checksummer", "x"])
        .env("QNET_SOCKET", "/nonexistent/qnetd.sock")
        .env_remove("QNET_NODE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("libqnetc: EIO (qnetd unreachable)")
            && err.contains("/nonexistent/qnetd.sock"),
        "{err}"
    );
    assert_eq!(err.matches("libqnetc:").count(), 1, "once: {err}");
    assert!(
        err.contains("error: name_open: Input/output error"),
        "{err}"
    );

    let c = local();
    let n1 = c.node("n1");
    let mut cmd = n1.command(&client);
    cmd.args(["checksummer", "x"]).env("QNET_NODE", "n9");
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("libqnetc: QNET_NODE=n9:") && err.contains("\"n9\""),
        "{err}"
    );
    assert!(
        err.contains("No route to host"),
        "the errno stays QNX's: {err}"
    );
}

/// Whether this process may use real-time scheduling (root or `CAP_SYS_NICE`).
fn may_use_realtime() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 23) != 0)
}

/// Issue 22, in C: a SCHED_OTHER server serving a priority-30 client runs real-time at 30, so
/// a SCHED_FIFO 15 hog on its CPU cannot starve it: the client's reply comes first. Everything
/// (the daemon, SCHED_FIFO 90, too) on CPU 0.
#[test]
fn priority_inversion_in_c_real_time_inheritance_beats_the_hog() {
    if !may_use_realtime() {
        eprintln!("no real-time permission: nothing to check");
        return;
    }
    let exe = example("priority_inversion");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let mut daemon = Command::new("taskset");
    daemon
        .args(["-c", "0"])
        .arg(common::qnetd_path())
        .arg("--socket")
        .arg(&socket)
        .args(["--node", "prio", "--log", "warn", "--rt-priority", "90"]);
    let _daemon = common::Proc::spawn("qnetd on cpu 0", daemon);
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed() < qnet_testkit::GUARD, "qnetd did not start");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut demo = Command::new("taskset");
    demo.args(["-c", "0"]).arg(&exe).env("QNET_SOCKET", &socket);
    let mut p = common::Proc::spawn("priority_inversion.c", demo);
    let line = p.line_starting("order: ");
    assert!(p.wait_exit().success(), "{}", p.stderr.dump());
    assert_eq!(line, "order: high-first", "{}", p.stdout.dump());
}
