//! The daemon's scheduling: its own real-time priority (`--rt-priority`, above every client
//! by `qnet_core::sched`'s table) and the priority changes the kernel decides for receiving
//! threads (`Kernel::poll_priority`: inheritance on receive, server boost, restore), applied
//! to those threads with `sched_setscheduler` / `setpriority`.
//!
//! Another process's thread can only be changed with `CAP_SYS_NICE` (the shipped systemd unit
//! grants it). Without it the daemon says so once and changes nothing: each library still
//! applies inherited priorities to its own threads after their receive returns (which is too
//! late for a receiver starved by a real-time CPU hog, and boosts of busy threads do not
//! happen).
//!
//! `QNET_SCHED=report` in the daemon's environment forces that fallback (and no SCHED_FIFO
//! for itself), as it does for a library.
//!
//! A thread id comes from the client; before changing a thread the daemon checks with
//! `tgkill(pid, tid, 0)` that it is a thread of the process whose session it is, so a client
//! cannot have another process's thread re-prioritised.
//!
//! Real-time inheritance (issue 22): every `MsgSend` of a local thread carries whether that
//! thread runs a real-time policy, read here ([`sender_realtime`]) and never taken from the
//! client. A receiver of a real-time sender's message runs real-time at its priority while it
//! serves it: a real-time receiver keeps its own policy (QNX inherits the priority, not the
//! policy), a SCHED_OTHER one is lent SCHED_RR, marked `SCHED_RESET_ON_FORK` (a lent policy is
//! not passed to children, and the mark says it was lent); its next message from a
//! SCHED_OTHER sender gives it its own policy back (SCHED_OTHER at the table's nice). A
//! policy the thread set itself is never taken away.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use qnet_core::sched::{Policy, nice, rt_priority};
use qnet_core::{Kernel, PriorityChange};

/// Whether the daemon applies priority changes to client threads.
static APPLY: AtomicBool = AtomicBool::new(false);

/// How the daemon runs, decided once at start (see [`init`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduling {
    /// Its own SCHED_FIFO priority (`None`: it stays SCHED_OTHER).
    pub own_rt: Option<i32>,
    /// Whether it changes client threads' priorities (has `CAP_SYS_NICE`).
    pub applies: bool,
    /// Its CPU affinity set has one CPU (so busy polling at a real-time priority could only
    /// delay the thread it waits for, and is turned off).
    pub one_cpu: bool,
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.own_rt {
            Some(p) => write!(f, "SCHED_FIFO {p}")?,
            None => write!(f, "SCHED_OTHER")?,
        }
        if self.applies {
            write!(
                f,
                ", applies inherited priorities and boosts to client threads"
            )
        } else {
            write!(
                f,
                ", report-only for client threads (no CAP_SYS_NICE: libraries apply inherited \
                 priorities themselves, no server boost)"
            )
        }
    }
}

/// `CAP_SYS_NICE`'s bit in `CapEff`.
const CAP_SYS_NICE: u32 = 23;

fn has_cap_sys_nice() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_NICE) != 0)
}

/// CPUs this thread may run on.
fn allowed_cpus() -> usize {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count()
        })
        .unwrap_or(0)
}

/// Take SCHED_FIFO `rt_priority` (0: stay SCHED_OTHER) for the calling thread (call it before
/// the runtime starts its threads: they inherit it) and decide whether client threads are
/// changed. Never fails: what could not be done is in the result (and the start-up log).
#[allow(unsafe_code)]
pub fn init(rt_priority: u8) -> Scheduling {
    // The library's knob forces the fallback here too: no real-time, no changes to clients.
    let report_only = std::env::var("QNET_SCHED").is_ok_and(|v| v == "report");
    let cap = has_cap_sys_nice() && !report_only;
    let rt_priority = if report_only { 0 } else { rt_priority };
    let mut own_rt = None;
    if rt_priority > 0 {
        let param = libc::sched_param {
            sched_priority: i32::from(rt_priority),
        };
        // SAFETY: plain system call on the calling thread; `param` outlives it.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
            own_rt = Some(i32::from(rt_priority));
        }
    }
    APPLY.store(cap, Ordering::Relaxed);
    Scheduling {
        own_rt,
        applies: cap,
        one_cpu: allowed_cpus() == 1,
    }
}

