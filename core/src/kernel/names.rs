//! Local names: `name_attach` creates a named channel, `name_open` connects to it,
//! `name_detach` removes both. Names are unique on this node.

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, ProcessKey};

use super::Kernel;
use super::limits::Limit;

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
        let held = self.processes.get(&process).map_or(0, |p| p.names.len());
        self.within(process, Limit::Names, held as u64, 1)?;
        let flags = flags
            | ChannelFlags::UNBLOCK
            | ChannelFlags::DISCONNECT
            | ChannelFlags::COID_DISCONNECT;
        let chid = self.channel_create(process, flags)?;
        self.names.insert(name.to_owned(), (process, chid));
        if let Some(p) = self.processes.get_mut(&process) {
            p.names.insert(chid, name.to_owned());
        }
        Ok(chid)
    }

    /// `name_detach`: the name on `chid` goes, and its channel is destroyed. No name of this
    /// process on `chid` → `ESRCH`.
    pub(super) fn name_detach(&mut self, process: ProcessKey, chid: Chid) -> Result<(), Errno> {
        let named = self
            .processes
            .get(&process)
            .is_some_and(|p| p.names.contains_key(&chid));
        if !named {
            return Err(Errno::ESRCH);
        }
        // Destroying the channel removes its name.
        self.channel_destroy(process, chid)
    }

    /// `name_open(name)`: like `ConnectAttach` to the owner's channel; unknown → `ENOENT`.
    pub(super) fn name_open(&mut self, process: ProcessKey, name: &str) -> Result<Coid, Errno> {
        let &(owner, chid) = self.names.get(name).ok_or(Errno::ENOENT)?;
        self.connect_to(process, owner, chid)
    }
}
