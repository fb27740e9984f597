//! QNX's resource-manager library: the dispatch layer (`dispatch_*`, `pulse_attach`,
//! `message_attach`), the resource-manager layer (`resmgr_attach`, the handler loop,
//! replies), the POSIX layer (`iofunc.rs`) and thread pools (`pool.rs`).
//!
//! Written in Rust behind `extern "C"`, not in C: `libqnetc.so` is a Rust `cdylib`, whose
//! linker version script exports only Rust's `#[no_mangle]` symbols (C objects linked in
//! stay local, rust-lang/rust#50007), and this layer needs the library's own state anyway
//! (the client of each received rcvid, coids as C sees them). Layouts are mirrored in
//! `layout.rs` and checked against the headers' numbers on both sides.
//!
//! How a message is handled ([`dispatch_handler`]):
//! - `_IO_CONNECT`: the attachment named by `handle` (the id `resmgr_attach` returned and
//!   the kernel's resolve handed the client) gets its connect handler; a successful open
//!   binds an OCB to the client's (scoid, coid) with `resmgr_open_bind`;
//! - `_IO_READ` … `_IO_POWER`: the OCB bound to (scoid, coid) and its I/O table; `_IO_CLOSE`
//!   runs `close_dup`, unbinds and runs `close_ocb` (an OCB another pool thread's handler
//!   still uses, on a close or a client's death, is closed when that handler returns); a
//!   handler's return value becomes the reply (`EOK`, an errno, `_RESMGR_NPARTS(n)` of `ctp->iov`, `_RESMGR_NOREPLY`,
//!   `_RESMGR_DEFAULT` for the iofunc default);
//! - `_PULSE_CODE_DISCONNECT`: every OCB of that client closes, its scoid is released;
//!   `_PULSE_CODE_UNBLOCK`: the I/O table's `unblock` for the blocked client's OCB, with
//!   `ctp->rcvid` its message (an errno return answers it);
//! - other pulses and messages: `pulse_attach` / `message_attach` handlers, then
//!   `resmgr_attr_t.other_func`, else `ENOSYS`.

mod iofunc;
pub mod layout;
mod pool;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use libc::{c_char, c_int, c_uint, c_void, iovec, size_t, ssize_t};
use qnet::Errno;
use qnet::neutrino as n;

use self::layout::*;
use crate::layout::{CMsgInfo, CPulse};
use crate::{set_errno, str_arg};

pub use self::iofunc::*;
pub use self::pool::*;

/// The channel flags `dispatch_create` uses: QNX's resource managers learn of clients that
/// go (`_NTO_CHF_DISCONNECT`) and of clients that want to unblock (`_NTO_CHF_UNBLOCK`).
const DISPATCH_CHANNEL_FLAGS: c_uint = 0x8 | 0x2;
/// The smallest receive buffer a context gets (QNX's examples use 2048).
const MIN_MSG: usize = 2048;
/// Ids of attachments without a path (`resmgr_attach(…, NULL, …)`): apart from the kernel's.
const LOCAL_ID_BASE: i32 = 0x4000_0000;
/// The pulse `dispatch_unblock` wakes a blocked `dispatch_block` with (code and value).
const WAKE_CODE: i8 = 127;
const WAKE_VALUE: i32 = 0x716e_6574;

/// `_PULSE_CODE_UNBLOCK`, `_PULSE_CODE_DISCONNECT`.
const PULSE_UNBLOCK: i8 = -32;
const PULSE_DISCONNECT: i8 = -33;

/// `dispatch_t`.
pub struct Dispatch {
    /// The channel; -1 until something needs it (QNX creates it lazily too).
    chid: AtomicI32,
    /// Whether `dispatch_destroy` destroys the channel (we made it).
    own_channel: AtomicBool,
    state: Mutex<State>,
    msg_max: AtomicUsize,
    nparts_max: AtomicUsize,
    /// Threads in `dispatch_block`, and unblocks asked for by `dispatch_unblock`.
    blocked: AtomicUsize,
    unblocks: AtomicUsize,
    waker: OnceLock<Option<Waker>>,
}

/// `dispatch_unblock`'s helper: the signal handler writes an eventfd (async-signal-safe), a
/// thread reads it and sends the wake pulses.
struct Waker {
    eventfd: c_int,
}

#[derive(Default)]
struct State {
    attaches: HashMap<i32, AttachRec>,
    bindings: HashMap<(i32, i32), Binding>,
    pulses: Vec<(i32, usize, usize)>,
    messages: Vec<(i32, i32, usize, usize)>,
    other_func: Option<usize>,
    next_local_id: i32,
    next_pulse_code: i32,
    /// OCBs a handler is running with now (another pool thread's), and how many.
    in_use: HashMap<usize, u32>,
    /// OCBs whose connection closed (or whose client died) while in use: the last handler
    /// to finish with one runs its `close_ocb` ([`Dispatch::release`]).
    deferred: HashMap<usize, ((i32, i32), Binding)>,
}

#[derive(Clone, Copy)]
struct AttachRec {
    connect: usize,
    io: usize,
    handle: usize,
    /// Registered in the kernel's pathname space (else a local id).
    path: bool,
}

#[derive(Clone, Copy)]
struct Binding {
    ocb: usize,
    io: usize,
    id: i32,
}

impl Dispatch {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The binding of `key` for a handler about to run with its OCB: counted in use until
    /// [`Dispatch::release`], so a close or a client's death meanwhile (handled on another
    /// pool thread) does not free the OCB under it.
    fn acquire(&self, key: (i32, i32)) -> Option<Binding> {
        let mut st = self.lock();
        let b = st.bindings.get(&key).copied()?;
        *st.in_use.entry(b.ocb).or_default() += 1;
        Some(b)
    }

