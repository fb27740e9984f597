//! Offsets and sizes of the three kinds of segment. Every offset a reader computes comes from
//! these constants and an index it checked against the matching `*_MAX`; nothing in a segment
//! says where anything else is.
//!
//! ```text
//! table (one per serving process; daemon and server write, clients map it read-only)
//!   0      header: magic, version, kind
//!   PAGE   CHANNELS_MAX channel entries of CHANNEL_SIZE (index = chid)
//!          PAIRS_MAX pair entries of PAIR_ENTRY_SIZE (index = pair index)
//! bells (one per serving process; every client of it may write)
//!   0      header
//!   PAGE   CHANNELS_MAX bell words, BELL_STRIDE apart (index = chid)
//!          PAIRS_MAX hint bits (u64 words)
//! pair (one per client process and channel; that client and the server write)
//!   0      header: magic, version, kind; ring tail (client), head and pulses taken (server)
//!   PAGE   RING_CAP ring entries of ENTRY_SIZE
//!          SLOTS_MAX slot headers of SLOT_SIZE
//!          SLOTS_MAX data areas: SEND_AREA then REPLY_AREA
//! ```

/// Page size the layout is aligned to.
pub const PAGE: usize = 4096;

/// First bytes of every segment.
pub const MAGIC: u64 = 0x7165_6e74_6469_7231; // "qnetdir1"
/// Layout version: both ends must agree (the daemon says which it speaks at the hello).
pub const VERSION: u32 = 1;
/// Header offsets (every segment).
pub const HDR_MAGIC: usize = 0;
/// Layout version in the header.
pub const HDR_VERSION: usize = 8;
/// Segment kind in the header ([`Kind`]).
pub const HDR_KIND: usize = 12;

/// Which segment a header belongs to.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The serving process's table.
    Table = 1,
    /// The serving process's bells.
    Bells = 2,
    /// One client process's pair with one channel.
    Pair = 3,
}

// ---- table -------------------------------------------------------------------------------

/// Channels a serving process may serve directly: chids `1..CHANNELS_MAX`. A channel above
/// is served through the daemon.
pub const CHANNELS_MAX: u32 = 4096;
/// Pairs per serving process (pair indexes `0..PAIRS_MAX`); more clients use the daemon.
pub const PAIRS_MAX: u32 = 4096;

/// Bytes per channel entry.
pub const CHANNEL_SIZE: usize = 128;
/// Channel entries start here.
pub const TABLE_CHANNELS: usize = PAGE;
/// Channel entry fields (daemon-written unless said).
pub mod ch {
    /// Nonzero once the channel is served directly.
    pub const LIVE: usize = 0;
    /// The channel's flags (`_NTO_CHF_*`).
    pub const FLAGS: usize = 4;
    /// Seqlock over the kernel head below: odd while the daemon writes.
    pub const KSEQ: usize = 8;
    /// Items the daemon's kernel holds for this channel (messages of clients that do not use
    /// the direct path, pulses of the system and of other nodes).
    pub const KCOUNT: usize = 12;
    /// Priority of the kernel's first item.
    pub const KPRIO: usize = 16;
    /// When the kernel's first item was queued (CLOCK_MONOTONIC ns).
    pub const KSTAMP: usize = 24;
    /// Bumped each time a pair of this channel is made: the server looks for new pairs in
    /// the table when it changes (a hint alone could be cleared by another client).
    pub const PAIRS_SEQ: usize = 32;
    /// Server-written: the thread that last received on the channel (the one a send boosts
    /// while no receiver waits: QNX's server boost).
    pub const LAST_TID: usize = 40;
    /// Server-written (the daemon raises it when it boosts): the priority that thread runs at.
    pub const RUN_PRIO: usize = 44;
    /// Server-written: threads sleeping in a receive on this channel (clients wake only
    /// when nonzero), then up to 15 of their tids (for `pidin`).
    pub const WAITERS: usize = 64;
}

