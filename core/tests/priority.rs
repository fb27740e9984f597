//! Priority inheritance on receive and server boost, as decided by the kernel
//! (`Kernel::poll_priority`).

use std::time::Duration;

use bytes::Bytes;
use qnet_core::{
    Call, ChannelFlags, Completion, Config, Kernel, Output, PriorityCause, PriorityChange,
    ThreadKey,
};

const NOW: Duration = Duration::ZERO;

fn t(pid: u32, tid: u32) -> ThreadKey {
    ThreadKey { nd: 0, pid, tid }
}

struct K(Kernel);

impl K {
    /// Make `call` and return its immediate completion, if any; drains outputs.
    fn call(&mut self, thread: ThreadKey, call: Call) -> Option<Completion> {
        self.0.handle_call(NOW, thread, call);
        let mut mine = None;
        while let Some(out) = self.0.poll_output() {
            if let Output::Complete {
                thread: who,
                result,
            } = out
            {
                if who == thread {
                    mine = Some(result.unwrap_or_else(|e| panic!("{thread:?}: {e:?}")));
                }
            }
        }
        mine
    }

    fn changes(&mut self) -> Vec<(ThreadKey, u8, PriorityCause)> {
        std::iter::from_fn(|| self.0.poll_priority())
            .map(
                |PriorityChange {
                     thread,
                     priority,
                     cause,
                     ..
                 }| (thread, priority, cause),
            )
            .collect()
    }

