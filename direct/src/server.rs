//! The serving side: [`Served`], one serving process's view of its direct channels. It drains
//! its clients' rings into a queue per channel (priority, then arrival), takes messages by
//! moving their slot's word, and answers them in place. It never trusts what a client wrote:
//! every index, length and state read from a pair is checked, and whatever a client scribbled
//! only affects that client's own calls.
//!
//! The library holds it under one mutex per process; it sleeps outside that mutex with
//! [`Served::sleep`].

use std::cmp::Ordering as Cmp;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::futex::{self, Wake};
use crate::layout::{
    EntryKind, MAX_PIECES, PairState, REPLY_AREA, RING_CAP, SEND_AREA, SLOTS_MAX, sl,
};
use crate::slot::{self, FAILED, POSTED, RECEIVED, REPLIED, SLEEPING};
use crate::views::{Bells, Pair, PairInfo, Table};

/// `_PULSE_CODE_UNBLOCK`.
pub const PULSE_CODE_UNBLOCK: i8 = -32;
/// Direct rcvids live here and above (the daemon's kernel gives out rcvids below it).
pub const RCVID_BASE: i32 = 1 << 30;

/// Whether thread `tid` of process `pid` runs a real-time policy, as the kernel says (a tid
/// that is not `pid`'s reads as not real-time). A client's claim in its slot is checked with
/// this before a server lends itself a real-time policy for it.
#[allow(unsafe_code)]
pub fn sender_realtime(pid: u32, tid: u32) -> bool {
    let (Ok(pid), Ok(tid)) = (i32::try_from(pid), i32::try_from(tid)) else {
        return false;
    };
    // SAFETY: plain system calls on ids; signal 0 only checks that `tid` is `pid`'s.
    unsafe {
        let policy = libc::sched_getscheduler(tid);
        if policy < 0 {
            return false;
        }
        let policy = policy & !libc::SCHED_RESET_ON_FORK;
        let belongs = libc::syscall(libc::SYS_tgkill, pid, tid, 0) == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        (policy == libc::SCHED_FIFO || policy == libc::SCHED_RR) && belongs
    }
}

/// Whether `rcvid` names a direct message (not one of the daemon's kernel).
pub fn is_direct_rcvid(rcvid: i32) -> bool {
    rcvid >= RCVID_BASE
}

/// Errors of answering and inspecting a direct message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// No such message held (answered, abandoned by its client, or never received): `ESRCH`.
    NoMessage,
}

/// What a receive took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// A message, now REPLY-blocked on this process.
    Message(TakenMessage),
    /// A pulse (a client's, or its unblock request).
    Pulse {
        /// Code.
        code: i8,
        /// Value.
        value: i32,
        /// Priority it was sent at.
        priority: u32,
        /// The sender's scoid.
        scoid: i32,
    },
}

