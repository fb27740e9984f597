//! The local side of the daemon: what it does for the processes of this host.
//!
//! - `direct`: the direct path's authority (segments, vouched credentials, kernel heads,
//!   deaths), [`direct::DirectRegistry`].

pub mod direct;
