//! [`RawPeer`]: a QUIC peer holding a valid cluster certificate that speaks the peer protocol
//! by hand, to try on a real daemon what a forwarding daemon never does.

use std::net::SocketAddr;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use qnet_proto::local::{self, request, response};
use qnet_proto::peer::{
    PeerCall, PeerControl, PeerHello, PeerStreamFrame, RemoteThread, peer_control,
    peer_stream_frame,
};
use qnet_transport::{
    NodeIdentity, PeerConnection, RecvStream, SendStream, Transport, TransportConfig, frame_codec,
};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::GUARD;

/// A hand-driven peer: its control stream is held open (closing it would end the link).
pub struct RawPeer {
    _transport: Transport,
    /// The connection.
    pub conn: PeerConnection,
    /// The control stream, held open (garbage on it closes the connection).
    pub control: (SendStream, RecvStream),
    seq: u64,
}

impl RawPeer {
    /// The hello a raw peer sends: protocol `version`, "you are my nd 1", incarnation 5, and
    /// no message size limit (it sends whatever it likes).
    pub fn hello(version: u32) -> PeerHello {
        PeerHello {
            version,
            your_nd: 1,
            incarnation: 5,
            max_message_size: 0,
            dial: 0,
        }
    }

    /// Connect as node `raw` (its certificate in `certs`) to node `n2` at `target`, send
    /// `hello` on the control stream and read the answer; the peer and the answer.
    pub async fn open(
        certs: &Path,
        target: SocketAddr,
        hello: PeerHello,
    ) -> (RawPeer, PeerControl) {
        Self::open_as(certs, "raw", "n2", target, hello).await
    }

    /// Connect as node `me` (its certificate in `certs`) to node `node` at `target`, send
    /// `hello` on the control stream and read the answer; the peer and the answer.
    pub async fn open_as(
        certs: &Path,
        me: &str,
        node: &str,
        target: SocketAddr,
        hello: PeerHello,
    ) -> (RawPeer, PeerControl) {
        let id = NodeIdentity::load(certs, me).expect("the raw peer's identity");
        let t = Transport::bind(
            "127.0.0.1:0".parse().expect("address"),
            id,
            TransportConfig::default(),
        )
        .expect("binding the raw peer");
        let conn = tokio::time::timeout(GUARD, t.connect(node, target))
            .await
            .expect("hang guard")
            .unwrap_or_else(|e| panic!("connecting to {node}: {e}"));
        let (mut cs, mut cr) = conn.open_bi().await.expect("the control stream");
        let hello = PeerControl {
            frame: Some(peer_control::Frame::Hello(hello)),
        };
        FramedWrite::new(&mut cs, frame_codec(1024))
            .send(bytes::Bytes::from(prost::Message::encode_to_vec(&hello)))
            .await
            .expect("sending the hello");
        let answer =
            tokio::time::timeout(GUARD, FramedRead::new(&mut cr, frame_codec(1024)).next())
                .await
                .expect("hang guard")
                .expect("an answer before the end of the stream")
                .expect("a readable answer");
        let answer: PeerControl = prost::Message::decode(&answer[..]).expect("a control frame");
        let peer = RawPeer {
            _transport: t,
            conn,
            control: (cs, cr),
            seq: 0,
        };
        (peer, answer)
    }

    /// [`RawPeer::open`] with this build's protocol version; panics unless answered by a
    /// hello.
    pub async fn connect(certs: &Path, target: SocketAddr) -> RawPeer {
        let (peer, answer) = Self::open(
            certs,
            target,
            Self::hello(qnet_proto::PEER_PROTOCOL_VERSION),
        )
        .await;
        assert!(matches!(answer.frame, Some(peer_control::Frame::Hello(_))));
        peer
    }

    /// Write `frame` on the control stream.
    pub async fn send_control(&mut self, frame: PeerControl) {
        FramedWrite::new(&mut self.control.0, frame_codec(1 << 20))
            .send(bytes::Bytes::from(prost::Message::encode_to_vec(&frame)))
            .await
            .expect("writing on the control stream");
    }

    /// The local address of the raw peer's endpoint (what the daemon sees it dial from).
    pub fn local_addr(&self) -> SocketAddr {
        self._transport.local_addr().expect("local address")
    }

    /// A call frame for `request` from remote thread `pid`/`tid` (uid and gid 0), with the
    /// next sequence number.
    pub fn call_frame(&mut self, pid: u32, tid: u32, request: local::Request) -> PeerStreamFrame {
        self.seq += 1;
        PeerStreamFrame {
            frame: Some(peer_stream_frame::Frame::Call(PeerCall {
                thread: Some(RemoteThread {
                    pid,
                    tid,
                    uid: 0,
                    gid: 0,
                }),
                request: Some(request),
                seq: self.seq,
                after_pulses: 0,
            })),
        }
    }

    /// Start `call` as remote thread 4242/`tid` on its own stream, followed by `trailing`
    /// bytes; the stream, for its answer.
    pub async fn start(
        &mut self,
        tid: u32,
        call: request::Call,
        trailing: &[u8],
    ) -> (SendStream, RecvStream) {
        let frame = self.call_frame(4242, tid, local::Request { call: Some(call) });
        let (mut s, r) = self.conn.open_bi().await.expect("a call stream");
        let mut bytes = qnet_proto::frame::frame_to_vec(&frame);
        bytes.extend_from_slice(trailing);
        s.write_all(&bytes).await.expect("sending the call");
        if trailing.is_empty() {
            s.finish().expect("finishing the stream");
        }
        (s, r)
    }

    /// `call` as remote thread 4242/1 on its own stream; the one answer.
    pub async fn call(&mut self, call: request::Call) -> response::Result {
        let frame = self.call_frame(4242, 1, local::Request { call: Some(call) });
        let (mut s, mut r) = self.conn.open_bi().await.expect("a call stream");
        let bytes = prost::Message::encode_to_vec(&frame);
        // The callee may stop reading (an oversized call): its answer still comes.
        let _ = FramedWrite::new(&mut s, frame_codec(usize::MAX))
            .send(bytes::Bytes::from(bytes))
            .await;
        let _ = s.finish();
        let answer =
            tokio::time::timeout(GUARD, FramedRead::new(&mut r, frame_codec(1 << 20)).next())
                .await
                .expect("an answer in time")
                .expect("an answer before the end of the stream")
                .expect("a readable answer");
        let answer: local::Response = prost::Message::decode(&answer[..]).expect("a response");
        answer.result.expect("a result")
    }
}