    /// A handler is done with `ocb`: the close it held back, if it was the last user.
    fn release(&self, ocb: usize) -> Option<((i32, i32), Binding)> {
        let mut st = self.lock();
        let n = st.in_use.get_mut(&ocb)?;
        *n -= 1;
        if *n > 0 {
            return None;
        }
        st.in_use.remove(&ocb);
        st.deferred.remove(&ocb)
    }

    /// Unbind `key` for its close: the binding, to close now, unless a handler runs with its
    /// OCB (then the last one closes it).
    fn unbind_for_close(&self, key: (i32, i32)) -> Option<Binding> {
        let mut st = self.lock();
        let b = st.bindings.remove(&key)?;
        if st.in_use.contains_key(&b.ocb) {
            st.deferred.insert(b.ocb, (key, b));
            return None;
        }
        Some(b)
    }

    /// The channel, created on first use.
    fn channel(&self) -> Result<i32, Errno> {
        let chid = self.chid.load(Ordering::Acquire);
        if chid > 0 {
            return Ok(chid);
        }
        let _g = self.lock();
        let chid = self.chid.load(Ordering::Acquire);
        if chid > 0 {
            return Ok(chid);
        }
        let chid =
            n::channel_create(qnet::ChannelFlags(DISPATCH_CHANNEL_FLAGS)).map_err(|e| e.errno())?;
        self.own_channel.store(true, Ordering::Release);
        self.chid.store(chid, Ordering::Release);
        Ok(chid)
    }

