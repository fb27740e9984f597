//! Channels served on the direct path. Their server's library receives from shared memory
//! (`qnet-direct`) and from this kernel: the daemon publishes, for each such channel, how
//! many items the kernel holds and the first one's priority and arrival time
//! ([`Kernel::poll_direct_head`]); the library compares it with its own first item and, when
//! the kernel's comes first, takes it with a non-blocking `MsgReceive`. What the kernel holds
//! for a direct channel: messages of clients that are not on the direct path (another node's,
//! an older library's, a message too large for a slot), every system pulse (disconnect,
//! unblock, coid and thread death), pulses from other nodes and events. The rest of the
//! semantics are unchanged: a sender here is SEND-blocked until that receive takes it.

use std::cmp::Reverse;

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Pid, Priority, ProcessKey, Rcvid, Scoid};
use crate::pulse::{Pulse, PulseCode};

use super::channel::Queued;
use super::{Kernel, Time};

/// What the kernel holds for one direct channel, for the daemon to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectHead {
    /// The channel's owner.
    pub server: Pid,
    /// The channel.
    pub chid: Chid,
    /// Items queued (messages and pulses).
    pub count: usize,
    /// The first item's priority and arrival time, if any.
    pub first: Option<(Priority, Time)>,
}

impl Kernel {
    /// Serve `chid` of local `server` on the direct path from now on. Returns its flags;
    /// `EINVAL` if it is not a channel of `server`.
    pub fn set_channel_direct(&mut self, server: Pid, chid: Chid) -> Result<ChannelFlags, Errno> {
        let process = ProcessKey::local(server);
        let clock = self.clock;
        let channel = self.channel_mut(process, chid).ok_or(Errno::EINVAL)?;
        if !channel.direct {
            channel.direct = true;
            channel.queued_at = channel.queue.keys().map(|k| (*k, clock)).collect();
        }
        let flags = channel.flags;
        self.direct_dirty.insert((process, chid));
        Ok(flags)
    }

    /// Where local `client`'s connection `coid` goes, if it is live and to a direct channel
    /// of a local process: `(server, chid, scoid, flags)`.
    pub fn direct_target(
        &self,
        client: Pid,
        coid: Coid,
    ) -> Option<(Pid, Chid, Scoid, ChannelFlags)> {
        let conn = self.live_connection(ProcessKey::local(client), coid).ok()?;
        if conn.server.nd != 0 {
            return None;
        }
        let channel = self.channel(conn.server, conn.chid).filter(|c| c.direct)?;
        Some((conn.server.pid, conn.chid, conn.scoid, channel.flags))
    }

    /// Whether local `client` still has a live connection to `chid` of local `server`.
    pub fn is_connected(&self, client: Pid, server: Pid, chid: Chid) -> bool {
        let client = ProcessKey::local(client);
        self.channel(ProcessKey::local(server), chid)
            .is_some_and(|c| {
                c.connections
                    .range((client, Coid::MIN)..=(client, Coid::MAX))
                    .next()
                    .is_some()
            })
    }

    /// Whether `chid` of local `server` is served on the direct path.
    pub fn is_channel_direct(&self, server: Pid, chid: Chid) -> bool {
        self.channel(ProcessKey::local(server), chid)
            .is_some_and(|c| c.direct)
    }

    /// The next direct channel whose queue changed: what the kernel now holds for it. A
    /// channel that is gone is skipped (its pairs die with it; the daemon learns that from
    /// the call that destroyed it).
    pub fn poll_direct_head(&mut self) -> Option<DirectHead> {
        while let Some((process, chid)) = self.direct_dirty.pop_first() {
            let Some(c) = self.channel(process, chid).filter(|c| c.direct) else {
                continue;
            };
            let first = c.queue.first_key_value().map(|(k, _)| {
                let Reverse(priority) = k.0;
                (priority, c.queued_at.get(k).copied().unwrap_or(self.clock))
            });
            return Some(DirectHead {
                server: process.pid,
                chid,
                count: c.queue.len(),
                first,
            });
        }
        None
    }

    /// A direct client died while its message `rcvid` (the serving library's number) was
    /// received on `chid` of `server`: as for a client of this kernel, a channel with
    /// `_NTO_CHF_UNBLOCK` gets `_PULSE_CODE_UNBLOCK` (value = rcvid, at the client's
    /// priority) so that the server learns the rcvid is gone.
    pub fn handle_direct_abandoned(
        &mut self,
        now: Time,
        server: Pid,
        chid: Chid,
        scoid: Scoid,
        priority: Priority,
        rcvid: Rcvid,
    ) {
        self.clock = self.clock.max(now);
        let process = ProcessKey::local(server);
        let unblock = self
            .channel(process, chid)
            .is_some_and(|c| c.flags.contains(ChannelFlags::UNBLOCK));
        if unblock {
            let pulse = Pulse {
                code: PulseCode::UNBLOCK,
                value: rcvid as i32,
                scoid,
                priority,
            };
            self.deliver(process, chid, priority, Queued::Pulse(pulse));
        }
        self.handle_timeout(now);
    }

