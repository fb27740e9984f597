//! Connection ids as C programs see them: QNX's side-channel bit, and which number a
//! `ConnectDetach` means (a coid, or a scoid after a disconnect pulse). Also the
//! `QNET_NODE` setting (a qnet extension) that makes node 0 mean another node.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, OnceLock};

use qnet::{Coid, Errno, Nd, Rcvid, Scoid};

/// `_NTO_SIDE_CHANNEL`: the bit side-channel coids carry, so they never collide with file
/// descriptors or scoids.
pub const SIDE_CHANNEL: i32 = 0x4000_0000;

/// The environment setting that makes node 0 and bare names mean another node.
pub const NODE_ENV: &str = "QNET_NODE";

#[derive(Default)]
struct State {
    /// Plain coids handed out with the side-channel bit.
    side: HashSet<Coid>,
    /// scoids a disconnect pulse announced and no `ConnectDetach` released yet.
    disconnected: HashSet<Scoid>,
}

fn state() -> std::sync::MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The library's coid for a C coid (with or without the side-channel bit), or for a file
/// descriptor `open` got from a resource manager (`fdio.rs`: the fd is a coid, as on QNX).
pub(crate) fn plain(coid: i32) -> Coid {
    if coid & SIDE_CHANNEL != 0 {
        return coid & !SIDE_CHANNEL;
    }
    crate::fdio::coid_of_fd(coid).unwrap_or(coid)
}

/// The C coid for a library coid: with the side-channel bit if `side`.
pub(crate) fn to_c(coid: Coid, side: bool) -> i32 {
    if side {
        state().side.insert(coid);
        coid | SIDE_CHANNEL
    } else {
        coid
    }
}

/// How `ConnectDetach(id)` resolves `id`.
pub(crate) enum Detach {
    /// A connection of this process.
    Coid(Coid),
    /// A server connection announced by a disconnect pulse.
    Scoid(Scoid),
}

/// Resolve `ConnectDetach(id)`: a side-channel coid is a coid; otherwise a scoid that a
/// disconnect pulse announced (QNX's cleanup after `_PULSE_CODE_DISCONNECT`) is that scoid,
/// even if this process also has a coid with the same number; anything else is a coid.
pub(crate) fn detach_target(id: i32) -> Detach {
    let mut st = state();
    if id & SIDE_CHANNEL != 0 {
        let coid = plain(id);
        st.side.remove(&coid);
        return Detach::Coid(coid);
    }
    if st.disconnected.remove(&id) {
        Detach::Scoid(id)
    } else if let Some(coid) = crate::fdio::forget_fd(id) {
        // ConnectDetach of a manager's descriptor: the connection goes; the descriptor
        // number stays the program's until it closes it.
        Detach::Coid(coid)
    } else {
        Detach::Coid(id)
    }
}

/// A disconnect pulse announced `scoid`.
pub(crate) fn note_disconnect(scoid: Scoid) {
    state().disconnected.insert(scoid);
}

/// The value a COIDDEATH pulse shows: the coid as this program knows it.
pub(crate) fn coid_death_value(coid: Coid) -> i32 {
    if state().side.contains(&coid) {
        coid | SIDE_CHANNEL
    } else {
        coid
    }
}

/// The node `QNET_NODE` names, resolved once per process (`None` when unset or empty).
pub(crate) fn default_node_name() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| std::env::var(NODE_ENV).ok().filter(|s| !s.is_empty()))
        .as_deref()
}

/// The node descriptor node 0 means for `ConnectAttach` (0 unless `QNET_NODE` names another
/// node; `EHOSTUNREACH` if it names a node the daemon does not know).
pub(crate) fn default_nd() -> Result<Nd, Errno> {
    let Some(name) = default_node_name() else {
        return Ok(0);
    };
    match qnet::netmgr_strtond(name) {
        Ok(nd) => Ok(nd),
        Err(e) if e.errno() == Errno::ENOENT => {
            crate::tell_once(&format!(
                "{NODE_ENV}={name}: no node named {name:?} is known to qnetd (EHOSTUNREACH): \
                 give a node `qnet nodes` lists, or unset {NODE_ENV} for this node"
            ));
            Err(Errno::EHOSTUNREACH)
        }
        Err(e) => Err(crate::errno_of(e)),
    }
}

/// How many received messages' senders are remembered for `MsgDeliverEvent` of unregistered
/// events (servers deliver long after replying; the oldest are forgotten first).
const SENDERS_KEPT: usize = 64 * 1024;

#[derive(Default)]
struct Senders {
    by_rcvid: HashMap<Rcvid, (Scoid, Coid)>,
    order: VecDeque<Rcvid>,
}

fn senders() -> std::sync::MutexGuard<'static, Senders> {
    static S: OnceLock<Mutex<Senders>> = OnceLock::new();
    S.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// A message `rcvid` came from the client behind `scoid` through its connection `coid`.
pub(crate) fn note_sender(rcvid: Rcvid, scoid: Scoid, coid: Coid) {
    let mut s = senders();
    if s.by_rcvid.insert(rcvid, (scoid, coid)).is_none() {
        s.order.push_back(rcvid);
    }
    while s.order.len() > SENDERS_KEPT {
        if let Some(old) = s.order.pop_front() {
            s.by_rcvid.remove(&old);
        }
    }
}

/// The (scoid, client coid) of a message this process received.
pub(crate) fn sender(rcvid: Rcvid) -> Option<(Scoid, Coid)> {
    senders().by_rcvid.get(&rcvid).copied()
}
