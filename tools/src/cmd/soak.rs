//! `qnet soak`: a bounded soak that shows whether the daemons keep memory they should give
//! back. A daemon pair (`na` dialling `nb`, real QUIC and certificates, as `qnet bench`
//! starts them) serves, for `--duration` seconds, what `--mode` picks (`mixed`, the default:
//! all of them at once):
//!
//! - `traffic`: client threads of this process alternating `MsgSend`s to an echo server on
//!   `na` (local) and one on `nb` (remote), mostly 64 B with every eighth call 64 KiB, plus
//!   pulses to both;
//! - `threads`: thread churn, threads that each make one remote `MsgSend` (on a connection
//!   their process holds) and exit, eight at a time;
//! - `names`: remote `name_open` / 10 × `MsgSend` / `MsgSendPulse` / `name_close` cycles on
//!   one thread, to a name the remote server attached (it detaches each disconnected scoid,
//!   as a QNX name server does);
//! - `processes`: process churn, one short-lived process after another (`qnet bench peer
//!   soak-churn`), each attaching a name and connecting to both servers, sending, leaving a
//!   thread REPLY-blocked on each server, and exiting (every other one killed with SIGKILL
//!   while those threads are blocked).
//!
//! Every `--interval` seconds it samples both daemons' RSS (`/proc/<pid>/status` `VmRSS`) and
//! the records they keep (`qnet nodes`' tables, summed) and prints one row: calls, pulses,
//! churned threads, name cycles and processes in that interval, each daemon's RSS, its growth
//! since the previous row and its records. The summary gives each daemon's growth over the
//! second half of the run (after warm-up), in all and per interval. Nothing is judged: the
//! figures are for reading (BENCHMARKS.md has the 300 s mixed figure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use qnet::neutrino::{
    channel_create, connect_attach, msg_send, msg_send_pulse, name_attach, name_close, name_detach,
    name_open,
};
use qnet::{ChannelFlags, Chid, Nd, Pid};
use serde::Serialize;

use crate::bench::{Daemon, ND_B, Peer, Server, announce, issue_certs, rss_of};

/// What a soak runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everything below at once.
    Mixed,
    /// Local and remote sends and pulses from long-lived client threads.
    Traffic,
    /// Threads that each make one remote call and exit.
    Threads,
    /// Remote name_open / 10 × MsgSend / MsgSendPulse / name_close cycles.
    Names,
    /// Short-lived processes connecting to both nodes.
    Processes,
}

impl Mode {
    fn runs(self, what: Mode) -> bool {
        self == Mode::Mixed || self == what
    }
}

/// The name the remote server attaches, for the name cycles.
const SOAK_NAME: &str = "soak-echo";

/// `qnet soak`: mixed local and remote traffic with thread, name and process churn, daemon
/// RSS and records per interval.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// What runs: every kind of load at once (`mixed`), or one of them.
    #[arg(long, value_enum, default_value_t = Mode::Mixed)]
    mode: Mode,
    /// How long the soak runs, seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds between RSS samples (one row each).
    #[arg(long, default_value_t = 5)]
    interval: u64,
    /// Client threads of mixed traffic (each alternates local and remote calls).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Print the rows and summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The qnetd binary (default: next to this executable, else target/release/qnetd).
    #[arg(long)]
    qnetd: Option<PathBuf>,
    /// An extra argument for both qnetds (repeatable).
    #[arg(long = "daemon-arg", allow_hyphen_values = true)]
    daemon_args: Vec<String>,
}

/// One sample.
#[derive(Debug, Clone, Serialize)]
struct Row {
    /// Seconds since the traffic started.
    t_s: f64,
    /// `MsgSend`s completed in the interval (local + remote).
    calls: u64,
    /// Pulses sent in the interval.
    pulses: u64,
    /// Churn threads (one remote call each) that ended in the interval.
    threads: u64,
    /// Remote name cycles in the interval.
    cycles: u64,
    /// Churn processes that ended in the interval.
    processes: u64,
    /// RSS of `na` (clients' node, local server), KiB.
    na_rss_kib: u64,
    /// Growth of `na`'s RSS since the previous row, KiB.
    na_growth_kib: i64,
    /// RSS of `nb` (remote server's node), KiB.
    nb_rss_kib: u64,
    /// Growth of `nb`'s RSS since the previous row, KiB.
    nb_growth_kib: i64,
    /// Records `na` keeps, all tables summed (`qnet nodes`).
    na_records: u64,
    /// Records `nb` keeps.
    nb_records: u64,
    /// `na`'s tables.
    na_tables: BTreeMap<&'static str, u64>,
    /// `nb`'s tables.
    nb_tables: BTreeMap<&'static str, u64>,
}

