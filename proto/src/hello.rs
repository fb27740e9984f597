//! The hello that opens every local session, for both ends: the client's [`hello`] frame and
//! its blocking exchange [`open`], the daemon's check of a first frame ([`check`]) and its
//! answers ([`ack`], [`refused`]).
//!
//! The client sends `ClientFrame { hello }` and reads one `DaemonFrame`: a `HelloAck`, or a
//! `Refused` with the reason (wrong version, unknown kind, thread already registered), after
//! which the daemon closes the session.

use std::io::{self, Read, Write};

use crate::LOCAL_PROTOCOL_VERSION;
use crate::frame::{FRAME_OVERHEAD, blocking};
use crate::local::{
    ClientFrame, DaemonFrame, Hello, HelloAck, Refused, SessionKind, client_frame, daemon_frame,
};

/// Largest hello frame a daemon reads; a hello is a few bytes.
pub const MAX_HELLO_LEN: usize = 1024;

/// The first frame of a session of `kind`; `tid` is the owning thread's `gettid()` for a
/// THREAD session, 0 otherwise.
pub fn hello(kind: SessionKind, tid: u32) -> ClientFrame {
    hello_with_probe(kind, tid, 0)
}

/// As [`hello`], asking for one copy: `probe` is the address of [`ONE_COPY_MAGIC`] in the
/// caller's memory (0: not asked). See `one_copy`.
///
/// [`ONE_COPY_MAGIC`]: crate::one_copy::ONE_COPY_MAGIC
pub fn hello_with_probe(kind: SessionKind, tid: u32, probe: u64) -> ClientFrame {
    ClientFrame {
        frame: Some(client_frame::Frame::Hello(Hello {
            version: LOCAL_PROTOCOL_VERSION,
            tid,
            kind: kind as i32,
            one_copy_probe: probe,
        })),
    }
}

/// Why a hello exchange did not open the session (client side).
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// Writing the hello failed.
    #[error("sending hello: {0}")]
    Send(#[source] io::Error),
    /// Reading the answer failed, or the daemon closed the session without one.
    #[error("reading hello ack: {0}")]
    Receive(#[source] io::Error),
    /// The daemon refused the session.
    #[error(
        "refused the session: {reason} (daemon protocol version {daemon_version}, ours {LOCAL_PROTOCOL_VERSION})"
    )]
    Refused {
        /// The daemon's reason.
        reason: String,
        /// The version the daemon speaks.
        daemon_version: u32,
    },
    /// The daemon cannot take the session now, for a reason that is not the client's: the
    /// call fails with `errno` (`EAGAIN`: out of file descriptors) and `reason` says why and
    /// what to do.
    #[error("refused the session: {reason}")]
    Busy {
        /// The errno the call fails with.
        errno: qnet_core::Errno,
        /// The daemon's reason, with the fix.
        reason: String,
    },
    /// The daemon answered with something other than an ack or a refusal.
    #[error("qnetd answered the hello with a {0}")]
    Unexpected(&'static str),
}

/// What the daemon's answer to a hello says: the ack, or why there is none. `None`: the
/// session ended before an answer.
pub fn ack_of(answer: Option<DaemonFrame>) -> Result<HelloAck, HelloError> {
    match answer.and_then(|f| f.frame) {
        Some(daemon_frame::Frame::HelloAck(ack)) => Ok(ack),
        Some(daemon_frame::Frame::Refused(r)) if r.errno > 0 => Err(HelloError::Busy {
            errno: qnet_core::Errno(r.errno),
            reason: r.reason,
        }),
        Some(daemon_frame::Frame::Refused(r)) => Err(HelloError::Refused {
            reason: r.reason,
            daemon_version: r.daemon_version,
        }),
        Some(daemon_frame::Frame::Response(_)) => Err(HelloError::Unexpected("response")),
        None => Err(HelloError::Receive(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "daemon closed the session",
        ))),
    }
}

