//! Each library call against one real `qnetd` (one daemon for this test binary; tests run
//! in parallel threads of this one process, each with its own channels).

mod common;

use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Barrier, OnceLock, mpsc};
use std::time::Duration;

use common::{TestDaemon, recv, send_in_thread, with_guard};
use qnet::neutrino::{self, *};
use qnet::{Channel, Connection, Errno, Message, NameAttachment, Received, SendTimeout, shm};

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start();
        qnet::set_socket_path(d.socket());
        d
    })
}

fn me() -> u32 {
    std::process::id()
}

fn receive_message(ch: &Channel) -> Message {
    match ch.receive_timeout(1024, common::GUARD).unwrap() {
        Received::Message(m) => m,
        Received::Pulse(p) => panic!("expected a message, got {p:?}"),
    }
}

/// The calling thread's next receive fails (ETIMEDOUT) instead of hanging past the guard.
fn arm_receive_guard() {
    timer_timeout(
        TimeoutStates {
            receive: true,
            ..Default::default()
        },
        common::GUARD,
    );
}

fn receive_pulse(chid: i32) -> Pulse {
    let mut buf = [0u8; 64];
    arm_receive_guard();
    assert_eq!(
        msg_receive(chid, &mut buf, None).unwrap(),
        0,
        "expected a pulse"
    );
    pulse_from_bytes(&buf).unwrap()
}

#[test]
fn send_receive_reply_with_info() {
    daemon();
    let ch = Channel::create(ChannelFlags::SENDER_LEN | ChannelFlags::REPLY_LEN).unwrap();
    let coid = connect_attach(ND_LOCAL_NODE, me(), ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"hello world".to_vec(), 32);
    let m = receive_message(&ch);
    assert_eq!(m.data(), b"hello world");
    let i = *m.info();
    assert_eq!(
        (i.pid, i.chid, i.coid, i.priority),
        (me(), ch.chid(), coid, 10)
    );
    assert_eq!((i.msglen, i.srcmsglen, i.dstmsglen), (11, 11, 32));
    assert_eq!(m.refresh_info().unwrap().scoid, i.scoid);
    m.reply(42, b"reply!").unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(42));
    assert_eq!(&reply[..6], b"reply!");
    connect_detach(coid).unwrap();
    // No second detach here: coids are per process and reused lowest-first, so a test running
    // in parallel may own this number by now (that race once detached another test's
    // connection). EBADF for a coid not held is checked in core scenario 01.
}

#[test]
fn data_is_truncated_to_the_smaller_buffer() {
    daemon();
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch).unwrap();
    let rx = send_in_thread(coid, vec![7u8; 100], 4);
    let mut buf = [0u8; 20];
    let mut info = MsgInfo::default();
    let rcvid = msg_receive(ch, &mut buf, Some(&mut info)).unwrap();
    assert!(rcvid > 0);
    assert_eq!(info.msglen, 20);
    msg_reply(rcvid, 0, &[1, 2, 3, 4, 5, 6]).unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(0));
    assert_eq!(reply, vec![1, 2, 3, 4]);
    channel_destroy(ch).unwrap();
}

#[test]
fn vectored_sends_gather_and_replies_scatter() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let chid = ch.chid();
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let mut a = [0u8; 3];
            let mut b = [0u8; 32];
            let mut info = MsgInfo::default();
            let rcvid = {
                let mut iov = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
                msg_receivev(chid, &mut iov, Some(&mut info)).unwrap()
            };
            let mut all = a.to_vec();
            all.extend_from_slice(&b[..info.msglen as usize - 3]);
            // Echo it back reversed, in two parts.
            all.reverse();
            let (x, y) = all.split_at(2);
            msg_replyv(rcvid, all.len() as i64, &[IoSlice::new(x), IoSlice::new(y)]).unwrap();
        }
    });
    let conn = Connection::attach(0, me(), chid).unwrap();
    // sendv: gather + scatter
    let (mut r1, mut r2) = ([0u8; 4], [0u8; 4]);
    let n = conn
        .send_vectored(
            &[IoSlice::new(b"abc"), IoSlice::new(b"defg")],
            &mut [IoSliceMut::new(&mut r1), IoSliceMut::new(&mut r2)],
        )
        .unwrap();
    assert_eq!(n, 7);
    assert_eq!((&r1, &r2[..3]), (b"gfed", &b"cba"[..]));
    // sendsv: one buffer out, scattered reply
    let (mut r1, mut r2) = ([0u8; 1], [0u8; 8]);
    msg_sendsv(
        conn.coid(),
        b"xyz12",
        &mut [IoSliceMut::new(&mut r1), IoSliceMut::new(&mut r2)],
    )
    .unwrap();
    assert_eq!((&r1, &r2[..4]), (b"2", &b"1zyx"[..]));
    // sendvs: gathered out, one reply buffer
    let mut r = [0u8; 6];
    msg_sendvs(
        conn.coid(),
        &[
            IoSlice::new(b"12"),
            IoSlice::new(b"3"),
            IoSlice::new(b"456"),
        ],
        &mut r,
    )
    .unwrap();
    assert_eq!(&r, b"654321");
    server.join().unwrap();
}

