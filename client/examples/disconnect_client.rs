//! Course demo "cleanup upon client disconnect": connect, send one message, exit.
//!
//! Usage: `disconnect_client <pid> <chid> [text]`. Prints `checksum=<n>`; its exit makes the
//! server get a disconnect pulse.

use qnet::Connection;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(pid), Some(chid)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: disconnect_client <pid> <chid> [text]");
    };
    let text = args.get(3).map(String::as_str).unwrap_or("disconnect me");
    let server = Connection::attach(0, pid.parse()?, chid.parse()?)?;
    let mut reply = [0u8; 4];
    server.send(text.as_bytes(), &mut reply)?;
    println!("checksum={}", u32::from_le_bytes(reply));
    Ok(())
}
