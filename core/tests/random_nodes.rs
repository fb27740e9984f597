//! Property test: two linked kernels (a numbers b as nd 2, b numbers a as nd 1) driven by
//! random calls, local and across nodes, with the daemon's routing done by the test in random
//! order (forwarded calls, cancels, results and notices may overtake each other or be lost),
//! node down and up, node restarts, exits and time jumps (the routing is `qnet_core::net`). Neither kernel may panic; every call completes at
//! most once (non-blocking local calls at once); "has a call outstanding" equals "is blocked"
//! for every local thread; the count of callers waiting matches the blocked threads; no
//! message is received twice.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use qnet_core::net::Net;
use qnet_core::{
    Call, ChannelFlags, Completion, Config, Credentials, Errno, Kernel, Nd, Output, ProcessKey,
    PulseEvent, Received, ThreadKey, Timeout, TimeoutStates,
};

/// The nd each node uses for the other: a (index 0) sees b as 2, b sees a as 1.
const PEER_ND: [Nd; 2] = [2, 1];
/// Stands for "the other node" in a generated `ConnectAttach`.
const PEER: Nd = u32::MAX;
const PIDS: [u32; 2] = [100, 200];

#[derive(Clone, Debug)]
enum Op {
    Call(usize, ThreadKey, Call),
    /// Route the in-flight item at this index (modulo the number in flight).
    Deliver(usize),
    /// A thread (tid) of the receiving process answers one of the two messages received last
    /// on a node, with MsgReply (or MsgError if the flag is set).
    Answer(usize, usize, u32, bool),
    /// Route everything in flight, and what that produces, in order.
    DeliverAll,
    /// Lose everything in flight (a link reset).
    Drop,
    Down(usize),
    Up(usize),
    ExitThread(usize, ThreadKey),
    ExitProcess(usize, u32),
    Advance(u64),
    /// The node restarts (a fresh kernel, a new incarnation) and its peer sees it come back.
    Restart(usize),
    /// The stream of a thread's latest forwarded call dies (`true`: or a stale report for the
    /// call before it): its node's daemon reports ESRCH for that seq, the serving daemon the
    /// stream's end.
    StreamLost(usize, ThreadKey, bool),
}

fn thread() -> impl Strategy<Value = ThreadKey> {
    (prop::sample::select(PIDS.to_vec()), 1u32..4).prop_map(|(p, t)| ThreadKey::local(p, t))
}

fn timeout() -> impl Strategy<Value = Option<Timeout>> {
    proptest::option::of(
        (any::<(bool, bool)>(), 0u64..3000).prop_map(|((s, r), ms)| Timeout {
            states: TimeoutStates {
                send: s,
                reply: r,
                receive: false,
            },
            after: Duration::from_millis(ms),
        }),
    )
}