#[test]
fn msg_read_and_write_at_offsets() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, me(), ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"0123456789abcdef".to_vec(), 10);
    let m = match ch.receive(16).unwrap() {
        Received::Message(m) => m,
        Received::Pulse(_) => panic!(),
    };
    let mut buf = [0u8; 4];
    assert_eq!(m.read(10, &mut buf).unwrap(), 4);
    assert_eq!(&buf, b"abcd");
    let mut tail = [0u8; 10];
    assert_eq!(
        m.read(12, &mut tail).unwrap(),
        4,
        "reads stop at the end of the message"
    );
    assert_eq!(&tail[..4], b"cdef");
    // readv across two parts
    let (mut p, mut q) = ([0u8; 2], [0u8; 3]);
    let n = msg_readv(
        m.rcvid(),
        &mut [IoSliceMut::new(&mut p), IoSliceMut::new(&mut q)],
        1,
    )
    .unwrap();
    assert_eq!((n, &p, &q), (5, b"12", b"345"));
    // write at an offset, writev, then the reply at offset 0
    assert_eq!(
        m.write(6, b"WXYZ").unwrap(),
        4,
        "bounded by the 10-byte reply buffer"
    );
    assert_eq!(
        msg_writev(m.rcvid(), &[IoSlice::new(b"m"), IoSlice::new(b"n")], 3).unwrap(),
        2
    );
    m.reply(1, b"ab").unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(1));
    assert_eq!(&reply[..2], b"ab");
    assert_eq!(&reply[3..5], b"mn");
    assert_eq!(&reply[6..10], b"WXYZ");
}

/// A client thread sending `data` with reply buffers of `parts` lengths, each pre-filled
/// with `fill`; receives (status or errno, the reply buffers concatenated).
fn send_prefilled(
    coid: i32,
    data: &'static [u8],
    parts: Vec<usize>,
    fill: u8,
) -> mpsc::Receiver<(Result<i64, Errno>, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bufs: Vec<Vec<u8>> = parts.iter().map(|&n| vec![fill; n]).collect();
        let r = {
            let mut iov: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            msg_sendsv(coid, data, &mut iov).map_err(|e| e.errno())
        };
        let _ = tx.send((r, bufs.concat()));
    });
    rx
}

/// QNX copies only what the server wrote: `MsgWrite("WWWW", 40)` then a 10-byte `MsgReply`
/// leave bytes 10..39 and 44.. of the client's buffer as they were (issue 12: they came back
/// as zeros). The reply buffer is split in two parts so the pieces cross a part boundary.
#[test]
fn reply_and_write_leave_unwritten_bytes_alone() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, me(), ch.chid()).unwrap();
    let rx = send_prefilled(coid, b"q", vec![42, 22], 0xEE);
    let m = receive_message(&ch);
    assert_eq!(m.write(40, b"WWWW").unwrap(), 4);
    m.reply(5, b"0123456789").unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(5), "MsgSend returns the MsgReply status");
    let mut want = vec![0xEEu8; 64];
    want[..10].copy_from_slice(b"0123456789");
    want[40..44].copy_from_slice(b"WWWW");
    assert_eq!(reply, want);

    // MsgError(EOK) after a MsgWrite: only the written piece; MsgSend returns 0.
    let rx = send_prefilled(coid, b"q", vec![16], 0x55);
    let m = receive_message(&ch);
    assert_eq!(m.write(3, b"ab").unwrap(), 2);
    m.error(Errno(0)).unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(0));
    let mut want = vec![0x55u8; 16];
    want[3..5].copy_from_slice(b"ab");
    assert_eq!(reply, want);

    // Large: a 1 MiB reply buffer, 300 KiB written at 200 KiB (written apart from the frame,
    // the large-message path) and a small header at 0: the rest keeps the pattern.
    let rx = send_prefilled(coid, b"q", vec![1 << 20], 0x77);
    let m = receive_message(&ch);
    let big: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(m.write(200 * 1024, &big).unwrap(), big.len());
    m.reply(1, b"HDR").unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(1));
    assert_eq!(&reply[..3], b"HDR");
    assert!(reply[3..200 * 1024].iter().all(|&b| b == 0x77));
    assert_eq!(&reply[200 * 1024..500 * 1024], &big[..]);
    assert!(reply[500 * 1024..].iter().all(|&b| b == 0x77));
}

