//! Several real `qnetd` processes on loopback, each with its own Unix socket, linked over real
//! QUIC with real certificates from a throwaway cluster CA.
//!
//! - [`Cluster::start`] starts one daemon per node name (a full mesh: each node dials the
//!   nodes started before it) and waits until every link is up, from the daemons' own
//!   "node up" log lines;
//! - [`Cluster::start_relayed`] starts `n1` and `n2` with a [`Relay`] between them that the
//!   test can cut and restore;
//! - [`Cluster::start_mutual`] starts nodes that all dial each other (so a node pair holds
//!   two connections), optionally with one of them through a [`Relay`], and with a chosen
//!   `--link-timeout`;
//! - [`Cluster::start_seeded`] starts nodes that know only a seed (the first node): the
//!   mesh forms by discovery (seeds, member directories);
//! - [`Cluster::add_node`] starts one more node (of the cluster's CA or another one) with any
//!   arguments, [`Cluster::relaunch_at`] restarts one on another address;
//! - [`Node::spawn`] runs an example or any program against a node (`QNET_SOCKET` set),
//!   capturing its output ([`Proc`]).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::{example_path, qnetd_path};
use crate::certs::Certs;
use crate::lines::Lines;
use crate::process::Proc;
use crate::relay::Relay;

/// `--link-timeout` of the test daemons: how soon a lost peer is noticed.
pub const LINK_TIMEOUT: &str = "1s";

/// `--max-message-size` of the test daemons (room for 1 MiB messages).
pub const MAX_MESSAGE: u64 = 4 << 20;

/// One node: a `qnetd` with its own socket, listening on 127.0.0.1.
pub struct Node {
    /// The node name.
    pub name: String,
    /// Its Unix socket (`QNET_SOCKET` for its clients).
    pub socket: PathBuf,
    /// Its QUIC address (fixed after the first start, so a restart reuses it).
    pub addr: SocketAddr,
    certs: PathBuf,
    peers: Vec<(String, SocketAddr)>,
    /// Its `--link-timeout`.
    link_timeout: String,
    daemon: Option<Proc>,
    /// Logs of earlier runs of this node's daemon (before restarts), for failure messages.
    earlier_logs: Vec<String>,
    /// More `qnetd` arguments for its next start ([`Cluster::set_daemon_args`]).
    extra_args: Vec<String>,
    /// A command its daemon runs under (`ip netns exec NS`), if any.
    wrapper: Vec<String>,
}

impl Node {
    fn start(
        dir: &Path,
        certs: &Path,
        name: &str,
        port: u16,
        peers: Vec<(String, SocketAddr)>,
        link_timeout: &str,
    ) -> Node {
        let mut node = Node {
            name: name.into(),
            socket: dir.join(format!("{name}.sock")),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            certs: certs.to_path_buf(),
            peers,
            link_timeout: link_timeout.into(),
            daemon: None,
            earlier_logs: Vec::new(),
            extra_args: Vec::new(),
            wrapper: Vec::new(),
        };
        node.run_daemon();
        node
    }

    /// A node of [`Cluster::start_with_args`]: any port, the default link timeout, `extra`
    /// arguments for its daemon.
    fn start_with_args(
        dir: &Path,
        certs: &Path,
        name: &str,
        peers: Vec<(String, SocketAddr)>,
        extra: Vec<String>,
    ) -> Node {
        let mut node = Node {
            name: name.into(),
            socket: dir.join(format!("{name}.sock")),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            certs: certs.to_path_buf(),
            peers,
            link_timeout: LINK_TIMEOUT.into(),
            daemon: None,
            earlier_logs: Vec::new(),
            extra_args: extra,
            wrapper: Vec::new(),
        };
        node.run_daemon();
        node
    }

