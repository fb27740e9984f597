//! The slot word: one `u32` futex per call, `generation << 8 | SLEEPING | state`.
//!
//! ```text
//!            client posts                server takes             server answers
//!   FREE ───────────────► POSTED ───────────────► RECEIVED ───────────────► REPLIED / FAILED
//!                           │ client gives up        │ client gives up (no _NTO_CHF_UNBLOCK)
//!                           ▼                        ▼
//!                       CANCELLED                ABANDONED        (client reads the end, → FREE)
//! ```
//!
//! Each transition is a compare-and-swap on the whole word, so two sides racing (a timeout
//! and a receive, a reply and a death) settle on exactly one outcome, and a word of another
//! generation (a reused slot) never matches. The client sets `SLEEPING` before it sleeps;
//! whoever moves the word on clears it and, if it was set, wakes the client.
//! The daemon moves POSTED/RECEIVED words to FAILED (`ESRCH`) when the server dies, and to
//! CANCELLED/ABANDONED when the client dies.

/// Nobody uses the slot.
pub const FREE: u32 = 0;
/// The client waits for the server to receive its message (SEND-blocked).
pub const POSTED: u32 = 1;
/// The server has the message (client REPLY-blocked).
pub const RECEIVED: u32 = 2;
/// The server replied: status and pieces are in the slot.
pub const REPLIED: u32 = 3;
/// The call failed: errno in the slot (`MsgError`, or the server's death).
pub const FAILED: u32 = 4;
/// The client gave up before the server took it.
pub const CANCELLED: u32 = 5;
/// The client gave up after the server took it (a later answer gets `ESRCH`).
pub const ABANDONED: u32 = 6;
/// The client sleeps on the word.
pub const SLEEPING: u32 = 0x80;

/// Generations wrap at 24 bits.
pub const GEN_MASK: u32 = 0x00ff_ffff;

/// The word for `generation` in `state` (not sleeping).
pub const fn word(generation: u32, state: u32) -> u32 {
    ((generation & GEN_MASK) << 8) | state
}

/// The generation of a word.
pub const fn generation(w: u32) -> u32 {
    w >> 8
}

/// The state of a word (without the sleeping bit).
pub const fn state(w: u32) -> u32 {
    w & 0x7f
}

/// The generation after `generation`.
pub const fn next_gen(generation: u32) -> u32 {
    generation.wrapping_add(1) & GEN_MASK
}
