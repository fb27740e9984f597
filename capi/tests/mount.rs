//! The pathname space through qnetd's FUSE mount (`--mount`), reached by programs that know
//! nothing of qnet (`sh`, `cat`, `ls`, a plain C reader): C resource managers serve them
//! locally and across two nodes; the manager sees the reader's credentials; an interrupted
//! reader gets `EINTR` and the manager its unblock pulse; a manager that dies releases its
//! blocked reader; links at the QNX paths appear only under the configured roots.
//!
//! Mounting needs root and `/dev/fuse`: without them each test says so and returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{compile, crate_dir, example};
use qnet_testkit::{Cluster, GUARD, Proc, field};

/// A mount directory that is unmounted (lazily) when the test ends, even if the daemon was
/// killed without unmounting.
struct MountDir {
    dir: tempfile::TempDir,
}

impl MountDir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("fs")
    }

    fn at(&self, rel: &str) -> String {
        self.path().join(rel).display().to_string()
    }
}

impl Drop for MountDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

fn can_mount() -> bool {
    let ok = nix::unistd::geteuid().is_root() && Path::new("/dev/fuse").exists();
    if !ok {
        eprintln!("skipped: mounting FUSE needs root and /dev/fuse");
    }
    ok
}

/// A cluster of `names` whose first node mounts the pathname space on `m`.
fn cluster(names: &[&str], m: &MountDir, more: &[&str]) -> Cluster {
    let dir = m.path().display().to_string();
    let mut args: Vec<&str> = vec!["--mount", &dir];
    args.extend_from_slice(more);
    Cluster::start_with_args(names, &[(names[0], &args)])
}

/// Run a shell command line as a plain Linux program; its stdout (panics on failure).
fn sh(line: &str) -> String {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", line]);
    let mut p = Proc::spawn(line.to_owned(), cmd);
    let (ok, out, err) = p.output();
    assert!(ok, "{line}\n{out}\n{err}");
    out
}

