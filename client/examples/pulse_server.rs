//! Course exercise "Pulses": the checksum server, extended to print the pulses it receives.
//!
//! Prints `pid=<pid> chid=<chid>`, then `pulse code=<c> value=<v>` for each pulse and answers
//! each message with the u32 checksum of its bytes.

mod common;

use std::io::Write;

use qnet::neutrino::{
    ChannelFlags, MsgInfo, channel_create, msg_receive, msg_reply, pulse_from_bytes,
};

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let chid = channel_create(ChannelFlags::default())?;
    println!("pid={} chid={chid}", std::process::id());
    std::io::stdout().flush()?;

    // Like the course's union of message types: large enough for a pulse or a request.
    let mut msg = [0u8; 4096];
    let mut info = MsgInfo::default();
    loop {
        let rcvid = msg_receive(chid, &mut msg, Some(&mut info))?;
        if rcvid == 0 {
            if let Some(p) = pulse_from_bytes(&msg) {
                println!("pulse code={} value={}", p.code, p.value);
                std::io::stdout().flush()?;
            }
            continue;
        }
        let len = (info.msglen as usize).min(msg.len());
        let sum = msg[..len]
            .iter()
            .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        msg_reply(rcvid, 0, &sum.to_le_bytes())?;
    }
}