/// Open a session of `kind` on a connected `stream` (blocking): send the hello, read the ack.
pub fn open<S: Read + Write>(
    stream: &mut S,
    kind: SessionKind,
    tid: u32,
) -> Result<HelloAck, HelloError> {
    open_with_probe(stream, kind, tid, 0)
}

/// As [`open`], asking for one copy with `probe` (see [`hello_with_probe`]); the ack's
/// `one_copy` says whether the daemon turned it on.
pub fn open_with_probe<S: Read + Write>(
    stream: &mut S,
    kind: SessionKind,
    tid: u32,
    probe: u64,
) -> Result<HelloAck, HelloError> {
    if let Err(e) = blocking::write_frame(stream, &hello_with_probe(kind, tid, probe)) {
        // A daemon that refused the session at once may have closed it already; its
        // refusal is still there to read, and says more than the broken pipe.
        return match blocking::read_frame(stream, FRAME_OVERHEAD) {
            Ok(Some(answer)) => match ack_of(Some(answer)) {
                Err(refusal @ (HelloError::Busy { .. } | HelloError::Refused { .. })) => {
                    Err(refusal)
                }
                _ => Err(HelloError::Send(e)),
            },
            _ => Err(HelloError::Send(e)),
        };
    }
    let answer = blocking::read_frame(stream, FRAME_OVERHEAD).map_err(HelloError::Receive)?;
    ack_of(answer)
}

/// Why a daemon does not accept a first frame (daemon side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHello {
    /// Not a hello at all: close the session without an answer.
    #[error("unexpected frame: {0}")]
    NotAHello(&'static str),
    /// A hello the daemon cannot serve: answer with [`refused`] and close.
    #[error("{0}")]
    Refuse(String),
}

/// The session a client's first frame asks for: its kind and tid.
pub fn check(first: ClientFrame) -> Result<(SessionKind, u32), BadHello> {
    check_hello(first).map(|h| (h.kind, h.tid))
}

/// What a valid hello asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The session's kind.
    pub kind: SessionKind,
    /// The owning thread's tid (THREAD sessions).
    pub tid: u32,
    /// Where the client keeps its one-copy magic (0: one copy not asked).
    pub one_copy_probe: u64,
}

/// As [`check`], with the one-copy probe.
pub fn check_hello(first: ClientFrame) -> Result<Checked, BadHello> {
    let hello = match first.frame {
        Some(client_frame::Frame::Hello(h)) => h,
        Some(client_frame::Frame::Request(_)) => {
            return Err(BadHello::NotAHello("request before hello"));
        }
        Some(client_frame::Frame::Interrupt(_)) => {
            return Err(BadHello::NotAHello("interrupt before hello"));
        }
        None => return Err(BadHello::NotAHello("empty frame instead of hello")),
    };
    if hello.version != LOCAL_PROTOCOL_VERSION {
        return Err(BadHello::Refuse(format!(
            "protocol version mismatch: client speaks version {}, daemon speaks version {}",
            hello.version, LOCAL_PROTOCOL_VERSION
        )));
    }
    let kind = SessionKind::try_from(hello.kind)
        .map_err(|_| BadHello::Refuse(format!("unknown session kind {}", hello.kind)))?;
    Ok(Checked {
        kind,
        tid: hello.tid,
        one_copy_probe: hello.one_copy_probe,
    })
}

/// The daemon's ack: the pid it sees, its node name and message-size limit.
pub fn ack(pid: u32, node: String, max_message_size: u64) -> daemon_frame::Frame {
    ack_with(pid, node, max_message_size, false, 0)
}

/// As [`ack`], saying whether one copy is on for the session and which layout version of
/// the direct path the daemon serves (0: none).
pub fn ack_with(
    pid: u32,
    node: String,
    max_message_size: u64,
    one_copy: bool,
    direct: u32,
) -> daemon_frame::Frame {
    daemon_frame::Frame::HelloAck(HelloAck {
        version: LOCAL_PROTOCOL_VERSION,
        pid,
        node,
        max_message_size,
        one_copy,
        direct,
    })
}

