//! Introspection on the Unix socket: ADMIN sessions (`qnet pidin`, `channels`, `connections`,
//! `names`, `nodes`, `ping`).
//!
//! After the hello, an ADMIN session carries `AdminRequest` frames, each answered by one
//! `AdminResponse` (see `local.proto`'s header). Whoever may connect to the socket may ask;
//! nothing here changes the kernel. A snapshot of this node is built from
//! [`qnet_core::Kernel::snapshot`] plus the driver's thread sessions (a thread with a session
//! that is not blocked is READY); another node's comes over the peer link
//! (`peer::admin`), and `all` gathers this node and every node that is up.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use qnet_core::{
    ConnectionTarget, Errno, Kernel, Nd, ProcessKey, ProcessSnapshot, ThreadKey, ThreadSnapshot,
    ThreadState,
};
use qnet_proto::frame::encode_frame;
use qnet_proto::local::{
    self, AdminRequest, AdminResponse, NodeView, admin_request, admin_response,
};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::frames::FrameReader;
use super::session::{SessionContext, SessionError};
use crate::driver::Driver;
use crate::peer::{Peers, cert_not_after};

/// Largest admin request; requests are a few bytes.
const MAX_REQUEST_LEN: usize = 4096;

/// The node spec meaning "this node and every node that is up".
pub const ALL_NODES: &str = "all";

/// Serve an ADMIN session (hello done) until the client closes it.
pub(crate) async fn session(
    stream: &mut UnixStream,
    ctx: &SessionContext,
) -> Result<(), SessionError> {
    let mut incoming = FrameReader::new(MAX_REQUEST_LEN);
    let mut out = BytesMut::new();
    while let Some(request) = incoming.read::<AdminRequest>(stream).await? {
        let response = handle(ctx, request).await;
        out.clear();
        encode_frame(&response, &mut out);
        stream.write_all(&out).await?;
    }
    Ok(())
}

fn error(errno: Errno, detail: String) -> AdminResponse {
    AdminResponse {
        result: Some(admin_response::Result::Error(local::Error {
            errno: errno.0,
            detail,
        })),
    }
}

/// Answer one admin request.
pub(crate) async fn handle(ctx: &SessionContext, request: AdminRequest) -> AdminResponse {
    let (driver, peers) = (&ctx.driver, ctx.peers.as_ref());
    tracing::debug!(query = ?request.query, "admin request");
    let result = match request.query {
        None => return error(Errno::EINVAL, "empty admin request".into()),
        Some(admin_request::Query::Snapshot(q)) => {
            admin_response::Result::Views(snapshot(driver, peers, &q.node).await)
        }
        Some(admin_request::Query::Nodes(_)) => admin_response::Result::Peers(peer_list(ctx)),
        Some(admin_request::Query::Ping(q)) => match ping(driver, peers, &q.node, q.seq).await {
            Ok(pong) => admin_response::Result::Pong(pong),
            Err((errno, detail)) => return error(errno, detail),
        },
    };
    AdminResponse {
        result: Some(result),
    }
}

/// The nd of node `name` if it is a peer that is up; otherwise the error a call would get.
fn up_peer(driver: &Driver, name: &str) -> Result<Nd, (Errno, String)> {
    driver.inspect(|kernel, _| match kernel.node_nd(name) {
        None => Err((Errno::EHOSTUNREACH, format!("no node named {name:?}"))),
        Some(nd) if kernel.nodes().any(|(n, _, up)| n == nd && up) => Ok(nd),
        Some(_) => Err((Errno::EHOSTDOWN, format!("node {name:?} is down"))),
    })
}

