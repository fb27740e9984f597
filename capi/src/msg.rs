//! Messages and pulses: `MsgSend*`, `MsgReceive*`, `MsgReceivePulse*`, `MsgReply*`,
//! `MsgError`, `MsgRead*`, `MsgWrite*`, `MsgInfo`, `MsgSendPulse`.
//!
//! `MsgReceive` of a pulse returns 0 and writes QNX's 24-byte `struct _pulse` (cut to the
//! caller's size), leaving `info` alone. `MsgReceivePulse` takes only pulses: a message that
//! arrives meanwhile is kept by this library (its client stays blocked, REPLY-blocked where
//! QNX would show SEND-blocked) and handed to the next `MsgReceive` on that channel.

use std::collections::{HashMap, VecDeque};
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Mutex, OnceLock};

use libc::{c_int, c_long, c_void, iovec, ssize_t};
use qnet::neutrino as n;
use qnet::{Chid, Errno, MsgInfo, PulseCode, Rcvid};

use crate::ids::{self, plain};
use crate::layout::{CMsgInfo, CPulse};
use crate::{CResult, bytes, bytes_mut, errno_of, iovs, kcall};

/// Size of QNX's `struct _pulse` on 64-bit.
pub const C_PULSE_SIZE: usize = 24;

/// How much of a message `MsgReceivePulse` keeps when it has to take one off the channel;
/// the server reads the rest with `MsgRead`.
const KEPT_CAP: usize = 64 * 1024;

/// Messages `MsgReceivePulse` took off a channel, for the next `MsgReceive` on it.
struct Kept {
    rcvid: Rcvid,
    info: MsgInfo,
    data: Vec<u8>,
}

fn kept() -> std::sync::MutexGuard<'static, HashMap<Chid, VecDeque<Kept>>> {
    static KEPT: OnceLock<Mutex<HashMap<Chid, VecDeque<Kept>>>> = OnceLock::new();
    KEPT.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Does any byte of `a` overlap any byte of `b`?
fn overlaps(a: &[iovec], b: &[iovec]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            let (xs, ys) = (x.iov_base as usize, y.iov_base as usize);
            x.iov_len > 0 && y.iov_len > 0 && xs < ys + y.iov_len && ys < xs + x.iov_len
        })
    })
}

/// The common send: QNX code often sends and receives the reply in the same buffer, so the
/// send parts are copied first when they overlap the reply parts.
unsafe fn send(coid: c_int, siov: &[iovec], riov: &[iovec]) -> CResult {
    // SAFETY: the caller's parts.
    crate::compat::cancellable(true, || unsafe { send_now(coid, siov, riov) })
}

/// A send that is not a cancellation point (`MsgSend*nc`): cancellation is held off for it.
unsafe fn send_nc(coid: c_int, siov: &[iovec], riov: &[iovec]) -> CResult {
    let _held = crate::compat::CancelHeld::new();
    // SAFETY: the caller's parts.
    unsafe { send_now(coid, siov, riov) }
}

unsafe fn send_now(coid: c_int, siov: &[iovec], riov: &[iovec]) -> CResult {
    crate::timer::take_armed();
    let owned: Option<Vec<Vec<u8>>> = overlaps(siov, riov).then(|| {
        siov.iter()
            // SAFETY: the caller's send parts are readable.
            .map(|v| unsafe { bytes(v.iov_base, v.iov_len) }.to_vec())
            .collect()
    });
    let sparts: Vec<IoSlice<'_>> = match &owned {
        Some(o) => o.iter().map(|v| IoSlice::new(v)).collect(),
        // SAFETY: as above, and no reply part aliases them.
        None => siov
            .iter()
            .map(|v| IoSlice::new(unsafe { bytes(v.iov_base, v.iov_len) }))
            .collect(),
    };
    let mut rparts: Vec<IoSliceMut<'_>> = riov
        .iter()
        // SAFETY: the caller's reply parts are writable and (now) alias nothing we read.
        .map(|v| IoSliceMut::new(unsafe { bytes_mut(v.iov_base, v.iov_len) }))
        .collect();
    n::msg_sendv(plain(coid), &sparts, &mut rparts).map_err(errno_of)
}

fn one(p: *const c_void, len: usize) -> [iovec; 1] {
    [iovec {
        iov_base: p.cast_mut(),
        iov_len: len,
    }]
}

