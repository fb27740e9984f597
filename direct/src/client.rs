//! The calling side: [`ClientPair`], one client process's pair with one channel. Its threads
//! post messages and pulses on the ring and sleep on their slot's word; nothing here talks
//! to the daemon.

use std::io::IoSliceMut;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::futex::{self, Wake};
use crate::layout::{self, PairState, REPLY_AREA, SEND_AREA, SLOT_UNBLOCK_REQ, SLOTS_MAX, sl};
use crate::slot::{self, ABANDONED, CANCELLED, FAILED, FREE, POSTED, RECEIVED, REPLIED, SLEEPING};
use crate::views::{Bells, Entry, Pair, Slot, Table};

/// `_NTO_CHF_UNBLOCK`.
const CHF_UNBLOCK: u32 = 0x0002;

/// How a direct call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Replied with this status; the reply pieces are in the caller's buffers.
    Replied(i64),
    /// Failed with this errno (`MsgError`, or the server gone: `ESRCH`).
    Failed(i32),
    /// The deadline passed (SEND-blocked, or REPLY-blocked without `_NTO_CHF_UNBLOCK`).
    TimedOut,
    /// Cancelled by another thread of the process (`EINTR`).
    Interrupted,
    /// The daemon is gone (`EIO`).
    Gone,
    /// The connection is dead: the channel or its server is gone (`EBADF`).
    Dead,
    /// Not posted: the ring is full (take the daemon's path).
    Full,
    /// The slot's word was changed by someone else in this process (this process scribbled
    /// its own memory).
    Broken,
}

/// Why a waiting thread should look up from its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// Another thread cancels this call (a signal in QNX).
    Cancel,
    /// The daemon is gone.
    Gone,
}

/// A send, as the client makes it.
#[derive(Clone, Copy, Debug)]
pub struct Send<'a> {
    /// The sending thread.
    pub tid: u32,
    /// Its priority.
    pub priority: u32,
    /// The connection it sends on.
    pub coid: i32,
    /// The send buffer's parts, at most [`SEND_AREA`] bytes in all.
    pub parts: &'a [&'a [u8]],
    /// Size of the reply buffer, at most [`REPLY_AREA`].
    pub reply_cap: usize,
    /// The sending thread runs a real-time policy.
    pub realtime: bool,
}

/// A `TimerTimeout` for one call: when, and in which states it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// When the call gives up.
    pub at: Instant,
    /// It applies while SEND-blocked (posted, not received).
    pub send: bool,
    /// It applies while REPLY-blocked (received, not answered).
    pub reply: bool,
}

impl Deadline {
    /// A deadline in both states.
    pub fn both(at: Instant) -> Self {
        Self {
            at,
            send: true,
            reply: true,
        }
    }

    fn passed_in(&self, state: u32) -> bool {
        let applies = match state {
            POSTED => self.send,
            RECEIVED => self.reply,
            _ => false,
        };
        applies && Instant::now() >= self.at
    }
}

/// Why a pulse was not posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PulseRefused {
    /// The connection is dead (`EBADF`).
    Dead,
    /// The client has its pulse limit queued, or the ring is full (`EAGAIN`).
    Full,
}

/// One client process's pair with one channel.
#[derive(Debug)]
pub struct ClientPair {
    pair: Pair,
    table: Arc<Table>,
    bells: Arc<Bells>,
    index: u32,
    generation: u32,
    chid: i32,
    /// The process's threads publish ring entries one at a time.
    ring: Mutex<()>,
    /// Slots handed back.
    free: Mutex<Vec<u32>>,
    /// Slots never used yet start here.
    fresh: AtomicU32,
    /// Pulses published (compared with the server's count of pulses taken).
    pulses_pushed: AtomicU32,
}

impl ClientPair {
    /// The pair at `index` (entry generation `generation`) with channel `chid` of the server whose
    /// `table` and `bells` are given. The pair must be mapped whole ([`layout::PAIR_LEN`]).
    pub fn new(
        pair: Pair,
        table: Arc<Table>,
        bells: Arc<Bells>,
        index: u32,
        generation: u32,
        chid: i32,
    ) -> Self {
        Self {
            pair,
            table,
            bells,
            index,
            generation,
            chid,
            ring: Mutex::new(()),
            free: Mutex::new(Vec::new()),
            fresh: AtomicU32::new(0),
            pulses_pushed: AtomicU32::new(0),
        }
    }

    /// The channel.
    pub fn chid(&self) -> i32 {
        self.chid
    }

    /// The pair's index at its server.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The segment.
    pub fn pair(&self) -> &Pair {
        &self.pair
    }

    /// Whether sends may go on: the daemon has not marked the pair dead or closed.
    pub fn live(&self) -> bool {
        let Some(entry) = self.table.pair(self.index) else {
            return false;
        };
        entry.state() == (self.generation, PairState::Live)
    }

