//! `cargo +nightly fuzz run conversions`: see `qnet_proto::fuzzing::conversions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qnet_proto::fuzzing::conversions(data));
