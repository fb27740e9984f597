//! Bounds on what one process may hold (channels, connections, names, registered events,
//! bytes of its unanswered messages) and what one channel may queue (pulses), so that no
//! single process, local or remote (a remote process is a `ProcessKey` with another nd,
//! counted the same way), can make the daemon grow without bound.
//!
//! A call over a limit fails with `EAGAIN`, the error QNX gives when its kernel objects for
//! channels, connections or pulses run out ("resource temporarily unavailable"); it changes
//! nothing. The first time a process hits each limit the kernel queues a [`LimitHit`]
//! ([`Kernel::poll_limit_hit`]), so the daemon logs it once per process and limit.
//!
//! Pulses the kernel sends itself (unblock, disconnect, thread death, coid death) are not
//! refused: each stands for a message, a scoid, a thread or a connection, which are bounded.

use crate::errno::Errno;
use crate::ids::ProcessKey;

use super::Kernel;

/// The bounds one process and one channel live within. The defaults are far above what real
/// programs use (QNX programs keep a handful of channels and at most thousands of
/// connections).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Channels per process (`name_attach` channels included).
    pub channels: usize,
    /// Connections per process: coids, local and to other nodes.
    pub connections: usize,
    /// Names per process (`name_attach`).
    pub names: usize,
    /// Registered events per process (`MsgRegisterEvent`, as the registering client).
    pub events: usize,
    /// Bytes of send buffers of a process's messages not yet answered (its threads SEND- or
    /// REPLY-blocked): what the daemon holds for it.
    pub message_bytes: u64,
    /// Pulses queued on one channel, not yet received (`MsgSendPulse`, `MsgDeliverEvent`).
    pub queued_pulses: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            channels: 4096,
            connections: 16384,
            names: 1024,
            events: 16384,
            message_bytes: 256 << 20,
            queued_pulses: 16384,
        }
    }
}

impl Limits {
    /// The bound for `limit`.
    pub fn of(&self, limit: Limit) -> u64 {
        match limit {
            Limit::Channels => self.channels as u64,
            Limit::Connections => self.connections as u64,
            Limit::Names => self.names as u64,
            Limit::Events => self.events as u64,
            Limit::MessageBytes => self.message_bytes,
            Limit::QueuedPulses => self.queued_pulses as u64,
        }
    }
}

/// One of the [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// [`Limits::channels`].
    Channels,
    /// [`Limits::connections`].
    Connections,
    /// [`Limits::names`].
    Names,
    /// [`Limits::events`].
    Events,
    /// [`Limits::message_bytes`].
    MessageBytes,
    /// [`Limits::queued_pulses`] (hit by the process sending the pulse).
    QueuedPulses,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Limit; 6] = [
        Limit::Channels,
        Limit::Connections,
        Limit::Names,
        Limit::Events,
        Limit::MessageBytes,
        Limit::QueuedPulses,
    ];

    /// The configuration key (`limit_` + this in qnetd's TOML file).
    pub fn name(self) -> &'static str {
        match self {
            Limit::Channels => "channels",
            Limit::Connections => "connections",
            Limit::Names => "names",
            Limit::Events => "events",
            Limit::MessageBytes => "message_bytes",
            Limit::QueuedPulses => "queued_pulses",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A process hit a limit for the first time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitHit {
    /// The process refused.
    pub process: ProcessKey,
    /// Which limit.
    pub limit: Limit,
    /// Its value.
    pub max: u64,
}

/// Which limits a process has hit (a bit per [`Limit`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct HitSet(u8);

impl HitSet {
    /// Record `limit`; whether it is new.
    fn insert(&mut self, limit: Limit) -> bool {
        let new = self.0 & limit.bit() == 0;
        self.0 |= limit.bit();
        new
    }

    /// The limits recorded.
    pub(super) fn limits(self) -> Vec<Limit> {
        Limit::ALL
            .into_iter()
            .filter(|l| self.0 & l.bit() != 0)
            .collect()
    }
}

impl Kernel {
    /// The next limit a process hit for the first time (drain after every input, as
    /// [`Kernel::poll_output`]; the daemon logs them).
    pub fn poll_limit_hit(&mut self) -> Option<LimitHit> {
        self.limit_hits.pop_front()
    }

    /// Calls refused by `limit` since the kernel started (every refusal, not only the first
    /// per process: the daemon's metrics).
    pub fn limit_refusals(&self, limit: Limit) -> u64 {
        self.limit_refusals[limit as usize]
    }

    /// Enforce `limits` from now on (qnetd's reload). What processes already hold above a
    /// lowered limit stays theirs; only what they ask for next is refused.
    pub fn set_limits(&mut self, limits: Limits) {
        self.config.limits = limits;
    }

    /// `EAGAIN` if `process`, holding `in_use` of `limit`, may not take `more`; the first
    /// refusal per process and limit is queued for [`Kernel::poll_limit_hit`].
    pub(super) fn within(
        &mut self,
        process: ProcessKey,
        limit: Limit,
        in_use: u64,
        more: u64,
    ) -> Result<(), Errno> {
        let max = self.config.limits.of(limit);
        if in_use.saturating_add(more) <= max {
            return Ok(());
        }
        self.limit_refusals[limit as usize] += 1;
        if let Some(p) = self.processes.get_mut(&process) {
            if p.limits_hit.insert(limit) {
                self.limit_hits.push_back(LimitHit {
                    process,
                    limit,
                    max,
                });
            }
        }
        Err(Errno::EAGAIN)
    }
}
