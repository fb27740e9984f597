//! One copy through the library: the same large sends, receives, replies (with truncation,
//! IOV forms, and reply pieces at offsets over bytes that must keep their value) give the
//! same bytes, statuses and `MsgInfo` lengths with one copy on (this process) as with it off
//! (a child of this test binary run with `QNET_ONE_COPY=0`).

mod common;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{IoSlice, IoSliceMut};
use std::process::Command;
use std::sync::{OnceLock, mpsc};

use common::{GUARD, TestDaemon, recv};
use qnet::MsgInfo;
use qnet::neutrino::*;

/// Set in the child that runs [`scenario_without_one_copy`].
const CHILD_ENV: &str = "QNET_TEST_ONE_COPY_CHILD";

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start();
        qnet::set_socket_path(d.socket());
        d
    })
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

fn digest(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{}:{:016x}", bytes.len(), h.finish())
}

/// A client thread sending `data` as `parts` pieces, its reply buffer `cap` bytes of `fill`
/// split in `rparts` pieces; receives (status or errno, reply buffer).
fn client(
    coid: i32,
    data: Vec<u8>,
    parts: usize,
    cap: usize,
    fill: u8,
    rparts: usize,
) -> mpsc::Receiver<(Result<i64, qnet::Errno>, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reply = vec![fill; cap];
        let r = {
            let siov: Vec<IoSlice<'_>> = data
                .chunks(data.len().div_ceil(parts).max(1))
                .map(IoSlice::new)
                .collect();
            let step = cap.div_ceil(rparts).max(1);
            let mut riov: Vec<IoSliceMut<'_>> =
                reply.chunks_mut(step).map(IoSliceMut::new).collect();
            msg_sendv(coid, &siov, &mut riov).map_err(|e| e.errno())
        };
        let _ = tx.send((r, reply));
    });
    rx
}

/// The scenario, as lines that must be the same with and without one copy.
fn scenario() -> Vec<String> {
    let mut t = Vec::new();
    let chid = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, std::process::id(), chid).unwrap();
    let big = 1 << 20;
    let mut info = MsgInfo::default();

    // 1 MiB each way, reply and receive in one call.
    let rx = client(coid, pattern(big, 1), 1, big, 0, 1);
    let mut buf = vec![0xEEu8; big];
    let rcvid = msg_receive(chid, &mut buf, Some(&mut info)).unwrap();
    t.push(format!("1 msglen {} buf {}", info.msglen, digest(&buf)));
    let rx2 = client(coid, pattern(300_000, 2), 3, 20_000, 0xAB, 1);
    buf.fill(0xEE);
    let rcvid2 = msg_reply_receive(
        rcvid,
        5,
        &pattern(big, 3),
        chid,
        &mut buf[..100_000],
        Some(&mut info),
    )
    .unwrap();
    let (r, reply) = recv(&rx);
    t.push(format!("1 reply {r:?} {}", digest(&reply)));
    // A 300,000-byte message into 100,000 bytes of the buffer: cut, the rest untouched.
    t.push(format!("2 msglen {} buf {}", info.msglen, digest(&buf)));
    let mut part = vec![0u8; 50_000];
    assert_eq!(msg_read(rcvid2, &mut part, 200_000).unwrap(), 50_000);
    t.push(format!("2 read {}", digest(&part)));
    // A 1 MiB reply into a 20,000-byte buffer.
    msg_replyv(
        rcvid2,
        6,
        &[
            IoSlice::new(&pattern(600_000, 4)),
            IoSlice::new(&pattern(400_000, 5)),
        ],
    )
    .unwrap();
    let (r, reply) = recv(&rx2);
    t.push(format!("2 reply {r:?} {}", digest(&reply)));

    // Pieces at offsets over a reply buffer of 0x99: a MsgWrite, then a shorter reply.
    let rx = client(coid, pattern(50_000, 6), 2, 200_000, 0x99, 4);
    let mut parts = [vec![0x11u8; 30_000], vec![0x22u8; 40_000]];
    let rcvid = {
        let mut riov: Vec<IoSliceMut<'_>> = parts.iter_mut().map(|p| IoSliceMut::new(p)).collect();
        msg_receivev(chid, &mut riov, Some(&mut info)).unwrap()
    };
    t.push(format!(
        "3 msglen {} parts {} {}",
        info.msglen,
        digest(&parts[0]),
        digest(&parts[1])
    ));
    let n = msg_write(rcvid, &pattern(150_000, 7), 100_000).unwrap();
    t.push(format!("3 write {n}"));
    msg_reply(rcvid, 1, &pattern(70_000, 8)).unwrap();
    let (r, reply) = recv(&rx);
    t.push(format!("3 reply {r:?} {}", digest(&reply)));
    t.push(format!(
        "3 untouched {}",
        reply[70_000..100_000].iter().all(|&b| b == 0x99)
    ));

    // An error answer writes nothing.
    let rx = client(coid, pattern(40_000, 9), 1, 40_000, 0x5A, 1);
    let rcvid = msg_receive(chid, &mut buf, Some(&mut info)).unwrap();
    msg_error(rcvid, qnet::Errno(74)).unwrap();
    let (r, reply) = recv(&rx);
    t.push(format!("4 error {r:?} {}", digest(&reply)));
    t
}

#[test]
fn the_same_bytes_and_lengths_with_and_without_one_copy() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let d = daemon();
    assert!(qnet::one_copy().unwrap(), "one copy is on for this process");
    let on = scenario();

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "scenario_without_one_copy",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env(qnet::ONE_COPY_ENV, "0")
        .env("QNET_SOCKET", d.socket())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let off: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once("transcript: ").map(|(_, t)| t))
        .map(str::to_owned)
        .collect();
    assert!(!off.is_empty(), "the child ran the scenario:\n{text}");
    assert_eq!(on, off);
    let _ = GUARD;
}

/// Run only by the test above, in a child with one copy off.
#[test]
fn scenario_without_one_copy() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    assert!(!qnet::one_copy().unwrap(), "QNET_ONE_COPY=0 turns it off");
    for line in scenario() {
        println!("transcript: {line}");
    }
}
