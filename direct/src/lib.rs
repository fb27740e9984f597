//! `qnet-direct`: the direct local path's shared memory. A local call between two processes
//! that both use it goes client → server → client through memory the daemon set up, with a
//! futex wake-up only when a side sleeps; the daemon (`qnetd`) stays the authority but is not
//! woken for an ordinary call.
//!
//! Three kinds of segment, all made by the daemon (sealed memfds, [`segment`]) and handed
//! over the session socket; `layout` has the maps:
//! - a **table** per serving process: per channel the kernel's head (what the daemon's kernel
//!   holds for it: messages of clients not on this path, system and remote pulses) and the
//!   count of sleeping receivers; per pair what the daemon vouches for about its client (pid,
//!   uid, gid, scoid). The server maps it read-write, its clients read-only.
//! - **bells** per serving process: a futex word per channel and a hint bit per pair; any
//!   client of the process may write them, so they carry nothing but wake-ups.
//! - a **pair** per client process and channel: the client's ring of posted entries
//!   (messages, pulses, unblock requests) and its slots (one per call in progress: header,
//!   send area, reply area). Only that client and the server map it (and the daemon, its
//!   control part).
//!
//! [`client::ClientPair`] is the calling side, [`server::Served`] the serving side; the
//! library (`qnet`) puts them together with its sessions. Trust: credentials come only from
//! the table (daemon-written, read-only to clients); everything a client writes is checked
//! where it is read, and can only change that client's own calls.

pub mod authority;
pub mod client;
pub mod futex;
pub mod layout;
mod map;
pub mod segment;
pub mod server;
pub mod signals;
pub mod slot;
pub mod views;

pub use map::Mapping;

/// CLOCK_MONOTONIC in nanoseconds: the arrival stamps of entries and of the kernel's head, so
/// that items from clients and from the daemon are ordered by one clock.
#[allow(unsafe_code)]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
