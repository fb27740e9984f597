//! `qnet`: the command line.

fn main() {}
