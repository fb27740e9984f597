//! systemd readiness: under `Type=notify` the daemon sends `READY=1` on `$NOTIFY_SOCKET` once
//! its socket answers, and `STOPPING=1` when it stops.

mod common;

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};

use common::GUARD;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[test]
fn ready_is_notified_once_the_socket_answers_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(GUARD)).unwrap();
    let socket = dir.path().join("qnetd.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .arg("--socket")
        .arg(&socket)
        .args(["--node", "n1", "--log", "warn"])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 within the guard");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.starts_with("READY=1\n"), "{msg:?}");
    assert!(
        msg.contains(&format!("MAINPID={}\n", child.id())),
        "{msg:?}"
    );
    // Ready means ready: the socket answers now, without waiting.
    UnixStream::connect(&socket).expect("socket answers once READY=1 is sent");

    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let n = notify.recv(&mut buf).expect("STOPPING=1 within the guard");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert!(child.wait().unwrap().success());
}