/// Views of `node`: "" or this node's name (this node), a peer's name, or [`ALL_NODES`].
async fn snapshot(driver: &Driver, peers: Option<&Arc<Peers>>, node: &str) -> local::NodeViews {
    let mut views = local::NodeViews::default();
    let (local_name, up): (String, Vec<(Nd, String)>) = driver.inspect(|kernel, _| {
        let up = kernel
            .nodes()
            .filter(|(_, _, up)| *up)
            .map(|(nd, name, _)| (nd, name.to_owned()))
            .collect();
        (kernel.node_name(0).unwrap_or_default().to_owned(), up)
    });
    let targets: Vec<(Nd, String)> = if node == ALL_NODES {
        views.views.push(node_view(driver));
        up
    } else if node.is_empty() || node == local_name {
        views.views.push(node_view(driver));
        Vec::new()
    } else {
        match up_peer(driver, node) {
            Ok(nd) => vec![(nd, node.to_owned())],
            Err((_, detail)) => {
                views.errors.push(local::NodeError {
                    node: node.to_owned(),
                    error: detail,
                });
                return views;
            }
        }
    };
    let Some(peers) = peers else {
        for (_, name) in targets {
            views.errors.push(local::NodeError {
                node: name,
                error: "this daemon has no peer endpoint".into(),
            });
        }
        return views;
    };
    let mut fetches = tokio::task::JoinSet::new();
    for (nd, name) in targets {
        let peers: Arc<Peers> = peers.clone();
        fetches.spawn(async move { (name, peers.fetch_view(nd).await) });
    }
    while let Some(done) = fetches.join_next().await {
        match done {
            Ok((_, Ok(view))) => views.views.push(view),
            Ok((name, Err(e))) => views.errors.push(local::NodeError {
                node: name,
                error: e.to_string(),
            }),
            Err(e) => tracing::warn!(error = %e, "admin fetch task failed"),
        }
    }
    // This node first, then peers by name: stable output.
    if node == ALL_NODES {
        if let Some(peer_views) = views.views.get_mut(1..) {
            peer_views.sort_by(|a, b| a.node.cmp(&b.node));
        }
    }
    views.errors.sort_by(|a, b| a.node.cmp(&b.node));
    views
}

/// This node's name and its peers with their links: every node the kernel numbers, then
/// the names only announced (by a member directory or mDNS), which have no nd.
pub(crate) fn peer_views(driver: &Driver, peers: Option<&Peers>) -> (String, Vec<local::PeerView>) {
    let (node, nodes): (String, Vec<(Nd, String, bool)>) = driver.inspect(|kernel, _| {
        (
            kernel.node_name(0).unwrap_or_default().to_owned(),
            kernel
                .nodes()
                .map(|(nd, name, up)| (nd, name.to_owned(), up))
                .collect(),
        )
    });
    let mut members: BTreeMap<String, crate::peer::members::MemberView> = peers
        .map(|p| {
            p.discovery
                .members()
                .views()
                .into_iter()
                .map(|v| (v.name.to_string(), v))
                .collect()
        })
        .unwrap_or_default();
    let unix = |t: std::time::SystemTime| {
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(secs.as_secs()).unwrap_or(i64::MAX)
    };
    let member_fields = |view: &mut local::PeerView, m: crate::peer::members::MemberView| {
        view.configured_addr = m.configured.unwrap_or_default();
        view.last_error = m.last_error;
        view.last_seen = m.last_seen.map(unix);
        view.learnt = m.learnt.iter().map(|l| (*l).to_owned()).collect();
        view.candidates = m.addrs.iter().map(ToString::to_string).collect();
        view.incarnation = m.incarnation;
        view.unverified = !m.verified;
    };
    let mut views: Vec<local::PeerView> = nodes
        .into_iter()
        .map(|(nd, name, up)| {
            let mut view = local::PeerView {
                name,
                nd,
                up,
                ..Default::default()
            };
            if let Some(node) = peers.map(|p| p.node(nd)) {
                view.frame_budget = Some(frame_budget(node.budget_stats()));
            }
            if let Some(m) = members.remove(&view.name) {
                member_fields(&mut view, m);
            }
            if let Some(info) = peers.and_then(|p| p.link_info(nd)) {
                view.links = info.links;
                view.rtt_us = Some(u64::try_from(info.rtt.as_micros()).unwrap_or(u64::MAX));
                view.addr = info.addr;
                view.cert_node = info.cert_node;
                view.cert_not_after = info.cert_not_after;
                view.stream_window = info.stream_window;
                view.bytes_sent = info.bytes_sent;
                view.bytes_received = info.bytes_received;
            }
            view
        })
        .collect();
    for (name, m) in members {
        let mut view = local::PeerView {
            name,
            ..Default::default()
        };
        member_fields(&mut view, m);
        views.push(view);
    }
    (node, views)
}