/// The whole run.
#[derive(Debug, Serialize)]
struct Summary {
    mode: Mode,
    duration_s: u64,
    interval_s: u64,
    clients: usize,
    /// RSS before any traffic, KiB.
    na_start_kib: u64,
    nb_start_kib: u64,
    rows: Vec<Row>,
    /// Mean growth per interval over the second half of the rows, KiB.
    na_late_growth_per_interval_kib: f64,
    nb_late_growth_per_interval_kib: f64,
    /// Growth over the second half of the rows, in all, KiB.
    na_late_growth_kib: i64,
    nb_late_growth_kib: i64,
    total_calls: u64,
    total_threads: u64,
    total_cycles: u64,
    total_processes: u64,
}

/// Counters the workers bump: per interval (swapped to 0 at each row) and in all.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    pulses: AtomicU64,
    threads: AtomicU64,
    cycles: AtomicU64,
    processes: AtomicU64,
    total_calls: AtomicU64,
    total_threads: AtomicU64,
    total_cycles: AtomicU64,
    total_processes: AtomicU64,
}

impl Counters {
    fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.total_calls.fetch_add(1, Ordering::Relaxed);
    }

    fn process(&self) {
        self.processes.fetch_add(1, Ordering::Relaxed);
        self.total_processes.fetch_add(1, Ordering::Relaxed);
    }

    fn threads(&self, n: u64) {
        self.threads.fetch_add(n, Ordering::Relaxed);
        self.total_threads.fetch_add(n, Ordering::Relaxed);
    }

    fn cycle(&self) {
        self.cycles.fetch_add(1, Ordering::Relaxed);
        self.total_cycles.fetch_add(1, Ordering::Relaxed);
    }
}