/// Scatter `src` across `dst`; returns the bytes written.
unsafe fn scatter(src: &[u8], dst: &[iovec]) -> usize {
    let mut off = 0;
    for v in dst {
        if off >= src.len() {
            break;
        }
        let k = v.iov_len.min(src.len() - off);
        // SAFETY: the caller's receive parts are writable for iov_len bytes.
        unsafe { bytes_mut(v.iov_base, k) }.copy_from_slice(&src[off..off + k]);
        off += k;
    }
    off
}

/// What a receive got, before it is written out in C form.
enum Got {
    Message { rcvid: Rcvid, info: MsgInfo },
    Pulse(CPulse),
}

/// Receive on `chid` into `buf` (at least a pulse long): a message (its bytes in `buf`) or
/// a pulse (converted, with this library's bookkeeping done).
fn receive_raw(chid: Chid, buf: &mut [u8]) -> Result<Got, Errno> {
    let mut info = MsgInfo::default();
    let rcvid = n::msg_receive(chid, buf, Some(&mut info)).map_err(errno_of)?;
    got(rcvid, info, buf)
}

/// What a receive that returned `rcvid` with `info` into `buf` got, with this library's
/// bookkeeping done.
fn got(rcvid: Rcvid, info: MsgInfo, buf: &[u8]) -> Result<Got, Errno> {
    if rcvid != 0 {
        ids::note_sender(rcvid, info.scoid, info.coid);
        return Ok(Got::Message { rcvid, info });
    }
    let p = n::pulse_from_bytes(buf).ok_or(Errno::EFAULT)?;
    let value = match p.code {
        PulseCode::DISCONNECT => {
            ids::note_disconnect(p.scoid);
            p.value
        }
        PulseCode::COIDDEATH => ids::coid_death_value(p.value),
        _ => p.value,
    };
    // sival_int is the low half; the high half is zero so small values read the same through
    // sival_ptr / sival_long, unless this process sent a wider value (a pointer) itself.
    let value = crate::ptrs::resolve(value).unwrap_or(u64::from(value as u32));
    Ok(Got::Pulse(CPulse::of(&p, value)))
}

/// Write `info` out for the caller if it asked.
unsafe fn put_info(out: *mut CMsgInfo, info: &MsgInfo, cap: usize) {
    if !out.is_null() {
        // SAFETY: the caller passes a valid `struct _msg_info *`.
        unsafe { out.write(CMsgInfo::of(info, cap)) };
    }
}

/// `MsgReceivev` (and `MsgReceive`): a kept message first, else the next message or pulse.
unsafe fn receivev(chid: c_int, riov: &[iovec], info: *mut CMsgInfo) -> CResult {
    // SAFETY: the caller's parts and info.
    crate::compat::cancellable(true, || unsafe { receivev_now(chid, riov, info) })
}

unsafe fn receivev_now(chid: c_int, riov: &[iovec], info: *mut CMsgInfo) -> CResult {
    crate::timer::take_armed();
    let cap: usize = riov.iter().map(|v| v.iov_len).sum();
    if let Some(k) = kept().get_mut(&chid).and_then(VecDeque::pop_front) {
        // SAFETY: the caller's parts.
        unsafe {
            scatter(&k.data, riov);
            put_info(info, &k.info, cap);
        }
        return Ok(k.rcvid);
    }
    // One buffer of at least a pulse: receive straight into it; otherwise through ours.
    let direct = riov.len() == 1 && riov[0].iov_len >= C_PULSE_SIZE;
    let mut tmp = Vec::new();
    let buf: &mut [u8] = if direct {
        // SAFETY: the caller's single writable part.
        unsafe { bytes_mut(riov[0].iov_base, riov[0].iov_len) }
    } else {
        tmp.resize(cap.max(C_PULSE_SIZE), 0);
        &mut tmp
    };
    match receive_raw(chid, buf)? {
        Got::Message { rcvid, info: i } => {
            if !direct {
                let len = (i.msglen as usize).min(cap);
                // SAFETY: the caller's parts.
                unsafe { scatter(&tmp[..len], riov) };
            }
            // SAFETY: the caller's info pointer.
            unsafe { put_info(info, &i, cap) };
            Ok(rcvid)
        }
        Got::Pulse(p) => {
            // SAFETY: the caller's parts; a pulse is cut to their size.
            unsafe { scatter(&p.to_bytes(), riov) };
            Ok(0)
        }
    }
}

