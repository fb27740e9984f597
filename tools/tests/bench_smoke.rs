//! Smoke runs of `qnet bench --quick`: the harness starts its daemons and peers, parks a
//! caller on each server, measures every variant (the shared-memory floor included) and the
//! scale phase (small sizes), prints the table and the targets, says whether the direct
//! local path was used, and exits cleanly; and the same with `--direct off`, whose local
//! calls all go through the daemon. No timing is asserted.

use std::process::Command;
use std::time::Duration;

/// Hang guard only.
const GUARD: Duration = Duration::from_secs(120);

#[test]
fn quick_bench_runs_and_prints_the_table() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnet"));
    // One parked caller per server: the run must still measure and end cleanly with
    // threads REPLY-blocked on the servers until teardown.
    cmd.args(["bench", "--quick", "--parked", "1", "--qnetd"])
        .arg(qnet_testkit::qnetd_path());
    let out = qnet_testkit::run_guarded("qnet bench --quick", cmd, GUARD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "qnet bench --quick failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // The direct local path is qnetd's default, and the bench's processes took it.
    assert!(
        stdout.contains("# direct path USED (qnetd --direct on)"),
        "the direct path was not used:\n{stdout}"
    );
    for (path, size, clients) in [
        ("local", "64 B", 1),
        ("local", "64 B", 8),
        ("local", "1 MiB", 1),
        ("remote", "64 B", 1),
        ("remote", "64 B", 8),
        ("remote", "1 MiB", 1),
    ] {
        let row = stdout.lines().find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() > 4
                && w[0] == path
                && format!("{} {}", w[1], w[2]) == size
                && w[3] == clients.to_string()
        });
        let row = row.unwrap_or_else(|| panic!("no {path} {size} x{clients} row in:\n{stdout}"));
        // Floor and qnet columns plus both ratios are numbers; local rows also have the
        // shared-memory floor's p50, qnet's ratios to it and the daemon's share of the calls.
        let numbers = row
            .split_whitespace()
            .filter(|w| w.parse::<f64>().is_ok())
            .count();
        let want = if path == "local" { 17 } else { 12 };
        assert!(numbers >= want, "row with missing figures: {row:?}");
        // The daemons served the remote round trips, so they used CPU time (local calls on
        // the direct path need none).
        let cpu: f64 = row.split_whitespace().last().unwrap().parse().unwrap();
        assert!(
            cpu > 0.0 || path == "local",
            "no daemon CPU per round trip: {row:?}"
        );
    }
    // The paced phase: one line per path, with qnet's calls/s and the daemons' CPU share.
    assert!(
        stdout.contains("paced: 1 client, 64 B, one call every 1000 µs"),
        "no paced phase:\n{stdout}"
    );
    for path in ["local", "remote"] {
        let row = stdout
            .lines()
            .skip_while(|l| !l.starts_with("paced:"))
            .find(|l| l.split_whitespace().next() == Some(path) && l.ends_with('%'))
            .unwrap_or_else(|| panic!("no paced {path} row in:\n{stdout}"));
        let w: Vec<&str> = row.split(['|', ' ']).filter(|w| !w.is_empty()).collect();
        // path, floor p50, shm p50, qnet p50, p99, calls/s, ratio, ratio to shm, qnetd%,
        // cpu µs, core% (the shm and qnetd% columns are "-" for remote).
        assert_eq!(w.len(), 11, "paced row with missing figures: {row:?}");
        let calls: f64 = w[5].parse().unwrap();
        assert!(
            calls > 0.0 && calls <= 1000.0 * 1.05,
            "paced calls/s must not exceed the pace: {row:?}"
        );
        let cpu: f64 = w[9].parse().unwrap();
        assert!(
            cpu > 0.0 || path == "local",
            "no daemon CPU per paced call: {row:?}"
        );
        if path == "local" {
            let shm: f64 = w[2].parse().unwrap();
            assert!(
                shm > 0.0,
                "no shared-memory floor in the paced row: {row:?}"
            );
        }
    }
    assert!(stdout.contains("pulses/s"), "no pulse figures:\n{stdout}");
    assert!(
        stdout.contains("daemon RSS per idle connection"),
        "no memory figures:\n{stdout}"
    );
    // The scale phase, at a small size: creation rates and exit time at 100 and 1000 objects,
    // and two drains with the daemon's RSS.
    let scale_rows: Vec<Vec<f64>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("scale:"))
        .skip(2)
        .take_while(|l| !l.starts_with("drain"))
        .map(|l| {
            l.split(['|', ' '])
                .filter_map(|w| w.parse::<f64>().ok())
                .collect()
        })
        .collect();
    assert_eq!(scale_rows.len(), 2, "two scale rows:\n{stdout}");
    for (row, objects) in scale_rows.iter().zip([100.0, 1000.0]) {
        assert_eq!(row.len(), 6, "scale row with missing figures: {row:?}");
        assert_eq!(row[0], objects);
        assert!(row[1..].iter().all(|v| *v > 0.0), "scale figures: {row:?}");
    }
    let drains = stdout.lines().filter(|l| l.starts_with("drain ")).count();
    assert_eq!(drains, 2, "two drain lines:\n{stdout}");
    let targets: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("targets"))
        .skip(1)
        .filter(|l| l.ends_with("PASS") || l.ends_with("MISS"))
        .collect();
    // --quick runs 64 B and 1 MiB: every target row but the two 64 KiB ones (issue 23's
    // table, the rows of issues 17, 5 and 22 it does not restate), and issue 24's
    // resource-manager rows: the libqnetc one always, the two through the FUSE mount where
    // the bench may mount (root, /dev/fuse).
    let mounted = nix::unistd::geteuid().is_root() && std::path::Path::new("/dev/fuse").exists();
    let resmgr_rows = if mounted { 3 } else { 1 };
    assert_eq!(
        targets.len(),
        16 + resmgr_rows,
        "{} target rows with a verdict:\n{stdout}",
        16 + resmgr_rows
    );
    assert!(
        targets
            .iter()
            .any(|t| t.trim_start().starts_with("64 B read as libqnetc")),
        "no resource-manager target:\n{stdout}"
    );
    let rm = stdout
        .lines()
        .skip_while(|l| !l.starts_with("resource manager"))
        .nth(1)
        .unwrap_or_else(|| panic!("no resource-manager figures:\n{stdout}"));
    assert!(rm.contains("read as libqnetc p50"), "{rm}");
    if mounted {
        assert!(!rm.ends_with("mount p50 -"), "the mount rows ran: {rm}");
    }
    for row in [
        "local MsgSend p50, 1 MiB",
        "paced 1 call/ms p50, remote",
        "qnetd CPU per local call at 1 call/ms",
        "daemon CPU per local round trip",
        "pulses/s, remote",
        "daemon descriptors per blocked client thread",
    ] {
        assert!(
            targets.iter().any(|t| t.trim_start().starts_with(row)),
            "no {row:?} target:\n{stdout}"
        );
    }
}

