//! OS scheduling of threads: the mode a process runs in ([`mode`]) and the system calls that
//! read and change a thread's Linux policy and priority, by the table of
//! [`qnet_core::sched`].
//!
//! Modes (decided once per process, printed once on stderr the first time a priority would
//! change the OS scheduling):
//! - [`Mode::Realtime`]: the process may use real-time scheduling (`CAP_SYS_NICE`, or a
//!   non-zero `RLIMIT_RTPRIO`, which caps the priorities used). [`crate::set_priority`]
//!   makes the thread SCHED_RR (it keeps SCHED_FIFO if it has it) at the table's priority;
//!   inherited priorities change a real-time thread's priority (not its policy) and a
//!   SCHED_OTHER thread's nice value (only with `CAP_SYS_NICE`; without it only lowering).
//! - [`Mode::ReportOnly`]: the fallback: priorities are carried with messages and pulses,
//!   ordered by the kernel and reported to servers, but no thread's scheduling changes.
//!
//! `QNET_SCHED=report` forces the fallback; `QNET_SCHED=realtime` asks for real-time even
//! when the checks say no (changes then fail with `EPERM`, which [`crate::set_priority`]
//! reports on stderr once).

use std::io;
use std::sync::OnceLock;

use qnet_core::Priority;
pub use qnet_core::sched::{Policy, display, nice, qnx_priority, rt_priority};

/// How a process's priorities reach the OS scheduler (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Threads get SCHED_RR/SCHED_FIFO priorities up to `max_rt` (Linux numbers).
    Realtime {
        /// Highest Linux real-time priority this process may use.
        max_rt: i32,
        /// Whether it may also raise nice values (`CAP_SYS_NICE`).
        may_renice: bool,
    },
    /// Priorities are carried and reported only.
    ReportOnly,
}

/// `CAP_SYS_NICE`'s bit in `CapEff`.
const CAP_SYS_NICE: u32 = 23;

/// Whether this process has `CAP_SYS_NICE` in its effective set.
pub fn has_cap_sys_nice() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_NICE) != 0)
}

/// `RLIMIT_RTPRIO`'s soft limit (0 if unreadable).
fn rtprio_limit() -> i32 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_RTPRIO)
        .map(|(soft, _)| i32::try_from(soft.min(99)).unwrap_or(99))
        .unwrap_or(0)
}

fn detect() -> Mode {
    let forced = std::env::var("QNET_SCHED").ok();
    let cap = has_cap_sys_nice();
    let limit = if cap { 99 } else { rtprio_limit() };
    match forced.as_deref() {
        Some("report") => Mode::ReportOnly,
        Some("realtime") => Mode::Realtime {
            max_rt: limit.max(1),
            may_renice: cap,
        },
        _ if limit >= 1 => Mode::Realtime {
            max_rt: limit,
            may_renice: cap,
        },
        _ => Mode::ReportOnly,
    }
}

/// This process's mode (decided on first use).
pub fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(detect)
}

/// The one line saying which mode this process runs in.
pub fn describe(mode: Mode) -> String {
    match mode {
        Mode::Realtime { max_rt, .. } => format!(
            "qnet: priorities are real-time: QNX priority p runs as SCHED_RR/SCHED_FIFO \
             min(p, {}) (Linux), inherited on receive",
            max_rt.min(qnet_core::sched::MAX_CLIENT_RT)
        ),
        Mode::ReportOnly => "qnet: priorities are report-only (no CAP_SYS_NICE, RLIMIT_RTPRIO 0, \
             or QNET_SCHED=report): carried with messages and pulses, OS scheduling unchanged"
            .to_owned(),
    }
}

/// Print [`describe`] once per process (the first time scheduling would change).
pub(crate) fn announce() -> Mode {
    static ONCE: OnceLock<()> = OnceLock::new();
    let m = mode();
    ONCE.get_or_init(|| eprintln!("{}", describe(m)));
    m
}

/// A thread's scheduling as Linux has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadSched {
    /// Its policy.
    pub policy: Policy,
    /// Its real-time priority (0 for SCHED_OTHER).
    pub rt_priority: i32,
    /// Its nice value.
    pub nice: i32,
}

