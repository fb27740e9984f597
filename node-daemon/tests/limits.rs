//! Bounded resources and coid-death fan-out on a real `qnetd`: a daemon started with small
//! `--limit-*` flags refuses a process past each limit with `EAGAIN` and logs it once per
//! process and limit; coid-death pulses go to one death channel per process.

mod common;

use bytes::Bytes;
use common::{Client, Daemon, errno};
use qnet_proto::local::{self, request, response};

const EAGAIN: i32 = 11;
const ETIMEDOUT: i32 = 110;
const COIDDEATH: i32 = -35;

fn start_with(args: &[&str]) -> (Daemon, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::spawn_with(&dir.path().join("qnetd.sock"), args);
    d.wait_ready();
    (d, dir)
}

fn channel_create(c: &mut Client, flags: u32) -> response::Result {
    c.call(request::Call::ChannelCreate(local::ChannelCreate { flags }))
}

fn attach(c: &mut Client, chid: i32) -> response::Result {
    c.call(request::Call::ConnectAttach(local::ConnectAttach {
        nd: 0,
        pid: 0,
        chid,
    }))
}

fn pulse(c: &mut Client, coid: i32) -> response::Result {
    c.call(request::Call::MsgSendPulse(local::MsgSendPulse {
        coid,
        priority: 10,
        code: 1,
        value: 0,
    }))
}

/// `MsgReceive` on `chid` that does not wait: the pulse code, or the errno.
fn receive_now(c: &mut Client, chid: i32) -> Result<i32, i32> {
    let r = c.call(request::Call::MsgReceive(local::MsgReceive {
        chid,
        cap: 64,
        timeout: Some(local::Timeout {
            send: false,
            reply: false,
            receive: true,
            after_ns: 0,
        }),
        ..Default::default()
    }));
    match r {
        response::Result::Pulse(p) => Ok(p.code),
        other => Err(errno(&other).unwrap_or_else(|| panic!("receive: {other:?}"))),
    }
}

fn limit_logs(d: &Daemon, limit: &str) -> usize {
    let tag = format!("limit=\"{limit}\"");
    d.logs
        .count(|l| l.contains("limit hit") && l.contains(&tag))
}

#[test]
fn a_daemon_with_small_limits_refuses_past_each_with_eagain_and_logs_once() {
    let (d, _dir) = start_with(&[
        "--limit-channels",
        "2",
        "--limit-connections",
        "2",
        "--limit-queued-pulses",
        "2",
        "--limit-message-bytes",
        "8",
    ]);
    let mut c = d.thread(1);
    // Channels: two, then EAGAIN (twice, logged once).
    let chid = match channel_create(&mut c, 0) {
        response::Result::Chid(chid) => chid,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        channel_create(&mut c, 0),
        response::Result::Chid(_)
    ));
    assert_eq!(errno(&channel_create(&mut c, 0)), Some(EAGAIN));
    assert_eq!(errno(&channel_create(&mut c, 0)), Some(EAGAIN));
    // Connections: two, then EAGAIN.
    let coid = match attach(&mut c, chid) {
        response::Result::Coid(coid) => coid,
        other => panic!("{other:?}"),
    };
    assert!(matches!(attach(&mut c, chid), response::Result::Coid(_)));
    assert_eq!(errno(&attach(&mut c, chid)), Some(EAGAIN));
    // Queued pulses: two wait on the channel, the third is refused; receiving makes room.
    assert!(matches!(pulse(&mut c, coid), response::Result::Done(_)));
    assert!(matches!(pulse(&mut c, coid), response::Result::Done(_)));
    assert_eq!(errno(&pulse(&mut c, coid)), Some(EAGAIN));
    assert_eq!(receive_now(&mut c, chid), Ok(1));
    assert!(matches!(pulse(&mut c, coid), response::Result::Done(_)));
    // Message bytes: a 9-byte send is over the 8 bytes this process may have in flight.
    let mut sender = d.thread(2);
    let r = sender.call(request::Call::MsgSend(local::MsgSend {
        coid,
        data: Bytes::from_static(b"123456789"),
        reply_cap: 0,
        priority: 10,
        timeout: None,
        ..Default::default()
    }));
    assert_eq!(errno(&r), Some(EAGAIN), "{r:?}");

    for limit in ["channels", "connections", "queued_pulses", "message_bytes"] {
        assert!(
            d.logs
                .wait_count(1, |l| l.contains("limit hit") && l.contains(limit))
                .is_some(),
            "no log for {limit}:\n{}",
            d.logs.dump()
        );
    }
    assert_eq!(limit_logs(&d, "channels"), 1, "{}", d.logs.dump());
    // The daemon still serves the process within its limits.
    assert_eq!(receive_now(&mut c, chid), Ok(1));
}

/// A process with several channels carrying `_NTO_CHF_COID_DISCONNECT` (three `name_attach`
/// channels here) and five connections to a channel that goes away gets five coid-death
/// pulses, all on its first flagged channel; before, each flagged channel got all five.
#[test]
fn coid_death_pulses_go_to_one_death_channel_per_process() {
    let (d, _dir) = start_with(&[]);
    let mut c = d.thread(1);
    let named: Vec<i32> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            match c.call(request::Call::NameAttach(local::NameAttach {
                name: (*name).into(),
                flags: 0,
            })) {
                response::Result::Chid(chid) => chid,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let server = match channel_create(&mut c, 0) {
        response::Result::Chid(chid) => chid,
        other => panic!("{other:?}"),
    };
    for _ in 0..5 {
        assert!(matches!(attach(&mut c, server), response::Result::Coid(_)));
    }
    let r = c.call(request::Call::ChannelDestroy(local::ChannelDestroy {
        chid: server,
    }));
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");
    let mut counts = Vec::new();
    for &chid in &named {
        let mut n = 0;
        loop {
            match receive_now(&mut c, chid) {
                Ok(COIDDEATH) => n += 1,
                Ok(other) => panic!("unexpected pulse code {other}"),
                Err(e) => {
                    assert_eq!(e, ETIMEDOUT);
                    break;
                }
            }
        }
        counts.push(n);
    }
    assert_eq!(counts, [5, 0, 0], "coid-death pulses per named channel");
}
