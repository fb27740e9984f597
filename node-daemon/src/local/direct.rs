//! The daemon's side of the direct path (`qnet-direct`): it makes the segments, vouches for
//! each pair's client in the serving process's table, publishes what the kernel holds for
//! each direct channel, and settles the calls of processes that die. It is never woken for an
//! ordinary direct call.
//!
//! [`DirectRegistry`] lives in the driver's state, under the kernel's lock, so that what it
//! does keeps its order with what the kernel does (a client's abandoned message gets its
//! unblock pulse before that client's disconnect pulse). The driver sees it as a
//! [`DirectPath`] (as it sees the peer layer as a `Network`), handed over by the server at
//! start: the local wing depends on the driver, never the reverse.
//!
//! ```text
//!            qnetd (authority: segments, credentials, deaths, kernel heads)
//!        DirectMap│fds          ▲ session sockets (deaths)     │DirectServe/DirectPair fds
//!                 ▼             │                              ▼
//!   client ── post in its pair, ring the bell ──► server (drains rings, takes, replies
//!          ◄── reply in the slot, futex wake ─────  in place; asks the kernel only for
//!                                                    what the kernel holds for it)
//! ```

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

use qnet_core::{Chid, Credentials, DirectHead, Errno, Pid, Scoid};
use qnet_direct::layout::{self, Kind, PAIRS_MAX, PairState, RING_CAP, SLOTS_MAX};
use qnet_direct::views::{Bells, KernelHead, Pair, PairInfo, Table};
use qnet_direct::{authority, segment};
use qnet_proto::codec::DirectGrant;

use crate::driver::{DirectPath, DirectStates, Refusal};

/// A direct channel's server: its segments and the pairs of its clients.
#[derive(Debug)]
struct ServerSegments {
    table_fd: OwnedFd,
    table_ro: OwnedFd,
    bells_fd: OwnedFd,
    table: Table,
    bells: Bells,
    channels: BTreeSet<Chid>,
    pairs: BTreeMap<u32, DaemonPair>,
    /// Indexes whose pair ended, reusable once the server released that generation.
    ended: BTreeMap<u32, u32>,
    /// Indexes never used yet start here.
    fresh: u32,
}

/// One pair, as the daemon keeps it while its client lives.
#[derive(Debug)]
struct DaemonPair {
    client: Pid,
    chid: Chid,
    scoid: Scoid,
    generation: u32,
    fd: OwnedFd,
    control: Pair,
}

/// Everything the daemon knows of the direct path.
#[derive(Debug)]
pub struct DirectRegistry {
    enabled: bool,
    servers: HashMap<Pid, ServerSegments>,
    /// Pairs by client: (server, index).
    clients: HashMap<Pid, BTreeSet<(Pid, u32)>>,
    /// Pulses a client may have queued on one pair.
    pulse_limit: u32,
    /// CLOCK_MONOTONIC of the driver's epoch, in ns (kernel times are offsets from it).
    epoch_ns: u64,
}

impl DirectRegistry {
    /// A registry; `enabled: false` (`--direct off`) refuses every request.
    pub fn new(enabled: bool, queued_pulses: u64, epoch_ns: u64) -> Self {
        let room = RING_CAP - 2 * SLOTS_MAX;
        Self {
            enabled,
            servers: HashMap::new(),
            clients: HashMap::new(),
            pulse_limit: queued_pulses.min(u64::from(room)) as u32,
            epoch_ns,
        }
    }

    /// Direct calls in progress, for `pidin`: `(client pid, server pid, chid, call)`.
    pub fn blocked(&self) -> Vec<(Pid, Pid, Chid, authority::Blocked)> {
        let mut out = Vec::new();
        for (server, segs) in &self.servers {
            for p in segs.pairs.values() {
                for b in authority::blocked(&p.control) {
                    out.push((p.client, *server, p.chid, b));
                }
            }
        }
        out
    }

    /// Threads sleeping in a direct receive, for `pidin`: `(server pid, chid, tid)`, the tid
    /// with [`qnet_direct::views::CELL_INHERITED`] set if it runs at an inherited priority.
    pub fn receiving(&self) -> Vec<(Pid, Chid, u32)> {
        let mut out = Vec::new();
        for (server, segs) in &self.servers {
            for &chid in &segs.channels {
                let Some(ch) = segs.table.channel(chid) else {
                    continue;
                };
                for i in 0..qnet_direct::views::RECEIVER_CELLS {
                    let tid = ch.receiver_cell(i).map_or(0, |c| c.load(Ordering::Relaxed));
                    if tid != 0 {
                        out.push((*server, chid, tid));
                    }
                }
            }
        }
        out
    }

