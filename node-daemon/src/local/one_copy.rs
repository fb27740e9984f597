//! One copy (see `qnet_proto::one_copy`): on a THREAD session whose hello probe the daemon
//! could read, payloads move straight between the client's memory and the daemon with
//! `process_vm_readv` / `process_vm_writev`, one copy instead of a Unix socket's two.
//!
//! What the session does with it ([`Pending`]):
//! - before a call: [`resolve`] takes the spans out of the request frame, reads the send
//!   payload (`MsgSend.data_at`, `MsgReply.data_at`) into the bytes the kernel gets (a short
//!   or failed read: the call fails `EFAULT` and nothing else happens), and keeps the reply or
//!   receive buffer's spans for the pending call;
//! - before its answer: [`Pending::place`] writes a large reply's pieces (at their offsets,
//!   nothing else) or a large received message into those spans, and strips the bytes from
//!   the response. A write that fails or copies short leaves the response as it was: the
//!   bytes travel inline, as without one copy, and the library copies them again (the same
//!   bytes at the same offsets). Error answers write nothing.
//!
//! The daemon writes only inside the spans the client declared for the call it is answering,
//! only while that call is pending (the client is blocked reading the answer), and only into
//! the session's own peer process (SO_PEERCRED pid). Spans come from untrusted frames: their
//! count and total are bounded ([`checked_total`]) before anything is read or written.

use std::collections::HashMap;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::{Bytes, BytesMut};
use qnet_core::{Errno, Pid};
use qnet_proto::local::{self, Span, request::Call as WireCall, response::Result as WireResult};
use qnet_proto::one_copy::{ONE_COPY_MAGIC, ONE_COPY_MIN, SpanError, checked_total, place};

use crate::config::OneCopy;

/// Which clients one copy can reach, for the start-up log line: the kernel lets
/// `process_vm_readv` read a process only with ptrace-attach rights, so it depends on
/// `CAP_SYS_PTRACE` and Yama's `ptrace_scope` (a client without it uses the socket path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// `--one-copy off`.
    Off,
    /// Every client (the daemon has `CAP_SYS_PTRACE`, Yama allows it).
    All,
    /// Clients of the daemon's own uid (no `CAP_SYS_PTRACE`, `ptrace_scope` 0).
    SameUid,
    /// None: Yama's `ptrace_scope` (the value) forbids it to this daemon.
    None(u8),
}

impl Reach {
    /// The reach given the mode, whether `CAP_SYS_PTRACE` is effective, and Yama's
    /// `ptrace_scope` (0 without Yama): scope 1 allows only descendants (clients never are),
    /// 2 only `CAP_SYS_PTRACE`, 3 nobody.
    pub fn of(mode: OneCopy, cap_sys_ptrace: bool, ptrace_scope: u8) -> Reach {
        match (mode, ptrace_scope, cap_sys_ptrace) {
            (OneCopy::Off, _, _) => Reach::Off,
            (_, 3.., _) => Reach::None(ptrace_scope),
            (_, _, true) => Reach::All,
            (_, 0, false) => Reach::SameUid,
            (_, scope, false) => Reach::None(scope),
        }
    }

    /// The reach of this daemon, from `/proc/self/status` (`CapEff`) and
    /// `/proc/sys/kernel/yama/ptrace_scope`.
    pub fn of_this_process(mode: OneCopy) -> Reach {
        const CAP_SYS_PTRACE: u32 = 19;
        let cap = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
                u64::from_str_radix(hex.trim(), 16).ok()
            })
            .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0);
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Reach::of(mode, cap, scope)
    }
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reach::Off => f.write_str("off"),
            Reach::All => f.write_str("on for every client"),
            Reach::SameUid => {
                f.write_str("on for clients of this daemon's uid (no CAP_SYS_PTRACE)")
            }
            Reach::None(scope) => write!(
                f,
                "on but no client can be read (yama ptrace_scope {scope}{}): socket path",
                if *scope >= 3 {
                    ""
                } else {
                    " without CAP_SYS_PTRACE"
                }
            ),
        }
    }
}

/// The client process of a session, as one copy reaches it: its pid, and a pidfd opened when
/// it connected, which says whether that very process still lives. Every copy checks it
/// first, so a pid recycled after the client's exit (while another process holds the session
/// socket it handed over) is never read or written. One per process, shared by its sessions
/// ([`ClientProcesses`]).
#[derive(Debug)]
pub struct ClientProcess {
    pid: Pid,
    pidfd: OwnedFd,
    /// The registry it is listed in (it takes itself out when its last session drops it).
    registry: Weak<Mutex<HashMap<Pid, Weak<ClientProcess>>>>,
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            let mut map = registry.lock().unwrap_or_else(PoisonError::into_inner);
            // Unless a newer process with the same pid took the entry.
            if map.get(&self.pid).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.pid);
            }
        }
    }
}

