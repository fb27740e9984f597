//! Course demo "handling client unblock pulses": a client that stops waiting for the reply
//! after one second (`TimerTimeout` on the REPLY state).
//!
//! Usage: `unblock_client <node>/<pid>/<chid>` or `unblock_client <pid> <chid>`. Prints
//! `MsgSend failed: <error>` (or `reply status=<n>`); other failures print
//! `error: <ERRNAME> …` on stderr and exit non-zero.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use qnet::neutrino::{TimeoutStates, connect_attach, msg_send, timer_timeout};

const USAGE: &str = "usage: unblock_client <node>/<pid>/<chid> | <pid> <chid>";

fn main() -> ExitCode {
    common::run(|| {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let ((nd, pid, chid), rest) = common::target(&args, USAGE)?;
        if !rest.is_empty() {
            anyhow::bail!("{USAGE}");
        }
        let coid = connect_attach(nd, pid, chid)?;
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
    })
}
