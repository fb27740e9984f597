//! What a config reload (SIGHUP) may change while the daemon runs, in one table.
//!
//! [`SETTINGS`] lists every setting of [`Config`] once, with whether a reload applies it
//! ([`When::Live`]: the log filter, the peer list, the limits, the metrics address) or only a
//! restart does ([`When::Restart`]: the socket, the node name, the peer endpoint and its
//! budgets, the message limit, the runtime and polling set-up). [`diff`] compares the running
//! config with the newly read one by that table, and [`merge`] makes the config that runs
//! after the reload: the live settings from the file, the others as they were (so a later
//! reload still reports them as waiting for a restart). The server applies the live changes
//! (`Server::run`); a new setting is one line here (and, if live, what applies it there).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, Direct, LogFormat, OneCopy, PeerSpec};

/// When a changed setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// At the reload.
    Live,
    /// At the next start.
    Restart,
}

/// One setting of [`Config`], by its config-file key.
#[derive(Debug)]
pub struct Setting {
    /// The config-file key (`limit_channels`, `peers`, …).
    pub key: &'static str,
    /// When a change takes effect.
    pub when: When,
    differs: fn(&Config, &Config) -> bool,
    take: fn(&mut Config, &Config),
    show: fn(&Config) -> String,
}

macro_rules! setting {
    ($key:literal, $when:ident, $($field:ident).+) => {
        Setting {
            key: $key,
            when: When::$when,
            differs: |a, b| a.$($field).+ != b.$($field).+,
            take: |running, new| running.$($field).+ = new.$($field).+.clone(),
            show: |c| Show::show(&c.$($field).+),
        }
    };
}

/// Every setting and when a change to it takes effect.
pub const SETTINGS: &[Setting] = &[
    setting!("log", Live, log),
    setting!("peers", Live, peers),
    setting!("seeds", Live, seeds),
    setting!("metrics", Live, metrics),
    setting!("limit_channels", Live, limits.channels),
    setting!("limit_connections", Live, limits.connections),
    setting!("limit_names", Live, limits.names),
    setting!("limit_events", Live, limits.events),
    setting!("limit_message_bytes", Live, limits.message_bytes),
    setting!("limit_queued_pulses", Live, limits.queued_pulses),
    setting!("node", Restart, node),
    setting!("discover", Restart, discover),
    setting!("mdns_interfaces", Restart, mdns_interfaces),
    setting!("socket", Restart, socket),
    setting!("listen", Restart, listen),
    setting!("certs", Restart, certs),
    setting!("link_timeout", Restart, link_timeout),
    setting!("peer_memory_per_node", Restart, peer_memory_per_node),
    setting!("peer_memory_total", Restart, peer_memory_total),
    setting!("peer_frame_timeout", Restart, peer_frame_timeout),
    setting!("max_message_size", Restart, max_message_size),
    setting!("worker_threads", Restart, worker_threads),
    setting!("busy_poll", Restart, busy_poll),
    setting!("busy_poll_idle", Restart, busy_poll_idle),
    setting!("busy_poll_fixed", Restart, busy_poll_fixed),
    setting!("rt_priority", Restart, rt_priority),
    setting!("one_copy", Restart, one_copy),
    setting!("direct", Restart, direct),
    setting!("mount", Restart, mount),
    setting!("mount_links", Restart, mount_links),
    setting!("log_format", Restart, log_format),
    setting!("log_repeat", Restart, log_repeat),
];

/// One changed setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its key.
    pub key: &'static str,
    /// The running value.
    pub old: String,
    /// The file's value.
    pub new: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.key, self.old, self.new)
    }
}

/// What differs between the running config and a newly read one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Changes a reload applies.
    pub live: Vec<Change>,
    /// Changes that wait for a restart.
    pub restart: Vec<Change>,
}

impl Diff {
    /// Whether `key` changes at this reload.
    pub fn applies(&self, key: &str) -> bool {
        self.live.iter().any(|c| c.key == key)
    }

    /// Whether any limit changes at this reload.
    pub fn limits(&self) -> bool {
        self.live.iter().any(|c| c.key.starts_with("limit_"))
    }
}

