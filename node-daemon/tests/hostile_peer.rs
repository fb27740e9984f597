//! Peers are authenticated, not trusted: a raw QUIC peer holding a valid cluster certificate
//! (`raw`) speaks the peer protocol by hand to real `qnetd` processes and tries what a
//! forwarding daemon never does. The daemon refuses it, stays up, and a legitimate call from
//! a real peer (`n1`) keeps working.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Client, errno};
use futures_util::StreamExt;
use qnet_proto::local::{self, request, response};
use qnet_testkit::{Certs, GUARD, PeerNode as Node, RawPeer};
use qnet_transport::frame_codec;
use tokio_util::codec::FramedRead;

const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EMSGSIZE: i32 = 90;

/// `--max-message-size` of the test daemons.
const MAX_MESSAGE: usize = 1 << 20;

/// Node `name` with the certificates in `certs`, dialling `peers`, with `extra` flags (and
/// `--max-message-size` [`MAX_MESSAGE`] unless they set it).
fn start(certs: &Path, name: &str, peers: &[(&str, SocketAddr)], extra: &[&str]) -> Node {
    let max = MAX_MESSAGE.to_string();
    let mut args = extra.to_vec();
    if !extra.contains(&"--max-message-size") {
        args.extend(["--max-message-size", &max]);
    }
    Node::start(certs, name, 0, peers, &args)
}

/// n2 (the victim, with `extra` flags) and n1 dialling it; both see each other up.
fn pair(certs: &Certs, extra: &[&str]) -> (Node, Node) {
    let n2 = start(certs.dir(), "n2", &[], extra);
    let n1 = start(certs.dir(), "n1", &[("n2", n2.addr)], &[]);
    n1.wait_node_up("n2", 1);
    n2.wait_node_up("n1", 1);
    (n1, n2)
}

/// A legitimate cross-node call, n1 → n2, answered.
fn legit_call(n1: &Node, n2: &Node, name: &str) {
    let mut server = n2.daemon.thread(2);
    let chid = match server.call(request::Call::NameAttach(local::NameAttach {
        name: name.into(),
        flags: 0,
    })) {
        response::Result::Chid(c) => c,
        other => panic!("NameAttach: {other:?}"),
    };
    let mut client: Client = n1.daemon.thread(1);
    let coid = match client.call(request::Call::NameOpen(local::NameOpen {
        name: format!("n2/{name}"),
    })) {
        response::Result::Coid(c) => c,
        other => panic!("name_open n2/{name}: {other:?}"),
    };
    server.send(local::client_frame::Frame::Request(local::Request {
        call: Some(request::Call::MsgReceive(local::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
            ..Default::default()
        })),
    }));
    client.send(local::client_frame::Frame::Request(local::Request {
        call: Some(request::Call::MsgSend(local::MsgSend {
            coid,
            data: Bytes::from_static(b"legit"),
            reply_cap: 64,
            priority: 10,
            timeout: None,
            ..Default::default()
        })),
    }));
    let rcvid = match server.response() {
        response::Result::Message(m) => m.rcvid,
        other => panic!("expected the message: {other:?}"),
    };
    let r = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 7,
        data: Bytes::from_static(b"ok"),
        ..Default::default()
    }));
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");
    match client.response() {
        response::Result::Reply(r) => assert_eq!(r.status, 7),
        other => panic!("expected the reply: {other:?}"),
    }
}

