//! `cargo +nightly fuzz run peer_frames`: see `qnet_proto::fuzzing::peer_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qnet_proto::fuzzing::peer_frames(data));
