//! The stable equivalent of the `cargo fuzz` targets in `fuzz/`: the same entry points
//! (`qnet_proto::fuzzing`) over random bytes and over valid frames with random bytes
//! changed, a bounded number of cases per run (proptest prints the failing input and keeps
//! it in `proptest-regressions/`). More cases: `PROPTEST_CASES=100000 cargo test -p
//! qnet-proto --test fuzz_entries`.

use bytes::Bytes;
use proptest::prelude::*;
use qnet_core::{Call, ChannelFlags, Completion, Errno};
use qnet_proto::frame::frame_to_vec;
use qnet_proto::fuzzing::{conversions, local_frames, peer_frames};
use qnet_proto::{local, peer};

/// Valid encodings to start mutations from: requests, responses and peer frames.
fn seeds() -> Vec<Vec<u8>> {
    let calls = [
        Call::ChannelCreate {
            flags: ChannelFlags::default(),
        },
        Call::ConnectAttach {
            nd: 1,
            pid: 2,
            chid: 3,
        },
        Call::MsgSend {
            coid: 4,
            data: Bytes::from_static(b"hello"),
            reply_cap: 64,
            priority: 10,
            realtime: false,
            timeout: None,
        },
        Call::NameOpen {
            name: "n2/srv".into(),
        },
    ];
    let mut out = Vec::new();
    for call in &calls {
        let request = local::Request::from(call);
        out.push(frame_to_vec(&local::ClientFrame {
            frame: Some(local::client_frame::Frame::Request(request.clone())),
        }));
        out.push(frame_to_vec(&peer::PeerStreamFrame {
            frame: Some(peer::peer_stream_frame::Frame::Call(peer::PeerCall {
                thread: Some(peer::RemoteThread {
                    pid: 1,
                    tid: 2,
                    uid: 3,
                    gid: 4,
                }),
                request: Some(request),
                seq: 9,
                after_pulses: 0,
            })),
        }));
    }
    for r in [Ok(Completion::Done), Err(Errno::ESRCH)] {
        out.push(frame_to_vec(&local::Response::from(r)));
    }
    out
}

fn all(data: &[u8]) {
    local_frames(data);
    peer_frames(data);
    conversions(data);
    // Without the leading chunk-size byte, as a message body.
    if let Some((_, rest)) = data.split_first() {
        conversions(rest);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all(&data);
    }

    #[test]
    fn mutated_valid_frames(
        seed in 0usize..64,
        step in 1u8..=255,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        repeat in 1usize..4,
    ) {
        let seeds = seeds();
        let mut body = seeds[seed % seeds.len()].repeat(repeat);
        for (at, byte) in flips {
            let i = at % body.len();
            body[i] = byte;
        }
        let mut data = vec![step];
        data.extend_from_slice(&body);
        all(&data);
        // The message itself (without the frame header) through the conversions.
        conversions(&body[4.min(body.len())..]);
    }
}

/// The valid seeds decode and convert (so the mutations start from frames that reach the
/// conversions).
#[test]
fn seeds_decode() {
    for s in seeds() {
        let mut data = vec![7u8];
        data.extend_from_slice(&s);
        all(&data);
    }
}
