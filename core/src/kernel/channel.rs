//! Channels: creation and destruction, the receive queue (priority, then FIFO; messages and
//! pulses mixed), the threads waiting in `MsgReceive`, and handing things over to them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::call::{Completion, Received, Timeout};
use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Priority, ProcessKey, Rcvid, Scoid, ThreadKey};
use crate::pulse::{PULSE_SIZE, Pulse};

use super::Kernel;
use super::Time;
use super::limits::Limit;
use super::message::Stage;
use super::process::{Blocked, Wait};

/// Position in a receive queue: higher priority first, then arrival order.
pub(super) type QueueKey = (Reverse<Priority>, u64);

/// Something waiting in a receive queue.
#[derive(Clone, Copy, Debug)]
pub(super) enum Queued {
    /// A message whose sender is SEND-blocked.
    Message(Rcvid),
    /// A pulse.
    Pulse(Pulse),
}

/// One channel.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) flags: ChannelFlags,
    /// Messages and pulses not yet received.
    pub(super) queue: BTreeMap<QueueKey, Queued>,
    /// Threads of the owning process blocked in `MsgReceive` on this channel, served FIFO.
    pub(super) receivers: VecDeque<ThreadKey>,
    /// Pulses in `queue`.
    pub(super) pulses: usize,
    /// Messages sent to it and not answered, queued or received.
    pub(super) messages: BTreeSet<Rcvid>,
    /// Live connections to it: (client process, coid).
    pub(super) connections: BTreeSet<(ProcessKey, Coid)>,
    /// Scoids of the clients that connected to it (their disconnect pulses come here).
    pub(super) clients: BTreeSet<Scoid>,
    /// Messages delivered to it since it was created (received at once or queued).
    pub(super) messages_total: u64,
    /// Pulses delivered to it since it was created.
    pub(super) pulses_total: u64,
    /// Served on the direct path: its server receives from shared memory and takes what
    /// this queue holds with non-blocking receives (`direct.rs`).
    pub(super) direct: bool,
    /// For a direct channel: when each queued item arrived.
    pub(super) queued_at: BTreeMap<QueueKey, Time>,
}

impl Channel {
    fn new(flags: ChannelFlags) -> Self {
        Self {
            flags,
            queue: BTreeMap::new(),
            receivers: VecDeque::new(),
            pulses: 0,
            messages: BTreeSet::new(),
            connections: BTreeSet::new(),
            clients: BTreeSet::new(),
            messages_total: 0,
            pulses_total: 0,
            direct: false,
            queued_at: BTreeMap::new(),
        }
    }

    /// The first item of the queue, taken out.
    fn pop(&mut self) -> Option<Queued> {
        let (key, item) = self.queue.pop_first()?;
        self.queued_at.remove(&key);
        if matches!(item, Queued::Pulse(_)) {
            self.pulses -= 1;
        }
        Some(item)
    }
}

impl Kernel {
    pub(super) fn channel_mut(&mut self, process: ProcessKey, chid: Chid) -> Option<&mut Channel> {
        self.processes.get_mut(&process)?.channels.get_mut(&chid)
    }

    pub(super) fn channel(&self, process: ProcessKey, chid: Chid) -> Option<&Channel> {
        self.processes.get(&process)?.channels.get(&chid)
    }

    /// `ChannelCreate(flags)`.
    pub(super) fn channel_create(
        &mut self,
        process: ProcessKey,
        flags: ChannelFlags,
    ) -> Result<Chid, Errno> {
        if flags.0 & !ChannelFlags::KNOWN.0 != 0 {
            return Err(Errno::EINVAL);
        }
        let in_use = self
            .processes
            .get(&process)
            .ok_or(Errno::ESRCH)?
            .chids
            .in_use();
        self.within(process, Limit::Channels, in_use as u64, 1)?;
        let p = self.processes.get_mut(&process).ok_or(Errno::ESRCH)?;
        let chid = p.chids.alloc().ok_or(Errno::EAGAIN)?;
        p.channels.insert(chid, Channel::new(flags));
        if flags.contains(ChannelFlags::COID_DISCONNECT) {
            p.coid_death.insert(chid);
        }
        if flags.contains(ChannelFlags::THREAD_DEATH) {
            p.thread_death.insert(chid);
        }
        Ok(chid)
    }

    /// `ChannelDestroy(chid)`: blocked senders and receivers get `ESRCH`, connections to the
    /// channel die (coid-death pulses to their owners), a name on it is removed. A chid that
    /// names no channel of `process` is `EINVAL`, as QNX documents ("The channel specified by
    /// chid doesn't exist").
    pub(super) fn channel_destroy(&mut self, process: ProcessKey, chid: Chid) -> Result<(), Errno> {
        let p = self.processes.get_mut(&process).ok_or(Errno::EINVAL)?;
        let mut channel = p.channels.remove(&chid).ok_or(Errno::EINVAL)?;
        p.chids.free(chid);
        p.coid_death.remove(&chid);
        p.thread_death.remove(&chid);
        for scoid in &channel.clients {
            if let Some(entry) = p.scoids.get_mut(scoid) {
                entry.channels.remove(&chid);
            }
        }
        p.named_later.remove(&chid);
        if let Some(name) = p.names.remove(&chid) {
            self.names.remove(&name);
        }
        self.remove_channel_paths(process, chid);
        for receiver in std::mem::take(&mut channel.receivers) {
            self.release(receiver, Err(Errno::ESRCH));
        }
        // Every message sent to this channel, queued or received, fails.
        for rcvid in std::mem::take(&mut channel.messages) {
            if let Some(message) = self.remove_message(rcvid) {
                self.release(message.client, Err(Errno::ESRCH));
            }
        }
        self.kill_connections_to(channel.connections);
        self.forget_channel_priorities(process, chid);
        Ok(())
    }

