//! A peer that can never link (its certificate is from another cluster CA) is reported once
//! at WARN in plain words (what is wrong, what to do), not as rustls' `UnknownIssuer`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use qnet_transport::{CertAuthority, Validity, issue_node_cert};

/// A CA of its own in `dir`, with `node`'s certificate.
fn certs(dir: &Path, cluster: &str, node: &str) {
    let ca = CertAuthority::generate(cluster).unwrap();
    ca.save(dir, false).unwrap();
    issue_node_cert(&ca, node, Validity::days(1))
        .unwrap()
        .save(dir, true)
        .unwrap();
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn qnetd(dir: &Path, node: &str, port: u16, peer: Option<String>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnetd"));
    cmd.args(["--node", node, "--log", "info", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--certs")
        .arg(dir)
        .arg("--socket")
        .arg(dir.join("qnetd.sock"))
        .env_remove("RUST_LOG")
        .env_remove("QNET_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(p) = peer {
        cmd.arg("--peer").arg(p);
    }
    cmd.spawn().unwrap()
}

/// The first stderr line of `child` containing `what` (waits at most 30 s: a hang guard).
fn wait_line(child: &mut Child, what: &'static str) -> Option<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(what) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).ok()
}

#[test]
fn a_peer_from_another_ca_is_a_plain_words_warning() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    certs(d1.path(), "ours", "n1");
    certs(d2.path(), "theirs", "n2");
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let mut n2 = qnetd(d2.path(), "n2", p2, None);
    let mut n1 = qnetd(d1.path(), "n1", p1, Some(format!("n2=127.0.0.1:{p2}")));
    let line = wait_line(&mut n1, "cannot link to peer");
    for c in [&mut n1, &mut n2] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let line = line.expect("n1 logged no dial failure");
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("presented a certificate not signed by this node's CA"),
        "{line}"
    );
    assert!(line.contains("qnet cert init"), "says what to do: {line}");
    assert!(!line.contains("UnknownIssuer"), "{line}");
}
