//! Process deaths and cross-process permissions, with real processes (examples, or this test
//! binary re-run as a helper) against one real `qnetd`. Tests here run one at a time: process
//! deaths produce pulses for every channel of ours with the matching flag.

mod common;

use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, mpsc};

use common::{Proc, TestDaemon, parse_pid_chid, spawn_example};
use qnet::neutrino::*;
use qnet::{Channel, Errno, Received};

fn daemon() -> &'static TestDaemon {
    static D: OnceLock<TestDaemon> = OnceLock::new();
    D.get_or_init(|| {
        let d = TestDaemon::start();
        qnet::set_socket_path(d.socket());
        d
    })
}

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

const HELPER_ENV: &str = "QNET_TEST_HELPER";

/// Not a test on its own: this binary re-run with `QNET_TEST_HELPER=hold` becomes a server
/// that receives one message, holds it unanswered and never receives again.
#[test]
fn helper() {
    if std::env::var(HELPER_ENV).as_deref() != Ok("hold") {
        return;
    }
    let chid = channel_create(ChannelFlags::default()).unwrap();
    println!("pid={} chid={chid}", std::process::id());
    let mut buf = [0u8; 64];
    let rcvid = msg_receive(chid, &mut buf, None).unwrap();
    println!("received rcvid={rcvid}");
    loop {
        std::thread::park();
    }
}

fn spawn_helper() -> Proc {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["helper", "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, "hold")
        .env("QNET_SOCKET", daemon().socket());
    Proc::spawn_piped("helper", cmd)
}

fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(common::GUARD).expect("hang guard")
}

fn pulse(ch: &Channel) -> Pulse {
    match ch.receive_timeout(64, common::GUARD).unwrap() {
        Received::Pulse(p) => p,
        Received::Message(m) => panic!("expected a pulse, got message {:?}", m.into_rcvid()),
    }
}

#[test]
fn client_killed_while_reply_blocked() {
    let _s = serial();
    let d = daemon();
    let ch = Channel::create(ChannelFlags::UNBLOCK | ChannelFlags::DISCONNECT).unwrap();
    let mut client = spawn_example(
        "checksum_client",
        &[&std::process::id().to_string(), &ch.chid().to_string(), "x"],
        d.socket(),
    );
    let m = match ch.receive_timeout(64, common::GUARD).unwrap() {
        Received::Message(m) => m,
        Received::Pulse(p) => panic!("{p:?}"),
    };
    let scoid = m.info().scoid;
    assert_eq!(m.info().pid, client.pid());
    client.kill();
    // UNBLOCK channel: first the unblock pulse for the dead REPLY-blocked thread, then the
    // disconnect pulse for its process.
    let p = pulse(&ch);
    assert_eq!(
        (p.code, i64::from(p.value)),
        (PulseCode::UNBLOCK, m.rcvid())
    );
    let p = pulse(&ch);
    assert_eq!((p.code, p.scoid), (PulseCode::DISCONNECT, scoid));
    assert_eq!(m.reply(0, &[]).unwrap_err().errno(), Errno::ESRCH);
    scoid_detach(scoid).unwrap();
}

#[test]
fn server_killed_while_clients_blocked() {
    let _s = serial();
    daemon();
    let notify = Channel::create(ChannelFlags::COID_DISCONNECT).unwrap();
    let mut server = spawn_helper();
    let (pid, chid) = parse_pid_chid(&server.expect_line("pid=", |l| l.contains("pid=")));
    let coid = connect_attach(0, pid, chid).unwrap();
    let send = |coid| {
        let (tx, rx) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tid_tx.send(gettid());
            let _ = tx.send(msg_send(coid, b"x", &mut []).map_err(|e| e.errno()));
        });
        (recv(&tid_rx), rx)
    };
    let (_, reply_blocked) = send(coid);
    server.expect_line("received", |l| l.contains("received rcvid="));
    let (tid, send_blocked) = send(coid);
    // The daemon's own view says when the second sender is SEND-blocked.
    common::wait_thread_state(
        daemon().socket(),
        std::process::id(),
        tid,
        qnet_proto::local::ThreadState::Send,
    );
    server.kill();
    assert_eq!(recv(&reply_blocked), Err(Errno::ESRCH));
    assert_eq!(recv(&send_blocked), Err(Errno::ESRCH));
    assert_eq!(
        msg_send(coid, b"x", &mut []).unwrap_err().errno(),
        Errno::EBADF
    );
    let p = pulse(&notify);
    assert_eq!((p.code, p.value), (PulseCode::COIDDEATH, coid));
}

#[test]
fn private_channel_refuses_other_processes() {
    let _s = serial();
    let d = daemon();
    let ch = Channel::create(ChannelFlags::PRIVATE).unwrap();
    let mut client = spawn_example(
        "checksum_client",
        &[&std::process::id().to_string(), &ch.chid().to_string(), "x"],
        d.socket(),
    );
    let (st, _) = client.wait_exit_lines();
    assert!(!st.success());
    assert!(client.stderr().contains("EPERM"), "{}", client.stderr());
}

#[test]
fn event_for_another_server_is_refused() {
    let _s = serial();
    let d = daemon();
    let mut server = spawn_example("event_server", &["proc-event-server"], d.socket());
    server.expect_line("attach", |l| l == "attached proc-event-server");
    let mine = Channel::create(ChannelFlags::default()).unwrap();
    let self_coid = connect_attach(0, 0, mine.chid()).unwrap();
    let event_server = name_open("proc-event-server").unwrap();
    // Registered for *our* channel's server (us), then handed to event_server: it may not
    // deliver it, and its MsgVerifyEvent says so.
    let ev = PulseEvent {
        coid: self_coid,
        priority: 10,
        code: 1,
        value: 0,
        updateable: true,
    };
    let h = msg_register_event(&ev, self_coid).unwrap();
    let e = msg_send(event_server, &h.to_le_bytes(), &mut []).unwrap_err();
    assert_eq!(e.errno(), Errno::EPERM, "{e}");
    // Registered for event_server: accepted and delivered.
    let h = msg_register_event(&ev, event_server).unwrap();
    msg_send(event_server, &h.to_le_bytes(), &mut []).unwrap();
    let p = pulse(&mine);
    assert_eq!(p.code, 1);
    assert!(p.value > 0);
}
