//! The daemon stops (SIGTERM) while clients are REPLY-blocked on a server in another process:
//! every blocked call fails with `EIO` ("daemon closed the session"), as README says, never
//! with the `ESRCH` a server's death would give (issue 12: the server's process exit, run
//! while the sessions were closing, could reach a client first).

mod common;

use std::sync::mpsc;

use common::{TestDaemon, spawn_example};
use qnet::Errno;
use qnet::neutrino::*;

const CLIENTS: usize = 8;

#[test]
fn reply_blocked_clients_get_eio_when_the_daemon_stops() {
    let mut d = TestDaemon::start();
    qnet::set_socket_path(d.socket());
    // Replies only after 10 minutes: every client stays REPLY-blocked.
    let mut server = spawn_example("unblock_server", &["600"], d.socket());
    let (pid, chid) = common::parse_pid_chid(&server.expect_prefix("pid="));
    let (tx, rx) = mpsc::channel();
    for _ in 0..CLIENTS {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let r = connect_attach(0, pid, chid)
                .and_then(|coid| msg_send(coid, b"hold", &mut [0u8; 16]));
            let _ = tx.send(r.map_err(|e| (e.errno(), e.to_string())));
        });
    }
    for _ in 0..CLIENTS {
        server.expect_prefix("received rcvid=");
    }
    d.terminate();
    for _ in 0..CLIENTS {
        let r = rx
            .recv_timeout(common::GUARD)
            .expect("blocked call returned");
        let (errno, text) = r.expect_err("the send must fail when the daemon stops");
        assert_eq!(errno, Errno::EIO, "{text}");
        assert!(text.contains("daemon closed the session"), "{text}");
    }
}