/// Apply every priority change the kernel decided (under the kernel lock, before the
/// completions they go with are sent, so a receiver is raised before it must run).
pub fn apply_all(kernel: &mut Kernel) {
    while let Some(change) = kernel.poll_priority() {
        if APPLY.load(Ordering::Relaxed) {
            apply(change);
        }
    }
}

/// Apply one priority change decided outside the kernel (the direct path's server boost),
/// when the daemon may change client threads' scheduling.
pub fn apply_one(change: PriorityChange) {
    if APPLY.load(Ordering::Relaxed) {
        apply(change);
    }
}

/// Whether thread `tid` of process `pid` is that process's.
#[allow(unsafe_code)]
fn belongs(pid: i32, tid: i32) -> bool {
    // SAFETY: plain system call on ids; signal 0 only checks that `tid` is a thread of `pid`.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether local `thread` (a client making a `MsgSend`) runs a real-time policy, as the
/// daemon reads it (one system call; a thread id that is not the process's reads as not
/// real-time).
#[allow(unsafe_code)]
pub fn sender_realtime(thread: qnet_core::ThreadKey) -> bool {
    let (Ok(pid), Ok(tid)) = (i32::try_from(thread.pid), i32::try_from(thread.tid)) else {
        return false;
    };
    // SAFETY: plain system call on a thread id.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    policy >= 0
        && Policy::from_linux(policy & !libc::SCHED_RESET_ON_FORK).is_realtime()
        && belongs(pid, tid)
}

/// What a thread's scheduling becomes for `change`, given its policy now (`lent`: a real-time
/// policy the daemon lent it, `SCHED_RESET_ON_FORK`): the Linux policy (with the mark) and
/// priority, or the nice value for SCHED_OTHER. Pure: the rules of the module doc.
pub fn target(policy: Policy, lent: bool, change: &PriorityChange) -> Target {
    let rt = |policy: Policy, lent: bool| Target::Realtime {
        policy,
        lent,
        priority: rt_priority(change.priority),
    };
    match (change.realtime, policy.is_realtime(), lent) {
        // A real-time sender: keep a real-time policy, else lend SCHED_RR.
        (Some(true), true, lent) => rt(policy, lent),
        (Some(true), false, _) => rt(Policy::RoundRobin, true),
        // A SCHED_OTHER sender: a lent policy goes back.
        (Some(false), true, true) => Target::Other {
            nice: nice(change.priority),
        },
        // Otherwise the policy stays, at the new priority.
        (_, true, lent) => rt(policy, lent),
        (_, false, _) => Target::Other {
            nice: nice(change.priority),
        },
    }
}

/// A thread's scheduling as [`target`] decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A real-time policy at a Linux priority; `lent`: marked as lent.
    Realtime {
        /// SCHED_RR or SCHED_FIFO.
        policy: Policy,
        /// Lent by the daemon (`SCHED_RESET_ON_FORK`).
        lent: bool,
        /// Linux real-time priority.
        priority: i32,
    },
    /// SCHED_OTHER at a nice value.
    Other {
        /// The nice value.
        nice: i32,
    },
}

/// Change one local thread's scheduling as [`target`] says.
#[allow(unsafe_code)]
fn apply(change: PriorityChange) {
    let thread = change.thread;
    if thread.nd != 0 {
        return;
    }
    let (Ok(pid), Ok(tid)) = (i32::try_from(thread.pid), i32::try_from(thread.tid)) else {
        return;
    };
    if !belongs(pid, tid) {
        return;
    }
    // SAFETY: plain system call on a thread id.
    let raw = unsafe { libc::sched_getscheduler(tid) };
    if raw < 0 {
        return;
    }
    let policy = Policy::from_linux(raw & !libc::SCHED_RESET_ON_FORK);
    let lent = raw & libc::SCHED_RESET_ON_FORK != 0 && policy.is_realtime();
    let ok = match target(policy, lent, &change) {
        Target::Realtime {
            policy,
            lent,
            priority,
        } => {
            let param = libc::sched_param {
                sched_priority: priority,
            };
            let mark = if lent { libc::SCHED_RESET_ON_FORK } else { 0 };
            // SAFETY: plain system call; `param` outlives it.
            unsafe { libc::sched_setscheduler(tid, policy.linux() | mark, &param) == 0 }
        }
        Target::Other { nice } => {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: plain system calls on a thread id; `param` outlives them.
            unsafe {
                (!policy.is_realtime()
                    || libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) == 0)
                    && libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) == 0
            }
        }
    };
    if !ok {
        static ONCE: OnceLock<()> = OnceLock::new();
        let e = std::io::Error::last_os_error();
        ONCE.get_or_init(|| {
            tracing::warn!(%thread, error = %e, "cannot change a client thread's priority (logged once)");
        });
    } else {
        tracing::trace!(%thread, priority = change.priority, cause = ?change.cause, "priority applied");
    }
}