/// This node's peers with their links, and its seeds.
fn peer_list(ctx: &SessionContext) -> local::PeerList {
    let table = ctx.peers.as_deref();
    let (node, peers) = peer_views(&ctx.driver, table);
    let discovery = table.map(|p| p.discovery.clone());
    let (seeds, members_refused) = discovery.map_or_else(Default::default, |d| {
        let m = d.members();
        let seeds = m
            .seed_views()
            .into_iter()
            .map(|(seed, status, nodes)| local::SeedView {
                seed,
                addrs: status.addrs.iter().map(ToString::to_string).collect(),
                nodes: nodes.iter().map(ToString::to_string).collect(),
                last_error: status.last_error,
            })
            .collect();
        (seeds, m.refused())
    });
    local::PeerList {
        node,
        cert_not_after: ctx.cert_not_after,
        peers,
        frame_budget: table.map(|p| frame_budget(p.total_budget_stats())),
        seeds,
        members_refused,
        tables: Some(tables(&ctx.driver, table)),
    }
}

/// How many records this daemon keeps, table by table (`qnet nodes`).
fn tables(driver: &Driver, peers: Option<&Peers>) -> local::Tables {
    let (r, thread_sessions, remote_routes, process_sessions) = driver.tables();
    let (calls, links) = peers.map_or((0, 0), Peers::tables);
    let n = |v: usize| v as u64;
    local::Tables {
        processes: n(r.processes),
        remote_processes: n(r.remote_processes),
        blocked: n(r.blocked),
        deadlines: n(r.deadlines),
        messages: n(r.messages),
        channels: n(r.channels),
        connections: n(r.connections),
        remote_connections: n(r.remote_connections),
        scoids: n(r.scoids),
        names: n(r.names),
        events: n(r.events),
        remote_events: n(r.remote_events),
        served: n(r.served),
        forwarded: n(r.forwarded),
        exited: n(r.exited),
        inherited: n(r.inherited),
        thread_sessions: n(thread_sessions),
        remote_routes: n(remote_routes),
        process_sessions: n(process_sessions),
        calls_in_flight: n(calls),
        links: n(links),
    }
}

fn frame_budget(s: crate::peer::BudgetStats) -> local::FrameBudget {
    local::FrameBudget {
        used: s.used,
        peak: s.peak,
        limit: s.limit,
        refused: s.refused,
        timed_out: s.timed_out,
    }
}

async fn ping(
    driver: &Driver,
    peers: Option<&Arc<Peers>>,
    node: &str,
    seq: u64,
) -> Result<local::PingResult, (Errno, String)> {
    // This node answers itself (as QNX's ping of the local host does): the round trip is one
    // pass through its kernel, no link involved.
    let start = std::time::Instant::now();
    if driver.inspect(|kernel, _| kernel.node_name(0) == Some(node)) {
        return Ok(local::PingResult {
            node: node.to_owned(),
            seq,
            rtt_ns: u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
        });
    }
    let nd = up_peer(driver, node)?;
    let peers = peers.ok_or((
        Errno::EHOSTUNREACH,
        "this daemon has no peer endpoint".into(),
    ))?;
    let rtt = peers
        .ping(nd, seq)
        .await
        .map_err(|e| (Errno::EHOSTDOWN, format!("ping {node}: {e}")))?;
    Ok(local::PingResult {
        node: node.to_owned(),
        seq,
        rtt_ns: u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX),
    })
}