/// Bytes per pair entry.
pub const PAIR_ENTRY_SIZE: usize = 64;
/// Pair entries start here.
pub const TABLE_PAIRS: usize = TABLE_CHANNELS + CHANNELS_MAX as usize * CHANNEL_SIZE;
/// Pair entry fields (daemon-written unless said): what the daemon vouches for about the
/// client of a pair.
pub mod pe {
    /// `generation << 8 | state` ([`super::PairState`]).
    pub const STATE: usize = 0;
    /// The channel.
    pub const CHID: usize = 4;
    /// The client's pid (SO_PEERCRED).
    pub const PID: usize = 8;
    /// The client's uid.
    pub const UID: usize = 12;
    /// The client's gid.
    pub const GID: usize = 16;
    /// The client's scoid at this server.
    pub const SCOID: usize = 20;
    /// Server-written: the generation of this entry the server has let go of (unmapped).
    pub const RELEASED: usize = 24;
    /// The most pulses the client may have queued and not received.
    pub const PULSE_LIMIT: usize = 28;
}
/// Length of a table segment.
pub const TABLE_LEN: usize = TABLE_PAIRS + PAIRS_MAX as usize * PAIR_ENTRY_SIZE;

/// State of a pair entry.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairState {
    /// Unused.
    Free = 0,
    /// A client maps it and may post.
    Live = 1,
    /// The client is gone or detached: drain what it posted, then let it go.
    Closed = 2,
    /// The channel (or its server) is gone: the client's sends fail `EBADF`.
    Dead = 3,
}

// ---- bells -------------------------------------------------------------------------------

/// Distance between two channels' bell words (one cache line each).
pub const BELL_STRIDE: usize = 64;
/// Bell words start here (index = chid).
pub const BELLS: usize = PAGE;
/// Hint bits (one per pair index: "this pair posted something") start here.
pub const HINTS: usize = BELLS + CHANNELS_MAX as usize * BELL_STRIDE;
/// Hint words.
pub const HINT_WORDS: usize = PAIRS_MAX as usize / 64;
/// Length of a bells segment.
pub const BELLS_LEN: usize = HINTS + HINT_WORDS * 8;

// ---- pair --------------------------------------------------------------------------------

/// Pair header fields.
pub mod ph {
    /// The pair's index in its server's table.
    pub const INDEX: usize = 16;
    /// The pair entry generation this segment was made for.
    pub const GEN: usize = 20;
    /// Client-written: ring entries published (wrapping counter).
    pub const TAIL: usize = 64;
    /// Server-written: ring entries consumed (wrapping counter).
    pub const HEAD: usize = 128;
    /// Server-written: pulses delivered to a receiver (wrapping counter).
    pub const PULSES_TAKEN: usize = 192;
}

/// Ring entries (a power of two).
pub const RING_CAP: u32 = 32768;
/// Bytes per ring entry.
pub const ENTRY_SIZE: usize = 32;
/// Ring starts here.
pub const RING: usize = PAGE;
/// Ring entry fields.
pub mod re {
    /// [`super::EntryKind`].
    pub const KIND: usize = 0;
    /// Priority.
    pub const PRIORITY: usize = 4;
    /// Message/unblock: slot index. Pulse: value.
    pub const A: usize = 8;
    /// Message/unblock: slot generation. Pulse: code.
    pub const B: usize = 12;
    /// When it was posted (CLOCK_MONOTONIC ns).
    pub const STAMP: usize = 16;
}

/// What a ring entry announces.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A message is posted in a slot.
    Message = 1,
    /// A pulse (all of it is in the entry).
    Pulse = 2,
    /// The client of a received message asks to be unblocked (`_NTO_CHF_UNBLOCK`).
    Unblock = 3,
}

