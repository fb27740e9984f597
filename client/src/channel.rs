//! [`Channel`]: a channel this process receives on.

use std::time::Duration;

use qnet_core::{ChannelFlags, Chid, Pulse, Received as Raw, TimeoutStates};

use crate::error::Result;
use crate::message::Message;
use crate::neutrino;

/// What [`Channel::receive`] got.
#[derive(Debug)]
pub enum Received {
    /// A message; it must be answered ([`Message::reply`] / [`Message::error`]).
    Message(Message),
    /// A pulse (QNX rcvid 0).
    Pulse(Pulse),
}

/// A channel of this process (`ChannelCreate`); dropping it destroys it (`ChannelDestroy`).
#[derive(Debug)]
pub struct Channel {
    chid: Chid,
    /// Named channels are destroyed by `name_detach` instead.
    destroy_on_drop: bool,
}

impl Channel {
    /// `ChannelCreate(flags)`.
    pub fn create(flags: ChannelFlags) -> Result<Channel> {
        Ok(Channel {
            chid: neutrino::channel_create(flags)?,
            destroy_on_drop: true,
        })
    }

    /// A handle on a channel someone else owns the lifetime of (not destroyed on drop).
    pub(crate) fn borrowed(chid: Chid) -> Channel {
        Channel {
            chid,
            destroy_on_drop: false,
        }
    }

    /// A handle on an existing channel of this process (e.g. from `name_attach` or
    /// `channel_create`) that does not destroy it on drop.
    pub fn from_chid_unowned(chid: Chid) -> Channel {
        Channel::borrowed(chid)
    }

    /// The channel id, for clients' `ConnectAttach` (with this process's pid).
    pub fn chid(&self) -> Chid {
        self.chid
    }

    /// `MsgReceive`: wait for a message (up to `cap` bytes of it are delivered; `MsgRead` the
    /// rest) or a pulse. `cap` below [`qnet_core::PULSE_SIZE`] fails with `EFAULT`.
    pub fn receive(&self, cap: usize) -> Result<Received> {
        into_received(crate::neutrino::receive_raw(self.chid, cap as u64)?)
    }

    /// As [`Channel::receive`], giving up with `ETIMEDOUT` after `timeout`.
    pub fn receive_timeout(&self, cap: usize, timeout: Duration) -> Result<Received> {
        neutrino::timer_timeout(
            TimeoutStates {
                receive: true,
                ..Default::default()
            },
            timeout,
        );
        self.receive(cap)
    }

    /// Give up ownership: the channel is no longer destroyed on drop.
    pub fn into_chid(mut self) -> Chid {
        self.destroy_on_drop = false;
        self.chid
    }
}

pub(crate) fn into_received(r: Raw) -> Result<Received> {
    Ok(match r {
        Raw::Message { rcvid, info, data } => Received::Message(Message::new(rcvid, info, data)),
        Raw::Pulse(p) => Received::Pulse(p),
    })
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.destroy_on_drop {
            let _ = neutrino::channel_destroy(self.chid);
        }
    }
}
