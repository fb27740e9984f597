//! The direct path in the library: local calls between two processes that both use it go
//! through shared memory the daemon set up (`qnet-direct`), with a futex wake-up only when a
//! side sleeps; the daemon is not woken for them.
//!
//! - **Calling side.** The first send or pulse on a coid asks the daemon for the coid's pair
//!   (`DirectMap`, on an SHM session: the pair, the server's table read-only and its bells
//!   come back as descriptors). A coid whose channel is not served directly (another node's,
//!   an older library's server, a server that has not received yet) stays on the socket
//!   path and is asked about again later (10 ms, doubling to 1 s). A thread keeps one slot
//!   per pair it calls on; a send larger than a slot, a zero timeout, or no free slot take
//!   the socket path.
//! - **Serving side.** The first receive on a chid asks the daemon to serve it directly
//!   (`DirectServe`). From then on a receive drains its clients' rings (fetching the segment
//!   of each new pair with `DirectPair`), compares its first item with what the daemon's
//!   kernel holds for the channel (published in the table), and takes the first of the two:
//!   its own in place, the kernel's with a non-blocking `MsgReceive`. It sleeps on the
//!   channel's bell. Direct messages get rcvids from 2^30 up (the kernel's are below), and
//!   `MsgReply`, `MsgError`, `MsgRead`, `MsgWrite` and `MsgInfo` on them are answered in
//!   place.
//! - **Authority.** Credentials in `_msg_info` come from the table the daemon writes. A
//!   watchdog thread polls the process session: if the daemon goes, every direct wait in the
//!   process ends with `EIO`, as calls on the socket path do.
//! - `QNET_DIRECT=0` keeps a process off it; so does `qnetd --direct off`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{IoSliceMut, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use qnet_core::{
    Call, Chid, Coid, Completion, Errno, MsgInfo, MsgInfoFlags, PULSE_SIZE, Priority, Pulse, Rcvid,
    Received, Timeout, TimeoutStates,
};
use qnet_direct::client::{ClientPair, Deadline, Interrupt, Outcome, PulseRefused, Send};
use qnet_direct::futex;
use qnet_direct::layout::{self, Kind, REPLY_AREA, SEND_AREA, SLOTS_MAX};
use qnet_direct::segment;
use qnet_direct::server::{AnswerError, Served, Slept, Taken, TakenMessage, is_direct_rcvid};
use qnet_direct::views::{Bells, Pair, Table};
use qnet_proto::codec::{DirectGrant, DirectRequest, LocalAnswer, LocalRequest};
use qnet_proto::local::{SessionKind, Timeout as WireTimeout};

use crate::error::{Error, Result};
use crate::session::{self, gettid};

/// Environment variable that keeps this process off the direct path when `0` or `off`.
pub const DIRECT_ENV: &str = "QNET_DIRECT";

/// Whether the process may use the path: 0 not decided yet, 1 on, 2 off.
static ENABLED: AtomicU8 = AtomicU8::new(0);
/// The daemon of the current state went away; set by the watchdog.
static GONE: AtomicBool = AtomicBool::new(false);
/// The process session the watchdog watched when the daemon went.
static GONE_AT: AtomicU64 = AtomicU64::new(0);
/// Everything the process holds of the path.
static STATE: Mutex<Option<Proc>> = Mutex::new(None);

/// First wait before asking again about a coid that is not direct.
const RETRY_FIRST: Duration = Duration::from_millis(10);
/// Longest wait between asks.
const RETRY_MAX: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Proc {
    /// The process this state was made in (a forked child starts afresh).
    pid: u32,
    conns: HashMap<Coid, Conn>,
    /// Pairs by (server pid, index, generation): two coids to one channel share one.
    pairs: HashMap<(u32, u32, u32), Weak<ClientPair>>,
    /// Servers' tables and bells, by server pid.
    servers: HashMap<u32, ServerSegs>,
    served: Option<Arc<ServedProc>>,
    chans: HashMap<Chid, Chan>,
    waiters: HashMap<u32, Waiter>,
    watchdog: bool,
}

/// A server's table (read-only) and bells, as its clients map them.
type ServerSegs = (Arc<Table>, Arc<Bells>);

enum Conn {
    Direct(Arc<ClientPair>),
    Off { retry: Instant, backoff: Duration },
}

#[derive(Clone, Copy)]
enum Chan {
    Direct { flags: u32 },
    Off,
}

/// This process as a server.
struct ServedProc {
    served: Mutex<Served>,
    table: Arc<Table>,
    bells: Arc<Bells>,
    /// Channels this process served on the path (those whose receivers `wake_all` wakes).
    chids: Mutex<std::collections::HashSet<Chid>>,
}

impl ServedProc {
    fn note_chid(&self, chid: Chid) {
        lock(&self.chids).insert(chid);
    }

    /// Every receiver of `chid` (or of all channels) looks again: the channel is gone, the
    /// daemon is gone, or a thread is cancelled.
    fn wake_all(&self, chid: Option<Chid>) {
        let chids: Vec<Chid> = match chid {
            Some(c) => vec![c],
            None => lock(&self.chids).iter().copied().collect(),
        };
        for c in chids {
            qnet_direct::views::wake_every(&self.bells, c);
        }
    }

    /// Wake one receiver of `chid` (items are left for others, or a claimed receiver leaves
    /// without a take).
    fn pass_on(&self, chid: Chid) {
        qnet_direct::views::wake_one(&self.table, &self.bells, chid);
    }
}

/// A thread waiting on the path, for `unblock` from another thread.
struct Waiter {
    cancel: Arc<AtomicBool>,
    wake: WakeAt,
    /// Its `pthread_self()`, for `pthread_cancel` ([`pthread_cancelled`]).
    thread: usize,
}

