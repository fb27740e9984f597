//! Course exercise "Event delivery": the server keeps each client's registered event and
//! delivers it every second with an updated value.
//!
//! Usage: `event_server [name]` (default `event_server`). Prints `attached <name>`,
//! `registered rcvid=<r>` per client and `delivered value=<v>` per delivery.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use qnet::neutrino::{msg_deliver_event, scoid_detach};
use qnet::{ChannelFlags, Errno, NameAttachment, PulseCode, Received};

/// A client waiting for events: the rcvid stays usable for delivery after the reply.
struct Client {
    rcvid: i64,
    scoid: i32,
    event: u64,
}

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "event_server".into());
    let attach = NameAttachment::attach(&name, ChannelFlags::default())?;
    println!("attached {name}");
    std::io::stdout().flush()?;

    let mut clients: Vec<Client> = Vec::new();
    let mut value = 0;
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    loop {
        let left = next_tick.saturating_duration_since(Instant::now());
        match attach.receive_timeout(64, left) {
            Ok(Received::Message(m)) => {
                let Ok(bytes) = <[u8; 8]>::try_from(m.data()) else {
                    m.error(Errno::EINVAL)?;
                    continue;
                };
                let event = u64::from_le_bytes(bytes);
                // Check the event now: a failure at delivery time could not be reported.
                if let Err(e) = m.verify_event(event) {
                    m.error(e.errno())?;
                    continue;
                }
                let (rcvid, scoid) = (m.rcvid(), m.info().scoid);
                m.reply(0, &[])?; // "I'll do the work later"
                println!("registered rcvid={rcvid}");
                clients.push(Client {
                    rcvid,
                    scoid,
                    event,
                });
            }
            Ok(Received::Pulse(p)) if p.code == PulseCode::DISCONNECT => {
                clients.retain(|c| c.scoid != p.scoid);
                scoid_detach(p.scoid)?;
            }
            Ok(Received::Pulse(_)) => {}
            Err(e) if e.errno() == Errno::ETIMEDOUT => {}
            Err(e) => return Err(e.into()),
        }
        if Instant::now() >= next_tick {
            next_tick += Duration::from_secs(1);
            value += 1;
            // As in QNX: name the client by the rcvid of its (already replied) registration
            // message; the event itself names the only server allowed to deliver it.
            clients.retain(|c| match msg_deliver_event(c.rcvid, c.event, Some(value)) {
                Ok(()) => {
                    println!("delivered value={value}");
                    true
                }
                Err(e) => {
                    println!("dropping client rcvid={}: {e}", c.rcvid);
                    false
                }
            });
        }
        std::io::stdout().flush()?;
    }
}
