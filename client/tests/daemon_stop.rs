//! The daemon goes away while a thread is blocked: the call fails promptly with EIO naming
//! the socket; after a restart, calls work again.

mod common;

use std::sync::mpsc;

use common::TestDaemon;
use qnet::Errno;
use qnet::neutrino::*;

#[test]
fn daemon_stopped_while_blocked_then_restarted() {
    let mut d = TestDaemon::start();
    qnet::set_socket_path(d.socket());
    let chid = channel_create(ChannelFlags::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Open this thread's session first, then block.
        let c = channel_create(ChannelFlags::default()).unwrap();
        let _ = ready_tx.send(c);
        let _ = tx.send(msg_receive(c, &mut [0u8; 32], None));
    });
    let _ = ready_rx.recv_timeout(common::GUARD).expect("thread ready");
    d.terminate();
    let r = rx
        .recv_timeout(common::GUARD)
        .expect("blocked call returned");
    let e = r.expect_err("receive must fail when the daemon stops");
    assert_eq!(e.errno(), Errno::EIO);
    let socket = d.socket().display().to_string();
    assert!(e.to_string().contains(&socket), "{e}");

    // A call on this thread's (now dead) session: EIO too, and then reconnection.
    let e = channel_destroy(chid).unwrap_err();
    assert_eq!(e.errno(), Errno::EIO);
    let e = channel_create(ChannelFlags::default()).unwrap_err();
    assert_eq!(e.errno(), Errno::EIO, "no daemon: connect fails");
    assert!(e.to_string().contains(&socket), "{e}");
    d.restart();
    assert_eq!(
        channel_create(ChannelFlags::default()).unwrap(),
        1,
        "fresh process state"
    );
}