    /// Adopt `chid` (a `name_attach(dpp, …)` channel) if the dispatch has none yet.
    pub(crate) fn adopt(&self, chid: i32) -> bool {
        self.chid
            .compare_exchange(-1, chid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn grow(&self, msg_max: usize, nparts: usize) {
        self.msg_max.fetch_max(msg_max, Ordering::AcqRel);
        self.nparts_max.fetch_max(nparts, Ordering::AcqRel);
    }

    fn waker(&self) {
        let this = self as *const Dispatch as usize;
        self.waker.get_or_init(|| {
            // SAFETY: plain eventfd creation.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            let spawned = std::thread::Builder::new()
                .name("qnet-dispatch-unblock".into())
                .spawn(move || wake_loop(this, fd));
            spawned.ok().map(|_| Waker { eventfd: fd })
        });
    }
}

/// The waker thread: for each `dispatch_unblock`, one wake pulse per thread blocked then.
fn wake_loop(dispatch: usize, fd: c_int) {
    // SAFETY: dispatch handles are never freed while a waker runs (dispatch_destroy leaks
    // the handle of a dispatch that has one: see `dispatch_destroy`).
    let d = unsafe { &*(dispatch as *const Dispatch) };
    let mut coid = None;
    loop {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into `v` from our eventfd.
        let r = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
        if r != 8 {
            if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let Ok(chid) = d.channel() else { continue };
        if coid.is_none() {
            coid = n::connect_attach(0, 0, chid).ok();
        }
        let Some(c) = coid else { continue };
        let waiting = d.blocked.load(Ordering::Acquire).max(1);
        d.unblocks.fetch_add(waiting, Ordering::AcqRel);
        for _ in 0..waiting {
            let _ = n::msg_send_pulse(
                c,
                i32::from(n::DEFAULT_PRIORITY),
                i32::from(WAKE_CODE),
                WAKE_VALUE,
            );
        }
    }
}

/// Hidden bookkeeping in front of each context.
#[repr(C)]
struct CtxHeader {
    /// Bytes allocated, header included.
    size: usize,
    /// `iov_t`s after `Ctx::iov[0]`'s start.
    nparts: usize,
    /// The receive buffer's length.
    buf_len: usize,
    /// A reply the library made and has not sent yet (see [`DEFER`]); null if none.
    pending: *mut Pending,
}

/// A reply held for the next `dispatch_block` of its context.
struct Pending {
    rcvid: i64,
    status: i64,
    data: Vec<u8>,
}

/// Largest reply held for the next receive (a larger one is sent at once: its copy would
/// cost more than the daemon round trip saved).
const DEFER_MAX: usize = 64 * 1024;

thread_local! {
    /// Set by a thread pool around its `handler_func` when its `block_func` is
    /// `dispatch_block` (the pool's next call, right after the handler): the library's own
    /// reply to the message then goes with that next receive, one request to the daemon
    /// instead of two. Everywhere else (a program's own `dispatch_block`/`dispatch_handler`
    /// loop) the reply is sent inside `dispatch_handler`, as on QNX.
    pub(crate) static DEFER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Send a held reply now, if there is one.
///
/// # Safety
/// `ctp` is a live context.
pub(crate) unsafe fn flush_pending(ctp: *mut Ctx) {
    // SAFETY: the caller's live context; the pointer came from Box::into_raw.
    unsafe {
        if let Some(p) = take_pending(ctp) {
            let _ = crate::msg::MsgReply(p.rcvid, p.status, p.data.as_ptr().cast(), p.data.len());
        }
    }
}

/// # Safety
/// `ctp` is a live context.
unsafe fn take_pending(ctp: *mut Ctx) -> Option<Box<Pending>> {
    // SAFETY: the caller's live context; `pending` is null or from Box::into_raw.
    unsafe {
        let h = header(ctp);
        let p = std::mem::replace(&mut (*h).pending, std::ptr::null_mut());
        (!p.is_null()).then(|| Box::from_raw(p))
    }
}

const HEADER: usize = std::mem::size_of::<CtxHeader>();

/// # Safety
/// `ctp` came from [`dispatch_context_alloc`].
unsafe fn header(ctp: *mut Ctx) -> *mut CtxHeader {
    // SAFETY: the header sits right before the context in the same allocation.
    unsafe { ctp.cast::<u8>().sub(HEADER).cast() }
}

/// # Safety
/// `ctp` is a live context.
unsafe fn dispatch_of<'a>(ctp: *mut Ctx) -> Option<&'a Dispatch> {
    // SAFETY: ctp->dpp is the dispatch it was allocated for (or null).
    unsafe { (*ctp).dpp.cast::<Dispatch>().as_ref() }
}

/// The received bytes of `ctp` (what `MsgReceive` put into its buffer).
///
/// # Safety
/// `ctp` is a live context.
unsafe fn received<'a>(ctp: *mut Ctx) -> &'a [u8] {
    // SAFETY: ctp->msg holds buf_len bytes, of which `size` were received.
    unsafe {
        let h = header(ctp);
        let n = ((*ctp).size.max(0) as usize).min((*h).buf_len);
        std::slice::from_raw_parts((*ctp).msg, n)
    }
}

/// `dispatch_create()`: a dispatch handle; its channel (`_NTO_CHF_DISCONNECT |
/// _NTO_CHF_UNBLOCK`) is created when first needed.
#[unsafe(no_mangle)]
pub extern "C" fn dispatch_create() -> *mut Dispatch {
    Box::into_raw(Box::new(Dispatch {
        chid: AtomicI32::new(-1),
        own_channel: AtomicBool::new(false),
        state: Mutex::new(State {
            next_local_id: LOCAL_ID_BASE,
            next_pulse_code: 126,
            ..State::default()
        }),
        msg_max: AtomicUsize::new(MIN_MSG),
        nparts_max: AtomicUsize::new(1),
        blocked: AtomicUsize::new(0),
        unblocks: AtomicUsize::new(0),
        waker: OnceLock::new(),
    }))
}

/// `dispatch_create_channel(chid, flags)`: as `dispatch_create`, on channel `chid` (-1:
/// create one now). `DISPATCH_FLAG_NOLOCK` is accepted (the handle always locks).
#[unsafe(no_mangle)]
pub extern "C" fn dispatch_create_channel(chid: c_int, _flags: c_uint) -> *mut Dispatch {
    let d = dispatch_create();
    // SAFETY: just made.
    let dr = unsafe { &*d };
    if chid > 0 {
        dr.chid.store(chid, Ordering::Release);
    } else if let Err(e) = dr.channel() {
        // SAFETY: made above, not shared.
        drop(unsafe { Box::from_raw(d) });
        set_errno(e.0);
        return std::ptr::null_mut();
    }
    d
}

/// `dispatch_destroy(dpp)`: detaches its paths and destroys the channel it made. The handle
/// itself stays allocated if `dispatch_unblock`'s helper thread runs (it may still read it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_destroy(dpp: *mut Dispatch) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    let ids: Vec<i32> = d
        .lock()
        .attaches
        .iter()
        .filter(|(_, a)| a.path)
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        let _ = n::path_detach(id as u32);
    }
    let chid = d.chid.swap(-1, Ordering::AcqRel);
    if chid > 0 && d.own_channel.load(Ordering::Acquire) {
        let _ = n::channel_destroy(chid);
    }
    if d.waker.get().is_none() {
        // SAFETY: made by dispatch_create; no helper thread holds it.
        drop(unsafe { Box::from_raw(dpp) });
    }
    0
}

/// `dispatch_context_alloc(dpp)`: a context with a receive buffer of the largest
/// `msg_max_size` and `nparts_max` attached so far (at least 2048 bytes and one part).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_context_alloc(dpp: *mut Dispatch) -> *mut Ctx {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return std::ptr::null_mut();
    };
    if let Err(e) = d.channel() {
        set_errno(e.0);
        return std::ptr::null_mut();
    }
    d.waker();
    let buf_len = d
        .msg_max
        .load(Ordering::Acquire)
        .max(std::mem::size_of::<CPulse>())
        .max(MIN_MSG);
    let nparts = d.nparts_max.load(Ordering::Acquire).max(1);
    let ctx_len = std::mem::size_of::<Ctx>() + (nparts - 1) * std::mem::size_of::<iovec>();
    let ctx_len = ctx_len.next_multiple_of(16);
    let size = HEADER + ctx_len + buf_len;
    // SAFETY: calloc of `size` bytes; checked for null.
    let base = unsafe { libc::calloc(1, size) }.cast::<u8>();
    if base.is_null() {
        set_errno(Errno::ENOMEM.0);
        return std::ptr::null_mut();
    }
    // SAFETY: all within the allocation of `size` bytes.
    unsafe {
        base.cast::<CtxHeader>().write(CtxHeader {
            size,
            nparts,
            buf_len,
            pending: std::ptr::null_mut(),
        });
        let ctp = base.add(HEADER).cast::<Ctx>();
        (*ctp).msg = base.add(HEADER + ctx_len);
        (*ctp).dpp = dpp.cast();
        (*ctp).msg_max_size = buf_len as u32;
        (*ctp).id = -1;
        ctp
    }
}

/// `dispatch_context_free(ctp)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_context_free(ctp: *mut Ctx) {
    if !ctp.is_null() {
        // SAFETY: allocated by dispatch_context_alloc with calloc, header first.
        unsafe {
            flush_pending(ctp);
            libc::free(header(ctp).cast());
        }
    }
}

