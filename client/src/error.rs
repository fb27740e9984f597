//! The library's error type: every failure carries a QNX errno.

use std::io;
use std::path::PathBuf;

use qnet_core::Errno;

/// Why a call failed. [`Error::errno`] gives the QNX errno a C program would see.
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
    /// The daemon could not be reached or went away during the call (errno `EIO`).
    /// A later call tries to connect again.
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
    /// The QNX errno of this error.
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