/// Thread `tid` of local process `pid`, QNX style (`10r`, `10f`, `10o`) from
/// `/proc/<pid>/task/<tid>/stat` (nice, rt_priority, policy); empty if unreadable.
pub(crate) fn thread_sched_text(pid: u32, tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .map(|(policy, rt, nice)| {
            qnet_core::sched::display(qnet_core::sched::qnx_priority(policy, rt, nice), policy)
        })
        .unwrap_or_default()
}

/// (policy, rt_priority, nice) from a `/proc/.../stat` line (fields 19, 40, 41; the command
/// name in parentheses may hold spaces, so fields are counted after its closing one).
fn parse_stat(stat: &str) -> Option<(Policy, i32, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    let nice = field(19)?;
    let rt = field(40)?;
    let policy = field(41)?;
    Some((
        Policy::from_linux(i32::try_from(policy).ok()?),
        i32::try_from(rt).ok()?,
        i32::try_from(nice).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use qnet_core::{PriorityCause, ThreadKey};

    use super::*;

    /// Issue 22's rules, table-tested: a real-time sender lends SCHED_RR (marked) to a
    /// SCHED_OTHER receiver, a real-time receiver keeps its policy; a SCHED_OTHER sender takes
    /// back only a lent policy; a pulse (no policy) changes the priority only.
    #[test]
    fn real_time_inheritance_targets() {
        let change = |priority, realtime| PriorityChange {
            thread: ThreadKey::local(1, 1),
            priority,
            cause: PriorityCause::Received,
            realtime,
        };
        let rt = |policy, lent, priority| Target::Realtime {
            policy,
            lent,
            priority,
        };
        let rows = [
            // (policy now, lent, priority, realtime) -> target
            (
                Policy::Other,
                false,
                40,
                Some(true),
                rt(Policy::RoundRobin, true, 40),
            ),
            (
                Policy::Fifo,
                false,
                40,
                Some(true),
                rt(Policy::Fifo, false, 40),
            ),
            (
                Policy::RoundRobin,
                true,
                50,
                Some(true),
                rt(Policy::RoundRobin, true, 50),
            ),
            (
                Policy::RoundRobin,
                true,
                10,
                Some(false),
                Target::Other { nice: 0 },
            ),
            (
                Policy::Fifo,
                false,
                10,
                Some(false),
                rt(Policy::Fifo, false, 10),
            ),
            (
                Policy::Other,
                false,
                20,
                Some(false),
                Target::Other { nice: -10 },
            ),
            (
                Policy::RoundRobin,
                true,
                35,
                None,
                rt(Policy::RoundRobin, true, 35),
            ),
            (Policy::Other, false, 5, None, Target::Other { nice: 5 }),
            (
                Policy::Other,
                false,
                200,
                Some(true),
                rt(Policy::RoundRobin, true, 89),
            ),
        ];
        for (policy, lent, p, realtime, want) in rows {
            assert_eq!(
                target(policy, lent, &change(p, realtime)),
                want,
                "{policy:?} lent={lent} p={p} realtime={realtime:?}"
            );
        }
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 5 3 0 0 -51 0 1 0 100 \
                    1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 50 2 0 0 0";
        assert_eq!(parse_stat(line), Some((Policy::RoundRobin, 50, 0)));
        let me = thread_sched_text(std::process::id(), std::process::id());
        assert!(
            me.ends_with('o') || me.ends_with('r') || me.ends_with('f'),
            "{me}"
        );
    }
}