/// `dispatch_block(ctp)`: receive the next message or pulse into the context. `NULL` with
/// errno on failure, and `EINTR` once `dispatch_unblock` was called.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_block(ctp: *mut Ctx) -> *mut Ctx {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        set_errno(Errno::EINVAL.0);
        return std::ptr::null_mut();
    };
    let chid = match d.channel() {
        Ok(c) => c,
        Err(e) => {
            set_errno(e.0);
            return std::ptr::null_mut();
        }
    };
    loop {
        d.blocked.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the context's buffer holds buf_len bytes; info is the context's.
        let r = unsafe {
            let h = header(ctp);
            let (buf, len, info) = ((*ctp).msg, (*h).buf_len, &mut (*ctp).info as *mut CMsgInfo);
            let combined = take_pending(ctp).and_then(|p| {
                crate::msg::reply_receive(p.rcvid, p.status, &p.data, chid, buf, len, info).ok()
            });
            match combined {
                Some(r) => r,
                // No reply held, or it failed (its client is gone): a plain receive.
                None => crate::msg::MsgReceive(chid, buf.cast(), len, info),
            }
        };
        d.blocked.fetch_sub(1, Ordering::AcqRel);
        if r < 0 {
            return std::ptr::null_mut();
        }
        // SAFETY: the context is the caller's and live.
        unsafe {
            (*ctp).rcvid = r;
            (*ctp).offset = 0;
            (*ctp).status = 0;
            (*ctp).id = -1;
            (*ctp).tid = n::gettid();
            (*ctp).size = if r == 0 {
                std::mem::size_of::<CPulse>() as c_int
            } else {
                (*ctp).info.msglen.clamp(0, (*header(ctp)).buf_len as isize) as c_int
            };
        }
        if r == 0 {
            // SAFETY: a pulse was written at the start of the buffer.
            let p = unsafe { pulse_of(ctp) };
            if p.code == WAKE_CODE && p.value as i32 == WAKE_VALUE {
                let pending = d.unblocks.load(Ordering::Acquire);
                if pending > 0 {
                    d.unblocks.fetch_sub(1, Ordering::AcqRel);
                    set_errno(libc::EINTR);
                    return std::ptr::null_mut();
                }
                continue;
            }
        }
        return ctp;
    }
}

/// The pulse in a context's buffer.
///
/// # Safety
/// `ctp` holds a received pulse.
unsafe fn pulse_of(ctp: *mut Ctx) -> CPulse {
    // SAFETY: the buffer holds at least a pulse (buf_len >= 24).
    unsafe { std::ptr::read_unaligned((*ctp).msg.cast::<CPulse>()) }
}

/// `dispatch_unblock(ctp)`: every thread blocked in `dispatch_block` on this context's
/// dispatch returns `NULL` with `EINTR`. Safe to call from a signal handler.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_unblock(ctp: *mut Ctx) {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        return;
    };
    if let Some(Some(w)) = d.waker.get() {
        let one = 1u64;
        // SAFETY: an 8-byte write to our eventfd (async-signal-safe).
        unsafe { libc::write(w.eventfd, (&one as *const u64).cast(), 8) };
    }
}

/// `dispatch_timeout(dpp, reltime)`: accepted; qnet's dispatch_block does not time out.
#[unsafe(no_mangle)]
pub extern "C" fn dispatch_timeout(_dpp: *mut Dispatch, _reltime: *mut libc::timespec) -> c_int {
    0
}

/// `resmgr_context_alloc(dpp)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_context_alloc(dpp: *mut Dispatch) -> *mut Ctx {
    // SAFETY: the caller's handle.
    unsafe { dispatch_context_alloc(dpp) }
}

/// `resmgr_context_free(ctp)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_context_free(ctp: *mut Ctx) {
    // SAFETY: the caller's context.
    unsafe { dispatch_context_free(ctp) }
}

/// `resmgr_block(ctp)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_block(ctp: *mut Ctx) -> *mut Ctx {
    // SAFETY: the caller's context.
    unsafe { dispatch_block(ctp) }
}

/// `resmgr_handler(ctp)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_handler(ctp: *mut Ctx) -> c_int {
    // SAFETY: the caller's context.
    unsafe { dispatch_handler(ctp) }
}

/// `resmgr_attach(dpp, attr, path, file_type, flags, connect_funcs, io_funcs, handle)`:
/// registers `path` in the pathname space on the dispatch's channel (relative paths are
/// taken from the current directory; `NULL` registers nothing, for `_RESMGR_FLAG_FTYPEONLY`
/// or a manager reached otherwise) and binds the handler tables and `handle` to it. Returns
/// the attachment's id (`_io_connect.handle` of its clients' opens). Errors as the kernel
/// gives them: `EINVAL` (`..`, bad flags), `EPERM` (under `/net`: another node's), `EEXIST`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_attach(
    dpp: *mut Dispatch,
    attr: *const ResmgrAttr,
    path: *const c_char,
    file_type: c_uint,
    flags: c_uint,
    connect_funcs: *const ConnectFuncs,
    io_funcs: *const IoFuncs,
    handle: *mut c_void,
) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    let chid = match d.channel() {
        Ok(c) => c,
        Err(e) => {
            set_errno(e.0);
            return -1;
        }
    };
    // SAFETY: the caller's attributes, if any.
    if let Some(a) = unsafe { attr.as_ref() } {
        d.grow(a.msg_max_size as usize, a.nparts_max as usize);
        if a.flags & 0x4 != 0 {
            d.lock().other_func = a.other_func.map(|f| f as usize);
        }
    }
    let rec = AttachRec {
        connect: connect_funcs as usize,
        io: io_funcs as usize,
        handle: handle as usize,
        path: false,
    };
    let ftype_only = flags & 0x10 != 0;
    if path.is_null() && !ftype_only {
        let mut st = d.lock();
        let id = st.next_local_id;
        st.next_local_id += 1;
        st.attaches.insert(id, rec);
        return id;
    }
    let p = if path.is_null() {
        Ok(String::new())
    } else {
        // SAFETY: the caller's string.
        unsafe { str_arg(path) }.and_then(|p| absolute(p).ok_or(Errno::EINVAL))
    };
    let r = p.and_then(|p| {
        n::path_attach(&p, chid, qnet::neutrino::PathFlags(flags), file_type).map_err(|e| e.errno())
    });
    match r {
        Ok(id) => {
            let id = id as i32;
            d.lock()
                .attaches
                .insert(id, AttachRec { path: true, ..rec });
            id
        }
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

/// `path` made absolute from the current directory.
fn absolute(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(path.to_owned());
    }
    let cwd = std::env::current_dir().ok()?;
    Some(format!("{}/{path}", cwd.to_str()?))
}