fn call() -> impl Strategy<Value = Call> {
    let data = proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    let rcvid = 0i64..12;
    let event = 0u64..4;
    prop_oneof![
        1 => prop_oneof![Just(0u32), Just(ChannelFlags::UNBLOCK.0 | ChannelFlags::DISCONNECT.0)]
            .prop_map(|b| Call::ChannelCreate {
                flags: ChannelFlags(b | ChannelFlags::COID_DISCONNECT.0)
            }),
        1 => (1i32..3).prop_map(|chid| Call::ChannelDestroy { chid }),
        1 => (
            prop_oneof![Just(0u32), Just(PEER), Just(9)],
            prop::sample::select(PIDS.to_vec()),
            1i32..3
        )
            .prop_map(|(nd, pid, chid)| Call::ConnectAttach { nd, pid, chid }),
        3 => (1i32..3).prop_map(|chid| Call::ConnectAttach {
            nd: PEER,
            pid: 100,
            chid
        }),
        1 => (1i32..6).prop_map(|coid| Call::ConnectDetach { coid }),
        4 => (1i32..4, data.clone(), 0u64..40, timeout()).prop_map(
            |(coid, data, reply_cap, timeout)| Call::MsgSend {
                coid,
                data,
                reply_cap,
                priority: 10,
                realtime: false,
                timeout
            }
        ),
        4 => (
            1i32..3,
            prop_oneof![1 => Just(8u64), 5 => Just(48)],
            prop_oneof![1 => Just(None), 4 => (0u64..1500).prop_map(Some)]
        )
            .prop_map(|(chid, cap, ms)| Call::MsgReceive {
                chid,
                cap,
                timeout: ms.map(|ms| Timeout {
                    states: TimeoutStates {
                        send: false,
                        reply: false,
                        receive: true,
                    },
                    after: Duration::from_millis(ms),
                }),
            }),
        3 => (rcvid.clone(), data.clone()).prop_map(|(rcvid, data)| Call::MsgReply {
            rcvid,
            status: 1,
            data
        }),
        1 => (rcvid.clone(), 0i32..5).prop_map(|(rcvid, errno)| Call::MsgError { rcvid, errno }),
        1 => (rcvid.clone(), 0u64..50, 0u64..50)
            .prop_map(|(rcvid, offset, len)| Call::MsgRead { rcvid, offset, len }),
        1 => (1i32..6, -2i8..3).prop_map(|(coid, code)| Call::MsgSendPulse {
            coid,
            priority: 10,
            code,
            value: 1
        }),
        1 => prop_oneof![Just("s"), Just("t")].prop_map(|name| Call::NameAttach {
            name: name.into(),
            flags: ChannelFlags::default()
        }),
        1 => (1i32..3).prop_map(|chid| Call::NameDetach { chid }),
        1 => prop_oneof![Just("s"), Just("n1/s"), Just("n2/s"), Just("n2/t"), Just("zz/s")]
            .prop_map(|name| Call::NameOpen { name: name.into() }),
        1 => (1i32..6, 1i32..6).prop_map(|(coid, server_coid)| Call::MsgRegisterEvent {
            event: PulseEvent {
                coid,
                priority: 10,
                code: 3,
                value: 1,
                updateable: true
            },
            server_coid
        }),
        1 => prop_oneof![event.clone(), (2000u64..2004), (1000u64..1004)]
            .prop_map(|event| Call::MsgUnregisterEvent { event }),
        1 => (
            rcvid,
            prop_oneof![event, (2000u64..2004), (1000u64..1004)],
            proptest::option::of(0i32..9)
        )
            .prop_map(|(rcvid, event, value)| Call::MsgDeliverEvent {
                rcvid,
                event,
                value
            }),
        1 => (1u32..4).prop_map(|tid| Call::Unblock { tid }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let node = 0usize..2;
    prop_oneof![
        40 => (node.clone(), thread(), call()).prop_map(|(n, t, c)| Op::Call(n, t, c)),
        10 => any::<usize>().prop_map(Op::Deliver),
        8 => Just(Op::DeliverAll),
        6 => (0usize..2, any::<usize>(), 1u32..4, any::<bool>())
            .prop_map(|(i, n, tid, e)| Op::Answer(i, n, tid, e)),
        1 => Just(Op::Drop),
        1 => node.clone().prop_map(Op::Down),
        2 => node.clone().prop_map(Op::Up),
        1 => (node.clone(), thread()).prop_map(|(n, t)| Op::ExitThread(n, t)),
        1 => (node, prop::sample::select(PIDS.to_vec())).prop_map(|(n, p)| Op::ExitProcess(n, p)),
        4 => (0u64..2000).prop_map(Op::Advance),
        1 => (0usize..2).prop_map(Op::Restart),
        2 => (0usize..2, thread(), any::<bool>()).prop_map(|(i, t, s)| Op::StreamLost(i, t, s)),
    ]
}

/// Node `i`'s kernel, fresh.
fn new_kernel(i: usize) -> Kernel {
    let mut k = Kernel::new(Config {
        max_message_size: 32,
        // Within reach, so that one-way pulses are refused (EAGAIN) too.
        max_unsent_pulses: 2,
        ..Config::default()
    });
    k.set_local_node_name(["n1", "n2"][i]);
    k.set_id_base(1000 * (i as u64 + 1));
    k
}

/// The two nodes, and what the test expects of their local threads.
struct Cluster {
    net: Net,
    outstanding: [BTreeMap<ThreadKey, u32>; 2],
    /// The seq of each local thread's latest forwarded call.
    forwarded: [BTreeMap<ThreadKey, u64>; 2],
    received: [BTreeMap<i64, u32>; 2],
}

impl Cluster {
    fn new() -> Self {
        let mut net = Net::new();
        for i in 0..2 {
            net.add(new_kernel(i));
        }
        net.link(0, PEER_ND[0], 1, PEER_ND[1]).expect("link");
        let mut c = Self {
            net,
            outstanding: [BTreeMap::new(), BTreeMap::new()],
            forwarded: [BTreeMap::new(), BTreeMap::new()],
            received: [BTreeMap::new(), BTreeMap::new()],
        };
        c.boot(0);
        c.boot(1);
        c
    }

    /// Node `i`'s processes, and a server: 100 owns chid 1 and the name "s" (chid 2).
    fn boot(&mut self, i: usize) {
        for pid in PIDS {
            self.net
                .start_process(i, pid, Credentials { uid: pid, gid: 0 });
        }
        let now = self.net.now();
        let k = self.net.kernel_mut(i);
        let server = ThreadKey::local(100, 1);
        let flags = ChannelFlags::UNBLOCK | ChannelFlags::DISCONNECT;
        k.handle_call(now, server, Call::ChannelCreate { flags });
        let name = "s".to_owned();
        let flags = ChannelFlags::default();
        k.handle_call(now, server, Call::NameAttach { name, flags });
        while k.poll_output().is_some() {}
    }

    /// Drain node `i`: check local completions, the rest goes on the wire.
    fn drain(&mut self, i: usize, immediate: Option<ThreadKey>) -> Result<bool, TestCaseError> {
        let mut completed_immediate = immediate.is_none();
        let mut outputs = Vec::new();
        self.net.drain(i, |o| outputs.push(o.clone()));
        for output in outputs {
            match output {
                Output::Complete { thread, result } if thread.nd == 0 => {
                    let n = self.outstanding[i].get_mut(&thread);
                    prop_assert!(
                        n.as_ref().is_some_and(|n| **n > 0),
                        "node {i}: completion for {thread} with no call outstanding: {result:?}"
                    );
                    if let Some(n) = n {
                        *n -= 1;
                    }
                    if Some(thread) == immediate {
                        completed_immediate = true;
                    }
                    if let Ok(Completion::Received(Received::Message { rcvid, .. })) = result {
                        prop_assert!(
                            self.received[i].insert(rcvid, thread.pid).is_none(),
                            "node {i}: rcvid {rcvid} received twice"
                        );
                    }
                }
                Output::Complete { thread, .. } => {
                    prop_assert_eq!(thread.nd, PEER_ND[i], "completion for an unknown node");
                }
                Output::Forward {
                    nd, thread, seq, ..
                } => {
                    prop_assert_eq!(nd, PEER_ND[i], "output for an unknown node");
                    let last = self.forwarded[i].insert(thread, seq);
                    prop_assert!(last < Some(seq), "node {i}: seq {seq} after {last:?}");
                }
                Output::ForwardUnblock { nd, .. }
                | Output::ForwardPulse { nd, .. }
                | Output::Notify { nd, .. } => {
                    prop_assert_eq!(nd, PEER_ND[i], "output for an unknown node");
                }
            }
        }
        Ok(completed_immediate)
    }

    fn deliver_all(&mut self) -> Result<(), TestCaseError> {
        let mut rounds = 0;
        while rounds < 10_000
            && let Some(packet) = self.net.take(0)
        {
            self.net.deliver(packet);
            for i in 0..2 {
                self.drain(i, None)?;
            }
            rounds += 1;
        }
        Ok(())
    }

    fn check_blocked(&self) -> Result<(), TestCaseError> {
        for i in 0..2 {
            for pid in PIDS {
                for tid in 1..4 {
                    let t = ThreadKey::local(pid, tid);
                    let pending = self.outstanding[i].get(&t).copied().unwrap_or(0);
                    prop_assert!(
                        pending <= 1,
                        "node {i}: {t} has {pending} calls outstanding"
                    );
                    prop_assert_eq!(
                        pending == 1,
                        self.net.kernel(i).is_blocked(t),
                        "node {}: {} blocked state",
                        i,
                        t
                    );
                }
            }
            let callers = self
                .net
                .kernel(i)
                .snapshot()
                .processes
                .iter()
                .flat_map(|p| &p.threads)
                .filter(|t| !matches!(t.state, qnet_core::ThreadState::Receive { .. }))
                .count();
            prop_assert_eq!(
                self.net.kernel(i).callers_waiting(),
                callers,
                "node {}: callers waiting (local and remote threads)",
                i
            );
            if let Err(e) = self.net.kernel(i).audit() {
                prop_assert!(false, "node {}: kernel indexes out of step: {}", i, e);
            }
            if let Some(deadline) = self.net.kernel(i).poll_timeout() {
                prop_assert!(deadline > self.net.now(), "node {i}: deadline not fired");
            }
        }
        Ok(())
    }
}

fn is_blocking(call: &Call) -> bool {
    matches!(call, Call::MsgSend { .. } | Call::MsgReceive { .. })
}

/// Calls that may be forwarded (and so complete later) when they name another node.
fn may_forward(call: &Call) -> bool {
    matches!(
        call,
        Call::ConnectAttach { .. }
            | Call::ConnectDetach { .. }
            | Call::NameOpen { .. }
            | Call::MsgSendPulse { .. }
            | Call::MsgRegisterEvent { .. }
            | Call::MsgUnregisterEvent { .. }
    )
}

/// 512 cases from a fixed seed, so every run (and CI) explores the same sequences; set
/// `PROPTEST_RNG_SEED` to explore others (a failure prints its minimal input and is kept in
/// the `.proptest-regressions` file beside this test).
fn seeded_config() -> ProptestConfig {
    let mut config = ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x7165_6e65_7402);
    }
    config
}

