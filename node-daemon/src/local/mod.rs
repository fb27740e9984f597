//! The local side of the daemon: what it does for the processes of this host, as [`peer`]
//! does for other nodes. It depends on the driver, never the reverse: the sessions call the
//! [`Driver`], and the direct path's registry is the driver's [`DirectPath`], handed over by
//! the server. Of the peer layer it uses only the table's public calls (ADMIN sessions).
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
//! [`Driver`]: crate::driver::Driver
//! [`DirectPath`]: crate::driver::DirectPath

mod admin;
pub mod direct;
mod fdpass;
mod frames;
pub mod one_copy;
pub(crate) mod session;
pub mod shm;