/// Run `qnet soak`.
pub fn run(args: SoakArgs) -> Result<()> {
    if args.interval == 0 || args.duration == 0 {
        bail!("--duration and --interval must be at least 1 second");
    }
    let qnetd = crate::bench::find_qnetd(args.qnetd.as_deref())?;
    let tmp = tempfile::tempdir()?;
    let certs = tmp.path().join("certs");
    std::fs::create_dir(&certs)?;
    issue_certs(&certs, &["na", "nb"])?;
    progress(
        &args,
        "starting qnetd nb, qnetd na (dialling nb) and the servers",
    );
    let (a, b) = Daemon::start_pair(&qnetd, &certs, &args.daemon_args, &[])?;
    qnet::set_socket_path(&a.socket);
    let clients = args.clients.max(1);
    let local = Server::start(&a.socket, clients, 0)?;
    let remote = Server::start_named(&b.socket, clients, ND_B, Some(SOAK_NAME))?;
    let (na_start, nb_start) = (rss_of(a.pid())? / 1024, rss_of(b.pid())? / 1024);

    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let targets = [
        (0, local.pid(), local.chid()),
        (ND_B, remote.pid(), remote.chid()),
    ];
    let holds = [
        (0, local.pid(), local.hold_chid()),
        (ND_B, remote.pid(), remote.hold_chid()),
    ];
    progress(
        &args,
        &format!(
            "soaking for {} s ({:?}): {clients} clients (local + remote), thread, name and \
             process churn, a row every {} s",
            args.duration, args.mode, args.interval
        ),
    );
    let rows = std::thread::scope(|scope| -> Result<Vec<Row>> {
        let mut workers = Vec::new();
        let mode = args.mode;
        if mode.runs(Mode::Traffic) {
            for i in 0..clients {
                let (stop, counters) = (stop.clone(), counters.clone());
                workers.push(scope.spawn(move || traffic(i, &targets, &stop, &counters)));
            }
        }
        if mode.runs(Mode::Threads) {
            let (stop, counters) = (stop.clone(), counters.clone());
            workers.push(scope.spawn(move || thread_churn(&targets[1], &stop, &counters)));
        }
        if mode.runs(Mode::Names) {
            let (stop, counters) = (stop.clone(), counters.clone());
            workers.push(scope.spawn(move || name_cycles(&stop, &counters)));
        }
        if mode.runs(Mode::Processes) {
            let (stop, counters) = (stop.clone(), counters.clone());
            let socket = a.socket.clone();
            workers.push(scope.spawn(move || churn(&socket, &targets, &holds, &stop, &counters)));
        }
        let rows = sample(&args, &a, &b, (na_start, nb_start), &counters, &stop);
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            match w.join() {
                Ok(r) => r?,
                Err(_) => bail!("a soak worker panicked"),
            }
        }
        rows
    })?;

    let late = |f: fn(&Row) -> i64| -> f64 {
        let half = &rows[rows.len() / 2..];
        half.iter().map(f).sum::<i64>() as f64 / half.len().max(1) as f64
    };
    let late_total = |f: fn(&Row) -> i64| -> i64 { rows[rows.len() / 2..].iter().map(f).sum() };
    let summary = Summary {
        mode: args.mode,
        duration_s: args.duration,
        interval_s: args.interval,
        clients,
        na_start_kib: na_start,
        nb_start_kib: nb_start,
        na_late_growth_per_interval_kib: late(|r| r.na_growth_kib),
        nb_late_growth_per_interval_kib: late(|r| r.nb_growth_kib),
        na_late_growth_kib: late_total(|r| r.na_growth_kib),
        nb_late_growth_kib: late_total(|r| r.nb_growth_kib),
        // Every worker makes at least one round before it looks at `stop`, so these count
        // at least one call per client and one churn process, however loaded the machine.
        total_calls: counters.total_calls.load(Ordering::Relaxed),
        total_threads: counters.total_threads.load(Ordering::Relaxed),
        total_cycles: counters.total_cycles.load(Ordering::Relaxed),
        total_processes: counters.total_processes.load(Ordering::Relaxed),
        rows,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        outln!(
            "soak ({:?}): {} calls, {} churn threads, {} name cycles, {} churn processes; RSS at \
             start na {} KiB, nb {} KiB",
            summary.mode,
            summary.total_calls,
            summary.total_threads,
            summary.total_cycles,
            summary.total_processes,
            na_start,
            nb_start
        );
        outln!(
            "growth over the second half: na {:+} KiB, nb {:+} KiB; per interval: na {:+.0} \
             KiB, nb {:+.0} KiB",
            summary.na_late_growth_kib,
            summary.nb_late_growth_kib,
            summary.na_late_growth_per_interval_kib,
            summary.nb_late_growth_per_interval_kib
        );
    }
    // Servers first, then the daemons (guards kill and reap).
    drop((local, remote));
    drop((a, b));
    Ok(())
}

