//! The library's error type: every failure carries an errno, with QNX's name and meaning
//! and Linux's number (see [`Errno`]).

use std::io;
use std::path::PathBuf;

use qnet_core::Errno;

/// Why a call failed. [`Error::errno`] gives the errno QNX would set for the failure, as a
/// Linux number (`ETIMEDOUT` is 110 here, 260 on QNX).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call failed with `errno`: from the daemon, from the server (`MsgError`), or from a
    /// check the library makes before touching the socket.
    #[error("{}", call_message(*errno, detail))]
    Call {
        /// The errno.
        errno: Errno,
        /// What failed, in words.
        detail: String,
    },
    /// The daemon could not be reached or went away during the call (errno `EIO`), including
    /// a call blocked when the daemon stops (whatever it was blocked on). A later call tries
    /// to connect again.
    #[error("EIO (qnetd unreachable): {what} on {path}: {source}")]
    Daemon {
        /// The socket path the library used.
        path: PathBuf,
        /// What the library was doing.
        what: &'static str,
        /// The I/O error.
        source: io::Error,
    },
    /// No daemon answers on any of the sockets looked for (errno `EIO`): without
    /// `$QNET_SOCKET`, the system daemon's socket and the default one.
    #[error(
        "EIO (qnetd unreachable): no daemon answers at {}: start qnetd, or set QNET_SOCKET to \
         its socket",
        tried_list(tried)
    )]
    NoDaemon {
        /// Each socket path tried, with why connecting failed.
        tried: Vec<(PathBuf, io::Error)>,
    },
    /// The daemon answered something this library does not understand (errno `EPROTO`).
    #[error("EPROTO (protocol error with qnetd): {detail}")]
    Protocol {
        /// What was wrong.
        detail: String,
    },
}

impl Error {
    /// The errno of this error (QNX's choice of error, Linux's number).
    pub fn errno(&self) -> Errno {
        match self {
            Error::Call { errno, .. } => *errno,
            Error::Daemon { .. } | Error::NoDaemon { .. } => Errno::EIO,
            Error::Protocol { .. } => Errno::EPROTO,
        }
    }

    /// An error with `errno` and a detail.
    pub fn new(errno: Errno, detail: impl Into<String>) -> Self {
        Error::Call {
            errno,
            detail: detail.into(),
        }
    }
}

/// `ESRCH (no such process…): detail`, without repeating the errno when the detail starts
/// with it (the daemon's details do: `ESRCH: no such process…`) or when it says nothing more.
fn call_message(errno: Errno, detail: &str) -> String {
    let head = format!("{errno:?} ({})", errno.describe());
    let rest = detail
        .strip_prefix(&errno.to_string())
        .map(|r| r.trim_start_matches([':', ' ']))
        .unwrap_or(detail);
    if rest.is_empty() {
        head
    } else {
        format!("{head}: {rest}")
    }
}

/// `/run/qnet/qnetd.sock (No such file or directory (os error 2)), /tmp/qnetd.sock (…)`.
fn tried_list(tried: &[(PathBuf, io::Error)]) -> String {
    let each: Vec<String> = tried
        .iter()
        .map(|(p, e)| format!("{} ({e})", p.display()))
        .collect();
    each.join(", ")
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::from_raw_os_error(e.errno().0)
    }
}

/// Result of a library call.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_error_names_its_errno_once() {
        let bare = Error::new(Errno::ESRCH, Errno::ESRCH.to_string());
        assert_eq!(
            bare.to_string(),
            "ESRCH (no such process, channel or receive id)"
        );
        let more = Error::new(Errno::ENOREMOTE, format!("{}: shm on n2", Errno::ENOREMOTE));
        assert_eq!(
            more.to_string(),
            format!("ENOREMOTE ({}): shm on n2", Errno::ENOREMOTE.describe())
        );
        let other = Error::new(Errno::EINVAL, "\"x\" is not node/pid/chid");
        assert_eq!(
            other.to_string(),
            "EINVAL (invalid argument): \"x\" is not node/pid/chid"
        );
    }
}
