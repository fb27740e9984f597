//! Session handling of a real `qnetd`: hello, refusals, and bad frames that close only the
//! session that sent them.

mod common;

use bytes::Bytes;
use common::{Daemon, MAX_MESSAGE, channel_create, errno};
use qnet_proto::frame::{FRAME_OVERHEAD, frame_to_vec};
use qnet_proto::local::{
    self, ClientFrame, Hello, Request, SessionKind, client_frame, daemon_frame, request, response,
};

#[test]
fn hello_ack_carries_peer_pid_node_and_limit() {
    let d = Daemon::start();
    let mut c = d.connect();
    let ack = c.hello(SessionKind::Thread, 1).expect("ack");
    assert_eq!(ack.pid, std::process::id());
    assert_eq!(ack.version, qnet_proto::LOCAL_PROTOCOL_VERSION);
    assert_eq!(ack.node, "testnode");
    assert_eq!(ack.max_message_size, MAX_MESSAGE);
    let mut p = d.connect();
    assert_eq!(
        p.hello(SessionKind::Process, 0).expect("ack").pid,
        std::process::id()
    );
}

#[test]
fn version_mismatch_is_refused_naming_both_versions() {
    let d = Daemon::start();
    let mut c = d.connect();
    c.send(client_frame::Frame::Hello(Hello {
        version: 999,
        tid: 1,
        kind: 0,
        ..Default::default()
    }));
    match c.recv() {
        Some(daemon_frame::Frame::Refused(r)) => {
            assert!(r.reason.contains("999"), "{}", r.reason);
            assert!(
                r.reason
                    .contains(&format!("version {}", qnet_proto::LOCAL_PROTOCOL_VERSION)),
                "{}",
                r.reason
            );
            assert_eq!(r.daemon_version, qnet_proto::LOCAL_PROTOCOL_VERSION);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(c.is_closed_by_daemon());
}

#[test]
fn a_second_session_for_the_same_thread_is_refused() {
    let d = Daemon::start();
    let mut a = d.thread(7);
    let mut b = d.connect();
    b.send(client_frame::Frame::Hello(Hello {
        version: qnet_proto::LOCAL_PROTOCOL_VERSION,
        tid: 7,
        kind: SessionKind::Thread as i32,
        ..Default::default()
    }));
    assert!(matches!(b.recv(), Some(daemon_frame::Frame::Refused(_))));
    assert!(b.is_closed_by_daemon());
    channel_create(&mut a);
}

/// Every bad input closes its own session, logs why with the peer pid, and leaves the
/// daemon serving another session.
#[test]
fn bad_frames_close_only_their_session() {
    let d = Daemon::start();
    let mut good = d.thread(1);
    let limit = MAX_MESSAGE as usize + FRAME_OVERHEAD;
    let empty_frame = frame_to_vec(&ClientFrame { frame: None });
    let request_frame = frame_to_vec(&ClientFrame {
        frame: Some(client_frame::Frame::Request(Request {
            call: Some(request::Call::ChannelCreate(local::ChannelCreate {
                flags: 0,
            })),
        })),
    });
    let over_limit = ((limit + 1) as u32).to_le_bytes();

    // (needs hello first, bytes, shut down our writing side after, reason in the log)
    let cases: Vec<(bool, Vec<u8>, bool, &str)> = vec![
        (false, vec![0xff; 16], false, "exceeds the limit"),
        (
            false,
            [&[6, 0, 0, 0][..], &[0xff; 6]].concat(),
            false,
            "malformed frame",
        ),
        (false, request_frame.clone(), false, "request before hello"),
        (
            false,
            [&[100, 0, 0, 0][..], &[1; 10]].concat(),
            true,
            "stream ended inside a frame",
        ),
        (
            true,
            [&[8, 0, 0, 0][..], &[0xff; 8]].concat(),
            false,
            "malformed frame",
        ),
        (
            true,
            [&[50, 0, 0, 0][..], &[0x0a; 5]].concat(),
            true,
            "stream ended inside a frame",
        ),
        (true, over_limit.to_vec(), false, "exceeds the limit"),
        (true, empty_frame, false, "empty frame"),
        (
            true,
            frame_to_vec(&ClientFrame {
                frame: Some(client_frame::Frame::Request(Request { call: None })),
            }),
            false,
            "request carries no call",
        ),
        (
            true,
            frame_to_vec(&ClientFrame {
                frame: Some(client_frame::Frame::Hello(Hello {
                    version: 1,
                    tid: 99,
                    kind: 0,
                    ..Default::default()
                })),
            }),
            false,
            "second hello",
        ),
    ];
    for (i, (hello, bytes, shut, reason)) in cases.into_iter().enumerate() {
        let mut bad = d.connect();
        if hello {
            bad.hello(SessionKind::Thread, 100 + i as u32).expect("ack");
        }
        bad.send_raw(&bytes);
        if shut {
            bad.stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        assert!(bad.is_closed_by_daemon(), "case {i} ({reason})");
        d.expect_closed_warning(reason);
        // The other session is untouched and the daemon still serves calls.
        channel_create(&mut good);
    }
    assert!(!d.logs.dump().contains("panicked"), "{}", d.logs.dump());
}

#[test]
fn out_of_range_values_get_einval_and_the_session_lives_on() {
    let d = Daemon::start();
    let mut c = d.thread(1);
    let r = c.call(request::Call::MsgSendPulse(local::MsgSendPulse {
        coid: 1,
        priority: 300,
        code: 1,
        value: 0,
    }));
    assert_eq!(errno(&r), Some(22), "{r:?}");
    let r = c.call(request::Call::ShmOpenHandle(local::ShmOpenHandle {
        handle: 1,
        perms: 0,
    }));
    assert_eq!(errno(&r), Some(71), "{r:?}");
    channel_create(&mut c);
}

#[test]
fn a_process_session_that_sends_a_frame_is_closed() {
    let d = Daemon::start();
    let mut good = d.thread(1);
    let mut p = d.connect();
    p.hello(SessionKind::Process, 0).expect("ack");
    p.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::ChannelCreate(local::ChannelCreate {
            flags: 0,
        })),
    }));
    assert!(p.is_closed_by_daemon());
    d.expect_closed_warning("a process session sends no frames");
    channel_create(&mut good);
}

