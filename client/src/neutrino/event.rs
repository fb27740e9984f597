//! Events: `MsgRegisterEvent`, `MsgUnregisterEvent`, `MsgVerifyEvent`, `MsgDeliverEvent`.

use qnet_core::{Call, Coid, Completion as C, EventId, PulseEvent, Rcvid, Scoid};

use super::channel::done;
use crate::error::Result;
use crate::session::{kernel, unexpected};

/// `MsgRegisterEvent(event, server_coid)`: register a pulse event that only the server behind
/// `server_coid` may deliver. Returns the handle to give that server (usually in a message).
pub fn msg_register_event(event: &PulseEvent, server_coid: Coid) -> Result<EventId> {
    let call = Call::MsgRegisterEvent {
        event: *event,
        server_coid,
    };
    match kernel("MsgRegisterEvent", call)? {
        C::Event(e) => Ok(e),
        other => Err(unexpected("MsgRegisterEvent", &other)),
    }
}

/// `MsgUnregisterEvent(event)`.
pub fn msg_unregister_event(event: EventId) -> Result<()> {
    done(
        "MsgUnregisterEvent",
        kernel("MsgUnregisterEvent", Call::MsgUnregisterEvent { event })?,
    )
}

/// `MsgVerifyEvent(rcvid, event)`: `Ok` if this process may deliver `event` (`EPERM` if it was
/// registered for another server, `EACCES` if unknown).
pub fn msg_verify_event(rcvid: Rcvid, event: EventId) -> Result<()> {
    let rcvid = kernel_rcvid(rcvid);
    done(
        "MsgVerifyEvent",
        kernel("MsgVerifyEvent", Call::MsgVerifyEvent { rcvid, event })?,
    )
}

/// `MsgDeliverEvent(rcvid, event)`: send the event's pulse to the client. `value` replaces the
/// pulse value if the client registered the event as updateable (ignored otherwise).
pub fn msg_deliver_event(rcvid: Rcvid, event: EventId, value: Option<i32>) -> Result<()> {
    let rcvid = kernel_rcvid(rcvid);
    done(
        "MsgDeliverEvent",
        kernel(
            "MsgDeliverEvent",
            Call::MsgDeliverEvent {
                rcvid,
                event,
                value,
            },
        )?,
    )
}

/// `MsgDeliverEvent` of an *unregistered* pulse event, the pattern before QNX 7.0: the client
/// put `event` (a pulse on its own connection `event.coid`) in a message; the server sends it
/// to the client behind `scoid`. `client_coid` is the client's connection the message came
/// through (`_msg_info.coid`): if that connection asked for registered events only
/// (`_NTO_COF_REG_EVENTS`, see [`super::connect_flags`]) delivery fails with `EACCES`. Local
/// clients only (`ENOTSUP` for a client on another node).
pub fn msg_deliver_pulse(scoid: Scoid, client_coid: Coid, event: &PulseEvent) -> Result<()> {
    done(
        "MsgDeliverPulse",
        kernel(
            "MsgDeliverPulse",
            Call::MsgDeliverPulse {
                scoid,
                client_coid,
                event: *event,
            },
        )?,
    )
}

/// The rcvid the kernel checks an event against: a direct message's is not the kernel's to
/// know, so the registration alone decides for it (as for rcvid 0).
fn kernel_rcvid(rcvid: Rcvid) -> Rcvid {
    if crate::direct::is_direct(rcvid) {
        0
    } else {
        rcvid
    }
}
