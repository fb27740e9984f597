//! Course demo "cleanup upon client disconnect": connect, send one message, exit.
//!
//! Usage: `disconnect_client <node>/<pid>/<chid> [text]` or
//! `disconnect_client <pid> <chid> [text]`. Prints `checksum=<n>`; its exit makes the server
//! get a disconnect pulse (on whichever node it runs). Errors print `error: <ERRNAME> …` on
//! stderr and exit non-zero.

mod common;

use std::process::ExitCode;

use qnet::Connection;

const USAGE: &str = "usage: disconnect_client <node>/<pid>/<chid> [text] | <pid> <chid> [text]";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let ((nd, pid, chid), rest) = common::target(&args, USAGE)?;
        let text = match rest {
            [] => "disconnect me",
            [t] => t.as_str(),
            _ => anyhow::bail!("{USAGE}"),
        };
        let server = Connection::attach(nd, pid, chid)?;
        let mut reply = [0u8; 4];
        server.send(text.as_bytes(), &mut reply)?;
        println!("checksum={}", u32::from_le_bytes(reply));
        Ok(())
    })
}
