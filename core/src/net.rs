//! Several linked kernels in memory, routing each other's outputs as their daemons do
//! (feature `net`, for tests: the scenario scripts with several nodes and the property test
//! over two nodes use it).
//!
//! Each kernel is a node; [`Net::link`] makes two of them peers (each numbering the other
//! with its own nd). [`Net::drain`] takes a node's outputs: completions of its local threads
//! are only shown, everything bound for another node is put on the wire as a [`Packet`].
//! [`Net::deliver`] hands one packet to its node the way a daemon does, so a test chooses
//! the order (any packet may overtake another, or be lost with [`Net::take`]):
//! - [`Output::Forward`] → [`Kernel::handle_remote_call`] of the thread as `nd/pid.tid`,
//!   with the credentials its node started the process with;
//! - [`Output::ForwardUnblock`] → [`Kernel::handle_remote_unblock`];
//! - [`Output::Complete`] of a remote thread (the answer of a forwarded call, carrying the
//!   seq of the call it answers) → [`Kernel::handle_forward_result`];
//! - [`Output::Notify`] → [`Kernel::handle_notice`];
//! - [`Output::ForwardPulse`] → [`Kernel::handle_remote_pulse`] (one way: its sender's
//!   call completed already). A pulse taken off the wire ([`Net::take`], [`Net::clear_wire`],
//!   or lost in a restart) has left its node: that node hears [`Kernel::handle_pulses_sent`].
//!   The wire is one queue, so delivering in order keeps a pulse before the calls its
//!   thread makes after it, as the daemons' links do; a test may still reorder.
//!
//! Virtual time is one clock for every node ([`Net::advance`]). A node restart
//! ([`Net::restart`]) is a fresh kernel with a new incarnation, linked again to its peers
//! while they still think the old one is up.

use std::collections::{BTreeMap, VecDeque};

use crate::errno::Errno;
use crate::ids::{Nd, Pid, ProcessKey, ThreadKey};
use crate::info::Credentials;
use crate::kernel::{Kernel, Output, Time};

/// One output of a node's kernel on its way to another node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The node it comes from.
    pub from: usize,
    /// The nd it is for, as `from` numbers that node.
    pub nd: Nd,
    /// The output.
    pub item: Output,
    /// For the answer of a forwarded call (a completion of a remote thread): the seq of the
    /// call it answers, which the serving daemon knows from the call's stream. 0 otherwise.
    pub answers: u64,
}

/// One node of a [`Net`].
#[derive(Debug)]
struct Node {
    kernel: Kernel,
    /// nd (as this node numbers the peer) → (peer index, the nd the peer uses for us).
    links: BTreeMap<Nd, (usize, Nd)>,
    /// Credentials its processes started with (they travel with forwarded calls).
    creds: BTreeMap<Pid, Credentials>,
    /// Its daemon's incarnation (a restart picks another).
    incarnation: u64,
}

/// Linked kernels and the packets between them.
#[derive(Debug, Default)]
pub struct Net {
    nodes: Vec<Node>,
    wire: VecDeque<Packet>,
    now: Time,
    incarnations: u64,
}

