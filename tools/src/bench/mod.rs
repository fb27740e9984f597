//! `qnet bench`: qnet side by side with the floors it is built on, in one run.
//!
//! - `uds`: the local floor, a raw Unix-socket ping-pong between two processes;
//! - `shm`: the machine's floor for a local call, a shared-memory + futex ping-pong between
//!   two processes (issue 23's reference);
//! - `quic`: the network floor, a raw quinn ping-pong on long-lived streams between two
//!   processes (qnet_transport endpoints: real certificates, the daemon's settings);
//! - `ipc`: qnet — a server process behind a `qnetd`, clients in this process;
//! - `memory`: daemon RSS per idle connection;
//! - `resmgr`: reads of a resource manager's path as libqnetc sends them and through the
//!   FUSE mount, against `MsgSend` and the raw Unix-socket throughput;
//! - `segments`: what the direct local path holds (its memfds, from /proc) and whether the
//!   bench's processes used it;
//! - `scale`: creation and exit cost at a small and a large object count, daemon RSS after
//!   a drain of REPLY-blocked clients;
//! - `workload`: the closed loop all variants share; `stats`: figures and medians;
//! - `report`: the table, the performance targets with PASS/MISS, JSON;
//! - `procs`: child processes (peers re-executing this binary as `qnet bench peer …`, and
//!   `qnetd`s), killed when their guards drop.
//!
//! Variants are interleaved cell by cell (floor, qnet, floor, qnet, …; the order flips every
//! round) and each figure is the median over rounds.

mod blocked;
mod ipc;
mod memory;
mod procs;
mod quic;
mod report;
mod resmgr;
mod scale;
mod segments;
mod shm;
mod stats;
mod uds;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

pub(crate) use self::ipc::Server;
pub(crate) use self::procs::{
    Daemon, ND_B, Peer, announce, exit_when_stdin_closes, find_qnetd, rss_of,
};
pub(crate) use self::quic::issue_certs;
use self::report::{Report, Variant};
use self::segments::{DirectUse, PairCost};
use self::stats::Figures;
use self::workload::Budget;
use crate::admin_client::AdminClient;

/// `qnet bench`: measure qnet against raw Unix sockets and raw quinn, in one run.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// A seconds-long smoke run (64 B and 1 MiB, 1 and 8 clients, one short round).
    #[arg(long)]
    quick: bool,
    /// Print the results as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Rounds (default 5, 1 with --quick); figures are medians over rounds.
    #[arg(long)]
    rounds: Option<usize>,
    /// Timed phase of each measurement, milliseconds (default 500, 100 with --quick).
    #[arg(long)]
    duration_ms: Option<u64>,
    /// The qnetd binary (default: next to this executable, else target/release/qnetd).
    #[arg(long)]
    qnetd: Option<PathBuf>,
    /// An extra argument for every qnetd the run starts (repeatable), e.g.
    /// `--daemon-arg=--busy-poll-us=0` to measure without busy polling.
    #[arg(long = "daemon-arg", allow_hyphen_values = true)]
    daemon_args: Vec<String>,
    /// Run only these variants (for profiling one path; ratios need both of a pair).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Variant>,
    /// Message sizes in bytes (default 64,1024,65536,1048576; 64,1048576 with --quick).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Concurrent clients (default 1,8,64; 1,8 with --quick).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// The paced phase: one client sends 64 B every this many microseconds, as a control
    /// loop does, to show latency and daemon CPU at a sparse rate (default 1000; 0: skip).
    #[arg(long, default_value_t = 1000)]
    pace_us: u64,
    /// Park this many callers on each qnet server (local and remote) for the whole run:
    /// threads REPLY-blocked on a server that never answers, as clients waiting on a
    /// resource manager for an event are (default 0).
    #[arg(long, default_value_t = 0)]
    parked: usize,
    /// The scale phase: one process creates this many channels, connections and names (and
    /// 1000 in a first run to compare with), then exits (default 100000, 1000 with --quick;
    /// 0: skip the phase).
    #[arg(long)]
    scale: Option<usize>,
    /// REPLY-blocked clients parked and drained in the scale phase (default 10000, 200 with
    /// --quick), twice, with the daemon's RSS before, loaded and after.
    #[arg(long)]
    drain_clients: Option<usize>,
    /// Only the pulse phase (one sender, 20,000 pulses, local and remote as `--only` says):
    /// no message cells, paced phase, memory or scale phase.
    #[arg(long)]
    pulses_only: bool,
    /// The direct local path (issue 23): `on` runs qnetd as it comes (the path on by
    /// default), `off` starts every qnetd of the run with `--direct off`, so local calls take
    /// the socket path: an A/B pair of runs in one sitting. The header says which was asked
    /// and whether the bench's processes used the path.
    #[arg(long, value_enum, default_value_t = Direct::On)]
    direct: Direct,
    /// Only the blocked-threads phase, `PxT`: P client processes of T library threads each,
    /// every thread REPLY-blocked, on a daemon of its own; its descriptors and RSS per
    /// thread (e.g. `10x1000`).
    #[arg(long, value_parser = parse_blocked)]
    blocked: Option<(usize, usize)>,
    /// The blocked-threads daemon's RLIMIT_NOFILE (soft and hard), as a host sets it.
    #[arg(long, default_value_t = 20_000)]
    nofile: u64,
    #[command(subcommand)]
    peer: Option<PeerCommand>,
}