impl Waiter {
    /// Make it look up from its wait: it ends as an unblock makes it end.
    fn interrupt(&self) {
        self.cancel.store(true, Ordering::Release);
        match &self.wake {
            WakeAt::Slot(pair, slot) => {
                if let Some(word) = pair.upgrade().as_ref().and_then(|p| p.slot_word(*slot)) {
                    futex::wake_all(word);
                }
            }
            WakeAt::Receive(sp, chid) => sp.wake_all(Some(*chid)),
        }
    }
}

/// Threads (`pthread_self()`) inside a libqnetc call that is a cancellation point
/// ([`cancellable_call_begin`]), with [`CANCEL_BIT`] set once `pthread_cancel` (libqnetc's,
/// after glibc's) asked for one. glibc acts on a deferred cancellation only at its own
/// cancellation points, and a direct wait sleeps on a futex, which is none: so a waiting
/// thread is woken here, its call ends as an unblock ends it (`EINTR`; REPLY-blocked on an
/// `_NTO_CHF_UNBLOCK` channel the server gets its pulse and the thread waits for the answer),
/// and libqnetc then calls `pthread_testcancel`, as QNX's `MsgSend`/`MsgReceive` are
/// cancellation points. A table of atomics without a lock: a `fork` while another thread
/// enters or leaves a call leaves the child nothing locked (the child clears the table).
/// Full (more threads in calls at once than slots), a thread is not found by
/// `pthread_cancel`: its direct wait then ends only as any call ends.
static IN_CALL: [AtomicUsize; CALL_SLOTS] = [const { AtomicUsize::new(0) }; CALL_SLOTS];
const CALL_SLOTS: usize = 16_384;
/// `pthread_t` is a pointer to glibc's (aligned) thread descriptor: bit 0 is free.
const CANCEL_BIT: usize = 1;

thread_local! {
    /// This thread's slot in [`IN_CALL`] while it is in a call (`usize::MAX`: none).
    static MY_SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

#[allow(unsafe_code)]
fn pthread_self() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

#[allow(unsafe_code)]
unsafe extern "C" {
    /// glibc's (not in the `libc` crate for this target); not a cancellation point.
    fn pthread_setcancelstate(state: libc::c_int, old: *mut libc::c_int) -> libc::c_int;
}

/// Whether the calling thread can be cancelled now (its cancel state is enabled).
#[allow(unsafe_code)]
fn cancel_enabled() -> bool {
    const ENABLE: libc::c_int = 0; // PTHREAD_CANCEL_ENABLE
    const DISABLE: libc::c_int = 1; // PTHREAD_CANCEL_DISABLE
    let mut old = ENABLE;
    // SAFETY: valid out-pointers; the state is put back as it was.
    unsafe {
        pthread_setcancelstate(DISABLE, &mut old);
        let mut ignored = 0;
        pthread_setcancelstate(old, &mut ignored);
    }
    old == ENABLE
}

/// Whether `pthread_cancel` asked for the calling thread during its current call.
fn cancel_asked_here() -> bool {
    let i = MY_SLOT.with(|s| s.get());
    i < CALL_SLOTS && IN_CALL[i].load(Ordering::Acquire) & CANCEL_BIT != 0
}

/// Whether a `pthread_cancel` of the calling thread should end its direct wait now.
fn cancel_pending_here() -> bool {
    cancel_asked_here() && cancel_enabled()
}

/// The calling thread enters a libqnetc call that is a cancellation point (before its first
/// `pthread_testcancel`, so that a `pthread_cancel` either finds it here or is seen by that
/// test). `false` if it was not entered (already in one, or the table is full): then do not
/// call [`cancellable_call_end`].
pub fn cancellable_call_begin() -> bool {
    let me = pthread_self();
    if me & CANCEL_BIT != 0 || MY_SLOT.with(|s| s.get()) != usize::MAX {
        return false;
    }
    let start = (me >> 6).wrapping_mul(0x9E37_79B9_7F4A_7C15) % CALL_SLOTS;
    for k in 0..CALL_SLOTS {
        let i = (start + k) % CALL_SLOTS;
        if IN_CALL[i]
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            MY_SLOT.with(|s| s.set(i));
            return true;
        }
    }
    false
}

/// The calling thread leaves that call (normally, or unwound by its cancellation).
pub fn cancellable_call_end() {
    let i = MY_SLOT.with(|s| s.replace(usize::MAX));
    if i < CALL_SLOTS {
        IN_CALL[i].store(0, Ordering::Release);
    }
}

