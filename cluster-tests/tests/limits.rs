//! Limits across nodes with real daemons: a process calling from another node is a process
//! of the server's node like a local one, so that node's limits bound it (here, a node
//! started with `--limit-connections 2`).

use std::path::Path;

use cluster_tests::Cluster;

fn probe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_qnet-probe"))
}

#[test]
fn a_remote_process_is_bound_by_the_server_nodes_limits() {
    let c = Cluster::start_with_args(&["n1", "n2"], &[("n2", &["--limit-connections", "2"])]);
    let server = c.node("n2").spawn(probe(), &["serve"]);
    let (pid, chid) = server.pid_chid();
    let target = format!("n2/{pid}/{chid}");
    // n1 allows its process many connections; n2 allows that process two.
    let mut client = c.node("n1").spawn(probe(), &["connect-many", &target, "5"]);
    let (ok, out, err) = client.output();
    assert!(!ok, "five connections were allowed:\n{out}");
    assert_eq!(out.lines().last(), Some("connected 2"), "stdout:\n{out}");
    assert!(
        err.lines().any(|l| l.starts_with("error: EAGAIN")),
        "stderr:\n{err}"
    );
    let logged = c
        .node("n2")
        .log()
        .wait(|l| l.contains("limit hit") && l.contains("limit=\"connections\""))
        .unwrap_or_else(|| panic!("n2 logged no limit hit:\n{}", c.node("n2").log().dump()));
    // The refused process is the client's, as n2 numbers n1 (nd 1), not a local one.
    assert!(logged.contains("process=1/"), "{logged}");
}
