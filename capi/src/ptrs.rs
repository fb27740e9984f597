//! 64-bit pulse values within one process. qnet pulses carry a 32-bit value, but QNX code
//! passes pointers in pulses between its own threads (`MsgSendPulsePtr`, `sigev_value.sival_ptr`
//! of a timer's pulse event). A value that does not fit in 32 bits is kept here under a stand-in
//! 32-bit value (0x80000000 and up) that travels instead; this process's `MsgReceive` turns the
//! stand-in back into the pointer. Other processes see the stand-in (a pointer would mean
//! nothing to them anyway). One-shot values are forgotten when received (or when more than
//! [`KEPT`] are outstanding, oldest first); a timer's value is kept until `timer_delete`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};

/// Outstanding one-shot values kept at most.
const KEPT: usize = 4096;

#[derive(Default)]
struct Table {
    by_id: HashMap<u32, (u64, bool)>,
    one_shot: VecDeque<u32>,
    next: u32,
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The 32-bit value to send for `value` (a `union sigval`): itself when it fits in 32 bits
/// (as a sign-extended int), else a stand-in; `sticky` keeps the stand-in until [`forget`].
pub(crate) fn encode(value: u64, sticky: bool) -> i32 {
    let low = value as u32 as i32;
    if i64::from(low) as u64 == value || value >> 32 == 0 {
        return low;
    }
    let mut t = table();
    let id = loop {
        let id = 0x8000_0000 | (t.next & 0x7fff_ffff);
        t.next = t.next.wrapping_add(1);
        if !t.by_id.contains_key(&id) {
            break id;
        }
    };
    t.by_id.insert(id, (value, sticky));
    if !sticky {
        t.one_shot.push_back(id);
        while t.one_shot.len() > KEPT {
            if let Some(old) = t.one_shot.pop_front() {
                t.by_id.remove(&old);
            }
        }
    }
    id as i32
}

/// The wide value a received stand-in stands for (a one-shot one is forgotten now).
pub(crate) fn resolve(value: i32) -> Option<u64> {
    let id = value as u32;
    if id & 0x8000_0000 == 0 {
        return None;
    }
    let mut t = table();
    let (wide, sticky) = *t.by_id.get(&id)?;
    if !sticky {
        t.by_id.remove(&id);
        t.one_shot.retain(|x| *x != id);
    }
    Some(wide)
}

/// Forget a sticky stand-in.
pub(crate) fn forget(value: i32) {
    table().by_id.remove(&(value as u32));
}