/// `pthread_cancel(thread)` succeeded (libqnetc's `pthread_cancel` calls this after glibc's):
/// if `thread` is in a libqnetc cancellation point, a direct wait of it ends (see
/// [`IN_CALL`]).
pub fn pthread_cancelled(thread: usize) {
    if thread & CANCEL_BIT != 0 {
        return;
    }
    // glibc marked the thread cancelled before this (its store, then our loads; the thread
    // stores its slot, then tests glibc's mark): the fence keeps either side from missing
    // both. Loads first: a failed compare-and-swap still costs a locked instruction.
    std::sync::atomic::fence(Ordering::SeqCst);
    let found = IN_CALL.iter().any(|s| {
        s.load(Ordering::Relaxed) == thread
            && s.compare_exchange(
                thread,
                thread | CANCEL_BIT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    });
    if !found {
        return;
    }
    with_state(|p| {
        if let Some(w) = p.waiters.values().find(|w| w.thread == thread) {
            w.interrupt();
        }
    });
}

enum WakeAt {
    Slot(Weak<ClientPair>, u32),
    Receive(Arc<ServedProc>, Chid),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state, made afresh in a new process (after a fork).
fn state() -> MutexGuard<'static, Option<Proc>> {
    let mut g = lock(&STATE);
    let pid = std::process::id();
    if g.as_ref().is_none_or(|p| p.pid != pid) {
        *g = Some(Proc {
            pid,
            ..Proc::default()
        });
    }
    g
}

fn with_state<R>(f: impl FnOnce(&mut Proc) -> R) -> R {
    let mut g = state();
    let Some(p) = g.as_mut() else {
        unreachable!("made by state()")
    };
    f(p)
}

/// Whether this process uses the path now.
fn enabled() -> bool {
    if GONE.load(Ordering::Acquire) {
        // A new daemon (a new process session) gives the path another chance.
        if session::process_generation() == GONE_AT.load(Ordering::Acquire) {
            return false;
        }
        GONE.store(false, Ordering::Release);
        ENABLED.store(0, Ordering::Relaxed);
    }
    match ENABLED.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let off = matches!(std::env::var_os(DIRECT_ENV), Some(v) if v == "0" || v == "off");
    let on = !off
        && session::process_info().is_ok_and(|i| i.direct == layout::VERSION)
        && session::process_generation() != 0;
    ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
    on
}

/// Whether this process has the path on (for tests and tools).
pub fn direct() -> bool {
    enabled()
}

/// In a forked child: forget the parent's state.
pub(crate) fn forget_inherited() {
    if let Ok(mut g) = STATE.try_lock() {
        g.take();
    }
    // The parent's threads that were in calls do not exist here.
    for slot in &IN_CALL {
        slot.store(0, Ordering::Relaxed);
    }
    MY_SLOT.with(|s| s.set(usize::MAX));
    ENABLED.store(0, Ordering::Relaxed);
    GONE.store(false, Ordering::Relaxed);
}

/// One direct request on an SHM session: the grant and its descriptors.
/// The process's SHM session for direct-path requests (`DirectServe`, `DirectMap`,
/// `DirectPair`), kept open and used by one thread at a time: a burst of threads each making
/// its first call on a coid of its own (1,000 threads REPLY-blocked at once, issue 22's
/// descriptor row) then costs the daemon one session, where a session per request left up
/// to ~0.7 descriptors per thread open in the daemon until it saw them close. The pid says
/// whose it is: a forked child opens its own.
static REQUESTS: Mutex<Option<(u32, UnixStream)>> = Mutex::new(None);

fn request(req: DirectRequest) -> Result<(DirectGrant, Vec<OwnedFd>)> {
    let me = std::process::id();
    let mut kept = lock(&REQUESTS);
    let bytes = crate::shm::frame(LocalRequest::Direct(req));
    // A kept session the daemon closed (it restarted) fails at once: then one fresh try.
    for fresh in [false, true] {
        let mut stream = match kept.take() {
            Some((pid, s)) if pid == me && !fresh => s,
            _ => session::open(SessionKind::Shm, gettid(), 0)?.0,
        };
        let answer = stream
            .write_all(&bytes)
            .map_err(|e| Error::Daemon {
                path: session::socket_path(),
                what: "sending a direct-path request",
                source: e,
            })
            .and_then(|()| crate::shm::receive_with_fds(&mut stream))
            .and_then(|(first, fds)| Ok((crate::shm::read_answer(&mut stream, &first)?, fds)));
        let answer = match answer {
            // The stream broke: try once on a fresh session.
            Err(e @ Error::Daemon { .. }) if !fresh => {
                drop(e);
                continue;
            }
            Err(e @ Error::Daemon { .. }) => return Err(e),
            answer => {
                *kept = Some((me, stream));
                answer?
            }
        };
        return match answer {
            (LocalAnswer::Direct(g), fds) if g.layout == layout::VERSION => Ok((g, fds)),
            (other, _) => Err(session::unexpected("direct-path request", &other)),
        };
    }
    Err(Error::new(Errno::EIO, "a direct-path request"))
}

fn map(fd: &OwnedFd, kind: Kind, len: usize, writable: bool) -> Option<qnet_direct::Mapping> {
    segment::open(fd, kind, len, writable).ok()
}

/// Start the watchdog once per process session.
fn watch(p: &mut Proc) {
    if p.watchdog {
        return;
    }
    let Some((fd, generation)) = session::process_watch() else {
        return;
    };
    p.watchdog = true;
    let spawned = std::thread::Builder::new()
        .name("qnet-direct-watch".into())
        .spawn(move || {
            wait_for_end(&fd);
            daemon_gone(generation);
        });
    if spawned.is_err() {
        p.watchdog = false;
    }
}

/// Block until the process session ends (the daemon sends nothing on it).
fn wait_for_end(fd: &OwnedFd) {
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: poll on one valid descriptor we own, with a struct on this stack.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLRDHUP | libc::POLLNVAL) != 0 {
            return;
        }
        if pfd.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 64];
            #[allow(unsafe_code)]
            // SAFETY: read into a buffer on this stack.
            let n = unsafe {
                libc::recv(
                    fd.as_raw_fd(),
                    b.as_mut_ptr().cast(),
                    b.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n == 0 {
                return;
            }
        }
    }
}

/// The daemon is gone: every direct wait of the process ends with `EIO`, and the state goes.
fn daemon_gone(generation: u64) {
    GONE_AT.store(generation, Ordering::Release);
    GONE.store(true, Ordering::Release);
    let old = lock(&STATE).take();
    let Some(p) = old else { return };
    for conn in p.conns.values() {
        if let Conn::Direct(pair) = conn {
            for i in 0..SLOTS_MAX {
                if let Some(w) = pair.slot_word(i) {
                    if w.load(Ordering::Relaxed) & qnet_direct::slot::SLEEPING != 0 {
                        futex::wake_all(w);
                    }
                }
            }
        }
    }
    if let Some(sp) = &p.served {
        sp.wake_all(None);
    }
}

