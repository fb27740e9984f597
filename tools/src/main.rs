//! `qnet`: the command line.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod admin_client;
mod bench;
mod cert;
mod docs;
mod pidin;
mod soak;

/// qnet: QNX Neutrino message passing for Linux, across hosts over QUIC.
#[derive(Debug, Parser)]
#[command(name = "qnet", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cluster certificates: the CA and node certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Benchmark qnet against raw Unix sockets and raw quinn, side by side.
    Bench(Box<bench::BenchArgs>),
    /// Threads of every process, with what they are blocked on (like QNX's pidin).
    Pidin(pidin::NodeArgs),
    /// Channels: flags, queued messages and pulses, waiting receivers.
    Channels(pidin::NodeArgs),
    /// Connections: owner, target node/pid/chid, scoid, alive or dead.
    Connections(pidin::NodeArgs),
    /// Attached names.
    Names(pidin::NodeArgs),
    /// Peer nodes (like `ls /net`): link state, round-trip time, certificate.
    Nodes(pidin::NodesArgs),
    /// Round trips to a node's daemon over the peer link.
    Ping(pidin::PingArgs),
    /// A bounded soak: mixed local and remote traffic with process churn, daemon RSS sampled
    /// and its growth printed per interval.
    Soak(soak::SoakArgs),
    /// Print a shell completion script for qnet (or qnetd), e.g.
    /// `qnet completions bash > /etc/bash_completion.d/qnet`.
    Completions(docs::CompletionArgs),
    /// Write man pages for qnet, its subcommands and qnetd into a directory.
    Man(docs::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(cmd) => cert::run(cmd),
        Command::Bench(args) => bench::run(*args),
        Command::Pidin(args) => pidin::pidin(args),
        Command::Channels(args) => pidin::channels(args),
        Command::Connections(args) => pidin::connections(args),
        Command::Names(args) => pidin::names(args),
        Command::Nodes(args) => pidin::nodes(args),
        Command::Ping(args) => pidin::ping(args),
        Command::Soak(args) => soak::run(args),
        Command::Completions(args) => docs::completions(args, Cli::command()),
        Command::Man(args) => docs::man(args, Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qnet: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