/// A received direct message: everything `_msg_info` needs, credentials from the daemon's
/// pair entry, the rest as the client said it (tid, priority, coid, lengths: a client that
/// lies misleads only its own calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakenMessage {
    /// The rcvid.
    pub rcvid: i32,
    /// The client (daemon-vouched).
    pub pid: u32,
    /// Its uid (daemon-vouched).
    pub uid: u32,
    /// Its gid (daemon-vouched).
    pub gid: u32,
    /// Its scoid (daemon-vouched).
    pub scoid: i32,
    /// Its thread.
    pub tid: u32,
    /// Its coid.
    pub coid: i32,
    /// Its priority.
    pub priority: u32,
    /// Bytes it sent.
    pub send_len: u32,
    /// Its reply buffer's size.
    pub reply_cap: u32,
    /// Bytes the receive delivered (the library sets it: [`Served::set_msglen`]).
    pub msglen: u32,
    /// The client runs a real-time policy: its claim, checked with the kernel
    /// ([`sender_realtime`]).
    pub realtime: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    Message { slot: u32, generation: u32 },
    Pulse { code: i8, value: i32 },
    Unblock { slot: u32, generation: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    priority: u32,
    stamp: u64,
    seq: u64,
    pair: u32,
    what: What,
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> Cmp {
        // BinaryHeap is a max-heap: higher priority first, then earlier, then posted first.
        self.priority
            .cmp(&other.priority)
            .then(other.stamp.cmp(&self.stamp))
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Cmp> {
        Some(self.cmp(other))
    }
}

/// A fixed set of slot numbers.
#[derive(Debug)]
struct SlotSet(Vec<u64>);

impl SlotSet {
    fn new() -> Self {
        Self(vec![0; SLOTS_MAX as usize / 64])
    }
    fn insert(&mut self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }
    fn remove(&mut self, i: u32) {
        self.0[(i / 64) as usize] &= !(1 << (i % 64));
    }
}

#[derive(Debug)]
struct ServerPair {
    pair: Pair,
    info: PairInfo,
    /// Entries consumed (our own count: the shared one is for the client's room check).
    head: u32,
    queued: SlotSet,
    unblocks: SlotSet,
    /// Pulses drained and not yet received.
    pulses: u32,
    /// Pulses received (published for the client's limit).
    pulses_taken: u32,
    /// Messages held (received, unanswered).
    held: u32,
}

#[derive(Debug, Default)]
struct Queue {
    heap: BinaryHeap<Item>,
    pairs: BTreeSet<u32>,
    /// The table's pair count for this channel when last looked at.
    pairs_seen: u32,
    /// Pairs the table lists that a thread of this process is fetching.
    fetching: BTreeSet<u32>,
}

#[derive(Debug)]
struct Held {
    pair: u32,
    slot: u32,
    generation: u32,
    chid: i32,
    msg: TakenMessage,
    /// Written reply pieces: sorted, disjoint.
    pieces: Vec<(u32, u32)>,
    unblock_requested: bool,
}

/// One serving process's direct state.
#[derive(Debug)]
pub struct Served {
    table: Arc<Table>,
    bells: Arc<Bells>,
    pairs: HashMap<u32, ServerPair>,
    queues: HashMap<i32, Queue>,
    held: HashMap<i32, Held>,
    next_rcvid: i32,
    seq: u64,
    /// When the last drain ended: a new entry's stamp is clamped to after it, so a client
    /// that forges early stamps cannot overtake what already waits at its priority.
    last_drain: u64,
    /// Pairs attached since the last drain (a client may have posted before the server
    /// mapped its pair, and its hint is gone by then).
    fresh: Vec<u32>,
}

/// How [`Served::sleep`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slept {
    /// It did not sleep: `ready` said there is work (drain every pair of the channel next:
    /// the work may be in a ring whose hint another client cleared).
    Ready,
    /// It slept and was woken (or the bell had already moved), or a waker claimed it: a
    /// receive that leaves without taking anything then passes the wake-up on.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal handler ran in this thread and nobody claimed it: the receive fails `EINTR`,
    /// as QNX's does.
    Signal,
}

impl Served {
    /// A process's table and bells, mapped read-write.
    pub fn new(table: Table, bells: Bells) -> Self {
        Self {
            table: Arc::new(table),
            bells: Arc::new(bells),
            pairs: HashMap::new(),
            queues: HashMap::new(),
            held: HashMap::new(),
            next_rcvid: RCVID_BASE,
            seq: 0,
            last_drain: 0,
            fresh: Vec::new(),
        }
    }

    /// The table (shared: a receiver sleeps with it outside the lock around `self`).
    pub fn table(&self) -> Arc<Table> {
        self.table.clone()
    }

    /// The bells (shared, as the table).
    pub fn bells(&self) -> Arc<Bells> {
        self.bells.clone()
    }

    /// Start serving `chid` here (the daemon has made it live).
    pub fn add_channel(&mut self, chid: i32) {
        self.queues.entry(chid).or_default();
    }

    /// Whether `chid` is served here.
    pub fn serves(&self, chid: i32) -> bool {
        self.queues.contains_key(&chid)
    }

    /// Whether pair `index` is mapped here (with its current generation).
    pub fn has_pair(&self, index: u32) -> bool {
        let Some(sp) = self.pairs.get(&index) else {
            return false;
        };
        self.table
            .pair(index)
            .is_some_and(|e| e.state().0 == sp.info.generation)
    }

    /// Pairs of `chid` the table lists that are not mapped here yet (fetch their segments
    /// from the daemon, then [`Self::attach`]). Looks at the table only when the daemon's
    /// count of pairs for the channel moved.
    pub fn new_pairs(&mut self, chid: i32) -> Vec<u32> {
        let Some(ch) = self.table.channel(chid) else {
            return Vec::new();
        };
        let seen = ch.pairs_seq().load(Ordering::Acquire);
        let Some(q) = self.queues.get_mut(&chid) else {
            return Vec::new();
        };
        if q.pairs_seen == seen {
            return Vec::new();
        }
        q.pairs_seen = seen;
        let mut out = Vec::new();
        for index in 0..crate::layout::PAIRS_MAX {
            let Some(e) = self.table.pair(index) else {
                break;
            };
            let (generation, state) = e.state();
            if state == PairState::Live
                && e.info().chid == chid
                && self
                    .pairs
                    .get(&index)
                    .is_none_or(|p| p.info.generation != generation)
            {
                out.push(index);
            }
        }
        if let Some(q) = self.queues.get_mut(&chid) {
            q.fetching.extend(out.iter().copied());
        }
        out
    }

