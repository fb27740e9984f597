//! `qnet-core`: QNX Neutrino native message passing as a pure state machine.
//!
//! The [`Kernel`] owns every channel, connection, in-flight message, name and
//! registered event of one node. It performs no I/O, reads no clock and spawns
//! nothing: drivers feed it inputs (`handle_*`, each carrying `now`), drain its
//! outputs ([`Kernel::poll_output`]) and arm one timer ([`Kernel::poll_timeout`]).
//!
//! Threads are named by [`ThreadKey`] (`nd`, `pid`, `tid`); `nd == 0` is this
//! node. Remote clients appear to the server-side kernel as threads with the
//! `nd` of their node, so the same code serves local and remote senders. On the client's
//! node, calls naming another node are forwarded ([`Output::Forward`]) and finish when the
//! driver brings their result back; nodes tell each other about exits, dead channels and
//! event deliveries with [`Notice`]s.

mod call;
mod errno;
mod extents;
mod flags;
mod ids;
mod info;
mod kernel;
#[cfg(feature = "net")]
pub mod net;
pub mod node_name;
mod notice;
pub mod paths;
mod pulse;
pub mod sched;

pub use call::{Call, Completion, Received, Timeout};
pub use errno::Errno;
pub use extents::{Extent, Extents, ExtentsError};
pub use flags::{ChannelFlags, TimeoutStates};
pub use ids::{Chid, Coid, EventId, Nd, Pid, Priority, ProcessKey, Rcvid, Scoid, ThreadKey, Tid};
pub use info::{ClientInfo, Credentials, MsgInfo, MsgInfoFlags};
pub use kernel::{
    ChannelSnapshot, Config, ConnectionSnapshot, ConnectionTarget, DIRECT_SEND_GRACE, DirectHead,
    Kernel, Limit, LimitHit, Limits, NameSnapshot, Output, PathSnapshot, PriorityCause,
    PriorityChange, ProcessSnapshot, RCVID_MAX, Records, RemotePulse, ScoidSnapshot, Snapshot,
    ThreadSnapshot, ThreadState, Time,
};
pub use notice::Notice;
pub use pulse::{PULSE_SIZE, Pulse, PulseCode, PulseEvent};
