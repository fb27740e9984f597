//! The comparison table, the performance targets (qnet against the raw-transport floors,
//! daemon CPU, pulses, daemon memory per idle connection) with PASS/MISS, the direct path's
//! resource rows, and the JSON form.

use serde::Serialize;

use super::Rounds;
use super::memory::MemoryFigures;
use super::segments::{DirectUse, PairCost};
use super::stats::{Figures, median, median_figures};

/// What was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
pub enum Variant {
    /// Raw Unix-socket ping-pong (local floor).
    RawUds,
    /// Raw shared-memory + futex ping-pong (the machine's floor for a local call).
    RawShm,
    /// qnet MsgSend through one daemon.
    QnetLocal,
    /// Raw quinn ping-pong (network floor).
    RawQuic,
    /// qnet MsgSend through two daemons over QUIC.
    QnetRemote,
}

/// One size × clients cell of one path: floor and qnet medians, and ratios.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Payload bytes each way.
    pub size: usize,
    /// Concurrent clients (threads; streams for raw quinn; connections for raw UDS).
    pub clients: usize,
    /// The floor's medians over rounds (raw UDS for local, raw quinn for remote).
    pub floor: Figures,
    /// qnet's medians over rounds.
    pub qnet: Figures,
    /// Median over rounds of qnet p50 / floor p50 (the same round).
    pub p50_ratio: f64,
    /// Median over rounds of qnet msgs/s / floor msgs/s (the same round).
    pub throughput_ratio: f64,
    /// The shared-memory floor's medians over rounds (local cells, when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm: Option<Figures>,
    /// Median over rounds of qnet p50 / shared-memory floor p50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_p50_ratio: Option<f64>,
    /// Median over rounds of qnet msgs/s / shared-memory floor msgs/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_throughput_ratio: Option<f64>,
}

impl Cell {
    /// From the per-round figures of both variants (paired by round).
    pub fn new(size: usize, clients: usize, floor: &[Figures], qnet: &[Figures]) -> Self {
        let pairs = || floor.iter().zip(qnet);
        Self {
            size,
            clients,
            floor: median_figures(floor),
            qnet: median_figures(qnet),
            p50_ratio: median(pairs().map(|(f, q)| q.p50_us / f.p50_us).collect()),
            throughput_ratio: median(pairs().map(|(f, q)| q.msgs_per_s / f.msgs_per_s).collect()),
            shm: None,
            shm_p50_ratio: None,
            shm_throughput_ratio: None,
        }
    }

    /// With the shared-memory floor's per-round figures (paired with qnet's by round); left
    /// as it is when either did not run.
    pub fn with_shm(mut self, shm: &[Figures], qnet: &[Figures]) -> Self {
        if shm.is_empty() || qnet.is_empty() {
            return self;
        }
        let pairs = || shm.iter().zip(qnet);
        self.shm = Some(median_figures(shm));
        self.shm_p50_ratio = Some(median(pairs().map(|(f, q)| q.p50_us / f.p50_us).collect()));
        self.shm_throughput_ratio = Some(median(
            pairs().map(|(f, q)| q.msgs_per_s / f.msgs_per_s).collect(),
        ));
        self
    }
}

/// The paced phase of one path: one client, one `PACED_SIZE` call per interval (a control
/// loop).
#[derive(Debug, Clone, Serialize)]
pub struct Paced {
    /// "local" or "remote".
    pub path: &'static str,
    /// Interval between call starts, µs.
    pub pace_us: f64,
    /// The floor's medians over rounds (raw UDS for local, raw quinn for remote).
    pub floor: Figures,
    /// qnet's medians over rounds.
    pub qnet: Figures,
    /// Median over rounds of qnet p50 / floor p50.
    pub p50_ratio: f64,
    /// qnetd CPU time as a share of one core at this rate (both daemons for remote), %.
    pub daemon_core_percent: f64,
    /// The shared-memory floor's medians (local, when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm: Option<Figures>,
    /// Median over rounds of qnet p50 / shared-memory floor p50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_p50_ratio: Option<f64>,
}

/// A performance target (issue 23's table, then the rows of issues 17 and 5 it does not
/// replace): a ratio of qnet to a floor, daemon CPU, pulses per second or daemon bytes per
/// idle connection, with its goal.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The issue whose table states it.
    pub from: &'static str,
    /// What it is about.
    pub name: &'static str,
    /// The measured value (a ratio, % of a core, µs, pulses per second, or bytes per
    /// connection).
    pub measured: f64,
    /// The goal.
    pub goal: f64,
    /// `true`: measured must be at most goal; `false`: at least.
    pub at_most: bool,
    /// Whether the goal is met.
    pub pass: bool,
    /// Unit for printing: "x" (ratio), "%" (of one core), "µs", "/s", "B", "fd"
    /// (descriptors).
    pub unit: &'static str,
    /// For local ratio rows: the same qnet figure over the shared-memory floor's (no goal;
    /// shown for reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_ratio: Option<f64>,
}

impl Target {
    /// `value` in this target's unit, for the table.
    fn show(&self, value: f64) -> String {
        match self.unit {
            "x" => format!("{value:.2}x"),
            "%" => format!("{value:.1} %"),
            "µs" => format!("{value:.1} µs"),
            "fd" => format!("{value:.2}"),
            unit => format!("{value:.0} {unit}"),
        }
    }
}

/// Issue 23's table (the direct local path).
const ISSUE_23: &str = "issue 23";
/// Issue 17's table (the data-path round).
const ISSUE_17: &str = "issue 17";
/// Issue 5's memory targets.
const ISSUE_5: &str = "issue 5";
/// Issue 22's descriptor row.
const ISSUE_22: &str = "issue 22";

/// A figure recorded with no goal (issue 23's resources: what the direct path costs).
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Unit for printing: "KiB", "MiB", "fds", "".
    pub unit: &'static str,
}

