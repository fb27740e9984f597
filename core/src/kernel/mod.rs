//! The [`Kernel`]: every channel, connection and in-flight message of one node.

use std::time::Duration;

use crate::call::{Call, Completion};
use crate::errno::Errno;
use crate::ids::{Pid, ProcessKey, ThreadKey};
use crate::info::Credentials;

/// Time as the driver measures it: elapsed since an epoch the driver picks. The kernel never
/// reads a clock.
pub type Time = Duration;

/// Kernel limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest send or reply buffer accepted (`EMSGSIZE` above).
    pub max_message_size: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_message_size: 16 * 1024 * 1024 }
    }
}

/// What the kernel asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The blocking or immediate call of `thread` finished.
    Complete {
        /// The thread whose call finished.
        thread: ThreadKey,
        /// Its result.
        result: Result<Completion, Errno>,
    },
}

/// The message-passing state machine of one node.
///
/// Call order, for a driver:
/// 1. [`Kernel::handle_process_start`] when a process is first seen (credentials from the kernel);
/// 2. [`Kernel::handle_call`] for each call a thread makes (a thread makes one call at a time);
/// 3. [`Kernel::handle_thread_exit`] / [`Kernel::handle_process_exit`] when a thread's or
///    process's session ends;
/// 4. after every input, drain [`Kernel::poll_output`] until `None`, then re-arm one timer at
///    [`Kernel::poll_timeout`] and call [`Kernel::handle_timeout`] when it fires.
#[derive(Debug)]
pub struct Kernel {
    config: Config,
}

impl Kernel {
    /// A kernel with no processes.
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// The limits this kernel enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A process appeared (idempotent).
    pub fn handle_process_start(&mut self, _process: ProcessKey, _cred: Credentials) {
        unimplemented!("qnet-core: being written")
    }

    /// `thread` makes `call` at `now`.
    pub fn handle_call(&mut self, _now: Time, _thread: ThreadKey, _call: Call) {
        unimplemented!("qnet-core: being written")
    }

    /// A thread is gone; its blocked call (if any) is abandoned.
    pub fn handle_thread_exit(&mut self, _now: Time, _thread: ThreadKey) {
        unimplemented!("qnet-core: being written")
    }

    /// A process is gone: its channels, connections, names and events go with it.
    pub fn handle_process_exit(&mut self, _now: Time, _process: ProcessKey) {
        unimplemented!("qnet-core: being written")
    }

    /// Time advanced to `now`: expire due timeouts.
    pub fn handle_timeout(&mut self, _now: Time) {
        unimplemented!("qnet-core: being written")
    }

    /// Next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        unimplemented!("qnet-core: being written")
    }

    /// When [`Kernel::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Time> {
        unimplemented!("qnet-core: being written")
    }

    /// Whether `pid` is known.
    pub fn has_process(&self, _pid: Pid) -> bool {
        unimplemented!("qnet-core: being written")
    }
}