/// `--direct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Direct {
    /// qnetd's default: the direct path on.
    On,
    /// Every qnetd with `--direct off`.
    Off,
}

/// The harness's other side: this binary re-executed as a child.
#[derive(Debug, Subcommand)]
enum PeerCommand {
    /// Internal: run as the peer process of a benchmark.
    #[command(hide = true)]
    Peer {
        #[command(subcommand)]
        role: Role,
    },
}

/// What a peer process serves.
#[derive(Debug, Subcommand)]
enum Role {
    /// Raw Unix-socket echo on PATH.
    Uds { path: PathBuf },
    /// Shared-memory + futex echo: SLOTS slots for messages up to MAX_SIZE bytes.
    Shm { slots: usize, max_size: usize },
    /// Raw quinn echo with the certificates in CERTS.
    Quic { certs: PathBuf },
    /// qnet echo + pulse server on the daemon at SOCKET with THREADS receivers; with NAME, an
    /// echo channel attached under that name too.
    QnetServer {
        socket: PathBuf,
        threads: usize,
        name: Option<String>,
    },
    /// Daemon memory per idle connection, printed on the READY line.
    Memory(memory::Spec),
    /// The scale phase's process: MODE `objects` (create N of each, print the rates) or
    /// `drain` (park N REPLY-blocked clients) on the daemon at SOCKET.
    Scale {
        mode: String,
        socket: PathBuf,
        n: usize,
    },
    /// A `qnet soak` churn process on the daemon at SOCKET (see `soak::churn_peer`).
    SoakChurn { socket: PathBuf, targets: Vec<u32> },
    /// A resource manager on PATH of the daemon at SOCKET (see `resmgr::serve`).
    ResmgrServer { socket: PathBuf, path: String },
    /// A server on the daemon at SOCKET holding N messages unanswered (`--blocked`).
    Hold { socket: PathBuf, n: usize },
    /// THREADS library threads REPLY-blocked on PID/CHID (`--blocked`).
    BlockedClient {
        socket: PathBuf,
        pid: u32,
        chid: i32,
        threads: usize,
    },
}

/// `PxT` → (P, T).
fn parse_blocked(s: &str) -> std::result::Result<(usize, usize), String> {
    let (p, t) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?} is not PROCESSESxTHREADS (e.g. 10x1000)"))?;
    let num = |v: &str| {
        v.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{v:?} in {s:?} is not a positive number"))
    };
    Ok((num(p)?, num(t)?))
}

/// The shape of a run.
#[derive(Debug, Clone)]
struct Plan {
    sizes: Vec<usize>,
    clients: Vec<usize>,
    rounds: usize,
    budget: Budget,
    pulses: u64,
    idle_connections: usize,
    /// The paced phase's interval between calls (`None`: skipped).
    pace: Option<Duration>,
    /// The scale phase: large object count and clients to drain (`None`: skipped).
    scale: Option<(usize, usize)>,
}

