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

use std::time::Duration;

use crate::call::Call;
use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Pid, Priority, ProcessKey, Rcvid, Scoid, ThreadKey};
use crate::pulse::{Pulse, PulseCode};

use super::channel::Queued;
use super::{Kernel, Time};

/// How long a `MsgSend` with a zero SEND timeout waits for a receiver sleeping on the
/// direct path to take it ([`Kernel::hint_direct_receiver`]): a woken thread's scheduling
/// delay on a loaded host, with room. Past it the send times out as if nobody had waited.
pub const DIRECT_SEND_GRACE: Duration = Duration::from_millis(250);

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

    /// Whether local `server` has channel `chid` (a `name_detach` of a name attached to an
    /// existing channel leaves it).
    pub fn has_channel(&self, server: Pid, chid: Chid) -> bool {
        self.channel(ProcessKey::local(server), chid).is_some()
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

    /// If `call` of `thread` is a `MsgSend` with a zero SEND timeout to a direct channel of
    /// a local process: that channel, for the daemon to say whether one of its threads
    /// sleeps in a direct receive ([`Kernel::hint_direct_receiver`]).
    pub fn zero_send_target(&self, thread: ThreadKey, call: &Call) -> Option<(Pid, Chid)> {
        let Call::MsgSend {
            coid,
            timeout: Some(t),
            ..
        } = call
        else {
            return None;
        };
        if !(t.states.send && t.after.is_zero()) {
            return None;
        }
        let conn = self.live_connection(thread.process(), *coid).ok()?;
        if conn.server.nd != 0 {
            return None;
        }
        self.channel(conn.server, conn.chid).filter(|c| c.direct)?;
        Some((conn.server.pid, conn.chid))
    }

    /// For the next `MsgSend` only: a thread of `chid` of local `server` sleeps in a receive
    /// on the direct path (the daemon reads it in the channel's receiver cells), so a zero
    /// SEND timeout to it waits up to [`DIRECT_SEND_GRACE`] for that receiver to take the
    /// message, as QNX delivers it to a RECEIVE-blocked thread. `None` clears the word.
    pub fn hint_direct_receiver(&mut self, at: Option<(Pid, Chid)>) {
        self.direct_waiting = at.map(|(server, chid)| (ProcessKey::local(server), chid));
    }

    /// `client`'s message was just received: if its zero SEND timeout had the direct grace,
    /// a REPLY timeout applies now (the caller ends with [`Kernel::handle_timeout`]).
    pub(super) fn received_immediate(&mut self, client: ThreadKey) {
        let clock = self.clock;
        let Some(blocked) = self.blocked.get_mut(&client) else {
            return;
        };
        let Some((deadline, states)) = blocked.timeout else {
            return;
        };
        if !blocked.immediate {
            return;
        }
        blocked.immediate = false;
        if states.reply {
            blocked.timeout = Some((clock, states));
            self.deadlines.remove(&(deadline, client));
            self.deadlines.insert((clock, client));
        }
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

    /// The completions of `a` and of `b` among the outputs so far.
    #[allow(clippy::type_complexity)]
    fn completions(
        k: &mut Kernel,
        a: ThreadKey,
        b: ThreadKey,
    ) -> (
        Option<Result<Completion, Errno>>,
        Option<Result<Completion, Errno>>,
    ) {
        let (mut x, mut y) = (None, None);
        while let Some(o) = k.poll_output() {
            if let Output::Complete { thread, result } = o {
                if thread == a {
                    x = Some(result);
                } else if thread == b {
                    y = Some(result);
                }
            }
        }
        (x, y)
    }

    /// `client` connects to `chid` of pid 10: its coid.
    fn connect(k: &mut Kernel, now: Time, client: ThreadKey, chid: Chid) -> Coid {
        k.handle_call(
            now,
            client,
            Call::ConnectAttach {
                nd: 0,
                pid: 10,
                chid,
            },
        );
        let Some(Ok(Completion::Coid(coid))) = completion(k, client) else {
            panic!("ConnectAttach")
        };
        coid
    }

    /// A zero RECEIVE timeout: a non-blocking `MsgReceive`.
    const RECEIVE_NOW: Timeout = Timeout {
        states: TimeoutStates {
            send: false,
            reply: false,
            receive: true,
        },
        after: Duration::ZERO,
    };

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
        let coid = connect(&mut k, t(2), client, chid);
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
        let now = RECEIVE_NOW;
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

    /// A `MsgSend` with a zero SEND timeout to a direct channel: at once `ETIMEDOUT` unless
    /// the daemon says a receiver sleeps on the direct path; then it waits for that
    /// receiver (at most [`DIRECT_SEND_GRACE`]), and once received a REPLY timeout fires at
    /// once, as QNX's zero timeout does to a RECEIVE-blocked server.
    #[test]
    fn a_zero_send_timeout_reaches_a_receiver_sleeping_on_the_direct_path() {
        struct Case {
            name: &'static str,
            hinted: bool,
            reply_state: bool,
            /// When the server takes it (ms after the send), if it does.
            taken_after: Option<u64>,
            /// The client's answer, and when (ms after the send).
            want: (Result<(), Errno>, u64),
        }
        let grace = DIRECT_SEND_GRACE.as_millis() as u64;
        let cases = [
            Case {
                name: "nobody waits: non-blocking",
                hinted: false,
                reply_state: false,
                taken_after: None,
                want: (Err(Errno::ETIMEDOUT), 0),
            },
            Case {
                name: "a sleeping receiver takes it, the server replies",
                hinted: true,
                reply_state: false,
                taken_after: Some(3),
                want: (Ok(()), 4),
            },
            Case {
                name: "taken, and the REPLY state times out at once",
                hinted: true,
                reply_state: true,
                taken_after: Some(3),
                want: (Err(Errno::ETIMEDOUT), 3),
            },
            Case {
                name: "the woken receiver never takes it: the grace ends it",
                hinted: true,
                reply_state: false,
                taken_after: None,
                want: (Err(Errno::ETIMEDOUT), grace),
            },
        ];
        let ms = Duration::from_millis;
        for case in cases {
            let mut k = Kernel::new(Config::default());
            let server = ThreadKey::local(10, 1);
            let client = ThreadKey::local(20, 1);
            k.handle_call(
                ms(1),
                server,
                Call::ChannelCreate {
                    flags: ChannelFlags::default(),
                },
            );
            let Some(Ok(Completion::Chid(chid))) = completion(&mut k, server) else {
                panic!()
            };
            k.set_channel_direct(10, chid).unwrap();
            let coid = connect(&mut k, ms(1), client, chid);
            let send = Call::MsgSend {
                coid,
                data: "hi".into(),
                reply_cap: 8,
                priority: 10,
                realtime: false,
                timeout: Some(Timeout {
                    states: TimeoutStates {
                        send: true,
                        reply: case.reply_state,
                        ..Default::default()
                    },
                    after: Duration::ZERO,
                }),
            };
            assert_eq!(
                k.zero_send_target(client, &send),
                Some((10, chid)),
                "{}",
                case.name
            );
            k.hint_direct_receiver(case.hinted.then_some((10, chid)));
            let t0 = 100;
            k.handle_call(ms(t0), client, send);
            let mut got = completion(&mut k, client).map(|r| (r, t0));
            let mut rcvid = None;
            for at in t0 + 1..=t0 + grace + 1 {
                if got.is_some() {
                    break;
                }
                if case.taken_after == Some(at - t0) {
                    let now = RECEIVE_NOW;
                    k.handle_call(
                        ms(at),
                        server,
                        Call::MsgReceive {
                            chid,
                            cap: 64,
                            timeout: Some(now),
                        },
                    );
                    let (mut mine, theirs) = completions(&mut k, server, client);
                    let Some(Ok(Completion::Received(Received::Message { rcvid: r, .. }))) =
                        mine.take()
                    else {
                        panic!("{}: the server takes it", case.name)
                    };
                    rcvid = Some(r);
                    got = theirs.map(|r| (r, at));
                    continue;
                } else if let Some(r) = rcvid.filter(|_| at - t0 == 4) {
                    k.handle_call(
                        ms(at),
                        server,
                        Call::MsgReply {
                            rcvid: r,
                            status: 0,
                            data: "ok".into(),
                        },
                    );
                } else {
                    k.handle_timeout(ms(at));
                }
                got = completion(&mut k, client).map(|r| (r, at));
            }
            let (result, at) = got.unwrap_or_else(|| panic!("{}: never answered", case.name));
            assert_eq!((result.map(|_| ()), at - t0), case.want, "{}", case.name);
        }
    }
}
