//! The Prometheus endpoint (`qnetd --metrics ADDR`), and the one place where every metric
//! the daemon exposes is named, typed and described ([`Exposition`]).
//!
//! `GET /metrics` answers OpenMetrics text when the scraper asks for it (Prometheus does) and
//! the Prometheus text format 0.0.4 otherwise, both written by the `prometheus-client` crate,
//! which groups each family's samples under its `# TYPE` line. What is exposed: the daemon's
//! build; the kernel calls made by local clients per kind (counted by the driver, one relaxed
//! atomic add per call) with their bytes and errors; what the kernel holds (processes,
//! threads by state, channels, connections, peer nodes up and down, deliveries per channel);
//! calls refused per limit; per peer node its links, RTT, bytes, calls forwarded and served
//! and link transitions (counted beside the peer code, `peer::PeerCounters`); certificate
//! expiry; config reloads; and the process (descriptors and their limit, start time, CPU,
//! memory). `GET /healthz` answers 200 while the daemon runs; `GET /readyz` 200 while its
//! socket and its peer listener are bound (503 and why otherwise). Anything else gets 404.
//! One short-lived connection per request; a request larger than [`MAX_REQUEST`] or slower
//! than [`REQUEST_TIMEOUT`] is dropped.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use qnet_proto::local::ThreadState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::peer::Peers;

/// Largest request read (a scrape's request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;

/// How long a scraper may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a scrape reads besides the driver: fixed at start (build, certificates) or kept by
/// the server (readiness, reloads).
#[derive(Debug)]
pub struct Exposition {
    driver: Arc<Driver>,
    /// The peer table, when the daemon listens for peers.
    peers: Option<Arc<Peers>>,
    /// Certificates this daemon holds: (`node` or `ca`, the node it names, not-after in unix
    /// seconds).
    certs: Vec<(&'static str, String, i64)>,
    /// What `/readyz` checks.
    pub ready: Readiness,
    /// Config reloads (SIGHUP), counted by `reload`.
    pub reloads: ReloadCounts,
}

/// What `/readyz` checks: the socket file is still the one this daemon bound, the peer
/// listener (if any) is bound, and the daemon is not stopping.
#[derive(Debug)]
pub struct Readiness {
    /// The Unix socket path and the (device, inode) of the file this daemon made.
    pub socket: (PathBuf, (u64, u64)),
    /// The peer listener's address, if the daemon has one.
    pub peer: Option<SocketAddr>,
    /// Set when shutdown begins.
    pub stopping: std::sync::atomic::AtomicBool,
}

impl Readiness {
    /// `Ok`, or why the daemon is not ready (`peers`: its peer table, if it has one), in one
    /// line.
    pub fn check(&self, peers: Option<&Peers>) -> Result<(), String> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err("shutting down".into());
        }
        let (path, inode) = &self.socket;
        match std::fs::symlink_metadata(path) {
            Ok(m) if (m.dev(), m.ino()) == *inode => {}
            Ok(_) => return Err(format!("socket {} is not this daemon's", path.display())),
            Err(e) => return Err(format!("socket {}: {e}", path.display())),
        }
        if let Some(addr) = self.peer {
            let bound = peers.is_some_and(Peers::endpoint_bound);
            if !bound {
                return Err(format!("peer listener {addr} is not bound"));
            }
        }
        Ok(())
    }
}

/// Config reloads: applied and refused, and whether the last one was applied.
#[derive(Debug)]
pub struct ReloadCounts {
    /// Reloads applied (the new config is running, possibly with settings awaiting a
    /// restart).
    pub applied: AtomicU64,
    /// Reloads refused (the old config stays).
    pub refused: AtomicU64,
    /// Whether the last reload was applied (true before any).
    pub last_ok: std::sync::atomic::AtomicBool,
}

