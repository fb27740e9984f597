//! One copy on a real `qnetd`, spoken by hand: the raw sessions' peer is this test process,
//! so buffers named by address are this process's own `Vec`s, and what the daemon reads and
//! writes there is checked byte for byte, including the bytes it must leave alone. Hostile
//! addresses fail the call (`EFAULT`) or fall back to bytes in the frame, and the daemon
//! serves on.

mod common;

use bytes::Bytes;
use common::{Client, Daemon, channel_create, errno};
use qnet_proto::local::{self, Span, request, response};
use qnet_proto::one_copy::span;

const EFAULT: i32 = 14;
const EINVAL: i32 = 22;
const EMSGSIZE: i32 = 90;
const ETIMEDOUT: i32 = 110;
const ESRCH: i32 = 3;

/// These tests' message-size limit (1 MiB: room for large messages).
const MAX_MESSAGE: u64 = 1 << 20;

/// A daemon with room for large messages (`args` added).
fn daemon(args: &[&str]) -> Daemon {
    let max = MAX_MESSAGE.to_string();
    let mut all = vec!["--node", "testnode", "--max-message-size", &max];
    all.extend_from_slice(args);
    Daemon::start_with(&all)
}

/// An address no test process maps (the first pages are never mapped).
const BAD: u64 = 0x1000;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed))
        .collect()
}

fn at(buf: &[u8]) -> Vec<Span> {
    vec![span(buf.as_ptr() as u64, buf.len() as u64)]
}

/// Spans of a buffer the daemon will write (taken from a mutable borrow).
fn at_mut(buf: &mut [u8]) -> Vec<Span> {
    vec![span(buf.as_mut_ptr() as u64, buf.len() as u64)]
}

/// A THREAD session with one copy on.
fn one_copy_thread(d: &Daemon, tid: u32) -> Client {
    let mut c = d.connect();
    let ack = c.hello_one_copy(tid).expect("ack");
    assert!(ack.one_copy, "one copy refused for this process");
    c
}

fn connect(c: &mut Client, chid: i32) -> i32 {
    match c.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: std::process::id(),
        chid,
    })) {
        response::Result::Coid(coid) => coid,
        other => panic!("ConnectAttach: {other:?}"),
    }
}

fn receive(c: &mut Client, chid: i32, cap: u64, buf_at: Vec<Span>) {
    c.send(local_request(request::Call::MsgReceive(
        local::MsgReceive {
            chid,
            cap,
            buf_at,
            ..Default::default()
        },
    )));
}

