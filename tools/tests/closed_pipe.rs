//! Every `qnet` command ends quietly when its reader goes away (`qnet ping n1 | head -1`,
//! `qnet top --json | head`): status 0, nothing on stderr, no panic (it used to exit 101 with
//! a backtrace).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use qnet_testkit::Daemon;

/// Run `qnet args` against `d` with stdout a pipe whose reader takes the first line and then
/// closes it, as `| head -1` does; the exit status and stderr.
fn first_line_then_close(d: &Daemon, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnet"));
    cmd.args(args)
        .env("QNET_SOCKET", d.socket())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = qnet_testkit::process::spawn(cmd);
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "{args:?} printed a first line");
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_end_quietly_when_stdout_is_closed() {
    let d = Daemon::start();
    // Each prints more lines after the first, spaced so the reader is gone by then.
    for args in [
        &["ping", "testnode", "-c", "20", "-i", "0.05"][..],
        &["top", "--json", "-c", "20", "-i", "0.05"],
    ] {
        let (status, stderr) = first_line_then_close(&d, args);
        assert!(
            status.success(),
            "qnet {args:?}: {status} (101 is a panic):\n{stderr}"
        );
        assert!(
            stderr.is_empty(),
            "qnet {args:?} printed on stderr:\n{stderr}"
        );
    }
}
