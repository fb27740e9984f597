//! `qnet pidin`, `channels`, `connections`, `names`, `nodes` and `ping` against two real
//! `qnetd` processes (started by the `cluster-tests` harness) linked over real QUIC on
//! 127.0.0.1 with real certificates. A server on n2 and a client on n1 speak the
//! local protocol with raw frames; the built `qnet` binary is run and its JSON checked.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use qnet_proto::frame::blocking::{read_frame, write_frame};
use qnet_proto::local::{
    self, ClientFrame, DaemonFrame, Request, Response, SessionKind, client_frame, daemon_frame,
    request, response,
};
use qnet_testkit::Cluster;
use serde_json::Value;

/// Hang guard for every wait; never a timing assertion.
const GUARD: Duration = Duration::from_secs(20);

/// The Unix socket of one node's daemon, and the `qnet` CLI run against it.
struct Node {
    socket: PathBuf,
}

impl Node {
    fn of(cluster: &Cluster, name: &str) -> Self {
        Self {
            socket: cluster.node(name).socket.clone(),
        }
    }

    /// Run `qnet ARGS` against this daemon.
    fn qnet(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
            .args(args)
            .env("QNET_SOCKET", &self.socket)
            .output()
            .expect("running qnet");
        assert!(
            out.status.success(),
            "qnet {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn qnet_json(&self, args: &[&str]) -> Value {
        let out = self.qnet(args);
        serde_json::from_slice(&out.stdout).expect("qnet printed JSON")
    }

    /// The peer `name` in `qnet nodes --json`.
    fn peer(&self, name: &str) -> Value {
        let doc = self.qnet_json(&["nodes", "--json"]);
        doc["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no peer {name} in {doc}"))
    }