/// Sample every interval until the duration is over; print each row as it comes (table).
fn sample(
    args: &SoakArgs,
    a: &Daemon,
    b: &Daemon,
    start: (u64, u64),
    counters: &Counters,
    stop: &AtomicBool,
) -> Result<Vec<Row>> {
    let began = Instant::now();
    let interval = Duration::from_secs(args.interval);
    let end = began + Duration::from_secs(args.duration);
    let mut rows = Vec::new();
    let (mut na_prev, mut nb_prev) = start;
    if !args.json {
        outln!(
            "{:>7} {:>9} {:>8} {:>8} {:>7} {:>6} {:>12} {:>10} {:>8} {:>12} {:>10} {:>8}",
            "T(s)",
            "CALLS",
            "PULSES",
            "THREADS",
            "CYCLES",
            "PROCS",
            "NA-RSS(KiB)",
            "NA-GROWTH",
            "NA-RECS",
            "NB-RSS(KiB)",
            "NB-GROWTH",
            "NB-RECS"
        );
    }
    let mut next = began + interval;
    while next <= end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        let (na, nb) = (rss_of(a.pid())? / 1024, rss_of(b.pid())? / 1024);
        let (na_tables, nb_tables) = (tables_of(&a.socket)?, tables_of(&b.socket)?);
        let row = Row {
            t_s: began.elapsed().as_secs_f64(),
            calls: counters.calls.swap(0, Ordering::Relaxed),
            pulses: counters.pulses.swap(0, Ordering::Relaxed),
            threads: counters.threads.swap(0, Ordering::Relaxed),
            cycles: counters.cycles.swap(0, Ordering::Relaxed),
            processes: counters.processes.swap(0, Ordering::Relaxed),
            na_rss_kib: na,
            na_growth_kib: na as i64 - na_prev as i64,
            nb_rss_kib: nb,
            nb_growth_kib: nb as i64 - nb_prev as i64,
            na_records: na_tables.values().sum(),
            nb_records: nb_tables.values().sum(),
            na_tables,
            nb_tables,
        };
        (na_prev, nb_prev) = (na, nb);
        if !args.json {
            outln!(
                "{:>7.1} {:>9} {:>8} {:>8} {:>7} {:>6} {:>12} {:>+10} {:>8} {:>12} {:>+10} {:>8}",
                row.t_s,
                row.calls,
                row.pulses,
                row.threads,
                row.cycles,
                row.processes,
                row.na_rss_kib,
                row.na_growth_kib,
                row.na_records,
                row.nb_rss_kib,
                row.nb_growth_kib,
                row.nb_records
            );
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The tables the daemon at `socket` keeps (`qnet nodes`), by name.
fn tables_of(socket: &Path) -> Result<BTreeMap<&'static str, u64>> {
    use qnet_proto::local::{AdminNodes, admin_request, admin_response};
    let mut client = crate::admin_client::AdminClient::connect(&[socket.to_owned()])?;
    match client.query(admin_request::Query::Nodes(AdminNodes {}))? {
        admin_response::Result::Peers(p) => {
            Ok(p.tables.map(super::nodes::tables_doc).unwrap_or_default())
        }
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Thread churn until `stop`: eight threads at a time, each making one remote `MsgSend` on
/// the process's connection to `target` (the remote echo server) and exiting.
fn thread_churn(target: &(Nd, Pid, Chid), stop: &AtomicBool, c: &Counters) -> Result<()> {
    let coid =
        connect_attach(target.0, target.1, target.2).context("thread churn ConnectAttach")?;
    let mut first = true;
    while first || !stop.load(Ordering::Relaxed) {
        first = false;
        let batch: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut back = [0u8; 64];
                    msg_send(coid, &[1u8; 64], &mut back).map(drop)
                })
            })
            .collect();
        for t in batch {
            t.join()
                .map_err(|_| anyhow::anyhow!("a churn thread panicked"))?
                .context("thread churn MsgSend")?;
        }
        c.threads(8);
    }
    Ok(())
}

/// Name cycles until `stop`: `name_open nb/soak-echo`, ten `MsgSend`s, a pulse, `name_close`.
fn name_cycles(stop: &AtomicBool, c: &Counters) -> Result<()> {
    let name = format!("nb/{SOAK_NAME}");
    let mut back = [0u8; 64];
    let mut n: i32 = 0;
    while n == 0 || !stop.load(Ordering::Relaxed) {
        let coid = name_open(&name).context("soak name_open")?;
        for _ in 0..10 {
            msg_send(coid, &[2u8; 64], &mut back).context("soak name MsgSend")?;
            c.call();
        }
        msg_send_pulse(coid, -1, 1, n).context("soak name pulse")?;
        c.pulses.fetch_add(1, Ordering::Relaxed);
        name_close(coid).context("soak name_close")?;
        c.cycle();
        n = n.wrapping_add(1);
    }
    Ok(())
}