/// Apply `op` to the cluster, then check what holds after every step.
fn apply(c: &mut Cluster, op: Op) -> Result<(), TestCaseError> {
    let mut immediate = [None, None];
    match op {
        Op::Call(i, thread, mut call) => {
            if let Call::ConnectAttach { nd, .. } = &mut call {
                if *nd == PEER {
                    *nd = PEER_ND[i];
                }
            }
            let was_blocked = c.net.kernel(i).is_blocked(thread);
            if was_blocked || !(is_blocking(&call) || may_forward(&call)) {
                immediate[i] = Some(thread);
            }
            *c.outstanding[i].entry(thread).or_default() += 1;
            let now = c.net.now();
            c.net.kernel_mut(i).handle_call(now, thread, call);
        }
        Op::Deliver(n) => {
            let len = c.net.wire().len();
            if let Some(packet) = c.net.take(n % len.max(1)) {
                c.net.deliver(packet);
            }
        }
        Op::DeliverAll => c.deliver_all()?,
        Op::Answer(i, n, tid, error) => {
            let picked = c.received[i].iter().rev().nth(n % 2);
            if let Some((&rcvid, &pid)) = picked {
                let thread = ThreadKey::local(pid, tid);
                immediate[i] = Some(thread);
                *c.outstanding[i].entry(thread).or_default() += 1;
                let call = if error {
                    Call::MsgError { rcvid, errno: 4 }
                } else {
                    Call::MsgReply {
                        rcvid,
                        status: 0,
                        data: Bytes::from_static(b"r"),
                    }
                };
                let now = c.net.now();
                c.net.kernel_mut(i).handle_call(now, thread, call);
            }
        }
        Op::Drop => {
            c.net.clear_wire();
        }
        Op::Down(i) => {
            c.net.down(i, PEER_ND[i]);
        }
        Op::Up(i) => {
            c.net.up(i, PEER_ND[i]);
        }
        Op::ExitThread(i, thread) => {
            c.outstanding[i].remove(&thread);
            let now = c.net.now();
            c.net.kernel_mut(i).handle_thread_exit(now, thread);
        }
        Op::ExitProcess(i, pid) => {
            c.outstanding[i].retain(|t, _| t.pid != pid);
            let now = c.net.now();
            let k = c.net.kernel_mut(i);
            k.handle_process_exit(now, ProcessKey::local(pid));
            k.handle_process_start(ProcessKey::local(pid), Credentials::default());
        }
        Op::Advance(ms) => c.net.advance(Duration::from_millis(ms)),
        Op::StreamLost(i, thread, stale) => {
            if let Some(&seq) = c.forwarded[i].get(&thread) {
                let seq = seq - u64::from(stale);
                let now = c.net.now();
                c.net
                    .kernel_mut(i)
                    .handle_forward_result(now, thread, seq, Err(Errno::ESRCH));
                let remote = ThreadKey {
                    nd: PEER_ND[1 - i],
                    ..thread
                };
                c.net
                    .kernel_mut(1 - i)
                    .handle_remote_call_abandoned(now, remote, seq);
            }
        }
        Op::Restart(i) => {
            // What was in flight to or from the old node dies with its links; its
            // threads are gone (no completions owed).
            c.net.restart(i, new_kernel(i));
            c.outstanding[i].clear();
            c.forwarded[i].clear();
            c.received[i].clear();
            c.boot(i);
        }
    }
    for (i, imm) in immediate.into_iter().enumerate() {
        let done = c.drain(i, imm)?;
        prop_assert!(
            done,
            "node {i}: non-blocking call of {imm:?} did not complete"
        );
    }
    c.check_blocked()?;
    Ok(())
}