    /// Poll `qnet nodes` until peer `name` is `state` (hang guard only).
    fn wait_peer(&self, name: &str, state: &str) -> Value {
        let deadline = Instant::now() + GUARD;
        loop {
            let peer = self.peer(name);
            if peer["state"] == state {
                return peer;
            }
            assert!(Instant::now() < deadline, "{name} never became {state}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A raw THREAD session.
struct Session {
    stream: UnixStream,
}

impl Session {
    fn open(node: &Node, tid: u32) -> Self {
        let mut stream = UnixStream::connect(&node.socket).unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        qnet_proto::hello::open(&mut stream, SessionKind::Thread, tid).unwrap();
        Self { stream }
    }

    fn recv(&mut self) -> daemon_frame::Frame {
        let f: Option<DaemonFrame> = read_frame(&mut self.stream, 1 << 20).unwrap();
        f.and_then(|f| f.frame).expect("a daemon frame")
    }

    fn send(&mut self, call: request::Call) {
        let frame = client_frame::Frame::Request(Request { call: Some(call) });
        write_frame(&mut self.stream, &ClientFrame { frame: Some(frame) }).unwrap();
    }

    fn response(&mut self) -> response::Result {
        match self.recv() {
            daemon_frame::Frame::Response(Response { result: Some(r) }) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn call(&mut self, call: request::Call) -> response::Result {
        self.send(call);
        self.response()
    }
}

fn receive(chid: i32) -> request::Call {
    request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 64,
        timeout: None,
        ..Default::default()
    })
}

fn row<'a>(rows: &'a Value, node: &str, tid: u32) -> &'a Value {
    let pid = std::process::id();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"] == node && r["pid"] == pid && r["tid"] == tid)
        .unwrap_or_else(|| panic!("no thread {node}/{pid}/{tid} in {rows:#}"))
}

#[test]
fn pidin_shows_a_remote_client_reply_blocked_and_its_server_receive_blocked() {
    // n2 first, so n1 dials n2.
    let mut cluster = Cluster::start(&["n2", "n1"]);
    let (n1, n2) = (Node::of(&cluster, "n1"), Node::of(&cluster, "n2"));
    let up = n1.wait_peer("n2", "up");
    assert!(up["rtt_us"].is_u64(), "{up}");
    assert_eq!(up["cert_node"], "n2");
    assert!(up["cert_not_after"].as_i64().unwrap() > 0, "{up}");
    assert!(up["links"].as_u64().unwrap() >= 1);
    assert!(up["bytes_sent"].as_u64().unwrap() > 0, "{up}");
    assert!(up["bytes_received"].as_u64().unwrap() > 0, "{up}");

    let pid = std::process::id();
    let (server_tid, client_tid) = (1001, 2001);
    let mut server = Session::open(&n2, server_tid);
    let chid = match server.call(request::Call::NameAttach(local::NameAttach {
        name: "svc".into(),
        flags: 0,
    })) {
        response::Result::Chid(c) => c,
        other => panic!("{other:?}"),
    };
    let mut client = Session::open(&n1, client_tid);
    let nd = match client.call(request::Call::NetmgrStrToNd(local::NetmgrStrToNd {
        name: "n2".into(),
    })) {
        response::Result::Nd(nd) => nd,
        other => panic!("{other:?}"),
    };
    let coid = match client.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd,
        pid,
        chid,
    })) {
        response::Result::Coid(c) => c,
        other => panic!("{other:?}"),
    };
    client.send(request::Call::MsgSend(local::MsgSend {
        coid,
        data: b"hello".to_vec().into(),
        reply_cap: 16,
        priority: 12,
        timeout: None,
        ..Default::default()
    }));
    // The server receives the message (the client is now REPLY-blocked), and waits again.
    let rcvid = match server.call(receive(chid)) {
        response::Result::Message(m) => m.rcvid,
        other => panic!("{other:?}"),
    };
    server.send(receive(chid));
    // `qnet top` on n1 sees n2's channel with the one message delivered to it, and the link.
    let top: Value = n1.qnet_json(&[
        "top",
        "-n",
        "all",
        "--count",
        "1",
        "--interval",
        "0",
        "--json",
    ]);
    let channel = top["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["node"] == "n2" && c["chid"] == chid)
        .unwrap_or_else(|| panic!("n2's channel not in {top}"));
    assert_eq!(channel["messages_total"], 1, "{channel}");
    assert_eq!(channel["pulses_total"], 0, "{channel}");
    assert_eq!(top["peers"][0]["node"], "n2", "{top}");
    // A READY thread: a session on n1 that is not blocked.
    let _idle = Session::open(&n1, 3001);

    // Wait until n2 has the server RECEIVE-blocked again (its request is in flight).
    let deadline = Instant::now() + GUARD;
    let rows = loop {
        let rows = n1.qnet_json(&["pidin", "-n", "all", "--json"]);
        if row(&rows, "n2", server_tid)["state"] == "RECEIVE" {
            break rows;
        }
        assert!(Instant::now() < deadline, "server never RECEIVE-blocked");
        std::thread::sleep(Duration::from_millis(20));
    };
    let c = row(&rows, "n1", client_tid);
    assert_eq!(c["state"], "REPLY", "{rows:#}");
    assert_eq!(c["target"]["node"], "n2");
    assert_eq!(c["target"]["pid"], pid);
    assert_eq!(c["target"]["chid"], chid);
    assert_eq!(c["rcvid"], rcvid);
    assert_eq!(c["priority"], 12);
    let s = row(&rows, "n2", server_tid);
    assert_eq!(s["state"], "RECEIVE");
    assert_eq!(s["chid"], chid);
    assert_eq!(row(&rows, "n1", 3001)["state"], "READY");
    // Each process is named as `ps` names it, by the node it runs on.
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(c["name"], comm.trim_end(), "{rows:#}");
    assert_eq!(s["name"], comm.trim_end(), "{rows:#}");
    // Each thread once: n2's stand-in for the client is not listed again.
    let client_rows = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tid"] == client_tid)
        .count();
    assert_eq!(client_rows, 1, "{rows:#}");

    // n1 alone knows only that the call went to n2.
    let local = n1.qnet_json(&["pidin", "--json"]);
    let c = row(&local, "n1", client_tid);
    assert_eq!(c["state"], "NET");
    assert_eq!(c["via"], "n2");
    // n2 alone shows the remote client REPLY-blocked on its channel.
    let remote = n1.qnet_json(&["pidin", "-n", "n2", "--json"]);
    assert_eq!(row(&remote, "n1", client_tid)["state"], "REPLY");

    // Human output: the pidin-style table.
    let table = String::from_utf8(n1.qnet(&["pidin", "-n", "all"]).stdout).unwrap();
    assert!(table.starts_with("NODE"), "{table}");
    assert!(
        table.contains(&format!("REPLY    n2/{pid}/{chid} rcvid={rcvid}")),
        "{table}"
    );
    assert!(table.contains(&format!("RECEIVE  chid={chid}")), "{table}");
    // Each node's limits, the remote one's from its own view.
    for node in ["n1", "n2"] {
        assert!(
            table.contains(&format!(
                "{node}: limits per process: 4096 channels, 16384 connections"
            )),
            "{table}"
        );
    }
    let chan_table = String::from_utf8(n1.qnet(&["channels", "-n", "n2"]).stdout).unwrap();
    assert!(
        chan_table.contains("n2: at most 16384 queued pulses per channel"),
        "{chan_table}"
    );

    // Channels, connections, names.
    let chans = n1.qnet_json(&["channels", "-n", "n2", "--json"]);
    let ch = chans
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["chid"] == chid && c["pid"] == pid)
        .unwrap_or_else(|| panic!("{chans:#}"));
    assert_eq!(ch["receivers"], 1);
    assert_eq!(ch["flags"], "UNBLOCK|DISCONNECT|COID_DISCONNECT");
    let conns = n1.qnet_json(&["connections", "-n", "all", "--json"]);
    let conn = conns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["node"] == "n1" && c["coid"] == coid)
        .unwrap_or_else(|| panic!("{conns:#}"));
    assert_eq!(conn["target"]["node"], "n2");
    assert_eq!(conn["target"]["chid"], chid, "completed from n2's view");
    assert_eq!(conn["scoid"], 1);
    assert_eq!(conn["dead"], false);
    // n1 alone knows the chid its connection was made to (issue 16: it showed `?`).
    let conns = n1.qnet_json(&["connections", "--json"]);
    let conn = conns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["node"] == "n1" && c["coid"] == coid)
        .unwrap_or_else(|| panic!("{conns:#}"));
    assert_eq!(
        conn["target"]["chid"], chid,
        "known on n1 from its ConnectAttach"
    );
    let names = n1.qnet_json(&["names", "-n", "all", "--json"]);
    assert_eq!(
        names,
        serde_json::json!([{"node": "n2", "name": "svc", "pid": pid, "chid": chid}])
    );

    // Ping of this node: it answers itself.
    let out = String::from_utf8(n1.qnet(&["ping", "n1", "-c", "1"]).stdout).unwrap();
    assert!(out.contains("reply from n1: seq=1 time="), "{out}");

    // Ping: two round trips.
    let out = String::from_utf8(n1.qnet(&["ping", "n2", "-c", "2", "-i", "0"]).stdout).unwrap();
    for seq in [1, 2] {
        assert!(
            out.contains(&format!("reply from n2: seq={seq} time=")),
            "{out}"
        );
    }
    assert!(out.contains("2 sent, 2 received"), "{out}");
    let ping: Value = serde_json::from_slice(
        &n1.qnet(&["ping", "n2", "-c", "2", "-i", "0", "--json"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        (ping["node"].as_str(), ping["sent"].as_u64()),
        (Some("n2"), Some(2))
    );
    assert_eq!(ping["received"], 2, "{ping}");
    assert_eq!(ping["replies"][1]["seq"], 2, "{ping}");
    assert!(
        ping["rtt_avg_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{ping}"
    );

    // Stop n2: the client's call fails, n1 shows n2 down, and ping fails.
    cluster.kill("n2");
    match client.response() {
        response::Result::Error(e) => assert_eq!(e.errno, 3, "ESRCH"),
        other => panic!("{other:?}"),
    }
    let down = n1.wait_peer("n2", "down");
    assert!(down["rtt_us"].is_null(), "{down}");
    // What an operator needs about a down peer: where it is dialled, when it was last seen,
    // why it is down.
    assert!(
        down["configured_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{down}"
    );
    assert!(down["last_seen"].as_i64().is_some_and(|t| t > 0), "{down}");
    assert!(down["last_error"].is_string(), "{down}");
    let table = String::from_utf8(n1.qnet(&["nodes"]).stdout).unwrap();
    assert!(table.contains("n2: down, last seen 20"), "{table}");
    let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
        .args(["ping", "n2", "-c", "1"])
        .env("QNET_SOCKET", &n1.socket)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no reply from n2"));
    let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
        .args(["ping", "n2", "-c", "1", "--json"])
        .env("QNET_SOCKET", &n1.socket)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "no answer is still a failure with --json"
    );
    let ping: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ping["received"], 0, "{ping}");
    assert!(ping["rtt_avg_ms"].is_null(), "{ping}");
    assert_eq!(ping["errors"][0]["seq"], 1, "{ping}");
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "pidin",
        "channels",
        "connections",
        "names",
        "paths",
        "nodes",
        "ping",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--socket"), "{cmd}: {text}");
        assert!(text.contains("--json"), "{cmd}: {text}");
    }
}

