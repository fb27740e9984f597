//! Pulses: small non-blocking messages, and the pulse events servers deliver.

use crate::ids::{Coid, Priority, Scoid};

/// Size in bytes of a pulse as QNX lays out `struct _pulse`; a receive buffer
/// smaller than this fails with `EFAULT`.
pub const PULSE_SIZE: usize = 16;

/// Pulse codes. Users may send 0..=127; negative codes are the system's.
pub struct PulseCode;

impl PulseCode {
    /// `_PULSE_CODE_UNBLOCK`: a REPLY-blocked client wants to unblock; value = rcvid.
    pub const UNBLOCK: i8 = -32;
    /// `_PULSE_CODE_DISCONNECT`: all connections from a client process are gone; see `scoid`.
    pub const DISCONNECT: i8 = -33;
    /// `_PULSE_CODE_THREADDEATH`: a thread of the channel's process died; value = tid.
    pub const THREADDEATH: i8 = -34;
    /// `_PULSE_CODE_COIDDEATH`: the server of one of our connections went away; value = coid.
    pub const COIDDEATH: i8 = -35;
    /// `_PULSE_CODE_MINAVAIL`: lowest user code.
    pub const MINAVAIL: i8 = 0;
    /// `_PULSE_CODE_MAXAVAIL`: highest user code.
    pub const MAXAVAIL: i8 = 127;
}

/// A received pulse (`MsgReceive` returned rcvid 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pulse {
    /// The pulse code (see [`PulseCode`]).
    pub code: i8,
    /// The 32-bit value (`sigval.sival_int`).
    pub value: i32,
    /// Server connection id of the sender's connection (for `DISCONNECT`, the freed scoid).
    pub scoid: Scoid,
    /// Priority the pulse was sent at.
    pub priority: Priority,
}

/// A pulse event (`SIGEV_PULSE`) that a client registers and a server later delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PulseEvent {
    /// The client's connection the pulse is sent on (usually to its own channel).
    pub coid: Coid,
    /// Priority of the pulse.
    pub priority: Priority,
    /// Pulse code (0..=127).
    pub code: i8,
    /// Pulse value.
    pub value: i32,
    /// `SIGEV_FLAG_UPDATEABLE`: the server may replace `value` when delivering.
    pub updateable: bool,
}
