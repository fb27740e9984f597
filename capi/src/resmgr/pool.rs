//! Thread pools (`thread_pool_create`, `thread_pool_start`, …): threads that each run
//! `context_alloc` once, then `block_func` / `handler_func` in a loop. The pool keeps at
//! least `lo_water` threads blocked (starting `increment` more, up to `maximum`, when fewer
//! wait) and lets a thread go when more than `hi_water` would wait, as QNX documents.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use libc::{c_int, c_uint, c_void};

use crate::set_errno;

type BlockFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type UnblockFn = unsafe extern "C" fn(*mut c_void);
type HandlerFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type AllocFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

/// `thread_pool_attr_t` (fields as `<sys/dispatch.h>` documents them).
#[allow(missing_docs)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PoolAttr {
    pub handle: *mut c_void,
    pub block_func: Option<BlockFn>,
    pub unblock_func: Option<UnblockFn>,
    pub handler_func: Option<HandlerFn>,
    pub context_alloc: Option<AllocFn>,
    pub context_free: Option<FreeFn>,
    pub attr: *mut libc::pthread_attr_t,
    pub lo_water: u16,
    pub increment: u16,
    pub hi_water: u16,
    pub maximum: u16,
    pub reserved: [u32; 8],
}
const _: () = assert!(std::mem::size_of::<PoolAttr>() == 96);

/// `POOL_FLAG_EXIT_SELF`, `POOL_FLAG_USE_SELF`.
const EXIT_SELF: c_uint = 1;
const USE_SELF: c_uint = 2;

/// `thread_pool_t`.
pub struct Pool {
    attr: Mutex<PoolAttr>,
    flags: c_uint,
    counts: Mutex<Counts>,
    gone: Condvar,
}

#[derive(Default)]
struct Counts {
    /// Threads of the pool.
    total: usize,
    /// Of those, in `block_func`.
    waiting: usize,
    /// `thread_pool_destroy` was called.
    stop: bool,
    /// A context a thread blocks with, for `unblock_func`.
    context: usize,
}

// SAFETY: the raw pointers in PoolAttr are the program's handles and functions, which QNX
// documents as shared by every thread of the pool.
unsafe impl Send for Pool {}
// SAFETY: as above; all mutable state is behind mutexes.
unsafe impl Sync for Pool {}

