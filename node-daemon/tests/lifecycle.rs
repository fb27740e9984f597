//! Daemon lifecycle: socket file handling at start, graceful shutdown on SIGTERM.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Daemon, GUARD};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use qnet_proto::local::{self, Request, SessionKind, client_frame, request, response};

#[test]
fn stale_socket_file_is_replaced_and_socket_is_world_connectable() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    // A socket file nobody listens on any more.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let d = Daemon::spawn(&socket);
    d.wait_ready();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666);
    let mut c = d.connect();
    assert!(c.hello(SessionKind::Process, 0).is_some());
}

#[test]
fn refuses_to_start_when_a_daemon_answers() {
    let first = Daemon::start();
    let mut second = Daemon::spawn(&first.socket);
    let status = second.wait_exit();
    assert!(!status.success());
    assert!(
        second
            .logs
            .wait(|l| l.contains("already listening"))
            .is_some(),
        "{}",
        second.logs.dump()
    );
    // The first daemon and its socket are untouched.
    let mut c = first.connect();
    assert!(c.hello(SessionKind::Process, 0).is_some());
}

#[test]
fn refuses_to_replace_a_file_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qnetd.sock");
    std::fs::write(&path, b"precious").unwrap();
    let mut d = Daemon::spawn(&path);
    assert!(!d.wait_exit().success());
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn sigterm_closes_sessions_removes_socket_and_exits_zero() {
    let mut d = Daemon::start();
    let mut process = d.connect();
    process.hello(SessionKind::Process, 0).expect("ack");
    let mut server = d.thread(1);
    let chid = match server.call(request::Call::ChannelCreate(local::ChannelCreate {
        flags: 0,
    })) {
        response::Result::Chid(c) => c,
        other => panic!("ChannelCreate: {other:?}"),
    };
    server.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::MsgReceive(local::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
            ..Default::default()
        })),
    }));
    // The daemon logs (at debug) when a call blocks: wait for that instead of sleeping.
    let thread = format!("thread={}/{}/1", 0, std::process::id());
    assert!(
        d.logs
            .wait(|l| l.contains("call blocked") && l.contains(&thread))
            .is_some(),
        "{}",
        d.logs.dump()
    );
    kill(Pid::from_raw(d.pid() as i32), Signal::SIGTERM).unwrap();
    // The blocked client reads end-of-stream (its read timeout is the hang guard).
    let started = std::time::Instant::now();
    assert!(server.is_closed_by_daemon());
    assert!(process.is_closed_by_daemon());
    assert!(started.elapsed() < GUARD);
    let status = d.wait_exit();
    assert!(
        status.success(),
        "exit status {status:?}:\n{}",
        d.logs.dump()
    );
    assert!(!d.socket.exists(), "socket file left behind");
}