proptest! {
    #![proptest_config(seeded_config())]

    #[test]
    fn two_nodes_random_operations(ops in proptest::collection::vec(op(), 1..200)) {
        let mut c = Cluster::new();
        for op in ops {
            apply(&mut c, op)?;
        }
        // Quiesce: deliver everything left; the checks still hold.
        c.deliver_all()?;
        c.check_blocked()?;
        // Every one-way pulse that left the wire was counted off: a node whose link is idle
        // has room for pulses again (no leak behind the EAGAIN bound).
        for (i, nd) in PEER_ND.into_iter().enumerate() {
            let unsent = c.net.kernel(i).unsent_pulses(nd);
            prop_assert_eq!(unsent, 0, "node {}: unsent pulses after the wire drained", i);
        }
    }
}

proptest! {
    #![proptest_config(seeded_config())]

    /// Issue 22: no record outlives its owner. The same random operations without lost
    /// packets (a loss on a live link does not happen: QUIC streams are reliable, and a dead
    /// link is a node down, which forgets everything of that node) and with links going down
    /// and up as both ends see them (one connection); then both nodes see each
    /// other up, everything in flight arrives, and every process on both nodes exits. Each
    /// kernel must then hold nothing at all (no process, local or remote, no remote thread's
    /// seq, no forwarded-call bookkeeping), except the bounded memory of exited processes
    /// whose calls may still come.
    #[test]
    fn no_record_outlives_its_owner(
        ops in proptest::collection::vec(
            op().prop_filter("no lost packets", |o| !matches!(o, Op::Drop)),
            1..200,
        )
    ) {
        let mut c = Cluster::new();
        for op in ops {
            match op {
                // A link that dies is seen dead from both ends (one QUIC connection), and
                // one that comes back, alive from both.
                Op::Down(i) | Op::Up(i) => {
                    let both = |i| if matches!(op, Op::Down(_)) { Op::Down(i) } else { Op::Up(i) };
                    apply(&mut c, both(i))?;
                    apply(&mut c, both(1 - i))?;
                }
                op => apply(&mut c, op)?,
            }
        }
        c.deliver_all()?;
        for i in 0..2 {
            apply(&mut c, Op::Up(i))?;
        }
        c.deliver_all()?;
        for i in 0..2 {
            for pid in PIDS {
                let now = c.net.now();
                c.net.kernel_mut(i).handle_process_exit(now, ProcessKey::local(pid));
                c.outstanding[i].retain(|t, _| t.pid != pid);
                c.drain(i, None)?;
            }
        }
        c.deliver_all()?;
        for i in 0..2 {
            let r = c.net.kernel(i).records();
            let left = qnet_core::Records { exited: r.exited, ..Default::default() };
            prop_assert_eq!(r, left, "node {}: records left after every process exited", i);
            prop_assert!(c.net.kernel(i).audit().is_ok());
        }
    }
}
