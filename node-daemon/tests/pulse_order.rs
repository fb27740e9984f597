//! The order of one-way pulses and calls on the serving daemon, driven by hand: a raw QUIC
//! peer (`raw`, valid cluster certificate) sends a call tagged "after 2 pulses" before it
//! sends the pulses, so the call arrives first. The daemon must hold the call until it has
//! handled the two pulses from the connection's pulse stream; the server then receives both
//! pulses, then the message. A notice (the sender's exit) tagged after a pulse not yet sent is
//! held the same way.

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{Client, errno};
use qnet_proto::local::{self, request, response};
use qnet_proto::peer::{
    PeerControl, PeerNotice, PeerPulse, PeerPulses, ProcessExit, peer_control, peer_notice,
    peer_stream_frame,
};
use qnet_testkit::{Certs, PeerNode as Node, RawPeer};

const ETIMEDOUT: i32 = 110;
/// `_PULSE_CODE_DISCONNECT`.
const DISCONNECT: i32 = -33;

fn receive(server: &mut Client, chid: i32, timeout_ms: Option<u64>) -> response::Result {
    server.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 64,
        timeout: timeout_ms.map(|ms| local::Timeout {
            send: false,
            reply: false,
            receive: true,
            after_ns: ms * 1_000_000,
        }),
        ..Default::default()
    }))
}

fn start(certs: &Path) -> Node {
    Node::start(certs, "n2", 0, &[], &[])
}

#[test]
fn calls_and_notices_wait_for_the_pulses_queued_before_them() {
    let certs = Certs::temp("c", &["n2", "raw"]);
    let n2 = start(certs.dir());
    let mut server = n2.daemon.thread(5);
    let chid = match server.call(request::Call::NameAttach(local::NameAttach {
        name: "order".into(),
        flags: 0,
    })) {
        response::Result::Chid(c) => c,
        other => panic!("NameAttach: {other:?}"),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut raw = rt.block_on(RawPeer::connect(certs.dir(), n2.addr));
    let coid = match rt.block_on(raw.call(request::Call::NameOpen(local::NameOpen {
        name: "order".into(),
    }))) {
        response::Result::Coid(c) => c,
        other => panic!("name_open: {other:?}"),
    };
    // The call first, tagged: run after 2 pulses of this connection.
    let mut frame = raw.call_frame(
        4242,
        1,
        local::Request {
            call: Some(request::Call::MsgSend(local::MsgSend {
                coid,
                data: Bytes::from_static(b"after"),
                reply_cap: 16,
                priority: 10,
                timeout: None,
                ..Default::default()
            })),
        },
    );
    if let Some(peer_stream_frame::Frame::Call(c)) = &mut frame.frame {
        c.after_pulses = 2;
    }
    let _call = rt.block_on(async {
        let (mut s, r) = raw.conn.open_bi().await.expect("a call stream");
        s.write_all(&qnet_proto::frame::frame_to_vec(&frame))
            .await
            .expect("sending the call");
        s.finish().expect("finishing the call stream");
        (s, r)
    });
    // It is held: nothing to receive (a wait long enough for an unheld call to arrive).
    let r = receive(&mut server, chid, Some(500));
    assert_eq!(errno(&r), Some(ETIMEDOUT), "the call ran early: {r:?}");
    // Now the pulses, on the connection's pulse stream.
    let pulses = PeerPulses {
        pulses: (1..=2)
            .map(|value| PeerPulse {
                pid: 4242,
                tid: 1,
                coid,
                priority: 10,
                code: 5,
                value,
            })
            .collect(),
    };
    let mut pulse_stream = rt.block_on(async {
        let mut u = raw.conn.quinn().open_uni().await.expect("a pulse stream");
        u.write_all(&qnet_proto::frame::frame_to_vec(&pulses))
            .await
            .expect("sending the pulses");
        u
    });
    for value in 1..=2 {
        match receive(&mut server, chid, None) {
            response::Result::Pulse(p) => {
                assert_eq!((p.code, p.value), (5, value), "pulse {value}: {p:?}")
            }
            other => panic!("expected pulse {value} first: {other:?}"),
        }
    }
    let rcvid = match receive(&mut server, chid, None) {
        response::Result::Message(m) => {
            assert_eq!(&m.data[..], b"after");
            m.rcvid
        }
        other => panic!("expected the message after the pulses: {other:?}"),
    };
    let r = server.call(request::Call::MsgReply(local::MsgReply {
        rcvid,
        status: 0,
        data: Bytes::new(),
        ..Default::default()
    }));
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");

    // A notice is held the same way: the sender's exit, tagged after a third pulse that has
    // not come yet, does not disconnect it...
    let exit = PeerControl {
        frame: Some(peer_control::Frame::Notice(PeerNotice {
            notice: Some(peer_notice::Notice::ProcessExit(ProcessExit {
                pid: 4242,
                next_seq: 0,
            })),
            after_pulses: 3,
        })),
    };
    rt.block_on(async {
        raw.control
            .0
            .write_all(&qnet_proto::frame::frame_to_vec(&exit))
            .await
            .expect("sending the notice")
    });
    let r = receive(&mut server, chid, Some(500));
    assert_eq!(
        errno(&r),
        Some(ETIMEDOUT),
        "the exit was applied early: {r:?}"
    );
    // ...until that pulse arrives: the pulse, then the disconnect pulse of the exit.
    let third = PeerPulses {
        pulses: vec![PeerPulse {
            pid: 4242,
            tid: 1,
            coid,
            priority: 10,
            code: 5,
            value: 3,
        }],
    };
    rt.block_on(async {
        pulse_stream
            .write_all(&qnet_proto::frame::frame_to_vec(&third))
            .await
            .expect("sending the third pulse")
    });
    match receive(&mut server, chid, None) {
        response::Result::Pulse(p) => assert_eq!((p.code, p.value), (5, 3), "{p:?}"),
        other => panic!("expected pulse 3 before the exit: {other:?}"),
    }
    match receive(&mut server, chid, None) {
        response::Result::Pulse(p) => assert_eq!(p.code, DISCONNECT, "{p:?}"),
        other => panic!("expected the disconnect pulse: {other:?}"),
    }
}
