//! `qnetd`'s command line (clap), with the environment variables it honours.

use std::path::PathBuf;

use clap::Parser;
use qnet_proto::frame::FRAME_OVERHEAD;

/// Largest `--max-message-size`: the frame's 32-bit length prefix must still hold a message of
/// that size plus its headroom.
pub const MAX_MESSAGE_SIZE_LIMIT: u64 = u32::MAX as u64 - FRAME_OVERHEAD as u64;

/// How `qnetd` is run.
#[derive(Parser, Debug, Clone)]
#[command(name = "qnetd", version, about = "The per-host qnet daemon")]
pub struct Config {
    /// Unix socket to listen on.
    #[arg(long, env = qnet_proto::SOCKET_ENV, default_value_os_t = qnet_proto::socket_path())]
    pub socket: PathBuf,
    /// This node's name (default: the host name).
    #[arg(long, default_value_t = hostname())]
    pub node: String,
    /// Largest send or reply buffer, in bytes; larger sends fail with `EMSGSIZE`.
    #[arg(
        long,
        default_value_t = 16 * 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGE_SIZE_LIMIT)
    )]
    pub max_message_size: u64,
    /// Runtime worker threads; 0 runs everything on one thread (the default, measured fastest
    /// for local round trips: see the driver's module doc).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `qnet_daemon=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// A configuration for `socket` with every other setting at its default.
    pub fn with_socket(socket: PathBuf) -> Self {
        Self {
            socket,
            node: hostname(),
            max_message_size: 16 * 1024 * 1024,
            worker_threads: 0,
            log: "info".into(),
        }
    }

    /// The largest frame a session accepts: the message limit plus room for the other fields.
    pub fn max_frame_len(&self) -> usize {
        usize::try_from(self.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_OVERHEAD)
    }
}

/// The host name, as the kernel reports it; `localhost` if it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_limit_is_checked() {
        let c = Config::try_parse_from([
            "qnetd",
            "--socket",
            "/tmp/x.sock",
            "--node",
            "a",
            "--max-message-size",
            "1024",
        ])
        .unwrap();
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(c.node, "a");
        assert_eq!(c.max_frame_len(), 1024 + FRAME_OVERHEAD);
        let too_big = (MAX_MESSAGE_SIZE_LIMIT + 1).to_string();
        assert!(Config::try_parse_from(["qnetd", "--max-message-size", &too_big]).is_err());
        assert!(Config::try_parse_from(["qnetd", "--max-message-size", "0"]).is_err());
    }
}
