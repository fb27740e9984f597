//! Error numbers: the error QNX returns in each situation, with Linux's numeric value for it
//! (`ETIMEDOUT` is 110, not QNX's 260), which is what a Linux program compares against
//! (`libc::ETIMEDOUT`) and what `strerror` describes. `ENOREMOTE`, which Linux lacks, takes
//! Linux's `EREMOTE` (66, "Object is remote"); QNX's `ENOREMOTE` is 300.

use std::fmt;

/// An errno value returned by a call. Servers may send any value with `MsgError`,
/// so this is an open set; the constants are the ones the kernel itself produces.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// Success (`EOK`); only meaningful in `MsgError(rcvid, EOK)`.
    pub const EOK: Errno = Errno(0);
    /// Not permitted: private channel, wrong server for an event.
    pub const EPERM: Errno = Errno(1);
    /// No such name.
    pub const ENOENT: Errno = Errno(2);
    /// No such process/channel, rcvid not (or no longer) valid, server died while blocked.
    pub const ESRCH: Errno = Errno(3);
    /// Interrupted: the call was cancelled from another thread.
    pub const EINTR: Errno = Errno(4);
    /// I/O error: the daemon went away.
    pub const EIO: Errno = Errno(5);
    /// Bad connection id, or the connection is dead.
    pub const EBADF: Errno = Errno(9);
    /// Try again: resource temporarily unavailable.
    pub const EAGAIN: Errno = Errno(11);
    /// Out of memory / resource limit.
    pub const ENOMEM: Errno = Errno(12);
    /// Access denied: unregistered event, credentials.
    pub const EACCES: Errno = Errno(13);
    /// Bad buffer: receive buffer smaller than a pulse.
    pub const EFAULT: Errno = Errno(14);
    /// Busy.
    pub const EBUSY: Errno = Errno(16);
    /// Name already attached on this node.
    pub const EEXIST: Errno = Errno(17);
    /// Invalid argument (pulse code out of range, bad flags, bad offset).
    pub const EINVAL: Errno = Errno(22);
    /// File name too long (a path past `PATH_MAX`).
    pub const ENAMETOOLONG: Errno = Errno(36);
    /// Function not implemented.
    pub const ENOSYS: Errno = Errno(38);
    /// The object is remote: the operation cannot cross nodes (QNX `ENOREMOTE`; the number is
    /// Linux's `EREMOTE`, as Linux has no `ENOREMOTE`).
    pub const ENOREMOTE: Errno = Errno(66);
    /// Protocol error.
    pub const EPROTO: Errno = Errno(71);
    /// Message larger than the configured limit.
    pub const EMSGSIZE: Errno = Errno(90);
    /// `ERESTART` (Linux's 85): internal to qnet, never a call's result: a receive the
    /// daemon blocked in for a direct channel must look at the direct path again (a client
    /// now shares memory with the channel).
    pub const ERESTART: Errno = Errno(85);
    /// Not supported.
    pub const ENOTSUP: Errno = Errno(95);
    /// Timed out in SEND, REPLY or RECEIVE state.
    pub const ETIMEDOUT: Errno = Errno(110);
    /// The target node is down.
    pub const EHOSTDOWN: Errno = Errno(112);
    /// The target node is unknown or unreachable.
    pub const EHOSTUNREACH: Errno = Errno(113);

    /// The symbolic name, if this is a value the kernel knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "EOK",
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            4 => "EINTR",
            5 => "EIO",
            9 => "EBADF",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            36 => "ENAMETOOLONG",
            38 => "ENOSYS",
            66 => "ENOREMOTE",
            71 => "EPROTO",
            90 => "EMSGSIZE",
            95 => "ENOTSUP",
            110 => "ETIMEDOUT",
            112 => "EHOSTDOWN",
            113 => "EHOSTUNREACH",
            _ => return None,
        })
    }

    /// Parse a symbolic name (`"ESRCH"`) or a number.
    pub fn from_name(s: &str) -> Option<Errno> {
        if let Ok(n) = s.parse::<i32>() {
            return Some(Errno(n));
        }
        (0..=200).map(Errno).find(|e| e.name() == Some(s))
    }

    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self.0 {
            0 => "success",
            1 => "operation not permitted",
            2 => "no such name",
            3 => "no such process, channel or receive id",
            4 => "interrupted",
            5 => "daemon connection lost",
            9 => "bad or dead connection id",
            11 => "resource temporarily unavailable",
            12 => "out of memory",
            13 => "access denied",
            14 => "bad buffer (receive buffer smaller than a pulse)",
            16 => "busy",
            17 => "name already attached",
            22 => "invalid argument",
            38 => "not implemented",
            66 => "operation cannot cross nodes (local only)",
            71 => "protocol error",
            90 => "message too long",
            95 => "not supported",
            110 => "timed out",
            112 => "node is down",
            113 => "node unknown or unreachable",
            _ => "error set by server",
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}: {}", self.describe()),
            None => write!(f, "errno {}: {}", self.0, self.describe()),
        }
    }
}

impl std::error::Error for Errno {}