/// Issue 23's resource rows, from the pairs a daemon held after one 64 B call of one client
/// process (`one_call`) and at the end of the timing run (`after_run`, the harness's pair
/// with the echo channel after calls from up to `clients` threads). The churn rows (daemon
/// descriptors and bytes per blocked client thread) belong in this block too.
pub fn direct_resources(
    one_call: Option<&PairCost>,
    after_run: Option<&PairCost>,
    clients: usize,
) -> Vec<Resource> {
    let kib = |b: f64| b / 1024.0;
    let mut out = Vec::new();
    let mut row = |name: String, value: f64, unit| out.push(Resource { name, value, unit });
    if let Some(c) = one_call {
        row(
            "direct pairs the daemon held for one client process and channel".into(),
            c.pairs as f64,
            "",
        );
        if c.pairs > 0 {
            row(
                "pair segment, mapped by client and server".into(),
                kib(c.mapped as f64) / 1024.0,
                "MiB",
            );
            row(
                "pair segment, resident after one 64 B call".into(),
                kib(c.resident),
                "KiB",
            );
            row(
                "server's table + bells, resident (per serving process)".into(),
                kib(c.server_segments as f64),
                "KiB",
            );
            row("descriptors per pair, qnetd".into(), c.fds_daemon, "fds");
            row(
                "descriptors per pair, client process".into(),
                c.fds_client,
                "fds",
            );
            row(
                "descriptors per pair, server process".into(),
                c.fds_server,
                "fds",
            );
        }
    }
    if let Some(c) = after_run.filter(|c| c.pairs > 0) {
        row(
            format!("pair segment, resident after the run (echo channel, up to {clients} threads)"),
            kib(c.resident),
            "KiB",
        );
    }
    out
}

/// The machine a run was on, and how busy it was.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online CPUs.
    pub cpus: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// 1-minute load average when the timed cells started.
    pub load_before: f64,
    /// 1-minute load average when they ended.
    pub load_after: f64,
}

impl Machine {
    /// Read it from /proc.
    pub fn read(load_before: f64, load_after: f64) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("unknown")
            .trim()
            .to_owned();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            load_before,
            load_after,
        }
    }
}

/// The 1-minute load average (0 when unreadable).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(0.0)
}

/// Everything a run yields.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// Rounds run.
    pub rounds: usize,
    /// Whether the run asked for the direct path and whether its processes used it.
    pub direct: DirectUse,
    /// qnet local vs raw Unix socket (and the shared-memory floor).
    pub local: Vec<Cell>,
    /// qnet remote vs raw quinn.
    pub remote: Vec<Cell>,
    /// Pulses per second, one sender, local.
    pub pulses_per_s_local: f64,
    /// Share of the local pulses the daemon's kernel delivered (the socket path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulses_local_via_daemon: Option<f64>,
    /// Pulses per second, one sender, remote.
    pub pulses_per_s_remote: f64,
    /// Daemon bytes per idle connection.
    pub memory: MemoryFigures,
    /// The paced phase (empty when skipped).
    pub paced: Vec<Paced>,
    /// The performance targets.
    pub targets: Vec<Target>,
    /// What the direct path costs (issue 23; recorded, no goal).
    pub resources: Vec<Resource>,
    /// Cost as tables grow and memory after a drain (`None`: skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<super::scale::ScaleFigures>,
    /// The resource-manager phase (`None`: skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resmgr: Option<super::resmgr::ResmgrFigures>,
}

