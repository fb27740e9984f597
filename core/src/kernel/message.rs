//! In-flight messages: `MsgSend` creates one, `MsgReceive` hands it to the server, and
//! `MsgReply` / `MsgError` end it; `MsgRead`, `MsgWrite` and `MsgInfo` work on it in between.
//! A message is answerable only while received and unanswered, and only by the receiving
//! process; otherwise the rcvid gets `ESRCH`.

use bytes::Bytes;

use crate::call::{Completion, Timeout};
use crate::errno::Errno;
use crate::extents::Extents;
use crate::flags::ChannelFlags;
use crate::ids::{Chid, Coid, Nd, Priority, ProcessKey, Rcvid, Scoid, ThreadKey};
use crate::info::{MsgInfo, MsgInfoFlags};

use super::channel::{QueueKey, Queued};
use super::direct::DIRECT_SEND_GRACE;
use super::limits::Limit;
use super::process::{Blocked, Wait};
use super::{Kernel, Time};

/// `MsgWrite` data shorter than this is copied out of its request (see `msg_write`).
const COPY_BELOW: usize = 16 * 1024;

/// Where a message is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stage {
    /// In its channel's queue (client SEND-blocked).
    Queued(QueueKey),
    /// Received (client REPLY-blocked); `msglen` bytes went into the receive buffer.
    Received {
        /// Bytes delivered by `MsgReceive`.
        msglen: u64,
    },
}

/// How the sender of a message is scheduled: what its receiver inherits.
#[derive(Clone, Copy, Debug)]
pub(super) struct SenderSched {
    /// Its priority.
    pub(super) priority: Priority,
    /// It runs a real-time policy.
    pub(super) realtime: bool,
}

/// One message from a `MsgSend`.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) client: ThreadKey,
    /// `_msg_info.srcnd`: how the client's node numbers this one.
    pub(super) srcnd: Nd,
    pub(super) coid: Coid,
    pub(super) server: ProcessKey,
    pub(super) chid: Chid,
    pub(super) scoid: Scoid,
    pub(super) channel_flags: ChannelFlags,
    pub(super) priority: Priority,
    /// The sender runs a real-time policy (its receiver inherits it, see `priority.rs`).
    pub(super) realtime: bool,
    /// The whole send buffer.
    pub(super) data: Bytes,
    pub(super) reply_cap: u64,
    /// Reply pieces written so far (by `MsgWrite`/`MsgReply`), all below `reply_cap`; the
    /// bytes between them are the client's own and never travel.
    pub(super) reply: Extents,
    pub(super) stage: Stage,
    /// The client asked to unblock (`_NTO_MI_UNBLOCK_REQ`).
    pub(super) unblock_requested: bool,
    /// Why, where known (`ETIMEDOUT`: its timeout; `EINTR`: a signal or an unblock): what
    /// `MsgError(rcvid, -1)` answers. Unknown for a remote client's (its node forwards only
    /// that it asked).
    pub(super) unblock_cause: Option<Errno>,
}

/// Where a message's notifications go: its channel, scoid, priority and channel flags.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) server: ProcessKey,
    pub(super) chid: Chid,
    pub(super) scoid: Scoid,
    pub(super) priority: Priority,
    pub(super) channel_flags: ChannelFlags,
}

impl Message {
    pub(super) fn route(&self) -> Route {
        Route {
            server: self.server,
            chid: self.chid,
            scoid: self.scoid,
            priority: self.priority,
            channel_flags: self.channel_flags,
        }
    }

    pub(super) fn is_received(&self) -> bool {
        matches!(self.stage, Stage::Received { .. })
    }

    /// `_msg_info` as the server sees it now.
    pub(super) fn info(&self) -> MsgInfo {
        let msglen = match self.stage {
            Stage::Received { msglen } => msglen,
            Stage::Queued(_) => 0,
        };
        MsgInfo {
            nd: self.client.nd,
            srcnd: self.srcnd,
            pid: self.client.pid,
            tid: self.client.tid,
            chid: self.chid,
            scoid: self.scoid,
            coid: self.coid,
            priority: self.priority,
            realtime: self.realtime,
            msglen,
            // Always, as QNX 6.6 and later fill them (6.4 needed _NTO_CHF_SENDER_LEN /
            // _NTO_CHF_REPLY_LEN; the flags are accepted and change nothing now).
            srcmsglen: self.data.len() as u64,
            dstmsglen: self.reply_cap,
            flags: if self.unblock_requested {
                MsgInfoFlags::UNBLOCK_REQ
            } else {
                0
            },
        }
    }