    /// Map pair `index` (its segment from the daemon). Refused when the segment is not the
    /// one the table's entry names.
    pub fn attach(&mut self, index: u32, pair: Pair) -> bool {
        let Some(entry) = self.table.pair(index) else {
            return false;
        };
        let info = entry.info();
        if pair.identity() != (index, info.generation) || !pair.has_data() {
            return false;
        }
        // Drained at the next drain, whatever hint its client's posts left (another thread
        // may have taken that hint while the pair was not mapped yet).
        self.fresh.push(index);
        if let Some(old) = self.pairs.get(&index) {
            if old.info.generation == info.generation {
                // Mapped already (two threads fetched it): keep the one in use.
                if let Some(q) = self.queues.get_mut(&info.chid) {
                    q.fetching.remove(&index);
                }
                return true;
            }
            if old.held > 0 {
                return false;
            }
            if let Some(q) = self.queues.get_mut(&old.info.chid) {
                q.pairs.remove(&index);
            }
        }
        let Some(q) = self.queues.get_mut(&info.chid) else {
            return false;
        };
        q.fetching.remove(&index);
        q.pairs.insert(index);
        let head = pair.head().load(Ordering::Relaxed);
        let pulses_taken = pair.pulses_taken().load(Ordering::Relaxed);
        self.pairs.insert(
            index,
            ServerPair {
                pair,
                info,
                head,
                queued: SlotSet::new(),
                unblocks: SlotSet::new(),
                pulses: 0,
                pulses_taken,
                held: 0,
            },
        );
        true
    }

    /// Move what clients posted into the queues: hinted pairs (any channel), and every pair
    /// of `chid` when `all`. Returns pair indexes hinted but not mapped, and the other
    /// channels that gained items (wake their sleepers with [`Self::ring`]).
    pub fn drain(&mut self, chid: i32, all: bool) -> (Vec<u32>, Vec<i32>) {
        let now = crate::now_ns();
        let mut hinted = Vec::new();
        self.bells.take_hints(|i| hinted.push(i));
        hinted.append(&mut self.fresh);
        hinted.sort_unstable();
        hinted.dedup();
        let mut unknown = Vec::new();
        let mut others = Vec::new();
        for index in hinted {
            if !self.pairs.contains_key(&index) {
                unknown.push(index);
                continue;
            }
            let (c, added) = self.drain_pair(index, now);
            if added && c != chid && !others.contains(&c) {
                others.push(c);
            }
        }
        if all {
            let pairs: Vec<u32> = self
                .queues
                .get(&chid)
                .map(|q| q.pairs.iter().copied().collect())
                .unwrap_or_default();
            for index in pairs {
                self.drain_pair(index, now);
            }
        }
        self.last_drain = now;
        (unknown, others)
    }

    /// Drain one pair's ring into its channel's queue; returns the channel and whether
    /// anything was added.
    fn drain_pair(&mut self, index: u32, now: u64) -> (i32, bool) {
        let floor = self.last_drain;
        let Some(sp) = self.pairs.get_mut(&index) else {
            return (0, false);
        };
        let chid = sp.info.chid;
        let Some(q) = self.queues.get_mut(&chid) else {
            return (chid, false);
        };
        let tail = sp.pair.tail().load(Ordering::Acquire);
        let avail = tail.wrapping_sub(sp.head).min(RING_CAP);
        let mut added = false;
        for _ in 0..avail {
            let e = sp.pair.read_entry(sp.head);
            let what = match e.kind {
                k if k == EntryKind::Message as u32 => {
                    if e.a >= SLOTS_MAX || !sp.queued.insert(e.a) {
                        None
                    } else {
                        Some(What::Message {
                            slot: e.a,
                            generation: e.b,
                        })
                    }
                }
                k if k == EntryKind::Pulse as u32 => {
                    if sp.pulses >= sp.info.pulse_limit {
                        // Leave it in the ring: the client's own pulses wait, nothing grows.
                        break;
                    }
                    sp.pulses += 1;
                    Some(What::Pulse {
                        code: e.b as u8 as i8,
                        value: e.a as i32,
                    })
                }
                k if k == EntryKind::Unblock as u32 => {
                    if e.a >= SLOTS_MAX || !sp.unblocks.insert(e.a) {
                        None
                    } else {
                        Some(What::Unblock {
                            slot: e.a,
                            generation: e.b,
                        })
                    }
                }
                _ => None,
            };
            sp.head = sp.head.wrapping_add(1);
            if let Some(what) = what {
                self.seq += 1;
                q.heap.push(Item {
                    priority: e.priority.min(255),
                    stamp: e.stamp.clamp(floor, now.max(floor)),
                    seq: self.seq,
                    pair: index,
                    what,
                });
                added = true;
            }
        }
        sp.pair.head().store(sp.head, Ordering::Release);
        (chid, added)
    }

