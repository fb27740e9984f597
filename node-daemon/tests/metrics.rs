//! `qnetd --metrics`: a scrape of `GET /metrics` on a real daemon shows the calls its
//! clients made, by kind, and what the kernel holds; other paths get 404.

mod common;

use std::collections::BTreeMap;
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

/// The families Grafana and the alert rules rely on, with the type Prometheus must see.
const TYPED: &[(&str, &str)] = &[
    ("qnet_build", "info"),
    ("qnet_calls", "counter"),
    ("qnet_call_bytes", "counter"),
    ("qnet_call_errors", "counter"),
    ("qnet_processes", "gauge"),
    ("qnet_threads", "gauge"),
    ("qnet_channels", "gauge"),
    ("qnet_connections", "gauge"),
    ("qnet_channel_messages", "counter"),
    ("qnet_channel_pulses", "counter"),
    ("qnet_limit_refusals", "counter"),
    ("qnet_peer_up", "gauge"),
    ("qnet_peer_configured", "gauge"),
    ("qnet_peer_links", "gauge"),
    ("qnet_peer_rtt_seconds", "gauge"),
    ("qnet_peer_stream_window", "gauge"),
    ("qnet_peer_bytes", "counter"),
    ("qnet_peer_calls", "counter"),
    ("qnet_peer_call_bytes", "counter"),
    ("qnet_peer_transitions", "counter"),
    ("qnet_peer_nodes", "gauge"),
    ("qnet_certificate_expiry_seconds", "gauge"),
    ("qnet_config_reloads", "counter"),
    ("qnet_config_last_reload_successful", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_cpu_seconds", "counter"),
    ("process_resident_memory_bytes", "gauge"),
];

/// The value of sample `name` with exactly `labels` in `families`.
fn value(families: &BTreeMap<String, common::Family>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    families
        .values()
        .flat_map(|f| &f.samples)
        .find(|(n, l, _)| n == name && *l == want)
        .unwrap_or_else(|| panic!("no {name}{labels:?} in {families:#?}"))
        .2
}

/// Two linked daemons, a call forwarded from n1 to n2, channels over a limit: both formats,
/// read by Python's `prometheus_client` (the parsers Prometheus' own Python tooling uses),
/// type every family (the old hand-written text interleaved per-peer and per-channel lines,
/// so the parser read them as untyped), and the new series count exactly what was done.
#[test]
fn prometheus_client_types_every_family_and_the_new_series_count_what_happened() {
    let certs = qnet_testkit::Certs::temp("metrics", &["n1", "n2"]);
    let n2 = qnet_testkit::PeerNode::start(
        certs.dir(),
        "n2",
        0,
        &[],
        &["--limit-channels", "2", "--metrics", "127.0.0.1:0"],
    );
    let n1 = qnet_testkit::PeerNode::start(
        certs.dir(),
        "n1",
        0,
        &[("n2", n2.addr)],
        &["--metrics", "127.0.0.1:0", "--limit-channels", "2"],
    );
    n1.wait_node_up("n2", 1);
    let addr = n1.daemon.start_field("n1", "metrics");

    // A channel on n2, a connection to it from n1 (a forwarded ConnectAttach) and a
    // 100-byte MsgSend over it (forwarded, received and replied on n2).
    let mut server = n2.thread(1);
    let chid = channel_create(&mut server);
    let mut client = n1.thread(1);
    let coid = match client.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 1,
        pid: std::process::id(),
        chid,
    })) {
        response::Result::Coid(coid) => coid,
        other => panic!("ConnectAttach n2: {other:?}"),
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
    let rcvid = match server.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 1024,
        timeout: None,
        ..Default::default()
    })) {
        response::Result::Message(m) => m.rcvid,
        other => panic!("MsgReceive: {other:?}"),
    };
    let replied = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 0,
        data: vec![1; 7].into(),
        ..Default::default()
    }));
    assert!(matches!(replied, response::Result::Done(_)), "{replied:?}");
    assert!(matches!(client.response(), response::Result::Reply(_)));

    // Three channel creations over a limit of 2 on n1: every refusal counts, not only the
    // first of the process (which is what the log says once).
    let mut local_c = n1.thread(2);
    for _ in 0..2 {
        channel_create(&mut local_c);
    }
    for _ in 0..3 {
        let r = local_c.call(request::Call::ChannelCreate(local::ChannelCreate {
            flags: 0,
        }));
        assert_eq!(common::errno(&r), Some(libc::EAGAIN));
    }

    let om = get_with(
        &addr,
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    );
    assert!(
        om.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{om}"
    );
    let text = get(&addr, "/metrics");
    assert!(
        text.contains("Content-Type: text/plain; version=0.0.4"),
        "{text}"
    );
    for (answer, openmetrics) in [(&om, true), (&text, false)] {
        let families = common::prometheus_client_parse(common::body(answer), openmetrics);
        let untyped: Vec<_> = families
            .iter()
            .filter(|(_, f)| f.kind == "unknown" || f.kind == "untyped")
            .map(|(n, _)| n)
            .collect();
        assert!(untyped.is_empty(), "untyped families {untyped:?}");
        for (name, kind) in TYPED {
            // The text format has no info type: an info is the gauge `NAME_info` there.
            let (name, kind) = match (*kind, openmetrics) {
                ("info", false) => (format!("{name}_info"), "gauge"),
                _ => ((*name).to_owned(), *kind),
            };
            let f = families
                .get(&name)
                .unwrap_or_else(|| panic!("no family {name} ({openmetrics}) in {families:#?}"));
            assert_eq!(f.kind, kind, "{name}");
        }
        let v = |name: &str, labels: &[(&str, &str)]| value(&families, name, labels);
        let fwd = [("peer", "n2"), ("direction", "forwarded")];
        assert_eq!(
            v("qnet_peer_calls_total", &fwd),
            2.0,
            "ConnectAttach + MsgSend"
        );
        assert_eq!(v("qnet_peer_call_bytes_total", &fwd), 100.0);
        assert_eq!(
            v(
                "qnet_peer_calls_total",
                &[("peer", "n2"), ("direction", "served")]
            ),
            0.0
        );
        assert_eq!(
            v(
                "qnet_peer_transitions_total",
                &[("peer", "n2"), ("to", "up")]
            ),
            1.0
        );
        assert_eq!(
            v(
                "qnet_peer_transitions_total",
                &[("peer", "n2"), ("to", "down")]
            ),
            0.0
        );
        assert_eq!(
            v("qnet_limit_refusals_total", &[("limit", "channels")]),
            3.0
        );
        assert_eq!(v("qnet_limit_refusals_total", &[("limit", "names")]), 0.0);
        let day = 86_400.0;
        for who in [("certificate", "node"), ("certificate", "peer")] {
            let node = if who.1 == "node" { "n1" } else { "n2" };
            let left = v("qnet_certificate_expiry_seconds", &[who, ("node", node)]);
            assert!(left > 0.0 && left <= day, "{who:?}: {left}");
        }
        let fds = v("process_open_fds", &[]);
        assert!(fds > 0.0 && fds <= v("process_max_fds", &[]), "{fds}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = v("process_start_time_seconds", &[]);
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
    }
    // The serving side counts the served calls and their bytes under the caller's name.
    let served = get(&n2.daemon.start_field("n2", "metrics"), "/metrics");
    let families = common::prometheus_client_parse(common::body(&served), false);
    let by_n1 = [("peer", "n1"), ("direction", "served")];
    assert_eq!(value(&families, "qnet_peer_calls_total", &by_n1), 2.0);
    assert_eq!(
        value(&families, "qnet_peer_call_bytes_total", &by_n1),
        100.0
    );
}

/// `/healthz` answers while the daemon runs; `/readyz` only while its socket is there (a
/// removed socket file means no client can reach it).
#[test]
fn healthz_and_readyz() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qnetd.sock");
    let d = Daemon::spawn_with(&socket, &["--node", "n1", "--metrics", "127.0.0.1:0"]);
    let addr = d.start_field("qnetd", "metrics");
    assert!(get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    let ready = get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    std::fs::remove_file(&socket).unwrap();
    let ready = get(&addr, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        common::body(&ready).contains("qnetd.sock"),
        "says why: {ready}"
    );
    assert!(
        get(&addr, "/healthz").starts_with("HTTP/1.1 200"),
        "still live"
    );
}

fn get_with(addr: &str, path: &str, headers: &str) -> String {
    common::http_get(addr, path, headers)
}
