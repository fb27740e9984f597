//! `qnetd`'s configuration: command line (clap, with the environment variables it honours),
//! an optional TOML file with the same keys, and their merge (the command line wins).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use qnet_proto::frame::FRAME_OVERHEAD;
use serde::Deserialize;

/// Largest `--max-message-size`: the frame's 32-bit length prefix must still hold a message of
/// that size plus its headroom.
pub const MAX_MESSAGE_SIZE_LIMIT: u64 = u32::MAX as u64 - FRAME_OVERHEAD as u64;

/// Default `--max-message-size`.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 * 1024 * 1024;

/// Default `--link-timeout`: the bound on noticing that a peer node is gone.
pub const DEFAULT_LINK_TIMEOUT: Duration = Duration::from_secs(3);

/// Default `--peer-frame-timeout`.
pub const DEFAULT_PEER_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Default budget of one peer node's frames being received (`--peer-memory-per-node`, for
/// the default message limit).
pub const DEFAULT_PEER_MEMORY_PER_NODE: u64 = 128 << 20;

/// Default budget of all peers' frames being received (`--peer-memory-total`).
pub const DEFAULT_PEER_MEMORY_TOTAL: u64 = 512 << 20;

/// Default `--peer-memory-per-node` for a message limit: 128 MiB, or room for four of the
/// largest frames if that is more.
pub fn default_peer_memory(max_message_size: u64) -> u64 {
    DEFAULT_PEER_MEMORY_PER_NODE.max(
        max_message_size
            .saturating_add(FRAME_OVERHEAD as u64)
            .saturating_mul(4),
    )
}

