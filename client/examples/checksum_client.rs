//! Course exercise "basic Send/Receive/Reply": the checksum client.
//!
//! Usage: `checksum_client <pid> <chid> <text>`. Attaches to the server's channel, sends the
//! text, prints `checksum=<n>` from the reply.

use qnet::neutrino::{ND_LOCAL_NODE, connect_attach, msg_send};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pid, chid, text] = &args[..] else {
        anyhow::bail!("usage: checksum_client <pid> <chid> <text>");
    };
    let coid = connect_attach(ND_LOCAL_NODE, pid.parse()?, chid.parse()?)?;
    let mut reply = [0u8; 4];
    let status = msg_send(coid, text.as_bytes(), &mut reply)?;
    println!("MsgSend return status: {status}");
    println!("checksum={}", u32::from_le_bytes(reply));
    Ok(())
}