fn message(r: response::Result) -> local::ReceivedMessage {
    match r {
        response::Result::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn reply_of(r: response::Result) -> local::Reply {
    match r {
        response::Result::Reply(m) => m,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn local_request(call: request::Call) -> local::client_frame::Frame {
    local::client_frame::Frame::Request(local::Request { call: Some(call) })
}

fn send(c: &mut Client, coid: i32, data_at: Vec<Span>, reply_cap: u64, reply_at: Vec<Span>) {
    c.send(local_request(request::Call::MsgSend(local::MsgSend {
        coid,
        reply_cap,
        priority: 10,
        data_at,
        reply_at,
        ..Default::default()
    })));
}

fn reply_at(c: &mut Client, rcvid: i64, status: i64, data_at: Vec<Span>) -> response::Result {
    c.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status,
        data_at,
        ..Default::default()
    }))
}

#[test]
fn one_copy_is_on_only_when_the_probe_reads_the_magic() {
    let d = daemon(&[]);
    let ack = d.connect().hello_one_copy(1).expect("ack");
    assert!(ack.one_copy);
    let ack = d.connect().hello_with_probe(2, BAD).expect("ack");
    assert!(!ack.one_copy, "an unreadable probe address");
    let not_magic = [0u8; 16];
    let ack = d
        .connect()
        .hello_with_probe(3, not_magic.as_ptr() as u64)
        .expect("ack");
    assert!(!ack.one_copy, "the probe must hold the magic");
    let ack = d.connect().hello_with_probe(4, 0).expect("ack");
    assert!(!ack.one_copy, "not asked");

    let off = daemon(&["--one-copy", "off"]);
    let ack = off.connect().hello_one_copy(1).expect("ack");
    assert!(!ack.one_copy, "--one-copy off");
    // Without one copy, buffers by address are refused; bytes still work.
    let mut s = off.thread(2);
    let chid = channel_create(&mut s);
    let coid = connect(&mut s, chid);
    let data = pattern(20_000, 1);
    send(&mut s, coid, at(&data), 0, vec![]);
    assert_eq!(errno(&s.response()), Some(EINVAL));
}

#[test]
fn send_receive_and_reply_move_by_address_with_exact_truncation_and_offsets() {
    let d = daemon(&[]);
    let mut server = one_copy_thread(&d, 1);
    let mut client = one_copy_thread(&d, 2);
    let chid = channel_create(&mut server);
    let coid = connect(&mut client, chid);

    // A 70,000-byte message into a 100,000-byte receive buffer.
    let mut rbuf = vec![0x11u8; 100_000];
    receive(&mut server, chid, rbuf.len() as u64, at_mut(&mut rbuf));
    let sent = pattern(70_000, 1);
    let mut reply_buf = vec![0x22u8; 50_000];
    send(
        &mut client,
        coid,
        at(&sent),
        reply_buf.len() as u64,
        at_mut(&mut reply_buf),
    );
    let m = message(server.response());
    let info = m.info.unwrap();
    assert_eq!(info.msglen, 70_000);
    assert!(m.data.is_empty(), "the message was written in place");
    assert!(rbuf[..70_000] == sent[..], "the message, byte for byte");
    assert!(rbuf[70_000..].iter().all(|&b| b == 0x11), "nothing past it");

    // A MsgWrite at 40,000, then a 20,000-byte reply at 0: only those pieces land.
    let piece = vec![0x33u8; 5_000];
    let r = server.call(request::Call::MsgWrite(local::MsgWrite {
        rcvid: m.rcvid,
        offset: 40_000,
        data: Bytes::from(piece.clone()),
    }));
    assert_eq!(r, response::Result::Count(5_000));
    let answer = pattern(20_000, 2);
    assert_eq!(
        reply_at(&mut server, m.rcvid, 7, at(&answer)),
        response::Result::Done(local::Done {})
    );
    let r = reply_of(client.response());
    assert_eq!(r.status, 7);
    assert!(r.data.is_empty() && r.pieces.is_empty(), "written in place");
    assert!(reply_buf[..20_000] == answer[..]);
    assert!(reply_buf[20_000..40_000].iter().all(|&b| b == 0x22));
    assert!(reply_buf[40_000..45_000] == piece[..]);
    assert!(reply_buf[45_000..].iter().all(|&b| b == 0x22));

    // Truncation both ways: a 50,000-byte message into 20,000 bytes of a larger Vec, and a
    // 60,000-byte reply into 30,000 declared bytes of a larger Vec.
    rbuf.fill(0x44);
    receive(&mut server, chid, 20_000, at_mut(&mut rbuf[..20_000]));
    let sent = pattern(50_000, 3);
    reply_buf.fill(0x55);
    send(
        &mut client,
        coid,
        at(&sent),
        30_000,
        at_mut(&mut reply_buf[..30_000]),
    );
    let m = message(server.response());
    let info = m.info.unwrap();
    assert_eq!(info.msglen, 20_000, "cut at the receive buffer");
    assert!(m.data.is_empty());
    assert!(rbuf[..20_000] == sent[..20_000]);
    assert!(
        rbuf[20_000..].iter().all(|&b| b == 0x44),
        "only the declared buffer"
    );
    let answer = pattern(60_000, 4);
    reply_at(&mut server, m.rcvid, 8, at(&answer));
    let r = reply_of(client.response());
    assert_eq!(r.status, 8);
    assert!(reply_buf[..30_000] == answer[..30_000]);
    assert!(
        reply_buf[30_000..].iter().all(|&b| b == 0x55),
        "only the declared buffer"
    );

    // Small messages and replies still travel inline, even with buffers named.
    receive(&mut server, chid, rbuf.len() as u64, at_mut(&mut rbuf));
    send(&mut client, coid, vec![], 50_000, at_mut(&mut reply_buf));
    let m = message(server.response());
    assert!(m.data.is_empty() && m.info.unwrap().msglen == 0);
    let r = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid: m.rcvid,
        status: 1,
        data: Bytes::from_static(b"small"),
        ..Default::default()
    }));
    assert_eq!(r, response::Result::Done(local::Done {}));
    assert_eq!(
        reply_of(client.response()).data,
        Bytes::from_static(b"small")
    );
}

