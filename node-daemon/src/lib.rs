//! `qnet-daemon`: the drivers around `qnet-core` that make up `qnetd`.
//!
//! Where things are: `admin` (introspection sessions: `qnet pidin` and friends), [`config`] (command line), [`server`] (socket, accept loop, shutdown),
//! `session` (one connection: credentials, hello, frames), `driver` (the kernel, output
//! routing, the timer; its module doc explains the concurrency design), [`peer`] (links to
//! other daemons over QUIC: forwarded calls, served calls, notices), `shm` (shared-memory
//! handles), `fdpass` (SCM_RIGHTS), [`check`] (`qnetd --check`), [`poll`] (adaptive busy polling between hops), [`heap`]
//! (malloc thresholds for large messages), [`notify`] (systemd readiness), [`metrics`]
//! (the Prometheus endpoint and every metric), [`reload`] (what a config reload changes).

mod admin;
pub mod check;
pub mod config;
pub mod driver;
mod fdpass;
pub mod fuse;
pub mod heap;
pub mod local;
pub mod metrics;
pub mod notify;
pub mod one_copy;
pub mod peer;
pub mod poll;
pub mod reload;
pub mod sched;
pub mod server;
mod session;
pub mod shm;

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
