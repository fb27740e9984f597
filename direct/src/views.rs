//! Typed views of the three segments: [`Table`], [`Bells`], [`Pair`] and its [`Slot`]s.
//! Every index is checked here, so the offsets handed to [`Mapping`] are always inside it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::layout::{
    self, CHANNELS_MAX, EntryKind, HINT_WORDS, HINTS, MAX_PIECES, PAIRS_MAX, PairState, REPLY_AREA,
    RING_CAP, SEND_AREA, SLOTS_MAX, ch, pe, ph, re, sl,
};
use crate::map::Mapping;

/// A serving process's table: its direct channels and the pairs its clients hold.
#[derive(Debug)]
pub struct Table {
    map: Mapping,
}

impl Table {
    /// A view of a mapped table segment (at least [`layout::TABLE_LEN`] bytes).
    pub fn new(map: Mapping) -> Self {
        assert!(map.len() >= layout::TABLE_LEN);
        Self { map }
    }

    /// Channel `chid`, if it is one the layout has room for.
    pub fn channel(&self, chid: i32) -> Option<Channel<'_>> {
        let chid = u32::try_from(chid)
            .ok()
            .filter(|c| (1..CHANNELS_MAX).contains(c))?;
        Some(Channel {
            map: &self.map,
            off: layout::channel_at(chid),
        })
    }

    /// Pair entry `index`.
    pub fn pair(&self, index: u32) -> Option<PairEntry<'_>> {
        (index < PAIRS_MAX).then(|| PairEntry {
            map: &self.map,
            off: layout::pair_entry_at(index),
        })
    }

    /// The mapping (the daemon's writes go through the views).
    pub fn mapping(&self) -> &Mapping {
        &self.map
    }
}

/// What the daemon's kernel holds for a direct channel: how many items and the first one's
/// priority and arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KernelHead {
    /// Items queued in the kernel.
    pub count: u32,
    /// Priority of the first.
    pub priority: u32,
    /// When the first was queued (CLOCK_MONOTONIC ns).
    pub stamp: u64,
}

/// Receiver tids shown per channel (for `pidin`).
pub const RECEIVER_CELLS: usize = 15;
/// In a receiver cell: the thread runs at an inherited priority.
pub const CELL_INHERITED: u32 = 1 << 31;

/// One channel entry of a [`Table`].
#[derive(Clone, Copy, Debug)]
pub struct Channel<'a> {
    map: &'a Mapping,
    off: usize,
}

