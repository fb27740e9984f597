//! `qnet`: QNX Neutrino native message passing for Linux, through the local `qnetd`.
//!
//! Two layers over the same calls:
//! - [`neutrino`]: the QNX-shaped calls with raw ids (`msg_send`, `msg_receive`, `msg_reply`,
//!   `channel_create`, `name_attach`, `timer_timeout`, …), for code that reads like the course;
//! - idiomatic types: [`Channel`], [`Connection`], [`Message`] (an answer obligation),
//!   [`NameAttachment`]; plus [`shm`] for shared memory.
//!
//! Every call blocks only the calling OS thread, as in QNX. Each thread that makes calls gets
//! its own session (a Unix socket to `qnetd`, opened on first use, closed when the thread
//! exits); a process session is opened before the first one and held for the process
//! lifetime. The socket is `$QNET_SOCKET` if set, else the first of `/run/qnet/qnetd.sock`
//! (the system daemon's) and `/tmp/qnetd.sock` that answers, unless [`set_socket_path`] says
//! otherwise. If the daemon is gone, calls fail with `EIO`
//! ([`Error::Daemon`]) naming the socket, and a later call tries to connect again.
//!
//! Other nodes: the local daemon forwards calls to the node a connection leads to. Name a
//! channel on another node by node descriptor (`connect_attach(nd, pid, chid)`, with
//! [`netmgr_strtond`] / [`netmgr_ndtostr`] mapping names and nds), by the string form
//! `node/pid/chid` ([`parse_target`], [`Connection::attach_target`]), or by `node/name`
//! ([`neutrino::name_open`]). `QNET_NODE=n2` in the environment makes node 0 and bare names
//! mean node `n2`, for programs that hard-code them (as in the C library). Shared memory stays
//! on its node (`ENOREMOTE`).
//!
//! Priority ([`neutrino::set_priority`], default 10) is carried with every send and pulse,
//! orders receive queues and is reported to servers; it also schedules: a thread's OS priority
//! follows its own priority and, on channels without `_NTO_CHF_FIXED_PRIORITY`, the priority
//! of what it receives ([`sched`] has the table and the modes).

mod channel;
mod connection;
mod direct;
mod error;
mod message;
mod name;
pub mod neutrino;
pub mod sched;
mod session;
pub mod shm;
mod spin;

pub use channel::{Channel, Received};
pub use connection::{Connection, SendTimeout};
pub use direct::{DIRECT_ENV, direct, scribble as direct_scribble};
/// For libqnetc's `pthread_cancel` and cancellation points (see `direct::CANCELLED`).
#[doc(hidden)]
pub use direct::{cancellable_call_begin, cancellable_call_end, pthread_cancelled};
pub use error::{Error, Result};
pub use message::Message;
pub use name::NameAttachment;
pub use neutrino::{netmgr_ndtostr, netmgr_strtond, parse_target, priority, set_priority};
pub use qnet_core::{
    ChannelFlags, Chid, ClientInfo, Coid, Errno, EventId, MsgInfo, MsgInfoFlags, Nd, PULSE_SIZE,
    Pid, Priority, Pulse, PulseCode, PulseEvent, Rcvid, Scoid, Tid, TimeoutStates,
};
/// For libqnetc's wrapped signal handlers: a signal unblocks a blocked call, as on QNX
/// (see `qnet_direct::signals`).
#[doc(hidden)]
pub use qnet_direct::signals::{handled as signal_handled, set_wrapped as signals_wrapped};
pub use session::{
    ONE_COPY_ENV, forget_inherited_sessions, gettid, local_node, one_copy, set_socket_path,
    socket_path,
};