/// A peer may only forward its threads' calls: making a channel, attaching a name,
/// receiving or replying are refused with EPERM (and logged, rate-limited); the squatted name
/// does not exist; what a forwarding daemon does send (name_open) still works.
#[test]
fn a_peer_may_not_create_channels_attach_names_or_receive() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (n1, n2) = pair(&certs, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let refused = rt.block_on(async {
        let mut raw = RawPeer::connect(certs.dir(), n2.addr).await;
        let forbidden = [
            request::Call::ChannelCreate(local::ChannelCreate { flags: 0 }),
            request::Call::NameAttach(local::NameAttach {
                name: "squat".into(),
                flags: 0,
            }),
            request::Call::MsgReceive(local::MsgReceive {
                chid: 1,
                cap: 64,
                timeout: None,
                ..Default::default()
            }),
            request::Call::MsgReply(local::MsgReply {
                rcvid: 1,
                status: 0,
                data: Bytes::new(),
                ..Default::default()
            }),
        ];
        let mut refused = 0;
        for _ in 0..25 {
            for call in forbidden.clone() {
                let r = raw.call(call.clone()).await;
                assert_eq!(errno(&r), Some(EPERM), "{call:?} → {r:?}");
                refused += 1;
            }
        }
        // A call a forwarding daemon makes is served: the name does not exist (ENOENT), it
        // was not refused.
        let r = raw
            .call(request::Call::NameOpen(local::NameOpen {
                name: "squat".into(),
            }))
            .await;
        assert_eq!(errno(&r), Some(ENOENT), "{r:?}");
        refused
    });
    let elapsed = started.elapsed();
    // No squatter: the name is not this node's.
    let mut local = n2.daemon.thread(3);
    let r = local.call(request::Call::NameOpen(local::NameOpen {
        name: "squat".into(),
    }));
    assert_eq!(errno(&r), Some(ENOENT), "{r:?}");
    let logs = &n2.daemon.logs;
    let is_refusal = |l: &str| l.contains("refused a call") && l.contains("raw");
    assert!(
        logs.wait(is_refusal).is_some(),
        "no refusal logged:\n{}",
        logs.dump()
    );
    // Rate-limited: at most 10 lines per 10 s window about one peer, not one per call.
    let windows = elapsed.as_secs() / 10 + 1;
    let lines = logs.count(is_refusal);
    assert!(
        (lines as u64) <= 10 * windows && lines < refused,
        "{lines} refusal lines for {refused} refused calls in {elapsed:?}"
    );
    legit_call(&n1, &n2, "legit");
}

/// A peer that ignores our hello's limit and sends a call above it gets EMSGSIZE (as a
/// local sender would), not a reset stream.
#[test]
fn an_oversized_call_from_a_peer_is_answered_emsgsize() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (n1, n2) = pair(&certs, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut raw = RawPeer::connect(certs.dir(), n2.addr).await;
        let big = Bytes::from(vec![7u8; MAX_MESSAGE + (256 << 10)]);
        let r = raw
            .call(request::Call::MsgSend(local::MsgSend {
                coid: 1,
                data: big,
                reply_cap: 64,
                priority: 10,
                timeout: None,
                ..Default::default()
            }))
            .await;
        assert_eq!(errno(&r), Some(EMSGSIZE), "{r:?}");
        assert!(raw.conn.close_reason().is_none(), "the link stays up");
    });
    legit_call(&n1, &n2, "after");
}

/// `qnet nodes`' budget counters of n2: (peer `raw`'s, all peers').
fn budgets(n2: &Node) -> (local::FrameBudget, local::FrameBudget) {
    let list = qnet_testkit::admin_nodes(&n2.daemon.socket);
    let raw = list
        .peers
        .iter()
        .find(|p| p.name == "raw")
        .and_then(|p| p.frame_budget)
        .unwrap_or_default();
    (raw, list.frame_budget.expect("the total budget"))
}

