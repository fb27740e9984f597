//! How QNX priorities map onto Linux scheduling: one table, used by the library (its own
//! threads), the daemon (inheritance and boosts applied to other processes' threads) and
//! `qnet pidin` (reading a thread's real priority back).
//!
//! | QNX priority | real-time thread (SCHED_RR / SCHED_FIFO) | SCHED_OTHER thread |
//! |--------------|------------------------------------------|--------------------|
//! | 0            | 1                                        | nice 10            |
//! | 1..=89       | the same number                          | nice `10 - p`, within -20..=19 |
//! | 90..=255     | 89 ([`MAX_CLIENT_RT`])                   | nice -20           |
//! | `qnetd`      | SCHED_FIFO 90 ([`DAEMON_RT`], `--rt-priority`) | -            |
//!
//! Priority 10 (QNX's default) is nice 0, Linux's default. The daemon sits above every client
//! priority so that a real-time CPU hog cannot keep messages from flowing. Pure functions: no
//! system calls here.

use crate::ids::Priority;

/// Highest Linux real-time priority a client thread is given.
pub const MAX_CLIENT_RT: i32 = 89;

/// The daemon's default SCHED_FIFO priority, above every client.
pub const DAEMON_RT: i32 = 90;

/// A Linux scheduling policy, as `qnet pidin` shows it (QNX's letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// SCHED_FIFO (`f`).
    Fifo,
    /// SCHED_RR (`r`).
    RoundRobin,
    /// SCHED_OTHER, SCHED_BATCH or SCHED_IDLE (`o`).
    Other,
}

impl Policy {
    /// From Linux's policy number (`sched_getscheduler`, field 41 of `/proc/.../stat`).
    pub fn from_linux(policy: i32) -> Self {
        match policy {
            1 => Policy::Fifo,
            2 => Policy::RoundRobin,
            _ => Policy::Other,
        }
    }

    /// Linux's policy number (SCHED_OTHER for [`Policy::Other`]).
    pub fn linux(self) -> i32 {
        match self {
            Policy::Fifo => 1,
            Policy::RoundRobin => 2,
            Policy::Other => 0,
        }
    }

    /// Whether this is a real-time policy.
    pub fn is_realtime(self) -> bool {
        self != Policy::Other
    }

    /// QNX's letter for it: `f`, `r` or `o`.
    pub fn letter(self) -> char {
        match self {
            Policy::Fifo => 'f',
            Policy::RoundRobin => 'r',
            Policy::Other => 'o',
        }
    }
}

/// Linux real-time priority for QNX priority `p` (table above).
pub fn rt_priority(p: Priority) -> i32 {
    i32::from(p).clamp(1, MAX_CLIENT_RT)
}

/// Nice value for QNX priority `p` on a SCHED_OTHER thread (table above).
pub fn nice(p: Priority) -> i32 {
    (10 - i32::from(p)).clamp(-20, 19)
}

/// The QNX priority a thread runs at, from its Linux policy, real-time priority and nice
/// value (the inverse of the table; a real-time priority above 89 reads as itself).
pub fn qnx_priority(policy: Policy, rt_priority: i32, nice: i32) -> Priority {
    let p = if policy.is_realtime() {
        rt_priority
    } else {
        10 - nice
    };
    Priority::try_from(p.clamp(0, 255)).unwrap_or(0)
}

/// QNX style: priority then policy letter (`10r`, `10f`, `10o`).
pub fn display(priority: Priority, policy: Policy) -> String {
    format!("{priority}{}", policy.letter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips_in_its_range() {
        for p in 1..=89u8 {
            assert_eq!(qnx_priority(Policy::RoundRobin, rt_priority(p), 0), p);
        }
        for p in 0..=29u8 {
            assert_eq!(qnx_priority(Policy::Other, 0, nice(p)), p, "nice of {p}");
        }
        assert_eq!(nice(10), 0);
        assert_eq!(rt_priority(255), MAX_CLIENT_RT);
        assert_eq!(rt_priority(0), 1);
        const { assert!(DAEMON_RT > MAX_CLIENT_RT) };
        assert_eq!(display(10, Policy::RoundRobin), "10r");
    }
}