impl Default for ReloadCounts {
    fn default() -> Self {
        Self {
            applied: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_ok: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl Exposition {
    /// The exposition of `driver`'s daemon and its peer table `peers` (if it listens for
    /// peers), holding these certificates.
    pub fn new(
        driver: Arc<Driver>,
        peers: Option<Arc<Peers>>,
        certs: Vec<(&'static str, String, i64)>,
        ready: Readiness,
    ) -> Self {
        Self {
            driver,
            peers,
            certs,
            ready,
            reloads: ReloadCounts::default(),
        }
    }

    /// The daemon's driver.
    pub fn driver(&self) -> &Arc<Driver> {
        &self.driver
    }

    /// The exposition text: OpenMetrics (ending in `# EOF`) or Prometheus text 0.0.4.
    pub fn render(self: &Arc<Self>, openmetrics: bool) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Scrape(self.clone())));
        let mut out = String::new();
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        };
        if encoded.is_err() {
            tracing::warn!("cannot encode the metrics");
        }
        out
    }
}

/// Writes every family at scrape time (the `prometheus-client` collector).
#[derive(Debug)]
struct Scrape(Arc<Exposition>);

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let x = &self.0;
        let driver = &x.driver;
        let e = &mut enc;
        let m = e.encode_descriptor(
            "qnet_build",
            "The daemon's version and commit.",
            None,
            MetricType::Info,
        )?;
        build_info(m)?;

        let counters = driver.call_counters();
        counters_by(
            e,
            "qnet_calls",
            "Kernel calls made by local clients, by kind.",
            "kind",
            counters.values(),
        )?;
        counters_by(
            e,
            "qnet_call_bytes",
            "Payload bytes local clients' calls carried, by kind.",
            "kind",
            counters.bytes(),
        )?;
        counters_by(
            e,
            "qnet_call_errors",
            "Calls of local threads that failed, by errno.",
            "errno",
            counters.errors(),
        )?;

        let view = crate::node_view::kernel_view(driver);
        let local: Vec<_> = view.processes.iter().filter(|p| p.nd == 0).collect();
        let mut states = [0u64; 5];
        for p in &local {
            for t in &p.threads {
                if let Some(s) = states.get_mut(t.state as usize) {
                    *s += 1;
                }
            }
        }
        gauge(
            e,
            "qnet_processes",
            "Local processes with a session or kernel objects.",
            local.len() as i64,
        )?;
        let threads = states.iter().enumerate().map(|(i, n)| {
            let name = ThreadState::try_from(i as i32)
                .map_or("unknown", |s| s.as_str_name())
                .trim_start_matches("THREAD_STATE_")
                .to_ascii_lowercase();
            (name, *n)
        });
        gauges_by(
            e,
            "qnet_threads",
            "Local threads by state.",
            "state",
            threads,
        )?;
        gauge(
            e,
            "qnet_channels",
            "Channels of local processes.",
            local.iter().map(|p| p.channels.len() as i64).sum(),
        )?;
        gauge(
            e,
            "qnet_connections",
            "Connections of local processes.",
            local.iter().map(|p| p.connections.len() as i64).sum(),
        )?;
        let per_channel = |f: fn(&qnet_proto::local::ChannelView) -> u64| {
            local.iter().flat_map(move |p| {
                p.channels.iter().map(move |c| {
                    (
                        [("pid", p.pid.to_string()), ("chid", c.chid.to_string())],
                        f(c),
                    )
                })
            })
        };
        counter_family(
            e,
            "qnet_channel_messages",
            "Messages delivered to a local channel since it was created.",
            per_channel(|c| c.messages_total),
        )?;
        counter_family(
            e,
            "qnet_channel_pulses",
            "Pulses delivered to a local channel since it was created.",
            per_channel(|c| c.pulses_total),
        )?;
        let refusals: Vec<(&str, u64)> = driver.inspect(|kernel, _| {
            qnet_core::Limit::ALL
                .into_iter()
                .map(|l| (l.name(), kernel.limit_refusals(l)))
                .collect()
        });
        counters_by(
            e,
            "qnet_limit_refusals",
            "Calls refused with EAGAIN by a per-process or per-channel limit, by limit.",
            "limit",
            refusals,
        )?;

        self.peers(e)?;
        self.discovery(e)?;

        let (up, down) = driver.inspect(|kernel, _| {
            kernel.nodes().fold(
                (0, 0),
                |(u, d), (_, _, is_up)| if is_up { (u + 1, d) } else { (u, d + 1) },
            )
        });
        gauges_by(
            e,
            "qnet_peer_nodes",
            "Configured and known peer nodes by state.",
            "state",
            [("up", up), ("down", down)],
        )?;

        let now = unix_now();
        let mut certs: Vec<([(&str, String); 2], i64)> = x
            .certs
            .iter()
            .map(|(kind, node, not_after)| {
                (
                    [("certificate", (*kind).to_owned()), ("node", node.clone())],
                    not_after - now,
                )
            })
            .collect();
        let (_, peers) = crate::peer::peer_views(driver, x.peers.as_deref());
        certs.extend(peers.iter().filter(|v| !v.unverified).filter_map(|v| {
            let node = if v.cert_node.is_empty() {
                v.name.clone()
            } else {
                v.cert_node.clone()
            };
            v.cert_not_after.map(|t| {
                (
                    [("certificate", "peer".to_owned()), ("node", node)],
                    t - now,
                )
            })
        }));
        gauge_family(
            e,
            "qnet_certificate_expiry_seconds",
            "Seconds until a certificate expires (negative: expired): this node's, the cluster \
             CA's, and each linked peer's.",
            certs,
        )?;

        let r = &x.reloads;
        counters_by(
            e,
            "qnet_config_reloads",
            "Config reloads (SIGHUP) by result: applied, or refused (the old config stays).",
            "result",
            [
                ("applied", r.applied.load(Ordering::Relaxed)),
                ("refused", r.refused.load(Ordering::Relaxed)),
            ],
        )?;
        gauge(
            e,
            "qnet_config_last_reload_successful",
            "Whether the last config reload was applied (1 before any).",
            i64::from(r.last_ok.load(Ordering::Relaxed)),
        )?;

        let p = process_stats();
        if let Some((cpu, rss)) = p.usage {
            counter(
                e,
                "qnet_daemon_cpu_seconds",
                "CPU time of the daemon (user + system).",
                cpu,
            )?;
            gauge(
                e,
                "qnet_daemon_resident_bytes",
                "Resident memory of the daemon.",
                rss as i64,
            )?;
            counter(
                e,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                cpu,
            )?;
            gauge(
                e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss as i64,
            )?;
        }
        if let Some(n) = p.open_fds {
            gauge(
                e,
                "process_open_fds",
                "Number of open file descriptors.",
                n as i64,
            )?;
        }
        if let Some(n) = p.max_fds {
            gauge(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit).",
                n as i64,
            )?;
        }
        if let Some(t) = p.start_time {
            gauge_f64(
                e,
                "process_start_time_seconds",
                "Start time of the process since the unix epoch in seconds.",
                t,
            )?;
        }
        Ok(())
    }
}

