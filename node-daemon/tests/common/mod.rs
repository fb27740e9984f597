//! Test support: a real `qnetd` per test and a raw frame client, from the workspace test kit
//! (`qnet-testkit`) under the names these tests use.

#![allow(dead_code, unused_imports)]

pub use qnet_testkit::GUARD;
pub use qnet_testkit::daemon::{Daemon, MAX_MESSAGE};
pub use qnet_testkit::raw_session::{RawSession as Client, admin_session, errno};
