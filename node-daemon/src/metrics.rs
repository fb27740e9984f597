//! The Prometheus endpoint (`qnetd --metrics ADDR`): `GET /metrics` answers the text format
//! (version 0.0.4) with the kernel calls made by local clients per kind (counted by the
//! driver, one relaxed atomic add per call), what the kernel holds (processes, threads by
//! state, channels, connections, peer nodes up and down) and the daemon's CPU time and RSS.
//! Anything else gets 404. One short-lived connection per scrape; a request larger than
//! [`MAX_REQUEST`] or slower than [`REQUEST_TIMEOUT`] is dropped.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use qnet_core::{Call, Errno};
use qnet_proto::local::ThreadState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::driver::Driver;

/// Largest request read (a scrape's request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;

/// How long a scraper may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The call kinds counted, in [`kind_index`] order.
pub const CALL_KINDS: [&str; 28] = [
    "ChannelCreate",
    "ChannelDestroy",
    "ConnectAttach",
    "ConnectDetach",
    "ScoidDetach",
    "MsgSend",
    "MsgReceive",
    "MsgReply",
    "MsgError",
    "MsgRead",
    "MsgWrite",
    "MsgInfo",
    "MsgSendPulse",
    "NameAttach",
    "NameDetach",
    "NameOpen",
    "ConnectClientInfo",
    "MsgRegisterEvent",
    "MsgUnregisterEvent",
    "MsgVerifyEvent",
    "MsgDeliverEvent",
    "Unblock",
    "ConnectFlags",
    "MsgDeliverPulse",
    "PathAttach",
    "PathDetach",
    "PathResolve",
    "PathList",
];

/// Calls made by local clients and the payload bytes they carried, per kind; errors their
/// threads got, per errno. Relaxed atomic adds: one or two per call.
#[derive(Debug)]
pub struct CallCounters {
    calls: [AtomicU64; CALL_KINDS.len()],
    bytes: [AtomicU64; CALL_KINDS.len()],
    errors: [AtomicU64; ERRNO_SLOTS],
}

