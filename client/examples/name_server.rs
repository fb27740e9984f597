//! Course exercise "How a client finds a server": the checksum server under a name.
//!
//! Usage: `name_server <name>`. Prints `attached <name>`, then serves checksums. The channel
//! `name_attach` creates has DISCONNECT/UNBLOCK/COID_DISCONNECT, so kernel pulses arrive too.

mod common;

use std::io::Write;

use qnet::{ChannelFlags, Errno, NameAttachment, PulseCode, Received};

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "name_server".into());
    let attach = NameAttachment::attach(&name, ChannelFlags::default())?;
    println!("attached {name}");
    std::io::stdout().flush()?;

    loop {
        match attach.receive(4096)? {
            Received::Pulse(p) => match p.code {
                PulseCode::DISCONNECT => {
                    println!("disconnect scoid={}", p.scoid);
                    qnet::neutrino::scoid_detach(p.scoid)?;
                }
                PulseCode::UNBLOCK => println!("unblock rcvid={}", p.value),
                code => println!("pulse code={code} value={}", p.value),
            },
            Received::Message(m) => {
                if m.data().is_empty() {
                    m.error(Errno::EINVAL)?;
                    continue;
                }
                let sum = m
                    .data()
                    .iter()
                    .fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
                m.reply(0, &sum.to_le_bytes())?;
            }
        }
        std::io::stdout().flush()?;
    }
}