/// The expiry of this node's certificate `DIR/NODE.pem`, unix seconds.
pub(crate) fn own_cert_not_after(certs: &Path, node: &str) -> Option<i64> {
    let pem = std::fs::read(certs.join(format!("{node}.pem"))).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    cert_not_after(&pem.contents)
}

/// The expiry of the cluster CA's certificate `DIR/ca.pem`, unix seconds.
pub(crate) fn ca_cert_not_after(certs: &Path) -> Option<i64> {
    let pem = std::fs::read(certs.join("ca.pem")).ok()?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    cert_not_after(&pem.contents)
}

/// This node's kernel state as a [`NodeView`].
pub(crate) fn node_view(driver: &Driver) -> NodeView {
    let mut view = driver.inspect(build_view);
    merge_direct(&mut view, driver.direct_states());
    // Outside the kernel lock: a few small /proc reads per process.
    for p in view.processes.iter_mut().filter(|p| p.nd == 0) {
        p.name = process_name(p.pid);
        for t in &mut p.threads {
            t.sched = crate::sched::thread_sched_text(p.pid, t.tid);
        }
    }
    view
}

/// This node's kernel state without process names (no /proc reads: for `--metrics`).
pub(crate) fn kernel_view(driver: &Driver) -> NodeView {
    let mut view = driver.inspect(build_view);
    merge_direct(&mut view, driver.direct_states());
    view
}

/// Add what the direct path knows to a view: a client thread with a direct call in progress
/// is SEND- or REPLY-blocked on its server's channel (the channel counts its queued
/// messages), a server thread asleep in a direct receive is RECEIVE-blocked. The kernel does
/// not see these calls; the daemon reads them from the pairs it made.
fn merge_direct(view: &mut NodeView, direct: super::direct::DirectStates) {
    let node = view.node.clone();
    let process = |view: &mut NodeView, pid: u32| -> usize {
        match view
            .processes
            .iter()
            .position(|p| p.nd == 0 && p.pid == pid)
        {
            Some(i) => i,
            None => {
                view.processes.push(local::ProcessView {
                    node: node.clone(),
                    pid,
                    ..Default::default()
                });
                view.processes.len() - 1
            }
        }
    };
    let set = |view: &mut NodeView, pid: u32, t: local::ThreadView| {
        let i = process(view, pid);
        let threads = &mut view.processes[i].threads;
        match threads.iter_mut().find(|x| x.tid == t.tid) {
            Some(x) if x.state == local::ThreadState::Ready as i32 => *x = t,
            Some(_) => {}
            None => threads.push(t),
        }
    };
    for (client, server, chid, b) in direct.blocked {
        let state = if b.received {
            local::ThreadState::Reply
        } else {
            local::ThreadState::Send
        };
        let t = local::ThreadView {
            tid: b.tid,
            state: state as i32,
            coid: b.coid,
            target: Some(local::Target {
                node: view.node.clone(),
                nd: 0,
                pid: server,
                chid,
            }),
            rcvid: if b.received { i64::from(b.rcvid) } else { 0 },
            priority: Some(b.priority.min(255)),
            ..Default::default()
        };
        set(view, client, t);
        if !b.received {
            let i = process(view, server);
            if let Some(c) = view.processes[i]
                .channels
                .iter_mut()
                .find(|c| c.chid == chid)
            {
                c.queued_messages += 1;
            }
        }
    }
    for (server, chid, cell) in direct.receiving {
        let inherited = cell & qnet_direct::views::CELL_INHERITED != 0;
        let t = local::ThreadView {
            tid: cell & !qnet_direct::views::CELL_INHERITED,
            state: local::ThreadState::Receive as i32,
            chid,
            inherited,
            ..Default::default()
        };
        set(view, server, t);
        let i = process(view, server);
        if let Some(c) = view.processes[i]
            .channels
            .iter_mut()
            .find(|c| c.chid == chid)
        {
            c.receivers += 1;
        }
    }
    for p in &mut view.processes {
        p.threads.sort_by_key(|t| t.tid);
    }
}