/// `resmgr_detach(dpp, id, flags)`: the path leaves the pathname space; OCBs already open
/// stay bound.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_detach(dpp: *mut Dispatch, id: c_int, _flags: c_uint) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    let rec = d.lock().attaches.remove(&id);
    match rec {
        None => {
            set_errno(Errno::EINVAL.0);
            -1
        }
        Some(r) if r.path => match n::path_detach(id as u32) {
            Ok(()) => 0,
            Err(e) => {
                set_errno(e.errno().0);
                -1
            }
        },
        Some(_) => 0,
    }
}

/// `resmgr_open_bind(ctp, ocb, io_funcs)`: messages on the connection the current open came
/// through go to `ocb` and `io_funcs` (`NULL`: the attachment's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_open_bind(
    ctp: *mut Ctx,
    ocb: *mut c_void,
    io_funcs: *const IoFuncs,
) -> c_int {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    // SAFETY: live context.
    let (key, id) = unsafe { (((*ctp).info.scoid, (*ctp).info.coid), (*ctp).id) };
    let mut st = d.lock();
    let io = if io_funcs.is_null() {
        st.attaches.get(&id).map_or(0, |a| a.io)
    } else {
        io_funcs as usize
    };
    st.bindings.insert(
        key,
        Binding {
            ocb: ocb as usize,
            io,
            id,
        },
    );
    0
}

/// `resmgr_unbind(ctp)`: the current connection has no OCB any more.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_unbind(ctp: *mut Ctx) -> c_int {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    // SAFETY: live context.
    let key = unsafe { ((*ctp).info.scoid, (*ctp).info.coid) };
    match d.lock().bindings.remove(&key) {
        Some(_) => 0,
        None => {
            set_errno(Errno::EINVAL.0);
            -1
        }
    }
}

/// `resmgr_ocb(ctp)`: the OCB bound to the current connection (`NULL` if none).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_ocb(ctp: *mut Ctx) -> *mut c_void {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        return std::ptr::null_mut();
    };
    // SAFETY: live context.
    let key = unsafe { ((*ctp).info.scoid, (*ctp).info.coid) };
    d.lock()
        .bindings
        .get(&key)
        .map_or(std::ptr::null_mut(), |b| b.ocb as *mut c_void)
}

/// `resmgr_msgread(ctp, msg, nbytes, offset)`: bytes of the client's message from
/// `ctp->offset + offset` (from the context's buffer when it holds them, else `MsgRead`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgread(
    ctp: *mut Ctx,
    msg: *mut c_void,
    nbytes: size_t,
    offset: size_t,
) -> ssize_t {
    if ctp.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: live context; `msg` holds `nbytes` (the caller's contract).
    unsafe {
        let at = (*ctp).offset.max(0) as usize + offset;
        let have = received(ctp);
        if at + nbytes <= have.len() {
            std::ptr::copy_nonoverlapping(have.as_ptr().add(at), msg.cast::<u8>(), nbytes);
            return nbytes as ssize_t;
        }
        crate::msg::MsgRead((*ctp).rcvid, msg, nbytes, at)
    }
}

/// `resmgr_msgget(ctp, msg, nbytes, offset)`: as [`resmgr_msgread`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgget(
    ctp: *mut Ctx,
    msg: *mut c_void,
    nbytes: size_t,
    offset: size_t,
) -> ssize_t {
    // SAFETY: the caller's arguments.
    unsafe { resmgr_msgread(ctp, msg, nbytes, offset) }
}

/// `resmgr_msgreadv(ctp, iov, parts, offset)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgreadv(
    ctp: *mut Ctx,
    iov: *const iovec,
    parts: c_int,
    offset: size_t,
) -> ssize_t {
    let mut done = 0usize;
    // SAFETY: the caller's iov array.
    for part in unsafe { crate::iovs(iov, parts.max(0) as usize) } {
        // SAFETY: each part is the caller's buffer.
        let r = unsafe { resmgr_msgread(ctp, part.iov_base, part.iov_len, offset + done) };
        if r < 0 {
            return r;
        }
        done += r as usize;
        if (r as usize) < part.iov_len {
            break;
        }
    }
    done as ssize_t
}

/// `resmgr_msgreply(ctp, msg, nbytes)`: `MsgReply(ctp->rcvid, ctp->status, msg, nbytes)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgreply(ctp: *mut Ctx, msg: *mut c_void, nbytes: size_t) -> c_int {
    if ctp.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: live context, the caller's buffer.
    unsafe { crate::msg::MsgReply((*ctp).rcvid, (*ctp).status.into(), msg, nbytes) }
}

/// `resmgr_msgreplyv(ctp, iov, parts)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgreplyv(ctp: *mut Ctx, iov: *mut iovec, parts: c_int) -> c_int {
    if ctp.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: live context, the caller's iov array.
    unsafe {
        crate::msg::MsgReplyv(
            (*ctp).rcvid,
            (*ctp).status.into(),
            iov,
            parts.max(0) as size_t,
        )
    }
}

/// `resmgr_msgwrite(ctp, msg, nbytes, offset)`: `MsgWrite` into the client's reply buffer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgwrite(
    ctp: *mut Ctx,
    msg: *const c_void,
    nbytes: size_t,
    offset: size_t,
) -> ssize_t {
    if ctp.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: live context, the caller's buffer.
    unsafe { crate::msg::MsgWrite((*ctp).rcvid, msg, nbytes, offset) }
}