impl Scrape {
    /// Discovery's families: nodes joining and leaving, failed dials by how the node was
    /// found, announced nodes the member table dropped, and the unverified names it holds.
    fn discovery(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let Some(peers) = &self.0.peers else {
            return Ok(());
        };
        let d = &peers.discovery;
        let c = &d.counters;
        let (refused, unverified) = {
            let m = d.members();
            (m.refused(), m.unproven())
        };
        counter(
            e,
            "qnet_node_joins",
            "Peer nodes that came up (a first link, or a link from a new incarnation).",
            c.joins.load(Ordering::Relaxed) as f64,
        )?;
        counter(
            e,
            "qnet_node_leaves",
            "Peer nodes that went down (their last link closed).",
            c.leaves.load(Ordering::Relaxed) as f64,
        )?;
        counters_by(
            e,
            "qnet_dial_failures",
            "Dials of peer nodes that failed, by how the node was found.",
            "via",
            c.failed_by_kind(),
        )?;
        counter(
            e,
            "qnet_members_refused",
            "Announced nodes dropped by the member table's caps.",
            refused as f64,
        )?;
        gauge(
            e,
            "qnet_members_unverified",
            "Names known only from announcements (no certificate yet).",
            unverified as i64,
        )
    }

    /// The per-peer families (one sample per peer node the kernel knows; names only
    /// announced are no peers yet: a flood of fake directory entries must not multiply the
    /// series).
    fn peers(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let peers = self.0.peers.as_deref();
        let (_, mut views) = crate::peer::peer_views(&self.0.driver, peers);
        views.retain(|v| !v.unverified);
        let peer = |name: &str| [("peer", name.to_owned())];
        gauge_family(
            e,
            "qnet_peer_up",
            "Whether the peer node is up (1) or down (0).",
            views.iter().map(|v| (peer(&v.name), i64::from(v.up))),
        )?;
        gauge_family(
            e,
            "qnet_peer_configured",
            "Whether this node dials the peer node (1: in its peers; 0: it dialled in, or was \
             removed by a reload).",
            views
                .iter()
                .map(|v| (peer(&v.name), i64::from(!v.configured_addr.is_empty()))),
        )?;
        gauge_family(
            e,
            "qnet_peer_links",
            "Live QUIC connections to the peer node.",
            views.iter().map(|v| (peer(&v.name), i64::from(v.links))),
        )?;
        let m = e.encode_descriptor(
            "qnet_peer_rtt_seconds",
            "QUIC's smoothed RTT of the newest link.",
            None,
            MetricType::Gauge,
        )?;
        rows(
            m,
            views
                .iter()
                .filter_map(|v| Some((peer(&v.name), ConstGauge::new(v.rtt_us? as f64 / 1e6)))),
        )?;
        gauge_family(
            e,
            "qnet_peer_stream_window",
            "Streams the peer may have open at once.",
            views
                .iter()
                .map(|v| (peer(&v.name), i64::from(v.stream_window))),
        )?;
        let dir = |name: &str, d: &str| [("peer", name.to_owned()), ("direction", d.to_owned())];
        counter_family(
            e,
            "qnet_peer_bytes",
            "UDP bytes on the live links to the peer node (QUIC's count), by direction.",
            views.iter().flat_map(|v| {
                [
                    (dir(&v.name, "sent"), v.bytes_sent),
                    (dir(&v.name, "received"), v.bytes_received),
                ]
            }),
        )?;
        let counts: Vec<(String, crate::peer::PeerCounts)> = views
            .iter()
            .map(|v| {
                let c = peers
                    .map(|p| p.node(v.nd).counters().snapshot())
                    .unwrap_or_default();
                (v.name.clone(), c)
            })
            .collect();
        counter_family(
            e,
            "qnet_peer_calls",
            "Calls to the peer node: forwarded there by local threads, or served here for its \
             threads.",
            counts.iter().flat_map(|(n, c)| {
                [
                    (dir(n, "forwarded"), c.forwarded_calls),
                    (dir(n, "served"), c.served_calls),
                ]
            }),
        )?;
        counter_family(
            e,
            "qnet_peer_call_bytes",
            "Message bytes those calls carried (send buffers), by direction.",
            counts.iter().flat_map(|(n, c)| {
                [
                    (dir(n, "forwarded"), c.forwarded_bytes),
                    (dir(n, "served"), c.served_bytes),
                ]
            }),
        )?;
        let to = |name: &str, d: &str| [("peer", name.to_owned()), ("to", d.to_owned())];
        counter_family(
            e,
            "qnet_peer_transitions",
            "Times the peer node went up (its first live link) or down (its last link closed).",
            counts
                .iter()
                .flat_map(|(n, c)| [(to(n, "up"), c.ups), (to(n, "down"), c.downs)]),
        )
    }
}