impl Plan {
    fn of(args: &BenchArgs) -> Self {
        let mut plan = if args.quick {
            Self {
                sizes: vec![64, 1 << 20],
                clients: vec![1, 8],
                rounds: 1,
                budget: Budget {
                    warmup: Duration::from_millis(30),
                    duration: Duration::from_millis(100),
                    max_iters: 20_000,
                    pace: None,
                },
                pulses: 2_000,
                idle_connections: 100,
                pace: None,
                scale: Some((1_000, 200)),
            }
        } else {
            Self {
                sizes: vec![64, 1024, 64 * 1024, 1 << 20],
                clients: vec![1, 8, 64],
                rounds: 5,
                budget: Budget {
                    warmup: Duration::from_millis(100),
                    duration: Duration::from_millis(500),
                    max_iters: 100_000,
                    pace: None,
                },
                pulses: 20_000,
                idle_connections: 1_000,
                pace: None,
                scale: Some((100_000, 10_000)),
            }
        };
        if let Some(r) = args.rounds {
            plan.rounds = r.max(1);
        }
        if !args.sizes.is_empty() {
            plan.sizes = args.sizes.clone();
        }
        if !args.clients.is_empty() {
            plan.clients = args.clients.iter().map(|&c| c.max(1)).collect();
        }
        if let Some(ms) = args.duration_ms {
            plan.budget.duration = Duration::from_millis(ms.max(1));
        }
        plan.pace = (args.pace_us > 0).then(|| Duration::from_micros(args.pace_us));
        if let Some((big, clients)) = plan.scale {
            let big = args.scale.unwrap_or(big);
            plan.scale = (big > 0).then(|| (big, args.drain_clients.unwrap_or(clients)));
        }
        plan
    }
}

/// Run `qnet bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.peer {
        Some(PeerCommand::Peer { role }) => serve(role),
        None => compare(&args),
    }
}

fn serve(role: Role) -> Result<()> {
    match role {
        Role::Uds { path } => uds::serve(&path),
        Role::Shm { slots, max_size } => shm::serve(slots, max_size),
        Role::Quic { certs } => quic::serve(&certs),
        Role::QnetServer {
            socket,
            threads,
            name,
        } => ipc::serve(&socket, threads, name.as_deref()),
        Role::Memory(spec) => memory::serve(&spec),
        Role::Scale { mode, socket, n } => scale::serve(&mode, &socket, n),
        Role::SoakChurn { socket, targets } => crate::cmd::soak::churn_peer(&socket, &targets),
        Role::ResmgrServer { socket, path } => resmgr::serve(&socket, &path),
        Role::Hold { socket, n } => blocked::hold(&socket, n),
        Role::BlockedClient {
            socket,
            pid,
            chid,
            threads,
        } => blocked::client(&socket, pid, chid, threads),
    }
}

/// Figures per variant and cell, one entry per round.
type Rounds = BTreeMap<(Variant, usize, usize), Vec<Figures>>;

