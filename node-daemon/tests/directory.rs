//! The member directory from a hostile member: a raw QUIC peer holding a valid cluster
//! certificate (`raw`) sends directory frames by hand to a real `qnetd`. Entries are hints,
//! never identities: a name pointed at another node's address, at the sender's address, or
//! at a node of another CA never makes or repoints a node; and 100,000 fake names stay within
//! the member table's caps, with the daemon's memory, dial rate and log lines bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use qnet_proto::local::{PeerList, PeerView};
use qnet_proto::peer::{PeerControl, PeerDirectory, PeerMember, peer_control};
use qnet_testkit::{Certs, GUARD, PeerNode as Node, RawPeer, admin_nodes};

/// The member table's caps (`peer::members`), as `qnet nodes` must show them.
const MAX_PER_SOURCE: usize = 256;
const MAX_ADDRS: usize = 4;
/// Discovery's dial bounds (`peer::discovery`).
const MAX_JOBS: u64 = 16;
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

fn start(certs: &Path, name: &str, peers: &[(&str, SocketAddr)], extra: &[&str]) -> Node {
    Node::start(certs, name, 0, peers, extra)
}

fn directory(members: Vec<PeerMember>) -> PeerControl {
    PeerControl {
        frame: Some(peer_control::Frame::Directory(PeerDirectory { members })),
    }
}

fn entry(node: &str, incarnation: u64, addrs: &[SocketAddr]) -> PeerMember {
    PeerMember {
        node: node.into(),
        incarnation,
        addrs: addrs.iter().map(ToString::to_string).collect(),
    }
}

fn peer<'a>(list: &'a PeerList, name: &str) -> Option<&'a PeerView> {
    list.peers.iter().find(|p| p.name == name)
}