impl Report {
    /// Reduce the rounds to medians, ratios and target verdicts.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        machine: Machine,
        sizes: &[usize],
        clients: &[usize],
        rounds_run: usize,
        rounds: &Rounds,
        pulses_per_s_local: Option<f64>,
        pulses_per_s_remote: Option<f64>,
        memory: MemoryFigures,
        paced: Option<(
            std::time::Duration,
            &std::collections::BTreeMap<Variant, Vec<Figures>>,
        )>,
    ) -> Self {
        let path = |floor: Variant, qnet: Variant, shm: Option<Variant>| -> Vec<Cell> {
            let mut out = Vec::new();
            for &size in sizes {
                for &c in clients {
                    let get = |v| rounds.get(&(v, size, c)).cloned().unwrap_or_default();
                    let mut cell = Cell::new(size, c, &get(floor), &get(qnet));
                    if let Some(shm) = shm {
                        cell = cell.with_shm(&get(shm), &get(qnet));
                    }
                    out.push(cell);
                }
            }
            out
        };
        let local = path(Variant::RawUds, Variant::QnetLocal, Some(Variant::RawShm));
        let remote = path(Variant::RawQuic, Variant::QnetRemote, None);
        // A cell counts for a target only when both of its variants ran (`--only` may leave
        // one out): an unmeasured ratio is 0, which would read as a latency PASS.
        let find = |cells: &[Cell], size: usize, c: usize| {
            cells
                .iter()
                .find(|x| x.size == size && x.clients == c)
                .filter(|x| x.floor.msgs_per_s > 0.0 && x.qnet.msgs_per_s > 0.0)
                .cloned()
        };
        let paced = paced.map_or_else(Vec::new, |(pace, runs)| {
            [
                (
                    "local",
                    Variant::RawUds,
                    Variant::QnetLocal,
                    Some(Variant::RawShm),
                ),
                ("remote", Variant::RawQuic, Variant::QnetRemote, None),
            ]
            .into_iter()
            .filter_map(|(path, floor, qnet, shm)| {
                let (floor, qnet) = (runs.get(&floor)?, runs.get(&qnet)?);
                let mut cell = Cell::new(super::PACED_SIZE, 1, floor, qnet);
                if let Some(shm) = shm.and_then(|v| runs.get(&v)) {
                    cell = cell.with_shm(shm, qnet);
                }
                Some(Paced {
                    path,
                    pace_us: pace.as_secs_f64() * 1e6,
                    daemon_core_percent: median(
                        qnet.iter()
                            .map(|q| q.daemon_cpu_us * q.msgs_per_s / 1e4)
                            .collect(),
                    ),
                    floor: cell.floor,
                    qnet: cell.qnet,
                    p50_ratio: cell.p50_ratio,
                    shm: cell.shm,
                    shm_p50_ratio: cell.shm_p50_ratio,
                })
            })
            .collect()
        });
        // The paced targets are stated at one call per millisecond: another `--pace-us`
        // measures something else, so they are left out then.
        let paced_at = |path: &str| {
            paced
                .iter()
                .find(|p| p.path == path && p.pace_us == PACED_TARGET_US)
                .filter(|p| p.floor.msgs_per_s > 0.0 && p.qnet.msgs_per_s > 0.0)
        };
        let mut targets = Vec::new();
        let mut add = |from, name, measured: Option<f64>, goal, at_most, unit, floor_ratio| {
            if let Some(m) = measured {
                let pass = if at_most { m <= goal } else { m >= goal };
                targets.push(Target {
                    from,
                    name,
                    measured: m,
                    goal,
                    at_most,
                    pass,
                    unit,
                    floor_ratio,
                });
            }
        };
        let p50 = |c: &Cell| c.p50_ratio;
        let shm_p50 = |c: &Cell| c.shm_p50_ratio;
        // Issue 23's table, in its order.
        let paced_local = paced_at("local");
        add(
            ISSUE_23,
            "paced 1 call/ms p50, local (x raw UDS)",
            paced_local.map(|p| p.p50_ratio),
            1.0,
            true,
            "x",
            paced_local.and_then(|p| p.shm_p50_ratio),
        );
        let cell = find(&local, 64, 1);
        add(
            ISSUE_23,
            "local MsgSend p50, 64 B, 1 client, back-to-back (x raw UDS)",
            cell.as_ref().map(p50),
            0.8,
            true,
            "x",
            cell.as_ref().and_then(shm_p50),
        );
        let cell = find(&local, 64, 8);
        add(
            ISSUE_23,
            "local msgs/s, 64 B, 8 clients (of raw UDS, 8 conns)",
            cell.as_ref().map(|c| c.throughput_ratio),
            1.0,
            false,
            "x",
            cell.as_ref().and_then(|c| c.shm_throughput_ratio),
        );
        let cell = find(&local, 64 << 10, 1);
        add(
            ISSUE_23,
            "local MsgSend p50, 64 KiB, 1 client (x raw UDS)",
            cell.as_ref().map(p50),
            1.0,
            true,
            "x",
            cell.as_ref().and_then(shm_p50),
        );
        let cell = find(&local, 1 << 20, 1);
        add(
            ISSUE_23,
            "local MsgSend p50, 1 MiB, 1 client (x raw UDS)",
            cell.as_ref().map(p50),
            0.7,
            true,
            "x",
            cell.as_ref().and_then(shm_p50),
        );
        add(
            ISSUE_23,
            "pulses/s, local (one sender)",
            pulses_per_s_local,
            300_000.0,
            false,
            "/s",
            None,
        );
        add(
            ISSUE_23,
            "qnetd CPU per local call at 1 call/ms",
            paced_local.map(|p| p.qnet.daemon_cpu_us),
            2.0,
            true,
            "µs",
            None,
        );
        add(
            ISSUE_23,
            "paced 1 call/ms p50, remote (x raw quinn)",
            paced_at("remote").map(|p| p.p50_ratio),
            1.5,
            true,
            "x",
            None,
        );
        add(
            ISSUE_23,
            "remote msgs/s, 64 B, 8 clients (of raw quinn, 8 streams)",
            find(&remote, 64, 8).map(|c| c.throughput_ratio),
            0.45,
            false,
            "x",
            None,
        );
        add(
            ISSUE_23,
            "remote MsgSend p50, 64 B, 1 client (x raw quinn)",
            find(&remote, 64, 1).map(|c| c.p50_ratio),
            1.2,
            true,
            "x",
            None,
        );
        // Issue 17's and issue 5's rows that issue 23 does not restate.
        add(
            ISSUE_17,
            "remote MiB/s, 1 MiB, 1 client (of raw quinn, 1 stream)",
            find(&remote, 1 << 20, 1).map(|c| c.throughput_ratio),
            0.9,
            false,
            "x",
            None,
        );
        add(
            ISSUE_17,
            "remote MiB/s, 64 KiB, 1 client (of raw quinn, 1 stream)",
            find(&remote, 64 << 10, 1).map(|c| c.throughput_ratio),
            0.85,
            false,
            "x",
            None,
        );
        add(
            ISSUE_17,
            "daemon CPU at 1 call/ms, remote (both daemons, of a core)",
            paced_at("remote").map(|p| p.daemon_core_percent),
            15.0,
            true,
            "%",
            None,
        );
        add(
            ISSUE_17,
            "daemon CPU per local round trip, 64 B, 8 clients",
            find(&local, 64, 8).map(|c| c.qnet.daemon_cpu_us),
            6.0,
            true,
            "µs",
            None,
        );
        add(
            ISSUE_17,
            "pulses/s, remote (one sender)",
            pulses_per_s_remote,
            60_000.0,
            false,
            "/s",
            None,
        );
        add(
            ISSUE_5,
            "daemon bytes per idle local connection",
            Some(memory.local_connect_attach.max(memory.local_thread_session)),
            16.0 * 1024.0,
            true,
            "B",
            None,
        );
        add(
            ISSUE_5,
            "daemon bytes per idle remote connection (both daemons)",
            Some(memory.remote_total()),
            64.0 * 1024.0,
            true,
            "B",
            None,
        );
        // Issue 22: a socket per thread session and one pidfd per process, 1 + 1/threads;
        // the goal is stated to two decimals, as shown.
        add(
            ISSUE_22,
            "daemon descriptors per blocked client thread",
            (memory.blocked_threads > 0)
                .then(|| (memory.descriptors_per_blocked_thread * 100.0).round() / 100.0),
            1.0,
            true,
            "fd",
            None,
        );
        Self {
            machine,
            rounds: rounds_run,
            direct: DirectUse::default(),
            local,
            remote,
            pulses_per_s_local: pulses_per_s_local.unwrap_or(0.0),
            pulses_local_via_daemon: None,
            pulses_per_s_remote: pulses_per_s_remote.unwrap_or(0.0),
            memory,
            paced,
            targets,
            resources: Vec::new(),
            scale: None,
            resmgr: None,
        }
    }

    /// Add the resource-manager phase and its targets (issue 24).
    pub fn add_resmgr(&mut self, f: super::resmgr::ResmgrFigures) {
        use super::resmgr::ratio;
        let mut add = |name, measured: f64, goal, at_most| {
            if measured > 0.0 {
                let pass = if at_most {
                    measured <= goal
                } else {
                    measured >= goal
                };
                self.targets.push(Target {
                    from: "24",
                    name,
                    measured,
                    goal,
                    at_most,
                    pass,
                    unit: "x",
                    floor_ratio: None,
                });
            }
        };
        add(
            "64 B read as libqnetc sends it p50 (x local MsgSend)",
            ratio(f.read_lib_64_p50_us, f.msgsend_64_p50_us),
            1.2,
            true,
        );
        add(
            "64 B read through the FUSE mount p50 (x local MsgSend)",
            ratio(f.read_fuse_64_p50_us, f.msgsend_64_p50_us),
            3.0,
            true,
        );
        add(
            "1 MiB reads through the FUSE mount MiB/s (x raw UDS)",
            ratio(f.read_fuse_1mib_mib_s, f.uds_1mib_mib_s),
            0.5,
            false,
        );
        self.resmgr = Some(f);
    }

    /// Print the tables.
    pub fn print(&self, command: &str) {
        let m = &self.machine;
        outln!("# {command}: medians of {} round(s)", self.rounds);
        outln!(
            "# {} CPUs ({}), Linux {}, load average {:.2} before, {:.2} after",
            m.cpus,
            m.cpu_model,
            m.kernel,
            m.load_before,
            m.load_after
        );
        outln!("# {}", self.direct.line());
        outln!();
        outln!(
            "{:<7} {:>7} {:>4} | {:>9} {:>9} {:>9} {:>8} | {:>9} {:>9} {:>9} {:>8} | {:>6} {:>7} | {:>8} {:>6} {:>7} | {:>6} | {:>7}",
            "path",
            "size",
            "cli",
            "floor p50",
            "p99 µs",
            "msg/s",
            "MiB/s",
            "qnet p50",
            "p99 µs",
            "msg/s",
            "MiB/s",
            "p50 ×",
            "msg/s ×",
            "shm p50",
            "p50 ×",
            "msg/s ×",
            "qnetd%",
            "cpu µs"
        );
        let dash = || "-".to_owned();
        for (name, cells) in [("local", &self.local), ("remote", &self.remote)] {
            // Cells of variants `--only` left out are not printed as rows of zeros.
            let ran = |c: &&Cell| c.floor.msgs_per_s > 0.0 || c.qnet.msgs_per_s > 0.0;
            for c in cells.iter().filter(ran) {
                outln!(
                    "{:<7} {:>7} {:>4} | {:>9.1} {:>9.1} {:>9.0} {:>8.1} | {:>9.1} {:>9.1} {:>9.0} {:>8.1} | {:>6.2} {:>7.2} | {:>8} {:>6} {:>7} | {:>6} | {:>7.1}",
                    name,
                    size_name(c.size),
                    c.clients,
                    c.floor.p50_us,
                    c.floor.p99_us,
                    c.floor.msgs_per_s,
                    c.floor.mib_per_s,
                    c.qnet.p50_us,
                    c.qnet.p99_us,
                    c.qnet.msgs_per_s,
                    c.qnet.mib_per_s,
                    c.p50_ratio,
                    c.throughput_ratio,
                    c.shm.map_or_else(dash, |f| format!("{:.1}", f.p50_us)),
                    c.shm_p50_ratio.map_or_else(dash, |r| format!("{r:.2}")),
                    c.shm_throughput_ratio
                        .map_or_else(dash, |r| format!("{r:.2}")),
                    c.qnet
                        .via_daemon
                        .map_or_else(dash, |v| format!("{:.0}", v * 100.0)),
                    c.qnet.daemon_cpu_us,
                );
            }
        }
        outln!(
            "(floor: raw Unix socket for local, raw quinn for remote; shm: the shared-memory + futex floor, local only; p50/p99 in µs; qnetd%: share of the calls the daemon's kernel delivered, i.e. not on the direct path, local only; cpu µs: qnetd CPU time per round trip, both daemons for remote)"
        );
        outln!();
        outln!(
            "pulses/s (one sender, 16-byte pulses, counted at the server): local {:.0}{}, remote {:.0}",
            self.pulses_per_s_local,
            self.pulses_local_via_daemon
                .map_or_else(String::new, |v| format!(
                    " ({:.0} % delivered by qnetd)",
                    v * 100.0
                )),
            self.pulses_per_s_remote
        );
        let m = &self.memory;
        outln!(
            "daemon RSS per idle connection ({} each): local ConnectAttach {:.0} B, local thread session {:.0} B, remote ConnectAttach {:.0} B (client daemon) + {:.0} B (server daemon)",
            m.connections,
            m.local_connect_attach,
            m.local_thread_session,
            m.remote_connect_attach_client_daemon,
            m.remote_connect_attach_server_daemon
        );
        outln!(
            "daemon descriptors per blocked client thread ({} REPLY-blocked threads of one process): {:.3}",
            m.blocked_threads,
            m.descriptors_per_blocked_thread
        );
        if let Some(first) = self.paced.first() {
            outln!();
            outln!(
                "paced: 1 client, {}, one call every {:.0} µs (a control loop)",
                size_name(super::PACED_SIZE),
                first.pace_us
            );
            outln!(
                "{:<7} | {:>9} {:>8} | {:>9} {:>9} {:>9} | {:>6} {:>6} | {:>6} | {:>7} {:>11}",
                "path",
                "floor p50",
                "shm p50",
                "qnet p50",
                "p99 µs",
                "calls/s",
                "p50 ×",
                "× shm",
                "qnetd%",
                "cpu µs",
                "qnetd core%"
            );
            for p in &self.paced {
                outln!(
                    "{:<7} | {:>9.1} {:>8} | {:>9.1} {:>9.1} {:>9.0} | {:>6.2} {:>6} | {:>6} | {:>7.1} {:>10.1}%",
                    p.path,
                    p.floor.p50_us,
                    p.shm.map_or_else(dash, |f| format!("{:.1}", f.p50_us)),
                    p.qnet.p50_us,
                    p.qnet.p99_us,
                    p.qnet.msgs_per_s,
                    p.p50_ratio,
                    p.shm_p50_ratio.map_or_else(dash, |r| format!("{r:.2}")),
                    p.qnet
                        .via_daemon
                        .map_or_else(dash, |v| format!("{:.0}", v * 100.0)),
                    p.qnet.daemon_cpu_us,
                    p.daemon_core_percent
                );
            }
            outln!(
                "(floor: raw Unix socket / raw quinn; cpu µs: qnetd CPU per call, both daemons for remote; core%: that CPU at this rate, as a share of one core)"
            );
        }
        if let Some(scale) = &self.scale {
            outln!();
            scale.print();
        }
        if let Some(r) = &self.resmgr {
            outln!();
            r.print();
        }
        let verdicts = |from: &dyn Fn(&str) -> bool| {
            for t in self.targets.iter().filter(|t| from(t.from)) {
                let rel = if t.at_most { "<=" } else { ">=" };
                let (m, g) = (t.show(t.measured), t.show(t.goal));
                let floor = t
                    .floor_ratio
                    .map_or_else(String::new, |r| format!("{r:.2}x shm"));
                outln!(
                    "  {:<62} {:>10} {rel} {:>9} {:>10}  {}",
                    t.name,
                    m,
                    g,
                    floor,
                    if t.pass { "PASS" } else { "MISS" }
                );
            }
        };
        outln!();
        outln!(
            "targets, issue 23 (rows whose phase did not run are left out; x shm: the same qnet \
             figure over the shared-memory floor's, for reference)"
        );
        verdicts(&|from| from == ISSUE_23);
        outln!("targets of issues 17, 5 and 22 that issue 23 does not restate");
        verdicts(&|from| from != ISSUE_23 && from != "24");
        if self.targets.iter().any(|t| t.from == "24") {
            outln!("targets of issue 24 (resource managers)");
            verdicts(&|from| from == "24");
        }
        if !self.resources.is_empty() {
            outln!();
            outln!(
                "direct path resources (issue 23; recorded, no goal; from the memfds the daemon \
                 and the bench's processes hold, /proc/<pid>/fd)"
            );
            for r in &self.resources {
                outln!("  {:<74} {:>9.1} {}", r.name, r.value, r.unit);
            }
        }
    }
}

