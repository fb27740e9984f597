//! The C API through the C ABI: layouts, every call's success and error cases (a C program
//! run against a real `qnetd`), header hygiene, and the compile lines the README documents.

mod common;

use common::{checksum, compile, crate_dir, local, run_shell, target_dir};

/// `struct _pulse`, `_msg_info`, `_client_info`, `iov_t`, `name_attach_t`, `rcvid_t` and the
/// sigevent pulse fields have QNX's 64-bit layout, as a compiled C program sees them (the
/// headers' `_Static_assert`s must hold for it to compile at all).
#[test]
fn layouts_are_qnx_64_bit() {
    let exe = compile(
        &crate_dir().join("tests/c/layout.c"),
        "layout",
        "-Wall -Wextra -Werror",
    );
    let out = run_shell(&format!("'{}'", exe.display()));
    let want = [
        "pulse 24 code 4 value 8 scoid 16",
        "msg_info 64 priority 28 msglen 32 dstmsglen 48",
        "client_info 76 cred 16",
        "iov 16 rcvid 8",
        "name_attach 24 chid 8",
        "sigevent 64 coid 8 notify 12 priority 16 code 20",
        "constants 1073741824 -33 16 32 64 256 256 511 0",
    ];
    for w in want {
        assert!(out.lines().any(|l| l == w), "missing {w:?} in:\n{out}");
    }
}

/// Every call, success and error cases, through the C ABI against a real daemon.
#[test]
fn every_call_through_the_c_abi() {
    run_checks("api_test", 109);
}

/// Compile `tests/c/<name>.c` warning-free, run it against a real daemon, and require every
/// `PASS`/`FAIL` line to be a pass, at least `min_passed` of them (a crash or an early exit
/// would leave fewer), and its closing `failures=0`.
fn run_checks(name: &str, min_passed: usize) {
    run_checks_on(local(), name, min_passed);
}

/// As [`run_checks`], against the daemons of `c` (the program runs on `n1`).
fn run_checks_on(c: qnet_testkit::Cluster, name: &str, min_passed: usize) {
    let exe = compile(
        &crate_dir().join(format!("tests/c/{name}.c")),
        name,
        "-Wall -Wextra -Werror",
    );
    let mut p = c.node("n1").spawn(&exe, &[]);
    let (ok, out, err) = p.output();
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(ok && fails.is_empty(), "failures: {fails:#?}\n{out}\n{err}");
    let passed = out.lines().filter(|l| l.starts_with("PASS")).count();
    assert!(passed >= min_passed, "only {passed} checks passed:\n{out}");
    assert!(out.lines().any(|l| l == "failures=0"), "{out}");
}

/// `pthread_cancel` of a thread blocked in `MsgSend` or `MsgReceive` ends it there, as QNX's
/// calls are cancellation points: on the direct local path (the daemon's default) a waiting
/// thread sleeps on a futex, which glibc does not treat as one, and without libqnetc's
/// `pthread_cancel` the join hung. REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel the server
/// gets its unblock pulse and the thread ends once answered; with cancellation disabled a
/// receiver waits on and takes its message.
#[test]
fn blocked_calls_are_cancellation_points() {
    run_checks("cancel_test", 20);
}

/// A signal whose handler runs in a thread blocked in `MsgSend` or `MsgReceive` ends the
/// call with `EINTR`, as on QNX, with or without `SA_RESTART` (glibc's `signal()` sets it);
/// REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel the server gets its unblock pulse and the
/// client its answer; an ignored signal unblocks nothing. On both local paths: the direct
/// path sleeps on a futex, the daemon's path in `poll`.
#[test]
fn signals_unblock_blocked_calls_on_the_direct_path() {
    run_checks("signal_test", 19);
}

/// As above, with the daemon's direct path off (every call through the daemon).
#[test]
fn signals_unblock_blocked_calls_through_the_daemon() {
    let c = qnet_testkit::Cluster::start_with_args(&["n1"], &[("n1", &["--direct", "off"])]);
    run_checks_on(c, "signal_test", 19);
}

/// `pthread_create(NULL, …)` (seen in QNX code) compiles with a warning only, not an error,
/// without `-Werror`, and every QNX extra is declared.
#[test]
fn qnx_code_with_a_null_thread_id_compiles() {
    let src = crate_dir().join("tests/c/null_thread.c");
    let exe = compile(&src, "null_thread", "");
    let out = run_shell(&format!("'{}'", exe.display()));
    assert_eq!(out.trim(), "thread ran");
}