/// The client processes one copy reaches: one pidfd per process, shared by all its sessions
/// (a process with 1,000 thread sessions costs the daemon 1,000 sockets and one pidfd, not
/// 2,000 descriptors).
#[derive(Debug, Default)]
pub struct ClientProcesses(Arc<Mutex<HashMap<Pid, Weak<ClientProcess>>>>);

impl ClientProcesses {
    /// The handle on process `pid`, which just connected: the one its other sessions hold
    /// while that process lives (it is the same process: a pid is reused only after its
    /// process is gone), else a new pidfd; `None` if none can be had (the process is gone, no
    /// descriptor is left, or the kernel is older than 5.3): then one copy stays off.
    pub fn open(&self, pid: Pid) -> Option<Arc<ClientProcess>> {
        // Not under the lock: dropping the last handle takes the lock (`Drop`).
        let held = self.lock().get(&pid).and_then(Weak::upgrade);
        if let Some(p) = held
            && p.alive()
        {
            return Some(p);
        }
        let p = Arc::new(ClientProcess {
            pid,
            pidfd: pidfd_open(pid)?,
            registry: Arc::downgrade(&self.0),
        });
        self.lock().insert(pid, Arc::downgrade(&p));
        Some(p)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Pid, Weak<ClientProcess>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Processes with a pidfd open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no process has a pidfd open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClientProcess {
    /// Whether the process still lives: its pidfd is not readable yet.
    fn alive(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }
}

/// `pidfd_open(pid, 0)`.
#[allow(unsafe_code)]
fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; nothing is
    // passed by pointer.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = std::os::fd::RawFd::try_from(fd)
        .ok()
        .filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by the kernel for us and is owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether one copy works with `client`: the daemon reads [`ONE_COPY_MAGIC`] at `probe` in
/// its memory. `EPERM` (the daemon may not ptrace it: another user without
/// `CAP_SYS_PTRACE`, Yama), `ESRCH` or a mismatch turn it off for that session.
pub fn probe(client: &ClientProcess, probe: u64) -> Result<(), String> {
    if probe == 0 {
        return Err("not asked".into());
    }
    let mut got = BytesMut::new();
    match read_into(
        client,
        &[qnet_proto::one_copy::span(probe, 16)],
        16,
        &mut got,
    ) {
        Ok(()) if got[..] == ONE_COPY_MAGIC => Ok(()),
        Ok(()) => Err("the probe address does not hold the magic".into()),
        Err(e) => Err(format!("cannot read the client's memory: {e}")),
    }
}

/// The reply or receive buffer of a session's pending call (a call has at most one: a
/// `MsgSend` its reply buffer, a receive its receive buffer). Empty: none named.
#[derive(Debug, Default)]
pub struct Pending {
    /// Where the buffer is.
    spans: Vec<Span>,
    /// A receive buffer (else a reply buffer).
    receive: bool,
}

/// Why a request's spans are refused before its call.
#[derive(Debug)]
pub struct Refused {
    /// The call's error.
    pub errno: Errno,
    /// Why, for the client.
    pub detail: String,
}

fn refused(errno: Errno, detail: String) -> Refused {
    Refused { errno, detail }
}

fn bad_spans(field: &str, e: SpanError) -> Refused {
    match e {
        SpanError::TooLong(_) => refused(Errno::EMSGSIZE, format!("{field}: {e}")),
        _ => refused(Errno::EINVAL, format!("{field}: {e}")),
    }
}

/// Take the spans out of `request` (so the codec sees plain bytes). On a session without one
/// copy any span is refused (`EINVAL`). Otherwise the send payload is read from process
/// `pid` into the request's bytes, and the reply / receive spans are kept in `pending` for
/// the answer. `max` bounds every list's total (`max_message_size`).
pub fn resolve(
    request: &mut local::Request,
    client: Option<&ClientProcess>,
    max: u64,
    pending: &mut Pending,
) -> Result<(), Refused> {
    pending.clear();
    let (send, data, reply, receive): (_, Option<&mut Bytes>, _, _) = match &mut request.call {
        Some(WireCall::MsgSend(c)) => (
            std::mem::take(&mut c.data_at),
            Some(&mut c.data),
            Some((std::mem::take(&mut c.reply_at), c.reply_cap)),
            None,
        ),
        Some(WireCall::MsgReply(c)) => (
            std::mem::take(&mut c.data_at),
            Some(&mut c.data),
            None,
            None,
        ),
        Some(WireCall::MsgReceive(c)) => (
            Vec::new(),
            None,
            None,
            Some((std::mem::take(&mut c.buf_at), c.cap)),
        ),
        Some(WireCall::MsgReplyReceive(c)) => (
            std::mem::take(&mut c.data_at),
            Some(&mut c.data),
            None,
            Some((std::mem::take(&mut c.buf_at), c.cap)),
        ),
        _ => return Ok(()),
    };
    let any = !send.is_empty()
        || reply.as_ref().is_some_and(|r| !r.0.is_empty())
        || receive.as_ref().is_some_and(|r| !r.0.is_empty());
    if !any {
        return Ok(());
    }
    let Some(client) = client else {
        return Err(refused(
            Errno::EINVAL,
            "buffers named by address on a session without one copy".into(),
        ));
    };
    for (field, is_receive, spans) in [("reply_at", false, reply), ("buf_at", true, receive)] {
        let Some((spans, cap)) = spans else { continue };
        if spans.is_empty() {
            continue;
        }
        let total = checked_total(&spans, max).map_err(|e| bad_spans(field, e))?;
        if total != cap {
            return Err(refused(
                Errno::EINVAL,
                format!("{field}: spans of {total} bytes for a buffer of {cap}"),
            ));
        }
        pending.spans = spans;
        pending.receive = is_receive;
    }
    if !send.is_empty() {
        let total = checked_total(&send, max).map_err(|e| bad_spans("data_at", e))?;
        let Some(data) = data else {
            unreachable!("only calls with a payload have send spans")
        };
        if !data.is_empty() {
            pending.clear();
            return Err(refused(
                Errno::EINVAL,
                "a payload both inline and by address".into(),
            ));
        }
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let mut buf = BytesMut::new();
        if let Err(e) = read_into(client, &send, total, &mut buf) {
            pending.clear();
            return Err(refused(
                Errno::EFAULT,
                format!("the send buffer cannot be read: {e}"),
            ));
        }
        *data = buf.freeze();
    }
    Ok(())
}

impl Pending {
    /// Before `response` answers the pending call: write its bytes into the client's reply
    /// or receive buffer if it is large and the call named one, stripping them from the
    /// response; on any failure leave it whole (the bytes go inline). Forgets the spans.
    pub fn place(&mut self, response: &mut local::Response, client: &ClientProcess) {
        let spans = std::mem::take(&mut self.spans);
        if spans.is_empty() {
            return;
        }
        let mut ranges = Vec::new();
        match &mut response.result {
            Some(WireResult::Reply(r)) if !self.receive => {
                let total = r.data.len() + r.pieces.iter().map(|p| p.data.len()).sum::<usize>();
                if total < ONE_COPY_MIN {
                    return;
                }
                let mut local = Vec::with_capacity(1 + r.pieces.len());
                for (offset, data) in std::iter::once((r.data_offset, &r.data))
                    .chain(r.pieces.iter().map(|p| (p.offset, &p.data)))
                {
                    let before = ranges.len();
                    place(&spans, offset, data.len() as u64, &mut ranges);
                    let placed: u64 = ranges[before..].iter().map(|r| r.1).sum();
                    // The kernel cuts pieces at the reply buffer; what lies past it is dropped.
                    let placed = usize::try_from(placed)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    local.push(data.slice(..placed));
                }
                if write_from(client, &local, &ranges).is_ok() {
                    r.data = Bytes::new();
                    r.data_offset = 0;
                    r.pieces.clear();
                }
            }
            Some(WireResult::Message(m)) if self.receive => {
                if m.data.len() < ONE_COPY_MIN {
                    return;
                }
                place(&spans, 0, m.data.len() as u64, &mut ranges);
                let placed: u64 = ranges.iter().map(|r| r.1).sum();
                let placed = usize::try_from(placed)
                    .unwrap_or(usize::MAX)
                    .min(m.data.len());
                if write_from(client, &[m.data.slice(..placed)], &ranges).is_ok() {
                    m.data = Bytes::new();
                }
            }
            _ => {}
        }
    }

    /// Forget the pending call's spans (it was answered).
    pub fn clear(&mut self) {
        self.spans.clear();
        self.receive = false;
    }
}

/// Why a copy to or from a client failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The syscall failed (`EFAULT`: a bad address; `ESRCH`: the process is gone; `EPERM`).
    #[error("{0}")]
    Sys(#[from] nix::errno::Errno),
    /// The client process has exited (its pid may already name another process).
    #[error("the client process has exited")]
    Gone,
    /// Part of the range was not mapped.
    #[error("copied {done} of {want} bytes")]
    Short {
        /// Bytes copied.
        done: usize,
        /// Bytes asked for.
        want: usize,
    },
}

fn iovecs(ranges: impl Iterator<Item = (u64, u64)>) -> Vec<nix::sys::uio::RemoteIoVec> {
    ranges
        .map(|(addr, len)| nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len: len as usize,
        })
        .collect()
}

/// Read `total` bytes (the spans' sum, already checked) of process `pid` at `spans` into
/// `buf` (appended), without zero-filling `buf` first.
fn read_into(
    client: &ClientProcess,
    spans: &[Span],
    total: usize,
    buf: &mut BytesMut,
) -> Result<(), CopyError> {
    if !client.alive() {
        return Err(CopyError::Gone);
    }
    let remote = iovecs(spans.iter().map(|s| (s.addr, s.len)));
    buf.reserve(total);
    let spare = buf.spare_capacity_mut();
    let local = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: total.min(spare.len()),
    };
    // SAFETY: `local` points into `buf`'s spare capacity, at least `total` bytes, which the
    // kernel only writes; `remote` is a valid array of `remote.len()` iovecs (addresses in
    // another process, checked by the kernel). On success exactly `n` bytes were written, so
    // extending the length by `n` exposes only initialized bytes.
    #[allow(unsafe_code)]
    let n = unsafe {
        let n = libc::process_vm_readv(
            client.pid as libc::pid_t,
            &local,
            1,
            remote.as_ptr().cast(),
            remote.len() as libc::c_ulong,
            0,
        );
        if n >= 0 {
            buf.set_len(buf.len() + n as usize);
        }
        n
    };
    if n < 0 {
        return Err(CopyError::Sys(nix::errno::Errno::last()));
    }
    let done = n as usize;
    if done != total {
        return Err(CopyError::Short { done, want: total });
    }
    Ok(())
}