fn gone_error(what: &'static str) -> Error {
    Error::Daemon {
        path: session::socket_path(),
        what,
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "daemon closed the session",
        ),
    }
}

fn register(tid: u32, wake: WakeAt) -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    register_again(tid, &cancel, wake);
    cancel
}

fn unregister(tid: u32) {
    with_state(|p| p.waiters.remove(&tid));
}

/// Register `tid` again with the cancel flag it had.
fn register_again(tid: u32, cancel: &Arc<AtomicBool>, wake: WakeAt) {
    with_state(|p| {
        p.waiters.insert(
            tid,
            Waiter {
                cancel: cancel.clone(),
                wake,
                thread: pthread_self(),
            },
        )
    });
    // A pthread_cancel that came before the thread was registered finds no waiter to wake.
    if cancel_pending_here() {
        cancel.store(true, Ordering::Release);
    }
}

/// Whether the wait registered with `cancel` must end now (an unblock, or a `pthread_cancel`
/// while the thread's cancel state is enabled; disabled, glibc keeps it for later and the
/// thread waits on).
fn interrupted(cancel: &AtomicBool) -> bool {
    if !cancel.swap(false, Ordering::AcqRel) {
        return false;
    }
    // A cancel flag set only for a pthread_cancel of a thread that cannot be cancelled now
    // is dropped; an unblock (signal-like, `TimerTimeout`'s own) always ends the wait.
    !cancel_asked_here() || cancel_enabled()
}

/// `unblock(tid)` of a thread of this process waiting on the path: it returns `EINTR` (or,
/// REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel, its server gets an unblock pulse).
/// `false` if the thread does not wait on the path (the caller asks the kernel).
pub(crate) fn unblock(tid: u32) -> bool {
    with_state(|p| {
        let Some(w) = p.waiters.get(&tid) else {
            return false;
        };
        w.interrupt();
        true
    })
}

thread_local! {
    /// This thread has its session: the daemon sees its exit (thread-death pulses,
    /// `pidin`) even when all its calls go through the direct path.
    static HAS_SESSION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Open this thread's session if it has none yet.
fn ensure_session() -> Result<()> {
    if HAS_SESSION.with(|c| c.get()) {
        return Ok(());
    }
    session::with_session(|_| Ok(()))?;
    HAS_SESSION.with(|c| c.set(true));
    Ok(())
}

// ---- calling side ------------------------------------------------------------------------

/// The pair for `coid`, asking the daemon if it is not known (or not lately refused).
fn pair_for(coid: Coid) -> Option<Arc<ClientPair>> {
    let now = Instant::now();
    let backoff = with_state(|p| match p.conns.get(&coid) {
        Some(Conn::Direct(pair)) => Err(Some(pair.clone())),
        Some(Conn::Off { retry, .. }) if now < *retry => Err(None),
        Some(Conn::Off { backoff, .. }) => Ok(*backoff),
        None => Ok(RETRY_FIRST),
    });
    let backoff = match backoff {
        Ok(b) => b,
        Err(known) => return known,
    };
    let made = request(DirectRequest::Map { coid })
        .ok()
        .and_then(|(g, fds)| with_state(|p| client_pair(p, &g, &fds)));
    with_state(|p| match &made {
        Some(pair) => {
            p.conns.insert(coid, Conn::Direct(pair.clone()));
            watch(p);
        }
        None => {
            p.conns.insert(
                coid,
                Conn::Off {
                    retry: now + backoff,
                    backoff: (backoff * 2).min(RETRY_MAX),
                },
            );
        }
    });
    made
}

/// Map a `DirectMap` grant (the pair, the server's table, its bells), sharing what the
/// process already maps.
fn client_pair(p: &mut Proc, g: &DirectGrant, fds: &[OwnedFd]) -> Option<Arc<ClientPair>> {
    let [pair_fd, table_fd, bells_fd] = fds else {
        return None;
    };
    let key = (g.server_pid, g.index, g.generation);
    if let Some(pair) = p.pairs.get(&key).and_then(Weak::upgrade) {
        return Some(pair);
    }
    let (table, bells) = match p.servers.get(&g.server_pid) {
        Some((t, b)) => (t.clone(), b.clone()),
        None => {
            let t = Arc::new(Table::new(map(
                table_fd,
                Kind::Table,
                layout::TABLE_LEN,
                false,
            )?));
            let b = Arc::new(Bells::new(map(
                bells_fd,
                Kind::Bells,
                layout::BELLS_LEN,
                true,
            )?));
            p.servers.insert(g.server_pid, (t.clone(), b.clone()));
            (t, b)
        }
    };
    let pair = Pair::new(map(pair_fd, Kind::Pair, layout::PAIR_LEN, true)?);
    if pair.identity() != (g.index, g.generation) {
        return None;
    }
    let pair = Arc::new(ClientPair::new(
        pair,
        table,
        bells,
        g.index,
        g.generation,
        g.chid,
    ));
    p.pairs.retain(|_, w| w.strong_count() > 0);
    p.pairs.insert(key, Arc::downgrade(&pair));
    Some(pair)
}

/// A slot this thread keeps in one pair; handed back when the thread exits.
struct HeldSlot {
    pair: Weak<ClientPair>,
    slot: u32,
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        if let Some(pair) = self.pair.upgrade() {
            pair.put_slot(self.slot);
        }
    }
}

thread_local! {
    static SLOTS: RefCell<Vec<HeldSlot>> = const { RefCell::new(Vec::new()) };
}