/// `resmgr_msgwritev(ctp, iov, parts, offset)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn resmgr_msgwritev(
    ctp: *mut Ctx,
    iov: *const iovec,
    parts: c_int,
    offset: size_t,
) -> ssize_t {
    if ctp.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: live context, the caller's iov array.
    unsafe { crate::msg::MsgWritev((*ctp).rcvid, iov, parts.max(0) as size_t, offset) }
}

/// `pulse_attach(dpp, flags, code, func, handle)`: `func` handles pulses of `code`
/// (`MSG_FLAG_ALLOC_PULSE`: a free code is picked). Returns the code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pulse_attach(
    dpp: *mut Dispatch,
    flags: c_int,
    code: c_int,
    func: Option<MessageFn>,
    handle: *mut c_void,
) -> c_int {
    // SAFETY: the caller's handle.
    let (Some(d), Some(f)) = (unsafe { dpp.as_ref() }, func) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    if let Err(e) = d.channel() {
        set_errno(e.0);
        return -1;
    }
    let mut st = d.lock();
    let code = if flags & 1 != 0 {
        let mut c = st.next_pulse_code;
        while st.pulses.iter().any(|p| p.0 == c) && c > 0 {
            c -= 1;
        }
        if c <= 0 {
            set_errno(Errno::EAGAIN.0);
            return -1;
        }
        st.next_pulse_code = c - 1;
        c
    } else {
        code
    };
    st.pulses.push((code, f as usize, handle as usize));
    code
}

/// `pulse_detach(dpp, code, flags)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pulse_detach(dpp: *mut Dispatch, code: c_int, _flags: c_int) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    let mut st = d.lock();
    let before = st.pulses.len();
    st.pulses.retain(|p| p.0 != code);
    if st.pulses.len() == before {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    0
}

/// `message_attach(dpp, attr, low, high, func, handle)`: `func` handles messages whose type
/// is in `low..=high` (`MSG_FLAG_TYPE_PULSE` in `attr->flags`: pulse codes instead).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn message_attach(
    dpp: *mut Dispatch,
    attr: *const ResmgrAttr,
    low: c_int,
    high: c_int,
    func: Option<MessageFn>,
    handle: *mut c_void,
) -> c_int {
    // SAFETY: the caller's handle.
    let (Some(d), Some(f)) = (unsafe { dpp.as_ref() }, func) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    if low > high {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    if let Err(e) = d.channel() {
        set_errno(e.0);
        return -1;
    }
    // message_attr_t starts with flags, nparts_max, msg_max_size, like resmgr_attr_t.
    // SAFETY: the caller's attributes, if any (only the first three fields are read).
    let flags = match unsafe { attr.cast::<[u32; 3]>().as_ref() } {
        Some(a) => {
            d.grow(a[2] as usize, a[1] as usize);
            a[0]
        }
        None => 0,
    };
    let mut st = d.lock();
    if flags & 2 != 0 {
        for code in low..=high.min(127) {
            st.pulses.push((code, f as usize, handle as usize));
        }
    } else {
        st.messages.push((low, high, f as usize, handle as usize));
    }
    0
}

/// `message_detach(dpp, low, high, flags)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn message_detach(
    dpp: *mut Dispatch,
    low: c_int,
    high: c_int,
    _flags: c_int,
) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    d.lock().messages.retain(|m| !(m.0 == low && m.1 == high));
    0
}

/// `message_connect(dpp, flags)`: a side-channel connection to the dispatch's own channel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn message_connect(dpp: *mut Dispatch, _flags: c_int) -> c_int {
    // SAFETY: the caller's handle.
    let Some(d) = (unsafe { dpp.as_ref() }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    match d.channel() {
        // SAFETY: a plain ConnectAttach to our own channel.
        Ok(chid) => unsafe { crate::channel::ConnectAttach(0, 0, chid, 0x4000_0000, 0) },
        Err(e) => {
            set_errno(e.0);
            -1
        }
    }
}

/// `dispatch_handler(ctp)`: run the handler for what `dispatch_block` received and reply
/// as it says (see the module doc). 0, or -1 if nothing handled a pulse.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_handler(ctp: *mut Ctx) -> c_int {
    // SAFETY: the caller's context.
    let Some(d) = (unsafe { ctp.as_ref().and_then(|_| dispatch_of(ctp)) }) else {
        set_errno(Errno::EINVAL.0);
        return -1;
    };
    // SAFETY: a live context with what dispatch_block received.
    unsafe {
        // A reply still held (a program that received on this context itself) goes now.
        flush_pending(ctp);
        if (*ctp).rcvid == 0 {
            return handle_pulse(d, ctp);
        }
        let msg = received(ctp);
        let ty: u16 = read_header(msg);
        let user = {
            let st = d.lock();
            st.messages
                .iter()
                .find(|m| (m.0..=m.1).contains(&i32::from(ty)))
                .map(|m| (m.2, m.3))
        };
        if let Some((f, h)) = user {
            let f: MessageFn = std::mem::transmute::<usize, MessageFn>(f);
            f(ctp, i32::from(ty), 0, h as *mut c_void);
            return 0;
        }
        let ret = match ty {
            IO_CONNECT => handle_connect(d, ctp, msg),
            t if t > IO_BASE && t <= IO_MAX => handle_io(d, ctp, t),
            _ => {
                let other = d.lock().other_func;
                match other {
                    Some(f) => {
                        let f: OtherFn = std::mem::transmute::<usize, OtherFn>(f);
                        f(ctp, (*ctp).msg.cast())
                    }
                    None => libc::ENOSYS,
                }
            }
        };
        reply(ctp, ret);
    }
    0
}

