//! Tools outside Rust that some tests use to check the product the way others will read it
//! (Python's `prometheus_client` parser, `cargo deb`, `dpkg-deb`). A missing tool fails the
//! test with what to install, never a silent pass: `scripts/install-test-tools.sh` installs
//! them (`.ci/run` and `scripts/test.sh` run it).

use std::path::PathBuf;
use std::process::Command;

/// What to run to get the tools.
pub const INSTALL_HINT: &str = "run scripts/install-test-tools.sh (CI and scripts/test.sh do)";

/// `python3`, checked to import `module`; panics naming the pip package `package` if it
/// cannot.
pub fn python_with(module: &str, package: &str) -> PathBuf {
    let python = PathBuf::from("python3");
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "this test needs python3 with the `{module}` module (pip install {package}): \
         {INSTALL_HINT}"
    );
    python
}

/// `program` on the PATH, checked to answer `args` (e.g. `--version`); panics with `how`
/// to get it if it does not.
pub fn program(program: &str, args: &[&str], how: &str) -> PathBuf {
    let ok = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "this test needs `{program}` ({how}): {INSTALL_HINT}");
    PathBuf::from(program)
}
