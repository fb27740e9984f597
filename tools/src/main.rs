//! `qnet`: the command line.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// `println!` for what a command prints: a closed stdout (`qnet ping n2 | head -1`) ends the
/// program quietly, see [`stdout`].
macro_rules! outln {
    () => {
        $crate::stdout(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::stdout(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `print!` for what a command prints; see [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {
        $crate::stdout(format_args!($($t)*))
    };
}

mod admin_client;
mod bench;
mod cmd;

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
    Cert(cmd::cert::CertCommand),
    /// Benchmark qnet against raw Unix sockets and raw quinn, side by side.
    Bench(Box<bench::BenchArgs>),
    /// Threads of every process, with what they are blocked on (like QNX's pidin).
    Pidin(cmd::NodeArgs),
    /// Channels: flags, queued messages and pulses, waiting receivers.
    Channels(cmd::NodeArgs),
    /// Connections: owner, target node/pid/chid, scoid, alive or dead.
    Connections(cmd::NodeArgs),
    /// Attached names.
    Names(cmd::NodeArgs),
    /// The pathname space: paths resource managers attached, with owner and node.
    Paths(cmd::NodeArgs),
    /// Peer nodes (like `ls /net`): link state, round-trip time, certificate.
    Nodes(cmd::nodes::NodesArgs),
    /// Round trips to a node's daemon over the peer link.
    Ping(cmd::ping::PingArgs),
    /// A bounded soak: mixed local and remote traffic with process churn, daemon RSS sampled
    /// and its growth printed per interval.
    Soak(cmd::soak::SoakArgs),
    /// Live message and pulse rates per channel and byte rates per peer (like top).
    Top(cmd::top::TopArgs),
    /// Print a shell completion script for qnet (or qnetd), e.g.
    /// `qnet completions bash > /etc/bash_completion.d/qnet`.
    Completions(cmd::docs::CompletionArgs),
    /// Write man pages for qnet, its subcommands and qnetd into a directory.
    Man(cmd::docs::ManArgs),
}

/// Write `text` to stdout. When the reader has gone (a closed pipe: `| head -1`), the program
/// ends at once with status 0 and prints nothing more, as a Unix filter does: the reader took
/// what it wanted. Any other write error ends it with one line and status 1.
pub(crate) fn stdout(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("qnet: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(c) => cmd::cert::run(c),
        Command::Bench(args) => bench::run(*args),
        Command::Pidin(args) => cmd::pidin::pidin(args),
        Command::Channels(args) => cmd::channels::channels(args),
        Command::Connections(args) => cmd::connections::connections(args),
        Command::Names(args) => cmd::names::names(args),
        Command::Paths(args) => cmd::paths::paths(args),
        Command::Nodes(args) => cmd::nodes::nodes(args),
        Command::Ping(args) => cmd::ping::ping(args),
        Command::Soak(args) => cmd::soak::run(args),
        Command::Top(args) => cmd::top::top(args),
        Command::Completions(args) => cmd::docs::completions(args, Cli::command()),
        Command::Man(args) => cmd::docs::man(args, Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qnet: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
