//! `qnet soak`: a bounded soak that shows whether the daemons keep memory they should give
//! back. A daemon pair (`na` dialling `nb`, real QUIC and certificates, as `qnet bench`
//! starts them) serves, for `--duration` seconds:
//!
//! - mixed traffic from this process: client threads alternating `MsgSend`s to an echo
//!   server on `na` (local) and one on `nb` (remote), mostly 64 B with every eighth call
//!   64 KiB, plus pulses to both;
//! - process churn: one short-lived process after another (`qnet bench peer soak-churn`),
//!   each attaching a name and connecting to both servers, sending, leaving a thread
//!   REPLY-blocked on each server, and exiting (every other one killed with SIGKILL while
//!   those threads are blocked).
//!
//! Every `--interval` seconds it samples both daemons' RSS (`/proc/<pid>/status` `VmRSS`) and
//! prints one row: calls, pulses and processes in that interval, each daemon's RSS and its
//! growth since the previous row. The summary gives each daemon's growth over the second half
//! of the run (after warm-up), per interval. Nothing is judged: the figures are for reading.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use qnet::neutrino::{
    channel_create, connect_attach, msg_send, msg_send_pulse, name_attach, name_detach,
};
use qnet::{ChannelFlags, Chid, Nd, Pid};
use serde::Serialize;

use crate::bench::{Daemon, ND_B, Peer, Server, announce, issue_certs, rss_of};

/// `qnet soak`: mixed local and remote traffic with process churn, daemon RSS per interval.
#[derive(Debug, Args)]
pub struct SoakArgs {
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
}

/// The whole run.
#[derive(Debug, Serialize)]
struct Summary {
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
    total_calls: u64,
    total_processes: u64,
}

/// Counters the workers bump: per interval (swapped to 0 at each row) and in all.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    pulses: AtomicU64,
    processes: AtomicU64,
    total_calls: AtomicU64,
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
    let remote = Server::start(&b.socket, clients, ND_B)?;
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
            "soaking for {} s: {clients} clients (local + remote), process churn, a row every {} s",
            args.duration, args.interval
        ),
    );
    let rows = std::thread::scope(|scope| -> Result<Vec<Row>> {
        let mut workers = Vec::new();
        for i in 0..clients {
            let (stop, counters) = (stop.clone(), counters.clone());
            workers.push(scope.spawn(move || traffic(i, &targets, &stop, &counters)));
        }
        {
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
    let summary = Summary {
        duration_s: args.duration,
        interval_s: args.interval,
        clients,
        na_start_kib: na_start,
        nb_start_kib: nb_start,
        na_late_growth_per_interval_kib: late(|r| r.na_growth_kib),
        nb_late_growth_per_interval_kib: late(|r| r.nb_growth_kib),
        // Every worker makes at least one round before it looks at `stop`, so these count
        // at least one call per client and one churn process, however loaded the machine.
        total_calls: counters.total_calls.load(Ordering::Relaxed),
        total_processes: counters.total_processes.load(Ordering::Relaxed),
        rows,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        outln!(
            "soak: {} calls, {} churn processes; RSS at start na {} KiB, nb {} KiB",
            summary.total_calls,
            summary.total_processes,
            na_start,
            nb_start
        );
        outln!(
            "growth per interval over the second half: na {:+.0} KiB, nb {:+.0} KiB",
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
            "{:>7} {:>9} {:>8} {:>6} {:>12} {:>10} {:>12} {:>10}",
            "T(s)",
            "CALLS",
            "PULSES",
            "PROCS",
            "NA-RSS(KiB)",
            "NA-GROWTH",
            "NB-RSS(KiB)",
            "NB-GROWTH"
        );
    }
    let mut next = began + interval;
    while next <= end && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        let (na, nb) = (rss_of(a.pid())? / 1024, rss_of(b.pid())? / 1024);
        let row = Row {
            t_s: began.elapsed().as_secs_f64(),
            calls: counters.calls.swap(0, Ordering::Relaxed),
            pulses: counters.pulses.swap(0, Ordering::Relaxed),
            processes: counters.processes.swap(0, Ordering::Relaxed),
            na_rss_kib: na,
            na_growth_kib: na as i64 - na_prev as i64,
            nb_rss_kib: nb,
            nb_growth_kib: nb as i64 - nb_prev as i64,
        };
        (na_prev, nb_prev) = (na, nb);
        if !args.json {
            outln!(
                "{:>7.1} {:>9} {:>8} {:>6} {:>12} {:>+10} {:>12} {:>+10}",
                row.t_s,
                row.calls,
                row.pulses,
                row.processes,
                row.na_rss_kib,
                row.na_growth_kib,
                row.nb_rss_kib,
                row.nb_growth_kib
            );
        }
        rows.push(row);
    }
    Ok(rows)
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
