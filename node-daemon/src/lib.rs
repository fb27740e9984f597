//! `qnet-daemon`: the drivers around `qnet-core` that make up `qnetd`.
//!
//! Where things are: [`config`] (command line and file), [`server`] (socket, accept loop,
//! shutdown), [`driver`] (the kernel, output routing, the timer; its module doc explains the
//! concurrency design; the call counters), [`local`] (this host's processes: sessions,
//! admin, one copy, shared-memory handles, fd passing, framing, the direct path's segments),
//! [`peer`] (links to other daemons over QUIC: forwarded calls, served calls, notices),
//! `node_view` (this node as `qnet pidin` and the metrics see it), [`fuse`] (the
//! pathname space as a mount), [`check`] (`qnetd --check`), [`poll`] (adaptive busy polling
//! between hops), [`sched`] (the scheduling of client threads), [`heap`] (malloc thresholds
//! for large messages), [`notify`] (systemd readiness), [`metrics`] (the Prometheus endpoint
//! and every metric), [`reload`] (what a config reload changes).
//!
//! These modules form a tree, no import circle (`tests/module_tree.rs`): the driver knows
//! neither wing (`peer` reaches it as a `driver::Network`, `local`'s direct path as a
//! `driver::DirectPath`), and `server` hands each part the typed handles it needs.

pub mod check;
pub mod config;
pub mod driver;
pub mod fuse;
pub mod heap;
pub mod local;
pub mod metrics;
mod node_view;
pub mod notify;
pub mod peer;
pub mod poll;
pub mod reload;
pub mod sched;
pub mod server;

pub use config::Config;

/// `qnetd --version`: the package version and the commit it was built from (`unknown` when
/// built outside git without `QNET_COMMIT`; see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("QNET_COMMIT"),
    ")"
);
pub use server::{Server, ServerError, run};