/// A program that forks after using IPC: the child's calls are its own (the daemon sees the
/// child's pid), the parent's keep working.
#[test]
fn forked_child_makes_its_own_calls() {
    let exe = compile(
        &crate_dir().join("tests/c/fork_test.c"),
        "fork_test",
        "-Wall -Wextra -Werror",
    );
    let c = local();
    let mut p = c.node("n1").spawn(&exe, &[]);
    let (ok, out, err) = p.output();
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["child pid ok", "parent ok"]
    );
}

/// A program including every header compiles with `-Wall -Wextra -Werror` (gnu99, gnu17, and
/// strict C11 with POSIX asked for, as `clockid_t` and `struct sigevent` are POSIX),
/// and as C++ with `-Wall -Wextra -Werror` (the headers are `extern "C"`), and links.
#[test]
fn all_headers_are_warning_free_in_c_and_cpp() {
    let src = crate_dir().join("tests/c/all_headers.c");
    for (i, std) in [
        "-std=gnu99",
        "-std=gnu17",
        "-std=c11 -D_POSIX_C_SOURCE=200809L",
    ]
    .iter()
    .enumerate()
    {
        compile(
            &src,
            &format!("all_headers_{i}"),
            &format!("-Wall -Wextra -Werror {std}"),
        );
    }
    let out = target_dir().join("capi-c/all_headers_cpp");
    run_shell(&format!(
        "c++ -x c++ -Wall -Wextra -Werror '{}' $(pkg-config --cflags --libs qnet) -o '{}'",
        src.display(),
        out.display()
    ));
}

/// A program that defines its own `strlcpy` and `itoa` keeps them (and still links).
#[test]
fn programs_keep_their_own_strlcpy_and_itoa() {
    let exe = compile(
        &crate_dir().join("tests/c/own_compat.c"),
        "own_compat",
        "-Wall -Wextra -Werror",
    );
    let out = run_shell(&format!("'{}'", exe.display()));
    assert_eq!(out.trim(), "own strlcpy=999 own itoa=mine");
}

/// The plain `-I/-L` compile line from the README works, and so does linking the static
/// library; both programs talk to each other through a real daemon.
#[test]
fn plain_and_static_compile_lines() {
    common::build_lib();
    let t = target_dir();
    let inc = crate_dir().join("include");
    let ex = crate_dir().join("examples");
    let server = t.join("capi-c/checksum_server_plain");
    let client = t.join("capi-c/checksum_client_static");
    run_shell(&format!(
        "cc '{}' -I '{}' -L '{}' -Wl,-rpath,'{}' -lqnetc -o '{}'",
        ex.join("checksum_server.c").display(),
        inc.display(),
        t.display(),
        t.display(),
        server.display()
    ));
    run_shell(&format!(
        "cc '{}' -I '{}' '{}' -lpthread -ldl -lm -o '{}'",
        ex.join("checksum_client.c").display(),
        inc.display(),
        t.join("libqnetc.a").display(),
        client.display()
    ));
    let c = local();
    let n1 = c.node("n1");
    let s = n1.spawn(&server, &[]);
    let (pid, chid) = s.pid_chid();
    let mut cl = n1.spawn(&client, &[&pid.to_string(), &chid.to_string(), "static"]);
    let (ok, out, err) = cl.output();
    assert!(ok, "{out}\n{err}");
    assert!(
        out.lines()
            .any(|l| l == format!("checksum={}", checksum("static"))),
        "{out}"
    );
}

/// Issue 22 item 5: QNX's spawn family (`spawnl`, `spawnle`, `spawnlp`, `spawnlpe`, `spawnv`,
/// `spawnve`, `spawnvp`, `spawnvpe`) with `P_WAIT`, `P_NOWAIT`, `P_NOWAITO` and `P_OVERLAY`,
/// every form and mode and their errors, compiled with the documented line and `-Werror`.
#[test]
fn qnx_spawn_family() {
    let exe = compile(
        &crate_dir().join("tests/c/spawn_test.c"),
        "spawn_test",
        "-Wall -Wextra -Werror",
    );
    let out = run_shell(&format!("'{}'", exe.display()));
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(fails.is_empty(), "failures: {fails:#?}\n{out}");
    let passed = out.lines().filter(|l| l.starts_with("PASS")).count();
    assert!(passed >= 27, "only {passed} checks passed:\n{out}");
    assert!(out.lines().any(|l| l == "failures=0"), "{out}");
    // A program that takes them from <spawn.h>, as QNX's declares them there too.
    let exe = compile(
        &crate_dir().join("tests/c/spawn_h.c"),
        "spawn_h",
        "-Wall -Wextra -Werror",
    );
    let out = run_shell(&format!("'{}'", exe.display()));
    assert_eq!(out.trim(), "spawnl 4 posix_spawn 2");
}
