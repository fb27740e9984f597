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

/// Change one local thread's scheduling: its priority, keeping its policy (QNX inherits
/// "the priority, not the policy"); a SCHED_OTHER thread gets the table's nice value.
#[allow(unsafe_code)]
fn apply(change: PriorityChange) {
    let thread = change.thread;
    if thread.nd != 0 {
        return;
    }
    let (Ok(pid), Ok(tid)) = (i32::try_from(thread.pid), i32::try_from(thread.tid)) else {
        return;
    };
    // SAFETY: plain system calls on ids; signal 0 only checks that `tid` is a thread of `pid`.
    let belongs = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !belongs {
        return;
    }
    // SAFETY: as above.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    if policy < 0 {
        return;
    }
    let policy = Policy::from_linux(policy & !libc::SCHED_RESET_ON_FORK);
    let ok = if policy.is_realtime() {
        let param = libc::sched_param {
            sched_priority: rt_priority(change.priority),
        };
        // SAFETY: as above; `param` outlives the call.
        unsafe { libc::sched_setscheduler(tid, policy.linux(), &param) == 0 }
    } else {
        // SAFETY: as above.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice(change.priority)) == 0
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
    use super::*;

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
