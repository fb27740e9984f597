//! Pulses: `MsgSendPulse` and QNX's 16-byte `struct _pulse` layout.

use qnet_core::{Call, Coid, Errno, PULSE_SIZE, Pulse};

use super::channel::done;
use super::priority::resolve_priority;
use crate::error::{Error, Result};
use crate::session::kernel;

/// `MsgSendPulse(coid, priority, code, value)`: a non-blocking notification. `priority` -1 is
/// this thread's priority ([`super::set_priority`], default 10). User codes are 0..=127
/// (`EINVAL` otherwise).
pub fn msg_send_pulse(coid: Coid, priority: i32, code: i32, value: i32) -> Result<()> {
    let priority = resolve_priority(priority)?;
    let code = i8::try_from(code).map_err(|_| {
        Error::new(
            Errno::EINVAL,
            format!("pulse code {code} outside -128..=127"),
        )
    })?;
    if let Some(r) = crate::direct::pulse(coid, priority, code, value) {
        return r;
    }
    let call = Call::MsgSendPulse {
        coid,
        priority,
        code,
        value,
    };
    done("MsgSendPulse", kernel("MsgSendPulse", call)?)
}

/// QNX's `struct _pulse` (little-endian): `u16 type = 0, u16 subtype = 0, i8 code,
/// [u8; 3] zero, i32 value, i32 scoid`.
pub fn pulse_to_bytes(p: &Pulse) -> [u8; PULSE_SIZE] {
    let mut b = [0u8; PULSE_SIZE];
    b[4] = p.code as u8;
    b[8..12].copy_from_slice(&p.value.to_le_bytes());
    b[12..16].copy_from_slice(&p.scoid.to_le_bytes());
    b
}

/// Decode a `struct _pulse` that [`super::msg_receive`] wrote (returned rcvid 0). The priority
/// is not part of the layout and reads as 0. `None` if `buf` is shorter than a pulse.
pub fn pulse_from_bytes(buf: &[u8]) -> Option<Pulse> {
    let b: &[u8; PULSE_SIZE] = buf.get(..PULSE_SIZE)?.try_into().ok()?;
    Some(Pulse {
        code: b[4] as i8,
        value: i32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        scoid: i32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        priority: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulse_layout_round_trips() {
        let p = Pulse {
            code: -33,
            value: -7,
            scoid: 42,
            priority: 0,
        };
        let b = pulse_to_bytes(&p);
        assert_eq!(&b[..4], &[0, 0, 0, 0]);
        assert_eq!(b[4], (-33i8) as u8);
        assert_eq!(&b[5..8], &[0, 0, 0]);
        assert_eq!(pulse_from_bytes(&b), Some(p));
        assert_eq!(pulse_from_bytes(&b[..15]), None);
    }
}
