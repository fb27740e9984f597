//! Course exercise "basic Send/Receive/Reply": the checksum server.
//!
//! Creates a channel, prints `pid=<pid> chid=<chid>`, then loops: receive a string, reply
//! with the u32 sum of its bytes. Each message is logged as `msg nd=<nd> pid=<pid> len=<n>`
//! from its `_msg_info` (the client's node descriptor as this node sees it, and its pid).

mod common;

use std::io::Write;

use qnet::neutrino::{ChannelFlags, channel_create, msg_receive, msg_reply};

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let chid = channel_create(ChannelFlags::default())?;
    println!("pid={} chid={chid}", std::process::id());
    std::io::stdout().flush()?;

    let mut msg = [0u8; 4096];
    loop {
        let rcvid = msg_receive(chid, &mut msg, None)?;
        if rcvid == 0 {
            continue; // a pulse: this server has none to handle
        }
        // The message is the client's text; msglen is at most our buffer size.
        let info = qnet::neutrino::msg_info(rcvid)?;
        let len = (info.msglen as usize).min(msg.len());
        let sum = checksum(&msg[..len]);
        println!("msg nd={} pid={} len={}", info.nd, info.pid, info.msglen);
        std::io::stdout().flush()?;
        msg_reply(rcvid, 0, &sum.to_le_bytes())?;
    }
}

fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)))
}
