//! [`RawSession`]: a local session with a daemon speaking frames by hand (hello, requests,
//! descriptors), for tests that send what the library never would; [`admin_session`] opens an
//! ADMIN session the same way.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use qnet_proto::frame::{blocking, frame_to_vec};
use qnet_proto::local::{
    AdminNodes, AdminRequest, AdminResponse, ClientFrame, DaemonFrame, Hello, HelloAck, PeerList,
    Request, Response, SessionKind, admin_request, admin_response, client_frame, daemon_frame,
    request, response,
};

use crate::GUARD;

/// This process's copy of the one-copy magic, for [`RawSession::hello_one_copy`].
static ONE_COPY_MAGIC: [u8; 16] = qnet_proto::one_copy::ONE_COPY_MAGIC;

/// A raw client session speaking frames.
pub struct RawSession {
    /// The connection.
    pub stream: UnixStream,
}

impl RawSession {
    /// Connect to `socket` with the hang guard as read timeout.
    pub fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).expect("connecting to the daemon");
        stream
            .set_read_timeout(Some(GUARD))
            .expect("setting a read timeout");
        Self { stream }
    }

    /// Send raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("writing to the daemon");
    }

    /// Send one client frame.
    pub fn send(&mut self, frame: client_frame::Frame) {
        self.send_raw(&frame_to_vec(&ClientFrame { frame: Some(frame) }));
    }

    /// Send any message as one frame (e.g. an `AdminRequest` on an ADMIN session).
    pub fn send_message(&mut self, m: &impl prost::Message) {
        self.send_raw(&frame_to_vec(m));
    }

    /// Read one frame holding any message; `None` on end of stream.
    pub fn recv_message<M: prost::Message + Default>(&mut self) -> Option<M> {
        blocking::read_frame(&mut self.stream, 1 << 24).expect("reading a frame")
    }

    /// Read one daemon frame; `None` on end of stream.
    pub fn recv(&mut self) -> Option<daemon_frame::Frame> {
        let f: Option<DaemonFrame> = self.recv_message();
        f.map(|f| f.frame.expect("daemon frame with no content"))
    }

    /// Hello of `kind`: the ack, or `None` if refused or closed.
    pub fn hello(&mut self, kind: SessionKind, tid: u32) -> Option<HelloAck> {
        self.send(client_frame::Frame::Hello(Hello {
            version: qnet_proto::LOCAL_PROTOCOL_VERSION,
            tid,
            kind: kind as i32,
            ..Default::default()
        }));
        match self.recv()? {
            daemon_frame::Frame::HelloAck(a) => Some(a),
            _ => None,
        }
    }

    /// A THREAD hello asking for one copy, with the probe address of this process's copy of
    /// the magic (the raw session's peer is this test process): the ack (its `one_copy` says
    /// whether the daemon turned it on), or `None` if refused or closed.
    pub fn hello_one_copy(&mut self, tid: u32) -> Option<HelloAck> {
        self.hello_with_probe(tid, ONE_COPY_MAGIC.as_ptr() as u64)
    }

    /// A THREAD hello with any probe address (0: not asked).
    pub fn hello_with_probe(&mut self, tid: u32, probe: u64) -> Option<HelloAck> {
        self.send(client_frame::Frame::Hello(Hello {
            version: qnet_proto::LOCAL_PROTOCOL_VERSION,
            tid,
            kind: SessionKind::Thread as i32,
            one_copy_probe: probe,
        }));
        match self.recv()? {
            daemon_frame::Frame::HelloAck(a) => Some(a),
            _ => None,
        }
    }

    /// Make a call and read its response.
    pub fn call(&mut self, call: request::Call) -> response::Result {
        self.send(client_frame::Frame::Request(Request { call: Some(call) }));
        self.response()
    }

    /// Read one response.
    pub fn response(&mut self) -> response::Result {
        match self.recv() {
            Some(daemon_frame::Frame::Response(Response { result: Some(r) })) => r,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// Whether the daemon has closed this session: reading gives end-of-stream (or a reset,
    /// when the daemon closed with our bytes unread).
    pub fn is_closed_by_daemon(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue, // e.g. a refusal frame before the close
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
                Err(e) => panic!("session not closed: {e}"),
            }
        }
    }

    /// Send `frame` in one sendmsg, with `fd` (if any) attached as SCM_RIGHTS.
    pub fn send_with_fd(&mut self, frame: client_frame::Frame, fd: Option<RawFd>) {
        let bytes = frame_to_vec(&ClientFrame { frame: Some(frame) });
        let iov = [IoSlice::new(&bytes)];
        let fds: Vec<RawFd> = fd.into_iter().collect();
        let cmsg: Vec<ControlMessage<'_>> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        let n = sendmsg::<()>(
            self.stream.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            None,
        )
        .expect("sendmsg");
        assert_eq!(n, bytes.len());
    }

    /// Read one response frame with recvmsg, with the descriptor that came with it.
    #[allow(unsafe_code)]
    pub fn response_with_fd(&mut self) -> (response::Result, Option<OwnedFd>) {
        let mut buf = vec![0u8; 4096];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let (n, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                self.stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .expect("recvmsg");
            let mut fd = None;
            for c in msg.cmsgs().expect("control messages") {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    for r in raw {
                        // SAFETY: installed in this process by this recvmsg; we are its only owner.
                        let owned = unsafe { OwnedFd::from_raw_fd(r) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            (msg.bytes, fd)
        };
        buf.truncate(n);
        assert!(n >= 4, "short read of {n} bytes");
        let want = 4 + u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let mut rest = vec![0u8; want - n];
        self.stream
            .read_exact(&mut rest)
            .expect("reading the rest of the frame");
        buf.extend_from_slice(&rest);
        let frame: DaemonFrame = prost::Message::decode(&buf[4..]).expect("a daemon frame");
        match frame.frame {
            Some(daemon_frame::Frame::Response(Response { result: Some(r) })) => (r, fd),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// An ADMIN session with the daemon at `socket`, hello done (panics if refused): send
/// `AdminRequest`s with [`RawSession::send_message`], read `AdminResponse`s with
/// [`RawSession::recv_message`].
pub fn admin_session(socket: &Path) -> RawSession {
    let mut s = RawSession::connect(socket);
    assert!(
        s.hello(SessionKind::Admin, 0).is_some(),
        "admin hello refused"
    );
    s
}

/// The daemon's peers as `qnet nodes` shows them (an `AdminNodes` query on an ADMIN session).
pub fn admin_nodes(socket: &Path) -> PeerList {
    let mut s = admin_session(socket);
    s.send_message(&AdminRequest {
        query: Some(admin_request::Query::Nodes(AdminNodes {})),
    });
    let answer: Option<AdminResponse> = s.recv_message();
    match answer.and_then(|a| a.result) {
        Some(admin_response::Result::Peers(list)) => list,
        other => panic!("AdminNodes: {other:?}"),
    }
}

/// The errno of an error response.
pub fn errno(r: &response::Result) -> Option<i32> {
    match r {
        response::Result::Error(e) => Some(e.errno),
        _ => None,
    }
}
