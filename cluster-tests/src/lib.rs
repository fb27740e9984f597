//! Test support for multi-node qnet tests.