impl Pool {
    fn attr(&self) -> PoolAttr {
        *self.attr.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start `k` threads (the caller counted them in `total`).
    fn spawn(self: &Arc<Self>, k: usize) {
        for _ in 0..k {
            let pool = self.clone();
            let started = std::thread::Builder::new()
                .name("qnet-pool".into())
                .spawn(move || pool.run());
            if started.is_err() {
                self.counts().total -= 1;
            }
        }
    }

    /// One thread's life: its context, then block and handle until the pool shrinks or stops.
    fn run(self: Arc<Self>) {
        let a = self.attr();
        let (Some(block), Some(handler)) = (a.block_func, a.handler_func) else {
            self.leave();
            return;
        };
        // SAFETY: the program's allocator with its handle.
        let mut ctp = match a.context_alloc {
            Some(alloc) => unsafe { alloc(a.handle) },
            None => a.handle,
        };
        if ctp.is_null() {
            self.leave();
            return;
        }
        // The pool's next call after the handler is dispatch_block: the library's reply may
        // wait for it (see `resmgr::DEFER`).
        let dispatching = [
            super::dispatch_block as *const () as usize,
            super::resmgr_block as *const () as usize,
        ]
        .contains(&(block as *const () as usize));
        loop {
            {
                let mut c = self.counts();
                c.waiting += 1;
                c.context = ctp as usize;
            }
            // SAFETY: the program's block function with its own context.
            let got = unsafe { block(ctp) };
            let more = {
                let mut c = self.counts();
                c.waiting -= 1;
                if c.stop {
                    break;
                }
                let lo = usize::from(a.lo_water).max(1);
                let max = usize::from(a.maximum).max(lo);
                if c.waiting < lo && c.total < max {
                    let k = usize::from(a.increment).max(1).min(max - c.total);
                    c.total += k;
                    k
                } else {
                    0
                }
            };
            if more > 0 {
                self.spawn(more);
            }
            if got.is_null() {
                continue;
            }
            ctp = got;
            super::DEFER.set(dispatching);
            // SAFETY: the program's handler with the context block_func returned.
            unsafe { handler(ctp) };
            super::DEFER.set(false);
            let c = self.counts();
            let hi = usize::from(a.hi_water).max(usize::from(a.lo_water)).max(1);
            if c.stop || c.waiting >= hi {
                break;
            }
        }
        if dispatching {
            // SAFETY: our own dispatch context (block_func is dispatch_block).
            unsafe { super::flush_pending(ctp.cast()) };
        }
        if let Some(free) = a.context_free {
            // SAFETY: the program's context, freed by its own function.
            unsafe { free(ctp) };
        }
        self.leave();
    }

    fn leave(&self) {
        let mut c = self.counts();
        c.total = c.total.saturating_sub(1);
        self.gone.notify_all();
    }
}

/// `thread_pool_create(attr, flags)`: a pool (no thread runs before `thread_pool_start`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thread_pool_create(attr: *const PoolAttr, flags: c_uint) -> *mut Pool {
    // SAFETY: the caller's attributes.
    let Some(a) = (unsafe { attr.as_ref() }) else {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    };
    if a.block_func.is_none() || a.handler_func.is_none() {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    Arc::into_raw(Arc::new(Pool {
        attr: Mutex::new(*a),
        flags,
        counts: Mutex::new(Counts::default()),
        gone: Condvar::new(),
    }))
    .cast_mut()
}

/// `thread_pool_start(pool)`: `lo_water` threads (at least one) start; with
/// `POOL_FLAG_USE_SELF` the caller becomes one of them (and returns 0 once it leaves the
/// pool); with `POOL_FLAG_EXIT_SELF` the caller never returns, and the process exits (0) once
/// the pool's last thread has (what QNX's exit of the calling thread amounts to: a
/// `pthread_exit` here would unwind through this library's frames); otherwise it returns 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thread_pool_start(pool: *mut c_void) -> c_int {
    let pool = pool.cast::<Pool>().cast_const();
    if pool.is_null() {
        set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: a pool from thread_pool_create (one reference stays with the program).
    let p = unsafe {
        Arc::increment_strong_count(pool);
        Arc::from_raw(pool)
    };
    let a = p.attr();
    let lo = usize::from(a.lo_water).max(1);
    let use_self = p.flags & USE_SELF != 0;
    let spawn = if use_self { lo - 1 } else { lo };
    p.counts().total += lo;
    p.spawn(spawn);
    if use_self {
        p.clone().run();
        return 0;
    }
    if p.flags & EXIT_SELF != 0 {
        let mut c = p.counts();
        while c.total > 0 {
            c = p.gone.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
        std::process::exit(0);
    }
    0
}

/// `thread_pool_destroy(pool)`: the threads stop (each blocked one is woken with the pool's
/// `unblock_func`) and the call waits for them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thread_pool_destroy(pool: *mut Pool) -> c_int {
    if pool.is_null() {
        set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the program's reference from thread_pool_create, given back here.
    let p = unsafe { Arc::from_raw(pool.cast_const()) };
    let a = p.attr();
    let mut c = p.counts();
    c.stop = true;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while c.total > 0 {
        if let Some(unblock) = a.unblock_func {
            // dispatch_unblock wakes every blocked thread of the dispatch: any one of the
            // pool's contexts names it.
            drop(c);
            // SAFETY: the program's unblock function; it must accept the pool's handle
            // context (dispatch_unblock ignores all but the dispatch it names).
            unsafe { unblock(c_context(&p)) };
            c = p.counts();
        }
        let (g, _) = p
            .gone
            .wait_timeout(c, std::time::Duration::from_millis(50))
            .unwrap_or_else(PoisonError::into_inner);
        c = g;
        if std::time::Instant::now() > deadline {
            break;
        }
    }
    0
}

fn c_context(p: &Pool) -> *mut c_void {
    p.counts().context as *mut c_void
}

/// `thread_pool_limits(pool, lowater, hiwater, maximum, increment, flags)`: new bounds
/// (negative values keep the old ones).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thread_pool_limits(
    pool: *mut Pool,
    lowater: c_int,
    hiwater: c_int,
    maximum: c_int,
    increment: c_int,
    _flags: c_uint,
) -> c_int {
    // SAFETY: the caller's pool.
    let Some(p) = (unsafe { pool.as_ref() }) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let mut a = p.attr.lock().unwrap_or_else(PoisonError::into_inner);
    let set = |v: c_int, slot: &mut u16| {
        if let Ok(v) = u16::try_from(v) {
            *slot = v;
        }
    };
    set(lowater, &mut a.lo_water);
    set(hiwater, &mut a.hi_water);
    set(maximum, &mut a.maximum);
    set(increment, &mut a.increment);
    0
}
