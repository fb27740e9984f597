//! Runs the built `qnet` binary: `cert init`, `cert issue`, and loads the result.

use std::path::Path;
use std::process::{Command, Output};

use qnet_transport::{NodeIdentity, node_name_from_cert};

fn qnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qnet"))
        .args(args)
        .output()
        .expect("run qnet")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dir_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_then_issue_gives_a_loadable_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let d = dir_arg(&dir);

    let o = qnet(&["cert", "init", "--dir", d, "--cluster", "plant-a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("ca.pem").exists() && dir.join("ca.key").exists());

    let o = qnet(&[
        "cert", "issue", "--dir", d, "--node", "press-7", "--days", "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let id = NodeIdentity::load(&dir, "press-7").unwrap();
    assert_eq!(id.node(), "press-7");
    assert_eq!(node_name_from_cert(id.cert()).unwrap(), "press-7");

    use std::os::unix::fs::PermissionsExt;
    for key in ["ca.key", "press-7.key"] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
}

#[test]
fn init_refuses_to_replace_a_ca_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir_arg(tmp.path());
    assert!(qnet(&["cert", "init", "--dir", d]).status.success());
    let before = std::fs::read(tmp.path().join("ca.pem")).unwrap();

    let o = qnet(&["cert", "init", "--dir", d]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(tmp.path().join("ca.pem")).unwrap(), before);

    let o = qnet(&["cert", "init", "--dir", d, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(tmp.path().join("ca.pem")).unwrap(), before);
}

#[test]
fn issue_rejects_bad_names_and_a_missing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dir_arg(tmp.path());

    let o = qnet(&["cert", "issue", "--dir", d, "--node", "n1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("qnet cert init"), "{}", stderr(&o));

    assert!(qnet(&["cert", "init", "--dir", d]).status.success());
    let long = "x".repeat(64);
    for bad in ["bad name", "", "a/b", "all", long.as_str()] {
        let o = qnet(&["cert", "issue", "--dir", d, "--node", bad]);
        assert!(!o.status.success(), "{bad:?} accepted");
        let err = stderr(&o);
        assert!(err.contains("invalid node name"), "{bad:?}: {err}");
        assert!(
            err.contains("1 to 63 of A-Z a-z 0-9 - _ . and not \"all\""),
            "{bad:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{bad:?}: {err}");
    }
    // Nothing was written for them.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}
