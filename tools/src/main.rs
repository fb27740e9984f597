//! `qnet`: the command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod cert;

/// qnet: QNX Neutrino message passing for Linux, across hosts over QUIC.
#[derive(Debug, Parser)]
#[command(name = "qnet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cluster certificates: the CA and node certificates.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Benchmark qnet against raw Unix sockets and raw quinn, side by side.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Cert(cmd) => cert::run(cmd),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qnet: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
