//! Course exercise "How a client finds a server": find the checksum server by name.
//!
//! Usage: `name_client <name> <text>` (this node) or `name_client <node>/<name> <text>` (a
//! server on another node, found by that node's daemon). Prints `checksum=<n>`.
//! Errors print `error: <ERRNAME> …` on stderr and exit non-zero.

mod common;

use std::process::ExitCode;

use qnet::Connection;

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().collect();
        let [_, name, text] = &args[..] else {
            anyhow::bail!("usage: name_client [<node>/]<name> <text>");
        };
        let server = Connection::open_name(name)?; // name_open(); name_close() on drop
        let mut reply = [0u8; 4];
        server.send(text.as_bytes(), &mut reply)?;
        println!("checksum={}", u32::from_le_bytes(reply));
        Ok(())
    })
}
