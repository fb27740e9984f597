//! Resource managers in C (`capi/examples/resmgr_*.c`, `tests/c/resmgr_test.c`), built with
//! the documented compile line and run against real daemons: QNX's library on the server
//! side, `open`/`read`/`write`/`devctl` on the client side, locally and across two nodes,
//! and what happens when a manager dies with readers blocked.

mod common;

use common::{compile, crate_dir, example, local, two_nodes};
use qnet_testkit::Proc;

/// The checks program (`tests/c/resmgr_test.c`).
fn checks() -> std::path::PathBuf {
    compile(
        &crate_dir().join("tests/c/resmgr_test.c"),
        "resmgr_test",
        &format!(
            "-Wall -Wextra -Werror -I '{}'",
            crate_dir().join("examples").display()
        ),
    )
}

/// Run `p` to its end; its stdout (panics with both streams if it failed).
fn ok(mut p: Proc) -> String {
    let (ok, out, err) = p.output();
    assert!(ok, "{out}\n{err}");
    out
}

/// The client's lines, as `resmgr_client` prints them for `text`.
fn client_lines(text: &str) -> Vec<String> {
    vec![
        format!("write {}", text.len()),
        format!("read {} \"{text}\"", text.len()),
        format!("fstat size={} mode=50666", text.len()),
        "devctl writes=1 info=7".into(),
        "devctl swap a=2 b=1".into(),
        "devctl unknown: ENOTTY".into(),
        "MsgSend status=7 reply=got:raw".into(),
        "closed".into(),
    ]
}

fn check_client(out: &str, text: &str) {
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert!(out.starts_with("open fd="), "{out}");
    assert_eq!(lines, client_lines(text), "{out}");
}

fn check_server(s: &Proc, client_pid: u32, text: &str) {
    let open = s.line_starting("open pid=");
    assert_eq!(
        qnet_testkit::field(&open, "pid"),
        client_pid.to_string(),
        "{open}"
    );
    // O_RDWR: the access mode plus one.
    assert_eq!(qnet_testkit::field(&open, "ioflag"), "3", "{open}");
    s.line("the write", |l| l == format!("write {}", text.len()));
    s.line("devctl", |l| l == "devctl get_writes");
    s.line("devctl", |l| l == "devctl swap 1 2");
    s.line("the _IO_MSG", |l| l == "msg raw");
    s.line("close", |l| l == "close");
}

#[test]
fn a_resource_manager_serves_open_read_write_devctl_and_msgsend_locally() {
    let (server, client) = (example("resmgr_server"), example("resmgr_client"));
    let c = local();
    let n1 = c.node("n1");
    for flags in [&[][..], &["-t"][..]] {
        let path = if flags.is_empty() {
            "/dev/qnet/loop"
        } else {
            "/dev/qnet/pool"
        };
        let mut args = flags.to_vec();
        args.push(path);
        let s = n1.spawn(&server, &args);
        s.line("attach", |l| l.starts_with(&format!("attached {path} id=")));
        let text = "hello resmgr";
        let cl = n1.spawn(&client, &[path, text]);
        let client_pid = cl.pid();
        check_client(&ok(cl), text);
        check_server(&s, client_pid, text);
    }
}