#[test]
fn pulses_are_received_in_priority_order_with_layout() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let conn = Connection::attach(0, me(), ch.chid()).unwrap();
    conn.send_pulse_priority(5, 1, 105).unwrap();
    conn.send_pulse_priority(20, 2, 120).unwrap();
    conn.send_pulse_priority(10, 3, 110).unwrap();
    conn.send_pulse_priority(20, 4, 121).unwrap();
    set_priority(33);
    conn.send_pulse(5, 133).unwrap(); // -1: this thread's priority
    set_priority(10);
    let mut got = Vec::new();
    for _ in 0..5 {
        match ch.receive(64).unwrap() {
            Received::Pulse(p) => got.push((p.priority, p.code, p.value)),
            Received::Message(_) => panic!(),
        }
    }
    assert_eq!(
        got,
        vec![
            (33, 5, 133),
            (20, 2, 120),
            (20, 4, 121),
            (10, 3, 110),
            (5, 1, 105)
        ]
    );
    // Raw layout: struct _pulse, rcvid 0.
    msg_send_pulse(conn.coid(), 12, 7, -99).unwrap();
    let mut buf = [0xffu8; 24];
    assert_eq!(msg_receive(ch.chid(), &mut buf, None).unwrap(), 0);
    assert_eq!(&buf[..4], &[0, 0, 0, 0]);
    assert_eq!(buf[4], 7);
    assert_eq!(&buf[5..8], &[0, 0, 0]);
    assert_eq!(i32::from_le_bytes(buf[8..12].try_into().unwrap()), -99);
    let p = pulse_from_bytes(&buf).unwrap();
    assert_eq!((p.code, p.value), (7, -99));
    assert!(p.scoid > 0);
}

#[test]
fn pulse_errors() {
    daemon();
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch).unwrap();
    for code in [128, -1, -33] {
        assert_eq!(
            msg_send_pulse(coid, -1, code, 0).unwrap_err().errno(),
            Errno::EINVAL,
            "code {code}"
        );
    }
    assert_eq!(
        msg_send_pulse(coid, 300, 1, 0).unwrap_err().errno(),
        Errno::EINVAL
    );
    // A receive buffer smaller than a pulse fails EFAULT.
    msg_send_pulse(coid, -1, 1, 0).unwrap();
    let mut small = [0u8; 8];
    assert_eq!(
        msg_receive(ch, &mut small, None).unwrap_err().errno(),
        Errno::EFAULT
    );
    assert_eq!(
        msg_send_pulse(9999, -1, 1, 0).unwrap_err().errno(),
        Errno::EBADF
    );
    channel_destroy(ch).unwrap();
}

#[test]
fn several_receiver_threads_each_get_a_message() {
    daemon();
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16];
                let rcvid = msg_receive(ch, &mut buf, None).unwrap();
                // All three hold a message at once: three distinct concurrent receivers.
                b.wait();
                msg_reply(rcvid, i64::from(buf[0]), &[]).unwrap();
                buf[0]
            })
        })
        .collect();
    let coid = connect_attach(0, 0, ch).unwrap();
    let clients: Vec<_> = (1..=3u8)
        .map(|i| send_in_thread(coid, vec![i; 4], 0))
        .collect();
    let mut statuses: Vec<i64> = clients.iter().map(|rx| recv(rx).0.unwrap()).collect();
    statuses.sort();
    assert_eq!(statuses, vec![1, 2, 3]);
    let mut seen: Vec<u8> = receivers.into_iter().map(|h| h.join().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3]);
    channel_destroy(ch).unwrap();
}

#[test]
fn delayed_reply_from_another_thread() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"later".to_vec(), 8);
    let m = receive_message(&ch);
    let other = std::thread::spawn(move || m.reply(5, b"done").unwrap());
    other.join().unwrap();
    let (r, reply) = recv(&rx);
    assert_eq!(r, Ok(5));
    assert_eq!(&reply[..4], b"done");
}

