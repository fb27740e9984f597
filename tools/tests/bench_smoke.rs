//! Smoke run of `qnet bench --quick --parked 1`: the harness starts its daemons and peers,
//! parks a caller on each server, measures every variant and the scale phase (small sizes),
//! prints the table and the targets, and exits cleanly. No timing is asserted.

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
        // Floor and qnet columns plus both ratios are numbers.
        let numbers = row
            .split_whitespace()
            .filter(|w| w.parse::<f64>().is_ok())
            .count();
        assert!(numbers >= 12, "row with missing figures: {row:?}");
        // The daemon(s) served those round trips, so they used CPU time.
        let cpu: f64 = row.split_whitespace().last().unwrap().parse().unwrap();
        assert!(cpu > 0.0, "no daemon CPU per round trip: {row:?}");
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
        // path, floor p50, qnet p50, p99, calls/s, ratio, cpu µs, core%.
        assert_eq!(w.len(), 8, "paced row with missing figures: {row:?}");
        let calls: f64 = w[4].parse().unwrap();
        assert!(
            calls > 0.0 && calls <= 1000.0 * 1.05,
            "paced calls/s must not exceed the pace: {row:?}"
        );
        let cpu: f64 = w[6].parse().unwrap();
        assert!(cpu > 0.0, "no daemon CPU per paced call: {row:?}");
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
    // --quick runs 64 B and 1 MiB: every target row but the two 64 KiB ones (issue 17's
    // table, the earlier 64 B p50 rows, memory, descriptors).
    assert_eq!(
        targets.len(),
        16,
        "sixteen target rows with a verdict:\n{stdout}"
    );
    for row in [
        "local MsgSend p50, 1 MiB",
        "paced 1 call/ms p50, remote",
        "daemon CPU at 1 call/ms, local",
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