impl ThreadSched {
    /// The QNX priority it runs at (by the table).
    pub fn priority(&self) -> Priority {
        qnx_priority(self.policy, self.rt_priority, self.nice)
    }
}

/// Read thread `tid`'s scheduling (0: the calling thread).
#[allow(unsafe_code)]
pub fn thread_sched(tid: i32) -> io::Result<ThreadSched> {
    // SAFETY: plain system calls on a thread id; `param` is a valid out-pointer.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    if policy < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as above.
    if unsafe { libc::sched_getparam(tid, &mut param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // getpriority may return -1 legitimately; errno tells (cleared first).
    nix::errno::Errno::clear();
    // SAFETY: as above.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
    if nice == -1 && nix::errno::Errno::last_raw() != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ThreadSched {
        policy: Policy::from_linux(policy & !libc::SCHED_RESET_ON_FORK),
        rt_priority: param.sched_priority,
        nice,
    })
}

/// Set thread `tid` (0: the calling thread) to `policy` at QNX priority `p`: a real-time
/// policy gets the table's priority capped at `max_rt`, SCHED_OTHER gets the table's nice.
#[allow(unsafe_code)]
pub fn set_thread_sched(tid: i32, policy: Policy, p: Priority, max_rt: i32) -> io::Result<()> {
    if policy.is_realtime() {
        let param = libc::sched_param {
            sched_priority: rt_priority(p).min(max_rt).max(1),
        };
        // SAFETY: plain system call; `param` outlives it.
        if unsafe { libc::sched_setscheduler(tid, policy.linux(), &param) } != 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(());
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as above.
    if unsafe { libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice(p)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the calling thread runs a real-time policy now (one system call; what a direct
/// send tells its server, which checks it with the kernel).
#[allow(unsafe_code)]
pub(crate) fn runs_realtime() -> bool {
    // SAFETY: plain system call on the calling thread.
    let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
    policy == libc::SCHED_FIFO || policy == libc::SCHED_RR
}

/// Run the calling thread at QNX priority `p` as inheritance says, as far as `mode` allows
/// (the daemon's rules, `qnetd`'s `sched.rs`): from a real-time sender (`Some(true)`) a
/// real-time policy (its own, else SCHED_RR lent, marked `SCHED_RESET_ON_FORK`); from a
/// SCHED_OTHER sender (`Some(false)`) a lent policy goes back to SCHED_OTHER; otherwise
/// ("the priority, not the policy") the policy it has. Errors are the system's (`EPERM`).
#[allow(unsafe_code)]
pub(crate) fn inherit(mode: Mode, p: Priority, realtime: Option<bool>) -> io::Result<()> {
    let Mode::Realtime { max_rt, may_renice } = mode else {
        return Ok(());
    };
    let now = thread_sched(0)?;
    // SAFETY: plain system call on the calling thread.
    let raw = unsafe { libc::sched_getscheduler(0) };
    let lent = now.policy.is_realtime() && raw >= 0 && raw & libc::SCHED_RESET_ON_FORK != 0;
    let set_rt = |policy: Policy, lent: bool| -> io::Result<()> {
        let param = libc::sched_param {
            sched_priority: rt_priority(p).min(max_rt).max(1),
        };
        let mark = if lent { libc::SCHED_RESET_ON_FORK } else { 0 };
        // SAFETY: plain system call on the calling thread; `param` outlives it.
        if unsafe { libc::sched_setscheduler(0, policy.linux() | mark, &param) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    match (realtime, now.policy.is_realtime(), lent) {
        (Some(true), true, lent) => set_rt(now.policy, lent),
        (Some(true), false, _) => set_rt(Policy::RoundRobin, true),
        (Some(false), true, true) => set_thread_sched(0, Policy::Other, p, max_rt),
        (_, true, lent) => set_rt(now.policy, lent),
        (_, false, _) => {
            if !may_renice && nice(p) < now.nice {
                return Ok(()); // raising a SCHED_OTHER thread needs CAP_SYS_NICE: report only
            }
            set_thread_sched(0, now.policy, p, max_rt)
        }
    }
}
