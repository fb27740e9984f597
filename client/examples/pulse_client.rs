//! Course exercise "Pulses": a client that sends a pulse, then a message.
//!
//! Usage: `pulse_client <node>/<pid>/<chid> <code> <value>` or
//! `pulse_client <pid> <chid> <code> <value>`. Prints `checksum=<n>` for the message.
//! Errors print `error: <ERRNAME> …` on stderr and exit non-zero.

mod common;

use std::process::ExitCode;

use qnet::neutrino::{connect_attach, msg_send, msg_send_pulse};

const USAGE: &str =
    "usage: pulse_client <node>/<pid>/<chid> <code> <value> | <pid> <chid> <code> <value>";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let ((nd, pid, chid), rest) = common::target(&args, USAGE)?;
        let [code, value] = rest else {
            anyhow::bail!("{USAGE}");
        };
        let coid = connect_attach(nd, pid, chid)?;
        // Priority -1: the calling thread's priority.
        msg_send_pulse(coid, -1, code.parse()?, value.parse()?)?;
        let mut reply = [0u8; 4];
        msg_send(coid, b"pulse client says hi", &mut reply)?;
        println!("checksum={}", u32::from_le_bytes(reply));
        Ok(())
    })
}