/// Wait until `path` exists (a hang guard, not a timing assumption).
fn wait_for(path: &str) {
    let deadline = Instant::now() + GUARD;
    while std::fs::symlink_metadata(path).is_err() {
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(path: &str) {
    let deadline = Instant::now() + GUARD;
    while std::fs::symlink_metadata(path).is_ok() {
        assert!(Instant::now() < deadline, "{path} stayed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn checks() -> PathBuf {
    compile(
        &crate_dir().join("tests/c/resmgr_test.c"),
        "resmgr_test",
        &format!(
            "-Wall -Wextra -Werror -I '{}'",
            crate_dir().join("examples").display()
        ),
    )
}

#[test]
fn cat_echo_ls_and_devctl_through_the_mount() {
    if !can_mount() {
        return;
    }
    let m = MountDir::new();
    let c = cluster(&["n1"], &m, &[]);
    let n1 = c.node("n1");
    let s = n1.spawn(&example("resmgr_server"), &["/dev/qnet/buffer"]);
    s.line("attach", |l| l.starts_with("attached /dev/qnet/buffer"));
    let simple = compile(
        &crate_dir().join("examples/resmgr_simple.c"),
        "resmgr_simple",
        "-Wall",
    );
    let _simple = n1.spawn(&simple, &[]);
    let file = m.at("dev/qnet/buffer");
    wait_for(&file);
    wait_for(&m.at("dev/sample"));

    sh(&format!("echo hello mount > {file}"));
    s.line("the write", |l| l == "write 12");
    assert_eq!(sh(&format!("cat {file}")), "hello mount");
    assert_eq!(sh(&format!("ls {}", m.at("dev/qnet"))), "buffer");
    assert_eq!(sh(&format!("ls {}", m.at("dev"))), "qnet\nsample");
    assert_eq!(sh(&format!("ls {}", m.path().display())), "dev\nnet");
    assert_eq!(sh(&format!("ls {}", m.at("net"))), "n1");
    assert_eq!(
        sh(&format!("cat {}", m.at("net/n1/dev/qnet/buffer"))),
        "hello mount"
    );
    // QNX's documented simple manager serves cat: end of file, success.
    assert_eq!(sh(&format!("cat {} && echo ok", m.at("dev/sample"))), "ok");
    // ls -l: the manager's attributes (S_IFNAM 0666 shows as a regular file).
    let long = sh(&format!("ls -l {file}"));
    assert!(long.starts_with("-rw-rw-rw-"), "{long}");
    // A name nothing attached.
    let mut cmd = Command::new("cat");
    cmd.arg(m.at("dev/qnet/none"));
    let (ok, _, err) = Proc::spawn("cat none", cmd).output();
    assert!(!ok && err.contains("No such file"), "{err}");

    // A statically linked reader (no libqnetc, no dynamic loader) reads it too.
    let reader = qnet_testkit::target_dir().join("capi-c/static_reader");
    common::run_shell(&format!(
        "cc -static -Wall '{}' -o '{}'",
        crate_dir().join("tests/c/interrupted_read.c").display(),
        reader.display()
    ));
    assert_eq!(
        sh(&format!("{} {file}", reader.display())),
        "opened\nread 12"
    );

    // devctl on a file of the mount is an ioctl with the direction bits swapped, and back.
    let out = sh(&format!("{} devctl {file}", checks().display()));
    assert_eq!(out, "writes=1 swap a=2 b=1 unknown ENOTTY");

    // The manager sees the reader's credentials.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg(&file);
    use std::os::unix::process::CommandExt;
    cmd.uid(nobody.uid.as_raw()).gid(nobody.gid.as_raw());
    let mut p = Proc::spawn("cat as nobody", cmd);
    let reader = p.pid();
    let (ok, out, err) = p.output();
    assert!(ok, "{out}\n{err}");
    let open = s.line("nobody's open", |l| {
        l.starts_with("open pid=") && field(l, "uid") == nobody.uid.to_string()
    });
    assert_eq!(field(&open, "pid"), reader.to_string(), "{open}");
}

#[test]
fn an_interrupted_reader_gets_eintr_and_the_manager_its_unblock_pulse() {
    if !can_mount() {
        return;
    }
    let m = MountDir::new();
    let c = cluster(&["n1"], &m, &[]);
    let n1 = c.node("n1");
    let s = n1.spawn(&example("resmgr_server"), &["-h", "/dev/qnet/hang"]);
    s.line("attach", |l| l.starts_with("attached "));
    let file = m.at("dev/qnet/hang");
    wait_for(&file);
    let reader = compile(
        &crate_dir().join("tests/c/interrupted_read.c"),
        "interrupted_read",
        "-Wall -Wextra -Werror",
    );
    // A plain reader, SIGALRM after a second while the manager never answers.
    let out = sh(&format!("{} {file}", reader.display()));
    assert_eq!(out, "opened\nread error EINTR");
    s.line("the unblock pulse", |l| l == "unblock");
}

#[test]
fn a_manager_that_dies_releases_a_reader_blocked_in_the_mount() {
    if !can_mount() {
        return;
    }
    let m = MountDir::new();
    let c = cluster(&["n1"], &m, &[]);
    let n1 = c.node("n1");
    let mut s = n1.spawn(&example("resmgr_server"), &["-h", "/dev/qnet/dying"]);
    s.line("attach", |l| l.starts_with("attached "));
    let file = m.at("dev/qnet/dying");
    wait_for(&file);
    let mut cmd = Command::new("cat");
    cmd.arg(&file);
    let mut reader = Proc::spawn("cat dying", cmd);
    s.line("the read, held", |l| l == "read held");
    s.kill();
    let (ok, _, err) = reader.output();
    assert!(!ok && err.contains("No such process"), "{err}");
    wait_gone(&file);
}

#[test]
fn other_nodes_paths_through_the_mount() {
    if !can_mount() {
        return;
    }
    let m = MountDir::new();
    let c = cluster(&["n1", "n2"], &m, &[]);
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    // A thread-pool manager: its replies ride on its next receive.
    let mut s = n2.spawn(&example("resmgr_server"), &["-t", "/dev/qnet/far"]);
    s.line("attach", |l| l.starts_with("attached "));
    let file = m.at("net/n2/dev/qnet/far");
    wait_for(&file);
    assert_eq!(sh(&format!("ls {}", m.at("net"))), "n1\nn2");
    assert_eq!(sh(&format!("ls {}", m.at("net/n2/dev/qnet"))), "far");
    sh(&format!("echo across > {file}"));
    assert_eq!(sh(&format!("cat {file}")), "across");
    let out = sh(&format!("{} devctl {file}", checks().display()));
    assert_eq!(out, "writes=1 swap a=2 b=1 unknown ENOTTY");
    // The manager sees a remote client (n1's reader) with its pid.
    s.line_starting("open pid=");
    // Its death: the path goes from n1's view.
    s.kill();
    wait_gone(&file);
    let _ = n1;
}

#[test]
fn links_at_the_qnx_paths_only_under_roots_and_never_over_files() {
    if !can_mount() {
        return;
    }
    let m = MountDir::new();
    let roots = tempfile::tempdir().unwrap();
    let root = roots.path().join("dev");
    std::fs::create_dir(&root).unwrap();
    let outside = roots.path().join("other");
    std::fs::create_dir(&outside).unwrap();
    let taken = root.join("taken");
    std::fs::write(&taken, "mine").unwrap();
    let root_s = root.display().to_string();
    let c = cluster(&["n1"], &m, &["--mount-link", &root_s]);
    let n1 = c.node("n1");
    let linked = root.join("linked").display().to_string();
    let s1 = n1.spawn(&example("resmgr_server"), &[&linked]);
    s1.line("attach", |l| l.starts_with("attached "));
    let _s2 = n1.spawn(&example("resmgr_server"), &[taken.to_str().unwrap()]);
    let away = outside.join("away").display().to_string();
    let mut s3 = n1.spawn(&example("resmgr_server"), &[&away]);
    s3.line("attach", |l| l.starts_with("attached "));
    wait_for(&linked);
    let target = std::fs::read_link(&linked).unwrap();
    assert!(target.starts_with(m.path()), "{}", target.display());
    sh(&format!("echo through the link > {linked}"));
    assert_eq!(sh(&format!("cat {linked}")), "through the link");
    // An existing file is never replaced; nothing appears outside the roots.
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
    assert!(std::fs::symlink_metadata(&away).is_err());
    s3.kill();
    // The manager goes: so does its link.
    let mut s1 = s1;
    s1.kill();
    wait_gone(&linked);
}
