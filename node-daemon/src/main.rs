//! `qnetd`: the qnet daemon.
//!
//! A start-up failure prints one line, `qnetd: <what failed>: <value>: <what to do>`, and
//! exits with status 1: no backtrace (even with `RUST_BACKTRACE=1`) and no cause repeated.
//! SIGTERM and SIGINT stop it cleanly; SIGHUP reads the configuration again (the same flags,
//! the config file anew) and applies what can change while it runs (`qnet_daemon::reload`).

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use qnet_daemon::config::{Args, LogFormat};
use qnet_daemon::{Config, Server};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("qnetd: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Start, serve until SIGTERM or SIGINT, stop. `Err` is the line to print.
fn run(args: Args) -> Result<(), String> {
    let check = args.check;
    let mut config = Config::from_args(args.clone()).map_err(|e| one_line(&e))?;
    let filter = EnvFilter::try_new(&config.log).map_err(|e| {
        format!(
            "bad log filter {:?} (--log or RUST_LOG): {}: e.g. info, or warn,qnet_daemon=debug",
            config.log,
            one_line(&e)
        )
    })?;
    if check {
        println!("qnetd: {}", qnet_daemon::check::check(&config)?);
        return Ok(());
    }
    // The filter is a reload layer: SIGHUP may change it.
    let (filter, filter_handle) = tracing_subscriber::reload::Layer::new(filter);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = tracing_subscriber::registry().with(filter);
    match config.log_format {
        LogFormat::Text => logs
            .with(lines.with_ansi(std::io::stderr().is_terminal()))
            .init(),
        LogFormat::Json => logs.with(lines.json()).init(),
    }
    let set_filter: qnet_daemon::server::LogFilter = Box::new(move |text: &str| {
        let filter = EnvFilter::try_new(text).map_err(|e| format!("bad log filter: {e}"))?;
        filter_handle
            .reload(filter)
            .map_err(|e| format!("cannot change the log filter: {e}"))
    });
    raise_fd_limit();
    // Before the runtime's threads start: they inherit the policy.
    let sched = qnet_daemon::sched::init(config.rt_priority);
    if sched.own_rt.is_some() && sched.one_cpu && !config.busy_poll.is_zero() {
        // Spinning at a real-time priority on the only CPU delays the very thread it waits for.
        config.busy_poll = std::time::Duration::ZERO;
        config.busy_poll_idle = std::time::Duration::ZERO;
        tracing::info!("one CPU and a real-time priority: busy polling off");
    }
    if config.rt_priority > 0 && sched.own_rt.is_none() {
        tracing::warn!(
            rt_priority = config.rt_priority,
            "cannot take SCHED_FIFO (no CAP_SYS_NICE or RLIMIT_RTPRIO): a real-time CPU hog can starve the daemon"
        );
    }
    // Before any large message, and before the runtime's threads start allocating.
    let heap = qnet_daemon::heap::tune(config.max_message_size);
    // One thread: the kernel is one lock anyway, and a same-thread task wake-up is the
    // cheapest hop between two sessions (see the driver's module doc).
    let mut builder = match config.worker_threads {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    let rt = builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {}", one_line(&e)))?;
    rt.block_on(async {
        let signal_err = |e: std::io::Error| format!("cannot install signal handlers: {e}");
        let mut term = signal(SignalKind::terminate()).map_err(signal_err)?;
        let mut int = signal(SignalKind::interrupt()).map_err(signal_err)?;
        let mut hup = signal(SignalKind::hangup()).map_err(signal_err)?;
        let server = Server::bind(&config)
            .map_err(|e| one_line(&e))?
            .with_log_filter(set_filter);
        let peers: Vec<String> = config
            .peers
            .iter()
            .map(|p| format!("{}={}", p.name, p.addr))
            .collect();
        tracing::info!(
            node = %config.node,
            socket = %server.path().display(),
            pid = std::process::id(),
            max_message_size = config.max_message_size,
            listen = %server.peer_addr().map_or("off".into(), |a| a.to_string()),
            metrics = %server.metrics_addr().map_or("off".into(), |a| a.to_string()),
            mount = %server.mount_dir().map_or("off".into(), |d| d.display().to_string()),
            peers = %if peers.is_empty() { "none".into() } else { peers.join(",") },
            seeds = %if config.seeds.is_empty() { "none".into() } else { config.seeds.join(",") },
            discover = %if config.discover == qnet_daemon::config::Discover::Mdns { "mdns" } else { "off" },
            link_timeout = %humantime::format_duration(config.link_timeout),
            busy_poll = %humantime::format_duration(config.busy_poll),
            busy_poll_idle = %humantime::format_duration(config.busy_poll_idle.min(config.busy_poll)),
            busy_poll_windows = if config.busy_poll_fixed { "fixed" } else { "adaptive" },
            one_copy = ?qnet_daemon::local::one_copy::Reach::of_this_process(config.one_copy).to_string(),
            heap = %heap,
            scheduling = %sched,
            "qnetd listening"
        );
        // Both the socket and the peer endpoint are bound: clients and peers can come.
        qnet_daemon::notify::ready(&format!("node {} on {}", config.node, server.path().display()));
        let (reload, reloads) = tokio::sync::mpsc::unbounded_channel();
        let signals = async move {
            loop {
                tokio::select! {
                    _ = term.recv() => { tracing::info!("SIGTERM"); break }
                    _ = int.recv() => { tracing::info!("SIGINT"); break }
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP: reading the configuration again");
                        let _ = reload.send(Config::from_args(args.clone()).map_err(|e| one_line(&e)));
                    }
                }
            }
            qnet_daemon::notify::stopping();
        };
        server.run_reloading(signals, reloads).await;
        Ok(())
    })
}

/// `e` and its causes on one line: a cause whose text the line already holds is not repeated
/// (many errors put their cause in their own message), and line breaks become spaces.
fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = c.source();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every session and every shared-memory handle holds a descriptor: allow as many as the
/// hard limit permits.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::debug!(error = %e, "cannot raise the descriptor limit");
            }
        }
    }
}
