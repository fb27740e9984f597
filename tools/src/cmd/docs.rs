//! `qnet completions SHELL` and `qnet man --dir DIR`: shell completions and man pages made
//! from the clap definitions of `qnet` and `qnetd` themselves, so they cannot drift from the
//! flags the programs accept.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

/// Which program a completion script is for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Program {
    /// The `qnet` command line.
    Qnet,
    /// The daemon, `qnetd`.
    Qnetd,
}

/// `qnet completions`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    shell: Shell,
    /// The program to complete.
    #[arg(long, value_enum, default_value = "qnet")]
    program: Program,
}

/// `qnet man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing), e.g. /usr/local/share/man/man1.
    #[arg(long)]
    dir: PathBuf,
}

/// Print the completion script for `args.program` to stdout.
pub fn completions(args: CompletionArgs, qnet: clap::Command) -> anyhow::Result<()> {
    let mut cmd = match args.program {
        Program::Qnet => qnet,
        Program::Qnetd => qnet_daemon::config::Args::command(),
    };
    let name = cmd.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        // `qnet completions bash | head` is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Write `qnet.1`, `qnet-SUBCOMMAND.1` (and their subcommands') and `qnetd.1` into `args.dir`;
/// print each path written.
pub fn man(args: ManArgs, qnet: clap::Command) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    for path in write_pages(&args.dir, qnet)? {
        outln!("{}", path.display());
    }
    Ok(())
}

fn write_pages(dir: &Path, qnet: clap::Command) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for cmd in [qnet, qnet_daemon::config::Args::command()] {
        page(dir, cmd, &mut written)?;
    }
    Ok(written)
}

/// One page for `cmd` and one for each of its (visible) subcommands, named `parent-sub.1`.
fn page(dir: &Path, cmd: clap::Command, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let cmd = cmd.version(qnet_daemon::VERSION);
    let name = cmd.get_name().to_owned();
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name()));
        page(dir, sub, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_subcommand_and_the_daemon_flags() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(dir.path(), crate::Cli::command()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in ["qnet.1", "qnet-pidin.1", "qnet-cert-issue.1", "qnetd.1"] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
        let qnetd = std::fs::read_to_string(dir.path().join("qnetd.1")).unwrap();
        assert!(qnetd.contains("link\\-timeout"), "qnetd.1 lists its flags");
        let pidin = std::fs::read_to_string(dir.path().join("qnet-pidin.1")).unwrap();
        assert!(pidin.starts_with(".ie"), "roff output");
    }
}