impl<'a> Channel<'a> {
    fn u32(&self, field: usize) -> &'a AtomicU32 {
        self.map.u32(self.off + field)
    }

    /// Served directly (the daemon set it up).
    pub fn live(&self) -> bool {
        self.u32(ch::LIVE).load(Ordering::Acquire) != 0
    }

    /// The channel's `_NTO_CHF_*` flags.
    pub fn flags(&self) -> u32 {
        self.u32(ch::FLAGS).load(Ordering::Relaxed)
    }

    /// Daemon: the channel is served directly from now on, with `flags`.
    pub fn set_live(&self, flags: u32) {
        self.u32(ch::FLAGS).store(flags, Ordering::Relaxed);
        self.u32(ch::LIVE).store(1, Ordering::Release);
    }

    /// Daemon: the channel is gone.
    pub fn clear(&self) {
        self.u32(ch::LIVE).store(0, Ordering::Release);
        self.publish_kernel_head(KernelHead::default());
    }

    /// The thread that last received here and the priority it runs at (server boost).
    pub fn runner(&self) -> (u32, u32) {
        (
            self.u32(ch::LAST_TID).load(Ordering::Relaxed),
            self.u32(ch::RUN_PRIO).load(Ordering::Relaxed),
        )
    }

    /// Set the thread that last received here and the priority it runs at.
    pub fn set_runner(&self, tid: u32, priority: u32) {
        self.u32(ch::LAST_TID).store(tid, Ordering::Relaxed);
        self.u32(ch::RUN_PRIO).store(priority, Ordering::Relaxed);
    }

    /// Daemon: the runner was boosted to `priority`.
    pub fn set_run_priority(&self, priority: u32) {
        self.u32(ch::RUN_PRIO).store(priority, Ordering::Relaxed);
    }

    /// Daemon-written count of pairs made for this channel.
    pub fn pairs_seq(&self) -> &'a AtomicU32 {
        self.u32(ch::PAIRS_SEQ)
    }

    /// Server-written count of threads sleeping in a receive.
    pub fn waiters(&self) -> &'a AtomicU32 {
        self.u32(ch::WAITERS)
    }

    /// Server: cell `i` holds the tid of a thread sleeping in a receive (0 = none).
    pub fn receiver_cell(&self, i: usize) -> Option<&'a AtomicU32> {
        (i < RECEIVER_CELLS).then(|| self.u32(ch::WAITERS + 4 + 4 * i))
    }

    /// The kernel's head as the daemon last published it. A reader that cannot get a
    /// consistent copy in a few tries (a server scribbling its own table) gets a head that
    /// makes it ask the daemon, which knows.
    pub fn kernel_head(&self) -> KernelHead {
        let seq = self.u32(ch::KSEQ);
        for _ in 0..64 {
            let s1 = seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let head = KernelHead {
                count: self.u32(ch::KCOUNT).load(Ordering::Relaxed),
                priority: self.u32(ch::KPRIO).load(Ordering::Relaxed),
                stamp: self.map.u64(self.off + ch::KSTAMP).load(Ordering::Relaxed),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return head;
            }
        }
        KernelHead {
            count: 1,
            priority: u32::MAX,
            stamp: 0,
        }
    }

    /// Daemon (the only writer): publish the kernel's head.
    pub fn publish_kernel_head(&self, head: KernelHead) {
        let seq = self.u32(ch::KSEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1) | 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        self.u32(ch::KCOUNT).store(head.count, Ordering::Relaxed);
        self.u32(ch::KPRIO).store(head.priority, Ordering::Relaxed);
        self.map
            .u64(self.off + ch::KSTAMP)
            .store(head.stamp, Ordering::Relaxed);
        seq.store((s | 1).wrapping_add(1), Ordering::Release);
    }
}

/// What a pair entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairInfo {
    /// Generation of the entry (a reused index has a new one).
    pub generation: u32,
    /// State.
    pub state: PairState,
    /// The channel.
    pub chid: i32,
    /// The client's pid.
    pub pid: u32,
    /// The client's uid.
    pub uid: u32,
    /// The client's gid.
    pub gid: u32,
    /// The client's scoid at this server.
    pub scoid: i32,
    /// Pulses the client may have queued and not received.
    pub pulse_limit: u32,
}

/// One pair entry of a [`Table`].
#[derive(Clone, Copy, Debug)]
pub struct PairEntry<'a> {
    map: &'a Mapping,
    off: usize,
}

impl<'a> PairEntry<'a> {
    fn u32(&self, field: usize) -> &'a AtomicU32 {
        self.map.u32(self.off + field)
    }

    /// The entry's state word: `(generation, state)`; an unknown state reads as `Dead`.
    pub fn state(&self) -> (u32, PairState) {
        let w = self.u32(pe::STATE).load(Ordering::Acquire);
        let state = match w & 0xff {
            0 => PairState::Free,
            1 => PairState::Live,
            2 => PairState::Closed,
            _ => PairState::Dead,
        };
        (w >> 8, state)
    }

    /// Everything the entry says.
    pub fn info(&self) -> PairInfo {
        let (generation, state) = self.state();
        PairInfo {
            generation,
            state,
            chid: self.u32(pe::CHID).load(Ordering::Relaxed) as i32,
            pid: self.u32(pe::PID).load(Ordering::Relaxed),
            uid: self.u32(pe::UID).load(Ordering::Relaxed),
            gid: self.u32(pe::GID).load(Ordering::Relaxed),
            scoid: self.u32(pe::SCOID).load(Ordering::Relaxed) as i32,
            pulse_limit: self.u32(pe::PULSE_LIMIT).load(Ordering::Relaxed),
        }
    }

    /// Daemon: fill the entry for a new pair and make it live.
    pub fn fill(&self, info: &PairInfo) {
        self.u32(pe::CHID)
            .store(info.chid as u32, Ordering::Relaxed);
        self.u32(pe::PID).store(info.pid, Ordering::Relaxed);
        self.u32(pe::UID).store(info.uid, Ordering::Relaxed);
        self.u32(pe::GID).store(info.gid, Ordering::Relaxed);
        self.u32(pe::SCOID)
            .store(info.scoid as u32, Ordering::Relaxed);
        self.u32(pe::PULSE_LIMIT)
            .store(info.pulse_limit, Ordering::Relaxed);
        self.set_state(info.generation, PairState::Live);
    }

    /// Daemon: change the state (keeping the generation it names).
    pub fn set_state(&self, generation: u32, state: PairState) {
        self.u32(pe::STATE)
            .store((generation << 8) | state as u32, Ordering::Release);
    }

    /// Server-written: the generation it let go of.
    pub fn released(&self) -> &'a AtomicU32 {
        self.u32(pe::RELEASED)
    }
}

