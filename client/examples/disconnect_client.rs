//! Course demo "cleanup upon client disconnect": connect, send one message, exit.
//!
//! Usage: `disconnect_client <node>/<pid>/<chid> [text [hold_secs]]` or
//! `disconnect_client <pid> <chid> [text [hold_secs]]`. Prints `checksum=<n>`, then keeps its
//! connection open for `hold_secs` (default 0); its exit (or its node's loss) makes the server
//! get a disconnect pulse (on whichever node it runs). Errors print `error: <ERRNAME> …` on
//! stderr and exit non-zero.

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use qnet::Connection;

const USAGE: &str = "usage: disconnect_client <node>/<pid>/<chid> [text [hold_secs]] | <pid> <chid> [text [hold_secs]]";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let ((nd, pid, chid), rest) = common::target(&args, USAGE)?;
        let (text, hold) = match rest {
            [] => ("disconnect me", "0"),
            [t] => (t.as_str(), "0"),
            [t, h] => (t.as_str(), h.as_str()),
            _ => anyhow::bail!("{USAGE}"),
        };
        let hold: u64 = hold
            .parse()
            .map_err(|_| anyhow::anyhow!("hold_secs {hold:?} is not a number; {USAGE}"))?;
        let server = Connection::attach(nd, pid, chid)?;
        let mut reply = [0u8; 4];
        server.send(text.as_bytes(), &mut reply)?;
        println!("checksum={}", u32::from_le_bytes(reply));
        std::io::stdout().flush()?;
        // Stay connected: the server sees this client go only when it exits (or its node is lost).
        std::thread::sleep(Duration::from_secs(hold));
        drop(server);
        Ok(())
    })
}
