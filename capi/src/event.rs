//! Events: `MsgRegisterEvent`, `MsgUnregisterEvent`, `MsgVerifyEvent`, `MsgDeliverEvent`
//! over the pulse fields `<sys/siginfo.h>` lays over glibc's `struct sigevent`.
//!
//! `MsgRegisterEvent` stores qnet's handle in the event (`SIGEV_FLAG_HANDLE`, `sigev_handle`),
//! as QNX does; the client sends that event to its server, whose `MsgDeliverEvent` delivers
//! it (only that server may: `EPERM` otherwise), with the server's `sigev_value` if the
//! client made it updateable. A `SIGEV_SIGNAL` event from a local client is a signal to it.

use libc::{c_int, c_long};
use qnet::neutrino as n;
use qnet::{Errno, PulseEvent};

use crate::ids::{self, plain};
use crate::layout::{
    CSigevent, SIGEV_FLAG_HANDLE, SIGEV_FLAG_UPDATEABLE, SIGEV_PULSE, SIGEV_UNBLOCK,
};
use crate::{CResult, errno_of, kcall};

/// `_NTO_REGEVENT_ALLOW_ANY_SERVER`.
const ALLOW_ANY_SERVER: c_int = -1;

/// The pulse event an event describes (`EINVAL` for another kind).
fn pulse_event(ev: &CSigevent) -> Result<PulseEvent, Errno> {
    if ev.kind() != SIGEV_PULSE {
        return Err(Errno::EINVAL);
    }
    let priority = if ev.priority < 0 {
        n::priority()
    } else {
        u8::try_from(ev.priority).map_err(|_| Errno::EINVAL)?
    };
    Ok(PulseEvent {
        coid: plain(ev.signo_coid),
        priority,
        code: i8::try_from(ev.code).map_err(|_| Errno::EINVAL)?,
        value: ev.sival_int(),
        updateable: ev.notify & SIGEV_FLAG_UPDATEABLE != 0,
    })
}

unsafe fn register(ev: *mut CSigevent, coid: c_int) -> CResult {
    if ev.is_null() {
        return Err(Errno::EFAULT);
    }
    if coid == ALLOW_ANY_SERVER {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the caller's event.
    let e = unsafe { &mut *ev };
    let id = n::msg_register_event(&pulse_event(e)?, plain(coid)).map_err(errno_of)?;
    e.notify |= SIGEV_FLAG_HANDLE;
    e.handle = [id as u32, (id >> 32) as u32];
    Ok(0)
}

unsafe fn event_ref<'a>(ev: *const CSigevent) -> Result<&'a CSigevent, Errno> {
    // SAFETY: the caller's event.
    unsafe { ev.as_ref() }.ok_or(Errno::EFAULT)
}

unsafe fn unregister(ev: *const CSigevent) -> CResult {
    // SAFETY: the caller's event.
    let e = unsafe { event_ref(ev) }?;
    let id = e.registered().ok_or(Errno::EINVAL)?;
    n::msg_unregister_event(id).map(|()| 0).map_err(errno_of)
}

unsafe fn verify(rcvid: c_long, ev: *const CSigevent) -> CResult {
    // SAFETY: the caller's event.
    let e = unsafe { event_ref(ev) }?;
    match e.registered() {
        Some(id) => n::msg_verify_event(rcvid, id).map(|()| 0).map_err(errno_of),
        // An unregistered pulse event: deliverable to a sender this process knows (whether
        // the client refuses unregistered events is known only at delivery).
        None if e.kind() == SIGEV_PULSE => {
            let (scoid, _) = ids::sender(rcvid).ok_or(Errno::ESRCH)?;
            // A client on another node gets registered events only (as `deliver` says).
            if n::connect_client_info(scoid).is_ok_and(|c| c.nd != 0) {
                return Err(Errno::ENOTSUP);
            }
            pulse_event(e).map(|_| 0)
        }
        None => Err(Errno::EINVAL),
    }
}

unsafe fn deliver(rcvid: c_long, ev: *const CSigevent) -> CResult {
    // SAFETY: the caller's event.
    let e = unsafe { event_ref(ev) }?;
    if let Some(id) = e.registered() {
        let value = (e.notify & SIGEV_FLAG_UPDATEABLE != 0).then(|| e.sival_int());
        return n::msg_deliver_event(rcvid, id, value)
            .map(|()| 0)
            .map_err(errno_of);
    }
    match e.kind() {
        k if k == libc::SIGEV_NONE || k == SIGEV_UNBLOCK => Ok(0),
        k if k == libc::SIGEV_SIGNAL => {
            // The client behind the rcvid: the message's, or, once it was answered (QNX's
            // pattern: keep the rcvid, reply, deliver later), its connection's.
            let (nd, pid) = match n::msg_info(rcvid) {
                Ok(info) => (info.nd, info.pid),
                Err(e) => {
                    let (scoid, _) = ids::sender(rcvid).ok_or_else(|| errno_of(e))?;
                    let c = n::connect_client_info(scoid).map_err(errno_of)?;
                    (c.nd, c.pid)
                }
            };
            if nd != 0 {
                return Err(Errno::ENOTSUP);
            }
            let val = libc::sigval {
                sival_ptr: e.value as usize as *mut libc::c_void,
            };
            // SAFETY: plain syscall wrapper.
            if unsafe { libc::sigqueue(pid as libc::pid_t, e.signo_coid, val) } != 0 {
                return Err(Errno(
                    std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                ));
            }
            Ok(0)
        }
        // The older pattern: the client's own (unregistered) pulse event, sent on its
        // connection as the client, unless its connection asked _NTO_COF_REG_EVENTS.
        SIGEV_PULSE => {
            let (scoid, client_coid) = ids::sender(rcvid).ok_or(Errno::ESRCH)?;
            let event = pulse_event(e)?;
            n::msg_deliver_pulse(scoid, client_coid, &event)
                .map(|()| 0)
                .map_err(errno_of)
        }
        _ => Err(Errno::ENOTSUP),
    }
}

kcall!(
    /// `int MsgRegisterEvent(struct sigevent *event, int coid)`: only the server behind
    /// `coid` may deliver it; the handle is stored in `*event`.
    MsgRegisterEvent, MsgRegisterEvent_r, (ev: *mut CSigevent, coid: c_int) -> c_int,
    register(ev, coid)
);
kcall!(
    /// `int MsgUnregisterEvent(const struct sigevent *event)`.
    MsgUnregisterEvent, MsgUnregisterEvent_r, (ev: *const CSigevent) -> c_int,
    unregister(ev)
);
kcall!(
    /// `int MsgVerifyEvent(rcvid_t rcvid, const struct sigevent *event)`: 0 if this server may
    /// deliver it.
    MsgVerifyEvent, MsgVerifyEvent_r, (rcvid: c_long, ev: *const CSigevent) -> c_int,
    verify(rcvid, ev)
);
kcall!(
    /// `int MsgDeliverEvent(rcvid_t rcvid, const struct sigevent *event)`.
    MsgDeliverEvent, MsgDeliverEvent_r, (rcvid: c_long, ev: *const CSigevent) -> c_int,
    deliver(rcvid, ev)
);
