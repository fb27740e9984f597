//! Issue 22 item 2: descriptors. The thread sessions of one client process cost the daemon
//! one socket each and one pidfd between them; and a daemon out of descriptors (its
//! RLIMIT_NOFILE lowered under it with `prlimit`) keeps serving its sessions while each new
//! client's call fails `EAGAIN` saying the cause and the fix (not `EIO`), logged once per
//! rate window; once sessions close, new clients are served again.

mod common;

use std::sync::mpsc;

use common::{GUARD, TestDaemon};
use qnet::Errno;
use qnet::neutrino::{channel_create, connect_attach, connect_detach};

/// Set `pid`'s descriptor limit (soft and hard) to `n`.
#[allow(unsafe_code)]
fn set_nofile(pid: u32, n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: prlimit reads our rlimit and writes nothing (no old-limit pointer).
    let r = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Descriptors `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd")
        .count()
}

/// A thread holding a session with the daemon (opened by its first call, a connection to
/// `chid` of this process) until told to make another call or to end.
struct Holder {
    go: mpsc::Sender<bool>,
    done: mpsc::Receiver<Result<(), qnet::Error>>,
}

impl Holder {
    fn start(chid: i32) -> (Holder, Result<(), qnet::Error>) {
        let (go, commands) = mpsc::channel::<bool>();
        let (tx, done) = mpsc::channel();
        let pid = std::process::id();
        std::thread::spawn(move || {
            let call = || connect_attach(0, pid, chid).and_then(connect_detach);
            let _ = tx.send(call());
            // `true`: call again; `false` or the sender gone: end (the session closes).
            while let Ok(true) = commands.recv() {
                let _ = tx.send(call());
            }
        });
        let first = done.recv_timeout(GUARD).expect("hang guard");
        (Holder { go, done }, first)
    }

    /// Make one more call on the held session.
    fn call(&self) -> Result<(), qnet::Error> {
        self.go.send(true).expect("holder alive");
        self.done.recv_timeout(GUARD).expect("hang guard")
    }
}

#[test]
fn out_of_descriptors_is_eagain_with_the_fix_and_the_daemon_keeps_serving() {
    let d = TestDaemon::start();
    qnet::set_socket_path(d.socket());
    let chid = channel_create(qnet::ChannelFlags::default()).expect("ChannelCreate");
    let daemon = d.pid();

    // 20 thread sessions of this process: 20 sockets and at most one pidfd between them.
    let before = open_fds(daemon);
    let mut held = Vec::new();
    for _ in 0..20 {
        let (h, r) = Holder::start(chid);
        r.expect("a session while descriptors last");
        held.push(h);
    }
    let per_thread = (open_fds(daemon) - before) as f64 / 20.0;
    assert!(
        per_thread <= 1.05,
        "{per_thread} daemon descriptors per thread session (a pidfd each?)"
    );

    // Only a few descriptors left: sessions open until the daemon runs out.
    set_nofile(daemon, open_fds(daemon) as u64 + 6);
    let mut refusal = None;
    for _ in 0..50 {
        match Holder::start(chid) {
            (h, Ok(())) => held.push(h),
            (_, Err(e)) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let e = refusal.expect("the daemon ran out of descriptors");
    assert_eq!(e.errno(), Errno::EAGAIN, "{e}");
    assert!(
        e.to_string()
            .contains("qnetd is out of file descriptors: raise its LimitNOFILE"),
        "{e}"
    );
    // Many more clients, each refused the same way.
    for _ in 0..30 {
        let (_, r) = Holder::start(chid);
        let e = r.expect_err("still out of descriptors");
        assert_eq!(e.errno(), Errno::EAGAIN, "{e}");
    }
    // Its sessions are served all along.
    for h in &held {
        h.call()
            .expect("a held session's call while out of descriptors");
    }
    // One log line per rate window (10 s) for all those refusals, not one each.
    let logged = d.logs.count(|l| l.contains("out of file descriptors"));
    assert!(
        (1..=2).contains(&logged),
        "{logged} lines about running out:\n{}",
        d.logs.dump()
    );

    // Sessions end: descriptors free, new clients are served again.
    held.truncate(held.len() - 8);
    let start = std::time::Instant::now();
    loop {
        match Holder::start(chid) {
            (h, Ok(())) => {
                held.push(h);
                break;
            }
            (_, Err(e)) => {
                // The closed sessions' descriptors are freed as the daemon sees them end.
                assert_eq!(e.errno(), Errno::EAGAIN, "{e}");
                assert!(start.elapsed() < GUARD, "never served again: {e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}