/// Slots per pair: threads of one client with a call in progress on one channel at once.
/// Beyond it a call goes through the daemon.
pub const SLOTS_MAX: u32 = 1024;
/// Bytes per slot header.
pub const SLOT_SIZE: usize = 256;
/// Slot headers start here.
pub const SLOTS: usize = RING + RING_CAP as usize * ENTRY_SIZE;
/// Slot header fields.
pub mod sl {
    /// The futex word: `generation << 8 | SLEEPING | state` (`crate::slot`).
    pub const WORD: usize = 0;
    /// Client: its tid.
    pub const TID: usize = 4;
    /// Client: its priority.
    pub const PRIORITY: usize = 8;
    /// Client: the coid it sends on.
    pub const COID: usize = 12;
    /// Client: bytes in the send area.
    pub const SEND_LEN: usize = 16;
    /// Client: size of its reply buffer.
    pub const REPLY_CAP: usize = 20;
    /// Client: when it posted (CLOCK_MONOTONIC ns).
    pub const STAMP: usize = 24;
    /// Client: flags ([`super::SLOT_UNBLOCK_REQ`]).
    pub const FLAGS: usize = 32;
    /// Server: the rcvid it gave the message (for `pidin` and the daemon's unblock pulse).
    pub const RCVID: usize = 64;
    /// Server: the errno of a failed answer.
    pub const ERRNO: usize = 68;
    /// Server: `MsgReply`'s status.
    pub const STATUS: usize = 72;
    /// Server: reply pieces in use.
    pub const NPIECES: usize = 80;
    /// Server: reply pieces, `(offset: u32, len: u32)` each.
    pub const PIECES: usize = 88;
}
/// Reply pieces a slot records (disjoint written ranges of the reply buffer).
pub const MAX_PIECES: usize = (SLOT_SIZE - sl::PIECES) / 8;
/// Slot flag: the client asked to unblock while its message was received.
pub const SLOT_UNBLOCK_REQ: u32 = 1;
/// Slot flag: the unblock request's cause is the client's timeout (without it: a signal, a
/// cancel or an unblock); what `MsgError(rcvid, -1)` answers. The client's own say: it
/// chooses only its own call's error.
pub const SLOT_UNBLOCK_TIMEOUT: u32 = 4;
/// Slot flag: the client says it runs a real-time policy (the server checks the claim with
/// the kernel before it honours it).
pub const SLOT_REALTIME: u32 = 2;

/// Send data of one call, at most: 1 MiB and a page (a message of 1 MiB with a header).
/// Larger calls go through the daemon (one copy). The areas are sparse: a page exists only
/// once a call touched it, and a slot's pages go back when its thread lets it go.
pub const SEND_AREA: usize = (1 << 20) + PAGE;
/// Reply buffer of one call, at most.
pub const REPLY_AREA: usize = (1 << 20) + PAGE;
/// Data areas start here.
pub const DATA: usize = SLOTS + SLOTS_MAX as usize * SLOT_SIZE;
/// The part of a pair the daemon maps (headers, ring and slot headers, not the data).
pub const PAIR_CONTROL_LEN: usize = DATA;
/// Length of a pair segment.
pub const PAIR_LEN: usize = DATA + SLOTS_MAX as usize * (SEND_AREA + REPLY_AREA);

/// Offset of slot `i`'s header.
pub const fn slot_at(i: u32) -> usize {
    SLOTS + i as usize * SLOT_SIZE
}
/// Offset of slot `i`'s send area.
pub const fn send_area_at(i: u32) -> usize {
    DATA + i as usize * (SEND_AREA + REPLY_AREA)
}
/// Offset of slot `i`'s reply area.
pub const fn reply_area_at(i: u32) -> usize {
    send_area_at(i) + SEND_AREA
}
/// Offset of ring entry number `n` (a wrapping counter).
pub const fn entry_at(n: u32) -> usize {
    RING + (n % RING_CAP) as usize * ENTRY_SIZE
}
/// Offset of channel entry `chid`.
pub const fn channel_at(chid: u32) -> usize {
    TABLE_CHANNELS + chid as usize * CHANNEL_SIZE
}
/// Offset of pair entry `index`.
pub const fn pair_entry_at(index: u32) -> usize {
    TABLE_PAIRS + index as usize * PAIR_ENTRY_SIZE
}
/// Offset of channel `chid`'s bell.
pub const fn bell_at(chid: u32) -> usize {
    BELLS + chid as usize * BELL_STRIDE
}

const _: () = {
    assert!(RING_CAP.is_power_of_two());
    assert!(SLOTS % PAGE == 0 && DATA % PAGE == 0);
    assert!(MAX_PIECES >= 16);
    assert!(PAIRS_MAX % 64 == 0);
};
