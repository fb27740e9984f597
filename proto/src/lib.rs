//! `qnet-proto`: the wire protocols (prost), their framing, and conversions into
//! `qnet-core` types. Everything decoded here is untrusted input: conversions reject
//! what is malformed instead of passing it on.

/// The local protocol (library ↔ daemon), generated from `proto/local.proto`.
#[allow(missing_docs, clippy::all)]
pub mod local {
    include!(concat!(env!("OUT_DIR"), "/qnet.local.v1.rs"));
}

/// Version of the local protocol; a hello with another version is refused.
pub const LOCAL_PROTOCOL_VERSION: u32 = 1;
