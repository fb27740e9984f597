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
    #[error("{errno:?} ({}): {detail}", errno.describe())]
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
            Error::Daemon { .. } => Errno::EIO,
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

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::from_raw_os_error(e.errno().0)
    }
}

/// Result of a library call.
pub type Result<T> = std::result::Result<T, Error>;
