//! `qnetd`: the qnet daemon.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use qnet_daemon::config::Args;
use qnet_daemon::{Config, Server};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let config = Config::from_args(Args::parse())?;
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).context("bad --log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    raise_fd_limit();
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
        .context("building the runtime")?;
    rt.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let server = Server::bind(&config)?;
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
            listen = ?server.peer_addr(),
            peers = ?peers,
            link_timeout = ?config.link_timeout,
            busy_poll = ?config.busy_poll,
            busy_poll_idle = ?config.busy_poll_idle.min(config.busy_poll),
            heap = ?heap,
            "qnetd listening"
        );
        server
            .run(async {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = int.recv() => tracing::info!("SIGINT"),
                }
            })
            .await;
        Ok(())
    })
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