/// This thread's slot in `pair`.
fn thread_slot(pair: &Arc<ClientPair>) -> Option<u32> {
    SLOTS.with(|cell| {
        let mut slots = cell.borrow_mut();
        if let Some(h) = slots
            .iter()
            .find(|h| std::ptr::eq(h.pair.as_ptr(), Arc::as_ptr(pair)))
        {
            return Some(h.slot);
        }
        slots.retain(|h| h.pair.strong_count() > 0);
        let slot = pair.take_slot()?;
        slots.push(HeldSlot {
            pair: Arc::downgrade(pair),
            slot,
        });
        Some(slot)
    })
}

/// `MsgSend` on the path, if it applies to this call (`None`: take the socket path).
pub(crate) fn send(
    coid: Coid,
    parts: &[&[u8]],
    reply: &mut [IoSliceMut<'_>],
    priority: Priority,
    timeout: Option<&WireTimeout>,
) -> Option<Result<i64>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let cap: usize = reply.iter().map(|p| p.len()).sum();
    if len > SEND_AREA || cap > REPLY_AREA || !enabled() {
        return None;
    }
    let deadline = match timeout {
        Some(t) if t.send || t.reply => {
            if t.after_ns == 0 {
                // "Don't block": only the kernel can tell at once whether a receiver waits.
                return None;
            }
            Some(Deadline {
                at: Instant::now() + Duration::from_nanos(t.after_ns),
                send: t.send,
                reply: t.reply,
            })
        }
        _ => None,
    };
    let pair = pair_for(coid)?;
    let slot = thread_slot(&pair)?;
    if let Err(e) = ensure_session() {
        return Some(Err(e));
    }
    boost(&pair, coid, priority);
    let tid = gettid();
    let cancel = register(tid, WakeAt::Slot(Arc::downgrade(&pair), slot));
    let check = || {
        if GONE.load(Ordering::Acquire) {
            Some(Interrupt::Gone)
        } else if interrupted(&cancel) {
            Some(Interrupt::Cancel)
        } else {
            None
        }
    };
    let s = Send {
        tid,
        priority: u32::from(priority),
        coid,
        parts,
        reply_cap: cap,
        realtime: crate::sched::runs_realtime(),
    };
    let outcome = pair.send(slot, &s, reply, deadline, &check);
    unregister(tid);
    Some(match outcome {
        Outcome::Replied(status) => Ok(status),
        Outcome::Failed(errno) => Err(Error::new(Errno(errno), "MsgSend")),
        Outcome::TimedOut => Err(Error::new(Errno::ETIMEDOUT, "MsgSend")),
        Outcome::Interrupted => Err(Error::new(Errno::EINTR, "MsgSend")),
        Outcome::Gone => Err(gone_error("waiting for a direct reply")),
        Outcome::Dead => Err(Error::new(
            Errno::EBADF,
            format!("MsgSend: connection {coid} is dead (its channel or server is gone)"),
        )),
        Outcome::Full => return None,
        Outcome::Broken => Err(Error::new(
            Errno::EIO,
            "MsgSend: this process overwrote its own direct-call slot",
        )),
    })
}

/// `MsgSendPulse` on the path, if it applies (`None`: take the socket path).
pub(crate) fn pulse(coid: Coid, priority: Priority, code: i8, value: i32) -> Option<Result<()>> {
    if !(0..=127).contains(&code) || !enabled() {
        return None;
    }
    let pair = pair_for(coid)?;
    Some(match pair.pulse(code, value, u32::from(priority)) {
        Ok(()) => Ok(()),
        Err(PulseRefused::Dead) => Err(Error::new(
            Errno::EBADF,
            format!("MsgSendPulse: connection {coid} is dead (its channel or server is gone)"),
        )),
        Err(PulseRefused::Full) => Err(Error::new(
            Errno::EAGAIN,
            "MsgSendPulse: the server has this process's limit of pulses queued \
             (limit_queued_pulses); retry once it receives",
        )),
    })
}

/// `ConnectDetach(coid)` succeeded: forget what the path knew of it.
pub(crate) fn forget_coid(coid: Coid) {
    if let Ok(mut g) = STATE.lock() {
        if let Some(p) = g.as_mut() {
            p.conns.remove(&coid);
        }
    }
}

// ---- serving side ------------------------------------------------------------------------

/// What a receive on the path took.
pub(crate) enum Got {
    /// A direct message, its data still in the client's slot (copy it with [`read`]).
    Message {
        /// The rcvid.
        rcvid: Rcvid,
        /// `_msg_info`.
        info: MsgInfo,
    },
    /// A pulse, or what the kernel delivered (a message with its data).
    Received(Received),
}

/// `chid` served directly by this process: its state and the channel's flags.
fn served_chid(chid: Chid) -> Option<(Arc<ServedProc>, u32)> {
    if !enabled() {
        return None;
    }
    let known = with_state(|p| match (p.chans.get(&chid), &p.served) {
        (Some(Chan::Direct { flags }), Some(sp)) => Some(Some((sp.clone(), *flags))),
        (Some(Chan::Off), _) => Some(None),
        _ => None,
    });
    if let Some(known) = known {
        return known;
    }
    match request(DirectRequest::Serve { chid }) {
        Ok((g, fds)) => with_state(|p| {
            if p.served.is_none() {
                let [table_fd, bells_fd] = &fds[..] else {
                    return None;
                };
                let table = Table::new(map(table_fd, Kind::Table, layout::TABLE_LEN, true)?);
                let bells = Bells::new(map(bells_fd, Kind::Bells, layout::BELLS_LEN, true)?);
                let served = Served::new(table, bells);
                p.served = Some(Arc::new(ServedProc {
                    table: served.table(),
                    bells: served.bells(),
                    served: Mutex::new(served),
                    chids: Mutex::default(),
                }));
            }
            let sp = p.served.clone()?;
            lock(&sp.served).add_channel(chid);
            p.chans.insert(chid, Chan::Direct { flags: g.flags });
            watch(p);
            Some((sp, g.flags))
        }),
        Err(e) => {
            // The path is off for this chid (too high, --direct off): remember. Other
            // refusals (not our channel) are the kernel's to report.
            if e.errno() == Errno::ENOTSUP {
                with_state(|p| p.chans.insert(chid, Chan::Off));
            }
            // Another thread of this process may have made it direct meanwhile: then its
            // receives must wait on the direct path too, not in the kernel.
            with_state(|p| match (p.chans.get(&chid), &p.served) {
                (Some(Chan::Direct { flags }), Some(sp)) => Some((sp.clone(), *flags)),
                _ => None,
            })
        }
    }
}

