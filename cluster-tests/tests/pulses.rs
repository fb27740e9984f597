//! One-way remote pulses over real QUIC between real daemons: a `MsgSendPulse` on a remote
//! connection completes on the sender's node, the pulses travel batched on one stream per
//! link, and a send that follows them is received after them all (the call waits on the
//! serving node for the pulses queued before it). A peer that dies while pulses stream
//! leaves no sender hanging.

use std::path::Path;

use cluster_tests::{Cluster, field, ok_output};

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

/// Many pulses, then a send, from one thread on n1 to one server on n2: the server
/// receives every pulse once, in the order sent, and the message after the last one. Then
/// pulses and the sender's exit: every pulse before the disconnect pulse.
#[test]
fn many_pulses_then_a_send_arrive_in_order_and_counted_exactly() {
    const N: usize = 5000;
    let c = Cluster::start(&["n1", "n2"]);
    let server = c.node("n2").spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");
    let mut sender = c
        .node("n1")
        .spawn(probe(), &["pulses", &target, &N.to_string(), "--then-send"]);
    let out = ok_output(&mut sender);
    assert!(out.contains(&format!("pulsed n={N}")), "{out}");
    assert!(out.contains("result=ok"), "{out}");
    server.line("the message after the pulses", |l| {
        l.starts_with("msg ") && l.ends_with("data=after")
    });
    let lines = server.stdout.all();
    let msg_at = lines
        .iter()
        .position(|l| l.starts_with("msg ") && l.ends_with("data=after"))
        .expect("message line");
    let values: Vec<i64> = lines
        .iter()
        .filter(|l| l.starts_with("pulse code=5 "))
        .map(|l| field(l, "value").parse().expect("pulse value"))
        .collect();
    let expected: Vec<i64> = (0..N as i64).collect();
    assert!(
        values == expected,
        "pulses not received exactly once in order: {} received, first differences {:?}",
        values.len(),
        values
            .iter()
            .zip(&expected)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .collect::<Vec<_>>()
    );
    let last_pulse_at = lines
        .iter()
        .rposition(|l| l.starts_with("pulse code=5 "))
        .expect("pulse lines");
    assert!(
        last_pulse_at < msg_at,
        "the send overtook pulses: message at line {msg_at}, last pulse at line {last_pulse_at}"
    );

    // A sender that exits right after its pulses: its node's exit notice (on the control
    // stream) is applied after them, so every pulse arrives, then the disconnect pulse.
    const M: usize = 2000;
    let server = c.node("n2").spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");
    let mut sender = c
        .node("n1")
        .spawn(probe(), &["pulses", &target, &M.to_string()]);
    ok_output(&mut sender);
    server.line("the disconnect pulse", |l| l.starts_with("pulse code=-33"));
    let lines = server.stdout.all();
    let disconnect_at = lines
        .iter()
        .position(|l| l.starts_with("pulse code=-33"))
        .expect("disconnect line");
    let before: Vec<i64> = lines[..disconnect_at]
        .iter()
        .filter(|l| l.starts_with("pulse code=5 "))
        .map(|l| field(l, "value").parse().expect("pulse value"))
        .collect();
    assert_eq!(
        before,
        (0..M as i64).collect::<Vec<_>>(),
        "pulses before the sender's exit were lost or came after its disconnect pulse"
    );
}

/// The serving daemon is killed while a sender streams pulses to it: the sender is never
/// stuck (its pulses complete, or wait briefly with `EAGAIN` while the link's queue is
/// full, until the node is seen down and its connection fails `EBADF`), and its daemon
/// goes on serving.
#[test]
fn a_peer_dying_mid_stream_does_not_hang_the_sender() {
    let mut c = Cluster::start(&["n1", "n2"]);
    let server = c.node("n2").spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");
    let mut sender = c
        .node("n1")
        .spawn(probe(), &["pulses", &target, "100000000"]);
    sender.line_starting("sending");
    // Let pulses flow before the kill.
    server.line("a pulse", |l| l.starts_with("pulse code=5 "));
    c.kill("n2");
    let (ok, stdout, stderr) = sender.output();
    assert!(!ok, "the sender cannot have sent 10^8 pulses: {stdout}");
    assert!(
        stderr.contains("EBADF"),
        "stdout: {stdout}\nstderr: {stderr}"
    );

    // n1's daemon still serves: a local server answers a local client.
    let local = c.node("n1").spawn(probe(), &["serve"]);
    let (pid, chid) = local.pid_chid();
    let mut client = c
        .node("n1")
        .spawn(probe(), &["send", &format!("{pid}/{chid}"), "still"]);
    let out = ok_output(&mut client);
    assert!(out.contains("result=ok"), "{out}");
}
