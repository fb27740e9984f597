//! Channel flags and timeout state bits, with QNX's values.

use std::fmt;

/// `ChannelCreate` flags (QNX values).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelFlags(pub u32);

impl ChannelFlags {
    /// `_NTO_CHF_FIXED_PRIORITY`: receiving threads do not take on the sender's priority.
    pub const FIXED_PRIORITY: ChannelFlags = ChannelFlags(0x1);
    /// `_NTO_CHF_UNBLOCK`: a REPLY-blocked client that wants to unblock causes an unblock
    /// pulse (value = rcvid) and stays blocked until `MsgReply`/`MsgError`.
    pub const UNBLOCK: ChannelFlags = ChannelFlags(0x2);
    /// `_NTO_CHF_THREAD_DEATH`: pulse when any thread of the owning process dies (value = tid).
    pub const THREAD_DEATH: ChannelFlags = ChannelFlags(0x4);
    /// `_NTO_CHF_DISCONNECT`: pulse (with scoid) when all connections from a client process are gone.
    pub const DISCONNECT: ChannelFlags = ChannelFlags(0x8);
    /// `_NTO_CHF_SENDER_LEN`: fill `srcmsglen` in `_msg_info`.
    pub const SENDER_LEN: ChannelFlags = ChannelFlags(0x20);
    /// `_NTO_CHF_COID_DISCONNECT`: pulse (value = coid) for each connection of the owning process
    /// whose server channel goes away.
    pub const COID_DISCONNECT: ChannelFlags = ChannelFlags(0x40);
    /// `_NTO_CHF_REPLY_LEN`: fill `dstmsglen` in `_msg_info`.
    pub const REPLY_LEN: ChannelFlags = ChannelFlags(0x80);
    /// `_NTO_CHF_PRIVATE`: only the owning process may connect.
    pub const PRIVATE: ChannelFlags = ChannelFlags(0x1000);
    /// Every flag this implementation understands.
    pub const KNOWN: ChannelFlags =
        ChannelFlags(0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80 | 0x1000);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: ChannelFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Parse a `|`-separated list of names (`"UNBLOCK|DISCONNECT"`), for scripts and tools.
    pub fn from_names(s: &str) -> Option<ChannelFlags> {
        let mut bits = 0;
        for part in s.split('|').map(str::trim).filter(|p| !p.is_empty()) {
            bits |= NAMES.iter().find(|(n, _)| *n == part)?.1.0;
        }
        Some(ChannelFlags(bits))
    }
}

const NAMES: [(&str, ChannelFlags); 8] = [
    ("FIXED_PRIORITY", ChannelFlags::FIXED_PRIORITY),
    ("UNBLOCK", ChannelFlags::UNBLOCK),
    ("THREAD_DEATH", ChannelFlags::THREAD_DEATH),
    ("DISCONNECT", ChannelFlags::DISCONNECT),
    ("SENDER_LEN", ChannelFlags::SENDER_LEN),
    ("COID_DISCONNECT", ChannelFlags::COID_DISCONNECT),
    ("REPLY_LEN", ChannelFlags::REPLY_LEN),
    ("PRIVATE", ChannelFlags::PRIVATE),
];

impl std::ops::BitOr for ChannelFlags {
    type Output = ChannelFlags;
    fn bitor(self, rhs: Self) -> Self {
        ChannelFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for ChannelFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(_, b)| self.contains(*b))
            .map(|(n, _)| *n)
            .collect();
        if names.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&names.join("|"))
        }
    }
}

/// Which blocked states a `TimerTimeout`-style timeout applies to (`_NTO_TIMEOUT_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TimeoutStates {
    /// `_NTO_TIMEOUT_SEND`: give up with `ETIMEDOUT` while not yet received.
    pub send: bool,
    /// `_NTO_TIMEOUT_REPLY`: unblock (or ask the server to, with `_NTO_CHF_UNBLOCK`) while
    /// waiting for the reply.
    pub reply: bool,
    /// `_NTO_TIMEOUT_RECEIVE`: give up a `MsgReceive` with `ETIMEDOUT`.
    pub receive: bool,
}