/// A channel was made: a chid the path refused before may be a new channel now.
pub(crate) fn channel_made(chid: Chid) {
    if let Ok(mut g) = STATE.lock() {
        if let Some(p) = g.as_mut() {
            p.chans.remove(&chid);
        }
    }
}

/// A channel of this process is gone (`ChannelDestroy`, `name_detach`).
pub(crate) fn channel_gone(chid: Chid) {
    let served = with_state(|p| {
        p.chans.remove(&chid);
        p.served.clone()
    });
    if let Some(sp) = served {
        lock(&sp.served).remove_channel(chid);
        sp.wake_all(Some(chid));
    }
}

/// Fetch and map pair `index` of this process's channels.
fn attach_pair(sp: &ServedProc, index: u32) {
    let mapped = request(DirectRequest::Pair { index })
        .ok()
        .and_then(|(_, fds)| {
            fds.first()
                .and_then(|fd| map(fd, Kind::Pair, layout::PAIR_LEN, true))
        });
    let mut s = lock(&sp.served);
    if !mapped.is_some_and(|m| s.attach(index, Pair::new(m))) {
        s.fetch_failed(index);
    }
}

enum Step {
    Fetch(Vec<u32>),
    Kernel,
    /// No direct client: wait in the daemon's kernel (the table's pair count seen).
    KernelWait(u32),
    Took(Taken),
    Again,
    Sleep,
}

/// `MsgReceive` on the path, if `chid` is served directly (`None`: take the socket path).
/// `cap` is the receive buffer's size; `timeout` the armed `TimerTimeout`, if any.
pub(crate) fn receive(
    chid: Chid,
    cap: usize,
    timeout: Option<&WireTimeout>,
) -> Option<Result<Got>> {
    if cap < PULSE_SIZE {
        return None;
    }
    let (sp, _) = served_chid(chid)?;
    if let Err(e) = ensure_session() {
        return Some(Err(e));
    }
    let (deadline, now_only) = match timeout {
        Some(t) if t.receive => (
            Some(Instant::now() + Duration::from_nanos(t.after_ns)),
            t.after_ns == 0,
        ),
        _ => (None, false),
    };
    let tid = gettid();
    // Signal handlers that run from here on unblock the receive (QNX's rule).
    let handlers = qnet_direct::signals::count();
    let cancel = register(tid, WakeAt::Receive(sp.clone(), chid));
    sp.note_chid(chid);
    let mut kernel_misses = 0u32;
    let mut scan = false;
    // A waker counted on this thread (it was claimed in its sleep): leaving without a take
    // passes the wake-up on.
    let mut claimed = false;
    let result = loop {
        if GONE.load(Ordering::Acquire) {
            sp.wake_all(Some(chid));
            break Err(gone_error("waiting in a direct receive"));
        }
        if !sp.table.channel(chid).is_some_and(|c| c.live()) {
            sp.wake_all(Some(chid));
            break Err(Error::new(
                Errno::ESRCH,
                format!("MsgReceive: channel {chid} was destroyed"),
            ));
        }
        let mut left_over = false;
        let step = {
            let mut s = lock(&sp.served);
            let mut fetch = s.new_pairs(chid);
            let (unknown, others) = s.drain(chid, std::mem::take(&mut scan));
            fetch.extend(unknown.into_iter().filter(|i| !s.has_pair(*i)));
            for c in others {
                s.ring(c);
            }
            if !fetch.is_empty() {
                Step::Fetch(fetch)
            } else {
                let head = sp
                    .table
                    .channel(chid)
                    .map(|c| c.kernel_head())
                    .unwrap_or_default();
                let best = s.best(chid);
                let kernel_first = head.count > 0
                    && best.is_none_or(|(p, stamp)| {
                        head.priority > p || (head.priority == p && head.stamp <= stamp)
                    });
                if kernel_first && kernel_misses < 3 {
                    left_over = s.queued(chid) > 0;
                    Step::Kernel
                } else if best.is_some() {
                    let step = s.take(chid).map_or(Step::Again, Step::Took);
                    left_over = s.queued(chid) > 0;
                    step
                } else {
                    s.release_closed();
                    match s.without_clients(chid) {
                        Some(seen) if !now_only => Step::KernelWait(seen),
                        _ => Step::Sleep,
                    }
                }
            }
        };
        if left_over {
            sp.pass_on(chid);
        }
        match step {
            Step::Fetch(indexes) => {
                for index in indexes {
                    attach_pair(&sp, index);
                }
            }
            Step::KernelWait(seen) => {
                // A blocked kernel receive is the kernel's to unblock: no direct waiter.
                unregister(tid);
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let got = kernel_wait(chid, cap, left, seen);
                register_again(tid, &cancel, WakeAt::Receive(sp.clone(), chid));
                match got {
                    Ok(got) => break Ok(Got::Received(got)),
                    Err(e) if e.errno() == Errno::ERESTART => {}
                    Err(e) => break Err(e),
                }
            }
            Step::Kernel => match kernel_take(chid, cap) {
                Ok(got) => break Ok(Got::Received(got)),
                Err(e) if e.errno() == Errno::ETIMEDOUT => kernel_misses += 1,
                Err(e) => break Err(e),
            },
            Step::Took(Taken::Message(m)) => {
                let msglen = (m.send_len as usize).min(cap);
                lock(&sp.served).set_msglen(m.rcvid, msglen as u32);
                let info = info_of(chid, &m, msglen as u64, false);
                let got = Received::Message {
                    rcvid: Rcvid::from(m.rcvid),
                    info,
                    data: bytes::Bytes::new(),
                };
                crate::neutrino::on_receive(chid, &got);
                break Ok(Got::Message {
                    rcvid: Rcvid::from(m.rcvid),
                    info,
                });
            }
            Step::Took(Taken::Pulse {
                code,
                value,
                priority,
                scoid,
            }) => {
                let got = Received::Pulse(Pulse {
                    code,
                    value,
                    scoid,
                    priority: priority.min(255) as Priority,
                });
                crate::neutrino::on_receive(chid, &got);
                break Ok(Got::Received(got));
            }
            Step::Again => {}
            Step::Sleep => {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if now_only || left == Some(Duration::ZERO) {
                    break Err(Error::new(Errno::ETIMEDOUT, "MsgReceive"));
                }
                // After the kernel said "nothing" three times for a head it still shows, wait
                // for the daemon to publish again rather than spin.
                let left = match kernel_misses >= 3 {
                    true => Some(left.map_or(Duration::from_millis(1), |l| {
                        l.min(Duration::from_millis(1))
                    })),
                    false => left,
                };
                kernel_misses = 0;
                let inherited = crate::neutrino::priority_inherited();
                let slept = Served::sleep(
                    &sp.table,
                    &sp.bells,
                    chid,
                    tid,
                    inherited,
                    left,
                    handlers,
                    || {
                        GONE.load(Ordering::Acquire)
                            || cancel.load(Ordering::Acquire)
                            || lock(&sp.served).has_work(chid)
                            || sp
                                .table
                                .channel(chid)
                                .is_some_and(|c| c.kernel_head().count > 0)
                    },
                );
                claimed |= slept == Slept::Woken;
                scan = slept == Slept::Ready;
                if interrupted(&cancel)
                    || slept == Slept::Signal
                    || qnet_direct::signals::count() != handlers
                {
                    break Err(Error::new(Errno::EINTR, "MsgReceive"));
                }
            }
        }
    };
    if result.is_err() && claimed {
        sp.pass_on(chid);
    }
    unregister(tid);
    if result.is_ok() {
        // The thread that will serve this, at the priority it now runs at: a send that finds
        // no receiver waiting boosts it (QNX's server boost), see `boost`.
        if let Some(c) = sp.table.channel(chid) {
            c.set_runner(tid, u32::from(crate::neutrino::priority()));
        }
    }
    Some(result)
}

