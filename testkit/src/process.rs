//! Child processes of a test: [`spawn`] gives every child the parent-death signal, so an
//! aborted test run leaves nothing behind; [`Proc`] is a child with its output collected,
//! SIGKILLed and reaped on drop; [`run_guarded`] runs a command to completion under the hang
//! guard.

use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::GUARD;
use crate::lines::Lines;

type Job = (Command, Sender<std::io::Result<Child>>);

/// Spawn `cmd` from one long-lived thread with the parent-death signal set (the signal fires
/// when the *thread* that forked exits, so it must not be a test thread).
#[allow(unsafe_code)]
pub fn spawn(mut cmd: Command) -> Child {
    static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    // SAFETY: the pre_exec hook only calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, rtx))
        .expect("spawner thread alive");
    rrx.recv()
        .expect("spawner answered")
        .expect("spawning a child")
}

/// Run `cmd` to completion with stdout and stderr captured; SIGKILL it (and, through the
/// parent-death signal, whatever it started) and panic if it runs longer than `guard` (a hang
/// guard, not a timing assertion).
pub fn run_guarded(what: &str, mut cmd: Command, guard: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = spawn(cmd);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(guard) {
        Ok(out) => out.expect("collecting the output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("{what} did not finish within {guard:?}");
        }
    }
}

/// A process started by a test (an example, the probe, a helper, or a daemon); SIGKILLed and
/// reaped on drop.
pub struct Proc {
    /// What it is, for messages.
    pub what: String,
    child: Option<Child>,
    /// Its stdout lines.
    pub stdout: Arc<Lines>,
    /// Its stderr lines.
    pub stderr: Arc<Lines>,
    /// Its stdin, when spawned with [`Proc::spawn_piped`].
    pub stdin: Option<ChildStdin>,
    /// Where [`Proc::expect_line`] looks next in stdout.
    cursor: usize,
}

impl Proc {
    /// Spawn `cmd` with stdout and stderr captured and stdin empty.
    pub fn spawn(what: impl Into<String>, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null());
        Self::spawn_captured(what.into(), cmd)
    }

    /// Spawn `cmd` with stdout and stderr captured and stdin a pipe held in [`Proc::stdin`].
    pub fn spawn_piped(what: impl Into<String>, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped());
        Self::spawn_captured(what.into(), cmd)
    }

    fn spawn_captured(what: String, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = spawn(cmd);
        let stdout = Lines::collect(child.stdout.take().expect("stdout piped"));
        let stderr = Lines::collect(child.stderr.take().expect("stderr piped"));
        let stdin = child.stdin.take();
        Proc {
            what,
            child: Some(child),
            stdout,
            stderr,
            stdin,
            cursor: 0,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn no_line(&self, what: &str) -> ! {
        panic!(
            "{}: no line {what:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.stdout.dump(),
            self.stderr.dump()
        )
    }

    /// Wait for a stdout line satisfying `pred` (any so far or to come); panics (with the
    /// output) if it never comes.
    pub fn line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stdout.wait(pred).unwrap_or_else(|| self.no_line(what))
    }

    /// Wait for a stdout line starting with `prefix`.
    pub fn line_starting(&self, prefix: &str) -> String {
        self.line(prefix, |l| l.starts_with(prefix))
    }

    /// Wait for the next stdout line satisfying `pred`, after the one the previous call
    /// returned (lines in between are passed over); panics if it never comes.
    pub fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let Some((i, l)) = self.stdout.wait_from(self.cursor, pred) else {
            self.no_line(what)
        };
        self.cursor = i + 1;
        l
    }

    /// [`Proc::expect_line`] for a line starting with `prefix`.
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        self.expect_line(prefix, |l| l.starts_with(prefix))
    }

    /// Wait for a stderr line satisfying `pred`.
    pub fn err_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.stderr.wait(pred).unwrap_or_else(|| {
            panic!(
                "{}: no stderr line {what:?}\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout.dump(),
                self.stderr.dump()
            )
        })
    }

    /// The first line of a server: `pid=<pid> chid=<chid>`.
    pub fn pid_chid(&self) -> (u32, i32) {
        pid_chid(&self.line_starting("pid="))
    }

    /// Wait for the process to exit (hang guard [`GUARD`]); its output is complete then.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        let Some(child) = self.child.as_mut() else {
            panic!("{}: already reaped", self.what)
        };
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                // Drain the pipes so the output is complete.
                self.stdout.wait_closed();
                self.stderr.wait_closed();
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout.dump(),
                self.stderr.dump()
            );
            // Polling a child for exit; the bound above is the hang guard.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Wait for exit; return the status and every stdout line.
    pub fn wait_exit_lines(&mut self) -> (ExitStatus, Vec<String>) {
        let st = self.wait_exit();
        (st, self.stdout.all())
    }

    /// Wait for exit; return (success, stdout, stderr).
    pub fn output(&mut self) -> (bool, String, String) {
        let st = self.wait_exit();
        (st.success(), self.stdout.dump(), self.stderr.dump())
    }

    /// Everything on stderr so far, a newline after each line.
    pub fn stderr(&self) -> String {
        self.stderr.all().into_iter().map(|l| l + "\n").collect()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Is it still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of `key=value` in a line of `key=value` words (empty if absent).
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("")
}

/// `pid=<pid> chid=<chid>` parsed; panics if either is missing.
pub fn pid_chid(line: &str) -> (u32, i32) {
    (
        field(line, "pid").parse().expect("pid in line"),
        field(line, "chid").parse().expect("chid in line"),
    )
}

/// Wait for `p` to exit; assert success and return its stdout.
pub fn ok_output(p: &mut Proc) -> String {
    let (ok, out, err) = p.output();
    assert!(ok, "{} failed\nstdout:\n{out}\nstderr:\n{err}", p.what);
    out
}

/// Wait for `p` to exit; assert failure with `error: <errno>` on stderr.
pub fn fails_with(p: &mut Proc, errno: &str) {
    let (ok, out, err) = p.output();
    assert!(!ok, "{} succeeded\nstdout:\n{out}", p.what);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("error: {errno}"))),
        "{}: expected error: {errno}\nstderr:\n{err}",
        p.what
    );
}