fn compare(args: &BenchArgs) -> Result<()> {
    let plan = Plan::of(args);
    let qnetd = procs::find_qnetd(args.qnetd.as_deref())?;
    if let Some((processes, threads)) = args.blocked {
        progress(
            args,
            &format!("{processes} x {threads} REPLY-blocked threads on a daemon of its own"),
        );
        let b = blocked::measure(&qnetd, &args.daemon_args, processes, threads, args.nofile)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&b)?);
        } else {
            b.print();
        }
        return Ok(());
    }
    let max_clients = plan.clients.iter().copied().max().unwrap_or(1);
    memory::raise_fd_limit(4096)?;

    let tmp = tempfile::tempdir()?;
    let certs = tmp.path().join("certs");
    std::fs::create_dir(&certs)?;
    quic::issue_certs(&certs, &["na", "nb"])?;

    let mut extra = args.daemon_args.clone();
    if args.direct == Direct::Off {
        extra.extend(["--direct".to_owned(), "off".to_owned()]);
    }
    let extra = &extra;
    progress(
        args,
        "daemon memory per idle connection (a daemon pair of its own)",
    );
    let (mem, one_call) = if args.pulses_only {
        (memory::MemoryFigures::default(), None)
    } else {
        // As many REPLY-blocked library threads as idle connections, for descriptors.
        let (mem, pair) = memory::measure(
            &qnetd,
            &certs,
            extra,
            plan.idle_connections,
            plan.idle_connections,
        )?;
        (mem, Some(pair))
    };
    let scale = match plan.scale.filter(|_| !args.pulses_only) {
        Some((big, clients)) => {
            progress(
                args,
                &format!(
                    "scale: up to {big} objects, {clients} clients drained (a daemon of its own)"
                ),
            );
            // Compare with a tenth of it, at most SCALE_SMALL: 1000 vs 100000 by default.
            let small = (big / 10).clamp(1, SCALE_SMALL);
            let sizes = if small < big {
                vec![small, big]
            } else {
                vec![big]
            };
            Some(scale::measure(&qnetd, extra, &sizes, clients, 2).context("scale phase")?)
        }
        None => None,
    };

    progress(
        args,
        "starting qnetd nb, qnetd na (dialling nb), servers and floors",
    );
    // The resource-manager phase reads through na's FUSE mount, where the daemon may mount.
    let resmgr_phase =
        !args.pulses_only && (args.only.is_empty() || args.only.contains(&Variant::QnetLocal));
    let refused = resmgr::mount_refused();
    let mount = (resmgr_phase && refused.is_none()).then(|| tmp.path().join("fs"));
    let mut a_extra = extra.clone();
    if let Some(m) = &mount {
        a_extra.push("--mount".into());
        a_extra.push(m.display().to_string());
    }
    let (a, b) = Daemon::start_pair_with(&qnetd, &certs, &a_extra, extra, &[])?;
    qnet::set_socket_path(&a.socket);
    let local = ipc::Server::start(&a.socket, max_clients, 0)?;
    let rm = if resmgr_phase {
        Some(resmgr::Bench::start(&a.socket, mount.as_deref()).context("resource manager")?)
    } else {
        None
    };
    let mut rm_rounds: Vec<resmgr::ResmgrFigures> = Vec::new();
    let remote = ipc::Server::start(&b.socket, max_clients, procs::ND_B)?;
    for _ in 0..args.parked {
        local
            .park()
            .context("parking a caller on the local server")?;
        remote
            .park()
            .context("parking a caller on the remote server")?;
    }

    let uds_floor = uds::Floor::start()?;
    let max_size = plan
        .sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(PACED_SIZE);
    let shm_floor = shm::Floor::start(max_clients, max_size, &plan.sizes)?;
    let quic_floor = quic::Floor::start(&certs)?;
    // The daemon's own count of what it delivered to the local server: calls on the direct
    // path are not in it.
    let admin = std::cell::RefCell::new(
        AdminClient::connect(std::slice::from_ref(&a.socket)).context("admin session")?,
    );
    let kernel_counts = || local.kernel_counts(&mut admin.borrow_mut());

    // One measurement of one variant: its figures, with the daemons' CPU time (and for qnet
    // local, how many calls the daemon delivered).
    let measure = |v: Variant, size: usize, clients: usize, budget: Budget| -> Result<Figures> {
        let daemons: &[&Daemon] = match v {
            Variant::RawUds | Variant::RawShm | Variant::RawQuic => &[],
            Variant::QnetLocal => &[&a],
            Variant::QnetRemote => &[&a, &b],
        };
        let delivered_before = match v {
            Variant::QnetLocal => Some(kernel_counts()?.0),
            _ => None,
        };
        let cpu_before = daemons_cpu(daemons)?;
        let _watch = Watchdog::arm(
            format!("{v:?}, {size} B, {clients} client(s)"),
            budget.warmup + budget.duration + procs::GUARD,
        );
        let mut sample = match v {
            Variant::RawUds => uds_floor.measure(size, clients, budget),
            Variant::RawShm => shm_floor.measure(size, clients, budget),
            Variant::QnetLocal => local.measure(size, clients, budget),
            Variant::RawQuic => quic_floor.measure(size, clients, budget),
            Variant::QnetRemote => remote.measure(size, clients, budget),
        }?;
        if !daemons.is_empty() {
            sample.daemon_cpu = Some(daemons_cpu(daemons)? - cpu_before);
        }
        if let Some(before) = delivered_before {
            sample.daemon_deliveries = Some(kernel_counts()?.0.saturating_sub(before));
        }
        Ok(sample.figures())
    };

    let load_before = report::load_average();
    let mut rounds: Rounds = BTreeMap::new();
    let mut paced: BTreeMap<Variant, Vec<Figures>> = BTreeMap::new();
    let mut pulses_local = Vec::new();
    let mut pulses_local_via_daemon = Vec::new();
    let mut pulses_remote = Vec::new();
    for round in 0..plan.rounds {
        progress(args, &format!("round {}/{}", round + 1, plan.rounds));
        for &size in plan.sizes.iter().filter(|_| !args.pulses_only) {
            for &clients in &plan.clients {
                for v in variants(args, round) {
                    let figures = measure(v, size, clients, plan.budget)
                        .with_context(|| format!("{v:?}, {size} B, {clients} clients"))?;
                    rounds.entry((v, size, clients)).or_default().push(figures);
                }
            }
        }
        if let Some(pace) = plan.pace.filter(|_| !args.pulses_only) {
            let budget = Budget {
                pace: Some(pace),
                ..plan.budget
            };
            for v in variants(args, round) {
                let figures = measure(v, PACED_SIZE, 1, budget)
                    .with_context(|| format!("{v:?}, paced every {pace:?}"))?;
                paced.entry(v).or_default().push(figures);
            }
        }
        if let Some(rm) = &rm {
            let budget = plan.budget;
            let p50 = |s: stats::Sample| s.figures().p50_us;
            let mut f = resmgr::ResmgrFigures {
                msgsend_64_p50_us: p50(local.measure(64, 1, budget)?),
                read_lib_64_p50_us: p50(rm.read_lib(64, budget).context("resmgr read")?),
                uds_1mib_mib_s: uds_floor.measure(1 << 20, 1, budget)?.figures().mib_per_s,
                skipped: refused.clone(),
                ..Default::default()
            };
            if rm.mounted() {
                f.read_fuse_64_p50_us = p50(rm.read_fuse(64, budget).context("FUSE read")?);
                f.read_fuse_1mib_mib_s = rm
                    .read_fuse(1 << 20, budget)
                    .context("FUSE 1 MiB read")?
                    .figures()
                    .mib_per_s;
            }
            rm_rounds.push(f);
        }
        if args.only.is_empty() || args.only.contains(&Variant::QnetLocal) {
            let before = kernel_counts()?.1;
            pulses_local.push(local.pulses(plan.pulses).context("local pulses")?);
            // The phase sends its count twice (a warm-up round of up to 100 first).
            let sent = plan.pulses + plan.pulses.min(100);
            let delivered = kernel_counts()?.1.saturating_sub(before);
            pulses_local_via_daemon.push(delivered as f64 / sent as f64);
        }
        if args.only.is_empty() || args.only.contains(&Variant::QnetRemote) {
            pulses_remote.push(remote.pulses(plan.pulses).context("remote pulses")?);
        }
    }

    let machine = report::Machine::read(load_before, report::load_average());
    let mut report = Report::build(
        machine,
        &plan.sizes,
        &plan.clients,
        plan.rounds,
        &rounds,
        (!pulses_local.is_empty()).then(|| stats::median(pulses_local)),
        (!pulses_remote.is_empty()).then(|| stats::median(pulses_remote)),
        mem,
        plan.pace.map(|pace| (pace, &paced)),
    );
    report.scale = scale;
    if !rm_rounds.is_empty() {
        report.add_resmgr(median_resmgr(rm_rounds));
    }
    report.pulses_local_via_daemon =
        (!pulses_local_via_daemon.is_empty()).then(|| stats::median(pulses_local_via_daemon));
    report.direct = DirectUse::read(args.direct == Direct::On, local.direct(), local.pid())?;
    let after_run =
        PairCost::read_settled(a.pid(), local.pid(), std::process::id(), Some(local.chid()))?;
    report.resources = report::direct_resources(one_call.as_ref(), Some(&after_run), max_clients);
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print(&command_line(args));
    }
    // Guards drop here: servers, floors, daemons are killed and reaped.
    drop((uds_floor, shm_floor, quic_floor, local, remote, rm, a, b));
    // The daemon was killed, not stopped: its FUSE mount is still there, dead.
    if let Some(m) = &mount {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// Per-field medians of the resource-manager phase over rounds.
fn median_resmgr(rounds: Vec<resmgr::ResmgrFigures>) -> resmgr::ResmgrFigures {
    let col = |f: fn(&resmgr::ResmgrFigures) -> f64| stats::median(rounds.iter().map(f).collect());
    resmgr::ResmgrFigures {
        msgsend_64_p50_us: col(|r| r.msgsend_64_p50_us),
        read_lib_64_p50_us: col(|r| r.read_lib_64_p50_us),
        read_fuse_64_p50_us: col(|r| r.read_fuse_64_p50_us),
        uds_1mib_mib_s: col(|r| r.uds_1mib_mib_s),
        read_fuse_1mib_mib_s: col(|r| r.read_fuse_1mib_mib_s),
        skipped: rounds.first().and_then(|r| r.skipped.clone()),
    }
}

/// The largest small object count the scale phase compares the large one with.
const SCALE_SMALL: usize = 1000;

/// Payload of the paced phase's calls.
const PACED_SIZE: usize = 64;

/// The variants to run in `round`, interleaved floor and qnet; the order flips every round.
/// `--only` keeps some.
fn variants(args: &BenchArgs, round: usize) -> Vec<Variant> {
    let order = if round % 2 == 0 {
        [
            Variant::RawUds,
            Variant::RawShm,
            Variant::QnetLocal,
            Variant::RawQuic,
            Variant::QnetRemote,
        ]
    } else {
        [
            Variant::QnetLocal,
            Variant::RawShm,
            Variant::RawUds,
            Variant::QnetRemote,
            Variant::RawQuic,
        ]
    };
    order
        .into_iter()
        .filter(|v| args.only.is_empty() || args.only.contains(v))
        .collect()
}

/// Ends the run with an error when a measurement outlives its budget by [`procs::GUARD`]: a
/// call that never returns (a lost message) must not leave the bench hanging with nothing
/// said. The client threads cannot be cancelled, so the process exits; its children die with
/// it (parent-death signal).
struct Watchdog {
    _done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn arm(what: String, limit: Duration) -> Self {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!(
                    "qnet bench: {what} did not finish within {limit:?}: a call never returned \
                     (a lost message or wake-up in the path under test); giving up"
                );
                std::process::exit(3);
            }
        });
        Self { _done: done }
    }
}

