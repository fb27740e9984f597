//! [`Connection`]: a connection to a channel; sends messages and pulses.

use std::io::{IoSlice, IoSliceMut};
use std::time::Duration;

use qnet_core::{Chid, Coid, Nd, Pid, TimeoutStates};

use crate::error::Result;
use crate::neutrino;

/// A `TimerTimeout` for one send: which blocked states it covers and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendTimeout {
    /// Time from the start of the send.
    pub after: Duration,
    /// Covers SEND-blocked (not yet received): the send fails with `ETIMEDOUT`.
    pub send: bool,
    /// Covers REPLY-blocked: the send fails with `ETIMEDOUT`, or, on an `_NTO_CHF_UNBLOCK`
    /// channel, the server gets an unblock pulse and decides.
    pub reply: bool,
}

impl SendTimeout {
    /// Both SEND and REPLY states.
    pub fn whole(after: Duration) -> SendTimeout {
        SendTimeout {
            after,
            send: true,
            reply: true,
        }
    }

    /// SEND state only.
    pub fn send_only(after: Duration) -> SendTimeout {
        SendTimeout {
            after,
            send: true,
            reply: false,
        }
    }

    /// REPLY state only.
    pub fn reply_only(after: Duration) -> SendTimeout {
        SendTimeout {
            after,
            send: false,
            reply: true,
        }
    }
}

/// A connection (coid); dropping it detaches it (`ConnectDetach`).
#[derive(Debug)]
pub struct Connection {
    coid: Coid,
}

impl Connection {
    /// `ConnectAttach(nd, pid, chid)`: `nd` 0 is this node; any other nd (from
    /// [`neutrino::netmgr_strtond`]) connects to a channel on that node through the daemons
    /// (`EHOSTUNREACH` for an unknown nd, `EHOSTDOWN` for a node that is down).
    pub fn attach(nd: Nd, pid: Pid, chid: Chid) -> Result<Connection> {
        Ok(Connection {
            coid: neutrino::connect_attach(nd, pid, chid)?,
        })
    }

    /// Connect to a channel given as `node/pid/chid` or `pid/chid` ([`neutrino::parse_target`]).
    pub fn attach_target(target: &str) -> Result<Connection> {
        let (nd, pid, chid) = neutrino::parse_target(target)?;
        Connection::attach(nd, pid, chid)
    }

    /// `name_open(name)`: connect to the channel a server attached `name` to (`node/name` for
    /// another node).
    pub fn open_name(name: &str) -> Result<Connection> {
        Ok(Connection {
            coid: neutrino::name_open(name)?,
        })
    }

    /// Wrap a raw coid; it is detached on drop.
    pub fn from_coid(coid: Coid) -> Connection {
        Connection { coid }
    }

    /// The connection id.
    pub fn coid(&self) -> Coid {
        self.coid
    }

    /// `MsgSend`: returns the server's status; what the server wrote lands in `reply` at its
    /// offsets (`MsgReply` at 0), every other byte of `reply` keeps its value.
    pub fn send(&self, data: &[u8], reply: &mut [u8]) -> Result<i64> {
        neutrino::msg_send(self.coid, data, reply)
    }

    /// `MsgSendv`: send parts gathered, reply scattered.
    pub fn send_vectored(&self, data: &[IoSlice<'_>], reply: &mut [IoSliceMut<'_>]) -> Result<i64> {
        neutrino::msg_sendv(self.coid, data, reply)
    }

    /// `MsgSend` under a `TimerTimeout`.
    pub fn send_timeout(&self, data: &[u8], reply: &mut [u8], timeout: SendTimeout) -> Result<i64> {
        let states = TimeoutStates {
            send: timeout.send,
            reply: timeout.reply,
            receive: false,
        };
        neutrino::timer_timeout(states, timeout.after);
        neutrino::msg_send(self.coid, data, reply)
    }

    /// `MsgSendPulse` at this thread's priority.
    pub fn send_pulse(&self, code: i32, value: i32) -> Result<()> {
        neutrino::msg_send_pulse(self.coid, -1, code, value)
    }

    /// `MsgSendPulse` at `priority`.
    pub fn send_pulse_priority(&self, priority: u8, code: i32, value: i32) -> Result<()> {
        neutrino::msg_send_pulse(self.coid, i32::from(priority), code, value)
    }

    /// Give up ownership: no detach on drop.
    pub fn into_coid(self) -> Coid {
        let coid = self.coid;
        std::mem::forget(self);
        coid
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = neutrino::connect_detach(self.coid);
    }
}
