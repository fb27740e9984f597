//! Test harness for the C API: build `libqnetc`, compile C programs with the documented
//! compile line, and run them against real daemons (the test kit's nodes).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

#[allow(unused_imports)]
pub use qnet_testkit::{Cluster, Proc, field, qnetd_path, target_dir};

/// The crate directory (`capi/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build `libqnetc` (and its `qnet.pc`), `qnetd` and the Rust examples once per test process,
/// with the cluster tests' one build selection.
pub fn build_lib() {
    qnet_testkit::build_binaries();
    assert!(
        target_dir().join("qnet.pc").exists(),
        "capi/build.rs did not write qnet.pc"
    );
}

/// Where compiled C programs go.
fn out_dir() -> PathBuf {
    let d = target_dir().join("capi-c");
    std::fs::create_dir_all(&d).expect("capi-c dir");
    d
}

/// Compile `src` into `name` with the documented line,
/// `cc <src> $(pkg-config --cflags --libs qnet) -o <out>` (`PKG_CONFIG_PATH` = the target
/// dir), plus `extra` flags (e.g. `-Wall -Wextra -Werror`). Panics with the compiler's output.
/// Each name is compiled once per test process, into a temporary file renamed into place, so
/// a program another test is running is never overwritten.
pub fn compile(src: &Path, name: &str, extra: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    build_lib();
    let out = out_dir().join(name);
    let tmp = out_dir().join(format!("{name}.{}.tmp", std::process::id()));
    let line = format!(
        "cc {extra} '{}' $(pkg-config --cflags --libs qnet) -o '{}'",
        src.display(),
        tmp.display()
    );
    run_shell(&line);
    std::fs::rename(&tmp, &out).expect("renaming the compiled program into place");
    built.insert(name.to_string(), out.clone());
    out
}

/// Run a shell command line with `PKG_CONFIG_PATH` set to the target dir; panics with its
/// output on failure.
pub fn run_shell(line: &str) -> String {
    build_lib();
    let o = Command::new("sh")
        .arg("-c")
        .arg(line)
        .env("PKG_CONFIG_PATH", target_dir())
        .output()
        .expect("running sh");
    assert!(
        o.status.success(),
        "{line}\nfailed: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Compile the course example `capi/examples/<name>.c`.
pub fn example(name: &str) -> PathBuf {
    compile(
        &crate_dir().join("examples").join(format!("{name}.c")),
        name,
        "-Wall -Wextra -Werror",
    )
}

/// One node (`n1`) for local runs.
pub fn local() -> Cluster {
    Cluster::start(&["n1"])
}

/// Two linked nodes, `n1` and `n2`.
pub fn two_nodes() -> Cluster {
    Cluster::start(&["n1", "n2"])
}

/// The sum of the bytes of `s` (what the checksum programs compute).
pub fn checksum(s: &str) -> u32 {
    s.bytes().map(u32::from).sum()
}
