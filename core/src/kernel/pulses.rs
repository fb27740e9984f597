//! Pulses: `MsgSendPulse` from users (codes 0..=127) and the system pulses the kernel sends
//! itself (unblock, disconnect, thread death, coid death).

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Priority, ProcessKey, Rcvid, Scoid};
use crate::pulse::{Pulse, PulseCode};

use super::Kernel;
use super::channel::Queued;
use super::connection::SYSTEM_PULSE_PRIORITY;
use super::limits::Limit;
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
        self.pulse_room(process, conn.server, conn.chid)?;
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

    /// `EAGAIN` if a pulse from `sender` to `chid` of `server` would have to queue on a channel
    /// that already holds its limit of pulses (a waiting receiver takes it at once).
    pub(super) fn pulse_room(
        &mut self,
        sender: ProcessKey,
        server: ProcessKey,
        chid: Chid,
    ) -> Result<(), Errno> {
        let queued = match self.channel(server, chid) {
            Some(c) if c.receivers.is_empty() => c.pulses,
            _ => return Ok(()),
        };
        self.within(sender, Limit::QueuedPulses, queued as u64, 1)
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
        // rcvids stay below 2^31 (`numbering.rs`), so the 32-bit `sival_int` carries it.
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