/// Answer the current message as a handler's return value says.
///
/// # Safety
/// `ctp` is a live context.
unsafe fn reply(ctp: *mut Ctx, ret: c_int) {
    // SAFETY: live context; its iov array holds nparts entries.
    unsafe {
        let rcvid = (*ctp).rcvid;
        if rcvid <= 0 || ret == RESMGR_NOREPLY || ret == RESMGR_DEFAULT {
            return;
        }
        if ret <= 0 && DEFER.get() && (*header(ctp)).pending.is_null() {
            let parts = (-(ret as i64)) as usize;
            let parts = parts.min((*header(ctp)).nparts);
            let iov = std::slice::from_raw_parts((*ctp).iov.as_ptr(), parts);
            let total: usize = iov.iter().map(|v| v.iov_len).sum();
            if total <= DEFER_MAX {
                let mut data = Vec::with_capacity(total);
                for v in iov {
                    data.extend_from_slice(crate::bytes(v.iov_base, v.iov_len));
                }
                (*header(ctp)).pending = Box::into_raw(Box::new(Pending {
                    rcvid,
                    status: (*ctp).status.into(),
                    data,
                }));
                return;
            }
        }
        if ret == 0 {
            crate::msg::MsgReply(rcvid, (*ctp).status.into(), std::ptr::null(), 0);
        } else if ret > 0 {
            crate::msg::MsgError(rcvid, ret);
        } else {
            let parts = (-(ret as i64)) as usize;
            let parts = parts.min((*header(ctp)).nparts);
            crate::msg::MsgReplyv(rcvid, (*ctp).status.into(), (*ctp).iov.as_ptr(), parts);
        }
    }
}

/// A connect message: the attachment's connect handler.
///
/// # Safety
/// `ctp` is a live context holding `msg`.
unsafe fn handle_connect(d: &Dispatch, ctp: *mut Ctx, msg: &[u8]) -> c_int {
    let c: IoConnect = read_header(msg);
    if c.file_type == FTYPE_NAME {
        // A name_open of a name attached with this dispatch (see name.rs).
        return 0;
    }
    let index = match c.subtype {
        0..=2 => connect::OPEN,
        s @ 3..=7 => usize::from(s) - 2,
        9 => 7,
        _ => return libc::ENOSYS,
    };
    let Some(rec) = d.lock().attaches.get(&(c.handle as i32)).copied() else {
        return libc::ENOENT;
    };
    // SAFETY: live context; the tables are the program's (resmgr_attach's contract).
    unsafe {
        (*ctp).id = c.handle as i32;
        let table = (rec.connect as *const ConnectFuncs).as_ref();
        let f = table.and_then(|t| t.get(index));
        let ret = match f {
            Some(f) => f(
                ctp,
                (*ctp).msg.cast(),
                rec.handle as *mut c_void,
                std::ptr::null_mut(),
            ),
            None => RESMGR_DEFAULT,
        };
        if ret == RESMGR_DEFAULT {
            if index == connect::OPEN {
                return iofunc::iofunc_open_default(
                    ctp,
                    (*ctp).msg.cast(),
                    rec.handle as *mut Attr,
                    std::ptr::null_mut(),
                );
            }
            return libc::ENOSYS;
        }
        ret
    }
}

/// An I/O message: the bound OCB's handler.
///
/// # Safety
/// `ctp` is a live context.
unsafe fn handle_io(d: &Dispatch, ctp: *mut Ctx, ty: u16) -> c_int {
    // SAFETY: live context.
    let key = unsafe { ((*ctp).info.scoid, (*ctp).info.coid) };
    let Some(b) = d.acquire(key) else {
        return libc::EBADF;
    };
    // SAFETY: live context; the binding's table and OCB are the program's, and in use.
    let ret = unsafe { run_io(d, ctp, ty, key, b) };
    if let Some(((scoid, coid), b)) = d.release(b.ocb) {
        // SAFETY: live context; the OCB's connection is gone and nobody else uses it.
        unsafe { close_later(ctp, scoid, coid, b) };
    }
    ret
}

/// Run a `close_ocb` held back while handlers used the OCB, in the last one's context.
///
/// # Safety
/// `ctp` is a live context; `b`'s OCB is unbound and unused.
unsafe fn close_later(ctp: *mut Ctx, scoid: i32, coid: i32, b: Binding) {
    // SAFETY: as the caller's contract.
    unsafe {
        let saved = ((*ctp).info.scoid, (*ctp).info.coid, (*ctp).id);
        (*ctp).info.scoid = scoid;
        (*ctp).info.coid = coid;
        (*ctp).id = b.id;
        close_ocb(ctp, (b.io as *const IoFuncs).as_ref(), b.ocb as *mut c_void);
        ((*ctp).info.scoid, (*ctp).info.coid, (*ctp).id) = saved;
    }
}

/// [`handle_io`] with the binding taken.
///
/// # Safety
/// `ctp` is a live context, `b` the binding of `key`, counted in use.
unsafe fn run_io(d: &Dispatch, ctp: *mut Ctx, ty: u16, key: (i32, i32), b: Binding) -> c_int {
    // SAFETY: live context; the binding's table and OCB are the program's.
    unsafe {
        (*ctp).id = b.id;
        let table = (b.io as *const IoFuncs).as_ref();
        let ocb = b.ocb as *mut c_void;
        let msg = (*ctp).msg.cast::<c_void>();
        if ty == IO_CLOSE {
            let dup = table.and_then(|t| t.get(io::CLOSE_DUP));
            let mut ret = match dup {
                Some(f) => f(ctp, msg, ocb),
                None => 0,
            };
            if ret == RESMGR_DEFAULT {
                ret = 0;
            }
            // Closed by the last handler to finish with it (this one, unless another pool
            // thread still runs one), as it is released.
            let mut st = d.lock();
            if st.bindings.remove(&key).is_some() {
                st.deferred.insert(b.ocb, (key, b));
            }
            return ret;
        }
        let index = usize::from(ty - IO_BASE - 1);
        let lock = table.and_then(|t| t.get(io::LOCK_OCB));
        let unlock = table.and_then(|t| t.get(io::UNLOCK_OCB));
        if let Some(l) = lock {
            l(ctp, std::ptr::null_mut(), ocb);
        }
        let f = table.and_then(|t| t.get(index));
        let mut ret = match f {
            Some(f) => f(ctp, msg, ocb),
            None => RESMGR_DEFAULT,
        };
        if ret == RESMGR_DEFAULT {
            ret = iofunc::default_io(ctp, index, msg, ocb);
        }
        if let Some(u) = unlock {
            u(ctp, std::ptr::null_mut(), ocb);
        }
        ret
    }
}