#[test]
fn reply_twice_is_esrch_and_dropped_message_answers_enosys() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"x".to_vec(), 0);
    let rcvid = receive_message(&ch).into_rcvid();
    msg_reply(rcvid, 0, &[]).unwrap();
    assert_eq!(msg_reply(rcvid, 0, &[]).unwrap_err().errno(), Errno::ESRCH);
    assert_eq!(
        msg_error(rcvid, Errno::EINVAL).unwrap_err().errno(),
        Errno::ESRCH
    );
    assert_eq!(recv(&rx).0, Ok(0));
    // Dropping an unanswered Message answers ENOSYS.
    let rx = send_in_thread(coid, b"y".to_vec(), 0);
    drop(receive_message(&ch));
    assert_eq!(recv(&rx).0, Err(Errno::ENOSYS));
    // MsgError with a server-chosen errno; EOK makes MsgSend return 0.
    let rx = send_in_thread(coid, b"z".to_vec(), 0);
    receive_message(&ch).error(Errno::EBUSY).unwrap();
    assert_eq!(recv(&rx).0, Err(Errno::EBUSY));
    let rx = send_in_thread(coid, b"z".to_vec(), 0);
    receive_message(&ch).error(Errno::EOK).unwrap();
    assert_eq!(recv(&rx).0, Ok(0));
}

#[test]
fn send_timeout_while_send_blocked() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let conn = Connection::attach(0, me(), ch.chid()).unwrap();
    let r = with_guard(move || {
        conn.send_timeout(
            b"nobody receives",
            &mut [],
            SendTimeout::send_only(Duration::from_millis(100)),
        )
        .map_err(|e| e.errno())
    });
    assert_eq!(r, Err(Errno::ETIMEDOUT));
    // The message left the queue: a pulse is what the channel holds next.
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    msg_send_pulse(coid, -1, 9, 0).unwrap();
    assert!(matches!(ch.receive(64).unwrap(), Received::Pulse(p) if p.code == 9));
}

#[test]
fn reply_timeout_without_unblock_flag() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        timer_timeout(
            TimeoutStates {
                reply: true,
                ..Default::default()
            },
            Duration::from_millis(100),
        );
        let _ = tx.send(msg_send(coid, b"hold me", &mut []).map_err(|e| e.errno()));
    });
    let m = receive_message(&ch);
    assert_eq!(recv(&rx), Err(Errno::ETIMEDOUT));
    assert_eq!(m.reply(0, &[]).unwrap_err().errno(), Errno::ESRCH);
}

#[test]
fn reply_timeout_with_unblock_flag_asks_the_server() {
    daemon();
    let ch = Channel::create(ChannelFlags::UNBLOCK).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        timer_timeout(
            TimeoutStates {
                reply: true,
                ..Default::default()
            },
            Duration::from_millis(50),
        );
        let mut reply = [0u8; 4];
        let _ = tx.send(
            msg_send(coid, b"hold me", &mut reply)
                .map_err(|e| e.errno())
                .map(|s| (s, reply)),
        );
    });
    let m = receive_message(&ch);
    let p = receive_pulse(ch.chid());
    assert_eq!(p.code, PulseCode::UNBLOCK);
    assert_eq!(i64::from(p.value), m.rcvid());
    assert_ne!(
        m.refresh_info().unwrap().flags & MsgInfoFlags::UNBLOCK_REQ,
        0
    );
    // The client is still blocked: it gets the server's reply, not ETIMEDOUT.
    assert!(rx.try_recv().is_err());
    m.reply(3, b"late").unwrap();
    assert_eq!(recv(&rx), Ok((3, *b"late")));
}

#[test]
fn receive_timeout_and_timer_is_one_shot() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let r = with_guard({
        let chid = ch.chid();
        move || {
            timer_timeout(
                TimeoutStates {
                    receive: true,
                    ..Default::default()
                },
                Duration::from_millis(50),
            );
            let first = msg_receive(chid, &mut [0u8; 16], None).map_err(|e| e.errno());
            // Not armed any more: this receive waits until the pulse sent below.
            let coid = connect_attach(0, 0, chid).unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let r = msg_receive(chid, &mut [0u8; 16], None).map_err(|e| e.errno());
                let _ = tx.send(r);
            });
            msg_send_pulse(coid, -1, 1, 1).unwrap();
            (first, recv(&rx))
        }
    });
    assert_eq!(r, (Err(Errno::ETIMEDOUT), Ok(0)));
}

