//! The comparison table, the performance targets (qnet against the raw-transport floor, daemon
//! memory per idle connection) with PASS/MISS, and the JSON form.

use serde::Serialize;

use super::Rounds;
use super::memory::MemoryFigures;
use super::stats::{Figures, median, median_figures};

/// What was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
pub enum Variant {
    /// Raw Unix-socket ping-pong (local floor).
    RawUds,
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
    /// The floor's medians over rounds.
    pub floor: Figures,
    /// qnet's medians over rounds.
    pub qnet: Figures,
    /// Median over rounds of qnet p50 / floor p50 (the same round).
    pub p50_ratio: f64,
    /// Median over rounds of qnet msgs/s / floor msgs/s (the same round).
    pub throughput_ratio: f64,
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
        }
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
    /// The floor's medians over rounds.
    pub floor: Figures,
    /// qnet's medians over rounds.
    pub qnet: Figures,
    /// Median over rounds of qnet p50 / floor p50.
    pub p50_ratio: f64,
    /// qnetd CPU time as a share of one core at this rate (both daemons for remote), %.
    pub daemon_core_percent: f64,
}

/// A performance target: a ratio of qnet to the raw-transport floor, or daemon bytes per idle
/// connection, with its goal.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What it is about.
    pub name: &'static str,
    /// The measured value (a ratio, or bytes per connection).
    pub measured: f64,
    /// The goal.
    pub goal: f64,
    /// `true`: measured must be at most goal; `false`: at least.
    pub at_most: bool,
    /// Whether the goal is met.
    pub pass: bool,
    /// Unit for printing.
    pub unit: &'static str,
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
    /// qnet local vs raw Unix socket.
    pub local: Vec<Cell>,
    /// qnet remote vs raw quinn.
    pub remote: Vec<Cell>,
    /// Pulses per second, one sender, local.
    pub pulses_per_s_local: f64,
    /// Pulses per second, one sender, remote.
    pub pulses_per_s_remote: f64,
    /// Daemon bytes per idle connection.
    pub memory: MemoryFigures,
    /// The paced phase (empty when skipped).
    pub paced: Vec<Paced>,
    /// The performance targets.
    pub targets: Vec<Target>,
    /// Cost as tables grow and memory after a drain (`None`: skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<super::scale::ScaleFigures>,
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
        pulses_per_s_local: f64,
        pulses_per_s_remote: f64,
        memory: MemoryFigures,
        paced: Option<(
            std::time::Duration,
            &std::collections::BTreeMap<Variant, Vec<Figures>>,
        )>,
    ) -> Self {
        let path = |floor: Variant, qnet: Variant| -> Vec<Cell> {
            let mut out = Vec::new();
            for &size in sizes {
                for &c in clients {
                    let get = |v| rounds.get(&(v, size, c)).cloned().unwrap_or_default();
                    out.push(Cell::new(size, c, &get(floor), &get(qnet)));
                }
            }
            out
        };
        let local = path(Variant::RawUds, Variant::QnetLocal);
        let remote = path(Variant::RawQuic, Variant::QnetRemote);
        // A cell counts for a target only when both of its variants ran (`--only` may leave
        // one out): an unmeasured ratio is 0, which would read as a latency PASS.
        let find = |cells: &[Cell], size: usize, c: usize| {
            cells
                .iter()
                .find(|x| x.size == size && x.clients == c)
                .filter(|x| x.floor.msgs_per_s > 0.0 && x.qnet.msgs_per_s > 0.0)
                .cloned()
        };
        let mut targets = Vec::new();
        let mut add = |name, measured: Option<f64>, goal, at_most, unit| {
            if let Some(m) = measured {
                let pass = if at_most { m <= goal } else { m >= goal };
                targets.push(Target {
                    name,
                    measured: m,
                    goal,
                    at_most,
                    pass,
                    unit,
                });
            }
        };
        add(
            "local MsgSend p50, 64 B, 1 client (x raw UDS p50)",
            find(&local, 64, 1).map(|c| c.p50_ratio),
            2.0,
            true,
            "x",
        );
        add(
            "remote MsgSend p50, 64 B, 1 client (x raw quinn p50)",
            find(&remote, 64, 1).map(|c| c.p50_ratio),
            1.6,
            true,
            "x",
        );
        add(
            "local msgs/s, 64 B, 8 clients (of raw UDS, 8 conns)",
            find(&local, 64, 8).map(|c| c.throughput_ratio),
            0.5,
            false,
            "x",
        );
        add(
            "remote msgs/s, 64 B, 8 clients (of raw quinn, 8 streams)",
            find(&remote, 64, 8).map(|c| c.throughput_ratio),
            0.6,
            false,
            "x",
        );
        add(
            "remote MiB/s, 1 MiB, 1 client (of raw quinn, 1 stream)",
            find(&remote, 1 << 20, 1).map(|c| c.throughput_ratio),
            0.8,
            false,
            "x",
        );
        add(
            "daemon bytes per idle local connection",
            Some(memory.local_connect_attach.max(memory.local_thread_session)),
            16.0 * 1024.0,
            true,
            "B",
        );
        add(
            "daemon bytes per idle remote connection (both daemons)",
            Some(memory.remote_total()),
            64.0 * 1024.0,
            true,
            "B",
        );
        let paced = paced.map_or_else(Vec::new, |(pace, runs)| {
            [
                ("local", Variant::RawUds, Variant::QnetLocal),
                ("remote", Variant::RawQuic, Variant::QnetRemote),
            ]
            .into_iter()
            .filter_map(|(path, floor, qnet)| {
                let (floor, qnet) = (runs.get(&floor)?, runs.get(&qnet)?);
                let cell = Cell::new(super::PACED_SIZE, 1, floor, qnet);
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
                })
            })
            .collect()
        });
        Self {
            machine,
            rounds: rounds_run,
            local,
            remote,
            pulses_per_s_local,
            pulses_per_s_remote,
            memory,
            paced,
            targets,
            scale: None,
        }
    }

    /// Print the tables.
    pub fn print(&self, command: &str) {
        let m = &self.machine;
        println!("# {command}: medians of {} round(s)", self.rounds);
        println!(
            "# {} CPUs ({}), Linux {}, load average {:.2} before, {:.2} after",
            m.cpus, m.cpu_model, m.kernel, m.load_before, m.load_after
        );
        println!();
        println!(
            "{:<7} {:>7} {:>4} | {:>9} {:>9} {:>9} {:>8} | {:>9} {:>9} {:>9} {:>8} | {:>6} {:>7} | {:>7}",
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
            "cpu µs"
        );
        for (name, cells) in [("local", &self.local), ("remote", &self.remote)] {
            for c in cells.iter() {
                println!(
                    "{:<7} {:>7} {:>4} | {:>9.1} {:>9.1} {:>9.0} {:>8.1} | {:>9.1} {:>9.1} {:>9.0} {:>8.1} | {:>6.2} {:>7.2} | {:>7.1}",
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
                    c.qnet.daemon_cpu_us,
                );
            }
        }
        println!(
            "(floor: raw Unix socket for local, raw quinn for remote; p50/p99 in µs; cpu µs: qnetd CPU time per round trip, both daemons for remote)"
        );
        println!();
        println!(
            "pulses/s (one sender, 16-byte pulses, counted at the server): local {:.0}, remote {:.0}",
            self.pulses_per_s_local, self.pulses_per_s_remote
        );
        let m = &self.memory;
        println!(
            "daemon RSS per idle connection ({} each): local ConnectAttach {:.0} B, local thread session {:.0} B, remote ConnectAttach {:.0} B (client daemon) + {:.0} B (server daemon)",
            m.connections,
            m.local_connect_attach,
            m.local_thread_session,
            m.remote_connect_attach_client_daemon,
            m.remote_connect_attach_server_daemon
        );
        if let Some(first) = self.paced.first() {
            println!();
            println!(
                "paced: 1 client, {}, one call every {:.0} µs (a control loop)",
                size_name(super::PACED_SIZE),
                first.pace_us
            );
            println!(
                "{:<7} | {:>9} | {:>9} {:>9} {:>9} | {:>6} | {:>7} {:>11}",
                "path",
                "floor p50",
                "qnet p50",
                "p99 µs",
                "calls/s",
                "p50 ×",
                "cpu µs",
                "qnetd core%"
            );
            for p in &self.paced {
                println!(
                    "{:<7} | {:>9.1} | {:>9.1} {:>9.1} {:>9.0} | {:>6.2} | {:>7.1} {:>10.1}%",
                    p.path,
                    p.floor.p50_us,
                    p.qnet.p50_us,
                    p.qnet.p99_us,
                    p.qnet.msgs_per_s,
                    p.p50_ratio,
                    p.qnet.daemon_cpu_us,
                    p.daemon_core_percent
                );
            }
            println!(
                "(cpu µs: qnetd CPU per call, both daemons for remote; core%: that CPU at this rate, as a share of one core)"
            );
        }
        if let Some(scale) = &self.scale {
            println!();
            scale.print();
        }
        println!();
        println!(
            "targets: qnet against the raw-transport floor, daemon memory per idle connection"
        );
        for t in &self.targets {
            let rel = if t.at_most { "<=" } else { ">=" };
            let (m, g) = if t.unit == "B" {
                (format!("{:.0} B", t.measured), format!("{:.0} B", t.goal))
            } else {
                (format!("{:.2}x", t.measured), format!("{:.2}x", t.goal))
            };
            println!(
                "  {:<58} {:>10} {rel} {:>9}  {}",
                t.name,
                m,
                g,
                if t.pass { "PASS" } else { "MISS" }
            );
        }
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(p50: f64, msgs: f64) -> Figures {
        Figures {
            p50_us: p50,
            p99_us: p50 * 2.0,
            msgs_per_s: msgs,
            mib_per_s: 0.0,
            daemon_cpu_us: 0.0,
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
    }

    #[test]
    fn targets_skip_paths_that_did_not_run() {
        let mut rounds = Rounds::new();
        for (v, f) in [
            (Variant::RawUds, fig(10.0, 100.0)),
            (Variant::QnetLocal, fig(15.0, 40.0)),
        ] {
            rounds.insert((v, 64, 1), vec![f]);
            rounds.insert((v, 64, 8), vec![f]);
        }
        let machine = Machine {
            cpus: 2,
            cpu_model: String::new(),
            kernel: String::new(),
            load_before: 0.0,
            load_after: 0.0,
        };
        let memory = MemoryFigures::default();
        let r = Report::build(machine, &[64], &[1, 8], 1, &rounds, 0.0, 0.0, memory, None);
        let names: Vec<_> = r.targets.iter().map(|t| t.name).collect();
        assert!(names.iter().any(|n| n.starts_with("local MsgSend p50")));
        assert!(names.iter().any(|n| n.starts_with("local msgs/s")));
        assert!(
            !names.iter().any(|n| n.starts_with("remote")),
            "remote did not run, yet: {names:?}"
        );
        let p50 = &r.targets[0];
        assert_eq!((p50.measured, p50.pass), (1.5, true));
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(size_name(64), "64 B");
        assert_eq!(size_name(1024), "1 KiB");
        assert_eq!(size_name(65536), "64 KiB");
        assert_eq!(size_name(1 << 20), "1 MiB");
    }
}
