//! `qnetd`: the qnet daemon.

fn main() {}