/// Poll `qnet nodes` of `node` until `done` holds (hang guard only); the last answer.
fn nodes_until(node: &Node, what: &str, done: impl Fn(&PeerList) -> bool) -> PeerList {
    let start = Instant::now();
    loop {
        let list = admin_nodes(&node.daemon.socket);
        if done(&list) {
            return list;
        }
        assert!(
            start.elapsed() < GUARD,
            "{what}: {list:#?}\n{}",
            node.daemon.logs.dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Entries naming: `n3` at the address of another node of the cluster (`n5`, not linked to
/// n1), `ghost` at a node of another CA, `n2` (up) at the sender's own address with another
/// incarnation, `n4` at the sender's address only. n1 dials `n3` and `ghost` by name and the
/// certificates refuse them; nothing points `n2` at the sender, no `n4` exists, n5 is never
/// made a node by an address, and n2's link stays as it was.
#[test]
fn directory_entries_are_hints_and_a_certificate_decides() {
    let certs = Certs::temp("c", &["n1", "n2", "n5", "raw"]);
    let other = Certs::temp("other", &["ghost"]);
    let n2 = start(certs.dir(), "n2", &[], &[]);
    let n5 = start(certs.dir(), "n5", &[], &[]);
    let ghost = start(other.dir(), "ghost", &[], &[]);
    let n1 = start(certs.dir(), "n1", &[("n2", n2.addr)], &[]);
    n1.wait_node_up("n2", 1);
    let before = peer(&admin_nodes(&n1.daemon.socket), "n2")
        .cloned()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let raw = rt.block_on(async {
        let hello = RawPeer::hello(qnet_proto::PEER_PROTOCOL_VERSION);
        let (mut raw, answer) = RawPeer::open_as(certs.dir(), "raw", "n1", n1.addr, hello).await;
        assert!(matches!(answer.frame, Some(peer_control::Frame::Hello(_))));
        let me = raw.local_addr();
        raw.send_control(directory(vec![
            entry("n3", 1, &[n5.addr]),
            entry("ghost", 1, &[ghost.addr]),
            entry("n2", 99, &[me]),
            entry("n4", 1, &[me]),
        ]))
        .await;
        raw
    });
    let list = nodes_until(&n1, "n3 and ghost dialled and refused", |l| {
        ["n3", "ghost"]
            .iter()
            .all(|n| peer(l, n).is_some_and(|p| p.last_error.is_some()))
    });
    let n3 = peer(&list, "n3").unwrap();
    assert!(!n3.up && n3.unverified && n3.nd == 0, "{n3:?}");
    assert_eq!(n3.candidates, [n5.addr.to_string()]);
    let e = n3.last_error.as_deref().unwrap();
    assert!(
        e.contains("is not node n3's"),
        "the certificate named n5: {e}"
    );
    let g = peer(&list, "ghost").unwrap();
    assert!(!g.up && g.unverified, "{g:?}");
    let e = g.last_error.as_deref().unwrap();
    assert!(e.contains("not signed by this node's CA"), "{e}");
    assert!(peer(&list, "n4").is_none(), "an address never makes a node");
    assert!(
        peer(&list, "n5").is_none(),
        "n5 answered only as n3's address"
    );
    let n2_now = peer(&list, "n2").unwrap();
    assert!(n2_now.up && n2_now.cert_node == "n2", "{n2_now:?}");
    assert!(
        !n2_now.candidates.contains(&raw.local_addr().to_string()),
        "n2 is not pointed at the sender: {n2_now:?}"
    );
    assert_eq!(n2_now.incarnation, before.incarnation, "{n2_now:?}");
    assert_eq!(n2_now.nd, before.nd);
    let log = n1.daemon.logs.dump();
    for name in ["ghost", "n3", "n4", "n5"] {
        assert!(
            !log.lines()
                .any(|l| l.contains("node up") && l.contains(&format!("peer={name}"))),
            "{name} never up:\n{log}"
        );
    }
    assert!(!log.contains("node restarted"), "{log}");
    drop(raw);
}

/// `GET /metrics` of `addr`'s one counter series `series` (0 if absent).
fn metric(addr: &str, series: &str) -> u64 {
    let mut s = TcpStream::connect(addr).expect("metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// 100,000 fake names, 8 addresses each, from one member: the table keeps [`MAX_PER_SOURCE`]
/// of them with at most [`MAX_ADDRS`] addresses, counts the rest as refused, dials at most
/// [`MAX_JOBS`] names at a time, logs a bounded number of lines, and grows by a few MiB.
#[test]
fn a_flood_of_fake_members_stays_bounded() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let n2 = start(certs.dir(), "n2", &[], &[]);
    let n1 = start(
        certs.dir(),
        "n1",
        &[("n2", n2.addr)],
        &["--metrics", "127.0.0.1:0", "--log", "info"],
    );
    n1.wait_node_up("n2", 1);
    let metrics = n1
        .daemon
        .logs
        .wait(|l| l.contains("qnetd listening"))
        .and_then(|l| {
            l.split("metrics=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned)
        })
        .expect("the metrics address");
    let pid = n1.daemon.child.as_ref().unwrap().id();
    let rss_before = rss_kib(pid);
    const FAKES: usize = 100_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let raw = rt.block_on(async {
        let hello = RawPeer::hello(qnet_proto::PEER_PROTOCOL_VERSION);
        let (mut raw, _) = RawPeer::open_as(certs.dir(), "raw", "n1", n1.addr, hello).await;
        for chunk in (0..FAKES).collect::<Vec<_>>().chunks(300) {
            let members = chunk
                .iter()
                .map(|i| {
                    // Loopback addresses nobody listens on: dials go nowhere off this host.
                    let addrs: Vec<SocketAddr> = (0..8)
                        .map(|k| {
                            SocketAddr::from((
                                [127, 1 + k, (i / 256 % 256) as u8, (i % 256) as u8],
                                1,
                            ))
                        })
                        .collect();
                    entry(&format!("fake{i}"), *i as u64 + 1, &addrs)
                })
                .collect();
            raw.send_control(directory(members)).await;
        }
        raw
    });
    let refused = (FAKES - MAX_PER_SOURCE) as u64;
    let list = nodes_until(&n1, "every fake name taken in or refused", |l| {
        l.members_refused == refused
    });
    let fakes: Vec<&PeerView> = list
        .peers
        .iter()
        .filter(|p| p.name.starts_with("fake"))
        .collect();
    assert_eq!(fakes.len(), MAX_PER_SOURCE, "kept");
    assert!(
        fakes
            .iter()
            .all(|p| p.unverified && !p.up && p.candidates.len() <= MAX_ADDRS)
    );
    // Dials: at most MAX_JOBS names at once, each address for at most DIAL_TIMEOUT.
    let window = Duration::from_secs(5);
    let failed = |n: &str| {
        metric(
            &metrics,
            &format!("qnet_dial_failures_total{{via=\"{n}\"}}"),
        )
    };
    let before = failed("directory");
    std::thread::sleep(window);
    let during = failed("directory") - before;
    let bound = MAX_JOBS * MAX_ADDRS as u64 * (window.as_secs() / DIAL_TIMEOUT.as_secs() + 1);
    assert!(
        during <= bound,
        "{during} dials failed in {window:?}, bound {bound}"
    );
    assert!(during > 0, "the fakes are dialled (by name, in vain)");
    // The node keeps working, and says so in a bounded number of lines.
    assert!(n1.daemon.logs.dump().contains("node up"));
    assert!(peer(&admin_nodes(&n1.daemon.socket), "n2").unwrap().up);
    let lines = n1
        .daemon
        .logs
        .count(|l| l.contains("cannot link to peer") && l.contains("fake"));
    let elapsed_windows = 1 + GUARD.as_secs() / 10;
    assert!(
        lines as u64 <= 10 * elapsed_windows,
        "{lines} lines about fake members"
    );
    let grown = rss_kib(pid).saturating_sub(rss_before);
    println!(
        "member flood: RSS {rss_before} KiB before, +{grown} KiB after {FAKES} fake names; \
         {during} failed dials in {window:?}; {lines} log lines"
    );
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    drop(raw);
}
