//! Test harness: the library's calls in threads, thread states from the daemon's own view, and
//! real `qnetd` and example processes from the workspace test kit (`qnet-testkit`), whose
//! children all die with the test process, even if a test panics or a daemon is held in a
//! `static`.

#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

pub use qnet_testkit::process::pid_chid as parse_pid_chid;
pub use qnet_testkit::{Daemon, GUARD, Proc, example_path, qnetd_path};

/// A client thread sending `data` on `coid` with a `cap`-byte reply buffer; receives
/// (status or errno, reply bytes).
pub fn send_in_thread(
    coid: i32,
    data: Vec<u8>,
    cap: usize,
) -> mpsc::Receiver<(Result<i64, qnet::Errno>, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reply = vec![0u8; cap];
        let r = qnet::neutrino::msg_send(coid, &data, &mut reply).map_err(|e| e.errno());
        let _ = tx.send((r, reply));
    });
    rx
}

/// The next value from `rx`, within the hang guard.
pub fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(GUARD).expect("hang guard")
}

/// A `qnetd` (node `testnode`, default limits) on a socket in a fresh temporary directory;
/// SIGKILLed and reaped on drop. The test kit's [`Daemon`] with these tests' arguments.
pub struct TestDaemon(Daemon);

impl TestDaemon {
    /// Start a daemon and wait until it is ready.
    pub fn start() -> TestDaemon {
        TestDaemon(Daemon::start_with(&["--node", "testnode", "--log", "info"]))
    }
}

impl std::ops::Deref for TestDaemon {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.0
    }
}

impl std::ops::DerefMut for TestDaemon {
    fn deref_mut(&mut self) -> &mut Daemon {
        &mut self.0
    }
}

/// Spawn example `name` with `args`, talking to the daemon at `socket`, stdin a pipe.
pub fn spawn_example(name: &str, args: &[&str], socket: &Path) -> Proc {
    let mut cmd = Command::new(example_path(name));
    cmd.args(args).env("QNET_SOCKET", socket);
    Proc::spawn_piped(format!("{name} {args:?}"), cmd)
}

/// Run `f` on a thread and get its result, with the hang guard.
pub fn with_guard<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(GUARD)
        .expect("call did not return within the hang guard")
}

/// Wait until thread `tid` of process `pid` is in `state` on the daemon at `socket`, as the
/// daemon's own introspection (an ADMIN session snapshot) reports it. This is the observable
/// signal for "the client is SEND-blocked now"; [`GUARD`] only catches a hang.
pub fn wait_thread_state(socket: &Path, pid: u32, tid: u32, state: qnet_proto::local::ThreadState) {
    use qnet_proto::local::{
        AdminRequest, AdminResponse, AdminSnapshot, admin_request, admin_response,
    };
    let mut s = qnet_testkit::admin_session(socket);
    let start = Instant::now();
    loop {
        s.send_message(&AdminRequest {
            query: Some(admin_request::Query::Snapshot(AdminSnapshot {
                node: String::new(),
            })),
        });
        let r: Option<AdminResponse> = s.recv_message();
        let Some(admin_response::Result::Views(views)) = r.and_then(|r| r.result) else {
            panic!("admin snapshot failed");
        };
        let last = views
            .views
            .iter()
            .flat_map(|v| &v.processes)
            .filter(|p| p.nd == 0 && p.pid == pid)
            .flat_map(|p| &p.threads)
            .find(|t| t.tid == tid)
            .map(|t| t.state);
        if last == Some(state as i32) {
            return;
        }
        assert!(
            start.elapsed() < GUARD,
            "thread {pid}/{tid} never reached {state:?} (last {last:?})"
        );
        // Asking again: the daemon answers from its current state each time.
        std::thread::yield_now();
    }
}
