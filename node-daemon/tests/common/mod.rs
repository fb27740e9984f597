//! Test support: a real `qnetd` per test and a raw frame client, from the workspace test kit
//! (`qnet-testkit`) under the names these tests use.

#![allow(dead_code, unused_imports)]

pub use qnet_testkit::GUARD;
pub use qnet_testkit::daemon::{Daemon, MAX_MESSAGE};
pub use qnet_testkit::raw_session::{RawSession as Client, admin_session, errno};

/// `ChannelCreate` with no flags on `c`: the chid (panics on an error).
pub fn channel_create(c: &mut Client) -> i32 {
    use qnet_proto::local::{self, request, response};
    match c.call(request::Call::ChannelCreate(local::ChannelCreate {
        flags: 0,
    })) {
        response::Result::Chid(chid) => chid,
        other => panic!("ChannelCreate: {other:?}"),
    }
}
