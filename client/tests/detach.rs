//! Detaching a coid twice: the second `ConnectDetach` fails with `EINVAL`. A process of its
//! own with one test: coids are allocated lowest-free, so in a process with parallel tests
//! another test could be given the freed coid before the second detach (and lose its
//! connection to it).

mod common;

use common::TestDaemon;
use qnet::Errno;
use qnet::neutrino::*;

/// `ConnectDetach` of a coid that does not exist fails with `EINVAL`, as QNX documents
/// (issue 12: it was `EBADF`); so does `ConnectDetach(scoid)` of an unknown scoid; and a
/// connection made dead by `ChannelDestroy` detaches once, then its coid is unknown.
#[test]
fn detach_of_an_unknown_coid_or_scoid_is_einval() {
    let d = TestDaemon::start();
    qnet::set_socket_path(d.socket());
    assert_eq!(connect_detach(987_654).unwrap_err().errno(), Errno::EINVAL);
    assert_eq!(scoid_detach(987_654).unwrap_err().errno(), Errno::EINVAL);
    let ch = channel_create(ChannelFlags::default()).unwrap();
    let coid = connect_attach(0, 0, ch).unwrap();
    connect_detach(coid).unwrap();
    assert_eq!(connect_detach(coid).unwrap_err().errno(), Errno::EINVAL);

    let ch2 = channel_create(ChannelFlags::default()).unwrap();
    let dead = connect_attach(0, 0, ch2).unwrap();
    channel_destroy(ch2).unwrap();
    assert_eq!(
        msg_send(dead, b"z", &mut []).unwrap_err().errno(),
        Errno::EBADF
    );
    connect_detach(dead).unwrap();
    assert_eq!(connect_detach(dead).unwrap_err().errno(), Errno::EINVAL);
    channel_destroy(ch).unwrap();
}
