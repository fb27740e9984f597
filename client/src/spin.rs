//! A short bounded spin for the answer of a call that never blocks in the kernel.
//!
//! The daemon answers such a call (`MsgSendPulse`, `MsgReply`, `MsgRead`, a local
//! `ConnectAttach`, ...) as soon as it reads it, within a few microseconds while it busy-polls.
//! Sleeping in `poll` for that answer costs the caller a scheduler wake-up, often longer than
//! the daemon's work. With `QNET_SPIN_US=N` the library polls the socket without sleeping for
//! up to N microseconds (at most 1000) and only then sleeps in `poll`. Calls that may block
//! (`MsgSend`, `MsgReceive`, calls forwarded to other nodes) never spin: their answer may take
//! any time, and a spinning thread takes a CPU the thread that answers may need.
//!
//! Off by default ([`DEFAULT_SPIN_US`] = 0): on the 2-CPU machines measured, the daemon
//! busy-polls one CPU after each call, so a spinning sender takes the other, and the thread
//! that receives its pulses (and anything else) waits for a CPU: one sender's pulses/s halved
//! with a 20 or 50 µs spin (BENCHMARKS.md, "Change log (one-way remote pulses, session 7)").
//! It may pay on hosts with CPUs to spare.

use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use qnet_core::Call;
use qnet_proto::codec::LocalRequest;

/// Default spin, microseconds (0: off, see the module doc).
pub const DEFAULT_SPIN_US: u64 = 0;

/// How long to spin (`QNET_SPIN_US`, read once; `None`: off).
fn budget() -> Option<Duration> {
    static BUDGET: OnceLock<Option<Duration>> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let us = std::env::var("QNET_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_SPIN_US);
        (us > 0).then(|| Duration::from_micros(us.min(1000)))
    })
}

/// Whether `request` is answered at once by the daemon, whatever other threads do: a kernel
/// call that never blocks and is not forwarded to another node (a remote `MsgSendPulse`
/// completes on this node too).
pub(crate) fn never_blocks(request: &LocalRequest) -> bool {
    let LocalRequest::Kernel(call) = request else {
        return false;
    };
    match call {
        Call::MsgSendPulse { .. }
        | Call::MsgReply { .. }
        | Call::MsgError { .. }
        | Call::MsgRead { .. }
        | Call::MsgWrite { .. }
        | Call::MsgInfo { .. }
        | Call::MsgDeliverEvent { .. }
        | Call::MsgDeliverPulse { .. }
        | Call::MsgVerifyEvent { .. }
        | Call::ChannelCreate { .. }
        | Call::ChannelDestroy { .. }
        | Call::ConnectClientInfo { .. }
        | Call::ConnectFlags { .. }
        | Call::ScoidDetach { .. }
        | Call::Unblock { .. } => true,
        Call::ConnectAttach { nd, .. } => *nd == 0,
        _ => false,
    }
}

/// Poll `stream` for readability without sleeping, for up to the spin budget. `true`: it is
/// readable (or closed, or failed: the caller's read says which); `false`: not within the
/// budget (or spinning is off), sleep in `poll`.
pub(crate) fn readable_soon(stream: &UnixStream) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let Some(budget) = budget() else {
        return false;
    };
    let start = Instant::now();
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
        if start.elapsed() >= budget {
            return false;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only calls the daemon answers at once spin; sends, receives and calls that cross
    /// nodes sleep.
    #[test]
    fn only_calls_that_never_block_spin() {
        let k = LocalRequest::Kernel;
        assert!(never_blocks(&k(Call::MsgSendPulse {
            coid: 1,
            priority: 10,
            code: 1,
            value: 0
        })));
        assert!(never_blocks(&k(Call::ConnectAttach {
            nd: 0,
            pid: 1,
            chid: 1
        })));
        assert!(!never_blocks(&k(Call::ConnectAttach {
            nd: 2,
            pid: 1,
            chid: 1
        })));
        assert!(!never_blocks(&k(Call::MsgReceive {
            chid: 1,
            cap: 64,
            timeout: None
        })));
        assert!(!never_blocks(&k(Call::MsgSend {
            coid: 1,
            data: bytes::Bytes::new(),
            reply_cap: 0,
            priority: 10,
            realtime: false,
            timeout: None
        })));
        assert!(!never_blocks(&k(Call::NameOpen { name: "x".into() })));
    }
}