    /// The threads of local `server` blocked in a `MsgReceive` on `chid` return `errno`
    /// (a direct client appeared: they must wait on the direct path now).
    pub fn kick_receivers(&mut self, now: Time, server: Pid, chid: Chid, errno: Errno) {
        self.clock = self.clock.max(now);
        let receivers: Vec<_> = self
            .channel(ProcessKey::local(server), chid)
            .map(|c| c.receivers.iter().copied().collect())
            .unwrap_or_default();
        for thread in receivers {
            self.unblock(thread, errno);
        }
        self.handle_timeout(now);
    }

    /// Note that the queue of `chid` of `process` changed, if it is direct.
    pub(super) fn direct_touched(&mut self, process: ProcessKey, chid: Chid) {
        if self.channel(process, chid).is_some_and(|c| c.direct) {
            self.direct_dirty.insert((process, chid));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::call::{Call, Completion, Received, Timeout};
    use crate::flags::TimeoutStates;
    use crate::ids::ThreadKey;
    use crate::kernel::{Config, Output};

    use super::*;

    fn completion(k: &mut Kernel, thread: ThreadKey) -> Option<Result<Completion, Errno>> {
        let mut got = None;
        while let Some(o) = k.poll_output() {
            if let Output::Complete { thread: t, result } = o {
                if t == thread {
                    got = Some(result);
                }
            }
        }
        got
    }

    #[test]
    fn a_direct_channel_publishes_what_the_kernel_holds_and_a_zero_timeout_receive_takes_it() {
        let mut k = Kernel::new(Config::default());
        let server = ThreadKey::local(10, 1);
        let client = ThreadKey::local(20, 1);
        let t = |ms| Duration::from_millis(ms);
        k.handle_call(
            t(1),
            server,
            Call::ChannelCreate {
                flags: ChannelFlags::UNBLOCK,
            },
        );
        let Some(Ok(Completion::Chid(chid))) = completion(&mut k, server) else {
            panic!()
        };
        assert!(k.poll_direct_head().is_none(), "not direct yet");
        assert_eq!(k.set_channel_direct(10, chid), Ok(ChannelFlags::UNBLOCK));
        assert_eq!(k.set_channel_direct(11, chid), Err(Errno::EINVAL));
        let empty = DirectHead {
            server: 10,
            chid,
            count: 0,
            first: None,
        };
        assert_eq!(k.poll_direct_head(), Some(empty));
        k.handle_call(
            t(2),
            client,
            Call::ConnectAttach {
                nd: 0,
                pid: 10,
                chid,
            },
        );
        let Some(Ok(Completion::Coid(coid))) = completion(&mut k, client) else {
            panic!()
        };
        let send = Call::MsgSend {
            coid,
            data: "hi".into(),
            reply_cap: 8,
            priority: 15,
            realtime: false,
            timeout: None,
        };
        k.handle_call(t(5), client, send);
        assert_eq!(completion(&mut k, client), None, "SEND-blocked");
        assert_eq!(
            k.poll_direct_head(),
            Some(DirectHead {
                server: 10,
                chid,
                count: 1,
                first: Some((15, t(5)))
            })
        );
        assert_eq!(k.poll_direct_head(), None, "reported once");
        let now = Timeout {
            states: TimeoutStates {
                receive: true,
                ..Default::default()
            },
            after: Duration::ZERO,
        };
        k.handle_call(
            t(6),
            server,
            Call::MsgReceive {
                chid,
                cap: 64,
                timeout: Some(now),
            },
        );
        let Some(Ok(Completion::Received(Received::Message { rcvid, .. }))) =
            completion(&mut k, server)
        else {
            panic!()
        };
        assert!(rcvid <= crate::RCVID_MAX);
        assert_eq!(k.poll_direct_head(), Some(empty));
        k.handle_call(
            t(7),
            server,
            Call::MsgReceive {
                chid,
                cap: 64,
                timeout: Some(now),
            },
        );
        assert_eq!(
            completion(&mut k, server),
            Some(Err(Errno::ETIMEDOUT)),
            "nothing held: no wait"
        );
        // A direct client dies holding a received message: the server gets its unblock pulse.
        k.handle_direct_abandoned(t(8), 10, chid, 3, 12, 1 << 30);
        let head = k.poll_direct_head().unwrap();
        assert_eq!((head.count, head.first), (1, Some((12, t(8)))));
        k.handle_call(
            t(9),
            server,
            Call::MsgReceive {
                chid,
                cap: 64,
                timeout: Some(now),
            },
        );
        let Some(Ok(Completion::Received(Received::Pulse(p)))) = completion(&mut k, server) else {
            panic!()
        };
        assert_eq!((p.code, p.value, p.scoid), (PulseCode::UNBLOCK, 1 << 30, 3));
    }
}
