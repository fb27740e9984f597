//! The transport's framing is byte-for-byte `qnet_proto::frame`'s.

use bytes::BytesMut;
use prost::Message;
use qnet_transport::{read_frame, write_frame};

#[tokio::test]
async fn same_bytes_as_qnet_proto_frame() {
    let msg = "a message".to_owned();

    // qnet-proto writes, the transport reads.
    let framed = qnet_proto::frame::frame_to_vec(&msg);
    let mut r = &framed[..];
    let payload = read_frame(&mut r, 1024).await.unwrap().unwrap();
    assert_eq!(payload, msg.encode_to_vec());

    // The transport writes, qnet-proto reads.
    let mut out = Vec::new();
    write_frame(&mut out, &msg.encode_to_vec(), 1024)
        .await
        .unwrap();
    assert_eq!(out, framed);
    let mut buf = BytesMut::from(&out[..]);
    let back: String = qnet_proto::frame::decode_frame(&mut buf, 1024)
        .unwrap()
        .unwrap();
    assert_eq!(back, msg);
}
