//! Course exercise "How a client finds a server": find the checksum server by name.
//!
//! Usage: `name_client <name> <text>`. Prints `checksum=<n>`.

use qnet::Connection;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, name, text] = &args[..] else {
        anyhow::bail!("usage: name_client <name> <text>");
    };
    let server = Connection::open_name(name)?; // name_open(); name_close() on drop
    let mut reply = [0u8; 4];
    server.send(text.as_bytes(), &mut reply)?;
    println!("checksum={}", u32::from_le_bytes(reply));
    Ok(())
}