impl Net {
    /// No nodes yet; time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `kernel` as a node; its index.
    pub fn add(&mut self, kernel: Kernel) -> usize {
        self.incarnations += 1;
        self.nodes.push(Node {
            kernel,
            links: BTreeMap::new(),
            creds: BTreeMap::new(),
            incarnation: self.incarnations,
        });
        self.nodes.len() - 1
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s kernel.
    pub fn kernel(&self, i: usize) -> &Kernel {
        &self.nodes[i].kernel
    }

    /// Node `i`'s kernel, for inputs of its own (calls, exits).
    pub fn kernel_mut(&mut self, i: usize) -> &mut Kernel {
        &mut self.nodes[i].kernel
    }

    /// The virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Move time on by `by`: every kernel's due timeouts fire.
    pub fn advance(&mut self, by: Time) {
        self.now += by;
        for node in &mut self.nodes {
            node.kernel.handle_timeout(self.now);
        }
    }

    /// Start process `pid` on node `i` with `cred` (its forwarded calls carry them).
    pub fn start_process(&mut self, i: usize, pid: Pid, cred: Credentials) {
        let node = &mut self.nodes[i];
        node.creds.insert(pid, cred);
        node.kernel
            .handle_process_start(ProcessKey::local(pid), cred);
    }

    /// Make nodes `a` and `b` peers: `a` numbers `b` as `nd_a`, `b` numbers `a` as `nd_b`
    /// (each named as the other says it is called); both see the other up.
    pub fn link(&mut self, a: usize, nd_a: Nd, b: usize, nd_b: Nd) -> Result<(), Errno> {
        let name_a = self.name(a);
        let name_b = self.name(b);
        self.nodes[a].kernel.add_node(nd_a, &name_b)?;
        self.nodes[b].kernel.add_node(nd_b, &name_a)?;
        self.nodes[a].links.insert(nd_a, (b, nd_b));
        self.nodes[b].links.insert(nd_b, (a, nd_a));
        self.up(a, nd_a);
        self.up(b, nd_b);
        Ok(())
    }

    /// Node `i` sees a link to its peer `nd` come up (a no-op if it is up already).
    /// `false`: `nd` is not linked.
    pub fn up(&mut self, i: usize, nd: Nd) -> bool {
        let Some(&(peer, back)) = self.nodes[i].links.get(&nd) else {
            return false;
        };
        let incarnation = self.nodes[peer].incarnation;
        self.nodes[i]
            .kernel
            .handle_node_up(self.now, nd, back, incarnation);
        true
    }

    /// Node `i` loses its last link to its peer `nd`.
    pub fn down(&mut self, i: usize, nd: Nd) {
        self.nodes[i].kernel.handle_node_down(self.now, nd);
    }

    /// Node `i` restarts as `kernel` (named as before, its peers configured again with the
    /// same nds, a new incarnation), and its peers see a link from it come up, before any
    /// down of the old one. Packets to and from the old node die with its links; their
    /// number.
    pub fn restart(&mut self, i: usize, mut kernel: Kernel) -> usize {
        let name = self.name(i);
        kernel.set_local_node_name(&name);
        let links = self.nodes[i].links.clone();
        for (&nd, &(peer, _)) in &links {
            let _ = kernel.add_node(nd, &self.name(peer));
        }
        self.incarnations += 1;
        let node = &mut self.nodes[i];
        node.kernel = kernel;
        node.creds.clear();
        node.incarnation = self.incarnations;
        let nodes = &self.nodes;
        let (lost, kept): (VecDeque<Packet>, VecDeque<Packet>) = self
            .wire
            .drain(..)
            .partition(|p| p.from == i || nodes[p.from].links.get(&p.nd).map(|l| l.0) == Some(i));
        self.wire = kept;
        for p in lost.iter().filter(|p| p.from != i) {
            self.left_wire(p);
        }
        let lost = lost.len();
        for (&nd, &(peer, back)) in &links {
            self.up(peer, back);
            self.up(i, nd);
        }
        lost
    }

    /// Put every output of node `i` on the wire or show it: `seen` gets each output in order
    /// (completions of local threads only go there).
    pub fn drain(&mut self, i: usize, mut seen: impl FnMut(&Output)) {
        while let Some(item) = self.nodes[i].kernel.poll_output() {
            seen(&item);
            let (nd, answers) = match &item {
                Output::Complete { thread, .. } if thread.nd == 0 => continue,
                Output::Complete { thread, .. } => (
                    thread.nd,
                    self.nodes[i].kernel.served_seq(*thread).unwrap_or(0),
                ),
                Output::Forward { nd, .. }
                | Output::ForwardUnblock { nd, .. }
                | Output::ForwardPulse { nd, .. }
                | Output::Notify { nd, .. } => (*nd, 0),
            };
            self.wire.push_back(Packet {
                from: i,
                nd,
                item,
                answers,
            });
        }
    }

    /// The packets on the wire, oldest first.
    pub fn wire(&self) -> &VecDeque<Packet> {
        &self.wire
    }

    /// Take the `n`th packet (0: the oldest) off the wire.
    pub fn take(&mut self, n: usize) -> Option<Packet> {
        let packet = self.wire.remove(n)?;
        self.left_wire(&packet);
        Some(packet)
    }

    /// Lose every packet on the wire; how many.
    pub fn clear_wire(&mut self) -> usize {
        let lost: Vec<Packet> = self.wire.drain(..).collect();
        for p in &lost {
            self.left_wire(p);
        }
        lost.len()
    }

    /// A one-way pulse leaving the wire has left its node's queue.
    fn left_wire(&mut self, packet: &Packet) {
        if let Output::ForwardPulse { nd, .. } = packet.item {
            self.nodes[packet.from].kernel.handle_pulses_sent(nd, 1);
        }
    }

    /// The node `packet` goes to, if its sender has a link with that nd.
    pub fn destination(&self, packet: &Packet) -> Option<usize> {
        self.nodes[packet.from]
            .links
            .get(&packet.nd)
            .map(|&(to, _)| to)
    }

    /// Hand `packet` to its node as that node's daemon would; the node it went to (`None`:
    /// no link, it is lost). The receiving node's outputs are left to [`Net::drain`].
    pub fn deliver(&mut self, packet: Packet) -> Option<usize> {
        let from = packet.from;
        let &(to, back) = self.nodes[from].links.get(&packet.nd)?;
        let now = self.now;
        let remote = |t: ThreadKey| ThreadKey {
            nd: back,
            pid: t.pid,
            tid: t.tid,
        };
        match packet.item {
            Output::Complete { thread, result } => {
                let local = ThreadKey::local(thread.pid, thread.tid);
                self.nodes[to]
                    .kernel
                    .handle_forward_result(now, local, packet.answers, result);
            }
            Output::Forward {
                thread, seq, call, ..
            } => {
                let cred = self.nodes[from]
                    .creds
                    .get(&thread.pid)
                    .copied()
                    .unwrap_or_default();
                self.nodes[to]
                    .kernel
                    .handle_remote_call(now, remote(thread), seq, cred, call);
            }
            Output::ForwardUnblock { thread, seq, .. } => {
                self.nodes[to]
                    .kernel
                    .handle_remote_unblock(now, remote(thread), seq);
            }
            Output::Notify { notice, .. } => {
                self.nodes[to].kernel.handle_notice(now, back, notice);
            }
            Output::ForwardPulse { thread, pulse, .. } => {
                // Best effort: a refusal is counted there, never reported back.
                let _ = self.nodes[to]
                    .kernel
                    .handle_remote_pulse(now, remote(thread), pulse);
            }
        }
        Some(to)
    }

    /// The name node `i` answers to.
    fn name(&self, i: usize) -> String {
        self.nodes[i].kernel.node_name(0).unwrap_or("").to_owned()
    }
}
