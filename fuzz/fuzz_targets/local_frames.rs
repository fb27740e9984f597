//! `cargo +nightly fuzz run local_frames`: see `qnet_proto::fuzzing::local_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qnet_proto::fuzzing::local_frames(data));