    /// `MsgReceive(chid, cap)`.
    pub(super) fn msg_receive(
        &mut self,
        now: Time,
        thread: ThreadKey,
        chid: Chid,
        cap: u64,
        timeout: Option<Timeout>,
    ) {
        let process = thread.process();
        if self.channel(process, chid).is_none() {
            self.complete(thread, Err(Errno::ESRCH));
            return;
        }
        if cap < PULSE_SIZE as u64 {
            self.complete(thread, Err(Errno::EFAULT));
            return;
        }
        while let Some(item) = self.channel_mut(process, chid).and_then(Channel::pop) {
            self.direct_touched(process, chid);
            if let Some(received) = self.take_delivery(item, cap) {
                let (priority, realtime) = priority_of(&received);
                self.on_received(thread, chid, priority, realtime);
                self.complete(thread, Ok(Completion::Received(received)));
                return;
            }
        }
        if let Some(channel) = self.channel_mut(process, chid) {
            channel.receivers.push_back(thread);
        }
        let timeout = timeout
            .filter(|t| t.states.receive)
            .map(|t| (now.saturating_add(t.after), t.states));
        self.block(
            thread,
            Blocked {
                wait: Wait::Receive { chid, cap },
                timeout,
                since: now,
                immediate: false,
            },
        );
    }

    /// Hand `item` (just taken from `chid`'s queue, or never queued) to a receiver with a
    /// buffer of `cap` bytes: a pulse as is, a message becomes received and its client
    /// REPLY-blocked.
    /// `None` only for a stale queue entry (a message that is gone), which is skipped.
    fn take_delivery(&mut self, item: Queued, cap: u64) -> Option<Received> {
        match item {
            Queued::Pulse(pulse) => Some(Received::Pulse(pulse)),
            Queued::Message(rcvid) => {
                let message = self.messages.get_mut(&rcvid)?;
                let msglen = cap.min(message.data.len() as u64);
                message.stage = Stage::Received { msglen };
                let info = message.info();
                let data = message.data.slice(..msglen as usize);
                let client = message.client;
                self.received_immediate(client);
                Some(Received::Message { rcvid, info, data })
            }
        }
    }

    /// Deliver `item` on `chid` of `server`: to the first waiting receiver, else into the
    /// queue. Returns false if the channel does not exist.
    pub(super) fn deliver(
        &mut self,
        server: ProcessKey,
        chid: Chid,
        priority: Priority,
        item: Queued,
    ) -> bool {
        let seq = self.next_seq;
        let Some(channel) = self.channel_mut(server, chid) else {
            return false;
        };
        match item {
            Queued::Message(_) => channel.messages_total += 1,
            Queued::Pulse(_) => channel.pulses_total += 1,
        }
        loop {
            let Some(channel) = self.channel_mut(server, chid) else {
                return false;
            };
            let Some(receiver) = channel.receivers.pop_front() else {
                break;
            };
            // Only a thread still RECEIVE-blocked on this channel takes it (defensive: a
            // receiver leaves the list whenever its call ends).
            let cap = match self.blocked.get(&receiver) {
                Some(Blocked {
                    wait: Wait::Receive { cap, chid: c },
                    ..
                }) if *c == chid => *cap,
                _ => continue,
            };
            if let Some(received) = self.take_delivery(item, cap) {
                let (priority, realtime) = priority_of(&received);
                self.on_received(receiver, chid, priority, realtime);
                self.release(receiver, Ok(Completion::Received(received)));
                return true;
            }
            // A stale message: nothing to deliver; the receiver keeps waiting.
            if let Some(channel) = self.channel_mut(server, chid) {
                channel.receivers.push_front(receiver);
            }
            return true;
        }
        let clock = self.clock;
        let Some(channel) = self.channel_mut(server, chid) else {
            return false;
        };
        channel.queue.insert((Reverse(priority), seq), item);
        if channel.direct {
            channel.queued_at.insert((Reverse(priority), seq), clock);
        }
        if matches!(item, Queued::Pulse(_)) {
            channel.pulses += 1;
        }
        self.direct_touched(server, chid);
        self.next_seq += 1;
        if let Queued::Message(rcvid) = item {
            if let Some(message) = self.messages.get_mut(&rcvid) {
                message.stage = Stage::Queued((Reverse(priority), seq));
            }
        }
        let realtime = match item {
            Queued::Message(rcvid) => self.messages.get(&rcvid).map(|m| m.realtime),
            Queued::Pulse(_) => None,
        };
        self.on_queued(server, chid, priority, realtime);
        true
    }
}

/// The priority a message or pulse was sent at, and whether its sender runs real-time
/// (`None` for a pulse: no policy goes with it).
fn priority_of(received: &Received) -> (Priority, Option<bool>) {
    match received {
        Received::Message { info, .. } => (info.priority, Some(info.realtime)),
        Received::Pulse(p) => (p.priority, None),
    }
}
