//! The local side of the daemon: what it does for the processes of this host, as [`peer`]
//! does for other nodes.
//!
//! - `session`: one Unix-socket session (SO_PEERCRED, the hello, then frames by session
//!   kind: THREAD calls for the driver, PROCESS liveness, SHM handles and direct-path
//!   segments with fd passing, ADMIN introspection), `SessionContext`;
//! - `frames`: the framing on those sockets (the one cancel-safe `FrameReader`, the `Writer`
//!   that sends a large payload after its frame in one vectored write);
//! - `admin`: ADMIN sessions, what `qnet pidin`, `channels`, `nodes`, `ping`, ... ask;
//! - [`one_copy`]: payloads read from and written into a client's memory
//!   (`process_vm_readv`/`writev`) on THREAD sessions that probed for it;
//! - [`shm`]: the shared-memory handle registry;
//! - `fdpass`: SCM_RIGHTS on a tokio `UnixStream`;
//! - [`direct`]: the direct path's authority (segments, vouched credentials, kernel heads,
//!   deaths), [`direct::DirectRegistry`].
//!
//! [`peer`]: crate::peer

mod admin;
pub mod direct;
mod fdpass;
mod frames;
pub mod one_copy;
pub(crate) mod session;
pub mod shm;