    /// Threads sleeping in a receive on the channel, and its runner (the thread that last
    /// received and the priority it runs at).
    pub fn channel_state(&self) -> Option<(u32, (u32, u32))> {
        let c = self.table.channel(self.chid)?;
        Some((c.waiters().load(Ordering::SeqCst), c.runner()))
    }

    /// The channel's flags, as the daemon published them.
    pub fn channel_flags(&self) -> u32 {
        self.table.channel(self.chid).map_or(0, |c| c.flags())
    }

    /// A slot for one call, or `None` when all [`SLOTS_MAX`] are in use.
    pub fn take_slot(&self) -> Option<u32> {
        if let Some(i) = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Some(i);
        }
        let i = self.fresh.fetch_add(1, Ordering::Relaxed);
        if i < SLOTS_MAX {
            Some(i)
        } else {
            self.fresh.store(SLOTS_MAX, Ordering::Relaxed);
            None
        }
    }

    /// Give slot `i` back (its thread is done with it): its data pages beyond the first go
    /// back to the system, so a large call leaves no memory behind once its thread is gone.
    pub fn put_slot(&self, i: u32) {
        if let Some(s) = self.pair.slot(i) {
            s.release_data(SEND_AREA, REPLY_AREA);
        }
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(i);
    }

    /// The word of slot `i` (another thread wakes a sleeper there to cancel it).
    pub fn slot_word(&self, i: u32) -> Option<&AtomicU32> {
        self.pair.slot(i).map(|s| s.word())
    }

    fn push(&self, entry: &Entry) -> bool {
        let _one = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.pair.ring_has_room() {
            return false;
        }
        let tail = self.pair.tail().load(Ordering::Relaxed);
        self.pair.write_entry(tail, entry);
        self.pair
            .tail()
            .store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Tell the server: hint, bell, and a wake-up if one of its threads sleeps.
    fn ring_bell(&self) {
        self.bells.set_hint(self.index);
        crate::views::wake_one(&self.table, &self.bells, self.chid);
    }

    /// `MsgSendPulse`: post a pulse.
    pub fn pulse(&self, code: i8, value: i32, priority: u32) -> Result<(), PulseRefused> {
        if !self.live() {
            return Err(PulseRefused::Dead);
        }
        let limit = self
            .table
            .pair(self.index)
            .map_or(0, |e| e.info().pulse_limit);
        {
            let _one = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            let pushed = self.pulses_pushed.load(Ordering::Relaxed);
            let taken = self.pair.pulses_taken().load(Ordering::Acquire);
            if pushed.wrapping_sub(taken) >= limit || !self.pair.ring_has_room() {
                return Err(PulseRefused::Full);
            }
            let tail = self.pair.tail().load(Ordering::Relaxed);
            let e = Entry::pulse(code, value, priority, crate::now_ns());
            self.pair.write_entry(tail, &e);
            self.pair
                .tail()
                .store(tail.wrapping_add(1), Ordering::Release);
            self.pulses_pushed
                .store(pushed.wrapping_add(1), Ordering::Relaxed);
        }
        self.ring_bell();
        Ok(())
    }

    /// `MsgSend` through slot `slot` (taken with [`Self::take_slot`]): post, then wait for
    /// the answer until `deadline` (if any), looking at `check` after every wake-up. What the
    /// server wrote lands in `reply` at its offsets; every other byte keeps its value.
    pub fn send(
        &self,
        slot: u32,
        s: &Send<'_>,
        reply: &mut [IoSliceMut<'_>],
        deadline: Option<Deadline>,
        check: &dyn Fn() -> Option<Interrupt>,
    ) -> Outcome {
        // Signal handlers that run from here on unblock the call (QNX's rule).
        let handlers = crate::signals::count();
        if !self.live() {
            return Outcome::Dead;
        }
        let Some(sl) = self.pair.slot(slot) else {
            return Outcome::Broken;
        };
        let g = slot::next_gen(slot::generation(sl.word().load(Ordering::Acquire)));
        let mut at = 0;
        for part in s.parts {
            sl.write_send(at, part);
            at += part.len();
        }
        let stamp = crate::now_ns();
        sl.set_field(sl::TID, s.tid);
        sl.set_field(sl::PRIORITY, s.priority);
        sl.set_field(sl::COID, s.coid as u32);
        sl.set_field(sl::SEND_LEN, at.min(SEND_AREA) as u32);
        sl.set_field(sl::REPLY_CAP, s.reply_cap.min(REPLY_AREA) as u32);
        sl.set_field(
            sl::FLAGS,
            if s.realtime { layout::SLOT_REALTIME } else { 0 },
        );
        sl.set_stamp(stamp);
        sl.word().store(slot::word(g, POSTED), Ordering::Release);
        if !self.push(&Entry::message(slot, g, s.priority, stamp)) {
            sl.word().store(slot::word(g, FREE), Ordering::Release);
            return Outcome::Full;
        }
        self.ring_bell();
        // The server may have died as we posted: the daemon marks the pair dead, then fails
        // its posted slots (`authority::kill_slots`). If it looked at this slot before our
        // post, nobody would ever answer it: so look at the pair after posting (the fences
        // pair up: either we see it dead or it saw our post), and take the post back.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.live()
            && sl
                .word()
                .compare_exchange(
                    slot::word(g, POSTED),
                    slot::word(g, CANCELLED),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            return Outcome::Dead;
        }
        self.wait(sl, g, s.priority, reply, deadline, check, handlers)
    }

    #[allow(clippy::too_many_arguments)]
    fn wait(
        &self,
        sl: Slot<'_>,
        g: u32,
        priority: u32,
        reply: &mut [IoSliceMut<'_>],
        mut deadline: Option<Deadline>,
        check: &dyn Fn() -> Option<Interrupt>,
        mut handlers: u64,
    ) -> Outcome {
        let word = sl.word();
        let mut asked_unblock = false;
        // A signal handler ran while we slept: QNX unblocks the call (as an unblock does).
        let mut signalled = false;
        let mut polls = 0u32;
        loop {
            let w = word.load(Ordering::Acquire);
            if slot::generation(w) != g {
                return Outcome::Broken;
            }
            match slot::state(w) {
                REPLIED => {
                    let status = sl.status();
                    for (off, len) in sl.pieces() {
                        scatter_from(&sl, off as usize, len as usize, reply);
                    }
                    word.store(slot::word(g, FREE), Ordering::Relaxed);
                    return Outcome::Replied(status);
                }
                FAILED => {
                    let errno = sl.field(sl::ERRNO) as i32;
                    word.store(slot::word(g, FREE), Ordering::Relaxed);
                    return Outcome::Failed(errno);
                }
                POSTED | RECEIVED => {}
                _ => return Outcome::Broken,
            }
            let why = match check() {
                Some(Interrupt::Gone) => return Outcome::Gone,
                Some(Interrupt::Cancel) => Some(Outcome::Interrupted),
                None if signalled => Some(Outcome::Interrupted),
                None if deadline.is_some_and(|d| d.passed_in(slot::state(w))) => {
                    Some(Outcome::TimedOut)
                }
                None => None,
            };
            if let Some(why) = why {
                if slot::state(w) == POSTED {
                    if word
                        .compare_exchange(
                            w,
                            slot::word(g, CANCELLED),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                    {
                        return why;
                    }
                    continue;
                }
                // REPLY-blocked.
                if self.channel_flags() & CHF_UNBLOCK != 0 {
                    // The server decides: it gets an unblock pulse once and the client stays
                    // blocked until it answers.
                    if !asked_unblock {
                        asked_unblock = true;
                        let timeout = match why {
                            Outcome::TimedOut => layout::SLOT_UNBLOCK_TIMEOUT,
                            _ => 0,
                        };
                        sl.or_flags(SLOT_UNBLOCK_REQ | timeout);
                        if self.push(&Entry::unblock(sl.index(), g, priority, crate::now_ns())) {
                            self.ring_bell();
                        }
                    }
                    deadline = None;
                } else if word
                    .compare_exchange(
                        w,
                        slot::word(g, ABANDONED),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    return why;
                } else {
                    continue;
                }
            }
            if w & SLEEPING == 0
                && word
                    .compare_exchange(w, w | SLEEPING, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                continue;
            }
            // The deadline counts from the call's start for both states. Past it in a state
            // it does not cover (a reply timeout while still SEND-blocked), the server's
            // receive would not wake us: look again now and then (rare: a reply-only
            // timeout shorter than the wait to be received).
            let timeout = deadline.map(|d| {
                let left = d.at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    polls += 1;
                    Duration::from_millis(1 << polls.min(6))
                } else {
                    left
                }
            });
            // A handler that runs from here clears our SLEEPING bit: the server then skips
            // the wake-up, which is right, as the wait returns at once.
            signalled |= futex::wait(word, w | SLEEPING, w, timeout, handlers) == Wake::Signal;
            if signalled {
                // Seen (and sticky): a thread that waits on for its answer (REPLY-blocked on
                // an `_NTO_CHF_UNBLOCK` channel) sleeps again rather than spin.
                handlers = crate::signals::count();
            }
        }
    }
}

/// Copy `len` bytes of the reply area at `off` into `parts` at the same offset (parts taken
/// as one buffer), cut at the buffer's end.
fn scatter_from(sl: &Slot<'_>, off: usize, len: usize, parts: &mut [IoSliceMut<'_>]) {
    let mut base = 0usize;
    let end = off + len;
    for part in parts.iter_mut() {
        let p_end = base + part.len();
        let from = off.max(base);
        let to = end.min(p_end);
        if from < to {
            sl.read_reply(from, &mut part[from - base..to - base]);
        }
        base = p_end;
        if base >= end {
            break;
        }
    }
}

/// The largest send buffer and reply buffer a direct call takes.
pub const fn limits() -> (usize, usize) {
    (layout::SEND_AREA, layout::REPLY_AREA)
}