impl Default for CallCounters {
    fn default() -> Self {
        Self {
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
            bytes: std::array::from_fn(|_| AtomicU64::new(0)),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Errno values counted one by one (QNX's are below 128; larger ones share the last slot).
const ERRNO_SLOTS: usize = 128;

impl CallCounters {
    /// Count one `call`.
    pub fn count(&self, call: &Call) {
        let kind = kind_index(call);
        self.calls[kind].fetch_add(1, Ordering::Relaxed);
        let bytes = match call {
            Call::MsgSend { data, .. }
            | Call::MsgReply { data, .. }
            | Call::MsgWrite { data, .. } => data.len(),
            _ => 0,
        };
        if bytes != 0 {
            self.bytes[kind].fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Count a call of a local thread that ended with `errno`.
    pub fn count_error(&self, errno: Errno) {
        let slot = usize::try_from(errno.0).map_or(ERRNO_SLOTS - 1, |e| e.min(ERRNO_SLOTS - 1));
        self.errors[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of each kind, in [`CALL_KINDS`] order.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CALL_KINDS
            .iter()
            .zip(&self.calls)
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
    }

    /// Payload bytes of the kinds that carry them (`MsgSend`, `MsgReply`, `MsgWrite`).
    pub fn bytes(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CALL_KINDS
            .iter()
            .zip(&self.bytes)
            .filter(|(k, _)| matches!(**k, "MsgSend" | "MsgReply" | "MsgWrite"))
            .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
    }

    /// Errors by errno (only those seen), e.g. `("ESRCH", 2)`.
    pub fn errors(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.errors.iter().enumerate().filter_map(|(i, v)| {
            let n = v.load(Ordering::Relaxed);
            let errno = Errno(i32::try_from(i).unwrap_or(i32::MAX));
            (n != 0).then(|| (errno.name().map_or_else(|| i.to_string(), str::to_owned), n))
        })
    }
}

fn kind_index(call: &Call) -> usize {
    match call {
        Call::ChannelCreate { .. } => 0,
        Call::ChannelDestroy { .. } => 1,
        Call::ConnectAttach { .. } => 2,
        Call::ConnectDetach { .. } => 3,
        Call::ScoidDetach { .. } => 4,
        Call::MsgSend { .. } => 5,
        Call::MsgReceive { .. } => 6,
        Call::MsgReply { .. } => 7,
        Call::MsgError { .. } => 8,
        Call::MsgRead { .. } => 9,
        Call::MsgWrite { .. } => 10,
        Call::MsgInfo { .. } => 11,
        Call::MsgSendPulse { .. } => 12,
        Call::NameAttach { .. } => 13,
        Call::NameDetach { .. } => 14,
        Call::NameOpen { .. } => 15,
        Call::ConnectClientInfo { .. } => 16,
        Call::MsgRegisterEvent { .. } => 17,
        Call::MsgUnregisterEvent { .. } => 18,
        Call::MsgVerifyEvent { .. } => 19,
        Call::MsgDeliverEvent { .. } => 20,
        Call::Unblock { .. } => 21,
        Call::ConnectFlags { .. } => 22,
        Call::MsgDeliverPulse { .. } => 23,
        Call::PathAttach { .. } => 24,
        Call::PathDetach { .. } => 25,
        Call::PathResolve { .. } => 26,
        Call::PathList { .. } => 27,
    }
}

/// Answer scrapes on `listener` until `cancel`.
pub async fn serve(listener: TcpListener, driver: Arc<Driver>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let driver = driver.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &driver).await {
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

async fn answer(mut stream: TcpStream, driver: &Driver) -> std::io::Result<()> {
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
    let (status, body) = if buf.starts_with(b"GET /metrics ") || buf.starts_with(b"GET /metrics?") {
        ("200 OK", render(driver))
    } else {
        ("404 Not Found", "not found: GET /metrics\n".to_owned())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The exposition text.
pub fn render(driver: &Driver) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP qnet_calls_total Kernel calls made by local clients, by kind.\n\
         # TYPE qnet_calls_total counter"
    );
    let counters = driver.call_counters();
    for (kind, n) in counters.values() {
        let _ = writeln!(out, "qnet_calls_total{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP qnet_call_bytes_total Payload bytes local clients' calls carried, by kind.\n\
         # TYPE qnet_call_bytes_total counter"
    );
    for (kind, n) in counters.bytes() {
        let _ = writeln!(out, "qnet_call_bytes_total{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP qnet_call_errors_total Calls of local threads that failed, by errno.\n\
         # TYPE qnet_call_errors_total counter"
    );
    for (errno, n) in counters.errors() {
        let _ = writeln!(out, "qnet_call_errors_total{{errno=\"{errno}\"}} {n}");
    }
    let view = crate::admin::kernel_view(driver);
    let local: Vec<_> = view.processes.iter().filter(|p| p.nd == 0).collect();
    let mut states = [0u64; 5];
    for p in &local {
        for t in &p.threads {
            if let Some(s) = states.get_mut(t.state as usize) {
                *s += 1;
            }
        }
    }
    let gauge = |out: &mut String, name: &str, help: &str, v: usize| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        &mut out,
        "qnet_processes",
        "Local processes with a session or kernel objects.",
        local.len(),
    );
    let _ = writeln!(
        out,
        "# HELP qnet_threads Local threads by state.\n# TYPE qnet_threads gauge"
    );
    for (i, n) in states.iter().enumerate() {
        let name = ThreadState::try_from(i as i32)
            .map_or("unknown", |s| s.as_str_name())
            .trim_start_matches("THREAD_STATE_")
            .to_ascii_lowercase();
        let _ = writeln!(out, "qnet_threads{{state=\"{name}\"}} {n}");
    }
    gauge(
        &mut out,
        "qnet_channels",
        "Channels of local processes.",
        local.iter().map(|p| p.channels.len()).sum(),
    );
    gauge(
        &mut out,
        "qnet_connections",
        "Connections of local processes.",
        local.iter().map(|p| p.connections.len()).sum(),
    );
    let _ = writeln!(
        out,
        "# HELP qnet_channel_messages_total Messages delivered to a local channel since it was \
         created.\n# TYPE qnet_channel_messages_total counter\n\
         # HELP qnet_channel_pulses_total Pulses delivered to a local channel since it was \
         created.\n# TYPE qnet_channel_pulses_total counter"
    );
    for p in &local {
        for c in &p.channels {
            let labels = format!("pid=\"{}\",chid=\"{}\"", p.pid, c.chid);
            let _ = writeln!(
                out,
                "qnet_channel_messages_total{{{labels}}} {}\nqnet_channel_pulses_total{{{labels}}} {}",
                c.messages_total, c.pulses_total
            );
        }
    }
    let (_, peers) = crate::admin::peer_views(driver);
    let _ = writeln!(
        out,
        "# HELP qnet_peer_up Whether the peer node is up (1) or down (0).\n\
         # TYPE qnet_peer_up gauge\n\
         # HELP qnet_peer_links Live QUIC connections to the peer node.\n\
         # TYPE qnet_peer_links gauge\n\
         # HELP qnet_peer_rtt_seconds QUIC's smoothed RTT of the newest link.\n\
         # TYPE qnet_peer_rtt_seconds gauge\n\
         # HELP qnet_peer_stream_window Streams the peer may have open at once.\n\
         # TYPE qnet_peer_stream_window gauge\n\
         # HELP qnet_peer_bytes_total UDP bytes on the live links to the peer node.\n\
         # TYPE qnet_peer_bytes_total counter"
    );
    for v in &peers {
        let peer = format!("peer=\"{}\"", v.name);
        let _ = writeln!(
            out,
            "qnet_peer_up{{{peer}}} {}\nqnet_peer_links{{{peer}}} {}",
            u8::from(v.up),
            v.links
        );
        if let Some(rtt) = v.rtt_us {
            let _ = writeln!(out, "qnet_peer_rtt_seconds{{{peer}}} {}", rtt as f64 / 1e6);
        }
        let _ = writeln!(
            out,
            "qnet_peer_stream_window{{{peer}}} {}\n\
             qnet_peer_bytes_total{{{peer},direction=\"sent\"}} {}\n\
             qnet_peer_bytes_total{{{peer},direction=\"received\"}} {}",
            v.stream_window, v.bytes_sent, v.bytes_received
        );
    }
    let (up, down) = driver.inspect(|kernel, _| {
        kernel.nodes().fold(
            (0, 0),
            |(u, d), (_, _, is_up)| if is_up { (u + 1, d) } else { (u, d + 1) },
        )
    });
    let _ = writeln!(
        out,
        "# HELP qnet_peer_nodes Configured and known peer nodes by state.\n\
         # TYPE qnet_peer_nodes gauge\nqnet_peer_nodes{{state=\"up\"}} {up}\n\
         qnet_peer_nodes{{state=\"down\"}} {down}"
    );
    if let Some((cpu, rss)) = own_usage() {
        let _ = writeln!(
            out,
            "# HELP qnet_daemon_cpu_seconds_total CPU time of the daemon.\n\
             # TYPE qnet_daemon_cpu_seconds_total counter\nqnet_daemon_cpu_seconds_total {cpu}\n\
             # HELP qnet_daemon_resident_bytes Resident memory of the daemon.\n\
             # TYPE qnet_daemon_resident_bytes gauge\nqnet_daemon_resident_bytes {rss}"
        );
    }
    out
}

/// The daemon's CPU seconds (user + system) and resident bytes, from `/proc/self/stat`.
fn own_usage() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime are fields 14, 15 and rss 24 of stat(5): here 11, 12 and 21.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let pages: u64 = f.get(21)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Some((ticks as f64 / hz, pages * page))
}
