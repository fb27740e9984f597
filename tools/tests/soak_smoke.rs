//! Smoke run of `qnet soak`: a short bounded soak starts its daemon pair, servers, traffic and
//! process churn, samples the daemons' RSS once per interval and reports one row per interval
//! and the growth summary, then exits cleanly. No timing or memory figure is asserted.

use std::process::Command;
use std::time::Duration;

/// Hang guard only.
const GUARD: Duration = Duration::from_secs(120);

fn run(args: &[&str]) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qnet"));
    cmd.arg("soak")
        .args(args)
        .arg("--qnetd")
        .arg(qnet_testkit::qnetd_path());
    let out = qnet_testkit::run_guarded("qnet soak", cmd, GUARD);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "qnet soak failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

#[test]
fn soak_reports_one_row_per_interval_as_json() {
    let (stdout, _) = run(&[
        "--duration",
        "3",
        "--interval",
        "1",
        "--clients",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON summary");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "one row per interval: {stdout}");
    for row in rows {
        for key in ["na_rss_kib", "nb_rss_kib"] {
            assert!(row[key].as_u64().unwrap() > 0, "{key} sampled: {row}");
        }
        for key in [
            "na_growth_kib",
            "nb_growth_kib",
            "calls",
            "threads",
            "cycles",
            "processes",
            "na_records",
            "nb_records",
        ] {
            assert!(row[key].is_number(), "{key} reported: {row}");
        }
        assert!(
            row["nb_tables"]["served"].is_number(),
            "tables reported: {row}"
        );
    }
    // Every client made local and remote calls, and at least one churn thread, name cycle
    // and churn process ran and ended (the mixed mode runs them all).
    assert_eq!(v["mode"], "mixed", "{stdout}");
    assert!(v["total_calls"].as_u64().unwrap() >= 4, "{stdout}");
    assert!(v["total_threads"].as_u64().unwrap() >= 8, "{stdout}");
    assert!(v["total_cycles"].as_u64().unwrap() >= 1, "{stdout}");
    assert!(v["total_processes"].as_u64().unwrap() >= 1, "{stdout}");
    assert!(v["nb_late_growth_kib"].is_number(), "{stdout}");
    assert!(v["na_late_growth_per_interval_kib"].is_number(), "{stdout}");
}

#[test]
fn soak_prints_a_table_and_the_growth_summary() {
    let (stdout, _) = run(&["--duration", "2", "--interval", "1", "--clients", "1"]);
    let header = stdout.lines().next().unwrap_or_default();
    assert!(
        header.contains("NA-GROWTH") && header.contains("NB-GROWTH"),
        "{stdout}"
    );
    let rows = stdout
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().count() == 12)
        .count();
    assert_eq!(rows, 2, "{stdout}");
    assert!(stdout.contains("growth over the second half"), "{stdout}");
}

/// Each churn mode runs alone.
#[test]
fn soak_runs_one_churn_mode_alone() {
    for (mode, key) in [
        ("threads", "total_threads"),
        ("names", "total_cycles"),
        ("processes", "total_processes"),
    ] {
        let (stdout, _) = run(&[
            "--mode",
            mode,
            "--duration",
            "1",
            "--interval",
            "1",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON summary");
        assert!(v[key].as_u64().unwrap() >= 1, "{mode}: {stdout}");
        let others = ["total_threads", "total_cycles", "total_processes"];
        for other in others.iter().filter(|k| **k != key) {
            assert_eq!(v[other].as_u64(), Some(0), "{mode} ran {other}: {stdout}");
        }
    }
}