/// The command line of `qnetd`. Every setting may also come from `--config FILE`.
#[derive(Parser, Debug, Clone, Default)]
#[command(name = "qnetd", version = crate::VERSION, about = "The per-host qnet daemon")]
pub struct Args {
    /// Validate the configuration, the certificates and the addresses, print one line and
    /// exit (0: usable; 1: the line says what is wrong). Starts nothing.
    #[arg(long)]
    pub check: bool,
    /// TOML file with the same keys (node, socket, listen, certs, peers = [{name, addr}],
    /// seeds = ["HOST:PORT"], discover ("mdns"), mdns_interfaces,
    /// link_timeout ("3s"), peer_memory_per_node, peer_memory_total, peer_frame_timeout,
    /// max_message_size, busy_poll ("200us"), busy_poll_idle, one_copy, direct, metrics, log,
    /// log_format, log_repeat, limit_*, mount, mount_links = [...]); flags given here override
    /// it. SIGHUP re-reads it and applies log, peers, seeds, metrics and limit_* at once (the
    /// rest at the next start).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Unix socket to listen on (default: $QNET_SOCKET or /tmp/qnetd.sock; clients also look
    /// for /run/qnet/qnetd.sock, the system daemon's).
    #[arg(long, env = qnet_proto::SOCKET_ENV)]
    pub socket: Option<PathBuf>,
    /// This node's name (default: the host name up to its first dot): 1 to 63 of A-Z a-z
    /// 0-9 - _ . and not `all`.
    #[arg(long)]
    pub node: Option<String>,
    /// UDP address to accept peer daemons on (QUIC), `IP:PORT` or `HOST:PORT` (resolved at
    /// start); without it the daemon is single-node.
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory with `ca.pem` and this node's `NODE.pem`/`NODE.key` (required by --listen).
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// A peer node to dial, `NAME=ADDR` (repeatable; nds 1, 2, … in this order).
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<PeerSpec>,
    /// A node to join the cluster through, `HOST:PORT` (repeatable). Whoever answers there
    /// with a certificate of the cluster CA is linked, and the member directory it sends
    /// brings in the rest. The name is resolved again each round, so a DNS name that returns
    /// every member works. May be mixed with --peer.
    #[arg(long = "seed")]
    pub seeds: Vec<String>,
    /// Discover nodes on the local network too: `mdns` (DNS-SD, service `_qnet._udp`; off by
    /// default: on an untrusted network list peers or seeds instead). `none` turns off what
    /// the config file asked for.
    #[arg(long, value_enum)]
    pub discover: Option<Discover>,
    /// Network interface mDNS announces and browses on (repeatable; default: every interface
    /// with a routable address).
    #[arg(long = "mdns-interface")]
    pub mdns_interfaces: Vec<String>,
    /// How long a silent peer link lasts before the node counts as gone (`3s`, `500ms`).
    #[arg(long, value_parser = parse_duration)]
    pub link_timeout: Option<Duration>,
    /// Bytes of frames being received that one peer node may make this daemon hold
    /// (default 128 MiB, at least two of the largest frames); beyond it its streams are
    /// refused. Also sizes its concurrent-stream limit (one per 16 KiB).
    #[arg(long)]
    pub peer_memory_per_node: Option<u64>,
    /// Bytes of frames being received from all peers together (default 512 MiB, at least
    /// --peer-memory-per-node).
    #[arg(long)]
    pub peer_memory_total: Option<u64>,
    /// A frame from a peer that stops arriving for this long closes its stream (`10s`).
    #[arg(long, value_parser = parse_duration)]
    pub peer_frame_timeout: Option<Duration>,
    /// Largest send or reply buffer, in bytes; larger sends fail with `EMSGSIZE`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGE_SIZE_LIMIT))]
    pub max_message_size: Option<u64>,
    /// Runtime worker threads; 0 runs everything on one thread (the default, measured fastest
    /// for local round trips: see the driver's module doc).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
    /// After a call is made, keep polling sockets without sleeping for up to this long while
    /// it waits for its answer (`200us` by default; `0s`: never poll, always sleep; at most
    /// `1s`). Trades CPU for latency: see BENCHMARKS.md.
    #[arg(long, value_parser = parse_duration)]
    pub busy_poll: Option<Duration>,
    /// The older spelling of --busy-poll, in microseconds.
    #[arg(long, conflicts_with = "busy_poll", hide = true)]
    pub busy_poll_us: Option<u64>,
    /// Otherwise (no call made within --busy-poll waits), keep polling this long after the
    /// last message (`50us` by default, at most --busy-poll): catches the next request of a
    /// client that sends again at once, and lets the daemon sleep soon after a control loop's
    /// call.
    #[arg(long, value_parser = parse_duration)]
    pub busy_poll_idle: Option<Duration>,
    /// The older spelling of --busy-poll-idle, in microseconds.
    #[arg(long, conflicts_with = "busy_poll_idle", hide = true)]
    pub busy_poll_idle_us: Option<u64>,
    /// Always poll the full --busy-poll / --busy-poll-idle windows. By default, once calls
    /// come more than 400 µs apart, the daemon learns from the traffic when polling catches
    /// the answer or the next request, and stops polling when it does not (a call every
    /// millisecond: it sleeps between calls).
    #[arg(long)]
    pub busy_poll_fixed: bool,
    /// The daemon's own SCHED_FIFO priority (default 0: stay SCHED_OTHER; 90, above every
    /// client, is what the shipped config sets so that a real-time CPU hog cannot starve
    /// message passing). Needs CAP_SYS_NICE; without it the daemon says so and stays
    /// SCHED_OTHER. With one CPU in its affinity set, busy polling is turned off at a
    /// real-time priority.
    #[arg(long)]
    pub rt_priority: Option<u8>,
    /// One copy for large payloads (`on`, the default, or `off`): the daemon copies them
    /// straight out of / into a client's memory (`process_vm_readv`/`writev`) instead of
    /// through the session socket, for clients whose memory it may read (the same user, or
    /// a daemon with CAP_SYS_PTRACE, e.g. root; see ARCHITECTURE.md).
    #[arg(long, value_enum)]
    pub one_copy: Option<OneCopy>,
    /// The direct path for local calls (`on`, the default, or `off`): a client and a server
    /// that both use it exchange messages through shared memory the daemon sets up, and the
    /// daemon is not woken for an ordinary call (see ARCHITECTURE.md). `off` keeps every
    /// call on the session sockets; a client can also keep off it with `QNET_DIRECT=0`.
    #[arg(long, value_enum)]
    pub direct: Option<Direct>,
    /// Serve Prometheus metrics (`GET /metrics`) on this TCP address, e.g. `127.0.0.1:9100`
    /// (off by default; anyone who can connect may read them).
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `qnet_daemon=debug`; default
    /// `info`, or the config file's `log`, which a reload (SIGHUP) applies).
    #[arg(long, env = "RUST_LOG")]
    pub log: Option<String>,
    /// How often a repeated failure about one peer (the same dial error, refused connections
    /// from one address) is logged again while it lasts, with the count in between (`1m`).
    #[arg(long, value_parser = parse_duration)]
    pub log_repeat: Option<Duration>,
    /// Log line format: `text` (the default) or `json` (one JSON object per line, for log
    /// collectors).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Channels one process may hold (default 4096); more fail with EAGAIN.
    #[arg(long)]
    pub limit_channels: Option<usize>,
    /// Connections (coids, local and remote) one process may hold (default 16384).
    #[arg(long)]
    pub limit_connections: Option<usize>,
    /// Names one process may attach (default 1024).
    #[arg(long)]
    pub limit_names: Option<usize>,
    /// Events one process may register (default 16384).
    #[arg(long)]
    pub limit_events: Option<usize>,
    /// Bytes of one process's unanswered messages the daemon holds (default 268435456, or four
    /// times --max-message-size if that is more).
    #[arg(long)]
    pub limit_message_bytes: Option<u64>,
    /// Pulses one channel may queue (default 16384); more fail with EAGAIN.
    #[arg(long)]
    pub limit_queued_pulses: Option<usize>,
    /// Serve the pathname space (the paths resource managers attached, this node's and
    /// other nodes' under `net/<node>`) as a FUSE file system mounted here, e.g.
    /// `/run/qnet/fs` (off by default; needs root or CAP_SYS_ADMIN and /dev/fuse).
    #[arg(long)]
    pub mount: Option<PathBuf>,
    /// With --mount: attached paths under this directory (e.g. `/dev`) get a symbolic link
    /// to their file in the mount, where nothing exists yet (repeatable; none by default).
    #[arg(long = "mount-link", requires = "mount")]
    pub mount_links: Vec<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// How nodes are discovered besides `--peer` and `--seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Discover {
    /// Only configured peers and seeds.
    #[default]
    None,
    /// mDNS / DNS-SD on the local network as well.
    Mdns,
}

/// Whether the daemon offers one copy at all (`--one-copy`; see `local::one_copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OneCopy {
    /// Offered to every client whose memory the daemon may read.
    #[default]
    On,
    /// Never: payloads always travel in the frames.
    Off,
}

/// Whether the daemon offers the direct path (`--direct`; see `local::direct`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Direct {
    /// Offered to every library that asks.
    #[default]
    On,
    /// Never: every local call goes through the daemon.
    Off,
}

/// One peer node: its name (as its certificate says) and where to dial it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerSpec {
    /// Node name.
    pub name: String,
    /// `host:port` (resolved at each dial, so a host name may move).
    pub addr: String,
}

/// The keys of a `--config` file.
/// The daemon's SCHED_FIFO priority when none is given: 0, stay SCHED_OTHER. A real-time
/// daemon that busy-polls takes a whole CPU from every SCHED_OTHER thread while it polls,
/// which costs several times the round trip where two daemons share a host (measured: remote
/// 64 B p50 7.45x raw quinn vs 1.74x, see BENCHMARKS.md), so it is the deployment's choice:
/// the shipped config and unit set [`RECOMMENDED_RT_PRIORITY`].
pub const DEFAULT_RT_PRIORITY: u8 = 0;

