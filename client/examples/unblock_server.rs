//! Course demo "handling client unblock pulses": a server whose channel has
//! `_NTO_CHF_UNBLOCK` and that delays its replies.
//!
//! Usage: `unblock_server [delay_secs]` (default 20). Prints `pid=<pid> chid=<chid>`,
//! `received rcvid=<r>` per message, and on an unblock pulse `unblock rcvid=<r>`, answering
//! that client with `MsgError(ETIMEDOUT)` at once (if the client is already gone, e.g. its
//! node was lost, it prints `msg_error rcvid=<r> failed: <ERRNAME> …` and keeps serving).
//! Others get their reply after the delay.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use qnet::Errno;
use qnet::neutrino::{
    ChannelFlags, PulseCode, TimeoutStates, channel_create, msg_error, msg_receive, msg_reply,
    pulse_from_bytes, timer_timeout,
};

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let delay = Duration::from_secs(std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?);
    let chid = channel_create(ChannelFlags::UNBLOCK)?;
    println!("pid={} chid={chid}", std::process::id());
    std::io::stdout().flush()?;

    let mut pending: Vec<(i64, Instant)> = Vec::new(); // (rcvid, reply due)
    let mut msg = [0u8; 256];
    loop {
        // Wake up for the earliest due reply.
        if let Some(due) = pending.iter().map(|p| p.1).min() {
            let left = due.saturating_duration_since(Instant::now());
            timer_timeout(
                TimeoutStates {
                    receive: true,
                    ..Default::default()
                },
                left,
            );
        }
        match msg_receive(chid, &mut msg, None) {
            Ok(0) => {
                let Some(p) = pulse_from_bytes(&msg) else {
                    continue;
                };
                if p.code == PulseCode::UNBLOCK {
                    let rcvid = i64::from(p.value);
                    println!("unblock rcvid={rcvid}");
                    pending.retain(|(r, _)| *r != rcvid);
                    // The client may be gone by now (its node lost: ESRCH): log it, keep serving.
                    if let Err(e) = msg_error(rcvid, Errno::ETIMEDOUT) {
                        println!("msg_error rcvid={rcvid} failed: {e}");
                    }
                }
            }
            Ok(rcvid) => {
                println!("received rcvid={rcvid}");
                pending.push((rcvid, Instant::now() + delay));
            }
            Err(e) if e.errno() == Errno::ETIMEDOUT => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        for (rcvid, _) in pending.iter().filter(|p| p.1 <= now) {
            // The client may have gone meanwhile (ESRCH): nothing to do then.
            let _ = msg_reply(*rcvid, 0, b"late reply");
        }
        pending.retain(|p| p.1 > now);
        std::io::stdout().flush()?;
    }
}