/// A serving process's bells: one futex word per channel, and the hint bits.
#[derive(Debug)]
pub struct Bells {
    map: Mapping,
}

impl Bells {
    /// A view of a mapped bells segment.
    pub fn new(map: Mapping) -> Self {
        assert!(map.len() >= layout::BELLS_LEN);
        Self { map }
    }

    /// Channel `chid`'s bell.
    pub fn bell(&self, chid: i32) -> Option<&AtomicU32> {
        let chid = u32::try_from(chid)
            .ok()
            .filter(|c| (1..CHANNELS_MAX).contains(c))?;
        Some(self.map.u32(layout::bell_at(chid)))
    }

    /// Receiver cell `i`'s lane of channel `chid`: a futex word of its own in the bell's
    /// cache line (words 1..=15), so that a post wakes one sleeping receiver, not all (see
    /// [`wake_one`]). Bit 0: its receiver sleeps and no waker has claimed it yet; the rest
    /// counts wake-ups.
    pub fn lane(&self, chid: i32, i: usize) -> Option<&AtomicU32> {
        if i >= RECEIVER_CELLS {
            return None;
        }
        let chid = u32::try_from(chid)
            .ok()
            .filter(|c| (1..CHANNELS_MAX).contains(c))?;
        Some(self.map.u32(layout::bell_at(chid) + 4 * (1 + i)))
    }

    /// Mark pair `index` as having posted something.
    pub fn set_hint(&self, index: u32) {
        if index < PAIRS_MAX {
            let word = self.map.u64(HINTS + (index / 64) as usize * 8);
            word.fetch_or(1 << (index % 64), Ordering::Release);
        }
    }

    /// Write `v` at byte `off`, as any client can (tests and fuzzing).
    #[doc(hidden)]
    pub fn scribble(&self, off: usize, v: u32) {
        let off = (off / 4 * 4).min(layout::BELLS_LEN - 4);
        self.map.u32(off).store(v, Ordering::Relaxed);
    }

    /// Any hint set.
    pub fn any_hint(&self) -> bool {
        (0..HINT_WORDS).any(|w| self.hint_word(w).load(Ordering::Acquire) != 0)
    }

    fn hint_word(&self, w: usize) -> &AtomicU64 {
        self.map.u64(HINTS + w * 8)
    }

    /// Take (clear) every hint, calling `f` with each pair index that was set.
    pub fn take_hints(&self, mut f: impl FnMut(u32)) {
        for w in 0..HINT_WORDS {
            let word = self.hint_word(w);
            if word.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut bits = word.swap(0, Ordering::Acquire);
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                f(w as u32 * 64 + b);
            }
        }
    }
}

/// One ring entry, as read (validate before use: a client wrote it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Entry {
    /// [`EntryKind`] as a number.
    pub kind: u32,
    /// Priority.
    pub priority: u32,
    /// Slot (message, unblock) or value (pulse).
    pub a: u32,
    /// Slot generation (message, unblock) or code (pulse).
    pub b: u32,
    /// When it was posted.
    pub stamp: u64,
}

impl Entry {
    /// A message posted in slot `slot` of generation `generation`.
    pub fn message(slot: u32, generation: u32, priority: u32, stamp: u64) -> Self {
        Self {
            kind: EntryKind::Message as u32,
            priority,
            a: slot,
            b: generation,
            stamp,
        }
    }

