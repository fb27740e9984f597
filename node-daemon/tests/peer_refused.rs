//! A peer that can never link (its certificate is from another cluster CA) is reported once
//! at WARN in plain words (what is wrong, what to do), not as rustls' `UnknownIssuer`.

use qnet_testkit::{Certs, PeerNode};

#[test]
fn a_peer_from_another_ca_is_a_plain_words_warning() {
    let ours = Certs::temp("ours", &["n1"]);
    let theirs = Certs::temp("theirs", &["n2"]);
    let n2 = PeerNode::start(theirs.dir(), "n2", 0, &[], &["--log", "info"]);
    let n1 = PeerNode::start(ours.dir(), "n1", 0, &[("n2", n2.addr)], &["--log", "info"]);
    let line = n1.daemon.logs.wait(|l| l.contains("cannot link to peer"));
    let line = line.expect("n1 logged no dial failure");
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("presented a certificate not signed by this node's CA"),
        "{line}"
    );
    assert!(line.contains("qnet cert init"), "says what to do: {line}");
    assert!(!line.contains("UnknownIssuer"), "{line}");
}
