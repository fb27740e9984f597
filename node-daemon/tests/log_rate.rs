//! A peer that fails at every attempt (a certificate from another CA, an address that does
//! not resolve) is logged once per cause (refusals: per address) and `--log-repeat` interval on both nodes, with the
//! attempts in between counted, however often it is retried; and no log line carries Rust
//! `Debug` text. The interval is 5 s here instead of the default minute, so the test counts
//! lines over ~20 s instead of several minutes; the count, not a timing, is asserted: at most
//! one line per cause per interval begun, while the attempts counted are more than that.

use std::time::{Duration, Instant};

use qnet_testkit::{Certs, Daemon, PeerNode};

const REPEAT: &str = "5s";
const REPEAT_SECS: u64 = 5;
/// How long the failures run before the lines are counted.
const RUN: Duration = Duration::from_secs(21);

/// `repeated=N` of a line (0 when absent).
fn repeated(line: &str) -> u64 {
    qnet_testkit::process::field(line, "repeated")
        .parse()
        .unwrap_or(0)
}

/// Text a `{:?}` of a Rust value leaves in a line.
fn debug_text(line: &str) -> Option<&'static str> {
    [
        "Ok(", "Err(", "Some(", "None", "Custom {", "kind: ", "Os {", " { ", "\\\"",
    ]
    .into_iter()
    .find(|t| line.contains(t))
}

#[test]
fn per_attempt_peer_failures_are_logged_once_per_cause_and_interval_on_both_nodes() {
    let ours = Certs::temp("cluster-a", &["n1"]);
    let theirs = Certs::temp("cluster-b", &["n2"]);
    let args = ["--log", "info", "--log-repeat", REPEAT];
    let n2 = PeerNode::start(theirs.dir(), "n2", 0, &[], &args);
    let start = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let to_n2 = format!("n2={}", n2.addr);
    let certs = ours.dir().to_str().unwrap();
    let (n1, _) = Daemon::spawn_listening(
        &dir.path().join("n1.sock"),
        "n1",
        &[
            &["--node", "n1", "--listen", "127.0.0.1:0", "--certs", certs][..],
            &["--peer", &to_n2, "--peer", "n3=nowhere.invalid:7100"],
            &args,
        ]
        .concat(),
    );
    std::thread::sleep(RUN.saturating_sub(start.elapsed()));
    let elapsed = start.elapsed().as_secs();
    // Lines one cause may write: one per interval begun since the start.
    let bound = (elapsed / REPEAT_SECS + 1) as usize;

    let n1_lines = n1.logs.all();
    let n2_lines = n2.daemon.logs.all();
    let cert = |l: &&String| l.contains("cannot link to peer") && l.contains("peer=n2");
    let dns = |l: &&String| l.contains("cannot resolve") && l.contains("nowhere.invalid");
    let refused = |l: &&String| l.contains("refused incoming connection");
    for (node, lines, pred, what) in [
        (
            "n1",
            &n1_lines,
            &cert as &dyn Fn(&&String) -> bool,
            "the bad certificate",
        ),
        ("n1", &n1_lines, &dns, "the unresolvable address"),
        ("n2", &n2_lines, &refused, "the refused handshakes"),
    ] {
        let found: Vec<&String> = lines.iter().filter(|l| pred(l)).collect();
        let attempts: u64 = found.iter().map(|l| repeated(l) + 1).sum();
        assert!(
            !found.is_empty() && found.len() <= bound,
            "{node}: {} lines about {what} in {elapsed}s (at most {bound}):\n{}",
            found.len(),
            lines.join("\n")
        );
        assert!(
            attempts > found.len() as u64 + 1,
            "{node}: the attempts about {what} are counted in the lines ({attempts} for {} \
             lines): the failures went on meanwhile:\n{}",
            found.len(),
            lines.join("\n")
        );
    }
    // Nothing else about the failing peers gets through per attempt: all of n1's and n2's
    // lines together stay within a few per cause.
    let noisy = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("WARN") || l.contains("INFO"))
            .filter(|l| !l.contains("qnetd listening"))
            .count()
    };
    assert!(noisy(&n1_lines) <= 2 * bound + 2, "{}", n1_lines.join("\n"));
    assert!(noisy(&n2_lines) <= bound + 2, "{}", n2_lines.join("\n"));
    for line in n1_lines.iter().chain(&n2_lines) {
        assert_eq!(debug_text(line), None, "Debug text in: {line}");
    }
}