    fn run_daemon(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(qnetd_path());
                c
            }
            None => Command::new(qnetd_path()),
        };
        cmd.arg("--node")
            .arg(&self.name)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--certs")
            .arg(&self.certs)
            .arg("--link-timeout")
            .arg(&self.link_timeout);
        // `--log` among the extra arguments replaces `info`.
        if !self.extra_args.iter().any(|a| a == "--log") {
            cmd.args(["--log", "info"]);
        }
        // `--max-message-size` among the extra arguments replaces the default [`MAX_MESSAGE`].
        if !self.extra_args.iter().any(|a| a == "--max-message-size") {
            cmd.arg("--max-message-size").arg(MAX_MESSAGE.to_string());
        }
        for (n, a) in &self.peers {
            cmd.arg("--peer").arg(format!("{n}={a}"));
        }
        cmd.args(&self.extra_args);
        let d = Proc::spawn(format!("qnetd {}", self.name), cmd);
        let line = d
            .stderr
            .wait(|l| l.contains("qnetd listening"))
            .unwrap_or_else(|| panic!("qnetd {} did not start:\n{}", self.name, d.stderr.dump()));
        self.addr = line
            .split("listen=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {line:?}"));
        self.daemon = Some(d);
    }

    /// The running daemon's log (stderr) lines.
    pub fn log(&self) -> &Lines {
        &self.daemon.as_ref().expect("daemon running").stderr
    }

    /// Wait until this daemon has logged "node up" for `peer` at least `n` times.
    pub fn wait_node_up(&self, peer: &str, n: usize) {
        self.wait_log(n, "node up", peer);
    }

    /// Wait until this daemon has logged "node down" for `peer` at least `n` times.
    pub fn wait_node_down(&self, peer: &str, n: usize) {
        self.wait_log(n, "node down", peer);
    }

    /// Wait until this daemon has logged a line containing `what` for `peer` (a `peer=<peer>`
    /// field) at least `n` times.
    pub fn wait_log(&self, n: usize, what: &str, peer: &str) {
        let tag = format!("peer={peer}");
        let ok = self
            .log()
            .wait_count(n, |l| {
                l.contains(what) && l.split_whitespace().any(|w| w == tag)
            })
            .is_some();
        assert!(
            ok,
            "{}: no {what} #{n} for {peer}:\n{}",
            self.name,
            self.log().dump()
        );
    }

    /// How many times this daemon has logged "node up" for `peer`.
    pub fn node_up_count(&self, peer: &str) -> usize {
        let tag = format!("peer={peer}");
        self.daemon.as_ref().map_or(0, |d| {
            d.stderr
                .count(|l| l.contains("node up") && l.split_whitespace().any(|w| w == tag))
        })
    }

    /// Is `peer` up at this node (`qnet nodes`)?
    pub fn sees_up(&self, peer: &str) -> bool {
        crate::admin_nodes(&self.socket)
            .peers
            .iter()
            .any(|p| p.name == peer && p.up)
    }

    /// The running daemon's process id (0 if it is not running).
    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().map_or(0, Proc::pid)
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
            self.earlier_logs.push(d.stderr.dump());
        }
    }

    /// Is the daemon running?
    pub fn is_up(&self) -> bool {
        self.daemon.is_some()
    }

    /// A command for `program` with this node's socket in `QNET_SOCKET`.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("QNET_SOCKET", &self.socket);
        cmd
    }

    /// Run `program` with `args` against this node.
    pub fn spawn(&self, program: &Path, args: &[&str]) -> Proc {
        let mut cmd = self.command(program);
        cmd.args(args);
        let name = program
            .file_name()
            .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned());
        Proc::spawn(format!("{name} {args:?} on {}", self.name), cmd)
    }

    /// Run the `qnet` example `name` with `args` against this node.
    pub fn spawn_example(&self, name: &str, args: &[&str]) -> Proc {
        self.spawn(&example_path(name), args)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Several nodes on one machine. Dropping it kills every daemon.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<Node>,
    /// The relay between `n1` and `n2` for [`Cluster::start_relayed`].
    pub relay: Option<Relay>,
    certs: Certs,
    dir: tempfile::TempDir,
    /// The network namespace of [`Cluster::start_in_netns`] (deleted after the daemons).
    _netns: Option<Netns>,
}

/// A network namespace of this test process, deleted on drop.
struct Netns(String);

impl Netns {
    /// A new namespace with loopback up and multicast on it (so mDNS works there, on
    /// loopback only: nothing leaves this host).
    fn new() -> Result<Netns, String> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "qnet-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| format!("ip {args:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ip(&["netns", "add", &name])?;
        let ns = Netns(name);
        ip(&["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"])?;
        ip(&[
            "netns",
            "exec",
            &ns.0,
            "ip",
            "link",
            "set",
            "lo",
            "multicast",
            "on",
        ])?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

impl Cluster {
    /// One daemon per name; node *i* dials every node before it, so every pair is linked.
    /// Returns once every daemon has logged "node up" for every other node.
    pub fn start(names: &[&str]) -> Cluster {
        Self::start_with_args(names, &[])
    }

    /// [`Cluster::start`], with more `qnetd` arguments for some nodes: `(name, args)`
    /// (`--max-message-size N` among them replaces the default [`MAX_MESSAGE`]).
    pub fn start_with_args(names: &[&str], daemon_args: &[(&str, &[&str])]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        let mut nodes: Vec<Node> = Vec::new();
        for name in names {
            let peers = nodes.iter().map(|n| (n.name.clone(), n.addr)).collect();
            let extra = daemon_args
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, args)| args.iter().map(|a| (*a).to_owned()))
                .collect();
            nodes.push(Node::start_with_args(
                dir.path(),
                certs.dir(),
                name,
                peers,
                extra,
            ));
        }
        let c = Cluster {
            nodes,
            relay: None,
            certs,
            dir,
            _netns: None,
        };
        for a in &c.nodes {
            for b in &c.nodes {
                if a.name != b.name {
                    a.wait_node_up(&b.name, 1);
                }
            }
        }
        c
    }