/// The daemon's refusal, with its reason.
pub fn refused(reason: String) -> daemon_frame::Frame {
    daemon_frame::Frame::Refused(Refused {
        reason,
        daemon_version: LOCAL_PROTOCOL_VERSION,
        errno: 0,
    })
}

/// The daemon's refusal of a session it cannot take now (not the client's fault): the
/// client's call fails with `errno`, `reason` says why and what to do.
pub fn busy(errno: qnet_core::Errno, reason: String) -> daemon_frame::Frame {
    daemon_frame::Frame::Refused(Refused {
        reason,
        daemon_version: LOCAL_PROTOCOL_VERSION,
        errno: errno.0,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    /// A fake daemon answering one hello with `answer` (after checking it).
    fn exchange(answer: Option<daemon_frame::Frame>) -> Result<HelloAck, HelloError> {
        let (mut ours, mut daemon) = UnixStream::pair().unwrap();
        let fake = std::thread::spawn(move || {
            let first: ClientFrame = blocking::read_frame(&mut daemon, MAX_HELLO_LEN)
                .unwrap()
                .unwrap();
            assert_eq!(check(first), Ok((SessionKind::Shm, 9)));
            if let Some(frame) = answer {
                blocking::write_frame(&mut daemon, &DaemonFrame { frame: Some(frame) }).unwrap();
            }
        });
        let r = open(&mut ours, SessionKind::Shm, 9);
        fake.join().unwrap();
        r
    }

    #[test]
    fn open_returns_the_ack_or_says_why_not() {
        let ack = exchange(Some(ack(5, "n1".into(), 77))).unwrap();
        assert_eq!(
            (ack.pid, ack.node.as_str(), ack.max_message_size),
            (5, "n1", 77)
        );
        let e = exchange(Some(refused("busy".into()))).unwrap_err();
        assert!(
            matches!(&e, HelloError::Refused { reason, daemon_version: LOCAL_PROTOCOL_VERSION } if reason == "busy"),
            "{e:?}"
        );
        let e = exchange(Some(busy(qnet_core::Errno::EAGAIN, "out of fds".into()))).unwrap_err();
        assert!(
            matches!(&e, HelloError::Busy { errno, reason } if *errno == qnet_core::Errno::EAGAIN && reason == "out of fds"),
            "{e:?}"
        );
        let e = exchange(None).unwrap_err();
        assert!(e.to_string().contains("closed the session"), "{e}");
        let e = exchange(Some(daemon_frame::Frame::Response(Default::default()))).unwrap_err();
        assert!(matches!(e, HelloError::Unexpected("response")), "{e:?}");
    }

    #[test]
    fn check_refuses_other_versions_and_kinds_and_rejects_non_hellos() {
        let mut h = hello(SessionKind::Thread, 3);
        assert_eq!(check(h.clone()), Ok((SessionKind::Thread, 3)));
        let Some(client_frame::Frame::Hello(inner)) = h.frame.as_mut() else {
            unreachable!()
        };
        inner.version = 2;
        assert!(
            matches!(check(h.clone()), Err(BadHello::Refuse(r)) if r.contains("client speaks version 2"))
        );
        let Some(client_frame::Frame::Hello(inner)) = h.frame.as_mut() else {
            unreachable!()
        };
        inner.version = LOCAL_PROTOCOL_VERSION;
        inner.kind = 99;
        assert_eq!(
            check(h),
            Err(BadHello::Refuse("unknown session kind 99".into()))
        );
        assert_eq!(
            check(ClientFrame { frame: None }),
            Err(BadHello::NotAHello("empty frame instead of hello"))
        );
        let request = ClientFrame {
            frame: Some(client_frame::Frame::Request(Default::default())),
        };
        assert_eq!(
            check(request),
            Err(BadHello::NotAHello("request before hello"))
        );
    }
}
