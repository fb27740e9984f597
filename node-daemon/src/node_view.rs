//! This node as `qnet pidin`, `channels`, `connections`, `names` and `paths` show it: a
//! [`NodeView`] built from [`qnet_core::Kernel::snapshot`] under the driver's lock, the
//! driver's thread sessions (a thread with a session that is not blocked is READY), and what
//! the direct path's pairs say (calls the kernel does not see). Asked for by a local ADMIN
//! session (`local::admin`), by another node over an admin stream (`peer::admin`), and by the
//! metrics (without the /proc reads). Nothing here changes the kernel.

use std::collections::BTreeMap;

use qnet_core::{
    ConnectionTarget, Kernel, Nd, ProcessKey, ProcessSnapshot, ThreadKey, ThreadSnapshot,
    ThreadState,
};
use qnet_proto::local::{self, NodeView};

use crate::driver::{DirectStates, Driver};

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
fn merge_direct(view: &mut NodeView, direct: DirectStates) {
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
