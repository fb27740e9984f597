//! One module per `qnet` subcommand; the introspection commands (`pidin`, `channels`,
//! `connections`, `names`, `nodes`, `ping`) share [`views`] and the table/JSON renderer in
//! [`render`].
//!
//! Each asks the local `qnetd` over an ADMIN session; views of other nodes come through it
//! (the daemon fetches them over the peer link). With several nodes' views at hand, a thread
//! the client node only knows as NET-blocked (its call went to another node) is shown with the
//! state the server node reports for it (SEND or REPLY, on which pid/chid, which rcvid), and
//! the server node's stand-ins for remote clients are not listed twice.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use qnet_proto::local::{AdminSnapshot, NodeViews, ProcessView, admin_request, admin_response};
use serde::Serialize;

use crate::admin_client::{AdminClient, socket};

pub mod cert;
pub mod channels;
pub mod connections;
pub mod docs;
pub mod names;
pub mod nodes;
pub mod paths;
pub mod pidin;
pub mod ping;
pub mod render;
pub mod soak;
pub mod top;

/// Options every introspection command takes.
#[derive(Debug, Args)]
pub struct Common {
    /// qnetd's socket (default: $QNET_SOCKET, else the first of /run/qnet/qnetd.sock and
    /// /tmp/qnetd.sock that answers).
    #[arg(long, env = qnet_proto::SOCKET_ENV)]
    socket: Option<PathBuf>,
    /// Print JSON (one document) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Which node(s) to describe.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node to describe: its name, or `all` for this node and every node that is up
    /// (default: this node).
    #[arg(short = 'n', long = "node", value_name = "NODE|all")]
    node: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub(crate) fn views(args: &NodeArgs) -> anyhow::Result<NodeViews> {
    let mut client = AdminClient::connect(&socket(args.common.socket.clone()))?;
    views_over(&mut client, args)
}

/// [`views`] over an admin session already open (`qnet top` asks every refresh).
pub(crate) fn views_over(client: &mut AdminClient, args: &NodeArgs) -> anyhow::Result<NodeViews> {
    let query = admin_request::Query::Snapshot(AdminSnapshot {
        node: args.node.clone().unwrap_or_default(),
    });
    match client.query(query)? {
        admin_response::Result::Views(v) => {
            for e in &v.errors {
                eprintln!("qnet: node {}: {}", e.node, e.error);
            }
            if v.views.is_empty() {
                bail!("no node could be described");
            }
            Ok(v)
        }
        other => bail!("unexpected answer {other:?}"),
    }
}

/// Where a SEND/REPLY-blocked thread's message went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Server node.
    pub node: String,
    /// Server pid (0: unknown).
    pub pid: u32,
    /// Server channel (0: unknown).
    pub chid: i32,
}

/// Whether `p` (in some node's view) stands for a process of another node.
pub(crate) fn is_remote(p: &ProcessView) -> bool {
    p.nd != 0
}

#[cfg(test)]
pub(crate) mod fixtures {
    use qnet_proto::local::{
        self, ChannelView, ConnectionView, NodeView, ProcessView, ThreadState, ThreadView,
    };

    pub fn thread(tid: u32, state: ThreadState) -> ThreadView {
        ThreadView {
            tid,
            state: state as i32,
            ..Default::default()
        }
    }

    /// n1: client pid 10 tid 1 NET-blocked towards n2, plus a READY thread; n2: server pid 20
    /// RECEIVE-blocked on chid 1... and REPLY-holding n1's client (stand-in nd 1).
    pub fn two_views() -> Vec<NodeView> {
        let mut net = thread(1, ThreadState::Net);
        net.net_node = "n2".into();
        let client = ProcessView {
            node: "n1".into(),
            nd: 0,
            pid: 10,
            threads: vec![net, thread(2, ThreadState::Ready)],
            connections: vec![ConnectionView {
                coid: 3,
                target: Some(local::Target {
                    node: "n2".into(),
                    nd: 1,
                    pid: 20,
                    chid: 0,
                }),
                scoid: None,
                remote_coid: Some(1),
                dead: false,
            }],
            ..Default::default()
        };
        let mut receive = thread(5, ThreadState::Receive);
        receive.chid = 1;
        let server = ProcessView {
            node: "n2".into(),
            nd: 0,
            pid: 20,
            threads: vec![receive],
            channels: vec![ChannelView {
                chid: 1,
                flags: 0x2 | 0x8,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut reply = thread(1, ThreadState::Reply);
        reply.target = Some(local::Target {
            node: "n2".into(),
            nd: 0,
            pid: 20,
            chid: 1,
        });
        reply.rcvid = 7;
        reply.coid = 1;
        reply.priority = Some(10);
        let stand_in = ProcessView {
            node: "n1".into(),
            nd: 1,
            pid: 10,
            threads: vec![reply],
            connections: vec![ConnectionView {
                coid: 1,
                target: Some(local::Target {
                    node: "n2".into(),
                    nd: 0,
                    pid: 20,
                    chid: 1,
                }),
                scoid: Some(1),
                remote_coid: None,
                dead: false,
            }],
            ..Default::default()
        };
        vec![
            NodeView {
                node: "n1".into(),
                processes: vec![client],
                ..Default::default()
            },
            NodeView {
                node: "n2".into(),
                processes: vec![stand_in, server],
                ..Default::default()
            },
        ]
    }
}
