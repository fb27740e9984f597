//! Connections: client-side coids, server-side scoids (one per client process, refcounted by
//! the client's connections), and the pulses that report their end: `_PULSE_CODE_DISCONNECT`
//! to the server, `_PULSE_CODE_COIDDEATH` to the client.

use std::collections::BTreeSet;

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Nd, Pid, ProcessKey, Rcvid, Scoid};
use crate::info::{ClientInfo, Credentials};
use crate::pulse::PulseCode;

use super::Kernel;
use super::limits::Limit;
use crate::notice::Notice;

/// A client's connection to a channel.
#[derive(Clone, Copy, Debug)]
pub(super) struct Connection {
    /// The server process.
    pub(super) server: ProcessKey,
    /// Its incarnation when we connected.
    pub(super) server_generation: u64,
    /// The channel.
    pub(super) chid: Chid,
    /// Our scoid at the server.
    pub(super) scoid: Scoid,
    /// The channel or its process is gone: sends fail with `EBADF`.
    pub(super) dead: bool,
    /// `_NTO_COF_REG_EVENTS`: the server may deliver only registered events to us.
    pub(super) reg_events: bool,
}

/// `_NTO_COF_REG_EVENTS`.
pub const COF_REG_EVENTS: u32 = 0x2000;

/// A server's record of one client process.
#[derive(Debug)]
pub(super) struct ScoidEntry {
    /// The client process.
    pub(super) client: ProcessKey,
    /// Its credentials, kept after it exits for `ConnectClientInfo`.
    pub(super) cred: Credentials,
    /// Live connections of the client to this server; 0 = disconnected, awaiting `ScoidDetach`.
    pub(super) refs: u32,
    /// Channels of the server the client connected to (disconnect pulses go there).
    pub(super) channels: BTreeSet<Chid>,
}

/// Priority of the pulses the kernel itself sends (disconnect, coid death, thread death).
pub(super) const SYSTEM_PULSE_PRIORITY: u8 = 10;

impl Kernel {
    /// A live connection of `process`, or `EBADF`.
    pub(super) fn live_connection(
        &self,
        process: ProcessKey,
        coid: Coid,
    ) -> Result<Connection, Errno> {
        let conn = self
            .processes
            .get(&process)
            .and_then(|p| p.connections.get(&coid))
            .ok_or(Errno::EBADF)?;
        let server_alive = self.processes.get(&conn.server).is_some_and(|s| {
            s.generation == conn.server_generation && s.channels.contains_key(&conn.chid)
        });
        if conn.dead || !server_alive {
            return Err(Errno::EBADF);
        }
        Ok(*conn)
    }

    /// `ConnectAttach(nd, pid, chid)`.
    pub(super) fn connect_attach(
        &mut self,
        process: ProcessKey,
        nd: Nd,
        pid: Pid,
        chid: Chid,
    ) -> Result<Coid, Errno> {
        if nd != 0 {
            return Err(Errno::EHOSTUNREACH);
        }
        let server = if pid == 0 {
            process
        } else {
            ProcessKey::local(pid)
        };
        self.connect_to(process, server, chid)
    }

    /// Connect `process` to `chid` of `server` (also `name_open`).
    pub(super) fn connect_to(
        &mut self,
        process: ProcessKey,
        server: ProcessKey,
        chid: Chid,
    ) -> Result<Coid, Errno> {
        let p = self.processes.get(&process).ok_or(Errno::ESRCH)?;
        let (cred, in_use) = (p.cred, p.coids.in_use());
        let channel = self.channel(server, chid).ok_or(Errno::ESRCH)?;
        if channel.flags.contains(ChannelFlags::PRIVATE) && server != process {
            return Err(Errno::EPERM);
        }
        self.within(process, Limit::Connections, in_use as u64, 1)?;
        let p = self.processes.get_mut(&process).ok_or(Errno::ESRCH)?;
        let coid = p.coids.alloc().ok_or(Errno::EAGAIN)?;
        let s = self.processes.get_mut(&server).ok_or(Errno::ESRCH)?;
        let scoid = match s.scoid_of_client.get(&process) {
            Some(&scoid) => scoid,
            None => {
                let Some(scoid) = s.scoid_ids.alloc() else {
                    if let Some(p) = self.processes.get_mut(&process) {
                        p.coids.free(coid);
                    }
                    return Err(Errno::EAGAIN);
                };
                s.scoids.insert(
                    scoid,
                    ScoidEntry {
                        client: process,
                        cred,
                        refs: 0,
                        channels: BTreeSet::new(),
                    },
                );
                s.scoid_of_client.insert(process, scoid);
                scoid
            }
        };
        let server_generation = s.generation;
        if let Some(entry) = s.scoids.get_mut(&scoid) {
            entry.refs = entry.refs.saturating_add(1);
            entry.channels.insert(chid);
        }
        if let Some(channel) = s.channels.get_mut(&chid) {
            channel.clients.insert(scoid);
            channel.connections.insert((process, coid));
        }
        let conn = Connection {
            server,
            server_generation,
            chid,
            scoid,
            dead: false,
            reg_events: false,
        };
        if let Some(p) = self.processes.get_mut(&process) {
            p.connections.insert(coid, conn);
        }
        Ok(coid)
    }