/// Run an OCB's `close_ocb` (the default when the table has none), with no reply.
///
/// # Safety
/// `ctp` is a live context, `ocb` the program's.
unsafe fn close_ocb(ctp: *mut Ctx, table: Option<&IoFuncs>, ocb: *mut c_void) {
    // SAFETY: as the caller's contract.
    unsafe {
        match table.and_then(|t| t.get(io::CLOSE_OCB)) {
            Some(f) => {
                let rcvid = (*ctp).rcvid;
                (*ctp).rcvid = 0;
                f(ctp, std::ptr::null_mut(), ocb);
                (*ctp).rcvid = rcvid;
            }
            None => {
                iofunc::iofunc_close_ocb_default(ctp, std::ptr::null_mut(), ocb.cast());
            }
        }
    }
}

/// A pulse: the library's own (disconnect, unblock), then `pulse_attach` handlers.
///
/// # Safety
/// `ctp` is a live context holding a pulse.
unsafe fn handle_pulse(d: &Dispatch, ctp: *mut Ctx) -> c_int {
    // SAFETY: the context holds a pulse.
    let p = unsafe { pulse_of(ctp) };
    match p.code {
        PULSE_DISCONNECT => {
            // OCBs a handler still runs with (another pool thread's) are closed by it.
            let closing: Vec<((i32, i32), Binding)> = {
                let keys: Vec<(i32, i32)> = d
                    .lock()
                    .bindings
                    .keys()
                    .filter(|k| k.0 == p.scoid)
                    .copied()
                    .collect();
                keys.into_iter()
                    .filter_map(|k| d.unbind_for_close(k).map(|b| (k, b)))
                    .collect()
            };
            for ((scoid, coid), b) in closing {
                // SAFETY: live context; the binding's OCB and table are the program's.
                unsafe {
                    (*ctp).info.scoid = scoid;
                    (*ctp).info.coid = coid;
                    (*ctp).id = b.id;
                    close_ocb(ctp, (b.io as *const IoFuncs).as_ref(), b.ocb as *mut c_void);
                }
            }
            // SAFETY: releases the scoid the pulse announced.
            unsafe { crate::channel::ConnectDetach(p.scoid) };
        }
        PULSE_UNBLOCK => {
            let rcvid = i64::from(p.value as i32);
            let mut info = CMsgInfo::default();
            // SAFETY: MsgInfo writes into `info`.
            let known = unsafe { crate::msg::MsgInfo(rcvid, &mut info) } == 0;
            let b = if known {
                d.acquire((info.scoid, info.coid))
            } else {
                None
            };
            if let Some(b) = b {
                // SAFETY: live context; the binding's table and OCB are the program's.
                unsafe {
                    let saved = ((*ctp).rcvid, (*ctp).info);
                    (*ctp).rcvid = rcvid;
                    (*ctp).info = info;
                    (*ctp).id = b.id;
                    let table = (b.io as *const IoFuncs).as_ref();
                    let ret = match table.and_then(|t| t.get(io::UNBLOCK)) {
                        Some(f) => f(ctp, (*ctp).msg.cast(), b.ocb as *mut c_void),
                        None => RESMGR_DEFAULT,
                    };
                    reply(ctp, ret);
                    ((*ctp).rcvid, (*ctp).info) = (0, saved.1);
                }
                if let Some(((scoid, coid), b)) = d.release(b.ocb) {
                    // SAFETY: live context; the OCB's connection is gone, nobody uses it.
                    unsafe { close_later(ctp, scoid, coid, b) };
                }
            }
        }
        _ => {}
    }
    let handler = d
        .lock()
        .pulses
        .iter()
        .find(|h| h.0 == i32::from(p.code))
        .map(|h| (h.1, h.2));
    match handler {
        Some((f, h)) => {
            // SAFETY: the program's pulse handler, with its handle.
            unsafe {
                let f: MessageFn = std::mem::transmute::<usize, MessageFn>(f);
                f(ctp, i32::from(p.code), 0, h as *mut c_void);
            }
            0
        }
        None if p.code == PULSE_DISCONNECT || p.code == PULSE_UNBLOCK => 0,
        None => -1,
    }
}

/// For `name_attach(dpp, …)`: the dispatch's channel, if it has one already.
pub(crate) fn existing_channel(dpp: *mut c_void) -> Option<i32> {
    // SAFETY: a dispatch handle from dispatch_create (name_attach's caller's contract).
    let d = unsafe { dpp.cast::<Dispatch>().as_ref() }?;
    let chid = d.chid.load(Ordering::Acquire);
    (chid > 0).then_some(chid)
}

/// For `name_attach(dpp, …)`: hand the name's channel to the dispatch if it has none.
pub(crate) fn adopt_channel(dpp: *mut c_void, chid: i32) -> bool {
    // SAFETY: a dispatch handle from dispatch_create (name_attach's caller's contract).
    match unsafe { dpp.cast::<Dispatch>().as_ref() } {
        Some(d) => d.adopt(chid),
        None => false,
    }
}
