//! Registered pulse events: a client registers an event for one server
//! (`MsgRegisterEvent`); only that server may verify or deliver it, and delivery sends the
//! pulse on the client's own connection. A client on another node is told instead
//! (`Notice::DeliverEvent`); its node sends the pulse.
//!
//! Also the older, unregistered pattern (`deliver_pulse`): a server delivers a pulse event a
//! local client passed in a message, on that client's connection, unless the connection the
//! client reached the server through asked for registered events only
//! (`_NTO_COF_REG_EVENTS`, QNX 7.1's rule); and `connect_flags`, which sets that flag.

use crate::errno::Errno;
use crate::ids::{Coid, EventId, ProcessKey, Rcvid, Scoid};
use crate::pulse::{Pulse, PulseCode, PulseEvent};

use super::Kernel;
use super::channel::Queued;
use super::connection::COF_REG_EVENTS;
use super::limits::Limit;
use crate::notice::Notice;

/// One registered event.
#[derive(Clone, Copy, Debug)]
pub(super) struct RegisteredEvent {
    /// The registering (client) process.
    pub(super) owner: ProcessKey,
    /// The event as registered.
    pub(super) event: PulseEvent,
    /// The only process that may deliver it, and its incarnation.
    pub(super) server: ProcessKey,
    pub(super) server_generation: u64,
}

impl Kernel {
    /// `MsgRegisterEvent(event, server_coid)`: both coids must be live connections of the
    /// caller and the code a user code, else `EINVAL`.
    pub(super) fn register_event(
        &mut self,
        process: ProcessKey,
        event: PulseEvent,
        server_coid: Coid,
    ) -> Result<EventId, Errno> {
        if !(PulseCode::MINAVAIL..=PulseCode::MAXAVAIL).contains(&event.code) {
            return Err(Errno::EINVAL);
        }
        // A remote client's event coid is its own node's; that node checked it.
        if process.nd == 0 {
            self.live_connection(process, event.coid)
                .map_err(|_| Errno::EINVAL)?;
        }
        let server = self
            .live_connection(process, server_coid)
            .map_err(|_| Errno::EINVAL)?;
        let held = self.events_held(process);
        self.within(process, Limit::Events, held as u64, 1)?;
        let id = self.next_event;
        self.next_event += 1;
        if let Some(p) = self.processes.get_mut(&process) {
            p.events.insert(id);
        }
        self.events.insert(
            id,
            RegisteredEvent {
                owner: process,
                event,
                server: server.server,
                server_generation: server.server_generation,
            },
        );
        Ok(id)
    }

    /// `MsgUnregisterEvent(id)`: only the registering process; otherwise `EACCES`.
    pub(super) fn unregister_event(
        &mut self,
        process: ProcessKey,
        id: EventId,
    ) -> Result<(), Errno> {
        match self.events.get(&id) {
            Some(e) if e.owner == process => {
                self.events.remove(&id);
                if let Some(p) = self.processes.get_mut(&process) {
                    p.events.remove(&id);
                }
                Ok(())
            }
            _ => Err(Errno::EACCES),
        }
    }

    /// `MsgVerifyEvent(rcvid, id)`: unknown event → `EACCES`; caller not the event's server →
    /// `EPERM`. A non-zero rcvid that is live must be a message the caller may answer whose
    /// client is the registering process, and one never issued fails too (`ESRCH` both); an
    /// rcvid already answered is no error (a server often replies first and delivers later),
    /// the registration alone decides.
    pub(super) fn verify_event(
        &self,
        process: ProcessKey,
        rcvid: Rcvid,
        id: EventId,
    ) -> Result<RegisteredEvent, Errno> {
        let event = *self.events.get(&id).ok_or(Errno::EACCES)?;
        let generation = self.processes.get(&process).map(|p| p.generation);
        if event.server != process || generation != Some(event.server_generation) {
            return Err(Errno::EPERM);
        }
        if rcvid != 0 {
            if !self.rcvid_issued(rcvid) {
                return Err(Errno::ESRCH);
            }
            if self.messages.contains_key(&rcvid) {
                let message = self.is_answerable(process, rcvid).ok_or(Errno::ESRCH)?;
                if message.client.process() != event.owner {
                    return Err(Errno::ESRCH);
                }
            }
        }
        Ok(event)
    }

