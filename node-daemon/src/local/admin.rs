//! Introspection on the Unix socket: ADMIN sessions (`qnet pidin`, `channels`, `connections`,
//! `names`, `nodes`, `ping`).
//!
//! After the hello, an ADMIN session carries `AdminRequest` frames, each answered by one
//! `AdminResponse` (see `local.proto`'s header). Whoever may connect to the socket may ask;
//! nothing here changes the kernel. A snapshot of this node is its `node_view`; another
//! node's comes over the peer link (`peer::admin`, through the peer table the server handed
//! to the session context), and `all` gathers this node and every node that is up.

use std::sync::Arc;

use bytes::BytesMut;
use qnet_core::{Errno, Nd};
use qnet_proto::frame::encode_frame;
use qnet_proto::local::{self, AdminRequest, AdminResponse, admin_request, admin_response};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::frames::FrameReader;
use super::session::{SessionContext, SessionError};
use crate::driver::Driver;
use crate::node_view::node_view;
use crate::peer::{Peers, frame_budget, peer_views};

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
        if let Some(others) = views.views.get_mut(1..) {
            others.sort_by(|a, b| a.node.cmp(&b.node));
        }
    }
    views.errors.sort_by(|a, b| a.node.cmp(&b.node));
    views
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
