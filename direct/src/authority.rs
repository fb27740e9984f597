//! What the daemon does to pairs as the authority: the deaths it sees (a server's, a
//! client's) settle the calls in progress, and `pidin` reads who is blocked. Bounded by the
//! slots of a pair; nothing here trusts a value a client wrote beyond showing it.

use std::sync::atomic::Ordering;

use crate::futex;
use crate::layout::sl;
use crate::slot::{self, ABANDONED, CANCELLED, FAILED, POSTED, RECEIVED, SLEEPING};
use crate::views::Pair;

/// The server is gone (or its channel): every call POSTED or RECEIVED in `pair` fails with
/// `errno` and its client wakes. Returns how many calls failed. Call it after marking the
/// pair dead in the table: a client that posts meanwhile looks at the pair's state after
/// its post ([`crate::client::ClientPair::send`]), and the fence here pairs with its own, so
/// that either it sees the pair dead or this sees its post.
pub fn kill_slots(pair: &Pair, errno: i32) -> usize {
    std::sync::atomic::fence(Ordering::SeqCst);
    let mut n = 0;
    for s in pair.slots() {
        let word = s.word();
        let mut w = word.load(Ordering::Acquire);
        loop {
            let st = slot::state(w);
            if st != POSTED && st != RECEIVED {
                break;
            }
            s.set_field(sl::ERRNO, errno as u32);
            let failed = slot::word(slot::generation(w), FAILED);
            match word.compare_exchange(w, failed, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    n += 1;
                    if w & SLEEPING != 0 {
                        futex::wake_all(word);
                    }
                    break;
                }
                Err(now) => w = now,
            }
        }
    }
    n
}

/// The client is gone: its POSTED calls leave the queue, its RECEIVED ones are abandoned (a
/// later answer gets `ESRCH`). Returns the rcvids (as the server recorded them) and
/// priorities of the abandoned ones, for unblock pulses on `_NTO_CHF_UNBLOCK` channels.
pub fn abandon_slots(pair: &Pair) -> Vec<(i32, u32)> {
    let mut abandoned = Vec::new();
    for s in pair.slots() {
        let word = s.word();
        let mut w = word.load(Ordering::Acquire);
        loop {
            let next = match slot::state(w) {
                POSTED => CANCELLED,
                RECEIVED => ABANDONED,
                _ => break,
            };
            match word.compare_exchange(
                w,
                slot::word(slot::generation(w), next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if next == ABANDONED {
                        abandoned.push((s.field(sl::RCVID) as i32, s.field(sl::PRIORITY)));
                    }
                    break;
                }
                Err(now) => w = now,
            }
        }
    }
    abandoned
}

/// A call in progress, for `pidin` (as its client wrote it: shown, never trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// The client thread.
    pub tid: u32,
    /// The coid it sent on.
    pub coid: i32,
    /// Its priority.
    pub priority: u32,
    /// Received by the server (REPLY-blocked), else SEND-blocked.
    pub received: bool,
    /// The rcvid, once received.
    pub rcvid: i32,
}

/// The calls in progress in `pair`.
pub fn blocked(pair: &Pair) -> Vec<Blocked> {
    pair.slots()
        .filter_map(|s| {
            let st = slot::state(s.word().load(Ordering::Acquire));
            (st == POSTED || st == RECEIVED).then(|| Blocked {
                tid: s.field(sl::TID),
                coid: s.field(sl::COID) as i32,
                priority: s.field(sl::PRIORITY),
                received: st == RECEIVED,
                rcvid: s.field(sl::RCVID) as i32,
            })
        })
        .collect()
}