#[test]
fn unblock_another_thread() {
    daemon();
    // REPLY-blocked without UNBLOCK: EINTR, the rcvid becomes invalid.
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(msg_send(coid, b"x", &mut []).map_err(|e| e.errno()));
    });
    let m = receive_message(&ch);
    unblock(m.info().tid).unwrap();
    assert_eq!(recv(&rx), Err(Errno::EINTR));
    assert_eq!(m.reply(0, &[]).unwrap_err().errno(), Errno::ESRCH);

    // REPLY-blocked with UNBLOCK: unblock pulse, the client waits for the answer.
    let ch = Channel::create(ChannelFlags::UNBLOCK).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(msg_send(coid, b"x", &mut []).map_err(|e| e.errno()));
    });
    let m = receive_message(&ch);
    unblock(m.info().tid).unwrap();
    let p = receive_pulse(ch.chid());
    assert_eq!(
        (p.code, i64::from(p.value)),
        (PulseCode::UNBLOCK, m.rcvid())
    );
    m.error(Errno::EINTR).unwrap();
    assert_eq!(recv(&rx), Err(Errno::EINTR));

    // RECEIVE-blocked: EINTR. The thread tells its tid, then blocks; retry until it returns.
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let chid = ch.chid();
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tid_tx.send(gettid());
        let _ = tx.send(msg_receive(chid, &mut [0u8; 16], None).map_err(|e| e.errno()));
    });
    let tid = recv(&tid_rx);
    let r = loop {
        let _ = unblock(tid);
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(50)) {
            break r;
        }
    };
    assert_eq!(r, Err(Errno::EINTR));
}

#[test]
fn private_channel_is_ours_only_and_names() {
    daemon();
    // Our own process may connect to a private channel (others: see the process tests).
    let ch = Channel::create(ChannelFlags::PRIVATE).unwrap();
    connect_attach(0, 0, ch.chid()).unwrap();

    let a = NameAttachment::attach("calls-name", ChannelFlags::default()).unwrap();
    assert_eq!(
        NameAttachment::attach("calls-name", ChannelFlags::default())
            .unwrap_err()
            .errno(),
        Errno::EEXIST
    );
    assert_eq!(
        name_open("calls-no-such-name").unwrap_err().errno(),
        Errno::ENOENT
    );
    let coid = name_open("calls-name").unwrap();
    let local = format!("{}/calls-name", daemon().node());
    let coid2 = name_open(&local).unwrap();
    let unknown = name_open("othernode/calls-name").unwrap_err();
    assert_eq!(unknown.errno(), Errno::EHOSTUNREACH);
    assert!(
        unknown.to_string().contains("no node named \"othernode\""),
        "the error names the node: {unknown}"
    );
    msg_send_pulse(coid, -1, 3, 4).unwrap();
    // The named channel has COID_DISCONNECT, so a channel another test of this process
    // destroys meanwhile shows up here as a COIDDEATH pulse: skip those.
    let got = loop {
        match a.receive(64).unwrap() {
            Received::Pulse(p) if p.code == PulseCode::COIDDEATH => continue,
            other => break other,
        }
    };
    assert!(
        matches!(&got, Received::Pulse(p) if p.code == 3 && p.value == 4),
        "{got:?}"
    );
    name_close(coid).unwrap();
    name_close(coid2).unwrap();
    drop(a);
    assert_eq!(name_open("calls-name").unwrap_err().errno(), Errno::ENOENT);
    let chid = name_attach("calls-name", ChannelFlags::default()).unwrap();
    name_detach(chid).unwrap();
}

#[test]
fn client_info_has_our_credentials_and_scoid_lifecycle() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"who".to_vec(), 0);
    let m = receive_message(&ch);
    let ci = m.client_info().unwrap();
    assert_eq!(ci.pid, me());
    assert_eq!(ci.nd, 0);
    assert_eq!(ci.cred.uid, nix::unistd::getuid().as_raw());
    assert_eq!(ci.cred.gid, nix::unistd::getgid().as_raw());
    m.reply(0, &[]).unwrap();
    recv(&rx).0.unwrap();
    assert_eq!(
        connect_client_info(987_654).unwrap_err().errno(),
        Errno::ESRCH
    );
}