/// CPU time the daemons used so far, together.
fn daemons_cpu(daemons: &[&Daemon]) -> Result<Duration> {
    daemons.iter().map(|d| d.cpu_time()).sum()
}

fn progress(args: &BenchArgs, what: &str) {
    if !args.json {
        eprintln!("qnet bench: {what}");
    }
}

fn command_line(args: &BenchArgs) -> String {
    let mut c = String::from("qnet bench");
    if args.quick {
        c.push_str(" --quick");
    }
    if let Some(r) = args.rounds {
        c.push_str(&format!(" --rounds {r}"));
    }
    if let Some(d) = args.duration_ms {
        c.push_str(&format!(" --duration-ms {d}"));
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !args.sizes.is_empty() {
        c.push_str(&format!(" --sizes {}", list(&args.sizes)));
    }
    if !args.clients.is_empty() {
        c.push_str(&format!(" --clients {}", list(&args.clients)));
    }
    if args.parked > 0 {
        c.push_str(&format!(" --parked {}", args.parked));
    }
    if let Some(n) = args.scale {
        c.push_str(&format!(" --scale {n}"));
    }
    if let Some(n) = args.drain_clients {
        c.push_str(&format!(" --drain-clients {n}"));
    }
    if args.pace_us != 1000 {
        c.push_str(&format!(" --pace-us {}", args.pace_us));
    }
    for a in &args.daemon_args {
        c.push_str(&format!(" --daemon-arg={a}"));
    }
    if args.direct == Direct::Off {
        c.push_str(" --direct off");
    }
    c
}