/// QNX's server boost on the direct path: before a send to a channel where no receiver
/// waits, if its thread that last received runs below `priority`, the daemon raises it (it
/// has the right to; the client may not). One round trip to the daemon, only then.
fn boost(pair: &ClientPair, coid: Coid, priority: Priority) {
    let Some((waiters, (tid, running))) = pair.channel_state() else {
        return;
    };
    if waiters > 0 || tid == 0 || u32::from(priority) <= running {
        return;
    }
    let _ = session::call(LocalRequest::Direct(DirectRequest::Boost {
        coid,
        priority,
    }));
}

/// `MsgReceive` in the daemon's kernel on a direct channel that had no direct client
/// (`seen`: the table's pair count then): as on the socket path, other nodes' calls and
/// older clients' are handed over at once. `ERESTART` when a direct client appeared.
fn kernel_wait(chid: Chid, cap: usize, left: Option<Duration>, seen: u32) -> Result<Received> {
    let timeout = left.map(|after| Timeout {
        states: TimeoutStates {
            receive: true,
            ..Default::default()
        },
        after,
    });
    let request = LocalRequest::Direct(DirectRequest::Receive {
        chid,
        cap: cap as u64,
        timeout,
        pairs_seen: seen,
        inherited: crate::neutrino::priority_inherited().then(crate::neutrino::priority),
    });
    match session::call(request)? {
        LocalAnswer::Completion(Completion::Received(r)) => {
            crate::neutrino::on_receive(chid, &r);
            Ok(r)
        }
        other => Err(session::unexpected("MsgReceive", &other)),
    }
}

/// What the kernel holds for a direct channel, taken without waiting.
fn kernel_take(chid: Chid, cap: usize) -> Result<Received> {
    let now = Timeout {
        states: TimeoutStates {
            receive: true,
            ..Default::default()
        },
        after: Duration::ZERO,
    };
    let call = Call::MsgReceive {
        chid,
        cap: cap as u64,
        timeout: Some(now),
    };
    match session::call(LocalRequest::Kernel(call))? {
        LocalAnswer::Completion(Completion::Received(r)) => {
            crate::neutrino::on_receive(chid, &r);
            Ok(r)
        }
        other => Err(session::unexpected("MsgReceive", &other)),
    }
}