/// The settings that differ between `running` and `new`, by [`SETTINGS`].
pub fn diff(running: &Config, new: &Config) -> Diff {
    let mut d = Diff::default();
    for s in SETTINGS.iter().filter(|s| (s.differs)(running, new)) {
        let change = Change {
            key: s.key,
            old: (s.show)(running),
            new: (s.show)(new),
        };
        match s.when {
            When::Live => d.live.push(change),
            When::Restart => d.restart.push(change),
        }
    }
    d
}

/// The config that runs after a reload: `new`'s live settings, `running`'s others.
pub fn merge(running: &Config, new: &Config) -> Config {
    let mut merged = running.clone();
    for s in SETTINGS.iter().filter(|s| s.when == When::Live) {
        (s.take)(&mut merged, new);
    }
    merged
}

/// `changes` on one line: `key old -> new; key old -> new`.
pub fn line(changes: &[Change]) -> String {
    let mut out = String::new();
    for (i, c) in changes.iter().enumerate() {
        let _ = write!(out, "{}{c}", if i == 0 { "" } else { "; " });
    }
    out
}

/// A setting's value as the log line shows it (the config file's spelling, never `Debug`).
trait Show {
    fn show(&self) -> String;
}

impl Show for String {
    fn show(&self) -> String {
        format!("{self:?}")
    }
}

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl Show for SocketAddr {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| "off".into(), Show::show)
    }
}

impl Show for Vec<PathBuf> {
    fn show(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let all: Vec<String> = self.iter().map(|p| p.display().to_string()).collect();
        all.join(",")
    }
}

impl Show for Vec<String> {
    fn show(&self) -> String {
        if self.is_empty() {
            "none".into()
        } else {
            self.join(",")
        }
    }
}

impl Show for crate::config::Discover {
    fn show(&self) -> String {
        match self {
            crate::config::Discover::None => "off".into(),
            crate::config::Discover::Mdns => "mdns".into(),
        }
    }
}

impl Show for Vec<PeerSpec> {
    fn show(&self) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let peers: Vec<String> = self
            .iter()
            .map(|p| format!("{}={}", p.name, p.addr))
            .collect();
        peers.join(",")
    }
}

impl Show for LogFormat {
    fn show(&self) -> String {
        match self {
            LogFormat::Text => "text".into(),
            LogFormat::Json => "json".into(),
        }
    }
}

impl Show for OneCopy {
    fn show(&self) -> String {
        match self {
            OneCopy::On => "on".into(),
            OneCopy::Off => "off".into(),
        }
    }
}

impl Show for Direct {
    fn show(&self) -> String {
        match self {
            Direct::On => "on".into(),
            Direct::Off => "off".into(),
        }
    }
}

macro_rules! show_display {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
show_display!(u8, u64, usize, bool);

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config::with_socket("/tmp/x.sock".into())
    }

    #[test]
    fn live_settings_are_taken_and_the_others_wait_for_a_restart() {
        let running = base();
        let mut new = base();
        new.log = "debug".into();
        new.limits.channels = 3;
        new.max_message_size = 1024;
        new.peers = vec![PeerSpec {
            name: "n2".into(),
            addr: "127.0.0.1:7".into(),
        }];
        let d = diff(&running, &new);
        let keys = |c: &[Change]| c.iter().map(|c| c.key).collect::<Vec<_>>();
        assert_eq!(keys(&d.live), ["log", "peers", "limit_channels"]);
        assert_eq!(keys(&d.restart), ["max_message_size"]);
        assert!(d.applies("peers") && d.limits() && !d.applies("metrics"));
        assert_eq!(
            line(&d.restart),
            "max_message_size 16777216 -> 1024",
            "old and new values, no Debug text"
        );
        assert_eq!(d.live[1].new, "n2=127.0.0.1:7");
        let merged = merge(&running, &new);
        assert_eq!(merged.log, "debug");
        assert_eq!(merged.limits.channels, 3);
        assert_eq!(merged.peers.len(), 1);
        assert_eq!(merged.max_message_size, running.max_message_size);
        // The next reload of the same file still says the message limit waits.
        let again = diff(&merged, &new);
        assert!(again.live.is_empty());
        assert_eq!(keys(&again.restart), ["max_message_size"]);
        assert_eq!(diff(&running, &running.clone()), Diff::default());
    }

    /// Every key of the table is a distinct config-file key.
    #[test]
    fn each_setting_is_listed_once() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
