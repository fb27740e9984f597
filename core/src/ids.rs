//! Identifiers: node descriptors, processes, threads, channels, connections.

use std::fmt;

/// Node descriptor. `0` is always the local node (`ND_LOCAL_NODE`).
pub type Nd = u32;
/// Process id as the kernel of the owning host reports it.
pub type Pid = u32;
/// Thread id (Linux `gettid()`), meaningful within its process.
pub type Tid = u32;
/// Channel id, numbered per process from 1.
pub type Chid = i32;
/// Connection id (client side), numbered per process from 1.
pub type Coid = i32;
/// Server connection id: one per (client process, server process) pair.
pub type Scoid = i32;
/// Receive id of a message: the kernel's in `1..=2^30-1` ([`crate::RCVID_MAX`]; unique among
/// live messages; a value comes back only after 2^30-1 further sends), the direct path's in
/// `2^30..=2^31-1` (numbered by the serving library). `0` means "a pulse".
pub type Rcvid = i64;
/// Thread priority, QNX range 0..=255 (10 is the usual default).
pub type Priority = u8;
/// Handle of a registered event (`MsgRegisterEvent`).
pub type EventId = u64;

/// A process, named by its node and pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessKey {
    /// Node the process runs on (0 = this node).
    pub nd: Nd,
    /// Process id on that node.
    pub pid: Pid,
}

/// A thread, named by its node, pid and tid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadKey {
    /// Node the thread runs on (0 = this node).
    pub nd: Nd,
    /// Process id on that node.
    pub pid: Pid,
    /// Thread id within the process.
    pub tid: Tid,
}

impl ProcessKey {
    /// A process on this node.
    pub fn local(pid: Pid) -> Self {
        Self { nd: 0, pid }
    }

    /// Every thread key of this process, for a range over a map keyed by [`ThreadKey`].
    pub fn threads(self) -> std::ops::RangeInclusive<ThreadKey> {
        let first = ThreadKey {
            nd: self.nd,
            pid: self.pid,
            tid: 0,
        };
        first..=ThreadKey {
            tid: Tid::MAX,
            ..first
        }
    }
}

impl ThreadKey {
    /// A thread on this node.
    pub fn local(pid: Pid, tid: Tid) -> Self {
        Self { nd: 0, pid, tid }
    }

    /// The process this thread belongs to.
    pub fn process(&self) -> ProcessKey {
        ProcessKey {
            nd: self.nd,
            pid: self.pid,
        }
    }
}

impl fmt::Display for ProcessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.nd, self.pid)
    }
}

impl fmt::Display for ThreadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.nd, self.pid, self.tid)
    }
}
