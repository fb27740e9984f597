//! One-way notices from one node's kernel to another's, carried by the peer daemons.

use crate::ids::{Coid, EventId, Pid, Tid};

/// Something a node tells another node about, outside any call.
///
/// Pids, tids and coids are numbered by the node the notice is *about*, as that node's peer
/// sees them: the receiving daemon hands each notice to [`crate::Kernel::handle_notice`] with
/// the sending node's `nd` as the receiver numbers it, which maps it to an input:
/// - [`Notice::ThreadExit`] → [`crate::Kernel::handle_thread_exit`] of `ThreadKey { nd, pid, tid }`;
/// - [`Notice::ProcessExit`] → [`crate::Kernel::handle_process_exit`] of `ProcessKey { nd, pid }`;
/// - [`Notice::ConnectionDead`] → [`crate::Kernel::handle_remote_connection_dead`];
/// - [`Notice::DeliverEvent`] → [`crate::Kernel::handle_remote_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A thread of the sending node that forwarded calls to the receiving node is gone.
    ThreadExit {
        /// Its process, on the sending node.
        pid: Pid,
        /// The thread.
        tid: Tid,
        /// The seq of the call it was blocked in there, still in flight (0: none). If that
        /// call has not arrived, it is refused when it does.
        seq: u64,
    },
    /// A process of the sending node that had connections to (or made calls on) the
    /// receiving node is gone.
    ProcessExit {
        /// The process, on the sending node.
        pid: Pid,
        /// The sending node's next forwarded-call seq when the process exited: every call of
        /// the process was numbered below it, every later process's above (0: not said). A
        /// call of this pid numbered below it that arrives after this notice is refused.
        next_seq: u64,
    },
    /// The channel behind a connection of the receiver's process `pid` is gone on the sending
    /// node; `coid` is that connection as the sending node numbers it (the coid the receiver
    /// got back from its forwarded `ConnectAttach`/`name_open`).
    ConnectionDead {
        /// The client process, on the receiving node.
        pid: Pid,
        /// The connection, numbered by the sending (server) node.
        coid: Coid,
    },
    /// A server on the sending node delivers an event that a process of the receiving node
    /// registered with it.
    DeliverEvent {
        /// The registering client, on the receiving node.
        client_pid: Pid,
        /// The handle the server node returned from `MsgRegisterEvent`.
        event: EventId,
        /// The server's value (honoured only for updateable events).
        value: Option<i32>,
        /// The delivering server, on the sending node.
        server_pid: Pid,
    },
}