    /// Descriptors the registry holds (for the bench's descriptor rows).
    pub fn descriptors(&self) -> usize {
        self.servers.values().map(|s| 3 + s.pairs.len()).sum()
    }
}

/// What the driver asks of the direct path, under the kernel's lock.
impl DirectPath for DirectRegistry {
    /// The layout version offered at the hello (0: off).
    fn offered(&self) -> u32 {
        if self.enabled { layout::VERSION } else { 0 }
    }

    /// `server` serves `chid` (which the kernel has made direct, with `flags`) directly:
    /// the grant and the table (read-write) and bells to hand over.
    fn serve(
        &mut self,
        server: Pid,
        chid: Chid,
        flags: u32,
    ) -> Result<(DirectGrant, [OwnedFd; 2]), Refusal> {
        if !self.enabled {
            return Err((Errno::ENOTSUP, "the direct path is off (--direct off)"));
        }
        if !(1..layout::CHANNELS_MAX as Chid).contains(&chid) {
            return Err((Errno::ENOTSUP, "chid beyond the direct path's table"));
        }
        let segs = match self.servers.entry(server) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(ServerSegments::new(server).map_err(|e| {
                tracing::warn!(pid = server, error = %e, "cannot make direct segments");
                (Errno::ENOMEM, "cannot make the direct segments")
            })?),
        };
        if let Some(ch) = segs.table.channel(chid) {
            ch.set_live(flags);
        }
        segs.channels.insert(chid);
        let fds = [dup(&segs.table_fd)?, dup(&segs.bells_fd)?];
        let grant = DirectGrant {
            layout: layout::VERSION,
            chid,
            server_pid: server,
            flags,
            ..Default::default()
        };
        Ok((grant, fds))
    }

    /// `client` (with `cred`) wants the pair for its connection to `chid` of `server`
    /// (scoid `scoid`, channel `flags`): made now if it has none. The grant and the pair,
    /// the server's table (read-only) and bells to hand over.
    fn map(
        &mut self,
        client: Pid,
        cred: Credentials,
        target: (Pid, Chid, Scoid, u32),
    ) -> Result<(DirectGrant, [OwnedFd; 3], bool), Refusal> {
        let (server, chid, scoid, flags) = target;
        if !self.enabled {
            return Err((Errno::ENOTSUP, "the direct path is off (--direct off)"));
        }
        let pulse_limit = self.pulse_limit;
        let segs = self
            .servers
            .get_mut(&server)
            .filter(|s| s.channels.contains(&chid))
            .ok_or((Errno::ENOTSUP, "the channel is not served directly"))?;
        let existing = segs
            .pairs
            .iter()
            .find(|(_, p)| p.client == client && p.chid == chid)
            .map(|(i, _)| *i);
        let made = existing.is_none();
        let index = match existing {
            Some(i) => i,
            None => {
                let index = segs.allocate().ok_or((
                    Errno::EAGAIN,
                    "the server has no room for another direct pair",
                ))?;
                let generation = segs.next_generation(index);
                let name =
                    CString::new(format!("qnet-pair-{server}-{client}-{chid}")).unwrap_or_default();
                let (fd, control) = segment::create(
                    &name,
                    Kind::Pair,
                    layout::PAIR_LEN,
                    layout::PAIR_CONTROL_LEN,
                )
                .map_err(|e| {
                    tracing::warn!(client, server, error = %e, "cannot make a direct pair");
                    (Errno::ENOMEM, "cannot make the pair segment")
                })?;
                let control = Pair::new(control);
                control.set_identity(index, generation);
                if let Some(e) = segs.table.pair(index) {
                    e.fill(&PairInfo {
                        generation,
                        state: PairState::Live,
                        chid,
                        pid: client,
                        uid: cred.uid,
                        gid: cred.gid,
                        scoid,
                        pulse_limit,
                    });
                }
                if let Some(ch) = segs.table.channel(chid) {
                    ch.pairs_seq().fetch_add(1, Ordering::Release);
                }
                segs.pairs.insert(
                    index,
                    DaemonPair {
                        client,
                        chid,
                        scoid,
                        generation,
                        fd,
                        control,
                    },
                );
                self.clients
                    .entry(client)
                    .or_default()
                    .insert((server, index));
                index
            }
        };
        let segs = self.servers.get(&server).ok_or((Errno::ESRCH, "gone"))?;
        let pair = segs.pairs.get(&index).ok_or((Errno::ESRCH, "gone"))?;
        let fds = [dup(&pair.fd)?, dup(&segs.table_ro)?, dup(&segs.bells_fd)?];
        let grant = DirectGrant {
            layout: layout::VERSION,
            index,
            generation: pair.generation,
            chid,
            server_pid: server,
            flags,
        };
        Ok((grant, fds, made))
    }

    /// The table's count of pairs made for `chid` of `server` (`None`: not served directly).
    fn pairs_seq(&self, server: Pid, chid: Chid) -> Option<u32> {
        let segs = self.servers.get(&server)?;
        segs.channels.contains(&chid).then_some(())?;
        Some(
            segs.table
                .channel(chid)?
                .pairs_seq()
                .load(Ordering::Acquire),
        )
    }

    /// `server` wants the segment of its pair `index`.
    fn pair(&self, server: Pid, index: u32) -> Result<(DirectGrant, [OwnedFd; 1]), Refusal> {
        let segs = self
            .servers
            .get(&server)
            .ok_or((Errno::ESRCH, "not a direct server"))?;
        let pair = segs
            .pairs
            .get(&index)
            .ok_or((Errno::ESRCH, "no such pair"))?;
        let grant = DirectGrant {
            layout: layout::VERSION,
            index,
            generation: pair.generation,
            chid: pair.chid,
            server_pid: server,
            flags: 0,
        };
        Ok((grant, [dup(&pair.fd)?]))
    }

    /// Publish what the kernel holds for a direct channel, and wake its sleeping receivers.
    fn publish(&self, head: DirectHead) {
        let Some(segs) = self.servers.get(&head.server) else {
            return;
        };
        let Some(ch) = segs.table.channel(head.chid) else {
            return;
        };
        let (priority, stamp) = head.first.map_or((0, 0), |(p, t)| {
            (u32::from(p), self.epoch_ns + t.as_nanos() as u64)
        });
        ch.publish_kernel_head(KernelHead {
            count: head.count.min(u32::MAX as usize) as u32,
            priority,
            stamp,
        });
        segs.ring(head.chid);
    }

    /// `chid` of `server` is gone (destroyed, or its name detached): its clients' calls in
    /// progress fail `ESRCH` and their later sends `EBADF`.
    fn channel_gone(&mut self, server: Pid, chid: Chid) {
        let Some(segs) = self.servers.get_mut(&server) else {
            return;
        };
        if !segs.channels.remove(&chid) {
            return;
        }
        if let Some(ch) = segs.table.channel(chid) {
            ch.clear();
        }
        let gone: Vec<u32> = segs
            .pairs
            .iter()
            .filter(|(_, p)| p.chid == chid)
            .map(|(i, _)| *i)
            .collect();
        for index in gone {
            if let Some(p) = segs.end_pair(index, PairState::Dead) {
                authority::kill_slots(&p.control, Errno::ESRCH.0);
                if let Some(set) = self.clients.get_mut(&p.client) {
                    set.remove(&(server, index));
                }
            }
        }
        // The entry is cleared (no cells shown): every lane.
        qnet_direct::views::wake_every(&segs.bells, chid);
    }

    /// Local process `pid` is gone. As a server: every call in progress on its pairs fails
    /// `ESRCH`, its segments go. As a client: its calls in progress are settled (a received
    /// one is abandoned: `abandoned(server, chid, scoid, priority, rcvid)` is called for each,
    /// so that the kernel sends the unblock pulse an `_NTO_CHF_UNBLOCK` channel wants), and
    /// its pairs close.
    fn process_gone(&mut self, pid: Pid, abandoned: &mut dyn FnMut(Pid, Chid, Scoid, u32, i32)) {
        if let Some(segs) = self.servers.remove(&pid) {
            for (index, p) in &segs.pairs {
                // Dead first, then the slots: a client posting meanwhile either sees the
                // pair dead after its post or has its post failed here (`kill_slots`).
                if let Some(e) = segs.table.pair(*index) {
                    e.set_state(p.generation, PairState::Dead);
                }
                authority::kill_slots(&p.control, Errno::ESRCH.0);
                if let Some(set) = self.clients.get_mut(&p.client) {
                    set.remove(&(pid, *index));
                }
            }
        }
        for (server, index) in self.clients.remove(&pid).unwrap_or_default() {
            let Some(segs) = self.servers.get_mut(&server) else {
                continue;
            };
            let Some(p) = segs.end_pair(index, PairState::Closed) else {
                continue;
            };
            for (rcvid, priority) in authority::abandon_slots(&p.control) {
                abandoned(server, p.chid, p.scoid, priority, rcvid);
            }
            segs.ring(p.chid);
        }
    }

    /// Local `client` may have detached its last connection to a direct channel:
    /// `connected(server, chid)` says whether it still has one. Pairs without one close.
    fn connections_changed(&mut self, client: Pid, connected: &dyn Fn(Pid, Chid) -> bool) {
        let Some(pairs) = self.clients.get(&client) else {
            return;
        };
        let mut closed = Vec::new();
        for &(server, index) in pairs {
            let Some(segs) = self.servers.get(&server) else {
                continue;
            };
            if let Some(p) = segs.pairs.get(&index) {
                if !connected(server, p.chid) {
                    closed.push((server, index));
                }
            }
        }
        for (server, index) in closed {
            if let Some(segs) = self.servers.get_mut(&server) {
                if let Some(p) = segs.end_pair(index, PairState::Closed) {
                    segs.ring(p.chid);
                }
            }
            if let Some(set) = self.clients.get_mut(&client) {
                set.remove(&(server, index));
            }
        }
    }

    /// The server boost of a send at `priority` to `chid` of `server`: the runner's tid if it
    /// runs below `priority` (then recorded as running at it, so that other senders do not
    /// ask again).
    fn boost(&self, server: Pid, chid: Chid, priority: u8) -> Option<u32> {
        let ch = self.servers.get(&server)?.table.channel(chid)?;
        let (tid, running) = ch.runner();
        if tid == 0 || u32::from(priority) <= running {
            return None;
        }
        ch.set_run_priority(u32::from(priority));
        Some(tid)
    }

    fn states(&self) -> DirectStates {
        DirectStates {
            blocked: self.blocked(),
            receiving: self.receiving(),
        }
    }

    fn receiving_on(&self, server: Pid, chid: Chid) -> bool {
        self.servers
            .get(&server)
            .and_then(|s| s.table.channel(chid))
            .is_some_and(|ch| ch.waiters().load(Ordering::SeqCst) > 0)
    }
}