    /// A pulse.
    pub fn pulse(code: i8, value: i32, priority: u32, stamp: u64) -> Self {
        Self {
            kind: EntryKind::Pulse as u32,
            priority,
            a: value as u32,
            b: code as u8 as u32,
            stamp,
        }
    }

    /// An unblock request for the message in `slot` of generation `generation`.
    pub fn unblock(slot: u32, generation: u32, priority: u32, stamp: u64) -> Self {
        Self {
            kind: EntryKind::Unblock as u32,
            ..Self::message(slot, generation, priority, stamp)
        }
    }
}

/// One pair segment: the ring its client posts on and its slots.
#[derive(Debug)]
pub struct Pair {
    map: Mapping,
}

impl Pair {
    /// A view of a mapped pair (the daemon maps [`layout::PAIR_CONTROL_LEN`], the two ends
    /// [`layout::PAIR_LEN`]).
    pub fn new(map: Mapping) -> Self {
        assert!(map.len() >= layout::PAIR_CONTROL_LEN);
        Self { map }
    }

    /// Whether the data areas are mapped (not in the daemon's view).
    pub fn has_data(&self) -> bool {
        self.map.len() >= layout::PAIR_LEN
    }

    /// Client-written: entries published.
    pub fn tail(&self) -> &AtomicU32 {
        self.map.u32(ph::TAIL)
    }

    /// Server-written: entries consumed.
    pub fn head(&self) -> &AtomicU32 {
        self.map.u32(ph::HEAD)
    }

    /// Server-written: pulses delivered.
    pub fn pulses_taken(&self) -> &AtomicU32 {
        self.map.u32(ph::PULSES_TAKEN)
    }

    /// The pair header's index and generation (daemon-written at creation).
    pub fn identity(&self) -> (u32, u32) {
        (
            self.map.u32(ph::INDEX).load(Ordering::Relaxed),
            self.map.u32(ph::GEN).load(Ordering::Relaxed),
        )
    }

    /// Daemon: write the pair's index and generation into its header.
    pub fn set_identity(&self, index: u32, generation: u32) {
        self.map.u32(ph::INDEX).store(index, Ordering::Relaxed);
        self.map.u32(ph::GEN).store(generation, Ordering::Release);
    }

    /// Read entry number `n` (wrapping).
    pub fn read_entry(&self, n: u32) -> Entry {
        let off = layout::entry_at(n);
        Entry {
            kind: self.map.u32(off + re::KIND).load(Ordering::Relaxed),
            priority: self.map.u32(off + re::PRIORITY).load(Ordering::Relaxed),
            a: self.map.u32(off + re::A).load(Ordering::Relaxed),
            b: self.map.u32(off + re::B).load(Ordering::Relaxed),
            stamp: self.map.u64(off + re::STAMP).load(Ordering::Relaxed),
        }
    }

    /// Write entry number `n` (wrapping); published by a later store of the tail.
    pub fn write_entry(&self, n: u32, e: &Entry) {
        let off = layout::entry_at(n);
        self.map
            .u32(off + re::KIND)
            .store(e.kind, Ordering::Relaxed);
        self.map
            .u32(off + re::PRIORITY)
            .store(e.priority, Ordering::Relaxed);
        self.map.u32(off + re::A).store(e.a, Ordering::Relaxed);
        self.map.u32(off + re::B).store(e.b, Ordering::Relaxed);
        self.map
            .u64(off + re::STAMP)
            .store(e.stamp, Ordering::Relaxed);
    }