/// The SCHED_FIFO priority the shipped config gives the daemon, above every client
/// (`qnet_core::sched::DAEMON_RT`).
pub const RECOMMENDED_RT_PRIORITY: u8 = qnet_core::sched::DAEMON_RT as u8;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node: Option<String>,
    socket: Option<PathBuf>,
    listen: Option<String>,
    certs: Option<PathBuf>,
    #[serde(default)]
    peers: Vec<PeerSpec>,
    #[serde(default)]
    seeds: Vec<String>,
    discover: Option<Discover>,
    #[serde(default)]
    mdns_interfaces: Vec<String>,
    #[serde(default, deserialize_with = "de_duration")]
    link_timeout: Option<Duration>,
    /// The older spelling of `link_timeout`, still read.
    link_timeout_ms: Option<u64>,
    peer_memory_per_node: Option<u64>,
    peer_memory_total: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    peer_frame_timeout: Option<Duration>,
    /// The older spelling of `peer_frame_timeout`, still read.
    peer_frame_timeout_ms: Option<u64>,
    max_message_size: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    busy_poll: Option<Duration>,
    /// The older spelling of `busy_poll`, in microseconds, still read.
    busy_poll_us: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    busy_poll_idle: Option<Duration>,
    /// The older spelling of `busy_poll_idle`, in microseconds, still read.
    busy_poll_idle_us: Option<u64>,
    busy_poll_fixed: Option<bool>,
    rt_priority: Option<u8>,
    one_copy: Option<OneCopy>,
    direct: Option<Direct>,
    metrics: Option<String>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    #[serde(default, deserialize_with = "de_duration")]
    log_repeat: Option<Duration>,
    limit_channels: Option<usize>,
    limit_connections: Option<usize>,
    limit_names: Option<usize>,
    limit_events: Option<usize>,
    limit_message_bytes: Option<u64>,
    limit_queued_pulses: Option<usize>,
    mount: Option<PathBuf>,
    #[serde(default)]
    mount_links: Vec<PathBuf>,
}

/// Why the configuration is unusable. Each message is one line that names the cause itself
/// (there is no `source()`: printing the chain would say it twice).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The config file is not valid TOML with the known keys.
    #[error("config file {}: line {line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the error (1-based).
        line: usize,
        /// The parser's complaint, on one line.
        message: String,
    },
    /// A setting is invalid or settings contradict each other.
    #[error("{0}")]
    Invalid(String),
}

/// How `qnetd` runs: the merged, validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Unix socket to listen on.
    pub socket: PathBuf,
    /// This node's name.
    pub node: String,
    /// Largest send or reply buffer, in bytes.
    pub max_message_size: u64,
    /// Runtime worker threads (0: one thread).
    pub worker_threads: usize,
    /// Log filter.
    pub log: String,
    /// How often the same failure about one peer is logged again.
    pub log_repeat: Duration,
    /// Peer endpoint address; `None`: single-node.
    pub listen: Option<SocketAddr>,
    /// Prometheus endpoint address; `None`: off.
    pub metrics: Option<SocketAddr>,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Certificate directory (set whenever `listen` is).
    pub certs: Option<PathBuf>,
    /// Peers to dial, in nd order (1, 2, …).
    pub peers: Vec<PeerSpec>,
    /// Seeds to join through (`HOST:PORT`, resolved at each round).
    pub seeds: Vec<String>,
    /// Local-network discovery.
    pub discover: Discover,
    /// Interfaces mDNS runs on (empty: every interface with a routable address).
    pub mdns_interfaces: Vec<String>,
    /// QUIC idle timeout of peer links (keep-alive every sixth of it).
    pub link_timeout: Duration,
    /// Budget of frames being received from one peer node.
    pub peer_memory_per_node: u64,
    /// Budget of frames being received from all peers.
    pub peer_memory_total: u64,
    /// How long a frame from a peer may stop arriving.
    pub peer_frame_timeout: Duration,
    /// Busy-polling window after a call that still waits for its answer (zero: off); see
    /// `poll`.
    pub busy_poll: Duration,
    /// Busy-polling window after the last kernel call when no recent call waits (capped at
    /// `busy_poll` when polling starts).
    pub busy_poll_idle: Duration,
    /// Poll the full windows always instead of learning them (see `poll::Spin`).
    pub busy_poll_fixed: bool,
    /// Own SCHED_FIFO priority (0: none); see `sched`.
    pub rt_priority: u8,
    /// Whether one copy is offered to clients (`--one-copy`).
    pub one_copy: OneCopy,
    /// Whether the direct path is offered (`--direct`).
    pub direct: Direct,
    /// What one process and one channel may hold.
    pub limits: qnet_core::Limits,
    /// Where the pathname space is mounted (FUSE); `None`: not mounted.
    pub mount: Option<PathBuf>,
    /// Roots under which attached paths get a symbolic link to the mount.
    pub mount_links: Vec<PathBuf>,
}

