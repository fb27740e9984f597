//! Pulses: `MsgSendPulse` from users (codes 0..=127) and the system pulses the kernel sends
//! itself (unblock, disconnect, thread death, coid death).

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Priority, ProcessKey, Rcvid, Scoid};
use crate::pulse::{Pulse, PulseCode};

use super::Kernel;
use super::channel::Queued;
use super::connection::SYSTEM_PULSE_PRIORITY;
use super::message::Route;

impl Kernel {
    /// `MsgSendPulse(coid, priority, code, value)`.
    pub(super) fn msg_send_pulse(
        &mut self,
        process: ProcessKey,
        coid: Coid,
        priority: Priority,
        code: i8,
        value: i32,
    ) -> Result<(), Errno> {
        if !(PulseCode::MINAVAIL..=PulseCode::MAXAVAIL).contains(&code) {
            return Err(Errno::EINVAL);
        }
        let conn = self.live_connection(process, coid)?;
        let pulse = Pulse {
            code,
            value,
            scoid: conn.scoid,
            priority,
        };
        if self.deliver(conn.server, conn.chid, priority, Queued::Pulse(pulse)) {
            Ok(())
        } else {
            Err(Errno::EBADF)
        }
    }

    /// A pulse from the kernel to `chid` of `process` (dropped if the channel is gone).
    pub(super) fn send_system_pulse(
        &mut self,
        process: ProcessKey,
        chid: Chid,
        code: i8,
        value: i32,
        scoid: Scoid,
    ) {
        let pulse = Pulse {
            code,
            value,
            scoid,
            priority: SYSTEM_PULSE_PRIORITY,
        };
        self.deliver(process, chid, SYSTEM_PULSE_PRIORITY, Queued::Pulse(pulse));
    }

    /// The client of a received `message` wants out: if its channel has `_NTO_CHF_UNBLOCK`,
    /// the server gets `_PULSE_CODE_UNBLOCK` (value = rcvid, at the client's priority).
    /// Returns whether the channel has the flag.
    pub(super) fn notify_unblock(&mut self, message: &Route, rcvid: Rcvid) -> bool {
        if !message.channel_flags.contains(ChannelFlags::UNBLOCK) {
            return false;
        }
        // rcvids beyond i32 wrap in the pulse value, as `sival_int` is 32 bits wide.
        let pulse = Pulse {
            code: PulseCode::UNBLOCK,
            value: rcvid as i32,
            scoid: message.scoid,
            priority: message.priority,
        };
        self.deliver(
            message.server,
            message.chid,
            message.priority,
            Queued::Pulse(pulse),
        );
        true
    }
}
