//! Discovery with real daemons on loopback: a mesh from one seed (and what remains when the
//! seed dies), one link per pair when nodes find each other at once, a node restarted on
//! another address found again, a node of another CA never joining, and a seed that is down
//! or does not resolve delaying nothing (its error in `qnet nodes`). Every wait is bounded by
//! a hang guard only.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use cluster_tests::{Certs, Cluster, GUARD, Node, ok_output};
use qnet_proto::local::{PeerList, PeerView};
use qnet_testkit::admin_nodes;

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

fn nodes(node: &Node) -> PeerList {
    admin_nodes(&node.socket)
}

fn peer<'a>(list: &'a PeerList, name: &str) -> Option<&'a PeerView> {
    list.peers.iter().find(|p| p.name == name)
}

/// Poll `qnet nodes` of `node` until `done` holds (hang guard only); the last answer.
fn nodes_until(node: &Node, what: &str, done: impl Fn(&PeerList) -> bool) -> PeerList {
    let start = Instant::now();
    loop {
        let list = nodes(node);
        if done(&list) {
            return list;
        }
        assert!(
            start.elapsed() < GUARD,
            "{}: {what}: {list:#?}\n{}",
            node.name,
            node.log().dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /metrics` of `node` (started with `--metrics 127.0.0.1:0`): the value of `series`.
fn metric(node: &Node, series: &str) -> u64 {
    use std::io::{Read, Write};
    let line = node.log().wait(|l| l.contains("qnetd listening")).unwrap();
    let addr = line
        .split("metrics=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a metrics address");
    let mut s = std::net::TcpStream::connect(addr).expect("the metrics endpoint");
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// A message from `from` to a server on `to` is answered.
fn round_trip(c: &Cluster, from: &str, to: &str, text: &str) {
    let server = c.node(to).spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let mut client = c
        .node(from)
        .spawn(probe(), &["send", &format!("{to}/{pid}/{chid}"), text]);
    let out = ok_output(&mut client);
    assert!(
        out.contains("result=ok") && out.contains(&format!("echo:{text}")),
        "{from} -> {to}: {out}"
    );
}

/// Five nodes given only `--seed` to n1: every pair links (n1's directory brings in the
/// others), calls work between nodes that were never configured to know each other, and
/// killing the seed leaves every other link up.
#[test]
fn five_nodes_from_one_seed_make_a_full_mesh_that_outlives_the_seed() {
    let names = ["n1", "n2", "n3", "n4", "n5"];
    let mut c = Cluster::start_seeded(&names, &[]);
    for n in &names[1..] {
        let list = nodes(c.node(n));
        for m in names.iter().filter(|m| *m != n) {
            let p = peer(&list, m).unwrap_or_else(|| panic!("{n} knows {m}: {list:#?}"));
            assert!(
                p.up && !p.unverified && p.incarnation.is_some(),
                "{n}: {p:?}"
            );
            assert!(!p.learnt.is_empty(), "{n}: how it learnt {m}: {p:?}");
        }
        let seed = list.seeds.first().expect("the seed");
        assert_eq!(seed.nodes, ["n1"], "{n}: {seed:?}");
    }
    round_trip(&c, "n4", "n5", "neverconfigured");
    c.kill("n1");
    for n in &names[1..] {
        c.node(n).wait_node_down("n1", 1);
    }
    for n in &names[1..] {
        let list = nodes(c.node(n));
        for m in names[1..].iter().filter(|m| *m != n) {
            assert!(
                peer(&list, m).is_some_and(|p| p.up),
                "{n} still sees {m} up without the seed: {list:#?}"
            );
            assert_eq!(
                c.node(n)
                    .log()
                    .count(|l| l.contains("node down") && l.contains(&format!("peer={m}"))),
                0,
                "{n}: {m} never went down\n{}",
                c.node(n).log().dump()
            );
        }
        let seed = &nodes(c.node(n)).seeds[0];
        assert!(seed.nodes.is_empty(), "{n}: the seed is gone: {seed:?}");
    }
    round_trip(&c, "n2", "n3", "aftertheseed");
}

/// Four nodes that each have every other as a seed dial each other at once: each pair keeps
/// exactly one link (discovery dials are tie-broken), however long they run.
#[test]
fn nodes_that_find_each_other_at_once_keep_one_link_per_pair() {
    let names = ["n1", "n2", "n3", "n4"];
    let c = Cluster::start_reserved(&names, |me, all| {
        all.iter()
            .filter(|(n, _)| n != me)
            .flat_map(|(_, a)| ["--seed".to_owned(), a.to_string()])
            .collect()
    });
    // Seed rounds go on; a second link would come within a few of them.
    std::thread::sleep(Duration::from_secs(3));
    for n in &names {
        let list = nodes(c.node(n));
        for m in names.iter().filter(|m| *m != n) {
            let p = peer(&list, m).unwrap();
            assert_eq!((p.up, p.links), (true, 1), "{n} -> {m}: {p:?}");
        }
        assert_eq!(
            c.node(n).log().count(|l| l.contains("peer link added")),
            0,
            "{n}\n{}",
            c.node(n).log().dump()
        );
    }
    round_trip(&c, "n1", "n4", "onelink");
}

/// n3 is killed and started again on another IP and port (same name and certificate): n1
/// (its seed) sees a new incarnation, tells n2, and n2 links to n3's new address; calls
/// work again, both ways.
#[test]
fn a_node_restarted_on_a_new_address_is_found_again() {
    let mut c = Cluster::start_seeded(&["n1", "n2", "n3"], &[]);
    let old = c.node("n3").addr;
    c.kill("n3");
    let elsewhere: SocketAddr = "127.0.0.3:0".parse().unwrap();
    c.relaunch_at("n3", elsewhere);
    let new = c.node("n3").addr;
    assert_ne!(new.ip(), old.ip());
    for n in ["n1", "n2"] {
        let list = nodes_until(c.node(n), "n3 up at its new address", |l| {
            peer(l, "n3").is_some_and(|p| p.up && p.addr == new.to_string())
        });
        let p = peer(&list, "n3").unwrap();
        assert!(p.candidates.contains(&new.to_string()), "{n}: {p:?}");
    }
    c.node("n3").wait_node_up("n1", 1);
    c.node("n3").wait_node_up("n2", 1);
    round_trip(&c, "n2", "n3", "newaddress");
    round_trip(&c, "n3", "n2", "andback");
}

/// A node with a certificate of another CA, seeded with n1 and seed of n3: it never joins
/// any node; n3 dials it no more than once per backoff period (its seed's rounds, counted by
/// its metrics) and logs it once; n1 logs evil's refused attempts once (a minute); `qnet
/// nodes` never lists it as a node.
#[test]
fn a_node_of_another_ca_never_joins() {
    let mut c = Cluster::start_seeded(&["n1", "n2"], &[]);
    let other = Certs::temp("other-cluster", &["evil"]);
    let n1 = c.node("n1").addr.to_string();
    let evil = c
        .add_node("evil", Some(other.dir()), &["--seed", &n1])
        .addr
        .to_string();
    let started = Instant::now();
    c.add_node(
        "n3",
        None,
        &["--seed", &n1, "--seed", &evil, "--metrics", "127.0.0.1:0"],
    );
    c.node("n3").wait_node_up("n1", 1);
    c.node("n3").wait_node_up("n2", 1);
    let list = nodes_until(c.node("n3"), "the evil seed's error", |l| {
        l.seeds
            .iter()
            .any(|s| s.seed == evil && s.last_error.is_some())
    });
    let seed = list.seeds.iter().find(|s| s.seed == evil).unwrap();
    let e = seed.last_error.as_deref().unwrap();
    assert!(e.contains("not signed by this node's CA"), "{e}");
    assert!(seed.nodes.is_empty(), "{seed:?}");
    // Let a few backoff periods pass.
    std::thread::sleep(Duration::from_secs(4));
    let secs = started.elapsed().as_secs_f64();
    for n in ["n1", "n2", "n3"] {
        let node = c.node(n);
        assert!(peer(&nodes(node), "evil").is_none(), "{n} lists evil");
        assert_eq!(
            node.log()
                .count(|l| l.contains("node up") && l.contains("peer=evil")),
            0
        );
    }
    // n3's seed rounds back off from 100 ms doubling to 2 s, each wait at least half of
    // that: at most 6 + 1 per second failed rounds (dials of evil's address); and its log
    // says it once (then once a minute).
    let failed = metric(c.node("n3"), "qnet_dial_failures_total{via=\"seed\"}");
    let bound = 6.0 + secs;
    assert!(
        (failed as f64) <= bound && failed > 0,
        "n3 failed {failed} seed rounds in {secs:.1} s (bound {bound:.0})"
    );
    let lines = c
        .node("n3")
        .log()
        .count(|l| l.contains("cannot link to peer") && l.contains(&evil));
    assert_eq!(lines, 1, "{}", c.node("n3").log().dump());
    // n1 refuses evil's dials (one every 1-2 s), writing the same failure from the same
    // address once a minute.
    let n1_lines = c
        .node("n1")
        .log()
        .count(|l| l.contains("refused incoming connection"));
    assert!(
        (1..=2).contains(&n1_lines),
        "{n1_lines} lines about evil's attempts\n{}",
        c.node("n1").log().dump()
    );
}

/// n1 has a seed that does not answer and one whose name does not resolve, listed before
/// n2's, and a `--peer` whose name does not resolve: it links n2 before it has even given up
/// on the first dial of the dead seed, and `qnet nodes` shows each error in plain words.
#[test]
fn a_down_seed_delays_nothing_and_resolution_errors_show() {
    let mut c = Cluster::start_seeded(&["n2"], &[]);
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    let n2 = c.node("n2").addr.to_string();
    let bogus = "no-such-host.invalid:7100";
    c.add_node(
        "n1",
        None,
        &[
            "--seed",
            &dead_addr,
            "--seed",
            bogus,
            "--seed",
            &n2,
            "--peer",
            "n9=no-such-host.invalid:7101",
        ],
    );
    let n1 = c.node("n1");
    n1.wait_node_up("n2", 1);
    let log = n1.log();
    let up_at = log
        .all()
        .iter()
        .position(|l| l.contains("node up") && l.contains("peer=n2"))
        .unwrap();
    let dead_line = log
        .wait(|l| l.contains("cannot link to peer") && l.contains(&dead_addr))
        .expect("the dead seed's failure");
    let dead_at = log.all().iter().position(|l| *l == dead_line).unwrap();
    assert!(
        up_at < dead_at,
        "n2 linked before the dead seed's first dial gave up\n{}",
        log.dump()
    );
    let list = nodes_until(n1, "every error recorded", |l| {
        l.seeds
            .iter()
            .all(|s| s.seed == n2 || s.last_error.is_some())
            && peer(l, "n9").is_some_and(|p| p.last_error.is_some())
    });
    let seed = |s: &str| list.seeds.iter().find(|x| x.seed == s).unwrap();
    let e = seed(bogus).last_error.clone().unwrap();
    assert!(e.starts_with(&format!("cannot resolve {bogus}")), "{e}");
    let e = seed(&dead_addr).last_error.clone().unwrap();
    assert!(e.contains("no answer"), "{e}");
    assert_eq!(seed(&n2).nodes, ["n2"]);
    let n9 = peer(&list, "n9").unwrap();
    assert!(!n9.up && n9.learnt == ["static"], "{n9:?}");
    let e = n9.last_error.as_deref().unwrap();
    assert!(
        e.starts_with("cannot resolve no-such-host.invalid:7101"),
        "{e}"
    );
    assert!(!log.dump().contains("Custom {"), "no Debug text in the log");
    drop(dead);
}

/// `--discover mdns` alone, in a network namespace of the test's own (loopback with
/// multicast; nothing leaves this host): m1 and m2 find each other and link; evil, of another
/// CA, announces itself the same way and is ignored without a dial (m1 says so once).
/// Needs root for the namespace: elsewhere the test says it did not run.
#[test]
fn mdns_finds_the_nodes_of_this_cluster_only() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: a network namespace needs root");
        return;
    }
    let other = Certs::temp("other-cluster", &["evil"]);
    let c = Cluster::start_in_netns(
        &["m1", "m2"],
        &[("evil", other.dir())],
        &[
            "--discover",
            "mdns",
            "--log",
            "info,qnet_daemon::peer::mdns=debug",
        ],
    )
    .expect("a network namespace (root, ip netns)");
    c.node("m1").wait_node_up("m2", 1);
    c.node("m2").wait_node_up("m1", 1);
    let m1 = c.node("m1");
    let line = m1
        .log()
        .wait(|l| l.contains("ignoring mDNS record") && l.contains("peer=evil"))
        .unwrap_or_else(|| panic!("m1 ignores evil's record\n{}", m1.log().dump()));
    assert!(line.contains("another cluster CA"), "{line}");
    for n in ["m1", "m2"] {
        let list = nodes(c.node(n));
        assert!(peer(&list, "evil").is_none(), "{n} lists evil: {list:#?}");
        let other = if n == "m1" { "m2" } else { "m1" };
        let p = peer(&list, other).unwrap();
        assert!(
            p.up && p.learnt.contains(&"mdns".to_owned())
                || p.learnt.contains(&"incoming".to_owned()),
            "{p:?}"
        );
    }
    assert!(peer(&nodes(c.node("evil")), "m1").is_none_or(|p| !p.up));
    round_trip(&c, "m1", "m2", "bymdns");
}
