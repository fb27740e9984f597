//! Course exercise "Pulses": a client that sends a pulse, then a message.
//!
//! Usage: `pulse_client <pid> <chid> <code> <value>`. Prints `checksum=<n>` for the message.

use qnet::neutrino::{ND_LOCAL_NODE, connect_attach, msg_send, msg_send_pulse};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pid, chid, code, value] = &args[..] else {
        anyhow::bail!("usage: pulse_client <pid> <chid> <code> <value>");
    };
    let coid = connect_attach(ND_LOCAL_NODE, pid.parse()?, chid.parse()?)?;
    // Priority -1: the calling thread's priority.
    msg_send_pulse(coid, -1, code.parse()?, value.parse()?)?;
    let mut reply = [0u8; 4];
    msg_send(coid, b"pulse client says hi", &mut reply)?;
    println!("checksum={}", u32::from_le_bytes(reply));
    Ok(())
}