    /// Write `data` at `offset` of the reply buffer (cut at `reply_cap`); returns the bytes
    /// written. Only the written extent is kept: nothing is zero-filled below it.
    fn write_reply(&mut self, offset: u64, data: Bytes) -> u64 {
        let room = self.reply_cap.saturating_sub(offset);
        let n = room.min(data.len() as u64) as usize;
        if n > 0 {
            self.reply.write(offset, data.slice(..n));
        }
        n as u64
    }
}

impl Kernel {
    /// Forget message `rcvid`, taking it out of its queue if it is still there. The client's
    /// blocked state is left for the caller to settle.
    pub(super) fn remove_message(&mut self, rcvid: Rcvid) -> Option<Message> {
        let message = self.messages.remove(&rcvid)?;
        if let Some(channel) = self.channel_mut(message.server, message.chid) {
            if let Stage::Queued(key) = message.stage {
                channel.queue.remove(&key);
                channel.queued_at.remove(&key);
            }
            channel.messages.remove(&rcvid);
        }
        if matches!(message.stage, Stage::Queued(_)) {
            self.direct_touched(message.server, message.chid);
        }
        if let Some(p) = self.processes.get_mut(&message.client.process()) {
            p.outgoing.remove(&(message.coid, rcvid));
            p.message_bytes = p.message_bytes.saturating_sub(message.data.len() as u64);
        }
        Some(message)
    }

    /// The message `rcvid` if `process` may answer it (received, unanswered, by this process).
    fn answerable(&mut self, process: ProcessKey, rcvid: Rcvid) -> Result<&mut Message, Errno> {
        match self.messages.get_mut(&rcvid) {
            Some(m) if m.is_received() && m.server == process => Ok(m),
            _ => Err(Errno::ESRCH),
        }
    }

    /// Whether `process` may answer `rcvid` now.
    pub(super) fn is_answerable(&self, process: ProcessKey, rcvid: Rcvid) -> Option<&Message> {
        self.messages
            .get(&rcvid)
            .filter(|m| m.is_received() && m.server == process)
    }

