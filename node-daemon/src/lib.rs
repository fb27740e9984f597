//! `qnet-daemon`: the drivers around `qnet-core` that make up `qnetd`.
//!
//! Where things are: `admin` (introspection sessions: `qnet pidin` and friends), [`config`] (command line), [`server`] (socket, accept loop, shutdown),
//! `session` (one connection: credentials, hello, frames), `driver` (the kernel, output
//! routing, the timer; its module doc explains the concurrency design), [`peer`] (links to
//! other daemons over QUIC: forwarded calls, served calls, notices), `shm` (shared-memory
//! handles), `fdpass` (SCM_RIGHTS), [`poll`] (adaptive busy polling between hops), [`heap`]
//! (malloc thresholds for large messages).

mod admin;
pub mod config;
pub mod driver;
mod fdpass;
pub mod heap;
pub mod peer;
pub mod poll;
pub mod server;
mod session;
pub mod shm;

pub use config::Config;
pub use server::{Server, ServerError, run};
