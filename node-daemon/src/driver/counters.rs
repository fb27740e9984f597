//! The driver's call counters: calls local clients made and the payload bytes they carried,
//! per kind, and the errors their threads got, per errno (`--metrics` exposes them; `peer`
//! counts its calls with [`payload_len`] too). Counted in [`Driver::call`] with relaxed atomic
//! adds, one or two per call; errors where the driver routes an `Output::Complete`.
//!
//! [`Driver::call`]: super::Driver::call

use std::sync::atomic::{AtomicU64, Ordering};

use qnet_core::{Call, Errno};

/// The call kinds counted, in [`kind_index`] order.
pub const CALL_KINDS: [&str; 28] = [
    "ChannelCreate",
    "ChannelDestroy",
    "ConnectAttach",
    "ConnectDetach",
    "ScoidDetach",
    "MsgSend",
    "MsgReceive",
    "MsgReply",
    "MsgError",
    "MsgRead",
    "MsgWrite",
    "MsgInfo",
    "MsgSendPulse",
    "NameAttach",
    "NameDetach",
    "NameOpen",
    "ConnectClientInfo",
    "MsgRegisterEvent",
    "MsgUnregisterEvent",
    "MsgVerifyEvent",
    "MsgDeliverEvent",
    "Unblock",
    "ConnectFlags",
    "MsgDeliverPulse",
    "PathAttach",
    "PathDetach",
    "PathResolve",
    "PathList",
];

/// Calls made by local clients and the payload bytes they carried, per kind; errors their
/// threads got, per errno. Relaxed atomic adds: one or two per call.
#[derive(Debug)]
pub struct CallCounters {
    calls: [AtomicU64; CALL_KINDS.len()],
    bytes: [AtomicU64; CALL_KINDS.len()],
    errors: [AtomicU64; ERRNO_SLOTS],
}

impl Default for CallCounters {
    fn default() -> Self {
        Self {
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            bytes: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Errno values counted one by one (QNX's are below 128; larger ones share the last slot).
const ERRNO_SLOTS: usize = 128;

impl CallCounters {
    /// Count one `call`.
    pub fn count(&self, call: &Call) {
        let kind = kind_index(call);
        self.calls[kind].fetch_add(1, Ordering::Relaxed);
        let bytes = payload_len(call);
        if bytes != 0 {
            self.bytes[kind].fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Count a call of a local thread that ended with `errno`.
    pub fn count_error(&self, errno: Errno) {
        let slot = usize::try_from(errno.0).map_or(ERRNO_SLOTS - 1, |e| e.min(ERRNO_SLOTS - 1));
        self.errors[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of each kind, in [`CALL_KINDS`] order.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CALL_KINDS
            .iter()
            .zip(&self.calls)
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
    }

    /// Payload bytes of the kinds that carry them (`MsgSend`, `MsgReply`, `MsgWrite`).
    pub fn bytes(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CALL_KINDS
            .iter()
            .zip(&self.bytes)
            .filter(|(k, _)| matches!(**k, "MsgSend" | "MsgReply" | "MsgWrite"))
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
    }

    /// Errors by errno (only those seen), e.g. `("ESRCH", 2)`.
    pub fn errors(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.errors.iter().enumerate().filter_map(|(i, v)| {
            let n = v.load(Ordering::Relaxed);
            let errno = Errno(i32::try_from(i).unwrap_or(i32::MAX));
            (n != 0).then(|| (errno.name().map_or_else(|| i.to_string(), str::to_owned), n))
        })
    }
}

/// The payload bytes `call` carries (`MsgSend`, `MsgReply`, `MsgWrite`; 0 for the others).
pub fn payload_len(call: &Call) -> usize {
    match call {
        Call::MsgSend { data, .. } | Call::MsgReply { data, .. } | Call::MsgWrite { data, .. } => {
            data.len()
        }
        _ => 0,
    }
}

fn kind_index(call: &Call) -> usize {
    match call {
        Call::ChannelCreate { .. } => 0,
        Call::ChannelDestroy { .. } => 1,
        Call::ConnectAttach { .. } => 2,
        Call::ConnectDetach { .. } => 3,
        Call::ScoidDetach { .. } => 4,
        Call::MsgSend { .. } => 5,
        Call::MsgReceive { .. } => 6,
        Call::MsgReply { .. } => 7,
        Call::MsgError { .. } => 8,
        Call::MsgRead { .. } => 9,
        Call::MsgWrite { .. } => 10,
        Call::MsgInfo { .. } => 11,
        Call::MsgSendPulse { .. } => 12,
        Call::NameAttach { .. } | Call::NameAttachChannel { .. } => 13,
        Call::NameDetach { .. } => 14,
        Call::NameOpen { .. } => 15,
        Call::ConnectClientInfo { .. } => 16,
        Call::MsgRegisterEvent { .. } => 17,
        Call::MsgUnregisterEvent { .. } => 18,
        Call::MsgVerifyEvent { .. } => 19,
        Call::MsgDeliverEvent { .. } => 20,
        Call::Unblock { .. } => 21,
        Call::ConnectFlags { .. } => 22,
        Call::MsgDeliverPulse { .. } => 23,
        Call::PathAttach { .. } => 24,
        Call::PathDetach { .. } => 25,
        Call::PathResolve { .. } => 26,
        Call::PathList { .. } => 27,
    }
}
