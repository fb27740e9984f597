//! The transport's framing is byte-for-byte `qnet_proto::frame`'s.

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use prost::Message;
use qnet_transport::frame_codec;
use tokio_util::codec::{FramedRead, FramedWrite};

#[tokio::test]
async fn same_bytes_as_qnet_proto_frame() {
    let msg = "a message".to_owned();

    // qnet-proto writes, the transport reads.
    let framed = qnet_proto::frame::frame_to_vec(&msg);
    let mut r = FramedRead::new(&framed[..], frame_codec(1024));
    let payload = r.next().await.unwrap().unwrap();
    assert_eq!(payload, msg.encode_to_vec());
    assert!(r.next().await.is_none());

    // The transport writes, qnet-proto reads.
    let mut w = FramedWrite::new(Vec::new(), frame_codec(1024));
    w.send(Bytes::from(msg.encode_to_vec())).await.unwrap();
    let out = w.into_inner();
    assert_eq!(out, framed);
    let mut buf = BytesMut::from(&out[..]);
    let back: String = qnet_proto::frame::decode_frame(&mut buf, 1024)
        .unwrap()
        .unwrap();
    assert_eq!(back, msg);
}