    /// Whether something may wait for `chid`: a hint, a ring not drained, or items queued.
    /// (The kernel's head is the caller's to check.)
    pub fn has_work(&self, chid: i32) -> bool {
        if self.bells.any_hint() {
            return true;
        }
        let Some(q) = self.queues.get(&chid) else {
            return false;
        };
        if !q.heap.is_empty() {
            return true;
        }
        if self
            .table
            .channel(chid)
            .is_some_and(|c| c.pairs_seq().load(Ordering::Acquire) != q.pairs_seen)
        {
            return true;
        }
        q.pairs.iter().any(|i| {
            self.pairs
                .get(i)
                .is_some_and(|sp| sp.pair.tail().load(Ordering::Acquire) != sp.head)
        })
    }

    /// Pair `index` could not be fetched (its client is gone already): no longer awaited.
    pub fn fetch_failed(&mut self, index: u32) {
        for q in self.queues.values_mut() {
            q.fetching.remove(&index);
        }
    }

    /// `chid` has no direct client (no pair mapped or being fetched, none made since this
    /// process looked, nothing queued): the table's pair count it saw, for a receive that
    /// may then wait in the daemon's kernel instead (`None` otherwise).
    pub fn without_clients(&self, chid: i32) -> Option<u32> {
        let q = self.queues.get(&chid)?;
        let seq = self
            .table
            .channel(chid)?
            .pairs_seq()
            .load(Ordering::Acquire);
        let idle = q.pairs.is_empty() && q.fetching.is_empty() && q.heap.is_empty();
        (idle && seq == q.pairs_seen).then_some(seq)
    }

    /// Items queued for `chid` (some may have gone stale since they were drained).
    pub fn queued(&self, chid: i32) -> usize {
        self.queues.get(&chid).map_or(0, |q| q.heap.len())
    }

    /// The first item of `chid`'s queue that is still good: `(priority, stamp)`.
    pub fn best(&mut self, chid: i32) -> Option<(u32, u64)> {
        loop {
            let q = self.queues.get_mut(&chid)?;
            let top = *q.heap.peek()?;
            if self.still_good(&top) {
                return Some((top.priority, top.stamp));
            }
            self.pop_item(chid);
        }
    }

    fn still_good(&self, item: &Item) -> bool {
        let Some(sp) = self.pairs.get(&item.pair) else {
            return false;
        };
        match item.what {
            What::Pulse { .. } => true,
            What::Message { slot, generation } => sp.pair.slot(slot).is_some_and(|s| {
                let w = s.word().load(Ordering::Acquire);
                slot::generation(w) == generation && slot::state(w) == POSTED
            }),
            What::Unblock { slot, generation } => self
                .held
                .values()
                .any(|h| h.pair == item.pair && h.slot == slot && h.generation == generation),
        }
    }

    fn pop_item(&mut self, chid: i32) -> Option<Item> {
        let item = self.queues.get_mut(&chid)?.heap.pop()?;
        if let Some(sp) = self.pairs.get_mut(&item.pair) {
            match item.what {
                What::Message { slot, .. } => sp.queued.remove(slot),
                What::Unblock { slot, .. } => sp.unblocks.remove(slot),
                What::Pulse { .. } => {}
            }
        }
        Some(item)
    }

    fn next_rcvid(&mut self) -> i32 {
        loop {
            let r = self.next_rcvid;
            self.next_rcvid = if r == i32::MAX { RCVID_BASE } else { r + 1 };
            if !self.held.contains_key(&r) {
                return r;
            }
        }
    }