    /// `MsgDeliverEvent(rcvid, id, value)`: after the checks of `MsgVerifyEvent`, a pulse on
    /// the client's `event.coid` (`ESRCH` if that connection is gone). An updateable event
    /// takes the server's value when one is given.
    pub(super) fn deliver_event(
        &mut self,
        process: ProcessKey,
        rcvid: Rcvid,
        id: EventId,
        value: Option<i32>,
    ) -> Result<(), Errno> {
        let registered = self.verify_event(process, rcvid, id)?;
        let event = registered.event;
        if registered.owner.nd != 0 {
            self.notify(
                registered.owner.nd,
                Notice::DeliverEvent {
                    client_pid: registered.owner.pid,
                    event: id,
                    value,
                    server_pid: process.pid,
                },
            );
            return Ok(());
        }
        let conn = self
            .live_connection(registered.owner, event.coid)
            .map_err(|_| Errno::ESRCH)?;
        self.pulse_room(process, conn.server, conn.chid)?;
        let value = match value {
            Some(v) if event.updateable => v,
            _ => event.value,
        };
        let pulse = Pulse {
            code: event.code,
            value,
            scoid: conn.scoid,
            priority: event.priority,
        };
        self.deliver(conn.server, conn.chid, event.priority, Queued::Pulse(pulse));
        Ok(())
    }

    /// Events `process` holds: registered with servers here and, for a local process, with
    /// servers on other nodes.
    pub(super) fn events_held(&self, process: ProcessKey) -> usize {
        let here = self.processes.get(&process).map_or(0, |p| p.events.len());
        let elsewhere = self
            .remote_events
            .range((process, 0)..=(process, EventId::MAX))
            .count();
        here + elsewhere
    }

    /// `ConnectFlags(coid, mask, bits)`: only `_NTO_COF_REG_EVENTS` is kept; returns the old
    /// flags. `EBADF` for a coid the caller does not have.
    pub(super) fn connect_flags(
        &mut self,
        process: ProcessKey,
        coid: Coid,
        mask: u32,
        bits: u32,
    ) -> Result<u32, Errno> {
        let conn = self
            .processes
            .get_mut(&process)
            .and_then(|p| p.connections.get_mut(&coid))
            .ok_or(Errno::EBADF)?;
        let old = if conn.reg_events { COF_REG_EVENTS } else { 0 };
        if mask & COF_REG_EVENTS != 0 {
            conn.reg_events = bits & COF_REG_EVENTS != 0;
        }
        Ok(old)
    }

    /// An unregistered pulse event for the client behind `scoid` (see [`Call::MsgDeliverPulse`]):
    /// `ESRCH` if the caller has no such scoid or the client is gone, `EINVAL` for a
    /// `client_coid` that is not the client's connection to the caller or a non-user code,
    /// `EACCES` if that connection asked for registered events only, `ENOTSUP` for a client on
    /// another node, `EBADF`-as-`ESRCH` if the event's connection is gone.
    ///
    /// [`Call::MsgDeliverPulse`]: crate::Call::MsgDeliverPulse
    pub(super) fn deliver_pulse(
        &mut self,
        process: ProcessKey,
        scoid: Scoid,
        client_coid: Coid,
        event: PulseEvent,
    ) -> Result<(), Errno> {
        if !(PulseCode::MINAVAIL..=PulseCode::MAXAVAIL).contains(&event.code) {
            return Err(Errno::EINVAL);
        }
        let client = self
            .processes
            .get(&process)
            .and_then(|p| p.scoids.get(&scoid))
            .map(|e| e.client)
            .ok_or(Errno::ESRCH)?;
        if client.nd != 0 {
            return Err(Errno::ENOTSUP);
        }
        let via = self
            .processes
            .get(&client)
            .and_then(|p| p.connections.get(&client_coid))
            .copied()
            .ok_or(Errno::ESRCH)?;
        if via.server != process || via.scoid != scoid {
            return Err(Errno::EINVAL);
        }
        if via.reg_events {
            return Err(Errno::EACCES);
        }
        let conn = self
            .live_connection(client, event.coid)
            .map_err(|_| Errno::ESRCH)?;
        self.pulse_room(process, conn.server, conn.chid)?;
        let pulse = Pulse {
            code: event.code,
            value: event.value,
            scoid: conn.scoid,
            priority: event.priority,
        };
        self.deliver(conn.server, conn.chid, event.priority, Queued::Pulse(pulse));
        Ok(())
    }
}