/// The process's command name (`/proc/<pid>/comm`, as `ps` shows it); empty if it cannot be
/// read (gone, or hidden from the daemon's user by `hidepid`/`ProtectProc`).
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_default()
}

fn build_view(kernel: &Kernel, sessions: &mut dyn Iterator<Item = ThreadKey>) -> NodeView {
    let name = |nd: Nd| kernel.node_name(nd).unwrap_or_default().to_owned();
    let snap = kernel.snapshot();
    let mut processes: BTreeMap<ProcessKey, local::ProcessView> = snap
        .processes
        .iter()
        .map(|p| (p.process, process_view(p, &name)))
        .collect();
    // Threads with a session that are not blocked are READY.
    for thread in sessions {
        if kernel.thread_state(thread).is_some() {
            continue;
        }
        let p = processes
            .entry(thread.process())
            .or_insert_with(|| local::ProcessView {
                node: name(0),
                pid: thread.pid,
                ..Default::default()
            });
        p.threads.push(local::ThreadView {
            tid: thread.tid,
            state: local::ThreadState::Ready as i32,
            ..Default::default()
        });
    }
    for p in processes.values_mut() {
        p.threads.sort_by_key(|t| t.tid);
        for t in p.threads.iter_mut().filter(|_| p.nd == 0) {
            let key = ThreadKey {
                nd: 0,
                pid: p.pid,
                tid: t.tid,
            };
            t.inherited = kernel.inherited_priority(key).is_some();
        }
    }
    NodeView {
        node: name(0),
        processes: processes.into_values().collect(),
        names: snap
            .names
            .iter()
            .map(|n| local::NameView {
                name: n.name.clone(),
                pid: n.owner.pid,
                chid: n.chid,
            })
            .collect(),
        paths: snap
            .paths
            .iter()
            .map(|p| local::PathView {
                id: p.id,
                path: p.path.clone(),
                pid: p.owner.pid,
                chid: p.chid,
                flags: p.flags.0,
                file_type: p.file_type,
            })
            .collect(),
        events: snap.events as u64,
        messages: snap.messages as u64,
        limits: Some({
            let l = &kernel.config().limits;
            local::Limits {
                channels: l.channels as u64,
                connections: l.connections as u64,
                names: l.names as u64,
                events: l.events as u64,
                message_bytes: l.message_bytes,
                queued_pulses: l.queued_pulses as u64,
            }
        }),
    }
}

fn target(name: &impl Fn(Nd) -> String, process: ProcessKey, chid: i32) -> local::Target {
    local::Target {
        node: name(process.nd),
        nd: process.nd,
        pid: process.pid,
        chid,
    }
}

fn thread_view(t: &ThreadSnapshot, name: &impl Fn(Nd) -> String) -> local::ThreadView {
    let mut v = local::ThreadView {
        tid: t.thread.tid,
        priority: t.priority.map(u32::from),
        ..Default::default()
    };
    match t.state {
        ThreadState::Send {
            coid,
            server,
            chid,
            rcvid,
        }
        | ThreadState::Reply {
            coid,
            server,
            chid,
            rcvid,
        } => {
            v.state = if matches!(t.state, ThreadState::Send { .. }) {
                local::ThreadState::Send
            } else {
                local::ThreadState::Reply
            } as i32;
            v.coid = coid;
            v.target = Some(target(name, server, chid));
            v.rcvid = rcvid;
        }
        ThreadState::Receive { chid } => {
            v.state = local::ThreadState::Receive as i32;
            v.chid = chid;
        }
        ThreadState::Net { nd } => {
            v.state = local::ThreadState::Net as i32;
            v.net_node = name(nd);
        }
    }
    v
}

