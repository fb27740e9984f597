//! Course exercise "basic Send/Receive/Reply": the checksum client.
//!
//! Usage: `checksum_client <node>/<pid>/<chid> <text>` (a server on any node; the local node's
//! name or a bare `<pid>/<chid>` mean this node) or `checksum_client <pid> <chid> <text>`.
//! Attaches to the server's channel, sends the text, prints `checksum=<n>` from the reply and
//! then `client pid=<own pid>` (what the server's `_msg_info` should name).
//! Errors print `error: <ERRNAME> …` on stderr and exit non-zero.

mod common;

use std::process::ExitCode;

use qnet::neutrino::{connect_attach, msg_send};

const USAGE: &str = "usage: checksum_client <node>/<pid>/<chid> <text> | <pid> <chid> <text>";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let ((nd, pid, chid), rest) = common::target(&args, USAGE)?;
        let [text] = rest else {
            anyhow::bail!("{USAGE}");
        };
        let coid = connect_attach(nd, pid, chid)?;
        let mut reply = [0u8; 4];
        let status = msg_send(coid, text.as_bytes(), &mut reply)?;
        println!("MsgSend return status: {status}");
        println!("checksum={}", u32::from_le_bytes(reply));
        println!("client pid={}", std::process::id());
        Ok(())
    })
}
