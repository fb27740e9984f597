//! `--log-format json`: every log line the daemon writes is one JSON object carrying the
//! level, the target and the message (what log collectors ingest).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn json_log_lines_are_json_objects_with_level_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_qnetd"))
        .args([
            "--node",
            "logs",
            "--log",
            "info",
            "--log-format",
            "json",
            "--socket",
        ])
        .arg(&socket)
        .env_remove("RUST_LOG")
        .env_remove("QNET_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = daemon.stderr.take().unwrap();
    // The start-up line (logged once the socket is bound) ends the wait; the daemon logs
    // nothing before it that is not JSON either.
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let started = line.contains("qnetd listening");
        lines.push(line);
        if started || lines.len() > 20 {
            break;
        }
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(!lines.is_empty(), "the daemon logged nothing");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert_eq!(v["level"], "INFO", "{line}");
        assert!(
            v["target"].as_str().is_some_and(|t| !t.is_empty()),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
    let start: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(start["fields"]["message"], "qnetd listening");
    assert_eq!(start["fields"]["node"], "logs", "fields keep their names");
}
