//! [`NameAttachment`]: a name attached to a new channel (`name_attach`).

use std::time::Duration;

use qnet_core::{ChannelFlags, Chid};

use crate::channel::{Channel, Received};
use crate::error::Result;
use crate::neutrino;

/// A name on this node bound to a channel of this process. The channel has
/// `_NTO_CHF_UNBLOCK | _NTO_CHF_DISCONNECT | _NTO_CHF_COID_DISCONNECT`, so expect those pulses.
/// Dropping it detaches the name and destroys the channel (`name_detach`).
#[derive(Debug)]
pub struct NameAttachment {
    channel: Channel,
    name: String,
}

impl NameAttachment {
    /// `name_attach(NULL, name, flags)` (`EEXIST` if the name is taken on this node).
    pub fn attach(name: &str, flags: ChannelFlags) -> Result<NameAttachment> {
        let chid = neutrino::name_attach(name, flags)?;
        Ok(NameAttachment {
            channel: Channel::borrowed(chid),
            name: name.to_owned(),
        })
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel id.
    pub fn chid(&self) -> Chid {
        self.channel.chid()
    }

    /// The channel, to receive on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// [`Channel::receive`] on the named channel.
    pub fn receive(&self, cap: usize) -> Result<Received> {
        self.channel.receive(cap)
    }

    /// [`Channel::receive_timeout`] on the named channel.
    pub fn receive_timeout(&self, cap: usize, timeout: Duration) -> Result<Received> {
        self.channel.receive_timeout(cap, timeout)
    }
}

impl Drop for NameAttachment {
    fn drop(&mut self) {
        let _ = neutrino::name_detach(self.channel.chid());
    }
}