/// Wait (hang guard only) until `pred` holds for n2's budget counters; the last ones.
fn wait_budgets(
    n2: &Node,
    pred: impl Fn(&local::FrameBudget, &local::FrameBudget) -> bool,
) -> (local::FrameBudget, local::FrameBudget) {
    let deadline = Instant::now() + GUARD;
    loop {
        let (raw, total) = budgets(n2);
        if pred(&raw, &total) {
            return (raw, total);
        }
        assert!(
            Instant::now() < deadline,
            "budgets never got there: raw {raw:?} total {total:?}\n{}",
            n2.daemon.logs.dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Per node and total budgets of n2 in the budget tests.
const PER_NODE: u64 = 3 << 20;
const TOTAL: u64 = 8 << 20;

/// A peer that opens many streams, announces large frames, sends most of each and stalls is
/// held to its node's memory budget: streams beyond it are refused (EAGAIN), the budget is
/// never exceeded (the daemon's own counters), a legitimate call from n1 keeps working, and
/// the memory is given back when the peer goes.
#[test]
fn a_peer_holding_stalled_streams_is_bounded_by_its_budget() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let per_node = PER_NODE.to_string();
    let total = TOTAL.to_string();
    let (n1, n2) = pair(
        &certs,
        &[
            "--peer-memory-per-node",
            &per_node,
            "--peer-memory-total",
            &total,
            "--peer-frame-timeout",
            "120s",
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = 24;
    let raw = rt.block_on(async {
        let raw = RawPeer::connect(certs.dir(), n2.addr).await;
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..streams {
            let (mut s, mut r) = raw.conn.open_bi().await.unwrap();
            let refused = refused.clone();
            tokio::spawn(async move {
                // A 1 MiB frame, 900 KiB of it sent, the rest never.
                let mut head = ((MAX_MESSAGE as u32).to_le_bytes()).to_vec();
                head.extend(std::iter::repeat_n(0x0a, 900 << 10));
                let _ = s.write_all(&head).await;
                if let Some(Ok(answer)) = FramedRead::new(&mut r, frame_codec(1 << 16)).next().await
                {
                    let answer: local::Response = prost::Message::decode(&answer[..]).unwrap();
                    if matches!(answer.result, Some(response::Result::Error(e)) if e.errno == 11) {
                        refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                // Hold the stream open (stalled) until the test ends.
                std::future::pending::<()>().await;
                drop(s);
            });
        }
        (raw, refused)
    });
    let (raw_b, total_b) = wait_budgets(&n2, |raw, _| raw.refused >= 1);
    assert!(
        raw_b.peak <= PER_NODE && raw_b.used <= PER_NODE,
        "node budget exceeded: {raw_b:?}"
    );
    assert!(total_b.peak <= TOTAL, "total budget exceeded: {total_b:?}");
    assert_eq!(raw_b.limit, PER_NODE);
    // At most the budget's worth of streams got in; the others were refused.
    let held_streams = raw_b.used / (512 << 10);
    assert!(
        held_streams < streams,
        "{held_streams} streams held: {raw_b:?}"
    );
    // The legitimate peer is unaffected.
    legit_call(&n1, &n2, "meanwhile");
    // The raw peer saw EAGAIN answers for refused streams.
    let answered = rt.block_on(async {
        let deadline = Instant::now() + GUARD;
        while raw.1.load(std::sync::atomic::Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        raw.1.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(answered >= 1, "no EAGAIN answer reached the peer");
    // The peer goes: everything it held is given back.
    raw.0.conn.close("bye");
    drop(raw);
    drop(rt);
    let (raw_b, total_b) = wait_budgets(&n2, |raw, total| raw.used == 0 && total.used == 0);
    assert!(raw_b.refused >= 1 && total_b.used == 0);
    legit_call(&n1, &n2, "after");
}

/// A frame that stops arriving closes its stream after --peer-frame-timeout (counted), and
/// so does a call stream whose call never comes; their memory is given back.
#[test]
fn a_stalled_frame_times_out_and_gives_its_memory_back() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (n1, n2) = pair(&certs, &["--peer-frame-timeout", "300ms"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let raw = rt.block_on(async {
        let raw = RawPeer::connect(certs.dir(), n2.addr).await;
        // One stream with half a frame, one with nothing at all.
        let (mut s1, r1) = raw.conn.open_bi().await.unwrap();
        let mut head = 4096u32.to_le_bytes().to_vec();
        head.extend([1u8; 100]);
        s1.write_all(&head).await.unwrap();
        let (mut s2, r2) = raw.conn.open_bi().await.unwrap();
        // A stream is opened towards the peer only with its first byte: one header byte.
        s2.write_all(&[1]).await.unwrap();
        (raw, (s1, r1), (s2, r2))
    });
    let (raw_b, _) = wait_budgets(&n2, |raw, _| raw.timed_out >= 2);
    assert_eq!(
        raw_b.used, 0,
        "memory of timed-out streams given back: {raw_b:?}"
    );
    assert!(
        n2.daemon
            .logs
            .wait(|l| l.contains("frame stalled") && l.contains("raw"))
            .is_some(),
        "no log line:\n{}",
        n2.daemon.logs.dump()
    );
    legit_call(&n1, &n2, "still");
    drop(raw);
}

/// xorshift64*: the hostile test's reproducible randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A random call, valid on the wire, of any kind (forwardable or not).
fn random_request(rng: &mut Rng) -> local::Request {
    use qnet_core::{Call, ChannelFlags};
    let small = |rng: &mut Rng| rng.below(8) as i32;
    let call = match rng.below(9) {
        0 => Call::ConnectAttach {
            nd: rng.below(3) as u32,
            pid: rng.below(1 << 16) as u32,
            chid: small(rng),
        },
        1 => Call::MsgSend {
            coid: small(rng),
            data: Bytes::from(rng.bytes(300)),
            reply_cap: rng.below(1 << 12),
            priority: rng.below(64) as u8,
            realtime: false,
            timeout: None,
        },
        2 => Call::MsgSendPulse {
            coid: small(rng),
            priority: rng.below(64) as u8,
            code: rng.below(300) as i8,
            value: rng.next() as i32,
        },
        3 => Call::NameOpen {
            name: String::from_utf8_lossy(&rng.bytes(12)).into_owned(),
        },
        4 => Call::ConnectDetach { coid: small(rng) },
        5 => Call::ChannelCreate {
            flags: ChannelFlags(rng.next() as u32),
        },
        6 => Call::NameAttach {
            name: "rnd".into(),
            flags: ChannelFlags::default(),
        },
        7 => Call::MsgReceive {
            chid: small(rng),
            cap: 64,
            timeout: None,
        },
        _ => Call::MsgUnregisterEvent { event: rng.next() },
    };
    local::Request::from(&call)
}

/// One random thing on a new stream: garbage, a frame of garbage, a truncated frame, a
/// random call (valid or nonsense), possibly reset right after. Answers are read if they
/// come soon (none is required).
async fn random_stream(raw: &mut RawPeer, rng: &mut Rng) -> bool {
    let Ok((mut s, mut r)) = raw.conn.open_bi().await else {
        return false;
    };
    let mut bytes = match rng.below(5) {
        0 => rng.bytes(600),
        1 => {
            let body = rng.bytes(600);
            let mut f = (body.len() as u32).to_le_bytes().to_vec();
            f.extend(body);
            f
        }
        2 => {
            let mut f = (rng.below(1 << 20) as u32).to_le_bytes().to_vec();
            f.extend(rng.bytes(100));
            f
        }
        _ => {
            let (pid, tid) = (5000 + rng.below(4) as u32, 1 + rng.below(4) as u32);
            let frame = raw.call_frame(pid, tid, random_request(rng));
            qnet_proto::frame::frame_to_vec(&frame)
        }
    };
    if !bytes.is_empty() && rng.below(6) == 0 {
        // Flip a byte of an otherwise valid frame.
        let i = rng.below(bytes.len() as u64) as usize;
        bytes[i] ^= 1 << rng.below(8);
    }
    let _ = s.write_all(&bytes).await;
    if rng.below(8) == 0 {
        let _ = s.reset(0u32.into());
    } else {
        let _ = s.finish();
    }
    let mut answers = FramedRead::new(&mut r, frame_codec(1 << 16));
    let answer = tokio::time::timeout(Duration::from_millis(100), answers.next());
    matches!(answer.await, Ok(Some(Ok(_))))
}

/// A peer with a valid certificate sends random frame sequences (seeded: the seed is printed,
/// `QNET_FUZZ_SEED=<seed>` replays it) while a legitimate cross-node call keeps working; the
/// daemon stays up throughout and gives back what the peer held.
#[test]
fn random_frames_from_a_peer_leave_the_daemon_up_and_serving() {
    let seed = std::env::var("QNET_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("hostile peer seed: QNET_FUZZ_SEED={seed}");
    let mut rng = Rng(seed);
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (n1, mut n2) = pair(&certs, &["--peer-frame-timeout", "1s"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut raw = rt.block_on(RawPeer::connect(certs.dir(), n2.addr));
    let (mut answered, mut reconnects) = (0, 0);
    for round in 0..8 {
        rt.block_on(async {
            for _ in 0..40 {
                answered += usize::from(random_stream(&mut raw, &mut rng).await);
            }
        });
        // Now and then garbage on the control stream: the daemon closes that connection
        // (and only it); the peer dials again.
        if rng.below(3) == 0 {
            rt.block_on(async {
                let _ = raw.control.0.write_all(&rng.bytes(64)).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), raw.conn.closed()).await;
            });
        }
        if raw.conn.close_reason().is_some() {
            reconnects += 1;
            raw = rt.block_on(RawPeer::connect(certs.dir(), n2.addr));
        }
        let alive = n2.daemon.child.as_mut().unwrap().try_wait().unwrap();
        assert!(
            alive.is_none(),
            "seed {seed}: n2 exited ({alive:?}) in round {round}:\n{}",
            n2.daemon.logs.dump()
        );
        legit_call(&n1, &n2, &format!("legit{round}"));
    }
    println!("320 random streams: {answered} answered, {reconnects} reconnections");
    // Some random calls were well-formed enough to be answered (EPERM, EBADF, ...).
    assert!(answered > 0, "seed {seed}: nothing reached the kernel");
    raw.conn.close("done");
    drop(raw);
    drop(rt);
    let (raw_b, total_b) = wait_budgets(&n2, |raw, total| raw.used == 0 && total.used == 0);
    assert!(raw_b.peak <= raw_b.limit, "seed {seed}: {raw_b:?}");
    assert!(total_b.peak <= total_b.limit, "seed {seed}: {total_b:?}");
    assert!(
        n2.daemon.logs.count(|l| l.contains("panicked")) == 0,
        "seed {seed}: a task panicked:\n{}",
        n2.daemon.logs.dump()
    );
}

/// The daemon's resident set, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A measurement, not a test (no assertion on memory): issue 12's attack with the default
/// budgets and a 16 MiB message limit. 96 streams announce a 16 MiB frame, send 15 MiB each
/// and stall; prints the daemon's RSS before, while they stall, and after they are reset.
/// `cargo test -p qnet-daemon --test hostile_peer measure -- --ignored --nocapture`
#[test]
#[ignore = "a measurement; run by hand"]
fn measure_rss_under_stalled_streams() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (_n1, n2) = pair(&certs, &["--max-message-size", "16777216"]);
    let pid = n2.daemon.pid();
    let before = rss_kib(pid);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let raw = rt.block_on(async {
        let raw = RawPeer::connect(certs.dir(), n2.addr).await;
        let chunk = vec![0x0au8; 1 << 20];
        for _ in 0..96 {
            let (mut s, r) = raw.conn.open_bi().await.unwrap();
            let chunk = chunk.clone();
            tokio::spawn(async move {
                let _ = s.write_all(&(16u32 << 20).to_le_bytes()).await;
                for _ in 0..15 {
                    if s.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                std::future::pending::<()>().await;
                drop((s, r));
            });
        }
        raw
    });
    let (raw_b, _) = wait_budgets(&n2, |raw, _| raw.refused >= 1);
    std::thread::sleep(Duration::from_secs(3));
    let (raw_b2, total_b) = budgets(&n2);
    let during = rss_kib(pid);
    raw.conn.close("bye");
    drop(raw);
    drop(rt);
    wait_budgets(&n2, |raw, _| raw.used == 0);
    let after = rss_kib(pid);
    println!(
        "96 stalled 16 MiB streams: rss before {} MiB, during {} MiB (+{} MiB), after reset {} MiB; \
         budget {raw_b:?} then {raw_b2:?}, total {total_b:?}",
        before / 1024,
        during / 1024,
        during.saturating_sub(before) / 1024,
        after / 1024
    );
}

/// Calls blocked on this node hold only their streams' base cost of the peer's budget (no
/// frame buffer while they wait), and bytes after a call reset its stream.
#[test]
fn blocked_calls_hold_no_frame_memory_and_trailing_bytes_reset_the_call() {
    let certs = Certs::temp("c", &["n1", "n2", "raw"]);
    let (n1, n2) = pair(&certs, &[]);
    let mut server = n2.daemon.thread(5);
    let r = server.call(request::Call::NameAttach(local::NameAttach {
        name: "blk".into(),
        flags: 0,
    }));
    assert!(matches!(r, response::Result::Chid(_)), "{r:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let blocked = 20;
    let (raw, streams) = rt.block_on(async {
        let mut raw = RawPeer::connect(certs.dir(), n2.addr).await;
        let coid = match raw
            .call(request::Call::NameOpen(local::NameOpen {
                name: "blk".into(),
            }))
            .await
        {
            response::Result::Coid(c) => c,
            other => panic!("name_open: {other:?}"),
        };
        let send = |n: usize| {
            request::Call::MsgSend(local::MsgSend {
                coid,
                data: Bytes::from(vec![b'x'; n]),
                reply_cap: 64,
                priority: 10,
                timeout: None,
                ..Default::default()
            })
        };
        let mut streams = Vec::new();
        // SEND-blocked: nobody receives on "blk".
        for tid in 0..blocked {
            streams.push(raw.start(10 + tid, send(100_000), b"").await);
        }
        // A call followed by bytes the protocol does not allow.
        let (_s, mut r) = raw.start(99, send(10), b"more").await;
        let read =
            tokio::time::timeout(GUARD, FramedRead::new(&mut r, frame_codec(1 << 16)).next())
                .await
                .expect("the stream ends in time");
        assert!(
            matches!(read, Some(Err(_))),
            "the stream was not reset: {read:?}"
        );
        (raw, streams)
    });
    // Each blocked call holds its stream's base cost (4 KiB), not its 100 KB frame.
    let (raw_b, _) = wait_budgets(&n2, |raw, _| raw.used == u64::from(blocked) * 4096);
    assert!(
        raw_b.peak >= 100_000,
        "the frames were charged while read: {raw_b:?}"
    );
    assert!(
        n2.daemon
            .logs
            .wait(|l| l.contains("bytes after the call") && l.contains("raw"))
            .is_some(),
        "no log line:\n{}",
        n2.daemon.logs.dump()
    );
    legit_call(&n1, &n2, "beside");
    drop(streams);
    drop(raw);
    drop(rt);
    wait_budgets(&n2, |raw, _| raw.used == 0);
}