fn build_info(m: MetricEncoder<'_>) -> fmt::Result {
    Info::new([
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", env!("QNET_COMMIT")),
    ])
    .encode(m)
}

/// Each `(labels, metric)` of one family.
fn rows<L: EncodeLabelSet, M: EncodeMetric>(
    mut m: MetricEncoder<'_>,
    rows: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result {
    for (labels, metric) in rows {
        metric.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter_family<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    rows(
        m,
        values.into_iter().map(|(l, v)| (l, ConstCounter::new(v))),
    )
}

/// A counter family with one label.
fn counters_by<K: AsRef<str>>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (K, u64)>,
) -> fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    rows(
        m,
        values
            .into_iter()
            .map(|(k, v)| ([(label, k.as_ref().to_owned())], ConstCounter::new(v))),
    )
}

fn gauge_family<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, i64)>,
) -> fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    rows(m, values.into_iter().map(|(l, v)| (l, ConstGauge::new(v))))
}

/// A gauge family with one label.
fn gauges_by<K: AsRef<str>>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (K, u64)>,
) -> fmt::Result {
    gauge_family(
        e,
        name,
        help,
        values.into_iter().map(|(k, v)| {
            (
                [(label, k.as_ref().to_owned())],
                i64::try_from(v).unwrap_or(i64::MAX),
            )
        }),
    )
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: i64) -> fmt::Result {
    ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn gauge_f64(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> fmt::Result {
    ConstGauge::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> fmt::Result {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Answer scrapes and probes on `listener` until `cancel`.
pub async fn serve(listener: TcpListener, exposition: Arc<Exposition>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let exposition = exposition.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &exposition).await {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Bind the metrics endpoint on `addr` (non-blocking, for the runtime).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std)
}

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn answer(mut stream: TcpStream, x: &Arc<Exposition>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(REQUEST_TIMEOUT, read).await.is_err() {
        return Ok(());
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("GET "))
        .and_then(|l| l.split(' ').next())
        .map(|p| p.split('?').next().unwrap_or(p));
    let wants_openmetrics = request.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("accept") && v.contains("application/openmetrics-text")
        })
    });
    let text = "text/plain; charset=utf-8";
    let (status, kind, body) = match path {
        Some("/metrics") if wants_openmetrics => ("200 OK", OPENMETRICS, x.render(true)),
        Some("/metrics") => ("200 OK", PROMETHEUS_TEXT, x.render(false)),
        Some("/healthz") => ("200 OK", text, "ok\n".to_owned()),
        Some("/readyz") => match x.ready.check(x.peers.as_deref()) {
            Ok(()) => ("200 OK", text, "ready\n".to_owned()),
            Err(why) => (
                "503 Service Unavailable",
                text,
                format!("not ready: {why}\n"),
            ),
        },
        _ => (
            "404 Not Found",
            text,
            "not found: GET /metrics, /healthz or /readyz\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// What `/proc` says about this process.
#[derive(Debug, Default)]
struct ProcessStats {
    /// CPU seconds (user + system) and resident bytes.
    usage: Option<(f64, u64)>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    /// Unix seconds.
    start_time: Option<f64>,
}

fn process_stats() -> ProcessStats {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name, which may hold spaces.
    let fields: Vec<&str> = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..))
        .map(|rest| rest.split_whitespace().collect())
        .unwrap_or_default();
    // stat(5): utime 14, stime 15, starttime 22, rss 24 (here 11, 12, 19, 21).
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    let usage = match (field(11), field(12), field(21)) {
        (Some(u), Some(s), Some(rss)) => Some(((u + s) as f64 / hz, rss * page)),
        _ => None,
    };
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
    });
    ProcessStats {
        usage,
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64),
        max_fds: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .ok()
            .map(|(soft, _)| soft),
        start_time: boot
            .zip(field(19))
            .map(|(boot, ticks)| boot as f64 + ticks as f64 / hz),
    }
}