#[test]
fn a_timed_out_client_is_never_written_afterwards() {
    let d = daemon(&[]);
    let mut server = one_copy_thread(&d, 1);
    let mut client = one_copy_thread(&d, 2);
    let chid = channel_create(&mut server);
    let coid = connect(&mut client, chid);

    let mut reply_buf = vec![0x66u8; 40_000];
    let sent = pattern(30_000, 1);
    client.send(local_request(request::Call::MsgSend(local::MsgSend {
        coid,
        reply_cap: reply_buf.len() as u64,
        data_at: at(&sent),
        reply_at: at_mut(&mut reply_buf),
        timeout: Some(local::Timeout {
            reply: true,
            after_ns: 50_000_000,
            ..Default::default()
        }),
        ..Default::default()
    })));
    receive(&mut server, chid, 64, vec![]);
    let m = message(server.response());
    assert_eq!(m.data.len(), 64);
    assert_eq!(errno(&client.response()), Some(ETIMEDOUT));
    // The server's late reply finds no client; the old buffer stays as it was.
    let answer = pattern(40_000, 2);
    assert_eq!(
        errno(&reply_at(&mut server, m.rcvid, 1, at(&answer))),
        Some(ESRCH)
    );
    // The next call names no reply buffer: its large reply travels inline and must not land
    // in the timed-out call's buffer.
    receive(&mut server, chid, 64, vec![]);
    client.send(local_request(request::Call::MsgSend(local::MsgSend {
        coid,
        reply_cap: 40_000,
        ..Default::default()
    })));
    let m = message(server.response());
    reply_at(&mut server, m.rcvid, 2, at(&answer));
    let r = reply_of(client.response());
    assert_eq!(r.data.len(), 40_000, "inline");
    assert!(reply_buf.iter().all(|&b| b == 0x66), "never written");
}

#[test]
fn hostile_addresses_fail_the_call_or_travel_inline_and_the_daemon_serves_on() {
    let d = daemon(&[]);
    let mut server = one_copy_thread(&d, 1);
    let mut client = one_copy_thread(&d, 2);
    let chid = channel_create(&mut server);
    let coid = connect(&mut client, chid);

    // Unreadable send buffers: EFAULT, and nothing reaches the channel.
    send(&mut client, coid, vec![span(BAD, 20_000)], 0, vec![]);
    assert_eq!(errno(&client.response()), Some(EFAULT));
    let ok = pattern(20_000, 1);
    let half_bad = vec![span(ok.as_ptr() as u64, 10_000), span(BAD, 10_000)];
    send(&mut client, coid, half_bad, 0, vec![]);
    assert_eq!(errno(&client.response()), Some(EFAULT));
    // Too long, wrapping, too many, or not matching the declared capacity.
    send(
        &mut client,
        coid,
        vec![span(BAD, MAX_MESSAGE + 1)],
        0,
        vec![],
    );
    assert_eq!(errno(&client.response()), Some(EMSGSIZE));
    send(&mut client, coid, vec![span(u64::MAX - 10, 100)], 0, vec![]);
    assert_eq!(errno(&client.response()), Some(EINVAL));
    let many: Vec<Span> = (0..1000).map(|i| span(BAD + i, 1)).collect();
    send(&mut client, coid, many, 0, vec![]);
    assert_eq!(errno(&client.response()), Some(EINVAL));
    send(&mut client, coid, vec![], 100, vec![span(BAD, 99)]);
    assert_eq!(errno(&client.response()), Some(EINVAL));
    // A session without one copy may not name buffers.
    let mut plain = d.thread(3);
    send(&mut plain, coid, at(&ok), 0, vec![]);
    assert_eq!(errno(&plain.response()), Some(EINVAL));

    // Unwritable receive and reply buffers: the bytes travel inline instead.
    receive(&mut server, chid, 30_000, vec![span(BAD, 30_000)]);
    send(&mut client, coid, at(&ok), 30_000, vec![span(BAD, 30_000)]);
    let m = message(server.response());
    assert!(m.data[..] == ok[..], "inline after the failed write");
    let answer = pattern(25_000, 2);
    reply_at(&mut server, m.rcvid, 3, at(&answer));
    let r = reply_of(client.response());
    assert_eq!(r.status, 3);
    assert!(r.data[..] == answer[..], "inline after the failed write");

    // The daemon and these sessions serve on.
    let mut rbuf = vec![0u8; 20_000];
    receive(&mut server, chid, rbuf.len() as u64, at_mut(&mut rbuf));
    send(&mut client, coid, at(&ok), 0, vec![]);
    let m = message(server.response());
    assert!(rbuf[..] == ok[..]);
    reply_at(&mut server, m.rcvid, 4, vec![]);
    assert_eq!(reply_of(client.response()).status, 4);
}