impl Config {
    /// A configuration for `socket` with every other setting at its default (single-node).
    pub fn with_socket(socket: PathBuf) -> Self {
        Self {
            socket,
            node: hostname(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            worker_threads: 0,
            log: "info".into(),
            log_repeat: qnet_transport::explain::REPEAT,
            listen: None,
            metrics: None,
            log_format: LogFormat::Text,
            certs: None,
            peers: Vec::new(),
            seeds: Vec::new(),
            discover: Discover::None,
            mdns_interfaces: Vec::new(),
            link_timeout: DEFAULT_LINK_TIMEOUT,
            peer_memory_per_node: default_peer_memory(DEFAULT_MAX_MESSAGE_SIZE),
            peer_memory_total: DEFAULT_PEER_MEMORY_TOTAL,
            peer_frame_timeout: DEFAULT_PEER_FRAME_TIMEOUT,
            busy_poll: crate::poll::DEFAULT_BUSY_POLL,
            busy_poll_idle: crate::poll::DEFAULT_BUSY_POLL_IDLE,
            busy_poll_fixed: false,
            rt_priority: DEFAULT_RT_PRIORITY,
            one_copy: OneCopy::On,
            direct: Direct::On,
            limits: qnet_core::Limits::default(),
            mount: None,
            mount_links: Vec::new(),
        }
    }

    /// Merge `args` over the file it names (if any) and validate.
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let link_timeout = args
            .link_timeout
            .or(file.link_timeout)
            .or(file.link_timeout_ms.map(Duration::from_millis))
            .unwrap_or(DEFAULT_LINK_TIMEOUT);
        let max_message_size = args
            .max_message_size
            .or(file.max_message_size)
            .unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let discover = args.discover.or(file.discover).unwrap_or_default();
        let peer_memory_per_node = args
            .peer_memory_per_node
            .or(file.peer_memory_per_node)
            .unwrap_or_else(|| default_peer_memory(max_message_size));
        let config = Self {
            socket: args
                .socket
                .or(file.socket)
                .unwrap_or_else(qnet_proto::socket_path),
            node: args.node.or(file.node).unwrap_or_else(hostname),
            max_message_size,
            worker_threads: args.worker_threads,
            log: args.log.or(file.log).unwrap_or_else(|| "info".into()),
            log_repeat: (args.log_repeat)
                .or(file.log_repeat)
                .unwrap_or(qnet_transport::explain::REPEAT),
            listen: args
                .listen
                .or(file.listen)
                .as_deref()
                .map(resolve_listen)
                .transpose()?,
            metrics: match (args.metrics, file.metrics.as_deref()) {
                (Some(addr), _) => Some(addr),
                (None, Some(text)) => Some(text.parse().map_err(|e| {
                    ConfigError::Invalid(format!(
                        "metrics = {text:?} in the config file: {e}: give IP:PORT, e.g. \
                         127.0.0.1:9100"
                    ))
                })?),
                (None, None) => None,
            },
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            certs: args.certs.or(file.certs),
            peers: if args.peers.is_empty() {
                file.peers
            } else {
                args.peers
            },
            seeds: if args.seeds.is_empty() {
                file.seeds
            } else {
                args.seeds
            },
            discover,
            // The file's interfaces matter only when discovery is on (a flag may turn it off).
            mdns_interfaces: match (args.mdns_interfaces.is_empty(), discover) {
                (false, _) => args.mdns_interfaces,
                (true, Discover::Mdns) => file.mdns_interfaces,
                (true, Discover::None) => Vec::new(),
            },
            link_timeout,
            peer_memory_per_node,
            peer_memory_total: args
                .peer_memory_total
                .or(file.peer_memory_total)
                .unwrap_or(DEFAULT_PEER_MEMORY_TOTAL.max(peer_memory_per_node)),
            peer_frame_timeout: args
                .peer_frame_timeout
                .or(file.peer_frame_timeout)
                .or(file.peer_frame_timeout_ms.map(Duration::from_millis))
                .unwrap_or(DEFAULT_PEER_FRAME_TIMEOUT),
            busy_poll: (args.busy_poll)
                .or(args.busy_poll_us.map(Duration::from_micros))
                .or(file.busy_poll)
                .or(file.busy_poll_us.map(Duration::from_micros))
                .unwrap_or(crate::poll::DEFAULT_BUSY_POLL),
            busy_poll_idle: (args.busy_poll_idle)
                .or(args.busy_poll_idle_us.map(Duration::from_micros))
                .or(file.busy_poll_idle)
                .or(file.busy_poll_idle_us.map(Duration::from_micros))
                .unwrap_or(crate::poll::DEFAULT_BUSY_POLL_IDLE),
            busy_poll_fixed: args.busy_poll_fixed || file.busy_poll_fixed.unwrap_or(false),
            rt_priority: args
                .rt_priority
                .or(file.rt_priority)
                .unwrap_or(DEFAULT_RT_PRIORITY),
            one_copy: args.one_copy.or(file.one_copy).unwrap_or_default(),
            direct: args.direct.or(file.direct).unwrap_or_default(),
            limits: {
                let d = qnet_core::Limits::default();
                qnet_core::Limits {
                    channels: args
                        .limit_channels
                        .or(file.limit_channels)
                        .unwrap_or(d.channels),
                    connections: (args.limit_connections.or(file.limit_connections))
                        .unwrap_or(d.connections),
                    names: args.limit_names.or(file.limit_names).unwrap_or(d.names),
                    events: args.limit_events.or(file.limit_events).unwrap_or(d.events),
                    // By default at least four messages of the largest size.
                    message_bytes: (args.limit_message_bytes.or(file.limit_message_bytes))
                        .unwrap_or(d.message_bytes.max(4 * max_message_size)),
                    queued_pulses: (args.limit_queued_pulses.or(file.limit_queued_pulses))
                        .unwrap_or(d.queued_pulses),
                }
            },
            mount: args.mount.or(file.mount),
            mount_links: if args.mount_links.is_empty() {
                file.mount_links
            } else {
                args.mount_links
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        if !(1..=MAX_MESSAGE_SIZE_LIMIT).contains(&self.max_message_size) {
            return invalid(format!(
                "max_message_size {} is outside 1..={MAX_MESSAGE_SIZE_LIMIT}",
                self.max_message_size
            ));
        }
        if let Some(m) = &self.mount {
            if !m.is_absolute() {
                return invalid(format!("mount {} must be an absolute path", m.display()));
            }
        }
        if let Some(l) = self
            .mount_links
            .iter()
            .find(|l| !l.is_absolute() || l.as_os_str() == "/")
        {
            return invalid(format!(
                "mount link root {} must be an absolute directory other than /",
                l.display()
            ));
        }
        if !self.mount_links.is_empty() && self.mount.is_none() {
            return invalid("mount_links needs mount (the links point into it)".into());
        }
        if self.listen.is_some() && self.certs.is_none() {
            return invalid(
                "--listen needs --certs DIR (the cluster CA and this node's certificate)".into(),
            );
        }
        if !self.peers.is_empty() && self.listen.is_none() {
            return invalid("--peer needs --listen (peers are reached from that endpoint)".into());
        }
        if !self.seeds.is_empty() && self.listen.is_none() {
            return invalid("--seed needs --listen (seeds are reached from that endpoint)".into());
        }
        if self.discover == Discover::Mdns && self.listen.is_none() {
            return invalid(
                "--discover mdns needs --listen (it announces that endpoint's port)".into(),
            );
        }
        if !self.mdns_interfaces.is_empty() && self.discover != Discover::Mdns {
            return invalid("--mdns-interface needs --discover mdns".into());
        }
        // Also without --listen: the name is the `node/` prefix of names and addresses.
        qnet_core::node_name::validate_node_name(&self.node).map_err(|e| {
            ConfigError::Invalid(format!("{e}: set this node's name with --node NAME"))
        })?;
        if self.link_timeout < Duration::from_millis(60) {
            return invalid(format!(
                "link timeout {:?} is too short (at least 60ms)",
                self.link_timeout
            ));
        }
        if self.peer_memory_per_node < 2 * self.max_frame_len() as u64 {
            return invalid(format!(
                "peer_memory_per_node {} is below two of the largest frames ({}): a peer \
                 could not send the largest message while another arrives",
                self.peer_memory_per_node,
                2 * self.max_frame_len()
            ));
        }
        if self.peer_memory_total < self.peer_memory_per_node {
            return invalid(format!(
                "peer_memory_total {} is below peer_memory_per_node {}",
                self.peer_memory_total, self.peer_memory_per_node
            ));
        }
        if self.peer_frame_timeout < Duration::from_millis(100) {
            return invalid(format!(
                "peer frame timeout {:?} is too short (at least 100ms)",
                self.peer_frame_timeout
            ));
        }
        if self.busy_poll > crate::poll::MAX_BUSY_POLL {
            return invalid(format!(
                "busy_poll {} is above {} (polling after every message); a few hundred µs \
                 covers a round trip, 0s turns polling off",
                humantime::format_duration(self.busy_poll),
                humantime::format_duration(crate::poll::MAX_BUSY_POLL)
            ));
        }
        if self.busy_poll_idle > crate::poll::MAX_BUSY_POLL {
            return invalid(format!(
                "busy_poll_idle {} is above {}; it is capped at busy_poll anyway",
                humantime::format_duration(self.busy_poll_idle),
                humantime::format_duration(crate::poll::MAX_BUSY_POLL)
            ));
        }
        if self.log_repeat < Duration::from_secs(1) {
            return invalid(format!(
                "log_repeat {} is below 1s: a failing peer would fill the log",
                humantime::format_duration(self.log_repeat)
            ));
        }
        if self.rt_priority > 99 {
            return invalid(format!(
                "rt_priority {} is above 99 (Linux's highest SCHED_FIFO priority); \
                 {RECOMMENDED_RT_PRIORITY} is above every client, 0 turns it off",
                self.rt_priority
            ));
        }
        for limit in qnet_core::Limit::ALL {
            if self.limits.of(limit) == 0 {
                return invalid(format!("limit_{} must be at least 1", limit.name()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.peers {
            qnet_transport::validate_node_name(&p.name)
                .map_err(|e| ConfigError::Invalid(format!("peer name {:?}: {e}", p.name)))?;
            if p.name == self.node {
                return invalid(format!("peer {:?} is this node", p.name));
            }
            if !seen.insert(p.name.as_str()) {
                return invalid(format!("peer {:?} given twice", p.name));
            }
            if let Some(listen) = self.listen {
                check_peer_addr(&p.addr, listen).map_err(|why| {
                    ConfigError::Invalid(format!(
                        "peer {} address {:?}: {why}: give it as NAME=HOST:PORT",
                        p.name, p.addr
                    ))
                })?;
            }
        }
        let mut seen = std::collections::HashSet::new();
        for seed in &self.seeds {
            if let Some(listen) = self.listen {
                check_peer_addr(seed, listen).map_err(|why| {
                    ConfigError::Invalid(format!("seed {seed:?}: {why}: give it as HOST:PORT"))
                })?;
            }
            if !seen.insert(seed.as_str()) {
                return invalid(format!("seed {seed:?} given twice"));
            }
        }
        Ok(())
    }

    /// The largest frame a session accepts: the message limit plus room for the other fields.
    pub fn max_frame_len(&self) -> usize {
        usize::try_from(self.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_OVERHEAD)
    }

    /// QUIC keep-alive interval: a sixth of the link timeout, so a few keep-alives can be lost
    /// before the link counts as dead (the idle timeout is the rest of the link timeout:
    /// `TransportConfig::for_link_timeout`).
    pub fn keep_alive(&self) -> Duration {
        qnet_transport::TransportConfig::for_link_timeout(self.link_timeout).keep_alive_interval
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.into(),
        error,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        line: e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        }),
        message: e.message().replace('\n', " "),
    })
}

/// `NAME=ADDR`.
fn parse_peer(s: &str) -> Result<PeerSpec, String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=ADDR"))?;
    if name.is_empty() || addr.is_empty() {
        return Err(format!("{s:?} is not NAME=ADDR"));
    }
    Ok(PeerSpec {
        name: name.into(),
        addr: addr.into(),
    })
}

/// `--listen`: an `IP:PORT`, or a `HOST:PORT` resolved now (its first address; IPv4 first,
/// as `localhost` should mean 127.0.0.1 for peers dialling it by IPv4).
fn resolve_listen(listen: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = listen.parse() {
        return Ok(addr);
    }
    let invalid = |why: String| {
        ConfigError::Invalid(format!(
            "--listen {listen:?}: {why}: give IP:PORT or HOST:PORT (e.g. 0.0.0.0:7100)"
        ))
    };
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| invalid("the name resolves to no address".into()))
}

/// Refuse a peer address no link from an endpoint on `listen` could use: not `HOST:PORT`,
/// port 0, an unspecified IP, or an IP the endpoint cannot send to (another address family,
/// or off-host while the endpoint is bound to loopback). A host name is not resolved here:
/// it is resolved at each dial, so a name that does not resolve yet may later.
fn check_peer_addr(addr: &str, listen: SocketAddr) -> Result<(), String> {
    let ip = match addr.parse::<SocketAddr>() {
        Ok(a) if a.port() == 0 => return Err("port 0 cannot be dialled".into()),
        Ok(a) => a.ip(),
        Err(_) => {
            let Some((host, port)) = addr.rsplit_once(':') else {
                return Err("no port".into());
            };
            if host.is_empty() {
                return Err("no host".into());
            }
            if host.contains(':') || host.starts_with('[') {
                return Err("not an IPv6 address in the form [ADDR]:PORT".into());
            }
            match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(format!("port {port:?} is not 1..=65535")),
                Ok(_) => {}
            }
            if host.parse::<std::net::IpAddr>().is_err()
                && !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(format!("{host:?} is neither an IP address nor a host name"));
            }
            return Ok(());
        }
    };
    if ip.is_unspecified() {
        return Err(format!("{ip} is not an address one can dial"));
    }
    let l = listen.ip();
    if l.is_ipv4() && ip.is_ipv6() {
        return Err(format!("it is IPv6 while --listen {listen} is IPv4"));
    }
    if l.is_ipv6() && !l.is_unspecified() && ip.is_ipv4() {
        return Err(format!("it is IPv4 while --listen {listen} is IPv6"));
    }
    if l.is_loopback() && !ip.is_loopback() {
        return Err(format!(
            "--listen {listen} is a loopback address: it cannot reach another host"
        ));
    }
    Ok(())
}

