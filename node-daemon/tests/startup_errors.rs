//! Fatal start-up errors: each prints exactly one line on stderr (what failed, the value, what
//! to do) and exits with status 1, also with `RUST_BACKTRACE=1` set (no backtrace, no cause
//! printed twice); a failed start leaves no socket file behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Daemon;

/// Run `qnetd args` to its exit in a clean environment with `RUST_BACKTRACE=1`; its status
/// code and stderr.
fn qnetd(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("QNET_SOCKET")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn socket_in_a_missing_directory_says_the_directory_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("run-qnet");
    let socket = missing.join("qnetd.sock");
    let (code, err) = qnetd(&["--socket", s(&socket)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "qnetd: socket directory {} does not exist (socket {}): create it, or give \
             another --socket\n",
            missing.display(),
            socket.display()
        )
    );
}

#[test]
fn unreadable_and_malformed_config_files_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qnetd.toml");
    let (code, err) = qnetd(&["--config", s(&path)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "qnetd: cannot read config file {}: No such file or directory (os error 2)\n",
            path.display()
        ),
        "the cause once"
    );

    std::fs::write(&path, "node = \"n1\"\nnod = 1\n").unwrap();
    let (code, err) = qnetd(&["--config", s(&path)]);
    assert_eq!(code, Some(1));
    let head = format!(
        "qnetd: config file {}: line 2: unknown field `nod`, expected one of `node`,",
        path.display()
    );
    assert!(err.starts_with(&head), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn missing_certificates_are_one_line_with_the_fix_and_leave_no_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let certs = dir.path().join("certs");
    let (code, err) = qnetd(&[
        "--socket",
        s(&socket),
        "--node",
        "n1",
        "--listen",
        "127.0.0.1:0",
        "--certs",
        s(&certs),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "qnetd: loading the certificates of node n1 from {c}: {c}/ca.pem: No such file or \
             directory (os error 2) (make them with `qnet cert init --dir DIR` and `qnet cert \
             issue --dir DIR --node n1`)\n",
            c = certs.display()
        )
    );
    assert!(
        !socket.exists(),
        "a failed start removes the socket it bound"
    );
}

#[test]
fn a_peer_address_that_cannot_work_is_refused_at_start() {
    let (code, err) = qnetd(&[
        "--node",
        "n1",
        "--listen",
        "127.0.0.1:0",
        "--certs",
        "/nonexistent",
        "--peer",
        "n2=n2.example.com",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "qnetd: peer n2 address \"n2.example.com\": no port: give it as NAME=HOST:PORT\n"
    );
}

#[test]
fn a_second_daemon_on_a_busy_socket_and_a_bad_log_filter_are_one_line_each() {
    let first = Daemon::start();
    let (code, err) = qnetd(&["--socket", s(&first.socket)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        format!(
            "qnetd: a daemon is already listening on {}: stop it, or give this one another \
             --socket\n",
            first.socket.display()
        )
    );
    assert!(first.socket.exists(), "the first daemon's socket stays");

    let (code, err) = qnetd(&["--log", "a=[", "--socket", s(&first.socket)]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("qnetd: bad log filter \"a=[\" (--log or RUST_LOG): "),
        "{err}"
    );
    assert!(
        err.ends_with(": e.g. info, or warn,qnet_daemon=debug\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Run `qnetd args` like [`qnetd`]; its status code, stdout and stderr.
fn qnetd_out(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("QNET_SOCKET")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_validates_certificates_and_addresses_without_starting() {
    use qnet_transport::{CertAuthority, Validity, issue_node_cert};
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let ca = CertAuthority::generate("c").unwrap();
    ca.save(&certs, false).unwrap();
    issue_node_cert(&ca, "n1", Validity::days(1))
        .unwrap()
        .save(&certs, false)
        .unwrap();
    let socket = dir.path().join("qnetd.sock");
    let base = [
        "--check",
        "--socket",
        s(&socket),
        "--listen",
        "127.0.0.1:0",
        "--certs",
        s(&certs),
        "--peer",
        "n2=127.0.0.1:7001",
    ];
    let with = |node: &str| {
        let mut args = base.to_vec();
        args.extend(["--node", node]);
        qnetd_out(&args)
    };
    let (code, out, err) = with("n1");
    assert_eq!((code, err.as_str()), (Some(0), ""));
    assert_eq!(
        out,
        format!(
            "qnetd: configuration OK: node n1, socket {}, listen 127.0.0.1:0, 1 peer(s), 0 seed(s)\n",
            socket.display()
        )
    );
    assert!(!socket.exists(), "--check starts nothing");

    // A node without a certificate: one line naming the file and the fix.
    let (code, out, err) = with("n3");
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert_eq!(
        err,
        format!(
            "qnetd: loading the certificates of node n3 from {c}: {c}/n3.pem: No such file or \
             directory (os error 2) (make them with `qnet cert init --dir DIR` and `qnet cert \
             issue --dir DIR --node n3`)\n",
            c = certs.display()
        )
    );

    // An address this host does not have (TEST-NET-3: assigned to no one).
    let (code, _, err) = qnetd_out(&[
        "--check",
        "--node",
        "n1",
        "--listen",
        "203.0.113.7:7000",
        "--certs",
        s(&certs),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(
            "qnetd: --listen 203.0.113.7:7000: 203.0.113.7 is not an address of this host"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn version_names_the_commit() {
    let (code, out, _) = qnetd_out(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, format!("qnetd {}\n", qnet_daemon::VERSION));
    assert!(
        qnet_daemon::VERSION.starts_with(concat!(env!("CARGO_PKG_VERSION"), " (commit ")),
        "{}",
        qnet_daemon::VERSION
    );
}

/// Issue 22 item 4: a node name outside the rule stops the start and `--check` alike, with
/// one line naming the rule, with or without peers (a `/` breaks `node/name` addressing).
#[test]
fn bad_node_names_are_refused_at_start_and_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    for bad in ["bad/name", "", "all"] {
        for check in [true, false] {
            let mut args = vec!["--socket", s(&socket), "--node", bad];
            if check {
                args.push("--check");
            }
            let (code, err) = qnetd(&args);
            assert_eq!(code, Some(1), "{bad:?} (check: {check}): {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with(&format!("qnetd: invalid node name {bad:?}"))
                    && err.contains(qnet_core::node_name::NODE_NAME_RULE)
                    && err.contains("--node NAME"),
                "{err}"
            );
            assert!(!socket.exists(), "nothing started");
        }
    }
}