/// Write `local` (in order) into process `pid` at `ranges` (their lengths add up to the
/// local bytes').
fn write_from(
    client: &ClientProcess,
    local: &[Bytes],
    ranges: &[(u64, u64)],
) -> Result<(), CopyError> {
    let want: usize = local.iter().map(|b| b.len()).sum();
    if want == 0 {
        return Ok(());
    }
    if !client.alive() {
        return Err(CopyError::Gone);
    }
    let slices: Vec<std::io::IoSlice<'_>> =
        local.iter().map(|b| std::io::IoSlice::new(b)).collect();
    let remote = iovecs(ranges.iter().copied());
    let done = nix::sys::uio::process_vm_writev(
        nix::unistd::Pid::from_raw(client.pid as i32),
        &slices,
        &remote,
    )?;
    if done != want {
        return Err(CopyError::Short { done, want });
    }
    Ok(())
}

#[cfg(test)]
mod reach_tests {
    use super::{OneCopy, Reach};

    #[test]
    fn reach_follows_the_capability_and_yama_scope() {
        // (mode, CAP_SYS_PTRACE, ptrace_scope) -> reach
        let rows = [
            (OneCopy::Off, true, 0, Reach::Off),
            (OneCopy::On, true, 0, Reach::All),
            (OneCopy::On, true, 1, Reach::All),
            (OneCopy::On, true, 2, Reach::All),
            (OneCopy::On, true, 3, Reach::None(3)),
            (OneCopy::On, false, 0, Reach::SameUid),
            (OneCopy::On, false, 1, Reach::None(1)),
            (OneCopy::On, false, 2, Reach::None(2)),
        ];
        for (mode, cap, scope, want) in rows {
            assert_eq!(
                Reach::of(mode, cap, scope),
                want,
                "{mode:?} cap {cap} scope {scope}"
            );
        }
        assert_eq!(
            Reach::None(1).to_string(),
            "on but no client can be read (yama ptrace_scope 1 without CAP_SYS_PTRACE): socket path"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22 item 2: the sessions of one process share one pidfd; it closes (and leaves
    /// the registry) with the last of them.
    #[test]
    fn one_pidfd_per_client_process() {
        let clients = ClientProcesses::default();
        let me = std::process::id();
        let Some(a) = clients.open(me) else {
            return; // no pidfd_open (kernel older than 5.3): nothing to share
        };
        let b = clients
            .open(me)
            .expect("a second session of the same process");
        assert!(Arc::ptr_eq(&a, &b), "two pidfds for one process");
        assert_eq!(clients.len(), 1);
        drop(a);
        assert_eq!(clients.len(), 1, "still held by a session");
        drop(b);
        assert!(clients.is_empty(), "the last session took it out");
        assert!(clients.open(u32::MAX - 1).is_none(), "no such process");
    }
}
