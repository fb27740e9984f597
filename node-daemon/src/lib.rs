//! `qnet-daemon`: the drivers around `qnet-core` that make up `qnetd`.
