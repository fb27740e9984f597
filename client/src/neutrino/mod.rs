//! The QNX-shaped layer: one function per kernel call, raw ids, snake_case names
//! (`MsgSend` → [`msg_send`], `ChannelCreate` → [`channel_create`], …).
//!
//! Every call blocks only the calling OS thread, on that thread's own session with `qnetd`.
//! Errors carry the errno QNX would set, as Linux's number for it ([`crate::Error::errno`]).
//!
//! As on QNX, a signal whose handler runs in a thread blocked in a send or receive unblocks
//! the call: it fails with `EINTR`, or, REPLY-blocked on an `_NTO_CHF_UNBLOCK` channel, the
//! server gets an unblock pulse and the call returns its answer. `SA_RESTART` does not
//! change this; a signal with no handler (ignored, or blocked in the thread) unblocks nothing.

mod channel;
mod event;
mod name;
mod netmgr;
mod path;
mod priority;
mod pulse;
mod receive;
mod reply;
mod send;
mod timer;

pub use channel::{
    channel_create, channel_destroy, connect_attach, connect_client_info, connect_detach,
    connect_flags, scoid_detach,
};
pub use event::{
    msg_deliver_event, msg_deliver_pulse, msg_register_event, msg_unregister_event,
    msg_verify_event,
};
pub use name::{name_attach, name_attach_channel, name_close, name_detach, name_open};
pub use netmgr::{
    NODE_ENV, TargetParts, default_nd, default_node, netmgr_ndtostr, netmgr_strtond, parse_target,
    split_target,
};
pub use path::{path_attach, path_detach, path_list, path_resolve};
pub use priority::{carry_priority, priority, priority_inherited, set_priority, set_scheduler};
pub use pulse::{msg_send_pulse, pulse_from_bytes, pulse_to_bytes};
pub use receive::{msg_receive, msg_receivev, msg_reply_receive};
pub use reply::{
    msg_error, msg_info, msg_read, msg_readv, msg_reply, msg_replyv, msg_write, msg_writev,
};
pub use send::{msg_send, msg_sendsv, msg_sendv, msg_sendvs};
pub use timer::{timer_timeout, unblock};

pub use crate::session::gettid;
pub(crate) use name::local_part as name_local_part;
pub(crate) use priority::on_receive;
pub use qnet_core::paths::{PathFlags, PathMatch};
pub use qnet_core::{
    ChannelFlags, ClientInfo, MsgInfo, MsgInfoFlags, PULSE_SIZE, Pulse, PulseCode, PulseEvent,
    TimeoutStates,
};
pub(crate) use receive::receive as receive_raw;
pub(crate) use receive::reply_receive as reply_receive_raw;

/// `ND_LOCAL_NODE`: the node descriptor of this node.
pub const ND_LOCAL_NODE: u32 = 0;

/// Default thread priority (QNX's usual 10).
pub const DEFAULT_PRIORITY: u8 = 10;

/// Copy `src` across the buffers of `dst` in order; returns the bytes copied.
pub(crate) fn scatter(src: &[u8], dst: &mut [std::io::IoSliceMut<'_>]) -> usize {
    let mut off = 0;
    for part in dst.iter_mut() {
        if off >= src.len() {
            break;
        }
        let n = part.len().min(src.len() - off);
        part[..n].copy_from_slice(&src[off..off + n]);
        off += n;
    }
    off
}

/// Copy `src` into the buffers of `dst`, taken as one buffer, starting at byte `offset`
/// (cut at their end). Bytes of `dst` outside that range are not touched.
pub(crate) fn scatter_at(src: &[u8], offset: u64, dst: &mut [std::io::IoSliceMut<'_>]) {
    let mut skip = offset;
    let mut src = src;
    for part in dst.iter_mut() {
        if src.is_empty() {
            break;
        }
        let len = part.len() as u64;
        if skip >= len {
            skip -= len;
            continue;
        }
        let at = skip as usize;
        skip = 0;
        let n = (part.len() - at).min(src.len());
        part[at..at + n].copy_from_slice(&src[..n]);
        src = &src[n..];
    }
}

/// Total length of a set of buffers.
pub(crate) fn total_len<T: std::ops::Deref<Target = [u8]>>(parts: &[T]) -> usize {
    parts.iter().map(|p| p.len()).sum()
}

/// Gather buffers into one.
pub(crate) fn gather(parts: &[std::io::IoSlice<'_>]) -> bytes::Bytes {
    let mut v = Vec::with_capacity(total_len(parts));
    for p in parts {
        v.extend_from_slice(p);
    }
    v.into()
}

#[cfg(test)]
mod tests {
    use std::io::IoSliceMut;

    use super::scatter_at;

    #[test]
    fn scatter_at_writes_only_its_range_across_parts() {
        let (mut a, mut b, mut c) = ([b'.'; 4], [b'.'; 3], [b'.'; 5]);
        {
            let mut parts = [
                IoSliceMut::new(&mut a),
                IoSliceMut::new(&mut b),
                IoSliceMut::new(&mut c),
            ];
            scatter_at(b"xyz", 3, &mut parts);
            scatter_at(b"QRSTUVW", 9, &mut parts);
            scatter_at(b"never", 12, &mut parts);
        }
        assert_eq!(&a, b"...x");
        assert_eq!(&b, b"yz.");
        assert_eq!(&c, b"..QRS");
    }
}