fn process_view(p: &ProcessSnapshot, name: &impl Fn(Nd) -> String) -> local::ProcessView {
    local::ProcessView {
        node: name(p.process.nd),
        nd: p.process.nd,
        pid: p.process.pid,
        uid: p.cred.uid,
        gid: p.cred.gid,
        // Filled in by `node_view`, outside the kernel lock.
        name: String::new(),
        threads: p.threads.iter().map(|t| thread_view(t, name)).collect(),
        channels: p
            .channels
            .iter()
            .map(|c| local::ChannelView {
                chid: c.chid,
                flags: c.flags.0,
                queued_messages: c.queued_messages as u64,
                queued_pulses: c.queued_pulses as u64,
                receivers: c.receivers as u64,
                messages_total: c.messages_total,
                pulses_total: c.pulses_total,
            })
            .collect(),
        connections: p
            .connections
            .iter()
            .map(|c| match c.target {
                ConnectionTarget::Local {
                    server,
                    chid,
                    scoid,
                } => local::ConnectionView {
                    coid: c.coid,
                    target: Some(target(name, server, chid)),
                    scoid: Some(scoid),
                    remote_coid: None,
                    dead: c.dead,
                },
                ConnectionTarget::Remote {
                    nd,
                    pid,
                    chid,
                    remote_coid,
                } => local::ConnectionView {
                    coid: c.coid,
                    target: Some(local::Target {
                        node: name(nd),
                        nd,
                        pid: pid.unwrap_or(0),
                        chid: chid.unwrap_or(0),
                    }),
                    scoid: None,
                    remote_coid: Some(remote_coid),
                    dead: c.dead,
                },
            })
            .collect(),
        scoids: p
            .scoids
            .iter()
            .map(|s| local::ScoidView {
                scoid: s.scoid,
                node: name(s.client.nd),
                pid: s.client.pid,
                connections: s.connections,
            })
            .collect(),
        events: p.events as u64,
        limits_hit: p.limits_hit.iter().map(|l| l.name().to_owned()).collect(),
        names: p.names as u64,
        message_bytes: p.message_bytes,
    }
}

#[cfg(test)]
mod tests {
    use qnet_core::{Call, ChannelFlags, Credentials};
    use tokio::sync::mpsc;

    use super::*;

    #[test]
    fn view_shows_ready_and_blocked_threads() {
        let driver = Driver::new(qnet_core::Config::default());
        let (server, idle) = (ThreadKey::local(40, 1), ThreadKey::local(40, 2));
        for t in [server, idle] {
            driver
                .register_thread(
                    t,
                    Credentials { uid: 7, gid: 8 },
                    mpsc::unbounded_channel().0,
                )
                .unwrap();
        }
        let chid = match driver.call(
            server,
            Call::ChannelCreate {
                flags: ChannelFlags::UNBLOCK,
            },
        ) {
            Some(local::Response {
                result: Some(local::response::Result::Chid(c)),
            }) => c,
            other => panic!("{other:?}"),
        };
        let receive = Call::MsgReceive {
            chid,
            cap: 64,
            timeout: None,
        };
        assert!(driver.call(server, receive).is_none(), "blocks");
        let view = node_view(&driver);
        assert_eq!(view.node, "localhost");
        let [p] = &view.processes[..] else {
            panic!("{view:?}")
        };
        assert_eq!(
            (p.node.as_str(), p.pid, p.uid, p.gid),
            ("localhost", 40, 7, 8)
        );
        let states: Vec<(u32, i32, i32)> =
            p.threads.iter().map(|t| (t.tid, t.state, t.chid)).collect();
        assert_eq!(
            states,
            [
                (1, local::ThreadState::Receive as i32, chid),
                (2, local::ThreadState::Ready as i32, 0)
            ]
        );
        assert_eq!(p.channels[0].receivers, 1);
        assert_eq!(p.channels[0].flags, ChannelFlags::UNBLOCK.0);
        driver.unregister_thread(idle);
        let view = node_view(&driver);
        assert_eq!(
            view.processes[0].threads.len(),
            1,
            "a closed session is gone"
        );
    }
}