/// The pace (µs between calls) the paced targets are stated at: one call per millisecond.
const PACED_TARGET_US: f64 = 1000.0;

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;

    fn fig(p50: f64, msgs: f64) -> Figures {
        Figures {
            p50_us: p50,
            p99_us: p50 * 2.0,
            msgs_per_s: msgs,
            mib_per_s: 0.0,
            daemon_cpu_us: 0.0,
            via_daemon: None,
        }
    }

    #[test]
    fn ratios_pair_rounds() {
        let c = Cell::new(
            64,
            1,
            &[fig(10.0, 100.0), fig(20.0, 50.0), fig(10.0, 100.0)],
            &[fig(15.0, 60.0), fig(40.0, 20.0), fig(30.0, 50.0)],
        );
        assert_eq!(c.p50_ratio, 2.0, "median of 1.5, 2.0, 3.0");
        assert_eq!(c.throughput_ratio, 0.5, "median of 0.6, 0.4, 0.5");
        assert_eq!(c.floor.p50_us, 10.0);
        assert_eq!(c.shm_p50_ratio, None);
        // The shared-memory floor pairs with qnet by round too.
        let c = c.with_shm(
            &[fig(5.0, 200.0), fig(5.0, 200.0), fig(10.0, 100.0)],
            &[fig(15.0, 60.0), fig(40.0, 20.0), fig(30.0, 50.0)],
        );
        assert_eq!(c.shm_p50_ratio, Some(3.0), "median of 3, 8, 3");
        assert_eq!(c.shm_throughput_ratio, Some(0.3), "median of 0.3, 0.1, 0.5");
        assert_eq!(c.shm.map(|f| f.p50_us), Some(5.0));
        assert_eq!(c.p50_ratio, 2.0, "the UDS ratio is unchanged");
        // No floor rounds (`--only` left it out): nothing.
        let c = Cell::new(64, 1, &[fig(1.0, 1.0)], &[fig(1.0, 1.0)]).with_shm(&[], &[]);
        assert!(c.shm.is_none() && c.shm_p50_ratio.is_none());
    }

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            cpu_model: String::new(),
            kernel: String::new(),
            load_before: 0.0,
            load_after: 0.0,
        }
    }

    fn with_cpu(mut f: Figures, cpu: f64) -> Figures {
        f.daemon_cpu_us = cpu;
        f
    }

    const SIZES: [usize; 3] = [64, 64 << 10, 1 << 20];

    /// Every cell of every variant: the UDS and quinn floors' p50 10 µs and 1000 msgs/s, the
    /// shared-memory floor's 4 µs and 2500 msgs/s; qnet's p50 ratio is `p50_x(size, clients)`
    /// (local, over UDS) or twice it (remote), its throughput ratio is `msgs_x(...)` (local)
    /// or 1.25 times it (remote), its daemon CPU `cpu(...)` µs per round trip (remote: twice
    /// it). Over the shared-memory floor, local p50 ratios are 2.5 times the UDS ones and
    /// throughput ratios 0.4 times.
    fn all_cells(
        p50_x: impl Fn(usize, usize) -> f64,
        msgs_x: impl Fn(usize, usize) -> f64,
        cpu: impl Fn(usize, usize) -> f64,
    ) -> Rounds {
        let mut rounds = Rounds::new();
        for size in SIZES {
            for c in [1, 8] {
                let (p, m, u) = (p50_x(size, c), msgs_x(size, c), cpu(size, c));
                for (v, f) in [
                    (Variant::RawUds, fig(10.0, 1000.0)),
                    (Variant::RawShm, fig(4.0, 2500.0)),
                    (Variant::QnetLocal, with_cpu(fig(10.0 * p, 1000.0 * m), u)),
                    (Variant::RawQuic, fig(10.0, 1000.0)),
                    (
                        Variant::QnetRemote,
                        with_cpu(fig(20.0 * p, 1250.0 * m), 2.0 * u),
                    ),
                ] {
                    rounds.insert((v, size, c), vec![f]);
                }
            }
        }
        rounds
    }

    /// The paced phase: UDS and quinn floors' p50 10 µs, the shared-memory floor's 5 µs; qnet
    /// p50 `ratio`× the floor locally and `2 ratio`× remotely, at 1000 calls/s with `cpu_us`
    /// (local) and `3 cpu_us` (remote) of daemon CPU per call.
    fn paced_runs(ratio: f64, cpu_us: f64) -> BTreeMap<Variant, Vec<Figures>> {
        [
            (Variant::RawUds, fig(10.0, 1000.0)),
            (Variant::RawShm, fig(5.0, 1000.0)),
            (
                Variant::QnetLocal,
                with_cpu(fig(10.0 * ratio, 1000.0), cpu_us),
            ),
            (Variant::RawQuic, fig(10.0, 1000.0)),
            (
                Variant::QnetRemote,
                with_cpu(fig(20.0 * ratio, 1000.0), 3.0 * cpu_us),
            ),
        ]
        .into_iter()
        .map(|(v, f)| (v, vec![f]))
        .collect()
    }

    fn memory(bytes: f64) -> MemoryFigures {
        MemoryFigures {
            connections: 1,
            local_connect_attach: bytes,
            local_thread_session: bytes / 2.0,
            remote_connect_attach_client_daemon: bytes,
            remote_connect_attach_server_daemon: bytes,
            blocked_threads: 1000,
            // A socket each and one pidfd for 1,000 threads; "bad" memory: a pidfd each.
            descriptors_per_blocked_thread: if bytes >= 1e6 { 2.0 } else { 1.001 },
        }
    }

    const MS: Duration = Duration::from_millis(1);

    fn build(
        rounds: &Rounds,
        pulses: (Option<f64>, Option<f64>),
        memory: MemoryFigures,
        paced: Option<(Duration, &BTreeMap<Variant, Vec<Figures>>)>,
    ) -> Report {
        Report::build(
            machine(),
            &SIZES,
            &[1, 8],
            1,
            rounds,
            pulses.0,
            pulses.1,
            memory,
            paced,
        )
    }

    /// Issue 23's table in its order, then the rows of issues 17 and 5 it does not restate,
    /// each from the figure it names: the cells carry distinct ratios so a row reading the
    /// wrong cell shows; local ratio rows also carry their figure over the shared-memory
    /// floor.
    #[test]
    fn every_target_row_reads_its_own_figure() {
        // p50 ratio: 1 + size in KiB / 1000 + clients / 100; throughput ratio: its inverse.
        let p50_x = |size: usize, c: usize| 1.0 + (size >> 10) as f64 / 1000.0 + c as f64 / 100.0;
        let rounds = all_cells(p50_x, |s, c| 1.0 / p50_x(s, c), |s, c| (s + c) as f64);
        let paced = paced_runs(0.9, 1.5);
        let r = build(
            &rounds,
            (Some(310_000.0), Some(50_000.0)),
            memory(1000.0),
            Some((MS, &paced)),
        );
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // from, name, measured, goal, pass, × shm floor
        type Row = (&'static str, &'static str, f64, f64, bool, Option<f64>);
        let expected: [Row; 18] = [
            (
                ISSUE_23,
                "paced 1 call/ms p50, local",
                0.9,
                1.0,
                true,
                Some(1.8),
            ),
            (
                ISSUE_23,
                "local MsgSend p50, 64 B, 1 client",
                p50_x(64, 1),
                0.8,
                false,
                Some(2.5 * p50_x(64, 1)),
            ),
            (
                ISSUE_23,
                "local msgs/s, 64 B, 8 clients",
                1.0 / p50_x(64, 8),
                1.0,
                false,
                Some(0.4 / p50_x(64, 8)),
            ),
            (
                ISSUE_23,
                "local MsgSend p50, 64 KiB, 1 client",
                p50_x(64 << 10, 1),
                1.0,
                false,
                Some(2.5 * p50_x(64 << 10, 1)),
            ),
            (
                ISSUE_23,
                "local MsgSend p50, 1 MiB, 1 client",
                p50_x(1 << 20, 1),
                0.7,
                false,
                Some(2.5 * p50_x(1 << 20, 1)),
            ),
            (
                ISSUE_23,
                "pulses/s, local",
                310_000.0,
                300_000.0,
                true,
                None,
            ),
            // 1.5 µs of qnetd CPU per paced local call.
            (
                ISSUE_23,
                "qnetd CPU per local call at 1 call/ms",
                1.5,
                2.0,
                true,
                None,
            ),
            (
                ISSUE_23,
                "paced 1 call/ms p50, remote",
                1.8,
                1.5,
                false,
                None,
            ),
            (
                ISSUE_23,
                "remote msgs/s, 64 B, 8 clients",
                1.25 / p50_x(64, 8),
                0.45,
                true,
                None,
            ),
            (
                ISSUE_23,
                "remote MsgSend p50, 64 B, 1 client",
                2.0 * p50_x(64, 1),
                1.2,
                false,
                None,
            ),
            (
                ISSUE_17,
                "remote MiB/s, 1 MiB, 1 client",
                1.25 / p50_x(1 << 20, 1),
                0.9,
                false,
                None,
            ),
            (
                ISSUE_17,
                "remote MiB/s, 64 KiB, 1 client",
                1.25 / p50_x(64 << 10, 1),
                0.85,
                true,
                None,
            ),
            // 4.5 µs per call at 1000 calls/s: 0.45 % of a core.
            (
                ISSUE_17,
                "daemon CPU at 1 call/ms, remote",
                0.45,
                15.0,
                true,
                None,
            ),
            (
                ISSUE_17,
                "daemon CPU per local round trip, 64 B, 8 clients",
                72.0,
                6.0,
                false,
                None,
            ),
            (
                ISSUE_17,
                "pulses/s, remote",
                50_000.0,
                60_000.0,
                false,
                None,
            ),
            (
                ISSUE_5,
                "daemon bytes per idle local connection",
                1000.0,
                16384.0,
                true,
                None,
            ),
            (
                ISSUE_5,
                "daemon bytes per idle remote connection",
                2000.0,
                65536.0,
                true,
                None,
            ),
            (
                ISSUE_22,
                "daemon descriptors per blocked client thread",
                1.0,
                1.0,
                true,
                None,
            ),
        ];
        assert_eq!(
            r.targets.len(),
            expected.len(),
            "{:?}",
            r.targets.iter().map(|t| t.name).collect::<Vec<_>>()
        );
        for (t, (from, name, measured, goal, pass, floor)) in r.targets.iter().zip(expected) {
            assert!(t.name.starts_with(name), "{} is not {name}", t.name);
            assert_eq!(t.from, from, "{}", t.name);
            assert!(
                close(t.measured, measured),
                "{}: {} not {measured}",
                t.name,
                t.measured
            );
            assert!(
                close(t.goal, goal),
                "{}: goal {} not {goal}",
                t.name,
                t.goal
            );
            assert_eq!(t.pass, pass, "{}", t.name);
            match (t.floor_ratio, floor) {
                (None, None) => {}
                (Some(got), Some(want)) => {
                    assert!(close(got, want), "{}: x shm {got} not {want}", t.name);
                }
                (got, want) => panic!("{}: x shm {got:?} not {want:?}", t.name),
            }
        }
        // The JSON form carries every row.
        let json = serde_json::to_value(&r).expect("serialises");
        assert_eq!(
            json["targets"].as_array().map(Vec::len),
            Some(r.targets.len())
        );
        // Local cells and the local paced line carry the shared-memory floor; remote ones
        // do not.
        assert!(r.local.iter().all(|c| c.shm.is_some()));
        assert!(r.remote.iter().all(|c| c.shm.is_none()));
        let paced_shm: Vec<_> = r.paced.iter().map(|p| (p.path, p.shm_p50_ratio)).collect();
        assert_eq!(paced_shm, [("local", Some(1.8)), ("remote", None)]);
    }

    /// A row whose phase did not run is left out, not reported as 0 (which would read as a
    /// PASS for an "at most" goal).
    #[test]
    fn rows_of_phases_that_did_not_run_are_omitted() {
        let names = |r: &Report| r.targets.iter().map(|t| t.name).collect::<Vec<_>>();
        let memory_rows = [
            "daemon bytes per idle local",
            "daemon bytes per idle remote",
            "daemon descriptors per blocked client thread",
        ];
        // Nothing but the memory phase.
        let r = build(&Rounds::new(), (None, None), memory(1.0), None);
        let got = names(&r);
        assert_eq!(got.len(), 3, "{got:?}");
        for (n, want) in got.iter().zip(memory_rows) {
            assert!(n.starts_with(want), "{got:?}");
        }
        // Only the local variants (`--only raw-uds,raw-shm,qnet-local`), no remote pulses,
        // and a paced phase at another pace than the targets' 1 ms.
        let mut rounds = all_cells(|_, _| 1.0, |_, _| 1.0, |_, _| 1.0);
        rounds.retain(|(v, _, _), _| {
            matches!(v, Variant::RawUds | Variant::RawShm | Variant::QnetLocal)
        });
        let mut paced = paced_runs(1.0, 1.0);
        let r = build(
            &rounds,
            (Some(1.0), None),
            memory(1.0),
            Some((Duration::from_micros(500), &paced)),
        );
        let got = names(&r);
        assert!(!got.iter().any(|n| n.contains("remote MsgSend")), "{got:?}");
        assert!(!got.iter().any(|n| n.contains("remote MiB/s")), "{got:?}");
        assert!(!got.iter().any(|n| n.contains("remote msgs/s")), "{got:?}");
        assert!(
            !got.iter().any(|n| n.starts_with("pulses/s, remote")),
            "{got:?}"
        );
        assert!(!got.iter().any(|n| n.starts_with("paced")), "{got:?}");
        assert!(!got.iter().any(|n| n.contains("1 call/ms")), "{got:?}");
        for kept in [
            "local MsgSend p50, 64 B",
            "local MsgSend p50, 64 KiB",
            "local MsgSend p50, 1 MiB",
            "local msgs/s",
            "daemon CPU per local round trip",
            "pulses/s, local",
        ] {
            assert!(got.iter().any(|n| n.starts_with(kept)), "{kept}: {got:?}");
        }
        // At 1 ms, the paced rows of the path whose variants ran.
        paced.retain(|v, _| matches!(v, Variant::RawUds | Variant::QnetLocal));
        let r = build(&rounds, (None, None), memory(1.0), Some((MS, &paced)));
        let got = names(&r);
        assert!(
            got.iter()
                .any(|n| n.starts_with("paced 1 call/ms p50, local")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|n| n.starts_with("qnetd CPU per local call at 1 call/ms")),
            "{got:?}"
        );
        assert!(
            !got.iter()
                .any(|n| n.contains("1 call/ms") && n.contains("remote")),
            "{got:?}"
        );
        assert!(!got.iter().any(|n| n.starts_with("pulses/s")), "{got:?}");
        // The shared-memory floor left out (`--only raw-uds,qnet-local`): the rows stay, with
        // no ratio over it.
        let paced_row = r
            .targets
            .iter()
            .find(|t| t.name.starts_with("paced 1 call/ms p50, local"))
            .unwrap();
        assert_eq!(paced_row.floor_ratio, None);
        rounds.retain(|(v, _, _), _| *v != Variant::RawShm);
        let r = build(&rounds, (None, None), memory(1.0), None);
        let row = r
            .targets
            .iter()
            .find(|t| t.name.starts_with("local MsgSend p50, 64 B"))
            .unwrap();
        assert_eq!((row.measured, row.floor_ratio), (1.0, None));
        // Sizes that were not run (`--sizes 64`): no 64 KiB / 1 MiB rows.
        let mut rounds = all_cells(|_, _| 1.0, |_, _| 1.0, |_, _| 1.0);
        rounds.retain(|(_, size, _), _| *size == 64);
        let got = names(&build(&rounds, (None, None), memory(1.0), None));
        assert!(
            !got.iter().any(|n| n.contains("KiB") || n.contains("MiB")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|n| n.starts_with("remote msgs/s")),
            "{got:?}"
        );
    }

    /// PASS and MISS follow each goal's direction: figures all on the good side pass every
    /// row, all on the bad side miss every row, and a figure equal to its goal passes.
    #[test]
    fn pass_and_miss_follow_the_goal_direction() {
        // name, p50 ratio, msgs ratio, cpu µs (paced and per round trip), pulses,
        // bytes per connection, expected verdict of every row
        type Case = (&'static str, f64, f64, f64, (f64, f64), f64, bool);
        let cases: [Case; 3] = [
            ("good", 0.5, 1.0, 1.0, (400_000.0, 100_000.0), 10.0, true),
            ("bad", 3.0, 0.1, 200.0, (1_000.0, 1_000.0), 1e6, false),
            (
                "pulses at the goal",
                0.5,
                1.0,
                1.0,
                (300_000.0, 60_000.0),
                10.0,
                true,
            ),
        ];
        for (case, p50, msgs, cpu, pulses, bytes, pass) in cases {
            let rounds = all_cells(|_, _| p50, |_, _| msgs, |_, _| cpu);
            let paced = paced_runs(p50, cpu);
            let r = build(
                &rounds,
                (Some(pulses.0), Some(pulses.1)),
                memory(bytes),
                Some((MS, &paced)),
            );
            assert_eq!(r.targets.len(), 18, "{case}");
            for t in &r.targets {
                assert_eq!(
                    t.pass, pass,
                    "{case}: {} {} vs {}",
                    t.name, t.measured, t.goal
                );
            }
        }
        // At the goal exactly: "at most" and "at least" both pass.
        let rounds = all_cells(
            |size, _| if size == 1 << 20 { 0.5 } else { 1.0 },
            |_, _| 1.0,
            |_, _| 6.0,
        );
        let paced = paced_runs(1.0, 2.0);
        let r = build(&rounds, (None, None), memory(1.0), Some((MS, &paced)));
        let at = |prefix: &str| {
            r.targets
                .iter()
                .find(|t| t.name.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}"))
                .clone()
        };
        let kib = at("local MsgSend p50, 64 KiB");
        assert_eq!(
            (kib.measured, kib.goal, kib.at_most, kib.pass),
            (1.0, 1.0, true, true)
        );
        let paced_row = at("paced 1 call/ms p50, local");
        assert_eq!((paced_row.measured, paced_row.pass), (1.0, true));
        let cpu = at("qnetd CPU per local call at 1 call/ms");
        assert_eq!((cpu.measured, cpu.at_most, cpu.pass), (2.0, true, true));
        let cpu = at("daemon CPU per local round trip");
        assert_eq!((cpu.measured, cpu.at_most, cpu.pass), (6.0, true, true));
        let tput = at("local msgs/s, 64 B, 8 clients");
        assert_eq!((tput.measured, tput.at_most, tput.pass), (1.0, false, true));
        let mib = at("local MsgSend p50, 1 MiB");
        assert_eq!((mib.measured, mib.pass), (0.5, true));
        let remote = at("remote MiB/s, 1 MiB");
        assert_eq!(
            (remote.measured, remote.at_most, remote.pass),
            (1.25, false, true)
        );
    }

    /// Issue 23's resource rows read the pair costs they name; no pair held (the socket
    /// path): one row saying so, and none of the per-pair rows.
    #[test]
    fn resource_rows_read_the_pair_costs() {
        let one_call = PairCost {
            pairs: 1,
            mapped: 8 << 20,
            resident: 12_288.0,
            server_segments: 8192,
            fds_daemon: 1.0,
            fds_client: 0.0,
            fds_server: 2.0,
        };
        let after_run = PairCost {
            pairs: 1,
            resident: 1_048_576.0,
            ..one_call
        };
        let rows = direct_resources(Some(&one_call), Some(&after_run), 64);
        let value = |prefix: &str| {
            rows.iter()
                .find(|r| r.name.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {rows:?}"))
                .value
        };
        assert_eq!(value("direct pairs the daemon held"), 1.0);
        assert_eq!(value("pair segment, mapped"), 8.0, "MiB");
        assert_eq!(value("pair segment, resident after one 64 B call"), 12.0);
        assert_eq!(value("server's table + bells"), 8.0);
        assert_eq!(value("descriptors per pair, qnetd"), 1.0);
        assert_eq!(value("descriptors per pair, client"), 0.0);
        assert_eq!(value("descriptors per pair, server"), 2.0);
        assert_eq!(value("pair segment, resident after the run"), 1024.0);
        assert!(rows.iter().any(|r| r.name.contains("up to 64 threads")));
        let none = PairCost::default();
        let rows = direct_resources(Some(&none), Some(&none), 64);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].value, 0.0);
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(1024), "1 KiB");
        assert_eq!(size_name(65536), "64 KiB");
        assert_eq!(size_name(1 << 20), "1 MiB");
    }
}