    /// `ConnectDetach(coid)`: threads of the process SEND-blocked on it fail with `EBADF`
    /// (REPLY-blocked ones keep waiting for their reply); the last connection of the process
    /// to a server ends its scoid (disconnect pulse or free). A coid that does not exist →
    /// `EINVAL` (QNX's documented error); a dead one (its server gone) is detached normally.
    pub(super) fn connect_detach(&mut self, process: ProcessKey, coid: Coid) -> Result<(), Errno> {
        let conn = self
            .processes
            .get_mut(&process)
            .and_then(|p| p.connections.remove(&coid))
            .ok_or(Errno::EINVAL)?;
        let mut queued: Vec<Rcvid> = Vec::new();
        if let Some(p) = self.processes.get_mut(&process) {
            p.coids.free(coid);
            queued.extend(
                p.outgoing
                    .range((coid, 0)..=(coid, Rcvid::MAX))
                    .map(|&(_, rcvid)| rcvid),
            );
        }
        for rcvid in queued {
            if self.messages.get(&rcvid).is_some_and(|m| !m.is_received()) {
                if let Some(message) = self.remove_message(rcvid) {
                    self.release(message.client, Err(Errno::EBADF));
                }
            }
        }
        if let Some(s) = self.processes.get_mut(&conn.server) {
            if s.generation == conn.server_generation {
                if let Some(channel) = s.channels.get_mut(&conn.chid) {
                    channel.connections.remove(&(process, coid));
                }
            }
        }
        self.drop_scoid_ref(process, conn);
        Ok(())
    }

    /// One connection of `client` described by `conn` is gone.
    fn drop_scoid_ref(&mut self, client: ProcessKey, conn: Connection) {
        let Some(s) = self.processes.get_mut(&conn.server) else {
            return;
        };
        if s.generation != conn.server_generation {
            return;
        }
        let Some(entry) = s.scoids.get_mut(&conn.scoid) else {
            return;
        };
        entry.refs = entry.refs.saturating_sub(1);
        if entry.refs > 0 {
            return;
        }
        let chids: Vec<Chid> = entry.channels.iter().copied().collect();
        s.scoid_of_client.remove(&client);
        let notify: Vec<Chid> = chids
            .into_iter()
            .filter(|c| {
                s.channels
                    .get(c)
                    .is_some_and(|ch| ch.flags.contains(ChannelFlags::DISCONNECT))
            })
            .collect();
        if notify.is_empty() {
            s.free_scoid(conn.scoid);
            return;
        }
        for chid in notify {
            self.send_system_pulse(conn.server, chid, PulseCode::DISCONNECT, 0, conn.scoid);
        }
    }

    /// `ConnectDetach(scoid)` by a server: frees a scoid whose client has disconnected.
    /// Unknown scoid → `EINVAL` (it is QNX's `ConnectDetach`); a scoid the client still uses →
    /// `EBUSY`.
    pub(super) fn scoid_detach(&mut self, process: ProcessKey, scoid: Scoid) -> Result<(), Errno> {
        let p = self.processes.get_mut(&process).ok_or(Errno::EINVAL)?;
        let entry = p.scoids.get(&scoid).ok_or(Errno::EINVAL)?;
        if entry.refs > 0 {
            return Err(Errno::EBUSY);
        }
        p.free_scoid(scoid);
        Ok(())
    }

    /// `ConnectClientInfo(scoid)`: only the server's own scoids; anything else → `ESRCH`.
    pub(super) fn client_info(
        &self,
        process: ProcessKey,
        scoid: Scoid,
    ) -> Result<ClientInfo, Errno> {
        let entry = self
            .processes
            .get(&process)
            .and_then(|p| p.scoids.get(&scoid))
            .ok_or(Errno::ESRCH)?;
        Ok(ClientInfo {
            nd: entry.client.nd,
            pid: entry.client.pid,
            cred: entry.cred,
        })
    }

    /// A channel is gone with its live `connections` (client, coid): each dies, and each
    /// owner gets a coid-death pulse on its death channel; an owner on another node is told
    /// instead ([`Notice::ConnectionDead`]).
    pub(super) fn kill_connections_to(&mut self, connections: BTreeSet<(ProcessKey, Coid)>) {
        let (mut local, mut remote): (Vec<(ProcessKey, Coid)>, Vec<_>) = (Vec::new(), Vec::new());
        for (client, coid) in connections {
            let Some(conn) = self
                .processes
                .get_mut(&client)
                .and_then(|p| p.connections.get_mut(&coid))
            else {
                continue;
            };
            if conn.dead {
                continue;
            }
            conn.dead = true;
            if client.nd != 0 {
                remote.push((client, coid));
            } else {
                local.push((client, coid));
            }
        }
        for (client, coid) in remote {
            self.notify(
                client.nd,
                Notice::ConnectionDead {
                    pid: client.pid,
                    coid,
                },
            );
        }
        self.coid_death_pulses(local);
    }
}

impl super::process::Process {
    /// Forget scoid `scoid` (disconnected or never pulsed): its number is free again and its
    /// channels no longer list it.
    fn free_scoid(&mut self, scoid: Scoid) {
        let Some(entry) = self.scoids.remove(&scoid) else {
            return;
        };
        self.scoid_ids.free(scoid);
        for chid in entry.channels {
            if let Some(channel) = self.channels.get_mut(&chid) {
                channel.clients.remove(&scoid);
            }
        }
    }
}