#[test]
fn channel_destroy_releases_blocked_clients_then_ebadf() {
    daemon();
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch).unwrap();
    let rx = send_in_thread(coid, b"x".to_vec(), 0);
    // REPLY-block one client, leave another SEND-blocked.
    let mut buf = [0u8; 16];
    let _held = msg_receive(ch, &mut buf, None).unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let rx2 = {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tid_tx.send(gettid());
            let r = msg_send(coid, b"y", &mut []).map_err(|e| e.errno());
            let _ = tx.send(r);
        });
        rx
    };
    // The daemon's own view says when the second sender is SEND-blocked.
    common::wait_thread_state(
        daemon().socket(),
        me(),
        recv(&tid_rx),
        qnet_proto::local::ThreadState::Send,
    );
    channel_destroy(ch).unwrap();
    assert_eq!(recv(&rx).0, Err(Errno::ESRCH));
    assert_eq!(recv(&rx2), Err(Errno::ESRCH), "SEND-blocked: ESRCH too");
    assert_eq!(
        msg_send(coid, b"z", &mut []).unwrap_err().errno(),
        Errno::EBADF
    );
    // The dead connection still exists until detached. (That the coid is unknown afterwards
    // is checked in tests/detach.rs, a process of its own: here a parallel test may be given
    // the freed coid at once, and detaching it again would detach that test's connection.)
    connect_detach(coid).unwrap();
}

#[test]
fn thread_death_pulse() {
    daemon();
    let ch = Channel::create(ChannelFlags::THREAD_DEATH).unwrap();
    let tid = std::thread::spawn(|| {
        // Make a call so this thread has a session, then exit.
        let c = channel_create(ChannelFlags::default()).unwrap();
        channel_destroy(c).unwrap();
        gettid()
    })
    .join()
    .unwrap();
    loop {
        // Other test threads die too; look for ours (the hang guard bounds this).
        match ch.receive_timeout(64, common::GUARD).unwrap() {
            Received::Pulse(p) if p.code == PulseCode::THREADDEATH && p.value as u32 == tid => {
                break;
            }
            Received::Pulse(_) => {}
            Received::Message(_) => panic!(),
        }
    }
}

#[test]
fn events_are_delivered_by_the_registered_server_only() {
    daemon();
    let client_ch = Channel::create(ChannelFlags::default()).unwrap();
    let server_ch = Channel::create(ChannelFlags::default()).unwrap();
    let self_coid = connect_attach(0, 0, client_ch.chid()).unwrap();
    let server_coid = connect_attach(0, 0, server_ch.chid()).unwrap();
    let ev = PulseEvent {
        coid: self_coid,
        priority: 10,
        code: 11,
        value: 1,
        updateable: true,
    };
    let fixed = PulseEvent {
        updateable: false,
        code: 12,
        ..ev
    };
    let h = msg_register_event(&ev, server_coid).unwrap();
    let hf = msg_register_event(&fixed, server_coid).unwrap();
    let rx = send_in_thread(server_coid, h.to_le_bytes().to_vec(), 0);
    let m = receive_message(&server_ch);
    m.verify_event(h).unwrap();
    msg_deliver_event(m.rcvid(), h, Some(42)).unwrap();
    let rcvid = m.rcvid();
    m.reply(0, &[]).unwrap();
    recv(&rx).0.unwrap();
    let p = receive_pulse(client_ch.chid());
    assert_eq!((p.code, p.value), (11, 42));
    // Without a client check (rcvid 0); a non-updateable event keeps its value.
    msg_deliver_event(0, hf, Some(99)).unwrap();
    let p = receive_pulse(client_ch.chid());
    assert_eq!((p.code, p.value), (12, 1));
    // Unregistered → EACCES.
    msg_unregister_event(hf).unwrap();
    assert_eq!(
        msg_deliver_event(0, hf, None).unwrap_err().errno(),
        Errno::EACCES
    );
    assert_eq!(
        msg_verify_event(0, 123_456_789).unwrap_err().errno(),
        Errno::EACCES
    );
    // The course: the rcvid stays usable for MsgDeliverEvent after MsgReply.
    msg_deliver_event(rcvid, h, Some(43)).unwrap();
    assert_eq!(receive_pulse(client_ch.chid()).value, 43);
}

#[test]
fn oversized_send_fails_locally() {
    daemon();
    let big = vec![0u8; 16 * 1024 * 1024 + 1];
    let e = msg_send(12345, &big, &mut []).unwrap_err();
    assert_eq!(e.errno(), Errno::EMSGSIZE);
    assert!(e.to_string().contains("EMSGSIZE"), "{e}");
}

#[test]
fn errors_name_the_errno() {
    daemon();
    let e = connect_attach(0, me(), 99_999).unwrap_err();
    assert_eq!(e.errno(), Errno::ESRCH);
    assert!(e.to_string().starts_with("ESRCH"), "{e}");
    assert_eq!(
        msg_send(77_777, b"x", &mut []).unwrap_err().errno(),
        Errno::EBADF
    );
}

