//! The Debian package: `scripts/package.sh` (cargo-deb) builds it from what the test suite
//! built, and its extracted contents are checked, never installed on this machine: the
//! programs, the shared and static `libqnetc` with every header, a `qnet.pc` that works from
//! wherever the tree is moved (a C program compiles, links and runs against the extracted
//! tree through it), the unit with `ExecReload=`, the sample config as a conffile, shell
//! completions, man pages, LICENSE and CHANGELOG, the dashboard and alert rules. And
//! `cargo package` works for the library crates (their path dependencies carry versions).

use std::path::{Path, PathBuf};
use std::process::Command;

use qnet_testkit::process::run_guarded;
use qnet_testkit::tools::program;

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(what: &str, cmd: Command) -> String {
    let out = run_guarded(what, cmd, std::time::Duration::from_secs(600));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_holds_everything_an_installation_needs() {
    program("cargo", &["deb", "--version"], "cargo install cargo-deb");
    program("dpkg-deb", &["--version"], "apt-get install dpkg");
    program("pkg-config", &["--version"], "apt-get install pkgconf");
    // What the package holds, built as the suite builds it (qnet is this package's binary).
    qnet_testkit::build_binaries();
    let target = qnet_testkit::target_dir();
    assert_eq!(
        Path::new(env!("CARGO_BIN_EXE_qnet")).parent(),
        Some(target.as_path())
    );
    let profile = if target.ends_with("debug") {
        "dev"
    } else {
        "release"
    };
    let mut cmd = Command::new("bash");
    cmd.arg(workspace().join("scripts/package.sh"))
        .args(["--profile", profile, "--no-build", "--fast"])
        .env("CARGO_TARGET_DIR", target.parent().unwrap())
        .current_dir(workspace());
    let deb = PathBuf::from(run("scripts/package.sh", cmd).trim());
    assert!(deb.extension().is_some_and(|e| e == "deb"), "{deb:?}");

    let field = |name: &str| {
        let mut cmd = Command::new("dpkg-deb");
        cmd.args(["--field"]).arg(&deb).arg(name);
        run("dpkg-deb --field", cmd).trim().to_owned()
    };
    assert_eq!(field("Package"), "qnet");
    assert!(field("Version").starts_with(env!("CARGO_PKG_VERSION")));
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let control = dir.path().join("control");
    for (flag, to) in [("-x", &root), ("-e", &control)] {
        let mut cmd = Command::new("dpkg-deb");
        cmd.arg(flag).arg(&deb).arg(to);
        run("dpkg-deb extract", cmd);
    }
    let has = |p: &str| {
        let path = root.join(p);
        assert!(path.is_file(), "the package has no {p}");
        path
    };
    let executable = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(has(p)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{p} is not executable");
    };
    executable("usr/bin/qnetd");
    executable("usr/bin/qnet");
    for p in [
        "usr/lib/libqnetc.so",
        "usr/lib/libqnetc.a",
        "usr/share/bash-completion/completions/qnet",
        "usr/share/bash-completion/completions/qnetd",
        "usr/share/zsh/vendor-completions/_qnet",
        "usr/share/zsh/vendor-completions/_qnetd",
        "usr/share/fish/vendor_completions.d/qnet.fish",
        "usr/share/fish/vendor_completions.d/qnetd.fish",
        "usr/share/doc/qnet/copyright",
        "usr/share/doc/qnet/README.md",
        "usr/share/doc/qnet/CHANGELOG.md",
        "usr/share/qnet/qnet-alerts.yml",
        "usr/share/qnet/grafana-dashboard.json",
    ] {
        has(p);
    }
    // Every header of the tree, at the same place under the include directory.
    let include = workspace().join("capi/include");
    let mut headers = 0;
    for entry in walk(&include) {
        let rel = entry.strip_prefix(&include).unwrap();
        let shipped = has(&format!("usr/include/qnet/{}", rel.display()));
        assert_eq!(
            std::fs::read(&shipped).unwrap(),
            std::fs::read(&entry).unwrap()
        );
        headers += 1;
    }
    assert!(headers >= 8, "{headers} headers");
    // Man pages, from `qnet man` (gzipped by the packager or not).
    for page in ["qnet", "qnetd", "qnet-pidin", "qnet-cert-issue"] {
        let plain = root.join(format!("usr/share/man/man1/{page}.1"));
        let gz = root.join(format!("usr/share/man/man1/{page}.1.gz"));
        assert!(plain.is_file() || gz.is_file(), "no man page {page}.1");
    }
    let copyright = std::fs::read_to_string(has("usr/share/doc/qnet/copyright")).unwrap();
    assert!(copyright.contains("Apache License"), "{copyright}");
    let unit = std::fs::read_to_string(has("usr/lib/systemd/system/qnetd.service")).unwrap();
    assert!(unit.contains("\nExecReload=kill -HUP $MAINPID\n"), "{unit}");
    assert!(unit.contains("\nExecStart=qnetd --config /etc/qnet/qnetd.toml\n"));
    has("etc/qnet/qnetd.toml");
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(
        conffiles.lines().any(|l| l == "/etc/qnet/qnetd.toml"),
        "{conffiles}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");

    // The programs run from the extracted tree.
    let mut cmd = Command::new(root.join("usr/bin/qnetd"));
    cmd.arg("--version");
    assert!(run("qnetd --version", cmd).starts_with("qnetd "));
    let mut cmd = Command::new(root.join("usr/bin/qnetd"));
    cmd.args(["--check", "--config"])
        .arg(root.join("etc/qnet/qnetd.toml"));
    // The sample config names /etc/qnet/certs, which this machine does not have: --check
    // says so in one line (the config itself loads).
    let out = run_guarded("qnetd --check", cmd, std::time::Duration::from_secs(60));
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.starts_with("qnetd: "), "{said}");

    // qnet.pc holds no build path: every path comes from its prefix, so the tree moved
    // elsewhere (here: the extraction directory) compiles and links C programs.
    let pc = std::fs::read_to_string(has("usr/lib/pkgconfig/qnet.pc")).unwrap();
    assert!(pc.contains("prefix=/usr\n"), "{pc}");
    assert!(
        !pc.contains(&*workspace().to_string_lossy()),
        "a build path in:\n{pc}"
    );
    assert!(pc.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))));
    let usr = root.join("usr");
    let flags = |what: &str| {
        let mut cmd = Command::new("pkg-config");
        cmd.env("PKG_CONFIG_PATH", usr.join("lib/pkgconfig"))
            .env_remove("PKG_CONFIG_LIBDIR")
            .arg(format!("--define-variable=prefix={}", usr.display()))
            .args([what, "qnet"]);
        run("pkg-config", cmd)
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let cflags = flags("--cflags");
    let libs = flags("--libs");
    assert!(
        cflags
            .iter()
            .any(|f| f.starts_with(&format!("-I{}", usr.display()))),
        "{cflags:?}"
    );
    let src = workspace().join("capi/tests/c/all_headers.c");
    for (name, link) in [
        ("shared", libs.clone()),
        (
            "static",
            vec![
                usr.join("lib/libqnetc.a").display().to_string(),
                "-lpthread".into(),
                "-ldl".into(),
                "-lm".into(),
            ],
        ),
    ] {
        let exe = dir.path().join(format!("prog-{name}"));
        let mut cmd = Command::new("cc");
        cmd.arg(&src).args(&cflags).args(&link).arg("-o").arg(&exe);
        run(&format!("cc ({name})"), cmd);
        let mut cmd = Command::new(&exe);
        cmd.env("LD_LIBRARY_PATH", usr.join("lib"));
        assert_eq!(run(&format!("prog-{name}"), cmd).trim(), "ok");
    }
}

#[test]
fn cargo_package_works_for_the_library_crates() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["package", "--offline", "--no-verify", "--allow-dirty"])
        .args([
            "-p",
            "qnet-core",
            "-p",
            "qnet-proto",
            "-p",
            "qnet-direct",
            "-p",
            "qnet-transport",
        ])
        .args(["-p", "qnet", "-p", "qnet-capi", "-p", "qnet-daemon"])
        .arg("--target-dir")
        .arg(dir.path())
        .current_dir(workspace());
    run("cargo package", cmd);
    for krate in [
        "qnet-core",
        "qnet-proto",
        "qnet-direct",
        "qnet-transport",
        "qnet",
        "qnet-capi",
    ] {
        let file = dir
            .path()
            .join("package")
            .join(format!("{krate}-{}.crate", env!("CARGO_PKG_VERSION")));
        assert!(file.is_file(), "no {}", file.display());
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