#[test]
fn a_missing_daemon_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_qnet"))
        .args(["pidin", "--socket"])
        .arg(dir.path().join("none.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "qnet: error: no qnetd answers at {} (No such file or directory (os error 2)): \
             start qnetd, or give its socket with --socket or QNET_SOCKET\n",
            dir.path().join("none.sock").display()
        )
    );
}

#[test]
fn paths_lists_attached_paths_with_owner_and_node_and_forgets_them_with_their_process() {
    let cluster = Cluster::start(&["n2", "n1"]);
    let (n1, n2) = (Node::of(&cluster, "n1"), Node::of(&cluster, "n2"));
    let pid = std::process::id();
    let mut server = Session::open(&n2, 4001);
    let chid = match server.call(request::Call::ChannelCreate(local::ChannelCreate {
        flags: 0,
    })) {
        response::Result::Chid(c) => c,
        other => panic!("{other:?}"),
    };
    let id = match server.call(request::Call::PathAttach(local::PathAttach {
        path: "/dev/qnet/sensor".into(),
        chid,
        flags: 0x4 | 0x2,
        file_type: 0,
    })) {
        response::Result::Count(id) => id,
        other => panic!("{other:?}"),
    };
    let rows = n1.qnet_json(&["paths", "-n", "all", "--json"]);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/dev/qnet/sensor")
        .unwrap_or_else(|| panic!("{rows:#}"));
    assert_eq!(row["node"], "n2", "{row}");
    assert_eq!(row["pid"], pid, "{row}");
    assert_eq!(row["chid"], chid, "{row}");
    assert_eq!(row["id"], id, "{row}");
    assert_eq!(row["flags"], "AFTER|DIR", "{row}");
    assert!(!row["owner"].as_str().unwrap().is_empty(), "{row}");
    let table = String::from_utf8(n2.qnet(&["paths"]).stdout).unwrap();
    assert!(table.starts_with("NODE"), "{table}");
    assert!(table.contains("/dev/qnet/sensor"), "{table}");

    // The manager's process goes (its only session closes): so does its path.
    drop(server);
    let deadline = Instant::now() + GUARD;
    loop {
        let rows = n1.qnet_json(&["paths", "-n", "all", "--json"]);
        if rows.as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the path stayed: {rows:#}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
