//! A blocking ADMIN session with the local `qnetd` (see `local.proto`'s header): hello,
//! then one `AdminRequest` / `AdminResponse` exchange per query.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use qnet_proto::frame::blocking::{read_frame, write_frame};
use qnet_proto::hello::{self, HelloError};
use qnet_proto::local::{AdminRequest, AdminResponse, SessionKind, admin_request, admin_response};

/// Largest answer accepted (a node view of a busy cluster).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// How long a query may take (the daemon bounds each peer exchange at a few seconds).
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The sockets to try: `--socket`, else those the library tries (`$QNET_SOCKET`, else the
/// system daemon's then the default socket).
pub fn socket(arg: Option<PathBuf>) -> Vec<PathBuf> {
    arg.map_or_else(qnet_proto::client_socket_paths, |p| vec![p])
}

/// An open ADMIN session.
#[derive(Debug)]
pub struct AdminClient {
    stream: UnixStream,
}

impl AdminClient {
    /// Connect to the daemon at the first of `paths` that answers and open an ADMIN session;
    /// if none answers, the error names each path and why.
    pub fn connect(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut tried = Vec::new();
        for path in paths {
            match UnixStream::connect(path) {
                Ok(stream) => return Self::open(stream, path),
                Err(e) => tried.push(format!("{} ({e})", path.display())),
            }
        }
        bail!(
            "no qnetd answers at {}: start qnetd, or give its socket with --socket or \
             QNET_SOCKET",
            tried.join(", ")
        )
    }

    fn open(mut stream: UnixStream, path: &Path) -> anyhow::Result<Self> {
        stream.set_read_timeout(Some(QUERY_TIMEOUT))?;
        match hello::open(&mut stream, SessionKind::Admin, 0) {
            Ok(_) => Ok(Self { stream }),
            Err(HelloError::Busy { reason, .. }) => {
                bail!(
                    "qnetd at {} refused the admin session: {reason}",
                    path.display()
                )
            }
            Err(HelloError::Refused { reason, .. }) => bail!(
                "qnetd at {} refused the admin session: {reason} (does it support introspection?)",
                path.display(),
            ),
            Err(e @ (HelloError::Send(_) | HelloError::Receive(_))) => {
                Err(anyhow::Error::new(e).context(format!("qnetd at {}", path.display())))
            }
            Err(_) => bail!("qnetd at {} closed the admin session", path.display()),
        }
    }

    /// One query; a daemon error becomes an `Err`.
    pub fn query(&mut self, query: admin_request::Query) -> anyhow::Result<admin_response::Result> {
        write_frame(&mut self.stream, &AdminRequest { query: Some(query) })
            .context("sending admin request")?;
        let answer: Option<AdminResponse> =
            read_frame(&mut self.stream, MAX_ANSWER).context("reading admin response")?;
        match answer.and_then(|a| a.result) {
            Some(admin_response::Result::Error(e)) => bail!("{}", e.detail),
            Some(r) => Ok(r),
            None => bail!("qnetd closed the admin session without an answer"),
        }
    }
}