    /// Take the first good item of `chid`'s queue.
    pub fn take(&mut self, chid: i32) -> Option<Taken> {
        loop {
            let item = self.pop_item(chid)?;
            let Some(sp) = self.pairs.get_mut(&item.pair) else {
                continue;
            };
            match item.what {
                What::Pulse { code, value } => {
                    sp.pulses = sp.pulses.saturating_sub(1);
                    sp.pulses_taken = sp.pulses_taken.wrapping_add(1);
                    sp.pair
                        .pulses_taken()
                        .store(sp.pulses_taken, Ordering::Release);
                    return Some(Taken::Pulse {
                        code,
                        value,
                        priority: item.priority,
                        scoid: sp.info.scoid,
                    });
                }
                What::Unblock { slot, generation } => {
                    let scoid = sp.info.scoid;
                    let held = self.held.iter_mut().find(|(_, h)| {
                        h.pair == item.pair && h.slot == slot && h.generation == generation
                    });
                    if let Some((&rcvid, h)) = held {
                        h.unblock_requested = true;
                        return Some(Taken::Pulse {
                            code: PULSE_CODE_UNBLOCK,
                            value: rcvid,
                            priority: item.priority,
                            scoid,
                        });
                    }
                }
                What::Message { slot, generation } => {
                    let Some(s) = sp.pair.slot(slot) else {
                        continue;
                    };
                    // The client may set its SLEEPING bit (or cancel) meanwhile: try again
                    // while the word is still this call's and still POSTED.
                    let mut w = s.word().load(Ordering::Acquire);
                    let taken = loop {
                        if slot::generation(w) != generation || slot::state(w) != POSTED {
                            break false;
                        }
                        let received = (w & !0x7f) | RECEIVED;
                        #[cfg(test)]
                        tests::between_load_and_swap(s.word());
                        match s.word().compare_exchange(
                            w,
                            received,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        ) {
                            Ok(_) => break true,
                            Err(now) => w = now,
                        }
                    };
                    if !taken {
                        continue;
                    }
                    let info = sp.info;
                    let msg = TakenMessage {
                        rcvid: 0,
                        pid: info.pid,
                        uid: info.uid,
                        gid: info.gid,
                        scoid: info.scoid,
                        tid: s.field(sl::TID),
                        coid: s.field(sl::COID) as i32,
                        priority: item.priority,
                        send_len: s.field(sl::SEND_LEN).min(SEND_AREA as u32),
                        reply_cap: s.field(sl::REPLY_CAP).min(REPLY_AREA as u32),
                        msglen: 0,
                        realtime: s.field(sl::FLAGS) & crate::layout::SLOT_REALTIME != 0
                            && sender_realtime(info.pid, s.field(sl::TID)),
                    };
                    sp.held += 1;
                    let rcvid = self.next_rcvid();
                    if let Some(sp) = self.pairs.get(&item.pair) {
                        if let Some(s) = sp.pair.slot(slot) {
                            s.set_field(sl::RCVID, rcvid as u32);
                        }
                    }
                    let msg = TakenMessage { rcvid, ..msg };
                    self.held.insert(
                        rcvid,
                        Held {
                            pair: item.pair,
                            slot,
                            generation,
                            chid,
                            msg,
                            pieces: Vec::new(),
                            unblock_requested: false,
                        },
                    );
                    return Some(Taken::Message(msg));
                }
            }
        }
    }

    /// The message `rcvid`, if held here.
    pub fn message(&self, rcvid: i32) -> Option<(TakenMessage, bool)> {
        self.held.get(&rcvid).map(|h| (h.msg, h.unblock_requested))
    }

    /// The error `MsgError(rcvid, -1)` gives: `ETIMEDOUT` if the client asked to unblock
    /// for its timeout, else `EINTR`.
    fn unblock_cause(&self, rcvid: i32) -> i32 {
        let timed_out = self.held.get(&rcvid).is_some_and(|h| {
            h.unblock_requested
                && self
                    .pairs
                    .get(&h.pair)
                    .and_then(|sp| sp.pair.slot(h.slot))
                    .is_some_and(|s| s.field(sl::FLAGS) & crate::layout::SLOT_UNBLOCK_TIMEOUT != 0)
        });
        match timed_out {
            true => libc::ETIMEDOUT,
            false => libc::EINTR,
        }
    }

    /// Record how many bytes the receive of `rcvid` delivered (for `MsgInfo`).
    pub fn set_msglen(&mut self, rcvid: i32, msglen: u32) {
        if let Some(h) = self.held.get_mut(&rcvid) {
            h.msg.msglen = msglen;
        }
    }

    /// The channel message `rcvid` came on.
    pub fn channel_of(&self, rcvid: i32) -> Option<i32> {
        self.held.get(&rcvid).map(|h| h.chid)
    }

    /// `MsgRead`: copy the client's send buffer from `offset` into `dst`; bytes copied.
    pub fn read(&self, rcvid: i32, offset: usize, dst: &mut [u8]) -> Result<usize, AnswerError> {
        let h = self.held.get(&rcvid).ok_or(AnswerError::NoMessage)?;
        let sp = self.pairs.get(&h.pair).ok_or(AnswerError::NoMessage)?;
        let s = sp.pair.slot(h.slot).ok_or(AnswerError::NoMessage)?;
        let len = h.msg.send_len as usize;
        if offset >= len {
            return Ok(0);
        }
        let n = dst.len().min(len - offset);
        Ok(s.read_send(offset, &mut dst[..n]))
    }

