//! Course demo "handling client unblock pulses": a client that stops waiting for the reply
//! after one second (`TimerTimeout` on the REPLY state).
//!
//! Usage: `unblock_client <pid> <chid>`. Prints `MsgSend failed: <error>` (or the reply).

use std::time::Duration;

use qnet::neutrino::{TimeoutStates, connect_attach, msg_send, timer_timeout};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pid, chid] = &args[..] else {
        anyhow::bail!("usage: unblock_client <pid> <chid>");
    };
    let coid = connect_attach(0, pid.parse()?, chid.parse()?)?;
    timer_timeout(
        TimeoutStates {
            reply: true,
            ..Default::default()
        },
        Duration::from_secs(1),
    );
    let mut reply = [0u8; 64];
    match msg_send(coid, b"please reply later", &mut reply) {
        Ok(status) => println!("reply status={status}"),
        Err(e) => println!("MsgSend failed: {e}"),
    }
    Ok(())
}