/// `MsgReply(rcvid, status, reply)` then, if it succeeded, `MsgReceive(chid, buf, len,
/// info)`, in one request to the daemon (the resource-manager library's thread pools use it:
/// see `resmgr`). `Err` with the reply's error if the reply failed (nothing was received).
///
/// # Safety
/// `buf` holds `len` writable bytes (at least a pulse); `info` is null or valid.
pub(crate) unsafe fn reply_receive(
    rcvid: Rcvid,
    status: i64,
    reply: &[u8],
    chid: Chid,
    buf: *mut u8,
    len: usize,
    info: *mut CMsgInfo,
) -> Result<Rcvid, Errno> {
    // A cancellation point after the reply (QNX's MsgReply is none).
    // SAFETY: the caller's arguments.
    crate::compat::cancellable(false, || unsafe {
        reply_receive_now(rcvid, status, reply, chid, buf, len, info)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn reply_receive_now(
    rcvid: Rcvid,
    status: i64,
    reply: &[u8],
    chid: Chid,
    buf: *mut u8,
    len: usize,
    info: *mut CMsgInfo,
) -> Result<Rcvid, Errno> {
    if kept().get(&chid).is_some_and(|k| !k.is_empty()) {
        // A message MsgReceivePulse kept comes first: reply, then take it.
        n::msg_reply(rcvid, status, reply).map_err(errno_of)?;
        let part = [iovec {
            iov_base: buf.cast(),
            iov_len: len,
        }];
        // SAFETY: the caller's buffer and info.
        return unsafe { receivev_now(chid, &part, info) };
    }
    crate::timer::take_armed();
    // SAFETY: the caller's buffer.
    let b = unsafe { bytes_mut(buf.cast(), len) };
    let mut i = MsgInfo::default();
    let r = n::msg_reply_receive(rcvid, status, reply, chid, b, Some(&mut i)).map_err(errno_of)?;
    match got(r, i, b)? {
        Got::Message { rcvid, info: i } => {
            // SAFETY: the caller's info pointer.
            unsafe { put_info(info, &i, len) };
            Ok(rcvid)
        }
        Got::Pulse(p) => {
            let bytes = p.to_bytes();
            b[..bytes.len()].copy_from_slice(&bytes);
            Ok(0)
        }
    }
}

/// `MsgReceivePulsev`: only pulses; messages are kept for the next `MsgReceive`.
unsafe fn receive_pulsev(chid: c_int, riov: &[iovec]) -> CResult {
    // SAFETY: the caller's parts.
    crate::compat::cancellable(true, || unsafe { receive_pulsev_now(chid, riov) })
}

unsafe fn receive_pulsev_now(chid: c_int, riov: &[iovec]) -> CResult {
    let armed = crate::timer::take_armed();
    loop {
        let mut buf = vec![0u8; KEPT_CAP];
        match receive_raw(chid, &mut buf)? {
            Got::Pulse(p) => {
                // SAFETY: the caller's parts.
                unsafe { scatter(&p.to_bytes(), riov) };
                return Ok(0);
            }
            Got::Message { rcvid, info } => {
                buf.truncate((info.msglen as usize).min(KEPT_CAP));
                kept().entry(chid).or_default().push_back(Kept {
                    rcvid,
                    info,
                    data: buf,
                });
                // A TimerTimeout covers the whole call: the rest of it for the next wait.
                crate::timer::rearm(armed);
            }
        }
    }
}

fn reply(rcvid: Rcvid, status: c_long, parts: &[IoSlice<'_>]) -> CResult {
    n::msg_replyv(rcvid, status, parts)
        .map(|()| 0)
        .map_err(errno_of)
}

unsafe fn io_slices<'a>(v: &'a [iovec]) -> Vec<IoSlice<'a>> {
    v.iter()
        // SAFETY: the caller's readable parts.
        .map(|p| IoSlice::new(unsafe { bytes(p.iov_base, p.iov_len) }))
        .collect()
}

unsafe fn readv(rcvid: Rcvid, riov: &[iovec], offset: usize) -> CResult {
    let mut parts: Vec<IoSliceMut<'_>> = riov
        .iter()
        // SAFETY: the caller's writable parts.
        .map(|p| IoSliceMut::new(unsafe { bytes_mut(p.iov_base, p.iov_len) }))
        .collect();
    n::msg_readv(rcvid, &mut parts, offset)
        .map(|k| k as i64)
        .map_err(errno_of)
}

unsafe fn writev(rcvid: Rcvid, siov: &[iovec], offset: usize) -> CResult {
    // SAFETY: the caller's readable parts.
    let parts = unsafe { io_slices(siov) };
    n::msg_writev(rcvid, &parts, offset)
        .map(|k| k as i64)
        .map_err(errno_of)
}

unsafe fn info(rcvid: Rcvid, out: *mut CMsgInfo) -> CResult {
    let i = n::msg_info(rcvid).map_err(errno_of)?;
    // SAFETY: the caller's info pointer.
    unsafe { put_info(out, &i, usize::MAX) };
    Ok(0)
}

fn send_pulse(coid: c_int, priority: c_int, code: c_int, value: c_int) -> CResult {
    n::msg_send_pulse(plain(coid), priority, code, value)
        .map(|()| 0)
        .map_err(errno_of)
}

kcall!(
    /// `long MsgSend(int coid, const void *smsg, size_t sbytes, void *rmsg, size_t rbytes)`.
    MsgSend, MsgSend_r,
    (coid: c_int, smsg: *const c_void, sbytes: usize, rmsg: *mut c_void, rbytes: usize) -> c_long,
    send(coid, &one(smsg, sbytes), &one(rmsg, rbytes))
);
kcall!(
    /// `MsgSendnc`: `MsgSend` that is not a cancellation point.
    MsgSendnc, MsgSendnc_r,
    (coid: c_int, smsg: *const c_void, sbytes: usize, rmsg: *mut c_void, rbytes: usize) -> c_long,
    send_nc(coid, &one(smsg, sbytes), &one(rmsg, rbytes))
);
kcall!(
    /// `long MsgSendv(int coid, const iov_t *siov, size_t sparts, const iov_t *riov, size_t rparts)`.
    MsgSendv, MsgSendv_r,
    (coid: c_int, siov: *const iovec, sparts: usize, riov: *const iovec, rparts: usize) -> c_long,
    send(coid, iovs(siov, sparts), iovs(riov, rparts))
);
kcall!(
    /// `MsgSendvnc`: `MsgSendv` that is not a cancellation point.
    MsgSendvnc, MsgSendvnc_r,
    (coid: c_int, siov: *const iovec, sparts: usize, riov: *const iovec, rparts: usize) -> c_long,
    send_nc(coid, iovs(siov, sparts), iovs(riov, rparts))
);
kcall!(
    /// `long MsgSendsv(int coid, const void *smsg, size_t sbytes, const iov_t *riov, size_t rparts)`.
    MsgSendsv, MsgSendsv_r,
    (coid: c_int, smsg: *const c_void, sbytes: usize, riov: *const iovec, rparts: usize) -> c_long,
    send(coid, &one(smsg, sbytes), iovs(riov, rparts))
);
kcall!(
    /// `long MsgSendvs(int coid, const iov_t *siov, size_t sparts, void *rmsg, size_t rbytes)`.
    MsgSendvs, MsgSendvs_r,
    (coid: c_int, siov: *const iovec, sparts: usize, rmsg: *mut c_void, rbytes: usize) -> c_long,
    send(coid, iovs(siov, sparts), &one(rmsg, rbytes))
);
kcall!(
    /// `MsgSendsvnc`: `MsgSendsv` that is not a cancellation point.
    MsgSendsvnc, MsgSendsvnc_r,
    (coid: c_int, smsg: *const c_void, sbytes: usize, riov: *const iovec, rparts: usize) -> c_long,
    send_nc(coid, &one(smsg, sbytes), iovs(riov, rparts))
);
kcall!(
    /// `MsgSendvsnc`: `MsgSendvs` that is not a cancellation point.
    MsgSendvsnc, MsgSendvsnc_r,
    (coid: c_int, siov: *const iovec, sparts: usize, rmsg: *mut c_void, rbytes: usize) -> c_long,
    send_nc(coid, iovs(siov, sparts), &one(rmsg, rbytes))
);
kcall!(
    /// `rcvid_t MsgReceive(int chid, void *msg, size_t bytes, struct _msg_info *info)`.
    MsgReceive, MsgReceive_r,
    (chid: c_int, msg: *mut c_void, nbytes: usize, info: *mut CMsgInfo) -> c_long,
    receivev(chid, &one(msg, nbytes), info)
);
kcall!(
    /// `rcvid_t MsgReceivev(int chid, const iov_t *iov, size_t parts, struct _msg_info *info)`.
    MsgReceivev, MsgReceivev_r,
    (chid: c_int, iov: *const iovec, parts: usize, info: *mut CMsgInfo) -> c_long,
    receivev(chid, iovs(iov, parts), info)
);
kcall!(
    /// `int MsgReceivePulse(int chid, void *pulse, size_t bytes, struct _msg_info *info)`.
    MsgReceivePulse, MsgReceivePulse_r,
    (chid: c_int, pulse: *mut c_void, nbytes: usize, _info: *mut CMsgInfo) -> c_int,
    receive_pulsev(chid, &one(pulse, nbytes))
);
kcall!(
    /// `int MsgReceivePulsev(int chid, const iov_t *iov, size_t parts, struct _msg_info *info)`.
    MsgReceivePulsev, MsgReceivePulsev_r,
    (chid: c_int, iov: *const iovec, parts: usize, _info: *mut CMsgInfo) -> c_int,
    receive_pulsev(chid, iovs(iov, parts))
);
kcall!(
    /// `int MsgReply(rcvid_t rcvid, long status, const void *msg, size_t bytes)`.
    MsgReply, MsgReply_r,
    (rcvid: c_long, status: c_long, msg: *const c_void, nbytes: usize) -> c_int,
    reply(rcvid, status, &[IoSlice::new(bytes(msg, nbytes))])
);
kcall!(
    /// `int MsgReplyv(rcvid_t rcvid, long status, const iov_t *iov, size_t parts)`.
    MsgReplyv, MsgReplyv_r,
    (rcvid: c_long, status: c_long, iov: *const iovec, parts: usize) -> c_int,
    reply(rcvid, status, &io_slices(iovs(iov, parts)))
);
/// `MsgError(rcvid, err)`; `err` -1 is QNX's "the right error" for a client that asked to
/// unblock: the error of what asked (`ETIMEDOUT` for its timeout, `EINTR` for a signal or a
/// cancel), `EINTR` for a client that did not ask. The kernel (or, for a direct message,
/// the library) knows which.
fn error(rcvid: Rcvid, err: c_int) -> CResult {
    n::msg_error(rcvid, Errno(err))
        .map(|()| 0)
        .map_err(errno_of)
}

kcall!(
    /// `int MsgError(rcvid_t rcvid, int err)`: the client's `MsgSend` fails with `err`
    /// (`EOK` makes it return 0; -1 is "the right error" for an unblocking client).
    MsgError, MsgError_r, (rcvid: c_long, err: c_int) -> c_int,
    error(rcvid, err)
);
kcall!(
    /// `ssize_t MsgRead(rcvid_t rcvid, void *msg, size_t bytes, size_t offset)`.
    MsgRead, MsgRead_r,
    (rcvid: c_long, msg: *mut c_void, nbytes: usize, offset: usize) -> ssize_t,
    readv(rcvid, &one(msg, nbytes), offset)
);
kcall!(
    /// `ssize_t MsgReadv(rcvid_t rcvid, const iov_t *iov, size_t parts, size_t offset)`.
    MsgReadv, MsgReadv_r,
    (rcvid: c_long, iov: *const iovec, parts: usize, offset: usize) -> ssize_t,
    readv(rcvid, iovs(iov, parts), offset)
);
kcall!(
    /// `ssize_t MsgWrite(rcvid_t rcvid, const void *msg, size_t bytes, size_t offset)`.
    MsgWrite, MsgWrite_r,
    (rcvid: c_long, msg: *const c_void, nbytes: usize, offset: usize) -> ssize_t,
    writev(rcvid, &one(msg, nbytes), offset)
);
kcall!(
    /// `ssize_t MsgWritev(rcvid_t rcvid, const iov_t *iov, size_t parts, size_t offset)`.
    MsgWritev, MsgWritev_r,
    (rcvid: c_long, iov: *const iovec, parts: usize, offset: usize) -> ssize_t,
    writev(rcvid, iovs(iov, parts), offset)
);
kcall!(
    /// `int MsgInfo(rcvid_t rcvid, struct _msg_info *info)`.
    MsgInfo, MsgInfo_r, (rcvid: c_long, out: *mut CMsgInfo) -> c_int, info(rcvid, out)
);
kcall!(
    /// `int MsgSendPulse(int coid, int priority, int code, int value)`: priority -1 is the
    /// caller's.
    MsgSendPulse, MsgSendPulse_r,
    (coid: c_int, priority: c_int, code: c_int, value: c_int) -> c_int,
    send_pulse(coid, priority, code, value)
);
kcall!(
    /// `int MsgSendPulsePtr(int coid, int priority, int code, void *value)`: a pointer
    /// that does not fit in 32 bits reaches only this process's own receivers intact (see
    /// [`crate::ptrs`]).
    MsgSendPulsePtr, MsgSendPulsePtr_r,
    (coid: c_int, priority: c_int, code: c_int, value: *mut c_void) -> c_int,
    send_pulse(coid, priority, code, crate::ptrs::encode(value as u64, false))
);