/// A `MsgSend` on one session completes the `MsgReceive` blocked on another, and the
/// `MsgReply` completes the send: completions are routed between sessions.
#[test]
fn send_receive_reply_across_sessions() {
    let d = Daemon::start();
    let mut server = d.thread(1);
    let mut client = d.thread(2);
    let chid = channel_create(&mut server);
    server.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::MsgReceive(local::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
            ..Default::default()
        })),
    }));
    let coid = match client.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: 0,
        chid,
    })) {
        response::Result::Coid(c) => c,
        other => panic!("ConnectAttach: {other:?}"),
    };
    client.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::MsgSend(local::MsgSend {
            coid,
            data: Bytes::from_static(b"ping"),
            reply_cap: 64,
            priority: 10,
            timeout: None,
            ..Default::default()
        })),
    }));
    let rcvid = match server.response() {
        response::Result::Message(m) => {
            assert_eq!(m.data, Bytes::from_static(b"ping"));
            let info = m.info.expect("info");
            assert_eq!(info.pid, std::process::id());
            assert_eq!(info.tid, 2);
            m.rcvid
        }
        other => panic!("MsgReceive: {other:?}"),
    };
    let r = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 5,
        data: Bytes::from_static(b"pong"),
        ..Default::default()
    }));
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");
    match client.response() {
        response::Result::Reply(r) => {
            assert_eq!(r.status, 5);
            assert_eq!(r.data, Bytes::from_static(b"pong"));
        }
        other => panic!("MsgSend: {other:?}"),
    }
}

/// The timer task fires kernel timeouts: a `MsgReceive` with a receive timeout ends with
/// `ETIMEDOUT` (the hang guard is the client's read timeout).
#[test]
fn receive_timeout_fires() {
    let d = Daemon::start();
    let mut c = d.thread(1);
    let chid = channel_create(&mut c);
    let r = c.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 64,
        timeout: Some(local::Timeout {
            send: false,
            reply: false,
            receive: true,
            after_ns: 20_000_000,
        }),
        ..Default::default()
    }));
    assert_eq!(errno(&r), Some(110), "{r:?}");
}

