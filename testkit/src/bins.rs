//! The binaries tests run that are not their own package's (`CARGO_BIN_EXE_<name>` covers
//! those): `qnetd`, the `qnet` examples and the C library `libqnetc`.
//!
//! A whole-suite run (`cargo test --workspace --all-targets`) builds all of them before any
//! test starts, so a test only looks them up. A narrow run (`cargo test -p cluster-tests`)
//! may find them missing or older than the sources: then the first lookup in the test
//! process builds them, once, with one `cargo build` selection, and writes a stamp. A cargo
//! build inside a test is the exception, not the rule: cargo's feature resolution differs
//! between that build and the one running the tests, so each makes the other rebuild (the
//! bench smoke test once spent 48 of its 56 s that way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// `<target>/<profile>`, from this test executable's path (`<target>/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The workspace root (this crate's parent directory).
fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// Written after a build here: the binaries are at least as new as the sources then, even
/// those cargo did not relink because nothing they depend on changed.
const STAMP: &str = "qnet-testkit.built";

/// The workspace crates each binary is built from (the daemon does not link the library, so
/// editing the library does not make the daemon stale). Keep in step with the manifests.
const DAEMON_CRATES: &[&str] = &["core", "proto", "direct", "transport", "node-daemon"];
const EXAMPLE_CRATES: &[&str] = &["core", "proto", "direct", "client"];
const LIB_CRATES: &[&str] = &["core", "proto", "direct", "client", "capi"];

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time of what `crates` are built from: their Rust, protobuf and
/// manifest files except their tests, and the workspace manifest and lock file.
fn newest_source(crates: &[&str]) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "target" || name == "tests" {
                continue;
            }
            if p.is_dir() {
                walk(&p, newest);
            } else if p
                .extension()
                .is_some_and(|x| x == "rs" || x == "proto" || x == "toml")
            {
                if let Some(m) = modified(&p) {
                    *newest = (*newest).max(m);
                }
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    for krate in crates {
        walk(&workspace().join(krate), &mut newest);
    }
    for f in ["Cargo.toml", "Cargo.lock"] {
        if let Some(m) = modified(&workspace().join(f)) {
            newest = newest.max(m);
        }
    }
    newest
}

/// Is one of `artifacts` missing, or are they older than the sources of `crates` (and than
/// the last build here)?
fn stale(target: &Path, artifacts: &[PathBuf], crates: &[&str]) -> bool {
    let built = artifacts.iter().map(|p| modified(p)).min().flatten();
    let Some(built) = built else {
        return true;
    };
    let built = built.max(modified(&target.join(STAMP)).unwrap_or(SystemTime::UNIX_EPOCH));
    newest_source(crates) > built
}

/// Every example of `client/examples`, built.
fn examples(target: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    if let Ok(dir) = std::fs::read_dir(workspace().join("client/examples")) {
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "rs") {
                let stem = p.file_stem().expect("file stem");
                all.push(target.join("examples").join(stem));
            }
        }
    }
    all
}

/// Build `qnetd`, the `qnet` examples and `libqnetc` (with `qnet.pc`) once per test process,
/// with one selection for every caller (two selections resolve features differently and make
/// each build redo the other's work), then write the stamp.
fn build_all() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir();
        let started = SystemTime::now();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace()).args([
            "build",
            "-q",
            "-p",
            "qnet-daemon",
            "--bin",
            "qnetd",
            "-p",
            "qnet",
            "--examples",
            "-p",
            "qnet-capi",
            "--lib",
        ]);
        if target.ends_with("release") {
            cmd.arg("--release");
        }
        // What cargo set for this test process describes the test's package, not the build:
        // the build gets the environment a shell would give it.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
                || k == "OUT_DIR"
                || k == "LD_LIBRARY_PATH"
                || k == "RUST_RECURSION_COUNT"
            {
                cmd.env_remove(&key);
            }
        }
        let st = cmd.status().expect("running cargo build");
        assert!(
            st.success(),
            "building qnetd, the examples and libqnetc failed"
        );
        // Dated when the build started: a source edited during the build is newer.
        let stamp = target.join(STAMP);
        std::fs::write(&stamp, b"").expect("writing the build stamp");
        let _ = std::fs::File::options()
            .write(true)
            .open(&stamp)
            .and_then(|f| f.set_modified(started));
    });
}

/// Build the binaries first if `artifacts` are missing or older than `crates`' sources.
fn ensure(artifacts: &[PathBuf], crates: &[&str]) {
    if stale(&target_dir(), artifacts, crates) {
        build_all();
    }
}

/// Make sure `qnetd`, the `qnet` examples and `libqnetc` (with `qnet.pc`) are built and
/// current: builds them (once per test process) only if one is missing or older than its
/// sources.
pub fn build_binaries() {
    let target = target_dir();
    ensure(&[target.join("qnetd")], DAEMON_CRATES);
    ensure(&examples(&target), EXAMPLE_CRATES);
    // `capi/build.rs` rewrites `qnet.pc` only when its text changes: it must exist, its age
    // says nothing.
    let pc = target.join("qnet.pc");
    if !pc.exists() {
        build_all();
    }
    ensure(&[target.join("libqnetc.so")], LIB_CRATES);
}

/// Path of the `qnetd` binary (built if needed).
pub fn qnetd_path() -> PathBuf {
    let qnetd = target_dir().join("qnetd");
    ensure(std::slice::from_ref(&qnetd), DAEMON_CRATES);
    qnetd
}

/// Path of a `qnet` example binary (built if needed).
pub fn example_path(name: &str) -> PathBuf {
    let example = target_dir().join("examples").join(name);
    ensure(std::slice::from_ref(&example), EXAMPLE_CRATES);
    example
}