/// One client thread: alternate local and remote sends (every eighth 64 KiB), a pulse to
/// each every 16 calls, until `stop`.
fn traffic(
    i: usize,
    targets: &[(Nd, Pid, Chid); 2],
    stop: &AtomicBool,
    c: &Counters,
) -> Result<()> {
    let coids = [
        connect_attach(targets[0].0, targets[0].1, targets[0].2).context("local ConnectAttach")?,
        connect_attach(targets[1].0, targets[1].1, targets[1].2).context("remote ConnectAttach")?,
    ];
    let small = vec![0x5a_u8; 64];
    let large = vec![0xa5_u8; 64 * 1024];
    let mut back = vec![0u8; 64 * 1024];
    let mut n: u64 = i as u64;
    // At least one round (local and remote) before looking at `stop`.
    while n < i as u64 + 2 || !stop.load(Ordering::Relaxed) {
        let coid = coids[(n % 2) as usize];
        let out = if n % 8 == 7 { &large } else { &small };
        msg_send(coid, out, &mut back).context("soak MsgSend")?;
        c.call();
        if n % 16 == 0 {
            for &coid in &coids {
                msg_send_pulse(coid, -1, 1, n as i32).context("soak pulse")?;
                c.pulses.fetch_add(1, Ordering::Relaxed);
            }
        }
        n += 1;
    }
    Ok(())
}

/// Process churn until `stop`: one `soak-churn` process at a time.
fn churn(
    socket: &Path,
    targets: &[(Nd, Pid, Chid); 2],
    holds: &[(Nd, Pid, Chid); 2],
    stop: &AtomicBool,
    c: &Counters,
) -> Result<()> {
    let socket = socket.to_str().context("temp path is not UTF-8")?;
    let mut n: u64 = 0;
    // At least one process before looking at `stop`.
    while n == 0 || !stop.load(Ordering::Relaxed) {
        let mut words = vec![socket.to_owned()];
        for (nd, pid, chid) in targets.iter().chain(holds) {
            words.extend([nd.to_string(), pid.to_string(), chid.to_string()]);
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        // READY comes once its calls are done and a thread is parked on each server.
        let peer = Peer::start("soak-churn", &words)?;
        if n % 2 == 0 {
            peer.kill();
        } else {
            peer.close_stdin_and_wait()?;
        }
        c.process();
        n += 1;
    }
    Ok(())
}

/// Peer side (`qnet bench peer soak-churn SOCKET ND PID CHID ×4`): a name and a channel of its
/// own, connections to both echo servers with a few sends each, a thread parked on each
/// server's hold channel; then `READY` and wait to be killed or for stdin to close.
pub fn churn_peer(socket: &Path, args: &[u32]) -> Result<()> {
    let [
        lnd,
        lpid,
        lchid,
        rnd,
        rpid,
        rchid,
        hlnd,
        hlpid,
        hlchid,
        hrnd,
        hrpid,
        hrchid,
    ] = args
    else {
        bail!("soak-churn needs 12 numbers, got {}", args.len())
    };
    qnet::set_socket_path(socket);
    crate::bench::exit_when_stdin_closes();
    let _own = channel_create(ChannelFlags::default())?;
    let name = name_attach(
        &format!("soak-{}", std::process::id()),
        ChannelFlags::default(),
    )?;
    let mut back = [0u8; 1024];
    for (nd, pid, chid) in [(lnd, lpid, lchid), (rnd, rpid, rchid)] {
        let coid = connect_attach(*nd, *pid, *chid as Chid)?;
        for _ in 0..10 {
            msg_send(coid, &[7u8; 1024], &mut back)?;
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    for (nd, pid, chid) in [(*hlnd, *hlpid, *hlchid), (*hrnd, *hrpid, *hrchid)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let coid = connect_attach(nd, pid, chid as Chid);
            let _ = tx.send(coid.is_ok());
            if let Ok(coid) = coid {
                // Blocked until the server goes or this process ends.
                let _ = msg_send(coid, b"park", &mut [0u8; 8]);
            }
        });
    }
    for _ in 0..2 {
        if !rx.recv().unwrap_or(false) {
            bail!("soak-churn: ConnectAttach to a hold channel failed");
        }
    }
    if std::process::id() % 3 == 0 {
        // Some processes detach their name themselves, the others leave it to their exit.
        name_detach(name)?;
    }
    announce(&std::process::id().to_string());
    loop {
        std::thread::park();
    }
}

fn progress(args: &SoakArgs, what: &str) {
    if !args.json {
        eprintln!("qnet soak: {what}");
    }
}