    /// Slot `i`.
    pub fn slot(&self, i: u32) -> Option<Slot<'_>> {
        (i < SLOTS_MAX).then(|| Slot {
            map: &self.map,
            i,
            off: layout::slot_at(i),
        })
    }

    /// Slots, all of them (the daemon's death handling and `pidin`).
    pub fn slots(&self) -> impl Iterator<Item = Slot<'_>> {
        (0..SLOTS_MAX).filter_map(|i| self.slot(i))
    }

    /// Ring entries a well-behaved client can have published and not consumed.
    pub fn ring_used(&self) -> u32 {
        self.tail()
            .load(Ordering::Acquire)
            .wrapping_sub(self.head().load(Ordering::Acquire))
    }

    /// Write `v` at byte `off` of the control part, as any writer of the pair can (tests
    /// and fuzzing of what a scribbling client does).
    #[doc(hidden)]
    pub fn scribble(&self, off: usize, v: u32) {
        let off = (off / 4 * 4).min(layout::PAIR_CONTROL_LEN - 4);
        self.map.u32(off).store(v, Ordering::Relaxed);
    }

    /// Whether the ring has room for one more entry.
    pub fn ring_has_room(&self) -> bool {
        self.ring_used() < RING_CAP
    }
}

/// One slot of a [`Pair`]: a call's header, send area and reply area.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    map: &'a Mapping,
    i: u32,
    off: usize,
}

impl<'a> Slot<'a> {
    fn u32(&self, field: usize) -> &'a AtomicU32 {
        self.map.u32(self.off + field)
    }

    /// The slot's index.
    pub fn index(&self) -> u32 {
        self.i
    }

    /// The futex word (`crate::slot`).
    pub fn word(&self) -> &'a AtomicU32 {
        self.u32(sl::WORD)
    }

    /// A header field (see [`layout::sl`]), as stored.
    pub fn field(&self, field: usize) -> u32 {
        self.u32(field).load(Ordering::Relaxed)
    }

    /// Set a header field.
    pub fn set_field(&self, field: usize, v: u32) {
        self.u32(field).store(v, Ordering::Relaxed)
    }

    /// Client: when it posted.
    pub fn stamp(&self) -> u64 {
        self.map.u64(self.off + sl::STAMP).load(Ordering::Relaxed)
    }

    /// Client: set when it posts.
    pub fn set_stamp(&self, ns: u64) {
        self.map
            .u64(self.off + sl::STAMP)
            .store(ns, Ordering::Relaxed)
    }

    /// Server: `MsgReply`'s status.
    pub fn status(&self) -> i64 {
        self.map.u64(self.off + sl::STATUS).load(Ordering::Relaxed) as i64
    }

    /// Server: set the status.
    pub fn set_status(&self, status: i64) {
        self.map
            .u64(self.off + sl::STATUS)
            .store(status as u64, Ordering::Relaxed)
    }

    /// Set-bit the client's flags.
    pub fn or_flags(&self, bits: u32) {
        self.u32(sl::FLAGS).fetch_or(bits, Ordering::Relaxed);
    }

    /// The reply pieces the server recorded, clamped to what the layout holds and each
    /// piece cut to the reply area (the client reads what its server wrote; a scribbled
    /// count or piece reads as less, never outside).
    pub fn pieces(&self) -> Vec<(u32, u32)> {
        let n = (self.field(sl::NPIECES) as usize).min(MAX_PIECES);
        (0..n)
            .filter_map(|k| {
                let off = self.field(sl::PIECES + 8 * k);
                let len = self.field(sl::PIECES + 8 * k + 4);
                let end = (off as usize).checked_add(len as usize)?;
                (end <= REPLY_AREA && len > 0).then_some((off, len))
            })
            .collect()
    }

    /// Server: record the reply pieces (at most [`MAX_PIECES`]).
    pub fn set_pieces(&self, pieces: &[(u32, u32)]) {
        let n = pieces.len().min(MAX_PIECES);
        for (k, (off, len)) in pieces.iter().take(n).enumerate() {
            self.set_field(sl::PIECES + 8 * k, *off);
            self.set_field(sl::PIECES + 8 * k + 4, *len);
        }
        self.set_field(sl::NPIECES, n as u32);
    }

    /// Copy `src` into the send area at `at` (bounded by the area).
    pub fn write_send(&self, at: usize, src: &[u8]) {
        let n = src.len().min(SEND_AREA.saturating_sub(at));
        self.map
            .write_bytes(layout::send_area_at(self.i) + at, &src[..n]);
    }

    /// Copy from the send area at `at` into `dst` (bounded by the area); bytes copied.
    pub fn read_send(&self, at: usize, dst: &mut [u8]) -> usize {
        let n = dst.len().min(SEND_AREA.saturating_sub(at));
        self.map
            .read_bytes(layout::send_area_at(self.i) + at, &mut dst[..n]);
        n
    }

    /// Copy `src` into the reply area at `at` (bounded by the area); bytes copied.
    pub fn write_reply(&self, at: usize, src: &[u8]) -> usize {
        let n = src.len().min(REPLY_AREA.saturating_sub(at));
        self.map
            .write_bytes(layout::reply_area_at(self.i) + at, &src[..n]);
        n
    }

    /// Copy from the reply area at `at` into `dst` (bounded by the area).
    pub fn read_reply(&self, at: usize, dst: &mut [u8]) -> usize {
        let n = dst.len().min(REPLY_AREA.saturating_sub(at));
        self.map
            .read_bytes(layout::reply_area_at(self.i) + at, &mut dst[..n]);
        n
    }

    /// Give back the pages of the data areas above the first page (after a large call).
    pub fn release_data(&self, send_len: usize, reply_len: usize) {
        let page = layout::PAGE;
        if send_len > page {
            self.map
                .release(layout::send_area_at(self.i) + page, send_len - page);
        }
        if reply_len > page {
            self.map
                .release(layout::reply_area_at(self.i) + page, reply_len - page);
        }
    }
}

