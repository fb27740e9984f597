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
        self.check_new_name(process, name)?;
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

    /// May `process` attach `name`? Malformed → `EINVAL`, taken on this node → `EEXIST`,
    /// past its names limit → `EAGAIN`.
    fn check_new_name(&mut self, process: ProcessKey, name: &str) -> Result<(), Errno> {
        if name.is_empty() || name.contains('/') {
            return Err(Errno::EINVAL);
        }
        if self.names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let held = self.processes.get(&process).map_or(0, |p| p.names.len());
        self.within(process, Limit::Names, held as u64, 1)
    }

    /// `name_attach(dpp, name)` where the dispatch already has channel `chid`: `name` goes
    /// on that channel of the caller (its flags stay), which a later `name_detach` leaves.
    /// Unknown channel → `ESRCH`; a channel that has a name already → `EBUSY`.
    pub(super) fn name_attach_channel(
        &mut self,
        process: ProcessKey,
        name: &str,
        chid: Chid,
    ) -> Result<(), Errno> {
        self.check_new_name(process, name)?;
        if self.channel(process, chid).is_none() {
            return Err(Errno::ESRCH);
        }
        let Some(p) = self.processes.get_mut(&process) else {
            return Err(Errno::ESRCH);
        };
        if p.names.contains_key(&chid) {
            return Err(Errno::EBUSY);
        }
        p.names.insert(chid, name.to_owned());
        p.named_later.insert(chid);
        self.names.insert(name.to_owned(), (process, chid));
        Ok(())
    }

    /// `name_detach`: the name on `chid` goes, and its channel is destroyed (unless it was
    /// named later: [`Kernel::name_attach_channel`]). No name of this process on `chid` →
    /// `ESRCH`.
    pub(super) fn name_detach(&mut self, process: ProcessKey, chid: Chid) -> Result<(), Errno> {
        let named = self
            .processes
            .get(&process)
            .is_some_and(|p| p.names.contains_key(&chid));
        if !named {
            return Err(Errno::ESRCH);
        }
        if let Some(p) = self.processes.get_mut(&process) {
            if p.named_later.remove(&chid) {
                if let Some(name) = p.names.remove(&chid) {
                    self.names.remove(&name);
                }
                return Ok(());
            }
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