    /// `MsgSend`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn msg_send(
        &mut self,
        now: Time,
        thread: ThreadKey,
        coid: Coid,
        data: Bytes,
        reply_cap: u64,
        sched: SenderSched,
        timeout: Option<Timeout>,
    ) {
        let SenderSched { priority, realtime } = sched;
        let conn = match self.live_connection(thread.process(), coid) {
            Ok(conn) => conn,
            Err(e) => {
                self.complete(thread, Err(e));
                return;
            }
        };
        let max = self.config.max_message_size;
        if data.len() as u64 > max || reply_cap > max {
            self.complete(thread, Err(Errno::EMSGSIZE));
            return;
        }
        let channel_flags = self
            .channel(conn.server, conn.chid)
            .map(|c| c.flags)
            .unwrap_or_default();
        let process = thread.process();
        let held = self.processes.get(&process).map_or(0, |p| p.message_bytes);
        if let Err(e) = self.within(process, Limit::MessageBytes, held, data.len() as u64) {
            self.complete(thread, Err(e));
            return;
        }
        let rcvid = self.next_rcvid();
        if let Some(p) = self.processes.get_mut(&process) {
            p.outgoing.insert((coid, rcvid));
            p.message_bytes += data.len() as u64;
        }
        if let Some(channel) = self.channel_mut(conn.server, conn.chid) {
            channel.messages.insert(rcvid);
        }
        self.messages.insert(
            rcvid,
            Message {
                client: thread,
                srcnd: self.srcnd_of(thread.nd),
                coid,
                server: conn.server,
                chid: conn.chid,
                scoid: conn.scoid,
                channel_flags,
                priority,
                realtime,
                data,
                reply_cap,
                reply: Extents::new(),
                stage: Stage::Queued((std::cmp::Reverse(priority), 0)),
                unblock_requested: false,
                unblock_cause: None,
            },
        );
        // A zero timeout in the SEND state sends only to a receiver that is waiting. One
        // sleeping on the direct path is in the library, not here: the daemon says so, and
        // the message gets `DIRECT_SEND_GRACE` to be taken (the woken receiver takes it
        // from this queue); once received, a REPLY timeout fires at once, as it would have.
        let waiting = self.direct_waiting.take() == Some((conn.server, conn.chid));
        let immediate = waiting
            && timeout.is_some_and(|t| t.states.send && t.after.is_zero())
            && self
                .channel(conn.server, conn.chid)
                .is_some_and(|c| c.direct);
        let timeout = timeout
            .filter(|t| t.states.send || t.states.reply)
            .map(|t| {
                let after = if immediate {
                    DIRECT_SEND_GRACE
                } else {
                    t.after
                };
                (now.saturating_add(after), t.states)
            });
        self.block(
            thread,
            Blocked {
                wait: Wait::Send { rcvid },
                timeout,
                since: now,
                immediate,
            },
        );
        self.deliver(conn.server, conn.chid, priority, Queued::Message(rcvid));
    }

    /// Finish message `rcvid` (already removed): the client's `MsgSend` returns `result`.
    fn finish(&mut self, message: Message, result: Result<Completion, Errno>) {
        self.release(message.client, result);
    }

    /// `MsgReply(rcvid, status, data)`: data lands at offset 0 of the reply buffer.
    pub(super) fn msg_reply(
        &mut self,
        process: ProcessKey,
        rcvid: Rcvid,
        status: i64,
        data: Bytes,
    ) -> Result<(), Errno> {
        // `data` is kept as it came (no copy), cut at the reply buffer's size.
        self.answerable(process, rcvid)?.write_reply(0, data);
        if let Some(mut message) = self.remove_message(rcvid) {
            let reply = std::mem::take(&mut message.reply);
            self.finish(
                message,
                Ok(Completion::Reply {
                    status,
                    data: reply,
                }),
            );
        }
        Ok(())
    }

    /// `MsgError(rcvid, errno)`: `EOK` makes `MsgSend` return 0 with whatever `MsgWrite`
    /// already put in the reply buffer.
    pub(super) fn msg_error(
        &mut self,
        process: ProcessKey,
        rcvid: Rcvid,
        errno: i32,
    ) -> Result<(), Errno> {
        let asked = self.answerable(process, rcvid)?;
        // QNX 7.0.1's -1: the error of what asked to unblock (a client that did not ask:
        // EINTR; one whose cause is not known here: its timeout, the usual reason).
        let errno = match (errno, asked.unblock_requested, asked.unblock_cause) {
            (-1, _, Some(cause)) => cause.0,
            (-1, true, None) => Errno::ETIMEDOUT.0,
            (-1, false, _) => Errno::EINTR.0,
            (e, _, _) => e,
        };
        if let Some(mut message) = self.remove_message(rcvid) {
            let result = if errno == 0 {
                Ok(Completion::Reply {
                    status: 0,
                    data: std::mem::take(&mut message.reply),
                })
            } else {
                Err(Errno(errno))
            };
            self.finish(message, result);
        }
        Ok(())
    }

    /// `MsgRead(rcvid, len, offset)`: any part of the whole send buffer; past the end → empty.
    pub(super) fn msg_read(
        &mut self,
        process: ProcessKey,
        rcvid: Rcvid,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, Errno> {
        let message = self.answerable(process, rcvid)?;
        let total = message.data.len() as u64;
        let start = offset.min(total);
        let end = offset.saturating_add(len).min(total);
        Ok(message.data.slice(start as usize..end.max(start) as usize))
    }

    /// `MsgWrite(rcvid, data, offset)`: writes `min(len, reply_cap - offset)` bytes;
    /// an offset at or past the end of the reply buffer writes nothing (0), as QNX's.
    pub(super) fn msg_write(
        &mut self,
        process: ProcessKey,
        rcvid: Rcvid,
        offset: u64,
        data: Bytes,
    ) -> Result<u64, Errno> {
        let message = self.answerable(process, rcvid)?;
        // QNX: "don't let you write past the end of the sender's buffer; they return the
        // number of bytes actually written": past it, none.
        if offset >= message.reply_cap {
            return Ok(0);
        }
        // A small piece is copied so that it does not keep the request's whole frame alive
        // while the message waits for its reply.
        let data = if data.len() < COPY_BELOW {
            Bytes::copy_from_slice(&data)
        } else {
            data
        };
        Ok(message.write_reply(offset, data))
    }

    /// `MsgInfo(rcvid)`.
    pub(super) fn msg_info(&mut self, process: ProcessKey, rcvid: Rcvid) -> Result<MsgInfo, Errno> {
        Ok(self.answerable(process, rcvid)?.info())
    }
}
