//! Unblocking a blocked thread, by `Call::Unblock` (`EINTR`) or by its timeout (`ETIMEDOUT`).
//!
//! - SEND-blocked: the message leaves the queue; the call fails.
//! - REPLY-blocked on a channel without `_NTO_CHF_UNBLOCK`: the call fails at once and the
//!   rcvid becomes invalid (a later reply gets `ESRCH`).
//! - REPLY-blocked on a channel with `_NTO_CHF_UNBLOCK`: the server gets an unblock pulse
//!   (value = rcvid) once, `_msg_info.flags` gains `_NTO_MI_UNBLOCK_REQ`, and the client stays
//!   blocked until `MsgReply` / `MsgError`.
//! - RECEIVE-blocked: the call fails.
//! - In a call forwarded to another node: the cancel is forwarded (`Output::ForwardUnblock`);
//!   the server node applies these rules and the result comes back as usual.

use crate::errno::Errno;
use crate::flags::ChannelFlags;
use crate::ids::ThreadKey;

use super::process::Wait;
use super::{Kernel, Output};

impl Kernel {
    /// Unblock `thread` with `errno` (`EINTR` or `ETIMEDOUT`), following the rules above.
    /// A thread that is not blocked is left alone.
    pub(super) fn unblock(&mut self, thread: ThreadKey, errno: Errno) {
        self.unblock_for(thread, errno, Some(errno));
    }

    /// [`Kernel::unblock`], with the cause `MsgError(rcvid, -1)` answers (`None`: not known
    /// here, a remote client's forwarded unblock).
    pub(super) fn unblock_for(&mut self, thread: ThreadKey, errno: Errno, cause: Option<Errno>) {
        let Some(blocked) = self.blocked.get(&thread) else {
            return;
        };
        match blocked.wait {
            Wait::Forward { nd, seq, .. } => {
                self.outputs
                    .push_back(Output::ForwardUnblock { nd, thread, seq });
            }
            Wait::Receive { chid, .. } => {
                if let Some(channel) = self.channel_mut(thread.process(), chid) {
                    channel.receivers.retain(|t| *t != thread);
                }
                self.release(thread, Err(errno));
            }
            Wait::Send { rcvid } => {
                let Some(message) = self.messages.get(&rcvid) else {
                    self.release(thread, Err(errno));
                    return;
                };
                if message.is_received() && message.channel_flags.contains(ChannelFlags::UNBLOCK) {
                    if message.unblock_requested {
                        return;
                    }
                    let route = message.route();
                    if let Some(m) = self.messages.get_mut(&rcvid) {
                        m.unblock_requested = true;
                        m.unblock_cause = cause;
                    }
                    self.notify_unblock(&route, rcvid);
                    return;
                }
                self.remove_message(rcvid);
                self.release(thread, Err(errno));
            }
        }
    }
}
