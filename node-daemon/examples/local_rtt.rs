//! Rough local round-trip measurement against a running `qnetd`: `MsgSend`→`MsgReceive`→
//! `MsgReply` through the daemon, next to a raw Unix-socket ping-pong of the same size, in one
//! run. Usage: `qnetd --socket /tmp/q.sock & cargo run --release --example local_rtt -- /tmp/q.sock`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use qnet_proto::frame::blocking::{read_frame, write_frame};
use qnet_proto::local::{
    self, ClientFrame, DaemonFrame, Request, SessionKind, client_frame, daemon_frame, request,
    response,
};

const ROUNDS: usize = 20_000;
const PAYLOAD: usize = 64;

fn session(path: &PathBuf, tid: u32) -> UnixStream {
    let mut s = UnixStream::connect(path).expect("connect");
    qnet_proto::hello::open(&mut s, SessionKind::Thread, tid).expect("hello");
    s
}

fn call(s: &mut UnixStream, c: request::Call) -> response::Result {
    send(s, c);
    recv(s)
}

fn send(s: &mut UnixStream, c: request::Call) {
    let f = ClientFrame {
        frame: Some(client_frame::Frame::Request(Request { call: Some(c) })),
    };
    write_frame(s, &f).unwrap();
}

fn recv(s: &mut UnixStream) -> response::Result {
    let f: DaemonFrame = read_frame(s, 1 << 24).unwrap().unwrap();
    match f.frame {
        Some(daemon_frame::Frame::Response(local::Response { result: Some(r) })) => r,
        other => panic!("{other:?}"),
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn report(name: &str, mut v: Vec<Duration>) -> Duration {
    let p50 = percentile(&mut v, 0.5);
    let p99 = percentile(&mut v, 0.99);
    println!("{name:>6}: p50 {p50:>9.1?}  p99 {p99:>9.1?}");
    p50
}

fn raw() -> Vec<Duration> {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; PAYLOAD + 4];
        while b.read_exact(&mut buf).is_ok() {
            b.write_all(&buf).unwrap();
        }
    });
    let msg = [7u8; PAYLOAD + 4];
    let mut buf = [0u8; PAYLOAD + 4];
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        a.write_all(&msg).unwrap();
        a.read_exact(&mut buf).unwrap();
        times.push(t.elapsed());
    }
    drop(a);
    echo.join().unwrap();
    times
}

fn qnet(path: &PathBuf) -> Vec<Duration> {
    let mut server = session(path, 1_000_001);
    let mut client = session(path, 1_000_002);
    let response::Result::Chid(chid) = call(
        &mut server,
        request::Call::ChannelCreate(local::ChannelCreate { flags: 0 }),
    ) else {
        panic!("ChannelCreate")
    };
    let response::Result::Coid(coid) = call(
        &mut client,
        request::Call::ConnectAttach(local::ConnectAttach {
            nd: 0,
            pid: 0,
            chid,
        }),
    ) else {
        panic!("ConnectAttach")
    };
    let srv = std::thread::spawn(move || {
        let receive = || {
            request::Call::MsgReceive(local::MsgReceive {
                chid,
                cap: 1024,
                timeout: None,
                ..Default::default()
            })
        };
        send(&mut server, receive());
        for _ in 0..ROUNDS {
            let response::Result::Message(m) = recv(&mut server) else {
                panic!("receive")
            };
            let reply = request::Call::MsgReply(local::MsgReply {
                rcvid: m.rcvid,
                status: 0,
                data: m.data,
                ..Default::default()
            });
            let _done = call(&mut server, reply);
            send(&mut server, receive());
        }
    });
    let data = Bytes::from(vec![7u8; PAYLOAD]);
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let r = call(
            &mut client,
            request::Call::MsgSend(local::MsgSend {
                coid,
                data: data.clone(),
                reply_cap: 1024,
                priority: 10,
                timeout: None,
                ..Default::default()
            }),
        );
        times.push(t.elapsed());
        assert!(matches!(r, response::Result::Reply(_)));
    }
    srv.join().unwrap();
    times
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(qnet_proto::socket_path);
    let raw = report("raw", raw());
    let q = report("qnet", qnet(&path));
    println!(
        " ratio: {:.2} (p50 qnet / raw)",
        q.as_secs_f64() / raw.as_secs_f64()
    );
}
