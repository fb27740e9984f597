//! Multi-node qnet tests: real `qnetd` processes on loopback linked over real QUIC
//! (`tests/`), the `qnet-probe` test program (`src/bin/`) and the docker-compose cluster
//! (`docker/`). The harness itself is the workspace's test kit, `qnet-testkit`; it is
//! re-exported here so the tests (and other crates' tests written against `cluster_tests`)
//! keep their paths.

pub use qnet_testkit::{
    Certs, Cluster, GUARD, LINK_TIMEOUT, Lines, MAX_MESSAGE, Node, Proc, Relay, build_binaries,
    example_path, fails_with, field, ok_output, qnetd_path, spawn, target_dir,
};
