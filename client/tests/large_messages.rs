//! Messages large enough that their payload travels apart from the frame buffer (a vectored
//! write from the library, the daemon and back) arrive byte for byte, with the same
//! truncation, offset and reply-buffer semantics as small ones.

mod common;

use std::sync::OnceLock;

use common::{TestDaemon, recv, send_in_thread};
use qnet::MsgInfo;
use qnet::neutrino::*;

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start();
        qnet::set_socket_path(d.socket());
        d
    })
}

/// `len` bytes that differ from any shifted copy of themselves (an offset error shows).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

#[test]
fn one_mebibyte_each_way_with_reads_and_reply_receive() {
    daemon();
    let chid = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, std::process::id(), chid).unwrap();
    let big = 1 << 20;
    let sent = pattern(big, 1);
    let rx = send_in_thread(coid, sent.clone(), big);

    let mut buf = vec![0u8; big];
    let mut info = MsgInfo::default();
    let rcvid = msg_receive(chid, &mut buf, Some(&mut info)).unwrap();
    assert_eq!(info.msglen, big as u64);
    assert!(buf == sent, "the whole message arrives intact");
    let mut part = vec![0u8; 100_000];
    assert_eq!(msg_read(rcvid, &mut part, 700_001).unwrap(), 100_000);
    assert!(part[..] == sent[700_001..800_001], "MsgRead at an offset");

    // The reply goes out with the receive of the next message (reply and receive in one).
    let answer = pattern(big, 2);
    let second = pattern(300_000, 3);
    let rx2 = send_in_thread(coid, second.clone(), 20_000);
    let rcvid2 = msg_reply_receive(rcvid, 5, &answer, chid, &mut buf, Some(&mut info)).unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(5));
    assert!(reply == answer, "the whole reply arrives intact");
    assert_eq!(info.msglen, second.len() as u64);
    assert!(buf[..second.len()] == second[..]);

    // A reply larger than the client's buffer is truncated to it.
    msg_reply(rcvid2, 6, &answer).unwrap();
    let (r, reply) = recv(&rx2);
    assert_eq!(r, Ok(6));
    assert!(reply[..] == answer[..20_000]);
}

#[test]
fn large_writes_at_offsets_then_a_large_reply_over_them() {
    daemon();
    let chid = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, std::process::id(), chid).unwrap();
    let cap = 200_000;
    let rx = send_in_thread(coid, pattern(50_000, 4), cap);
    let mut buf = vec![0u8; 64];
    let rcvid = msg_receive(chid, &mut buf, None).unwrap();
    assert!(rcvid > 0);

    let tail = pattern(150_000, 5);
    assert_eq!(
        msg_write(rcvid, &tail, 100_000).unwrap(),
        100_000,
        "bounded by the reply buffer"
    );
    let head = pattern(70_000, 6);
    msg_reply(rcvid, 1, &head).unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(1));
    assert!(reply[..70_000] == head[..], "the reply lands at offset 0");
    assert!(
        reply[70_000..100_000].iter().all(|&b| b == 0),
        "never written"
    );
    assert!(reply[100_000..] == tail[..100_000], "MsgWrite's bytes stay");
}
