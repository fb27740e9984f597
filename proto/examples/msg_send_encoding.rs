//! Cost of encoding one `MsgSend` request frame two ways, measured in one run: the library's
//! hand encoding (`codec::encode_msg_send`: send parts copied once, straight into the reused
//! frame buffer) and the generic codec (parts gathered into a `Bytes`, then
//! `LocalRequest` → `local::Request` → `encode_frame_split`, a body of 16 KiB or more kept
//! apart). Run with `cargo run --release -p qnet-proto --example msg_send_encoding`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use qnet_core::Call;
use qnet_proto::codec::{LocalRequest, encode_msg_send};
use qnet_proto::frame::encode_frame_split;
use qnet_proto::local::{ClientFrame, client_frame};

/// Time per iteration of `f`, the best of five runs of `n`.
fn per_call(n: u32, mut f: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed() / n
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    println!("{:>9} {:>12} {:>12}", "bytes", "hand", "generic");
    for size in [16usize, 1024, 8 * 1024, 64 * 1024, 1 << 20] {
        // Two parts, as an IOV send would have.
        let a = vec![1u8; size / 2];
        let b = vec![2u8; size - size / 2];
        let parts: [&[u8]; 2] = [&a, &b];
        let n = (200_000_000 / (size as u32 + 200)).clamp(200, 1_000_000);
        let mut wbuf = Vec::with_capacity(256);
        let hand = per_call(n, || {
            wbuf.clear();
            encode_msg_send(&mut wbuf, 3, black_box(&parts), 4096, 10, None);
            black_box(&wbuf);
        });
        let mut wbuf = Vec::with_capacity(256);
        let generic = per_call(n, || {
            let data = Bytes::from(black_box(&parts).concat());
            let call = Call::MsgSend {
                coid: 3,
                data,
                reply_cap: 4096,
                priority: 10,
                realtime: false,
                timeout: None,
            };
            let mut frame = ClientFrame {
                frame: Some(client_frame::Frame::Request(
                    LocalRequest::Kernel(call).into(),
                )),
            };
            wbuf.clear();
            let body = encode_frame_split(&mut frame, &mut wbuf);
            black_box((&wbuf, body));
        });
        println!("{size:>9} {hand:>12?} {generic:>12?}");
    }
}
