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

/// One page for `cmd` and one for each of its (visible) subcommands, named `parent-sub.1`;
/// `top` is the program's own page (only the programs take `-V`/`--version`). Each ends with
/// the ENVIRONMENT, FILES and EXIT STATUS sections of its program ([`sections`]).
fn page(dir: &Path, cmd: clap::Command, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    page_of(dir, cmd, true, written)
}

fn page_of(
    dir: &Path,
    cmd: clap::Command,
    top: bool,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let cmd = cmd.version(qnet_daemon::VERSION).disable_version_flag(!top);
    let name = cmd.get_name().to_owned();
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    let mut text = String::from_utf8(out)?;
    let extra = sections(name.starts_with("qnetd"));
    match text.find("\n.SH VERSION") {
        Some(at) => text.insert_str(at + 1, &extra),
        None => text.push_str(&extra),
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub.clone().name(format!("{name}-{}", sub.get_name()));
        page_of(dir, sub, false, written)?;
    }
    Ok(())
}

/// The ENVIRONMENT, FILES and EXIT STATUS sections (roff) of `qnetd`'s page, or of `qnet`'s
/// and its subcommands' pages (and SIGNALS for the daemon).
fn sections(daemon: bool) -> String {
    let item = |tag: &str, text: &str| format!(".TP\n\\fB{tag}\\fR\n{text}\n");
    let mut s = String::from(".SH ENVIRONMENT\n");
    if daemon {
        s += &item(
            "QNET_SOCKET",
            "The Unix socket to listen on when \\-\\-socket is not given.",
        );
        s += &item(
            "RUST_LOG",
            "The log filter when \\-\\-log is not given (it wins over the config file's log key).",
        );
        s += &item(
            "NOTIFY_SOCKET",
            "Set by systemd: READY=1, RELOADING=1 and STOPPING=1 are sent there.",
        );
        s += &item(
            "QNET_SCHED",
            "report: apply no priorities to client threads (report\\-only).",
        );
        s += &item(
            "MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_",
            "Set: the daemon leaves glibc's malloc thresholds to them.",
        );
        s += ".SH FILES\n";
        s += &item(
            "/etc/qnet/qnetd.toml",
            "The configuration (\\-\\-config), as the systemd unit runs it.",
        );
        s += &item(
            "/etc/qnet/certs/",
            "ca.pem, NODE.pem and NODE.key: the cluster CA and this node's certificate.",
        );
        s += &item(
            "/run/qnet/qnetd.sock",
            "The socket of the system daemon (the sample config's); /tmp/qnetd.sock by default.",
        );
        s += &item(
            "/usr/share/qnet/",
            "The Grafana dashboard and the Prometheus alert rules for \\-\\-metrics.",
        );
        s += ".SH SIGNALS\n";
        s += &item(
            "SIGHUP",
            "Read the configuration again: the log filter, peers, limits and metrics address \
             apply at once, other changes are logged as waiting for a restart, a file that does \
             not load is refused with one line and the running configuration stays.",
        );
        s += &item(
            "SIGTERM, SIGINT",
            "Stop: blocked clients get EIO, the socket file is removed.",
        );
        s += ".SH EXIT STATUS\n";
        s += &item(
            "0",
            "Stopped by SIGTERM or SIGINT; or \\-\\-check found the configuration usable.",
        );
        s += &item(
            "1",
            "It could not start, or \\-\\-check found a problem: one line on stderr says what.",
        );
        s += &item("2", "Bad command line.");
    } else {
        s += &item(
            "QNET_SOCKET",
            "The daemon's socket when \\-\\-socket is not given.",
        );
        s += ".SH FILES\n";
        s += &item(
            "/run/qnet/qnetd.sock, /tmp/qnetd.sock",
            "Without QNET_SOCKET, the first of these that answers is the daemon's socket.",
        );
        s += ".SH EXIT STATUS\n";
        s += &item(
            "0",
            "Success; also when the reader of its output went away (qnet ping n2 | head \\-1).",
        );
        s += &item("1", "The command failed: one line on stderr says what.");
        s += &item("2", "Bad command line.");
    }
    s
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
        for page in &written {
            let text = std::fs::read_to_string(page).unwrap();
            let name = page.file_name().unwrap().to_string_lossy();
            for section in [".SH ENVIRONMENT", ".SH FILES", ".SH EXIT STATUS"] {
                assert!(text.contains(section), "{name} has no {section}");
            }
            // Only the programs take -V: a subcommand's page must not offer it.
            let top = name == "qnet.1" || name == "qnetd.1";
            assert_eq!(text.contains("\\-\\-version"), top, "{name}");
        }
        let qnetd = std::fs::read_to_string(dir.path().join("qnetd.1")).unwrap();
        assert!(qnetd.contains(".SH SIGNALS") && qnetd.contains("SIGHUP"));
    }

    /// Every subcommand rejects `-V` (the pages no longer offer it there).
    #[test]
    fn subcommands_reject_version() {
        use clap::CommandFactory;
        let err = crate::Cli::command()
            .try_get_matches_from(["qnet", "pidin", "-V"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