#[test]
fn qnx_documented_simple_resource_manager_compiles_unchanged_and_serves_cat() {
    // QNX's example as published: plain `-Wall`, as its users compile it.
    let simple = compile(
        &crate_dir().join("examples/resmgr_simple.c"),
        "resmgr_simple",
        "-Wall",
    );
    let c = local();
    let n1 = c.node("n1");
    let _s = n1.spawn(&simple, &[]);
    let probe = checks();
    // Wait until /dev/sample is attached (a hang guard, not a timing assumption).
    let deadline = std::time::Instant::now() + qnet_testkit::GUARD;
    loop {
        let out = ok(n1.spawn(&probe, &["open", "/dev/sample"]));
        if out == "open ok" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never attached: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // `cat` (not linked with libqnetc) with the library preloaded: open, read to EOF, close.
    let lib = qnet_testkit::target_dir().join("libqnetc.so");
    let mut cmd = n1.command(std::path::Path::new("/bin/sh"));
    cmd.env("LD_PRELOAD", &lib).args([
        "-c",
        "echo written > /dev/sample && cat /dev/sample && echo cat-ok",
    ]);
    let out = ok(Proc::spawn("cat /dev/sample", cmd));
    assert_eq!(out, "cat-ok", "reads give end of file, writes are taken");
}

#[test]
fn attach_refusals_defaults_permissions_and_other_paths() {
    let probe = checks();
    let c = local();
    let n1 = c.node("n1");
    let out = ok(n1.spawn(&probe, &["attach-errors", "n2"]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "dotdot EINVAL",
            "net EPERM",
            "twice EEXIST",
            "relative attached",
            "detach unknown EINVAL",
            "detach ok",
            "open after detach ENOENT",
        ],
        "{out}"
    );
    // A manager with QNX's default handlers only, served by a thread pool (USE_SELF).
    let s = n1.spawn(&probe, &["serve", "/dev/qnet/defaults"]);
    s.line("serving", |l| l == "serving");
    let out = ok(n1.spawn(&probe, &["read", "/dev/qnet/defaults"]));
    assert_eq!(out, "opened\nread 0", "iofunc_read_default: end of file");
    // Mode 0640, owner root: iofunc_check_access refuses other users.
    if nix::unistd::getuid().is_root() {
        let mut cmd = n1.command(&probe);
        cmd.args(["read", "/dev/qnet/defaults"]);
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        use std::os::unix::process::CommandExt;
        cmd.uid(nobody.uid.as_raw()).gid(nobody.gid.as_raw());
        let mut p = Proc::spawn("read as nobody", cmd);
        let (_, out, _) = p.output();
        assert_eq!(out, "open error EACCES");
    }
    // Paths no manager attached are glibc's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    let out = ok(n1.spawn(&probe, &["glibc", file.to_str().unwrap()]));
    assert_eq!(out, "glibc ok");
}

/// A manager that dies with a reader blocked on it: the reader gets an error, the path goes.
fn death_with_a_blocked_reader(
    server_node: &qnet_testkit::Node,
    client_node: &qnet_testkit::Node,
    path: &str,
    open_as: &str,
) {
    let probe = checks();
    let mut s = server_node.spawn(&example("resmgr_server"), &["-h", path]);
    s.line("attach", |l| l.starts_with("attached "));
    let mut reader = client_node.spawn(&probe, &["read", open_as]);
    reader.expect_line("opened", |l| l == "opened");
    s.line("the read, held", |l| l == "read held");
    s.kill();
    let (_, out, err) = reader.output();
    // The server's death: ESRCH (locally; across nodes the connection may be known dead
    // first: EBADF).
    assert!(
        out.ends_with("read error ESRCH") || out.ends_with("read error EBADF"),
        "{out}\n{err}"
    );
    let deadline = std::time::Instant::now() + qnet_testkit::GUARD;
    loop {
        let out = ok(client_node.spawn(&probe, &["open", open_as]));
        if out == "open ENOENT" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the path stayed: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_manager_that_dies_releases_its_blocked_readers_and_its_path_locally() {
    let c = local();
    let n1 = c.node("n1");
    death_with_a_blocked_reader(n1, n1, "/dev/qnet/dying", "/dev/qnet/dying");
}

#[test]
fn net_paths_reach_the_manager_on_another_node() {
    let (server, client) = (example("resmgr_server"), example("resmgr_client"));
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    let s = n2.spawn(&server, &["/dev/qnet/remote"]);
    s.line("attach", |l| l.starts_with("attached /dev/qnet/remote"));
    let text = "across nodes";
    let cl = n1.spawn(&client, &["/net/n2/dev/qnet/remote", text]);
    let client_pid = cl.pid();
    check_client(&ok(cl), text);
    check_server(&s, client_pid, text);
    // n1's own name is local; a path n2 does not have is ENOENT; a node unknown too.
    let probe = checks();
    assert_eq!(
        ok(n1.spawn(&probe, &["open", "/net/n2/dev/qnet/none"])),
        "open ENOENT"
    );
    assert_eq!(
        ok(n2.spawn(&probe, &["open", "/net/n2/dev/qnet/remote"])),
        "open ok"
    );
    assert_eq!(
        ok(n1.spawn(&probe, &["open", "/net/nowhere/dev/qnet/remote"])),
        "open ENOENT"
    );
    // A client cannot attach paths on another node.
    let out = ok(n1.spawn(&probe, &["attach-errors", "n2"]));
    assert!(out.lines().any(|l| l == "net EPERM"), "{out}");
}

#[test]
fn a_remote_manager_that_dies_releases_its_blocked_readers_and_its_path() {
    let c = two_nodes();
    let (n1, n2) = (c.node("n1"), c.node("n2"));
    death_with_a_blocked_reader(n2, n1, "/dev/qnet/far", "/net/n2/dev/qnet/far");
}

/// A thread-pool manager whose `io_read` is still running when its client is killed: the
/// disconnect pulse is handled on another pool thread, and the OCB the read uses is freed
/// only once the read returns (it was freed under it, and the manager crashed in the
/// library's unlock). The manager goes on serving.
#[test]
fn a_client_killed_during_a_pool_threads_read_never_frees_the_ocb_under_it() {
    let manager = compile(
        &crate_dir().join("tests/c/pool_death.c"),
        "pool_death",
        "-Wall -Wextra -Werror",
    );
    let probe = checks();
    let c = local();
    let n1 = c.node("n1");
    let path = "/dev/qnet/pool";
    let mut s = n1.spawn(&manager, &[path]);
    s.line("attach", |l| l == format!("attached {path}"));
    let mut reader = n1.spawn(&probe, &["read", path]);
    reader.expect_line("opened", |l| l == "opened");
    s.line("the read, held", |l| l == "read held 1");
    reader.kill();
    s.line("the read's end", |l| l.starts_with("read done"));
    s.line("the OCB freed", |l| l == "ocb_free serial=1");
    let lines = s.stdout.all();
    let at = |what: &str| lines.iter().position(|l| l.starts_with(what));
    assert_eq!(
        lines
            .iter()
            .find(|l| l.starts_with("read done"))
            .map(String::as_str),
        Some("read done magic=ok"),
        "{lines:#?}"
    );
    assert!(
        at("read done") < at("ocb_free serial=1"),
        "the OCB was freed before the read was done with it: {lines:#?}"
    );
    // Still serving.
    let out = ok(n1.spawn(&probe, &["open", path]));
    assert_eq!(out, "open ok", "{out}");
    assert!(s.running(), "the manager died: {lines:#?}");
}

/// stdio and path calls reach a manager: `fopen` (glibc's opens through its internal
/// `open`, which libqnetc cannot see), `stat`, `access`. A manager attached inside an
/// existing directory, so that an `fopen(…, "w")` that missed it would create a real file.
#[test]
fn stdio_stat_and_access_reach_the_manager() {
    let probe = checks();
    let c = local();
    let n1 = c.node("n1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device");
    let path = path.to_str().unwrap();
    let s = n1.spawn(&example("resmgr_server"), &[path]);
    s.line("attach", |l| l.starts_with(&format!("attached {path} id=")));
    let out = ok(n1.spawn(&probe, &["stdio", path]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "fgets \"via stdio\"",
            "stat mode=50666",
            "access ok",
            "real file ENOENT"
        ],
        "{out}"
    );
    s.line("the write through fopen \"w\"", |l| l == "write 3");
}

/// `name_attach(dpp, …)` after `resmgr_attach` on the same dispatch: the name goes on the
/// dispatch's channel, whose loop answers `name_open` (it had a channel of its own nobody
/// received on, and `name_open` hung); `name_detach` leaves the channel serving the path.
#[test]
fn a_name_attached_after_a_path_shares_the_dispatchs_channel() {
    let probe = checks();
    let c = local();
    let n1 = c.node("n1");
    let out = ok(n1.spawn(&probe, &["named", "/dev/qnet/named", "qnet-named"]));
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "name_open ok",
            "name_detach ok",
            "name_open after detach ENOENT",
            "path after detach ok"
        ],
        "{out}"
    );
}