/// `--direct off`: every qnetd of the run without the direct path. The header says so, no
/// process mapped a pair, and the daemon delivered every local call (100 %), so no local
/// figure can come from the direct path unnoticed; likewise, in the default run above, the
/// header says the path was used.
#[test]
fn quick_bench_with_the_direct_path_off_goes_through_the_daemon() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnet"));
    cmd.args([
        "bench",
        "--quick",
        "--direct",
        "off",
        "--only",
        "raw-uds,raw-shm,qnet-local",
        "--scale",
        "0",
        "--qnetd",
    ])
    .arg(qnet_testkit::qnetd_path());
    let out = qnet_testkit::run_guarded("qnet bench --quick --direct off", cmd, GUARD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "qnet bench --direct off failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("# direct path NOT USED (qnetd --direct off)")
            && stdout.contains("maps 0 pair(s)"),
        "header:\n{stdout}"
    );
    assert!(stdout.lines().next().unwrap_or("").contains("--direct off"));
    // The cells' rows (the paced line starts with "local" too, then a "|").
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("local ") && l.split_whitespace().nth(1) != Some("|"))
        .collect();
    assert_eq!(rows.len(), 4, "64 B and 1 MiB, 1 and 8 clients:\n{stdout}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("remote ")),
        "remote cells were left out (--only):\n{stdout}"
    );
    for row in rows {
        // ... | shm p50 | × shm | msg/s × shm | qnetd% | cpu µs
        let w: Vec<&str> = row.split_whitespace().collect();
        let share: f64 = w[w.len() - 3].parse().unwrap();
        assert_eq!(share, 100.0, "a local call bypassed the daemon: {row:?}");
    }
    let pulses = stdout
        .lines()
        .find(|l| l.starts_with("pulses/s"))
        .unwrap_or_else(|| panic!("no pulse line:\n{stdout}"));
    assert!(
        pulses.contains("(100 % delivered by qnetd)"),
        "pulses bypassed the daemon: {pulses:?}"
    );
}