impl ServerSegments {
    fn new(server: Pid) -> io::Result<Self> {
        let name = CString::new(format!("qnet-table-{server}")).unwrap_or_default();
        let (table_fd, tmap) =
            segment::create(&name, Kind::Table, layout::TABLE_LEN, layout::TABLE_LEN)?;
        let table_ro = segment::read_only(&table_fd)?;
        let name = CString::new(format!("qnet-bells-{server}")).unwrap_or_default();
        let (bells_fd, bmap) =
            segment::create(&name, Kind::Bells, layout::BELLS_LEN, layout::BELLS_LEN)?;
        Ok(Self {
            table_fd,
            table_ro,
            bells_fd,
            table: Table::new(tmap),
            bells: Bells::new(bmap),
            channels: BTreeSet::new(),
            pairs: BTreeMap::new(),
            ended: BTreeMap::new(),
            fresh: 0,
        })
    }

    /// A free pair index: one whose last pair the server let go of, else a fresh one.
    fn allocate(&mut self) -> Option<u32> {
        let released = self.ended.iter().find(|(index, generation)| {
            self.table
                .pair(**index)
                .is_some_and(|e| e.released().load(Ordering::Acquire) == **generation)
        });
        if let Some((&index, _)) = released {
            self.ended.remove(&index);
            return Some(index);
        }
        (self.fresh < PAIRS_MAX).then(|| {
            self.fresh += 1;
            self.fresh - 1
        })
    }

    fn next_generation(&self, index: u32) -> u32 {
        let old = self.table.pair(index).map_or(0, |e| e.state().0);
        (old + 1) & 0x00ff_ffff
    }

    /// The pair at `index` ends in `state` (Closed: its client is gone; Dead: its channel):
    /// the daemon lets go of its segment, the server drains it and lets go too.
    fn end_pair(&mut self, index: u32, state: PairState) -> Option<DaemonPair> {
        let p = self.pairs.remove(&index)?;
        if let Some(e) = self.table.pair(index) {
            e.set_state(p.generation, state);
        }
        self.ended.insert(index, p.generation);
        Some(p)
    }

    /// Ring `chid`'s bell so that its receivers look (new kernel head, a pair ended).
    fn ring(&self, chid: Chid) {
        qnet_direct::views::wake_one(&self.table, &self.bells, chid);
    }
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, Refusal> {
    fd.try_clone().map_err(|_| {
        (
            Errno::EAGAIN,
            "qnetd is out of file descriptors: raise its LimitNOFILE",
        )
    })
}
