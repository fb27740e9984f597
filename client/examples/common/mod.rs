//! Shared by the example clients: the `node/pid/chid` argument form and uniform error output
//! (`error: <ERRNAME> …` on stderr, non-zero exit) that scripts and tests can check.

#![allow(dead_code)] // not every example uses every helper

use std::process::ExitCode;

use qnet::{Chid, Errno, Nd, Pid};

/// Run `body`; on failure print `error: <ERRNAME> <details>` on stderr and exit with 1.
/// A library error prints its errno name first; anything else (bad arguments) is `EINVAL`.
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<qnet::Error>() {
                Some(q) => eprintln!("error: {q}"),
                None => eprintln!("error: {:?} {e:#}", Errno::EINVAL),
            }
            ExitCode::FAILURE
        }
    }
}

/// `ConnectAttach` arguments.
pub type Target = (Nd, Pid, Chid);

/// The channel named by the front of `args`: either one `node/pid/chid` (or `pid/chid`)
/// argument, or the old two arguments `<pid> <chid>` (this node). Returns the
/// `ConnectAttach` arguments and the remaining arguments.
pub fn target<'a>(args: &'a [String], usage: &str) -> anyhow::Result<(Target, &'a [String])> {
    match args {
        [t, rest @ ..] if t.contains('/') => Ok((qnet::parse_target(t)?, rest)),
        [pid, chid, rest @ ..] => {
            let pid = pid
                .parse()
                .map_err(|_| anyhow::anyhow!("pid {pid:?} is not a number; {usage}"))?;
            let chid = chid
                .parse()
                .map_err(|_| anyhow::anyhow!("chid {chid:?} is not a number; {usage}"))?;
            Ok(((qnet::neutrino::ND_LOCAL_NODE, pid, chid), rest))
        }
        _ => anyhow::bail!("{usage}"),
    }
}
