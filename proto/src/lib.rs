//! `qnet-proto`: the wire protocols (prost), their framing, and conversions into
//! `qnet-core` types. Everything decoded here is untrusted input: conversions reject
//! what is malformed instead of passing it on.

pub mod codec;
pub mod convert;
pub mod frame;
pub mod fuzzing;
pub mod hello;
pub mod one_copy;

use std::path::PathBuf;

/// Generated code, nested the way prost's cross-file paths expect.
#[allow(missing_docs, clippy::all)]
mod generated {
    pub mod qnet {
        pub mod local {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/qnet.local.v1.rs"));
            }
        }
        pub mod peer {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/qnet.peer.v1.rs"));
            }
        }
    }
}

/// The local protocol (library ↔ daemon), generated from `proto/local.proto`.
pub use generated::qnet::local::v1 as local;
/// The peer protocol (daemon ↔ daemon), generated from `proto/peer.proto`.
pub use generated::qnet::peer::v1 as peer;

/// Version of the peer protocol; a hello with another version is refused.
///
/// 3: the hello carries the node's message-size limit, and a forwarded call's answer carries
/// reply pieces (`Reply.pieces`, `data_offset`), which a version-2 peer would drop.
/// 4: one-way pulses on a unidirectional pulse stream, calls ordered after them by
/// `PeerCall.after_pulses` (a version-3 peer would never read the pulses).
/// 5: member directories on the control stream (`PeerDirectory`, which a version-4 peer
/// would take for an empty frame and close the link on) and the dial tie-break
/// (`PeerHello.dial`, `PeerRefused.duplicate`).
pub const PEER_PROTOCOL_VERSION: u32 = 5;

/// Version of the local protocol; a hello with another version is refused.
///
/// 3: replies carry the pieces the server wrote (`Reply.pieces`, `data_offset`); a version-2
/// library would ignore them and lose `MsgWrite` data.
/// 4: `ClientFrame.interrupt` (a signal unblocks a blocked call), which a version-3 daemon
/// would take for an empty frame and close the session on.
pub const LOCAL_PROTOCOL_VERSION: u32 = 4;

/// Where `qnetd` listens and the library connects when nothing else is said.
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/qnetd.sock";

/// Environment variable naming the socket path, honoured by both `qnetd` and the library.
pub const SOCKET_ENV: &str = "QNET_SOCKET";

/// SO_SNDBUF both ends of a THREAD session ask for (the kernel doubles it and caps it at
/// `net.core.wmem_max`). A Unix stream socket queues at most its sender's send buffer, so with
/// the ~208 KiB default a 1 MiB frame takes several write/wake/read rounds; with room for it,
/// one. Memory is charged only while bytes are queued. Best effort: the default works, slower.
pub const SESSION_SEND_BUFFER: usize = 1 << 20;

/// Where a system daemon listens: the shipped unit and sample config
/// (`node-daemon/dist/`).
pub const SYSTEM_SOCKET_PATH: &str = "/run/qnet/qnetd.sock";

/// The socket path: `$QNET_SOCKET` if set and non-empty, else [`DEFAULT_SOCKET_PATH`]. This
/// is where the daemon listens by default; a client looks in [`client_socket_paths`].
pub fn socket_path() -> PathBuf {
    env_socket_path().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH))
}

/// `$QNET_SOCKET`, if set and non-empty.
pub fn env_socket_path() -> Option<PathBuf> {
    std::env::var_os(SOCKET_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// The sockets a client tries, in order, until one answers: `$QNET_SOCKET` alone if set;
/// else a system daemon's [`SYSTEM_SOCKET_PATH`], then [`DEFAULT_SOCKET_PATH`] (a daemon
/// started by hand with the defaults). So clients find either without configuration.
pub fn client_socket_paths() -> Vec<PathBuf> {
    match env_socket_path() {
        Some(p) => vec![p],
        None => vec![
            PathBuf::from(SYSTEM_SOCKET_PATH),
            PathBuf::from(DEFAULT_SOCKET_PATH),
        ],
    }
}
