//! Records the commit `qnetd --version` reports: `QNET_COMMIT` if the builder sets it (a
//! packager building from a tarball), else the git commit of the source tree,
//! else `unknown` (a tarball without git: the build must not fail for that).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=QNET_COMMIT");
    let commit = std::env::var("QNET_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // Rebuild when HEAD moves (the current branch's ref, or a detached HEAD).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        if let Some(head) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
            if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
                let common = Path::new(env!("CARGO_MANIFEST_DIR")).join(common);
                // A ref may live in packed-refs only; a missing file would rerun every build.
                let loose = common.join(head);
                let watched = if loose.exists() {
                    loose
                } else {
                    common.join("packed-refs")
                };
                println!("cargo:rerun-if-changed={}", watched.display());
            }
        }
    }
    println!("cargo:rustc-env=QNET_COMMIT={commit}");
}