fn info_of(chid: Chid, m: &TakenMessage, msglen: u64, unblock: bool) -> MsgInfo {
    MsgInfo {
        nd: 0,
        srcnd: 0,
        pid: m.pid,
        tid: m.tid,
        chid,
        scoid: m.scoid,
        coid: m.coid,
        priority: m.priority.min(255) as Priority,
        msglen,
        // Always, as QNX 6.6 and later (see the kernel's `Message::info`).
        srcmsglen: u64::from(m.send_len),
        dstmsglen: u64::from(m.reply_cap),
        flags: if unblock {
            MsgInfoFlags::UNBLOCK_REQ
        } else {
            0
        },
        realtime: m.realtime,
    }
}

/// The serving state, for an answer to direct rcvid `rcvid`.
fn served_for(rcvid: Rcvid) -> Result<Arc<ServedProc>> {
    with_state(|p| p.served.clone()).ok_or_else(|| no_message(rcvid))
}

fn no_message(rcvid: Rcvid) -> Error {
    Error::new(
        Errno::ESRCH,
        format!(
            "rcvid {rcvid}: no such message waiting for an answer (answered, or its client gave up or died)"
        ),
    )
}

fn answer_err(rcvid: Rcvid, e: AnswerError) -> Error {
    match e {
        AnswerError::NoMessage => no_message(rcvid),
    }
}

/// Whether `rcvid` is the direct path's.
pub(crate) fn is_direct(rcvid: Rcvid) -> bool {
    i32::try_from(rcvid).is_ok_and(is_direct_rcvid)
}

fn id(rcvid: Rcvid) -> i32 {
    i32::try_from(rcvid).unwrap_or(0)
}

/// `MsgReply` of a direct message.
pub(crate) fn reply(rcvid: Rcvid, status: i64, parts: &[&[u8]]) -> Result<()> {
    let sp = served_for(rcvid)?;
    let r = lock(&sp.served).reply(id(rcvid), status, parts);
    r.map_err(|e| answer_err(rcvid, e))
}

/// `MsgError` of a direct message.
pub(crate) fn error(rcvid: Rcvid, errno: Errno) -> Result<()> {
    let sp = served_for(rcvid)?;
    let r = lock(&sp.served).error(id(rcvid), errno.0);
    r.map_err(|e| answer_err(rcvid, e))
}

/// `MsgRead` of a direct message into `dst` (taken as one buffer) from `offset`.
pub(crate) fn read(rcvid: Rcvid, offset: u64, dst: &mut [IoSliceMut<'_>]) -> Result<usize> {
    let sp = served_for(rcvid)?;
    let s = lock(&sp.served);
    let mut at = usize::try_from(offset).unwrap_or(usize::MAX);
    let mut total = 0;
    for part in dst.iter_mut() {
        let n = s
            .read(id(rcvid), at, part)
            .map_err(|e| answer_err(rcvid, e))?;
        total += n;
        at = at.saturating_add(n);
        if n < part.len() {
            break;
        }
    }
    Ok(total)
}

/// `MsgWrite` of a direct message: `parts` at `offset` of the client's reply buffer.
pub(crate) fn write(rcvid: Rcvid, offset: u64, parts: &[&[u8]]) -> Result<usize> {
    let sp = served_for(rcvid)?;
    let mut s = lock(&sp.served);
    let mut at = usize::try_from(offset).unwrap_or(usize::MAX);
    let mut total = 0;
    for part in parts {
        let n = s
            .write(id(rcvid), at, part)
            .map_err(|e| answer_err(rcvid, e))?;
        total += n;
        at = at.saturating_add(n);
        if n < part.len() {
            break;
        }
    }
    Ok(total)
}

/// `MsgInfo` of a direct message.
pub(crate) fn info(rcvid: Rcvid) -> Result<MsgInfo> {
    let sp = served_for(rcvid)?;
    let s = lock(&sp.served);
    let (m, unblock) = s.message(id(rcvid)).ok_or_else(|| no_message(rcvid))?;
    let chid = s.channel_of(id(rcvid)).unwrap_or(0);
    drop(s);
    Ok(info_of(chid, &m, u64::from(m.msglen), unblock))
}

/// Whether `chid` is served on the path by this process now.
pub(crate) fn serves(chid: Chid) -> bool {
    enabled() && with_state(|p| matches!(p.chans.get(&chid), Some(Chan::Direct { .. })))
}

/// Test hook, not API: as a hostile client would, write `words` random 32-bit values at
/// random places of every direct segment this process may write (the control part of its
/// pairs: headers, rings, slots; its servers' bells), and try to make its servers' tables
/// writable. Returns the writes made and whether any table could be made writable (it
/// must not: they are mapped from read-only descriptors).
#[doc(hidden)]
pub fn scribble(seed: u64, words: usize) -> (usize, bool) {
    let (pairs, servers): (Vec<Arc<ClientPair>>, Vec<ServerSegs>) = with_state(|p| {
        let pairs = p
            .conns
            .values()
            .filter_map(|c| match c {
                Conn::Direct(pair) => Some(pair.clone()),
                Conn::Off { .. } => None,
            })
            .collect();
        (pairs, p.servers.values().cloned().collect())
    });
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift64*: a test's reproducible noise.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut writes = 0;
    for _ in 0..words {
        let r = next();
        let v = (next() >> 32) as u32;
        if !pairs.is_empty() && r % 4 != 0 {
            let pair = &pairs[(r as usize / 4) % pairs.len()];
            pair.pair()
                .scribble((r >> 20) as usize % layout::PAIR_CONTROL_LEN, v);
            writes += 1;
        } else if !servers.is_empty() {
            let (_, bells) = &servers[(r as usize / 4) % servers.len()];
            bells.scribble((r >> 20) as usize % layout::BELLS_LEN, v);
            writes += 1;
        }
    }
    let table_writable = servers.iter().any(|(t, _)| t.mapping().can_make_writable());
    (writes, table_writable)
}
