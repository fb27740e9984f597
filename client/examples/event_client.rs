//! Course exercise "Event delivery": the client fills in a pulse event aimed at its own
//! channel, registers it for the server (`MsgRegisterEvent`), gives it to the server in a
//! message, then receives the pulses the server delivers.
//!
//! Usage: `event_client [count] [name]` (defaults 3, `event_server`). Prints
//! `event value=<v>` per pulse and exits after `count`.

mod common;

use qnet::neutrino::{
    ChannelFlags, PulseEvent, channel_create, connect_attach, msg_receive, msg_register_event,
    msg_send, msg_unregister_event, name_open, priority, pulse_from_bytes,
};

/// Our pulse code for "the server has news".
const OUR_CODE: i8 = 1;

fn real_main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).map_or(Ok(3), |s| s.parse())?;
    let name = args.get(2).map(String::as_str).unwrap_or("event_server");

    let chid = channel_create(ChannelFlags::default())?;
    let self_coid = connect_attach(0, 0, chid)?; // connection to our own channel
    let server = name_open(name)?;

    // SIGEV_PULSE_INIT + SIGEV_MAKE_UPDATEABLE
    let event = PulseEvent {
        coid: self_coid,
        priority: priority(),
        code: OUR_CODE,
        value: 0,
        updateable: true,
    };
    let handle = msg_register_event(&event, server)?;
    msg_send(server, &handle.to_le_bytes(), &mut [])?;

    let mut buf = [0u8; 64];
    let mut seen = 0;
    while seen < count {
        if msg_receive(chid, &mut buf, None)? == 0 {
            if let Some(p) = pulse_from_bytes(&buf).filter(|p| p.code == OUR_CODE) {
                println!("event value={}", p.value);
                seen += 1;
            }
        }
    }
    msg_unregister_event(handle)?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::run(real_main)
}