/// A duration as flags and the config file spell it: `humantime` (`3s`, `1500ms`, `1m 30s`),
/// or a bare number of seconds (`2`, `0.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 3s, 500ms or 1m30s");
    if let Ok(secs) = s.trim().parse::<f64>() {
        return Some(secs)
            .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(bad);
    }
    humantime::parse_duration(s.trim()).map_err(|_| bad())
}

/// A duration key of the config file: a string as [`parse_duration`] reads it (`"3s"`), or a
/// number of seconds.
fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Secs(f64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(s) => parse_duration(&s).map(Some),
        Raw::Secs(v) => parse_duration(&v.to_string()).map(Some),
    }
    .map_err(serde::de::Error::custom)
}

/// The default node name: the host name as the kernel reports it, up to its first dot (a
/// node name has no dots: `db1.example.com` is node `db1`); `localhost` if it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| first_label(s.trim()).to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `db1.example.com` → `db1`.
fn first_label(host: &str) -> &str {
    host.split('.').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Config` from these flags alone: the caller's `QNET_SOCKET` and `RUST_LOG` (which clap
    /// reads as flags) are ignored, so the tests pass in any shell.
    fn config(args: &[&str]) -> Result<Config, ConfigError> {
        use clap::{CommandFactory, FromArgMatches};
        let mut all = vec!["qnetd"];
        all.extend_from_slice(args);
        let matches = Args::command()
            .mut_args(|a| a.env(None::<&'static str>))
            .try_get_matches_from(all)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Config::from_args(
            Args::from_arg_matches(&matches).map_err(|e| ConfigError::Invalid(e.to_string()))?,
        )
    }

    #[test]
    fn flags_parse_and_limit_is_checked() {
        let c = config(&[
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
        assert!(c.listen.is_none());
        let too_big = (MAX_MESSAGE_SIZE_LIMIT + 1).to_string();
        assert!(config(&["--max-message-size", &too_big]).is_err());
        assert!(config(&["--max-message-size", "0"]).is_err());
        assert!(config(&["--busy-poll-us", "1000000"]).is_ok());
        let e = config(&["--busy-poll-us", "1000001"]).unwrap_err();
        assert!(e.to_string().contains("busy_poll 1s 1us"), "{e}");
        let e = config(&["--busy-poll-idle-us", "1000001"]).unwrap_err();
        assert!(e.to_string().contains("busy_poll_idle 1s 1us"), "{e}");
        let e = config(&["--busy-poll", "2s"]).unwrap_err();
        assert!(e.to_string().contains("busy_poll 2s is above 1s"), "{e}");
        assert!(config(&["--busy-poll", "1s", "--busy-poll-us", "3"]).is_err());
        let c = config(&["--busy-poll", "300us", "--busy-poll-idle", "0s"]).unwrap();
        assert_eq!(c.busy_poll, Duration::from_micros(300));
        assert_eq!(c.busy_poll_idle, Duration::ZERO);
        assert!(!c.busy_poll_fixed, "adaptive by default");
        assert!(config(&["--busy-poll-fixed"]).unwrap().busy_poll_fixed);
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.busy_poll, c.busy_poll_idle),
            (
                crate::poll::DEFAULT_BUSY_POLL,
                crate::poll::DEFAULT_BUSY_POLL_IDLE
            )
        );
    }

    #[test]
    fn network_flags_parse_and_are_checked() {
        let c = config(&[
            "--node",
            "n1",
            "--listen",
            "127.0.0.1:7000",
            "--certs",
            "/c",
            "--peer",
            "n2=127.0.0.1:7001",
            "--peer",
            "n3=host3:7000",
            "--link-timeout",
            "1500ms",
        ])
        .unwrap();
        assert_eq!(c.listen, Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.peers[1].name, "n3");
        assert_eq!(c.peers[1].addr, "host3:7000");
        assert_eq!(c.link_timeout, Duration::from_millis(1500));
        assert_eq!(c.keep_alive(), Duration::from_millis(250));

        let e = config(&["--node", "n1", "--listen", "127.0.0.1:7000"]).unwrap_err();
        assert!(e.to_string().contains("--certs"), "{e}");
        assert!(
            config(&["--peer", "n2=127.0.0.1:1"]).is_err(),
            "peer without listen"
        );
        assert!(config(&["--peer", "garbage"]).is_err());
        let dup = [
            "--node",
            "n1",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            "/c",
            "--peer",
            "n2=a:1",
            "--peer",
            "n2=b:1",
        ];
        assert!(config(&dup).is_err());
        let me = [
            "--node",
            "n1",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            "/c",
            "--peer",
            "n1=a:1",
        ];
        assert!(config(&me).is_err());
        assert_eq!(
            config(&["--link-timeout", "2"]).unwrap().link_timeout,
            Duration::from_secs(2)
        );
        assert!(config(&["--link-timeout", "soon"]).is_err());
        let local = [
            "--node",
            "n1",
            "--certs",
            "/c",
            "--listen",
            "localhost:7000",
        ];
        assert_eq!(
            config(&local).unwrap().listen,
            Some("127.0.0.1:7000".parse().unwrap()),
            "host names resolve"
        );
        let e = config(&["--node", "n1", "--certs", "/c", "--listen", "7000"]).unwrap_err();
        assert!(e.to_string().contains("--listen \"7000\""), "{e}");
    }

    #[test]
    fn file_settings_apply_and_flags_override_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qnetd.toml");
        std::fs::write(
            &path,
            r#"
node = "n1"
socket = "/tmp/f.sock"
listen = "127.0.0.1:7000"
certs = "/certs"
link_timeout_ms = 1000
max_message_size = 2048
busy_poll_us = 7
busy_poll_idle = "3us"
busy_poll_fixed = true
metrics = "127.0.0.1:9100"
log_format = "json"
peers = [{ name = "n2", addr = "127.0.0.1:7001" }, { name = "n3", addr = "127.0.0.1:7002" }]
"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = config(&["--config", p]).unwrap();
        assert_eq!(c.node, "n1");
        assert_eq!(c.socket, PathBuf::from("/tmp/f.sock"));
        assert_eq!(c.certs, Some(PathBuf::from("/certs")));
        assert_eq!(c.link_timeout, Duration::from_secs(1));
        assert_eq!(c.max_message_size, 2048);
        assert_eq!(c.busy_poll, Duration::from_micros(7));
        assert_eq!(c.busy_poll_idle, Duration::from_micros(3));
        assert!(c.busy_poll_fixed, "the file's busy_poll_fixed");
        assert_eq!(c.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["n2", "n3"]
        );
        let c = config(&[
            "--config",
            p,
            "--node",
            "n9",
            "--peer",
            "n4=127.0.0.1:9",
            "--socket",
            "/tmp/g.sock",
            "--busy-poll-us",
            "0",
            "--busy-poll-idle-us",
            "9",
        ])
        .unwrap();
        assert_eq!(c.busy_poll_idle, Duration::from_micros(9));
        assert_eq!(c.node, "n9");
        assert_eq!(c.busy_poll, Duration::ZERO, "0 turns polling off");
        assert_eq!(c.socket, PathBuf::from("/tmp/g.sock"));
        assert_eq!(c.peers.len(), 1, "command-line peers replace the file's");
        std::fs::write(&path, "limit_channels = 3\nlimit_queued_pulses = 9\n").unwrap();
        let c = config(&["--config", p, "--limit-queued-pulses", "5"]).unwrap();
        assert_eq!((c.limits.channels, c.limits.queued_pulses), (3, 5));
        assert_eq!(c.limits.names, qnet_core::Limits::default().names);
        assert!(config(&["--limit-names", "0"]).is_err());
        let big = config(&["--max-message-size", "134217728"]).unwrap();
        assert_eq!(
            big.limits.message_bytes,
            4 * 134217728,
            "room for four largest messages"
        );
        std::fs::write(
            &path,
            "link_timeout = \"1m 30s\"\npeer_frame_timeout = 2.5\n",
        )
        .unwrap();
        let c = config(&["--config", p]).unwrap();
        assert_eq!(
            c.link_timeout,
            Duration::from_secs(90),
            "one spelling: humantime"
        );
        assert_eq!(c.peer_frame_timeout, Duration::from_millis(2500));
        std::fs::write(&path, "link_timeout = \"soon\"\n").unwrap();
        let e = config(&["--config", p]).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("like 3s"), "{e}");
        std::fs::write(&path, "nod = \"typo\"\n").unwrap();
        assert!(matches!(
            config(&["--config", p]),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn seeds_and_discovery_parse_and_are_checked() {
        let base = ["--node", "n1", "--listen", "0.0.0.0:7100", "--certs", "/c"];
        let with = |more: &[&str]| {
            let mut a = base.to_vec();
            a.extend_from_slice(more);
            config(&a)
        };
        let c = with(&["--seed", "n2:7100", "--seed", "10.0.0.3:7100"]).unwrap();
        assert_eq!(c.seeds, ["n2:7100", "10.0.0.3:7100"]);
        assert_eq!(c.discover, Discover::None, "off by default");
        let c = with(&["--discover", "mdns", "--mdns-interface", "eth0"]).unwrap();
        assert_eq!(c.discover, Discover::Mdns);
        assert_eq!(c.mdns_interfaces, ["eth0"]);
        for (bad, says) in [
            (
                &["--seed", "n2:7100", "--seed", "n2:7100"][..],
                "given twice",
            ),
            (&["--seed", "n2"], "no port"),
            (&["--seed", "0.0.0.0:7100"], "not an address one can dial"),
            (&["--mdns-interface", "eth0"], "needs --discover mdns"),
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let e = config(&["--seed", "n2:7100"]).unwrap_err().to_string();
        assert!(e.contains("--seed needs --listen"), "{e}");
        let e = config(&["--discover", "mdns"]).unwrap_err().to_string();
        assert!(e.contains("needs --listen"), "{e}");
        // The file's keys, and flags over them.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qnetd.toml");
        std::fs::write(
            &path,
            "node = \"n1\"\nlisten = \"0.0.0.0:7100\"\ncerts = \"/c\"\n\
             seeds = [\"n2:7100\", \"n3:7100\"]\ndiscover = \"mdns\"\n\
             mdns_interfaces = [\"eth1\"]\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = config(&["--config", p]).unwrap();
        assert_eq!(c.seeds, ["n2:7100", "n3:7100"]);
        assert_eq!(
            (c.discover, c.mdns_interfaces.clone()),
            (Discover::Mdns, vec!["eth1".to_owned()])
        );
        let c = config(&["--config", p, "--seed", "n4:7100", "--discover", "none"]).unwrap();
        assert_eq!(
            c.seeds,
            ["n4:7100"],
            "command-line seeds replace the file's"
        );
        assert_eq!(c.discover, Discover::None);
    }

    #[test]
    fn peer_addresses_that_cannot_work_are_refused() {
        let with = |listen: &str, addr: &str| {
            let peer = format!("n2={addr}");
            config(&[
                "--node", "n1", "--listen", listen, "--certs", "/c", "--peer", &peer,
            ])
        };
        for ok in [
            "127.0.0.1:7001",
            "host-2.example.com:7001",
            "n2:1",
            "localhost:7",
        ] {
            assert!(with("127.0.0.1:7000", ok).is_ok(), "{ok}");
        }
        assert!(with("0.0.0.0:7000", "10.1.2.3:7001").is_ok());
        assert!(with("[::]:7000", "10.1.2.3:7001").is_ok(), "dual-stack");
        assert!(with("[::]:7000", "[fe80::1]:7001").is_ok());
        for (listen, bad, says) in [
            ("0.0.0.0:7000", "nohost", "no port"),
            ("0.0.0.0:7000", ":7001", "no host"),
            ("0.0.0.0:7000", "h:0", "port \"0\""),
            ("0.0.0.0:7000", "h:70000", "port \"70000\""),
            (
                "0.0.0.0:7000",
                "0.0.0.0:7001",
                "not an address one can dial",
            ),
            ("0.0.0.0:7000", "10.0.0.1:0", "port 0"),
            ("0.0.0.0:7000", "[::1]:7001", "IPv6 while --listen"),
            ("0.0.0.0:7000", "fe80::1:7001", "[ADDR]:PORT"),
            ("[::1]:7000", "127.0.0.1:7001", "IPv4 while --listen"),
            ("127.0.0.1:7000", "10.0.0.2:7001", "loopback"),
            ("0.0.0.0:7000", "a b:1", "neither"),
        ] {
            let e = with(listen, bad).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("peer n2 address"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn mount_and_its_links_from_flags_and_file_with_bad_ones_refused() {
        let c = config(&[]).unwrap();
        assert!(
            c.mount.is_none() && c.mount_links.is_empty(),
            "off by default"
        );
        let c = config(&["--mount", "/run/qnet/fs", "--mount-link", "/dev"]).unwrap();
        assert_eq!(c.mount, Some(PathBuf::from("/run/qnet/fs")));
        assert_eq!(c.mount_links, [PathBuf::from("/dev")]);
        let e = config(&["--mount", "fs"]).unwrap_err().to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = config(&["--mount", "/fs", "--mount-link", "/"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("other than /"), "{e}");
        assert!(
            config(&["--mount-link", "/dev"]).is_err(),
            "links need the mount"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("q.toml");
        std::fs::write(
            &file,
            "mount = \"/m\"\nmount_links = [\"/dev\", \"/srv\"]\n",
        )
        .unwrap();
        let c = config(&["--config", file.to_str().unwrap()]).unwrap();
        assert_eq!(c.mount, Some(PathBuf::from("/m")));
        assert_eq!(c.mount_links.len(), 2);
    }

    #[test]
    fn the_default_node_name_is_the_first_label_of_the_host_name() {
        assert_eq!(first_label("db1.example.com"), "db1");
        assert_eq!(first_label("db1"), "db1");
        let e = config(&["--node", "a/b", "--listen", "127.0.0.1:0", "--certs", "/c"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a/b\"") && e.contains("--node NAME"), "{e}");
    }

    /// Issue 22 item 4: node names are checked whether or not the daemon has peers, from the
    /// command line and the config file, and the one-line error names the rule.
    #[test]
    fn node_names_follow_the_rule_with_or_without_peers() {
        for bad in ["bad/name", "", "all", "a b", &"x".repeat(64)] {
            let e = config(&["--node", bad]).unwrap_err().to_string();
            assert!(
                e.contains(qnet_core::node_name::NODE_NAME_RULE) && !e.contains('\n'),
                "{bad:?}: {e}"
            );
        }
        for good in ["n1", "host.example.org", "edge_7-b"] {
            assert_eq!(config(&["--node", good]).unwrap().node, good);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("qnetd.toml");
        std::fs::write(&file, "node = \"x/y\"\n").unwrap();
        let e = config(&["--config", file.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x/y\""), "{e}");
        let e = config(&[
            "--node",
            "n1",
            "--listen",
            "127.0.0.1:0",
            "--certs",
            "/c",
            "--peer",
            "all=127.0.0.1:7100",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("peer name \"all\"") && e.contains("reserved"),
            "{e}"
        );
    }

    #[test]
    fn peer_budgets_default_from_the_message_limit_and_are_checked() {
        let c = config(&[]).unwrap();
        assert_eq!(c.peer_memory_per_node, 128 << 20);
        assert_eq!(c.peer_memory_total, 512 << 20);
        assert_eq!(c.peer_frame_timeout, Duration::from_secs(10));
        // A large message limit raises the per-node default to four frames, and the total.
        let c = config(&["--max-message-size", "104857600"]).unwrap();
        assert_eq!(c.peer_memory_per_node, 4 * c.max_frame_len() as u64);
        assert_eq!(c.peer_memory_total, 512 << 20);
        let c = config(&["--max-message-size", "209715200"]).unwrap();
        assert_eq!(c.peer_memory_total, c.peer_memory_per_node);
        let c = config(&[
            "--max-message-size",
            "1048576",
            "--peer-memory-per-node",
            "3000000",
            "--peer-memory-total",
            "9000000",
            "--peer-frame-timeout",
            "500ms",
        ])
        .unwrap();
        assert_eq!(
            (c.peer_memory_per_node, c.peer_memory_total),
            (3_000_000, 9_000_000)
        );
        assert_eq!(c.peer_frame_timeout, Duration::from_millis(500));
        // Below two of the largest frames, below the per-node budget, too short: refused.
        assert!(config(&["--peer-memory-per-node", "1000000"]).is_err());
        assert!(config(&["--peer-memory-total", "1000"]).is_err());
        assert!(config(&["--peer-frame-timeout", "10ms"]).is_err());
    }
}
