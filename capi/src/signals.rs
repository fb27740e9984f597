//! `sigaction`, `signal` (and `bsd_signal`, `sysv_signal`, `__sysv_signal`): glibc's, with
//! the program's handler wrapped so that libqnetc knows it ran. QNX unblocks a thread
//! blocked in `MsgSend`/`MsgReceive` when a signal handler runs in it; the sleep's `EINTR`
//! shows most of those, but not a handler that ran just before the thread went to sleep (it
//! was preempted on its way). The wrapper tells `qnet` first (`qnet::signal_handled`), then
//! calls the program's handler as it asked (`SA_SIGINFO` or not); see `qnet_direct::signals`.
//!
//! What the program sees is its own: `sigaction`'s old action shows its handler and flags,
//! `signal` returns its previous handler. `SIG_DFL`, `SIG_IGN`, `SIGKILL` and `SIGSTOP` pass
//! through unwrapped. A program linked fully statically (no `dlsym`) is not wrapped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libc::{c_int, c_void, sighandler_t, siginfo_t};

use crate::set_errno;

/// Signal numbers 1..NSIG (Linux: 64 signals).
const NSIG: usize = 65;

/// The program's handler per signal (`sa_handler` or `sa_sigaction`), and whether it takes
/// three arguments (`SA_SIGINFO`).
static HANDLERS: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static SIGINFO: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

type SigactionFn =
    unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type Handler = extern "C" fn(c_int);
type InfoHandler = extern "C" fn(c_int, *mut siginfo_t, *mut c_void);

/// The handler the kernel runs for every wrapped signal.
extern "C" fn trampoline(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    qnet::signal_handled();
    let Some(i) = index(sig) else { return };
    let h = HANDLERS[i].load(Ordering::Acquire);
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        return;
    }
    if SIGINFO[i].load(Ordering::Acquire) {
        // SAFETY: the program installed `h` with SA_SIGINFO: a three-argument handler.
        let f = unsafe { std::mem::transmute::<usize, InfoHandler>(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the program installed `h` without SA_SIGINFO: a one-argument handler.
        let f = unsafe { std::mem::transmute::<usize, Handler>(h) };
        f(sig);
    }
}

fn index(sig: c_int) -> Option<usize> {
    usize::try_from(sig).ok().filter(|i| (1..NSIG).contains(i))
}

fn wraps(sig: c_int, handler: sighandler_t) -> bool {
    handler != libc::SIG_DFL
        && handler != libc::SIG_IGN
        && handler != libc::SIG_ERR
        && sig != libc::SIGKILL
        && sig != libc::SIGSTOP
        && index(sig).is_some()
}

/// `sigaction(sig, act, oldact)`.
///
/// # Safety
/// As glibc's: `act` and `oldact` are null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    let Some(real) = crate::next_fn!("sigaction", SigactionFn) else {
        set_errno(libc::ENOSYS);
        return -1;
    };
    let slot = index(sig);
    let before = slot.map(|i| {
        (
            HANDLERS[i].load(Ordering::Acquire),
            SIGINFO[i].load(Ordering::Acquire),
        )
    });
    // SAFETY: the caller's pointer, null or valid.
    let wanted = unsafe { act.as_ref() }.copied();
    let r = match (wanted, slot) {
        (Some(a), Some(i)) if wraps(sig, a.sa_sigaction) => {
            HANDLERS[i].store(a.sa_sigaction, Ordering::Release);
            SIGINFO[i].store(a.sa_flags & libc::SA_SIGINFO != 0, Ordering::Release);
            qnet::signals_wrapped();
            let mut w = a;
            w.sa_sigaction = trampoline as *const () as sighandler_t;
            w.sa_flags |= libc::SA_SIGINFO;
            // SAFETY: glibc's function with a valid action and the caller's `old`.
            let r = unsafe { real(sig, &w, old) };
            if r != 0 {
                if let Some((h, info)) = before {
                    HANDLERS[i].store(h, Ordering::Release);
                    SIGINFO[i].store(info, Ordering::Release);
                }
            }
            r
        }
        // SAFETY: glibc's function with the caller's arguments.
        _ => unsafe { real(sig, act, old) },
    };
    // Show the program its own previous handler, not the wrapper.
    // SAFETY: the caller's pointer, null or valid (glibc has just written it).
    if let (0, Some(o), Some((h, info))) = (r, unsafe { old.as_mut() }, before) {
        if o.sa_sigaction == trampoline as *const () as sighandler_t {
            o.sa_sigaction = h;
            if !info {
                o.sa_flags &= !libc::SA_SIGINFO;
            }
        }
    }
    r
}

/// `signal` as glibc's own, through the wrapping `sigaction`: BSD semantics (`SA_RESTART`,
/// the signal blocked while its handler runs), or System V's with `sysv`.
fn install(sig: c_int, handler: sighandler_t, sysv: bool) -> sighandler_t {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    if sysv {
        act.sa_flags = libc::SA_RESETHAND | libc::SA_NODEFER;
    } else {
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: a valid mask owned here.
        unsafe { libc::sigaddset(&mut act.sa_mask, sig) };
    }
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers owned here.
    if unsafe { sigaction(sig, &act, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

/// `signal(sig, handler)` (glibc's BSD semantics).
#[unsafe(no_mangle)]
pub extern "C" fn signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, false)
}

/// `bsd_signal(sig, handler)`.
#[unsafe(no_mangle)]
pub extern "C" fn bsd_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, false)
}

/// `sysv_signal(sig, handler)`.
#[unsafe(no_mangle)]
pub extern "C" fn sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, true)
}

/// `__sysv_signal`: what `signal` names in a program compiled in strict ISO C mode.
#[unsafe(no_mangle)]
pub extern "C" fn __sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    install(sig, handler, true)
}