/// A send larger than `--max-message-size` (but within the frame headroom) is refused by the
/// kernel with `EMSGSIZE`; the session lives on.
#[test]
fn oversized_send_gets_emsgsize() {
    let d = Daemon::start();
    let mut c = d.thread(1);
    let chid = channel_create(&mut c);
    let coid = match c.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: 0,
        chid,
    })) {
        response::Result::Coid(c) => c,
        other => panic!("ConnectAttach: {other:?}"),
    };
    let r = c.call(request::Call::MsgSend(local::MsgSend {
        coid,
        data: Bytes::from(vec![0u8; MAX_MESSAGE as usize + 1]),
        reply_cap: 16,
        priority: 10,
        timeout: None,
        ..Default::default()
    }));
    assert_eq!(errno(&r), Some(90), "{r:?}");
    channel_create(&mut c);
}

/// A THREAD session that closes while its send is REPLY-blocked is a thread exit: the
/// server's later reply finds no one (`ESRCH`).
#[test]
fn closing_a_blocked_thread_session_is_a_thread_exit() {
    let d = Daemon::start();
    let mut server = d.thread(1);
    let mut client = d.thread(2);
    let chid = channel_create(&mut server);
    let coid = match client.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: 0,
        chid,
    })) {
        response::Result::Coid(c) => c,
        other => panic!("ConnectAttach: {other:?}"),
    };
    client.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::MsgSend(local::MsgSend {
            coid,
            data: Bytes::from_static(b"hi"),
            reply_cap: 8,
            priority: 10,
            timeout: None,
            ..Default::default()
        })),
    }));
    let rcvid = match server.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 64,
        timeout: None,
        ..Default::default()
    })) {
        response::Result::Message(m) => m.rcvid,
        other => panic!("MsgReceive: {other:?}"),
    };
    drop(client);
    let exit = format!("thread={}/{}/2", 0, std::process::id());
    assert!(
        d.logs
            .wait(|l| l.contains("thread exit") && l.contains(&exit))
            .is_some(),
        "{}",
        d.logs.dump()
    );
    let r = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 0,
        data: Bytes::new(),
        ..Default::default()
    }));
    assert_eq!(errno(&r), Some(3), "{r:?}");
}

/// A single-node daemon (no `--listen`) still knows its own name: `node/name` with its own
/// node means "here", and netmgr maps that name to nd 0.
#[test]
fn single_node_daemon_knows_its_own_node_name() {
    let d = Daemon::start();
    let mut server = d.thread(1);
    let chid = match server.call(request::Call::NameAttach(local::NameAttach {
        name: "svc".into(),
        flags: 0,
    })) {
        response::Result::Chid(chid) => chid,
        other => panic!("NameAttach: {other:?}"),
    };
    assert!(chid > 0);
    let mut client = d.thread(2);
    match client.call(request::Call::NameOpen(local::NameOpen {
        name: "testnode/svc".into(),
    })) {
        response::Result::Coid(coid) => assert!(coid > 0),
        other => panic!("NameOpen testnode/svc: {other:?}"),
    }
    match client.call(request::Call::NetmgrStrToNd(local::NetmgrStrToNd {
        name: "testnode".into(),
    })) {
        response::Result::Nd(nd) => assert_eq!(nd, 0),
        other => panic!("NetmgrStrToNd: {other:?}"),
    }
    let r = client.call(request::Call::NameOpen(local::NameOpen {
        name: "elsewhere/svc".into(),
    }));
    assert_eq!(errno(&r), Some(libc::EHOSTUNREACH), "{r:?}");
}

/// A client thread that ends with an answer it never read (killed, or cancelled with its
/// call in flight) resets its socket: the daemon ends the session as an ordinary end, at
/// debug level, not with a warning an operator would chase.
#[test]
fn a_client_that_goes_away_with_an_unread_answer_is_no_warning() {
    use std::os::fd::AsFd;
    let d = Daemon::start();
    let mut good = d.thread(1);
    let mut gone = d.thread(2);
    gone.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::ChannelCreate(local::ChannelCreate {
            flags: 0,
        })),
    }));
    // Wait for the answer to arrive, then close without reading it.
    let mut fds = [nix::poll::PollFd::new(
        gone.stream.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(30_000u16)).unwrap();
    assert_eq!(ready, 1, "the answer never came");
    drop(gone);
    let pid = format!("pid={}", std::process::id());
    let ended = d
        .logs
        .wait(|l| l.contains("the client went away") && l.contains(&pid));
    assert!(ended.is_some(), "{}", d.logs.dump());
    let warned = d
        .logs
        .dump()
        .lines()
        .any(|l| l.contains("WARN") && l.contains("closing session"));
    assert!(!warned, "{}", d.logs.dump());
    channel_create(&mut good);
}