/// A lane's bit 0: its receiver sleeps, unclaimed.
pub const LANE_SLEEPING: u32 = 1;

/// Wake one receiver of `chid` for something just posted or published (a client's post, a
/// kernel head the daemon published, items a drain left queued). First a receiver that
/// sleeps on a lane of its own (its cell shows its tid in the table, which only the server and
/// the daemon write): the waker that clears the lane's sleeping bit owns that wake-up, so two
/// posts wake two receivers and a post wakes one, however many sleep. With none to claim
/// (every shown receiver is already claimed or running, more receivers than cells, or a
/// client overwrote lanes) every sleeper of the channel is woken: the channel's bell and every
/// shown lane, so a client that scribbles on lanes gets spurious wake-ups, never a lost one.
/// Nothing when no receiver sleeps (`waiters` is 0): a receiver drains before it sleeps.
pub fn wake_one(table: &Table, bells: &Bells, chid: i32) {
    let Some(bell) = bells.bell(chid) else {
        return;
    };
    bell.fetch_add(1, Ordering::SeqCst);
    let Some(ch) = table.channel(chid) else {
        return;
    };
    if ch.waiters().load(Ordering::SeqCst) == 0 {
        return;
    }
    for i in 0..RECEIVER_CELLS {
        let shown = ch.receiver_cell(i).map_or(0, |c| c.load(Ordering::SeqCst));
        let Some(lane) = bells.lane(chid, i).filter(|_| shown != 0) else {
            continue;
        };
        let v = lane.load(Ordering::SeqCst);
        if v & LANE_SLEEPING != 0
            && lane
                .compare_exchange(
                    v,
                    (v & !LANE_SLEEPING).wrapping_add(2),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        {
            crate::futex::wake_all(lane);
            return;
        }
    }
    // Nobody to claim: wake the bell's sleepers and every shown lane.
    crate::futex::wake_all(bell);
    for i in 0..RECEIVER_CELLS {
        let shown = ch.receiver_cell(i).map_or(0, |c| c.load(Ordering::SeqCst));
        if let Some(lane) = bells.lane(chid, i).filter(|_| shown != 0) {
            lane.fetch_add(2, Ordering::SeqCst);
            crate::futex::wake_all(lane);
        }
    }
}

/// Wake every receiver of `chid` that sleeps, on the bell and on every lane whatever the
/// cells show (the channel is gone and its entry cleared, the daemon is gone, a receiver is
/// cancelled).
pub fn wake_every(bells: &Bells, chid: i32) {
    let Some(bell) = bells.bell(chid) else {
        return;
    };
    bell.fetch_add(1, Ordering::SeqCst);
    crate::futex::wake_all(bell);
    for lane in (0..RECEIVER_CELLS).filter_map(|i| bells.lane(chid, i)) {
        lane.fetch_add(2, Ordering::SeqCst);
        crate::futex::wake_all(lane);
    }
}
