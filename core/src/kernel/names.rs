//! Local names: `name_attach` creates a named channel, `name_open` connects to it,
//! `name_detach` removes both. Names are unique on this node.

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, ProcessKey};

use super::Kernel;

impl Kernel {
    /// `name_attach(name, flags)`: empty names and names containing `/` → `EINVAL`,
    /// a name already attached on this node → `EEXIST`.
    pub(super) fn name_attach(
        &mut self,
        process: ProcessKey,
        name: &str,
        flags: ChannelFlags,
    ) -> Result<Chid, Errno> {
        if name.is_empty() || name.contains('/') {
            return Err(Errno::EINVAL);
        }
        if self.names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let flags = flags
            | ChannelFlags::UNBLOCK
            | ChannelFlags::DISCONNECT
            | ChannelFlags::COID_DISCONNECT;
        let chid = self.channel_create(process, flags)?;
        self.names.insert(name.to_owned(), (process, chid));
        Ok(chid)
    }

    /// `name_detach`: the name on `chid` goes, and its channel is destroyed. No name of this
    /// process on `chid` → `ESRCH`.
    pub(super) fn name_detach(&mut self, process: ProcessKey, chid: Chid) -> Result<(), Errno> {
        let before = self.names.len();
        self.names
            .retain(|_, (owner, c)| !(*owner == process && *c == chid));
        if self.names.len() == before {
            return Err(Errno::ESRCH);
        }
        self.channel_destroy(process, chid)
    }

    /// `name_open(name)`: like `ConnectAttach` to the owner's channel; unknown → `ENOENT`.
    pub(super) fn name_open(&mut self, process: ProcessKey, name: &str) -> Result<Coid, Errno> {
        let &(owner, chid) = self.names.get(name).ok_or(Errno::ENOENT)?;
        self.connect_to(process, owner, chid)
    }
}
