//! Course demo "cleanup upon client disconnect": a checksum server that keeps per-client
//! information by scoid and frees it (and the scoid) on the disconnect pulse.
//!
//! Prints `pid=<pid> chid=<chid>`, `client scoid=<s> pid=<p>` for each new client, and
//! `disconnect scoid=<s>` when a client process has no connections left.

mod common;

use std::collections::BTreeMap;
use std::io::Write;

use qnet::{Channel, ChannelFlags, PulseCode, Received};

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let chan = Channel::create(ChannelFlags::DISCONNECT)?;
    println!("pid={} chid={}", std::process::id(), chan.chid());
    std::io::stdout().flush()?;

    // Per-client information, keyed by scoid (the server's name for a client process).
    let mut clients: BTreeMap<i32, u32> = BTreeMap::new();
    loop {
        match chan.receive(4096)? {
            Received::Pulse(p) if p.code == PulseCode::DISCONNECT => {
                clients.remove(&p.scoid); // remove_client_from_list()
                qnet::neutrino::scoid_detach(p.scoid)?; // ConnectDetach(scoid)
                println!("disconnect scoid={}", p.scoid);
            }
            Received::Pulse(p) => println!("pulse code={} value={}", p.code, p.value),
            Received::Message(m) => {
                let info = *m.info();
                if let std::collections::btree_map::Entry::Vacant(e) = clients.entry(info.scoid) {
                    e.insert(info.pid);
                    println!("client scoid={} pid={}", info.scoid, info.pid);
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
