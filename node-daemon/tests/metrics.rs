//! `qnetd --metrics`: a scrape of `GET /metrics` on a real daemon shows the calls its
//! clients made, by kind, and what the kernel holds; other paths get 404.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Daemon, channel_create};
use qnet_proto::local::{self, request, response};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(common::GUARD)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of the sample line `name` (with labels) in `text`.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn a_scrape_counts_the_calls_made_and_the_channels_held() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::spawn_with(
        &dir.path().join("qnetd.sock"),
        &["--node", "n1", "--metrics", "127.0.0.1:0"],
    );
    let addr = d.start_field("qnetd", "metrics");

    let before = get(&addr, "/metrics");
    assert!(before.starts_with("HTTP/1.1 200 OK\r\n"), "{before}");
    assert!(
        before.contains("Content-Type: text/plain; version=0.0.4"),
        "{before}"
    );
    let created = sample(&before, "qnet_calls_total{kind=\"ChannelCreate\"}");
    let destroyed = sample(&before, "qnet_calls_total{kind=\"ChannelDestroy\"}");

    let mut c = d.thread(1);
    let chids: Vec<i32> = (0..3).map(|_| channel_create(&mut c)).collect();
    match c.call(request::Call::ChannelDestroy(local::ChannelDestroy {
        chid: chids[0],
    })) {
        response::Result::Done(_) => {}
        other => panic!("ChannelDestroy: {other:?}"),
    }

    let after = get(&addr, "/metrics");
    assert_eq!(
        sample(&after, "qnet_calls_total{kind=\"ChannelCreate\"}"),
        created + 3
    );
    assert_eq!(
        sample(&after, "qnet_calls_total{kind=\"ChannelDestroy\"}"),
        destroyed + 1
    );
    assert_eq!(sample(&after, "qnet_channels"), 2);
    assert_eq!(sample(&after, "qnet_threads{state=\"ready\"}"), 1);
    assert_eq!(sample(&after, "qnet_peer_nodes{state=\"up\"}"), 0);
    assert!(sample(&after, "qnet_daemon_resident_bytes") > 0);

    let other = get(&addr, "/");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}
