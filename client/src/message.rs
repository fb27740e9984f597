//! [`Message`]: a received message, and the obligation to answer it.

use bytes::Bytes;
use qnet_core::{ClientInfo, Errno, EventId, MsgInfo, Rcvid};

use crate::channel::{Channel, Received, into_received};
use crate::error::Result;
use crate::neutrino;

/// A received message that must be answered exactly once, with [`Message::reply`] or
/// [`Message::error`] (both consume it).
///
/// It is `Send`: a server may keep it and answer later from another thread (delayed reply).
///
/// **Dropping it unanswered answers `MsgError(ENOSYS)`**, so that no client stays blocked
/// forever because a server forgot it. To answer through the raw calls instead, take the
/// rcvid with [`Message::into_rcvid`], which disarms this.
#[must_use = "a received message must be answered with reply() or error()"]
#[derive(Debug)]
pub struct Message {
    rcvid: Rcvid,
    info: MsgInfo,
    data: Bytes,
    answered: bool,
}

impl Message {
    pub(crate) fn new(rcvid: Rcvid, info: MsgInfo, data: Bytes) -> Message {
        Message {
            rcvid,
            info,
            data,
            answered: false,
        }
    }

    /// The receive id.
    pub fn rcvid(&self) -> Rcvid {
        self.rcvid
    }

    /// The `_msg_info` delivered with the message.
    pub fn info(&self) -> &MsgInfo {
        &self.info
    }

    /// The `_msg_info` as it is now (e.g. to see `_NTO_MI_UNBLOCK_REQ`).
    pub fn refresh_info(&self) -> Result<MsgInfo> {
        neutrino::msg_info(self.rcvid)
    }

    /// The received bytes (at most the receive capacity; `read` the rest).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// `MsgRead`: copy the client's message from `offset` into `buf`; returns bytes copied.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<usize> {
        neutrino::msg_read(self.rcvid, buf, offset)
    }

    /// `MsgWrite`: copy `data` into the client's reply buffer at `offset` without unblocking
    /// it; returns bytes copied.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<usize> {
        neutrino::msg_write(self.rcvid, data, offset)
    }

    /// `ConnectClientInfo(scoid)` of the sender.
    pub fn client_info(&self) -> Result<ClientInfo> {
        neutrino::connect_client_info(self.info.scoid)
    }

    /// `MsgVerifyEvent(rcvid, event)`.
    pub fn verify_event(&self, event: EventId) -> Result<()> {
        neutrino::msg_verify_event(self.rcvid, event)
    }

    /// `MsgReply(rcvid, status, data)`: unblock the client.
    pub fn reply(mut self, status: i64, data: &[u8]) -> Result<()> {
        self.answered = true;
        neutrino::msg_reply(self.rcvid, status, data)
    }

    /// `MsgReply(rcvid, status, data)`, then [`Channel::receive`]`(cap)` on `channel`, in one
    /// request to the daemon: a **qnet extension** (QNX has no single call for it) that
    /// saves a server loop one round trip to `qnetd` per message.
    ///
    /// If the reply fails (e.g. `ESRCH`), that error is returned and nothing is received.
    /// Otherwise the result is the receive's, exactly as [`Channel::receive`] gives it (a
    /// message, a pulse, `EFAULT` for a `cap` below [`qnet_core::PULSE_SIZE`], `ETIMEDOUT`
    /// under an armed `timer_timeout`).
    pub fn reply_and_receive(
        mut self,
        status: i64,
        data: &[u8],
        channel: &Channel,
        cap: usize,
    ) -> Result<Received> {
        self.answered = true;
        let got = neutrino::reply_receive_raw(
            self.rcvid,
            status,
            Bytes::copy_from_slice(data),
            channel.chid(),
            cap as u64,
        )?;
        into_received(got)
    }

    /// `MsgError(rcvid, errno)`: unblock the client with an error.
    pub fn error(mut self, errno: Errno) -> Result<()> {
        self.answered = true;
        neutrino::msg_error(self.rcvid, errno)
    }

    /// Leave the obligation to the raw calls: returns the rcvid and disarms the
    /// answer-on-drop.
    pub fn into_rcvid(mut self) -> Rcvid {
        self.answered = true;
        self.rcvid
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if !self.answered {
            let _ = neutrino::msg_error(self.rcvid, Errno::ENOSYS);
        }
    }
}
