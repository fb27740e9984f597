//! systemd readiness (`sd_notify`): with `Type=notify` the unit counts as started only when
//! the daemon says `READY=1`, sent once its Unix socket and its peer endpoint are bound, so
//! units ordered after it find a daemon that answers. Without `$NOTIFY_SOCKET` (not under
//! systemd) nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd names its notification socket in.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Tell systemd the daemon is ready (`READY=1`, with its pid and a status line).
pub fn ready(status: &str) {
    send(&format!(
        "READY=1\nMAINPID={}\nSTATUS={status}\n",
        std::process::id()
    ));
}

/// Tell systemd the daemon is reloading its configuration (`READY=1` follows when done).
pub fn reloading() {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0);
    send(&format!("RELOADING=1\nMONOTONIC_USEC={now}\n"));
}

/// Tell systemd the daemon is stopping.
pub fn stopping() {
    send("STOPPING=1\n");
}

fn send(message: &str) {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    // Best effort: a lost notification makes systemd time the start out, which it reports.
    if let Err(e) = send_to(&path, message) {
        tracing::warn!(socket = %path.to_string_lossy(), error = %e, "cannot notify systemd");
    }
}

fn send_to(path: &std::ffi::OsStr, message: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    // `@name`: a socket in the abstract namespace.
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        socket.send_to(message.as_bytes(), path)?;
    }
    Ok(())
}