#[test]
fn named_shared_memory() {
    let d = daemon();
    let name = format!("/qnet-calls-{}", me());
    let mut a = shm::SharedMemory::create(&name, 4096).unwrap();
    a.as_mut_slice()[..5].copy_from_slice(b"hello");
    let b = shm::SharedMemory::open(&format!("{}{name}", d.node())).unwrap();
    assert_eq!(&b.as_slice()[..5], b"hello");
    assert_eq!(b.len(), 4096);
    shm::SharedMemory::unlink(&name).unwrap();
    // Another node: ENOREMOTE, nothing created.
    let remote = format!("/othernode/qnet-calls-remote-{}", me());
    assert_eq!(
        shm::SharedMemory::create(&remote, 4096)
            .unwrap_err()
            .errno(),
        Errno::ENOREMOTE
    );
    assert!(!std::path::Path::new(&format!("/dev/shm/qnet-calls-remote-{}", me())).exists());
}

#[test]
fn shared_memory_handles() {
    use std::os::fd::AsFd;
    daemon();
    let fd = shm::SharedMemory::anonymous_fd(8192).unwrap();
    let mut m = shm::SharedMemory::from_fd(fd.as_fd(), true).unwrap();
    m.as_mut_slice()[..3].copy_from_slice(b"abc");
    let h = shm::shm_create_handle(fd.as_fd(), me(), libc::O_RDWR).unwrap();
    let fd2 = shm::shm_open_handle(h, libc::O_RDWR).unwrap();
    let m2 = shm::SharedMemory::from_fd(fd2.as_fd(), true).unwrap();
    assert_eq!(&m2.as_slice()[..3], b"abc");
    assert_eq!(m2.len(), 8192);
    // A handle opens once.
    assert!(shm::shm_open_handle(h, libc::O_RDWR).is_err());
    // A handle for another pid is refused to us.
    let other = shm::shm_create_handle(fd.as_fd(), 1, libc::O_RDWR).unwrap();
    let e = shm::shm_open_handle(other, libc::O_RDWR).unwrap_err();
    assert!(matches!(e.errno(), Errno::EPERM | Errno::EACCES), "{e}");
}

#[test]
fn neutrino_module_reexports_are_usable() {
    daemon();
    assert_eq!(neutrino::DEFAULT_PRIORITY, 10);
    assert_eq!(qnet::priority(), 10);
    assert!(gettid() > 0);
}

#[test]
fn reply_and_receive_serves_two_clients_in_turn() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(ND_LOCAL_NODE, me(), ch.chid()).unwrap();
    let first = send_in_thread(coid, b"one".to_vec(), 16);
    let m = receive_message(&ch);
    assert_eq!(m.data(), b"one");
    let second = send_in_thread(coid, b"two".to_vec(), 16);
    // Answer the first client and take the second's message in one call.
    let m = match m.reply_and_receive(1, b"ONE", &ch, 1024).unwrap() {
        Received::Message(m) => m,
        Received::Pulse(p) => panic!("expected a message, got {p:?}"),
    };
    let (status, reply) = recv(&first);
    assert_eq!((status, &reply[..3]), (Ok(1), &b"ONE"[..]));
    assert_eq!(m.data(), b"two");
    assert_eq!(m.info().pid, me());
    // Answer the second; the receive half waits for a third that does not come.
    timer_timeout(
        TimeoutStates {
            receive: true,
            ..Default::default()
        },
        Duration::from_millis(50),
    );
    let e = m.reply_and_receive(2, b"TWO", &ch, 1024).unwrap_err();
    assert_eq!(e.errno(), Errno::ETIMEDOUT);
    let (status, reply) = recv(&second);
    assert_eq!((status, &reply[..3]), (Ok(2), &b"TWO"[..]));
}

