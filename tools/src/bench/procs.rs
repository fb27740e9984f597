//! Child processes of a run: the harness's own peers (`qnet bench peer …`) and `qnetd`s, each
//! killed and reaped when its guard drops, and told to die with the harness (parent-death
//! signal) so that an interrupted run leaves nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Hang guard for every wait on a child (never a timing figure).
pub const GUARD: Duration = Duration::from_secs(30);

/// Lines a child printed (stdout for peers, stderr for daemons), collected by a thread.
#[derive(Default)]
struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
}

impl Lines {
    fn collect(self: &Arc<Self>, from: impl std::io::Read + Send + 'static) {
        let sink = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                sink.lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
                sink.more.notify_all();
            }
        });
    }

    /// The `n`th (from 1) line satisfying `pred`, waiting up to [`GUARD`].
    fn wait_for_nth(&self, n: usize, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(l) = lines.iter().filter(|l| pred(l)).nth(n - 1) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self
                .more
                .wait_timeout(lines, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn dump(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }
}

/// A child process, killed and reaped on drop.
pub struct Guard {
    child: Child,
    /// Held open: a peer exits when its stdin closes.
    _stdin: Option<ChildStdin>,
    lines: Arc<Lines>,
    what: String,
}

impl Guard {
    /// Spawn `cmd` with the parent-death signal set; `stderr_lines` collects stderr (daemons log
    /// there), otherwise stdout is collected (peers announce themselves there).
    fn spawn(mut cmd: Command, what: &str, stderr_lines: bool) -> Result<Self> {
        cmd.stdin(Stdio::piped());
        if stderr_lines {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        }
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        let lines = Arc::new(Lines::default());
        if stderr_lines {
            lines.collect(child.stderr.take().context("child stderr")?);
        } else {
            lines.collect(child.stdout.take().context("child stdout")?);
        }
        Ok(Self {
            _stdin: child.stdin.take(),
            child,
            lines,
            what: what.to_owned(),
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `n`th line containing `needle` (hang guard [`GUARD`]).
    pub fn wait_line(&self, n: usize, needle: &str) -> Result<String> {
        match self.lines.wait_for_nth(n, |l| l.contains(needle)) {
            Some(l) => Ok(l),
            None => bail!(
                "{} printed no {needle:?} within {GUARD:?}:\n{}",
                self.what,
                self.lines.dump()
            ),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ask the kernel to SIGKILL the child when the spawning thread (the harness's main thread)
/// dies, so an interrupted run leaves no daemon behind.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only makes the prctl syscall, which
    // is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// A `qnet bench peer ROLE ARGS…` child, ready (its `READY` line read).
pub struct Peer {
    guard: Guard,
    /// The words after `READY` on its announcement line.
    pub ready: Vec<String>,
}

impl Peer {
    /// Start this executable as peer `role` with `args`; wait for its `READY` line.
    pub fn start(role: &str, args: &[&str]) -> Result<Self> {
        let exe = std::env::current_exe().context("locating the qnet executable")?;
        let mut cmd = Command::new(exe);
        cmd.args(["bench", "peer", role]).args(args);
        let guard = Guard::spawn(cmd, &format!("bench peer {role}"), false)?;
        let line = guard.wait_line(1, "READY")?;
        let ready = line.split_whitespace().skip(1).map(str::to_owned).collect();
        Ok(Self { guard, ready })
    }

    /// The peer's pid.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// SIGKILL the peer and reap it.
    pub fn kill(self) {
        drop(self);
    }

    /// Close the peer's stdin (it exits by itself) and wait for it to end.
    pub fn close_stdin_and_wait(mut self) -> Result<()> {
        drop(self.guard._stdin.take());
        self.guard
            .child
            .wait()
            .with_context(|| format!("waiting for {}", self.guard.what))?;
        Ok(())
    }

    /// The first line the peer printed containing `needle` (hang guard [`GUARD`]).
    pub fn wait_line(&self, needle: &str) -> Result<String> {
        self.guard.wait_line(1, needle)
    }

    /// Word `i` of the READY line, parsed.
    pub fn field<T: std::str::FromStr>(&self, i: usize) -> Result<T> {
        self.ready
            .get(i)
            .and_then(|w| w.parse().ok())
            .with_context(|| format!("bad READY line {:?}", self.ready))
    }
}

/// The `qnetd` to run: `--qnetd`, else next to this executable, else `target/release/qnetd`.
pub fn find_qnetd(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let exe = std::env::current_exe().context("locating the qnet executable")?;
    let mut candidates = Vec::new();
    if let Some(dir) = exe.parent() {
        candidates.push(dir.join("qnetd"));
    }
    candidates.push(PathBuf::from("target/release/qnetd"));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!("no qnetd found (tried {candidates:?}); build it with `cargo build --release -p qnet-daemon` or pass --qnetd")
        })
}

/// A running `qnetd` on a socket in its own temp dir.
pub struct Daemon {
    guard: Guard,
    /// Its Unix socket.
    pub socket: PathBuf,
    /// Its QUIC address, when it listens.
    pub addr: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

/// nd of `nb` on `na` in a [`Daemon::start_pair`]: peers are numbered from 1 in `--peer`
/// order, and `nb` is `na`'s only peer.
pub const ND_B: qnet::Nd = 1;

impl Daemon {
    /// Nodes `nb`, then `na` dialling it, both up; returns `(na, nb)`.
    pub fn start_pair(
        qnetd: &Path,
        certs: &Path,
        extra_args: &[String],
        env: &[(&str, &str)],
    ) -> Result<(Self, Self)> {
        Self::start_pair_with(qnetd, certs, extra_args, extra_args, env)
    }

    /// [`Daemon::start_pair`] with arguments of its own for each node.
    pub fn start_pair_with(
        qnetd: &Path,
        certs: &Path,
        a_args: &[String],
        b_args: &[String],
        env: &[(&str, &str)],
    ) -> Result<(Self, Self)> {
        let b = Self::start(qnetd, "nb", Some(certs), &[], b_args, env)?;
        let b_addr = b.addr.context("qnetd nb logged no listen address")?;
        let a = Self::start(qnetd, "na", Some(certs), &[("nb", b_addr)], a_args, env)?;
        a.wait_node_up("nb")?;
        b.wait_node_up("na")?;
        Ok((a, b))
    }

    /// Start node `name` with `env` added to its environment; with `certs`, listen on
    /// 127.0.0.1 (any port) and dial `peers`.
    pub fn start(
        qnetd: &Path,
        name: &str,
        certs: Option<&Path>,
        peers: &[(&str, SocketAddr)],
        extra_args: &[String],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("qnetd.sock");
        let mut cmd = Command::new(qnetd);
        cmd.envs(env.iter().copied());
        cmd.arg("--socket")
            .arg(&socket)
            .args(["--node", name, "--log", "info"])
            // The pulse phase queues up to its 20,000 pulses on one channel when the receiver
            // falls behind; past the default 16,384 a local sender gets EAGAIN (retried) but a
            // remote pulse is dropped on the serving node (best effort), and the count the
            // sender waits for would never come. The phase measures throughput, not overload.
            .args(["--limit-queued-pulses", "65536"]);
        if let Some(certs) = certs {
            cmd.args(["--listen", "127.0.0.1:0", "--certs"]).arg(certs);
        }
        for (peer, addr) in peers {
            cmd.arg("--peer").arg(format!("{peer}={addr}"));
        }
        cmd.args(extra_args);
        let guard = Guard::spawn(cmd, &format!("qnetd {name}"), true)?;
        let line = guard.wait_line(1, "qnetd listening")?;
        let addr = line
            .split("listen=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok());
        Ok(Self {
            guard,
            socket,
            addr,
            _dir: dir,
        })
    }

    /// Wait until the daemon logged that `peer` is up.
    pub fn wait_node_up(&self, peer: &str) -> Result<()> {
        let tag = format!("peer={peer}");
        self.guard
            .lines
            .wait_for_nth(1, |l| l.contains("node up") && l.contains(&tag))
            .map(drop)
            .with_context(|| format!("{peer} never came up:\n{}", self.guard.lines.dump()))
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// CPU time used so far, all threads.
    pub fn cpu_time(&self) -> Result<std::time::Duration> {
        cpu_time_of(self.pid())
    }
}

/// `VmRSS` of `pid` from `/proc/<pid>/status`, in bytes.
pub fn rss_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .with_context(|| format!("no VmRSS for pid {pid}"))
}

/// CPU time `pid` has used so far, all its threads, ended ones included: its process CPU
/// clock (`clock_getcpuclockid`), which is the utime + stime of `/proc/<pid>/stat` in
/// nanoseconds rather than clock ticks (at 10 ms a tick, the daemon's CPU over a paced phase
/// of 600 calls would read as 0 or 10 ms). Summing `/proc/<pid>/task/*/schedstat` would miss
/// threads that ended during the measurement.
#[allow(unsafe_code)]
pub fn cpu_time_of(pid: u32) -> Result<std::time::Duration> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: writes the clock's id into our variable.
    let err = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if err != 0 {
        return Err(std::io::Error::from_raw_os_error(err))
            .with_context(|| format!("the CPU clock of pid {pid}"));
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the time into our struct.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("reading the CPU clock of pid {pid}"));
    }
    Ok(std::time::Duration::new(
        ts.tv_sec as u64,
        ts.tv_nsec as u32,
    ))
}

/// Line-based stdout announcement for peers; flushed so the harness sees it at once.
pub fn announce(words: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "READY {words}");
    let _ = out.flush();
}

/// In a peer: exit the process when stdin closes (the harness is done or gone).
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process clock counts every thread, ended ones too: it is at least what the live
    /// threads' schedstat lines said a moment before, plus a thread that ran and ended.
    #[test]
    fn cpu_time_counts_every_thread_of_a_process() {
        let pid = std::process::id();
        // A fixed amount of work (milliseconds of CPU however busy the host is).
        std::thread::spawn(|| {
            let mut x = 0u64;
            for _ in 0..20_000_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        })
        .join()
        .unwrap();
        let mut live = 0u64;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
            let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("schedstat")) else {
                continue;
            };
            live += stat
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
        let all = cpu_time_of(pid).unwrap();
        assert!(
            all >= Duration::from_nanos(live) + Duration::from_millis(1),
            "{all:?}: the live threads ran {live} ns, and an ended one ran too"
        );
        // Above Linux's largest pid_max (2^22), and small enough that glibc's clock id for
        // it does not overflow into this process's own clock.
        assert!(cpu_time_of(1 << 23).is_err(), "no such process");
    }
}