    fn channel(&mut self, server: ThreadKey, flags: ChannelFlags) -> i32 {
        match self.call(server, Call::ChannelCreate { flags }) {
            Some(Completion::Chid(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    fn connect(&mut self, client: ThreadKey, server: ThreadKey, chid: i32) -> i32 {
        match self.call(
            client,
            Call::ConnectAttach {
                nd: 0,
                pid: server.pid,
                chid,
            },
        ) {
            Some(Completion::Coid(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    fn send(&mut self, client: ThreadKey, coid: i32, priority: u8) {
        self.call(
            client,
            Call::MsgSend {
                coid,
                data: Bytes::from_static(b"x"),
                reply_cap: 0,
                priority,
                realtime: false,
                timeout: None,
            },
        );
    }

    fn pulse(&mut self, client: ThreadKey, coid: i32, priority: u8) {
        self.call(
            client,
            Call::MsgSendPulse {
                coid,
                priority,
                code: 1,
                value: 0,
            },
        );
    }

    /// Receive; returns the rcvid (0 for a pulse), or None if it blocked.
    fn receive(&mut self, server: ThreadKey, chid: i32) -> Option<i64> {
        match self.call(
            server,
            Call::MsgReceive {
                chid,
                cap: 64,
                timeout: None,
            },
        )? {
            Completion::Received(qnet_core::Received::Message { rcvid, .. }) => Some(rcvid),
            Completion::Received(qnet_core::Received::Pulse(_)) => Some(0),
            other => panic!("{other:?}"),
        }
    }

    fn reply(&mut self, server: ThreadKey, rcvid: i64) {
        self.call(
            server,
            Call::MsgReply {
                rcvid,
                status: 0,
                data: Bytes::new(),
            },
        );
    }
}

fn kernel() -> K {
    K(Kernel::new(Config::default()))
}

#[test]
fn receiving_thread_takes_the_priority_of_each_message_and_pulse() {
    let mut k = kernel();
    let (server, low, low2, high) = (t(1, 1), t(2, 1), t(2, 2), t(3, 1));
    let chid = k.channel(server, ChannelFlags::default());
    let coid_low = k.connect(low, server, chid);
    let coid_high = k.connect(high, server, chid);
    k.send(low, coid_low, 5);
    let rcvid = k.receive(server, chid).expect("queued message");
    assert_eq!(k.changes(), [(server, 5, PriorityCause::Received)]);
    k.reply(server, rcvid);
    // Waiting in a receive, then a higher message arrives: the priority rises at delivery.
    assert_eq!(k.receive(server, chid), None);
    k.send(high, coid_high, 40);
    assert_eq!(k.changes(), [(server, 40, PriorityCause::Received)]);
    assert_eq!(k.0.inherited_priority(server), Some((40, false)));
    // A pulse drops it again; the same priority twice is not a change.
    k.pulse(low2, coid_low, 7);
    k.pulse(low2, coid_low, 7);
    assert_eq!(k.receive(server, chid), Some(0));
    assert_eq!(k.receive(server, chid), Some(0));
    assert_eq!(k.changes(), [(server, 7, PriorityCause::Received)]);
}

#[test]
fn fixed_priority_channel_changes_nothing_and_boosts_no_one() {
    let mut k = kernel();
    let (server, low, high, high2) = (t(1, 1), t(2, 1), t(3, 1), t(3, 2));
    let chid = k.channel(server, ChannelFlags::FIXED_PRIORITY);
    let coid_low = k.connect(low, server, chid);
    let coid_high = k.connect(high, server, chid);
    k.send(low, coid_low, 5);
    k.receive(server, chid).expect("queued message");
    k.pulse(high, coid_high, 60);
    k.send(high2, coid_high, 60);
    assert_eq!(k.receive(server, chid), Some(0));
    assert_eq!(k.changes(), []);
    assert_eq!(k.0.inherited_priority(server), None);
}

#[test]
fn busy_server_is_boosted_by_a_higher_sender_and_restored_when_nothing_waits() {
    let mut k = kernel();
    let (s1, s2, low, low2, high) = (t(1, 1), t(1, 2), t(2, 1), t(2, 2), t(3, 1));
    let chid = k.channel(s1, ChannelFlags::default());
    let coid_low = k.connect(low, s1, chid);
    let coid_high = k.connect(high, s1, chid);
    // Two server threads busy for low-priority clients (5 and 8).
    k.send(low, coid_low, 5);
    let r1 = k.receive(s1, chid).unwrap();
    k.pulse(low2, coid_low, 8);
    assert_eq!(k.receive(s2, chid), Some(0));
    k.changes();
    // No receiver: the one running lowest is boosted (once, to the highest sender).
    k.send(high, coid_high, 30);
    assert_eq!(k.changes(), [(s1, 30, PriorityCause::Boost)]);
    assert_eq!(k.0.inherited_priority(s1), Some((30, true)));
    // A lower one does not lower the boost; a receive by the other thread takes the message:
    // nothing waits any more, so the boosted thread goes back to its own client's priority.
    k.pulse(low2, coid_low, 20);
    assert_eq!(k.changes(), [(s2, 20, PriorityCause::Boost)]);
    assert_eq!(k.receive(s2, chid), Some(r1 + 1));
    assert_eq!(
        k.changes(),
        [
            (s2, 30, PriorityCause::Received),
            (s1, 20, PriorityCause::Boost)
        ]
    );
    k.reply(s1, r1);
    assert_eq!(k.receive(s1, chid), Some(0));
    assert_eq!(k.changes(), [], "already at the pulse's priority");
    assert_eq!(k.0.inherited_priority(s1), Some((20, false)));
}

#[test]
fn exits_forget_the_threads() {
    let mut k = kernel();
    let (server, client) = (t(1, 1), t(2, 1));
    let chid = k.channel(server, ChannelFlags::default());
    let coid = k.connect(client, server, chid);
    k.pulse(client, coid, 3);
    k.receive(server, chid);
    assert_eq!(k.changes(), [(server, 3, PriorityCause::Received)]);
    k.0.handle_thread_exit(NOW, server);
    assert_eq!(k.0.inherited_priority(server), None);
    k.send(client, coid, 50);
    assert_eq!(
        k.changes(),
        [],
        "no thread is associated with the channel any more"
    );
}
