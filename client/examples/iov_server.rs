//! Course exercise "IOV messaging": the server receives only the header, then `MsgRead`s
//! the data the header announces.
//!
//! Usage: `iov_server [name]` (default `iov_server`). Prints `attached <name>`, then for each
//! request `got <n> bytes`, replying with the checksum of the data.

mod common;

use std::io::Write;

use qnet::neutrino::{MsgInfo, msg_error, msg_read, msg_receive, msg_reply, name_attach};
use qnet::{ChannelFlags, Errno, PulseCode};

/// Message type of a checksum request (above `_IO_MAX`, 511, as the course advises).
const MSG_CHECKSUM: u32 = 0x2000;
/// `{u32 type, u32 data_len}`.
const HEADER_LEN: usize = 8;

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "iov_server".into());
    let chid = name_attach(&name, ChannelFlags::default())?;
    println!("attached {name}");
    std::io::stdout().flush()?;

    // Big enough for the header or a pulse, no more: the data stays with the client.
    let mut hdr = [0u8; qnet::PULSE_SIZE];
    let mut info = MsgInfo::default();
    loop {
        let rcvid = msg_receive(chid, &mut hdr, Some(&mut info))?;
        if rcvid == 0 {
            let code = hdr[4] as i8;
            if code == PulseCode::DISCONNECT {
                let scoid = i32::from_le_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]);
                qnet::neutrino::scoid_detach(scoid)?;
            }
            continue;
        }
        let ty = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let len = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        if info.msglen < HEADER_LEN as u64 || ty != MSG_CHECKSUM || len > 1 << 20 {
            msg_error(rcvid, Errno::EINVAL)?;
            continue;
        }
        let mut data = vec![0u8; len];
        let n = msg_read(rcvid, &mut data, HEADER_LEN)?;
        println!("got {n} bytes");
        std::io::stdout().flush()?;
        let sum = data[..n]
            .iter()
            .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        msg_reply(rcvid, 0, &sum.to_le_bytes())?;
    }
}
