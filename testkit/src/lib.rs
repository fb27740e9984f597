//! Test support shared by every crate's tests: one way to find the built binaries, start and
//! watch processes, run daemons, make certificates, relay UDP, speak the local and peer
//! protocols by hand, and run multi-node clusters on loopback.
//!
//! - [`bins`]: where `qnetd`, the `qnet` examples and `libqnetc` are, built at most once per
//!   test process and only when the sources are newer than them;
//! - [`lines`]: [`Lines`], a process's output collected by a thread, waitable;
//! - [`process`]: [`spawn`] (children die with the test process), [`Proc`] (a child with its
//!   output collected), [`run_guarded`], [`ok_output`], [`fails_with`], [`field`];
//! - [`daemon`]: [`Daemon`], one `qnetd` on a socket in a temp dir, and [`PeerNode`], one
//!   listening on QUIC for the daemon's peer tests;
//! - [`certs`]: [`Certs`], a throwaway cluster CA and node certificates;
//! - [`relay`]: [`Relay`], a UDP relay that can cut a link;
//! - [`raw_session`]: [`RawSession`], a local session speaking frames by hand, and
//!   [`admin_session`], [`admin_nodes`];
//! - [`raw_peer`]: [`RawPeer`], a QUIC peer speaking the peer protocol by hand;
//! - [`cluster`]: [`Cluster`] and [`Node`], several daemons linked over real QUIC;
//! - [`tools`]: tools outside Rust some tests need (Python's Prometheus parser, `cargo deb`),
//!   a missing one failing the test with what to install.
//!
//! Waits are bounded by [`GUARD`], a hang guard only: no assertion depends on timing.
//!
//! `tools/src/bench/procs.rs` (the `qnet bench` command's daemons and peers) has its own small
//! line collector on purpose: a shipped command must not depend on a test crate, and this
//! crate panics where the product returns errors.

pub mod bins;
pub mod certs;
pub mod cluster;
pub mod daemon;
pub mod lines;
pub mod process;
pub mod raw_peer;
pub mod raw_session;
pub mod relay;
pub mod tools;

use std::time::Duration;

pub use bins::{build_binaries, example_path, qnetd_path, target_dir};
pub use certs::Certs;
pub use cluster::{Cluster, LINK_TIMEOUT, MAX_MESSAGE, Node};
pub use daemon::{Daemon, PeerNode};
pub use lines::Lines;
pub use process::{Proc, fails_with, field, ok_output, run_guarded, spawn};
pub use raw_peer::RawPeer;
pub use raw_session::{RawSession, admin_nodes, admin_session, errno};
pub use relay::Relay;

/// Hang guard for every wait; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(30);