#[test]
fn reply_receive_with_an_answered_rcvid_is_esrch_and_receives_nothing() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(ND_LOCAL_NODE, me(), ch.chid()).unwrap();
    let rx = send_in_thread(coid, b"x".to_vec(), 0);
    let rcvid = receive_message(&ch).into_rcvid();
    msg_reply(rcvid, 0, &[]).unwrap();
    assert_eq!(recv(&rx).0, Ok(0));
    // Something waits on the channel: a pulse (queued once msg_send_pulse returns) and a
    // message.
    msg_send_pulse(coid, 10, 9, 99).unwrap();
    let rx = send_in_thread(coid, b"q".to_vec(), 0);
    let mut buf = [0u8; 64];
    let e = msg_reply_receive(rcvid, 0, b"late", ch.chid(), &mut buf, None).unwrap_err();
    assert_eq!(e.errno(), Errno::ESRCH);
    // Both are still there for plain receives.
    let (mut pulses, mut messages) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        match ch.receive_timeout(64, common::GUARD).unwrap() {
            Received::Pulse(p) => pulses.push((p.code, p.value)),
            Received::Message(m) => {
                messages.push(m.data().to_vec());
                m.reply(0, &[]).unwrap();
            }
        }
    }
    assert_eq!(pulses, vec![(9, 99)]);
    assert_eq!(messages, vec![b"q".to_vec()]);
    assert_eq!(recv(&rx).0, Ok(0));
}

#[test]
fn reply_receive_returns_a_pulse_and_receive_errors() {
    daemon();
    let ch = Channel::create(ChannelFlags::default()).unwrap();
    let chid = ch.chid();
    let coid = connect_attach(ND_LOCAL_NODE, me(), chid).unwrap();
    // The receive half blocks; a pulse sent after the reply arrived wakes it.
    let rx = send_in_thread(coid, b"a".to_vec(), 8);
    let rcvid = receive_message(&ch).into_rcvid();
    let (tx, server) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        arm_receive_guard();
        let r = msg_reply_receive(rcvid, 3, b"A", chid, &mut buf, None);
        let _ = tx.send((r.map_err(|e| e.errno()), buf));
    });
    let (status, reply) = recv(&rx);
    assert_eq!((status, reply[0]), (Ok(3), b'A'));
    msg_send_pulse(coid, 10, 4, 44).unwrap();
    let (r, buf) = recv(&server);
    assert_eq!(r, Ok(0), "rcvid 0: a pulse");
    let p = pulse_from_bytes(&buf).unwrap();
    assert_eq!((p.code, p.value), (4, 44));
    // The idiomatic layer gives the pulse as such.
    let rx = send_in_thread(coid, b"b".to_vec(), 8);
    let m = receive_message(&ch);
    msg_send_pulse(coid, 10, 5, 55).unwrap();
    match m.reply_and_receive(0, b"B", &ch, 64).unwrap() {
        Received::Pulse(p) => assert_eq!((p.code, p.value), (5, 55)),
        Received::Message(_) => panic!("expected the pulse"),
    }
    assert_eq!(recv(&rx).1[0], b'B');
    // A receive buffer too small for a pulse: the reply is made, the receive fails.
    let rx = send_in_thread(coid, b"c".to_vec(), 8);
    let rcvid = receive_message(&ch).into_rcvid();
    let mut small = [0u8; 4];
    let e = msg_reply_receive(rcvid, 0, b"C", chid, &mut small, None).unwrap_err();
    assert_eq!(e.errno(), Errno::EFAULT);
    assert_eq!(recv(&rx).1[0], b'C');
}

/// Sixteen receiver threads on one channel and four clients calling 200 times each: every
/// call is answered (one receiver wakes per message; none is left asleep with work queued).
#[test]
fn many_receivers_answer_every_call() {
    daemon();
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let receivers: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    timer_timeout(
                        TimeoutStates {
                            receive: true,
                            ..Default::default()
                        },
                        Duration::from_millis(200),
                    );
                    let mut buf = [0u8; 16];
                    match msg_receive(ch, &mut buf, None) {
                        Ok(0) => {}
                        Ok(rcvid) => {
                            msg_reply(rcvid, i64::from(buf[0]), &[]).unwrap();
                            n += 1;
                        }
                        Err(e) => assert_eq!(e.errno(), Errno::ETIMEDOUT),
                    }
                }
                n
            })
        })
        .collect();
    let coid = connect_attach(0, 0, ch).unwrap();
    let clients: Vec<_> = (1..=4u8)
        .map(|i| {
            std::thread::spawn(move || {
                for _ in 0..200 {
                    timer_timeout(
                        TimeoutStates {
                            send: true,
                            reply: true,
                            ..Default::default()
                        },
                        common::GUARD,
                    );
                    assert_eq!(msg_send(coid, &[i; 4], &mut []).unwrap(), i64::from(i));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: u32 = receivers.into_iter().map(|r| r.join().unwrap()).sum();
    assert_eq!(answered, 800);
    channel_destroy(ch).unwrap();
}
