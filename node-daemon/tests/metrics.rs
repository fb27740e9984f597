//! `qnetd --metrics`: a scrape of `GET /metrics` on a real daemon shows the calls its
//! clients made, by kind, and what the kernel holds; other paths get 404.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Daemon, channel_create};
use qnet_proto::local::{self, client_frame, request, response};

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

    // A message and a pulse through one channel, a reply, and a failed call: bytes per kind,
    // the channel's totals and errors per errno move by exactly what was done.
    // ChannelDestroy of a chid the process does not have: EINVAL.
    let errors_before = optional(&after, "qnet_call_errors_total{errno=\"EINVAL\"}");
    let sent_before = sample(&after, "qnet_call_bytes_total{kind=\"MsgSend\"}");
    let replied_before = sample(&after, "qnet_call_bytes_total{kind=\"MsgReply\"}");
    let chid = chids[1];
    let mut client = d.thread(2);
    let coid = match client.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: std::process::id(),
        chid,
    })) {
        response::Result::Coid(coid) => coid,
        other => panic!("ConnectAttach: {other:?}"),
    };
    client.send(client_frame::Frame::Request(local::Request {
        call: Some(request::Call::MsgSend(local::MsgSend {
            coid,
            data: vec![7; 100].into(),
            reply_cap: 64,
            priority: 10,
            timeout: None,
            ..Default::default()
        })),
    }));
    let rcvid = match c.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 1024,
        timeout: None,
        ..Default::default()
    })) {
        response::Result::Message(m) => m.rcvid,
        other => panic!("MsgReceive: {other:?}"),
    };
    let replied = c.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 0,
        data: vec![1; 7].into(),
        ..Default::default()
    }));
    assert!(matches!(replied, response::Result::Done(_)), "{replied:?}");
    assert!(matches!(client.response(), response::Result::Reply(_)));
    let pulsed = client.call(request::Call::MsgSendPulse(local::MsgSendPulse {
        coid,
        priority: 10,
        code: 1,
        value: 0,
    }));
    assert!(matches!(pulsed, response::Result::Done(_)), "{pulsed:?}");
    let bad = c.call(request::Call::ChannelDestroy(local::ChannelDestroy {
        chid: 999,
    }));
    assert_eq!(common::errno(&bad), Some(22), "EINVAL");

    let last = get(&addr, "/metrics");
    assert_eq!(
        sample(&last, "qnet_call_bytes_total{kind=\"MsgSend\"}"),
        sent_before + 100
    );
    assert_eq!(
        sample(&last, "qnet_call_bytes_total{kind=\"MsgReply\"}"),
        replied_before + 7
    );
    assert_eq!(
        sample(&last, "qnet_call_errors_total{errno=\"EINVAL\"}"),
        errors_before + 1
    );
    let labels = format!("{{pid=\"{}\",chid=\"{chid}\"}}", std::process::id());
    assert_eq!(
        sample(&last, &format!("qnet_channel_messages_total{labels}")),
        1
    );
    assert_eq!(
        sample(&last, &format!("qnet_channel_pulses_total{labels}")),
        1
    );
}

/// Like [`sample`], 0 for a series not (yet) exposed.
fn optional(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |v| v.parse().unwrap())
}
