//! Shared-memory handles through a real `qnetd`: SCM_RIGHTS in, SCM_RIGHTS out, and the
//! refusals.

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command};

use common::{Client, Daemon, errno};
use qnet_core::Errno;
use qnet_proto::local::{self, Request, SessionKind, client_frame, request, response};

const O_RDONLY: u32 = libc::O_RDONLY as u32;
const O_RDWR: u32 = libc::O_RDWR as u32;

fn shm_session(d: &Daemon) -> Client {
    let mut c = d.connect();
    c.hello(SessionKind::Shm, 0).expect("ack");
    c
}

fn create(d: &Daemon, file: Option<&File>, pid: u32, perms: u32) -> response::Result {
    let mut c = shm_session(d);
    c.send_with_fd(
        client_frame::Frame::Request(Request {
            call: Some(request::Call::ShmCreateHandle(local::ShmCreateHandle {
                pid,
                perms,
                nd: 0,
            })),
        }),
        file.map(|f| f.as_raw_fd()),
    );
    c.response_with_fd().0
}

fn create_ok(d: &Daemon, file: &File, pid: u32, perms: u32) -> u64 {
    match create(d, Some(file), pid, perms) {
        response::Result::ShmHandle(h) => h,
        other => panic!("create: {other:?}"),
    }
}

fn open(d: &Daemon, handle: u64, perms: u32) -> (response::Result, Option<File>) {
    let mut c = shm_session(d);
    c.send_with_fd(
        client_frame::Frame::Request(Request {
            call: Some(request::Call::ShmOpenHandle(local::ShmOpenHandle {
                handle,
                perms,
            })),
        }),
        None,
    );
    let (r, fd) = c.response_with_fd();
    (r, fd.map(File::from))
}

/// Kills and reaps a helper child on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn create_and_open_share_the_object() {
    let d = Daemon::start();
    let mut original = tempfile::tempfile().unwrap();
    let me = std::process::id();
    let h = create_ok(&d, &original, me, O_RDWR);
    let (r, fd) = open(&d, h, O_RDWR);
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");
    let mut opened = fd.expect("an fd with the response");
    opened.write_all(b"through the handle").unwrap();
    let mut s = String::new();
    original.seek(SeekFrom::Start(0)).unwrap();
    original.read_to_string(&mut s).unwrap();
    assert_eq!(s, "through the handle");
    // One use only.
    let (r, fd) = open(&d, h, O_RDWR);
    assert_eq!(errno(&r), Some(libc::EINVAL), "{r:?}");
    assert!(fd.is_none());
}

#[test]
fn read_only_handle_refuses_rdwr_and_gives_a_read_only_fd() {
    let d = Daemon::start();
    let mut original = tempfile::tempfile().unwrap();
    original.write_all(b"read me").unwrap();
    let h = create_ok(&d, &original, std::process::id(), O_RDONLY);
    let (r, fd) = open(&d, h, O_RDWR);
    assert_eq!(errno(&r), Some(libc::EACCES), "{r:?}");
    assert!(fd.is_none());
    // The refusal did not use the handle up.
    let (r, fd) = open(&d, h, O_RDONLY);
    assert!(matches!(r, response::Result::Done(_)), "{r:?}");
    let mut ro = fd.expect("fd");
    let mut s = String::new();
    ro.read_to_string(&mut s).unwrap();
    assert_eq!(s, "read me");
    assert!(
        ro.write_all(b"x").is_err(),
        "a read-only handle gave a writable fd"
    );
}

#[test]
fn only_the_named_pid_may_open() {
    let d = Daemon::start();
    let file = tempfile::tempfile().unwrap();
    let other = ChildGuard(Command::new("sleep").arg("30").spawn().unwrap());
    let h = create_ok(&d, &file, other.0.id(), O_RDWR);
    let (r, fd) = open(&d, h, O_RDWR);
    assert_eq!(errno(&r), Some(libc::EPERM), "{r:?}");
    assert!(fd.is_none());
}

#[test]
fn unknown_handle_missing_fd_and_bad_perms_are_einval() {
    let d = Daemon::start();
    // An unknown handle carrying this node's tag (the daemon is node "testnode").
    let ours = u64::from(qnet_daemon::local::shm::node_tag("testnode")) << 48 | 0x5678_9abc_def0;
    let (r, fd) = open(&d, ours, O_RDWR);
    assert_eq!(errno(&r), Some(libc::EINVAL), "{r:?}");
    assert!(fd.is_none());
    let r = create(&d, None, std::process::id(), O_RDWR);
    assert_eq!(errno(&r), Some(libc::EINVAL), "{r:?}");
    let file = tempfile::tempfile().unwrap();
    let r = create(&d, Some(&file), std::process::id(), libc::O_WRONLY as u32);
    assert_eq!(errno(&r), Some(libc::EINVAL), "{r:?}");
}

/// A handle with another node's tag is refused with `ENOREMOTE` and a message naming the
/// problem (issue 12: it was `EINVAL`, like a stale handle); a handle for a process of
/// another node cannot be made.
#[test]
fn handles_of_other_nodes_are_enoremote() {
    let d = Daemon::start();
    let theirs = u64::from(qnet_daemon::local::shm::node_tag("othernode")) << 48 | 0x5678_9abc_def0;
    let (r, fd) = open(&d, theirs, O_RDWR);
    assert_eq!(errno(&r), Some(Errno::ENOREMOTE.0), "{r:?}");
    let response::Result::Error(e) = &r else {
        panic!("{r:?}")
    };
    assert!(
        e.detail.contains("made on another node") && e.detail.contains("testnode"),
        "{}",
        e.detail
    );
    assert!(fd.is_none());
    let file = tempfile::tempfile().unwrap();
    let mut c = shm_session(&d);
    c.send_with_fd(
        client_frame::Frame::Request(Request {
            call: Some(request::Call::ShmCreateHandle(local::ShmCreateHandle {
                pid: std::process::id(),
                perms: O_RDWR,
                nd: 2,
            })),
        }),
        Some(file.as_raw_fd()),
    );
    let r = c.response_with_fd().0;
    assert_eq!(errno(&r), Some(Errno::ENOREMOTE.0), "{r:?}");
}

#[test]
fn kernel_calls_on_an_shm_session_close_it() {
    let d = Daemon::start();
    let mut c = shm_session(&d);
    c.send(client_frame::Frame::Request(Request {
        call: Some(request::Call::ChannelCreate(local::ChannelCreate {
            flags: 0,
        })),
    }));
    assert!(c.is_closed_by_daemon());
    d.expect_closed_warning("kernel call on an SHM session");
}