    /// `n1` and `n2` with a [`Relay`] in between: `n2` accepts only (no peer entry), `n1`
    /// dials `n2` at the relay's address. Returns once both see the link up.
    pub fn start_relayed() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), &["n1", "n2"]).expect("certificates");
        let n2 = Node::start(dir.path(), certs.dir(), "n2", 0, Vec::new(), LINK_TIMEOUT);
        let relay = Relay::start(n2.addr).expect("relay");
        let n1 = Node::start(
            dir.path(),
            certs.dir(),
            "n1",
            0,
            vec![("n2".into(), relay.addr())],
            LINK_TIMEOUT,
        );
        n1.wait_node_up("n2", 1);
        n2.wait_node_up("n1", 1);
        Cluster {
            nodes: vec![n1, n2],
            relay: Some(relay),
            certs,
            dir,
            _netns: None,
        }
    }

    /// Nodes that all `--peer` each other, with `--link-timeout link_timeout`, on UDP ports
    /// reserved before any of them starts (each must know the others' addresses). Each pair
    /// ends up with two connections, one dialled by each side: returns once every daemon has
    /// logged "node up" and "peer link added" for every other node. With `relayed`, `n1`
    /// dials `n2` through a [`Relay`] (so a test can cut that one connection) while `n2`
    /// dials `n1` directly.
    pub fn start_mutual(names: &[&str], link_timeout: &str, relayed: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        // All reserved at once so they differ, then freed for the daemons to bind.
        let reserved: Vec<UdpSocket> = names
            .iter()
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("reserving a UDP port"))
            .collect();
        let addrs: Vec<SocketAddr> = reserved
            .iter()
            .map(|s| s.local_addr().expect("local_addr"))
            .collect();
        drop(reserved);
        let addr_of = |name: &str| addrs[names.iter().position(|n| *n == name).expect(name)];
        let relay = relayed.then(|| Relay::start(addr_of("n2")).expect("relay"));
        let mut nodes = Vec::new();
        for name in names {
            let peers = names
                .iter()
                .filter(|n| *n != name)
                .map(|n| match &relay {
                    Some(r) if (*name, *n) == ("n1", "n2") => (n.to_string(), r.addr()),
                    _ => (n.to_string(), addr_of(n)),
                })
                .collect();
            let port = addr_of(name).port();
            nodes.push(Node::start(
                dir.path(),
                certs.dir(),
                name,
                port,
                peers,
                link_timeout,
            ));
        }
        for a in &nodes {
            for b in &nodes {
                if a.name != b.name {
                    a.wait_node_up(&b.name, 1);
                    a.wait_log(1, "peer link added", &b.name);
                }
            }
        }
        Cluster {
            nodes,
            relay,
            certs,
            dir,
            _netns: None,
        }
    }

    /// Nodes given only `--seed` (the first node's address) and `extra` arguments; the first
    /// has neither peers nor seeds. Returns once every daemon has logged "node up" for every
    /// other: the mesh was made by discovery.
    pub fn start_seeded(names: &[&str], extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        let mut nodes: Vec<Node> = Vec::new();
        for name in names {
            let mut args = extra.clone();
            if let Some(first) = nodes.first() {
                args.extend(["--seed".to_owned(), first.addr.to_string()]);
            }
            nodes.push(Node::start_with_args(
                dir.path(),
                certs.dir(),
                name,
                Vec::new(),
                args,
            ));
        }
        let c = Cluster {
            nodes,
            relay: None,
            certs,
            dir,
            _netns: None,
        };
        c.wait_mesh();
        c
    }

    /// Nodes on UDP ports reserved before any starts, each with the arguments `args` gives
    /// for its name and every node's address (e.g. `--seed` for each other node); returns
    /// once every daemon has logged "node up" for every other.
    pub fn start_reserved(
        names: &[&str],
        args: impl Fn(&str, &[(String, SocketAddr)]) -> Vec<String>,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        let reserved: Vec<UdpSocket> = names
            .iter()
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("reserving a UDP port"))
            .collect();
        let addrs: Vec<(String, SocketAddr)> = names
            .iter()
            .zip(&reserved)
            .map(|(n, s)| ((*n).to_owned(), s.local_addr().expect("local_addr")))
            .collect();
        drop(reserved);
        let nodes = addrs
            .iter()
            .map(|(name, addr)| {
                let mut node = Node {
                    name: name.clone(),
                    socket: dir.path().join(format!("{name}.sock")),
                    addr: *addr,
                    certs: certs.dir().to_path_buf(),
                    peers: Vec::new(),
                    link_timeout: LINK_TIMEOUT.into(),
                    daemon: None,
                    earlier_logs: Vec::new(),
                    extra_args: args(name, &addrs),
                    wrapper: Vec::new(),
                };
                node.run_daemon();
                node
            })
            .collect();
        let c = Cluster {
            nodes,
            relay: None,
            certs,
            dir,
            _netns: None,
        };
        c.wait_mesh();
        c
    }

    /// Nodes in a network namespace of their own (`ip netns`, root only), on its loopback
    /// with multicast on, each with `extra` arguments and no peers or seeds; with `others`
    /// (`(name, CA directory)`), more nodes there of another CA. Returns once they listen, or
    /// why no namespace could be made. Clients reach them through their Unix sockets as
    /// usual.
    pub fn start_in_netns(
        names: &[&str],
        others: &[(&str, &Path)],
        extra: &[&str],
    ) -> Result<Cluster, String> {
        let netns = Netns::new()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::new(&dir.path().join("certs"), names).expect("certificates");
        let nodes = names
            .iter()
            .map(|n| (*n, certs.dir()))
            .chain(others.iter().copied())
            .map(|(name, ca)| {
                let mut node = Node {
                    name: name.into(),
                    socket: dir.path().join(format!("{name}.sock")),
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    certs: ca.to_path_buf(),
                    peers: Vec::new(),
                    link_timeout: LINK_TIMEOUT.into(),
                    daemon: None,
                    earlier_logs: Vec::new(),
                    extra_args: extra.iter().map(|a| (*a).to_owned()).collect(),
                    wrapper: ["ip", "netns", "exec", &netns.0]
                        .map(str::to_owned)
                        .to_vec(),
                };
                node.run_daemon();
                node
            })
            .collect();
        Ok(Cluster {
            nodes,
            relay: None,
            certs,
            dir,
            _netns: Some(netns),
        })
    }

    /// Wait until every running node has logged "node up" for every other running node.
    pub fn wait_mesh(&self) {
        for a in self.nodes.iter().filter(|n| n.is_up()) {
            for b in self.nodes.iter().filter(|n| n.is_up()) {
                if a.name != b.name {
                    a.wait_node_up(&b.name, 1);
                }
            }
        }
    }

    /// Start one more node `name` on 127.0.0.1 (any port) with `extra` arguments and no
    /// peers: with a certificate of the cluster's CA (issued now), or with the CA and
    /// certificates in `certs` (another cluster's). Returns once it listens.
    pub fn add_node(&mut self, name: &str, certs: Option<&Path>, extra: &[&str]) -> &Node {
        let dir = match certs {
            Some(d) => d.to_path_buf(),
            None => {
                self.certs.issue(name).expect("issuing a certificate");
                self.certs.dir().to_path_buf()
            }
        };
        let node = Node::start_with_args(
            self.dir.path(),
            &dir,
            name,
            Vec::new(),
            extra.iter().map(|a| (*a).to_owned()).collect(),
        );
        self.nodes.push(node);
        self.nodes.last().expect("just added")
    }

    /// Start `name`'s (killed) daemon again listening on `addr` (another IP or port than
    /// before, same name, certificate and arguments); returns once it listens.
    pub fn relaunch_at(&mut self, name: &str, addr: SocketAddr) {
        let node = self.node_mut(name);
        assert!(!node.is_up(), "{name} is running");
        node.addr = addr;
        node.run_daemon();
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// SIGKILL `name`'s daemon.
    pub fn kill(&mut self, name: &str) {
        self.node_mut(name).kill();
    }

    /// Start `name`'s daemon again (same name, certificate, address and peers) and wait
    /// until it and every other running node see each other up again.
    pub fn restart(&mut self, name: &str) {
        let before: Vec<(String, usize)> = self
            .nodes
            .iter()
            .filter(|n| n.name != name && n.is_up())
            .map(|n| (n.name.clone(), n.node_up_count(name)))
            .collect();
        self.relaunch(name);
        for (other, count) in before {
            self.node(&other).wait_node_up(name, count + 1);
            self.node(name).wait_node_up(&other, 1);
        }
    }

    /// Start `name`'s daemon again (same name, certificate, address, peers and link
    /// timeout); returns once it listens, without waiting for any link.
    pub fn relaunch(&mut self, name: &str) {
        let node = self.node_mut(name);
        assert!(!node.is_up(), "{name} is running");
        node.run_daemon();
    }

    /// The certificate directory.
    pub fn certs(&self) -> &Path {
        self.certs.dir()
    }

    /// The temporary directory holding sockets and certificates.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