    /// `MsgWrite`: write `src` at `offset` of the client's reply buffer (cut at its size);
    /// bytes written.
    pub fn write(&mut self, rcvid: i32, offset: usize, src: &[u8]) -> Result<usize, AnswerError> {
        let h = self.held.get_mut(&rcvid).ok_or(AnswerError::NoMessage)?;
        let cap = h.msg.reply_cap as usize;
        // Past the reply buffer nothing is written (QNX: the bytes actually written).
        let n = src.len().min(cap.saturating_sub(offset));
        if n == 0 {
            return Ok(0);
        }
        let sp = self.pairs.get(&h.pair).ok_or(AnswerError::NoMessage)?;
        let s = sp.pair.slot(h.slot).ok_or(AnswerError::NoMessage)?;
        s.write_reply(offset, &src[..n]);
        add_piece(&mut h.pieces, offset as u32, n as u32);
        Ok(n)
    }

    /// `MsgReply`: `parts` at offset 0, then the client wakes with `status`.
    pub fn reply(&mut self, rcvid: i32, status: i64, parts: &[&[u8]]) -> Result<(), AnswerError> {
        let mut at = 0;
        if !self.held.contains_key(&rcvid) {
            return Err(AnswerError::NoMessage);
        }
        for p in parts {
            let n = self.write(rcvid, at, p)?;
            at += p.len();
            if n < p.len() {
                break;
            }
        }
        self.finish(rcvid, REPLIED, status, 0)
    }

    /// `MsgError`: the client's `MsgSend` fails with `errno` (0: returns 0 with what
    /// `MsgWrite` put in its reply buffer).
    pub fn error(&mut self, rcvid: i32, errno: i32) -> Result<(), AnswerError> {
        // QNX 7.0.1's -1: the error of what asked to unblock (none asked: EINTR).
        let errno = match errno {
            -1 => self.unblock_cause(rcvid),
            e => e,
        };
        if errno == 0 {
            self.finish(rcvid, REPLIED, 0, 0)
        } else {
            self.finish(rcvid, FAILED, 0, errno)
        }
    }

