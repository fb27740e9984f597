//! `qnet pidin` shows each thread's real priority and policy QNX style (`7r`) and whether it
//! is inherited: a server (`examples/priority_inversion.rs`, own priority 10r) after a client
//! at priority 7 was served, on a channel with and without `_NTO_CHF_FIXED_PRIORITY`. And the
//! daemon changes only the calling client's own threads, whatever tid a session claims.

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

mod raw {
    //! A raw THREAD session claiming any tid (the library always sends its own `gettid()`).

    use std::os::unix::net::UnixStream;

    use qnet_proto::frame::blocking::{read_frame, write_frame};
    use qnet_proto::local::{
        self, ClientFrame, DaemonFrame, Hello, Request, Response, SessionKind, client_frame,
        daemon_frame, request, response,
    };

    pub struct Session(UnixStream);

    impl Session {
        pub fn open(socket: &std::path::Path, tid: u32) -> Self {
            let mut stream = UnixStream::connect(socket).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .unwrap();
            let hello = client_frame::Frame::Hello(Hello {
                version: qnet_proto::LOCAL_PROTOCOL_VERSION,
                tid,
                kind: SessionKind::Thread as i32,
                ..Default::default()
            });
            write_frame(&mut stream, &ClientFrame { frame: Some(hello) }).unwrap();
            let mut s = Self(stream);
            assert!(matches!(s.recv(), daemon_frame::Frame::HelloAck(_)));
            s
        }

        fn recv(&mut self) -> daemon_frame::Frame {
            let f: Option<DaemonFrame> = read_frame(&mut self.0, 1 << 20).unwrap();
            f.and_then(|f| f.frame).expect("a daemon frame")
        }

        pub fn call(&mut self, call: request::Call) -> response::Result {
            let frame = client_frame::Frame::Request(Request { call: Some(call) });
            write_frame(&mut self.0, &ClientFrame { frame: Some(frame) }).unwrap();
            match self.recv() {
                daemon_frame::Frame::Response(Response { result: Some(r) }) => r,
                other => panic!("expected a response, got {other:?}"),
            }
        }
    }

    /// A session claiming `tid` creates a channel, a second one pulses it at `priority`,
    /// the first receives the pulse.
    pub fn receive_pulse_as(socket: &std::path::Path, tid: u32, priority: u32) {
        let mut server = Session::open(socket, tid);
        let chid = match server.call(request::Call::ChannelCreate(local::ChannelCreate {
            flags: 0,
        })) {
            response::Result::Chid(c) => c,
            other => panic!("{other:?}"),
        };
        let mut sender = Session::open(socket, qnet::gettid());
        let coid = match sender.call(request::Call::ConnectAttach(local::ConnectAttach {
            nd: 0,
            pid: std::process::id(),
            chid,
        })) {
            response::Result::Coid(c) => c,
            other => panic!("{other:?}"),
        };
        sender.call(request::Call::MsgSendPulse(local::MsgSendPulse {
            coid,
            priority,
            code: 1,
            value: 0,
        }));
        let got = server.call(request::Call::MsgReceive(local::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
            ..Default::default()
        }));
        assert!(matches!(got, response::Result::Pulse(_)), "{got:?}");
    }
}

/// (policy, nice) of thread `tid` of `pid`, from `/proc`.
fn policy_nice(pid: u32, tid: u32) -> (i64, i64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).unwrap();
    let f: Vec<i64> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // f[0] is field 4: nice is field 19, policy field 41.
    (f[41 - 4], f[19 - 4])
}

#[test]
fn daemon_changes_only_the_clients_own_threads() {
    if !realtime() {
        return;
    }
    let c = Cluster::start(&["n1"]);
    let socket = c.node("n1").socket.clone();
    // Another process's thread, claimed as ours: the daemon must leave it alone.
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let vpid = victim.id();
    let before = policy_nice(vpid, vpid);
    raw::receive_pulse_as(&socket, vpid, 50);
    assert_eq!(
        policy_nice(vpid, vpid),
        before,
        "another process's thread changed"
    );
    let _ = victim.kill();
    let _ = victim.wait();
    // Control: one of our own threads (SCHED_OTHER) claimed the same way is changed (nice
    // of priority 50 is -20).
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let idle = std::thread::spawn(move || {
        tx.send(qnet::gettid()).unwrap();
        let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap();
    assert_ne!(policy_nice(std::process::id(), tid), (0, -20));
    raw::receive_pulse_as(&socket, tid, 50);
    assert_eq!(policy_nice(std::process::id(), tid), (0, -20));
    done_tx.send(()).unwrap();
    idle.join().unwrap();
}
