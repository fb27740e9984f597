//! Entry points for fuzzing the decoders that untrusted bytes reach: the local frame decoder
//! (a client's frames), the peer frame decoder (another daemon's frames) and the wire
//! conversions into `qnet-core` types.
//!
//! Each function takes arbitrary bytes and panics only if an invariant breaks (a decoder
//! panicking on its own is the bug they look for). The `cargo fuzz` targets in `fuzz/` (nightly,
//! outside the workspace) call them, and so does the stable property test
//! `proto/tests/fuzz_entries.rs`, which runs in the suite.

use bytes::BytesMut;
use prost::Message;
use qnet_core::{Call, Completion, Errno};

use crate::codec::{CallFailure, LocalAnswer, LocalRequest};
use crate::frame::decode_frame;
use crate::{local, peer};

/// Largest frame the fuzzed decoders accept (small, so that an announced length costs little).
pub const FUZZ_MAX_FRAME: usize = 64 * 1024;

/// Feed `data` to a frame decoder in pieces (sizes from the data itself) and hand each
/// decoded frame to `each`. Checks that an incomplete frame consumes nothing.
fn frames<M: Message + Default>(data: &[u8], mut each: impl FnMut(M)) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match decode_frame::<M>(&mut buf, FUZZ_MAX_FRAME) {
                Ok(Some(m)) => each(m),
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete frame consumed bytes");
                    break;
                }
                Err(_) => return,
            }
        }
    }
}

/// A request as the daemon converts it; a request that converts must convert back to the
/// same request, and one that is a kernel call to the same call by the forwarded-call path.
fn request(r: local::Request) {
    if let Ok(req) = LocalRequest::try_from(r) {
        let again = LocalRequest::try_from(local::Request::from(req.clone()));
        assert_eq!(again.as_ref(), Ok(&req), "request round trip");
        if let LocalRequest::Kernel(call) = req {
            let again = Call::try_from(local::Request::from(&call));
            assert_eq!(again.as_ref(), Ok(&call), "call round trip");
        }
    }
}

/// A response as the library and the calling daemon convert it; one that converts converts
/// back the same.
fn response(r: local::Response) {
    if let Ok(answer) = Result::<LocalAnswer, CallFailure>::try_from(r.clone()) {
        let wire = match answer.clone() {
            Ok(a) => local::Response::from(a),
            Err(f) => local::Response::from(f),
        };
        let again = Result::<LocalAnswer, CallFailure>::try_from(wire);
        assert_eq!(again.as_ref(), Ok(&answer), "answer round trip");
    }
    if let Ok(result) = Result::<Completion, Errno>::try_from(r) {
        let again = Result::<Completion, Errno>::try_from(local::Response::from(result.clone()));
        assert_eq!(again.as_ref(), Ok(&result), "response round trip");
    }
}

/// The local protocol: client frames (as the daemon reads them) and daemon frames (as the
/// library reads them), with their requests and responses converted.
pub fn local_frames(data: &[u8]) {
    frames::<local::ClientFrame>(data, |f| {
        if let Some(local::client_frame::Frame::Request(r)) = f.frame {
            request(r);
        }
    });
    frames::<local::DaemonFrame>(data, |f| {
        if let Some(local::daemon_frame::Frame::Response(r)) = f.frame {
            response(r);
        }
    });
}

/// The peer protocol: call-stream frames (with their calls converted), control frames, and
/// answers (as the calling daemon reads them).
pub fn peer_frames(data: &[u8]) {
    frames::<peer::PeerStreamFrame>(data, |f| {
        if let Some(peer::peer_stream_frame::Frame::Call(c)) = f.frame
            && let Some(r) = c.request
        {
            request(r);
        }
    });
    frames::<peer::PeerControl>(data, |_| {});
    frames::<local::Response>(data, response);
    frames::<peer::PeerAdminAnswer>(data, |_| {});
}

/// The wire conversions on messages decoded straight from `data`.
pub fn conversions(data: &[u8]) {
    if let Ok(r) = local::Request::decode(data) {
        request(r);
    }
    if let Ok(r) = local::Response::decode(data) {
        response(r);
    }
}