    fn finish(
        &mut self,
        rcvid: i32,
        state: u32,
        status: i64,
        errno: i32,
    ) -> Result<(), AnswerError> {
        let h = self.held.remove(&rcvid).ok_or(AnswerError::NoMessage)?;
        let Some(sp) = self.pairs.get_mut(&h.pair) else {
            return Err(AnswerError::NoMessage);
        };
        sp.held = sp.held.saturating_sub(1);
        let s = sp.pair.slot(h.slot).ok_or(AnswerError::NoMessage)?;
        s.set_status(status);
        s.set_field(sl::ERRNO, errno as u32);
        s.set_pieces(&coalesce(h.pieces));
        let word = s.word();
        let mut w = word.load(Ordering::Acquire);
        loop {
            if slot::generation(w) != h.generation || slot::state(w) != RECEIVED {
                // The client gave up (timeout without _NTO_CHF_UNBLOCK, or its death).
                return Err(AnswerError::NoMessage);
            }
            match word.compare_exchange(
                w,
                slot::word(h.generation, state),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        if w & SLEEPING != 0 {
            futex::wake_all(word);
        }
        Ok(())
    }

    /// Ring `chid`'s bell (after [`Self::drain`] moved items to it from another thread).
    pub fn ring(&self, chid: i32) {
        crate::views::wake_one(&self.table, &self.bells, chid);
    }

    /// Items are left in `chid`'s queue after a take: wake the channel's other receivers, if
    /// any sleeps (they slept when the queue was empty; nothing else would wake them for
    /// what this drain moved in).
    pub fn pass_on(&self, chid: i32) {
        if self.queues.get(&chid).is_some_and(|q| !q.heap.is_empty()) {
            self.ring(chid);
        }
    }

    /// Let go of pairs whose client is gone and that hold nothing any more; the daemon may
    /// then reuse their index.
    pub fn release_closed(&mut self) {
        let done: Vec<u32> = self
            .pairs
            .iter()
            .filter(|(index, sp)| {
                let (generation, state) = self
                    .table
                    .pair(**index)
                    .map_or((u32::MAX, PairState::Dead), |e| e.state());
                (generation != sp.info.generation || state != PairState::Live)
                    && sp.held == 0
                    && sp.pulses == 0
                    && sp.pair.tail().load(Ordering::Acquire) == sp.head
            })
            .map(|(i, _)| *i)
            .collect();
        for index in done {
            if let Some(sp) = self.pairs.remove(&index) {
                if let Some(q) = self.queues.get_mut(&sp.info.chid) {
                    q.pairs.remove(&index);
                    q.heap.retain(|it| it.pair != index);
                }
                if let Some(e) = self.table.pair(index) {
                    e.released().store(sp.info.generation, Ordering::Release);
                }
            }
        }
    }

    /// Stop serving `chid` (destroyed): its queue and pairs go.
    pub fn remove_channel(&mut self, chid: i32) {
        if let Some(q) = self.queues.remove(&chid) {
            for index in q.pairs {
                if let Some(sp) = self.pairs.remove(&index) {
                    if let Some(e) = self.table.pair(index) {
                        e.released().store(sp.info.generation, Ordering::Release);
                    }
                }
            }
        }
        self.held.retain(|_, h| h.chid != chid);
    }

    /// Sleep until something may have come for `chid`, or `timeout`. The thread shows itself
    /// in a receiver cell of the channel (pidin; with `inherited`, the flag) and sleeps on that
    /// cell's lane of the bells, so that a post wakes it alone ([`crate::views::wake_one`]);
    /// with every cell taken, on the channel's bell. `ready` is asked after the thread counts
    /// as waiting and before it sleeps, so a post it did not see wakes it. Called without
    /// the lock around the [`Served`]; `ready` takes it itself.
    ///
    /// [`Slept::Woken`] also means "claimed": a waker counted on this thread for what it
    /// posted, so a receive that leaves without taking anything passes the wake-up on
    /// ([`crate::views::wake_one`]). `handlers` is [`crate::signals::count`] at the
    /// receive's start: a wrapped signal handler run since makes it [`Slept::Signal`] without
    /// sleeping (or the caller sees the count move when a waker's claim hides it).
    #[allow(clippy::too_many_arguments)]
    pub fn sleep(
        table: &Table,
        bells: &Bells,
        chid: i32,
        tid: u32,
        inherited: bool,
        timeout: Option<Duration>,
        handlers: u64,
        ready: impl FnOnce() -> bool,
    ) -> Slept {
        let (Some(ch), Some(bell)) = (table.channel(chid), bells.bell(chid)) else {
            return Slept::Ready;
        };
        ch.waiters().fetch_add(1, Ordering::SeqCst);
        let shown = match inherited {
            true => tid | crate::views::CELL_INHERITED,
            false => tid,
        };
        let cell = (0..crate::views::RECEIVER_CELLS).find_map(|i| {
            let c = ch.receiver_cell(i)?;
            c.compare_exchange(0, shown, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
                .then_some((i, c))
        });
        let lane = cell.and_then(|(i, _)| bells.lane(chid, i));
        // The word to sleep on and the value it must still hold.
        // And the value a signal handler pokes in (`futex::wait`): the lane without its
        // sleeping bit (taken below as "claimed": look, and pass a wake-up on), or one more
        // ring of the bell (its other sleepers look again at most).
        let (word, expected, poked) = match lane {
            Some(lane) => {
                let mut v = lane.load(Ordering::SeqCst);
                loop {
                    let want = v | crate::views::LANE_SLEEPING;
                    match lane.compare_exchange(v, want, Ordering::SeqCst, Ordering::SeqCst) {
                        Ok(_) => break (lane, want, v & !crate::views::LANE_SLEEPING),
                        Err(now) => v = now,
                    }
                }
            }
            None => {
                let b = bell.load(Ordering::SeqCst);
                (bell, b, b.wrapping_add(1))
            }
        };
        let mut wake = if ready() {
            Slept::Ready
        } else {
            match futex::wait(word, expected, poked, timeout, handlers) {
                Wake::Look => Slept::Woken,
                Wake::TimedOut => Slept::TimedOut,
                Wake::Signal => Slept::Signal,
            }
        };
        if lane.is_some()
            && word
                .compare_exchange(
                    expected,
                    expected & !crate::views::LANE_SLEEPING,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_err()
        {
            // A waker claimed this thread (or a client wrote the lane): look, and pass the
            // wake-up on if leaving without a take.
            wake = Slept::Woken;
        }
        if let Some((_, c)) = cell {
            let _ = c.compare_exchange(shown, 0, Ordering::SeqCst, Ordering::Relaxed);
        }
        ch.waiters().fetch_sub(1, Ordering::SeqCst);
        wake
    }
}

/// Add `[off, off+len)` to sorted disjoint `pieces`; the newest write wins where they overlap
/// (the bytes are already in the area, so only the ranges matter: merge overlaps and
/// neighbours).
fn add_piece(pieces: &mut Vec<(u32, u32)>, off: u32, len: u32) {
    let (mut start, mut end) = (off, off + len);
    let mut out = Vec::with_capacity(pieces.len() + 1);
    for &(o, l) in pieces.iter() {
        let e = o + l;
        if e < start || o > end {
            out.push((o, l));
        } else {
            start = start.min(o);
            end = end.max(e);
        }
    }
    out.push((start, end - start));
    out.sort_unstable();
    *pieces = out;
}

/// At most [`MAX_PIECES`] pieces: past that, the closest neighbours merge (their gap then
/// carries whatever the reply area held: a documented limit of the direct path after more
/// than `MAX_PIECES` separate `MsgWrite`s).
fn coalesce(mut pieces: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    while pieces.len() > MAX_PIECES {
        let (k, _) = pieces
            .windows(2)
            .enumerate()
            .map(|(k, w)| (k, w[1].0 - (w[0].0 + w[0].1)))
            .min_by_key(|(_, gap)| *gap)
            .unwrap_or((0, 0));
        let (o, _) = pieces[k];
        let (o2, l2) = pieces[k + 1];
        pieces[k] = (o, o2 + l2 - o);
        pieces.remove(k + 1);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::atomic::AtomicU32;

    use super::*;
    use crate::layout::{self, Kind, PairState};
    use crate::segment;
    use crate::views::{Entry, PairInfo};

    thread_local! {
        /// What happens to a slot word between a take's read of it and its swap.
        static RACE: Cell<Option<fn(&AtomicU32)>> = const { Cell::new(None) };
    }

    pub(super) fn between_load_and_swap(word: &AtomicU32) {
        if let Some(f) = RACE.with(|r| r.take()) {
            f(word);
        }
    }

    /// The client sets its sleeping bit right between the server's read of the word and its
    /// swap: the take still takes the message (it once dropped it, and the client slept for
    /// ever).
    #[test]
    fn a_take_racing_the_clients_sleeping_bit_still_takes() {
        let (_tfd, tmap) =
            segment::create(c"t", Kind::Table, layout::TABLE_LEN, layout::TABLE_LEN).unwrap();
        let (_bfd, bmap) =
            segment::create(c"b", Kind::Bells, layout::BELLS_LEN, layout::BELLS_LEN).unwrap();
        let table = Table::new(tmap);
        table.channel(1).unwrap().set_live(0);
        table.pair(0).unwrap().fill(&PairInfo {
            generation: 1,
            state: PairState::Live,
            chid: 1,
            pid: 7,
            uid: 0,
            gid: 0,
            scoid: 1,
            pulse_limit: 4,
        });
        let (pfd, _) =
            segment::create(c"p", Kind::Pair, layout::PAIR_LEN, layout::PAIR_CONTROL_LEN).unwrap();
        let client = Pair::new(segment::open(&pfd, Kind::Pair, layout::PAIR_LEN, true).unwrap());
        client.set_identity(0, 1);
        let mut served = Served::new(table, Bells::new(bmap));
        served.add_channel(1);
        assert!(served.attach(
            0,
            Pair::new(segment::open(&pfd, Kind::Pair, layout::PAIR_LEN, true).unwrap())
        ));
        let word = client.slot(0).unwrap().word();
        word.store(slot::word(1, POSTED), Ordering::Release);
        client.write_entry(0, &Entry::message(0, 1, 10, 1));
        client.tail().store(1, Ordering::Release);
        served.drain(1, true);
        RACE.with(|r| {
            r.set(Some(|w: &AtomicU32| {
                w.fetch_or(SLEEPING, Ordering::AcqRel);
            }))
        });
        assert!(matches!(served.take(1), Some(Taken::Message(_))));
        assert_eq!(
            slot::state(word.load(Ordering::Acquire)),
            RECEIVED,
            "received, its sleeping client still asleep"
        );
        assert!(word.load(Ordering::Acquire) & SLEEPING != 0);
    }

    #[test]
    fn pieces_merge_overlaps_and_neighbours_and_stay_sorted() {
        let mut p = Vec::new();
        add_piece(&mut p, 10, 5);
        add_piece(&mut p, 0, 4);
        assert_eq!(p, vec![(0, 4), (10, 5)]);
        add_piece(&mut p, 4, 6);
        assert_eq!(p, vec![(0, 15)]);
        add_piece(&mut p, 20, 1);
        add_piece(&mut p, 14, 2);
        assert_eq!(p, vec![(0, 16), (20, 1)]);
    }

    #[test]
    fn too_many_pieces_merge_the_closest() {
        let p: Vec<(u32, u32)> = (0..(MAX_PIECES as u32 + 2))
            .map(|k| (k * 10 + k, 1))
            .collect();
        let c = coalesce(p);
        assert_eq!(c.len(), MAX_PIECES);
        assert!(c.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0));
    }

    #[test]
    fn queue_order_is_priority_then_arrival() {
        let it = |priority, stamp, seq| Item {
            priority,
            stamp,
            seq,
            pair: 0,
            what: What::Pulse { code: 0, value: 0 },
        };
        let mut h = BinaryHeap::new();
        h.push(it(10, 5, 1));
        h.push(it(20, 9, 2));
        h.push(it(10, 3, 3));
        h.push(it(10, 3, 4));
        let order: Vec<_> = std::iter::from_fn(|| h.pop())
            .map(|i| (i.priority, i.stamp, i.seq))
            .collect();
        assert_eq!(order, vec![(20, 9, 2), (10, 3, 3), (10, 3, 4), (10, 5, 1)]);
    }
}
