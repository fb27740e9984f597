//! QNX's 64-bit structures as the headers declare them (sizes checked here at compile time
//! and in C by `_Static_assert`s), and their conversion from `qnet`'s types.

use std::mem::{offset_of, size_of};

use qnet::{ClientInfo, MsgInfo, Pulse};

/// `struct _pulse`: 24 bytes; `value` at 8 (a `union sigval`), `scoid` at 16.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CPulse {
    /// `_PULSE_TYPE` (0).
    pub type_: u16,
    /// `_PULSE_SUBTYPE` (0).
    pub subtype: u16,
    /// The pulse code.
    pub code: i8,
    /// Zero.
    pub zero: [u8; 3],
    /// `union sigval value`: `sival_int` in the low 4 bytes.
    pub value: u64,
    /// The sender's scoid (for a disconnect pulse, the one to release).
    pub scoid: i32,
    /// Padding to 8-byte alignment, zero.
    pub pad: u32,
}

const _: () = assert!(size_of::<CPulse>() == 24);
const _: () = assert!(offset_of!(CPulse, code) == 4);
const _: () = assert!(offset_of!(CPulse, value) == 8);
const _: () = assert!(offset_of!(CPulse, scoid) == 16);

impl CPulse {
    /// The C form of a received pulse with its `union sigval` value (see
    /// [`crate::ptrs`] for the 64-bit values a pulse carries within one process).
    pub fn of(p: &Pulse, value: u64) -> CPulse {
        CPulse {
            code: p.code,
            value,
            scoid: p.scoid,
            ..CPulse::default()
        }
    }

    /// The 24 bytes, as they go into a receive buffer.
    pub fn to_bytes(self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[0..2].copy_from_slice(&self.type_.to_ne_bytes());
        b[2..4].copy_from_slice(&self.subtype.to_ne_bytes());
        b[4] = self.code as u8;
        b[8..16].copy_from_slice(&self.value.to_ne_bytes());
        b[16..20].copy_from_slice(&self.scoid.to_ne_bytes());
        b
    }
}

/// `struct _msg_info` (QNX 8's `_msg_info64`): 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CMsgInfo {
    /// Sender's node descriptor (0 = this node).
    pub nd: u32,
    /// This node as the sender's node numbers it.
    pub srcnd: u32,
    /// Sender's pid.
    pub pid: i32,
    /// Sender's tid.
    pub tid: i32,
    /// Channel the message came in on.
    pub chid: i32,
    /// The sender's server connection id.
    pub scoid: i32,
    /// The sender's connection id.
    pub coid: i32,
    /// Sender's priority.
    pub priority: i16,
    /// `_NTO_MI_*` flags.
    pub flags: i16,
    /// Bytes delivered into the receive buffer.
    pub msglen: isize,
    /// Bytes sent (always filled, as QNX 6.6 and later).
    pub srcmsglen: isize,
    /// Reply room of the sender (always filled, as QNX 6.6 and later).
    pub dstmsglen: isize,
    /// Type id (0).
    pub type_id: u32,
    /// Reserved (0).
    pub reserved: u32,
}

const _: () = assert!(size_of::<CMsgInfo>() == 64);
const _: () = assert!(offset_of!(CMsgInfo, priority) == 28);
const _: () = assert!(offset_of!(CMsgInfo, msglen) == 32);
const _: () = assert!(offset_of!(CMsgInfo, dstmsglen) == 48);

impl CMsgInfo {
    /// The C form of a `_msg_info`; `msglen` cut to the caller's receive buffer `cap`.
    pub fn of(i: &MsgInfo, cap: usize) -> CMsgInfo {
        let clamp = |v: u64| isize::try_from(v).unwrap_or(isize::MAX);
        CMsgInfo {
            nd: i.nd,
            srcnd: i.srcnd,
            pid: i.pid as i32,
            tid: i.tid as i32,
            chid: i.chid,
            scoid: i.scoid,
            coid: i.coid,
            priority: i16::from(i.priority),
            flags: i.flags as i16,
            msglen: clamp(i.msglen.min(cap as u64)),
            srcmsglen: clamp(i.srcmsglen),
            dstmsglen: clamp(i.dstmsglen),
            type_id: 0,
            reserved: 0,
        }
    }
}

/// `struct _cred_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CCredInfo {
    /// Real uid.
    pub ruid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Saved uid.
    pub suid: u32,
    /// Real gid.
    pub rgid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Saved gid.
    pub sgid: u32,
    /// Entries of `grouplist` filled (qnet reports none).
    pub ngroups: u32,
    /// Supplementary groups.
    pub grouplist: [u32; 8],
}

/// `struct _client_info`: 76 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CClientInfo {
    /// Client's node descriptor.
    pub nd: u32,
    /// Client's pid.
    pub pid: i32,
    /// Session id (qnet does not know it: 0).
    pub sid: i32,
    /// Flags (0).
    pub flags: u32,
    /// Credentials from the kernel (SO_PEERCRED) or the client's authenticated node.
    pub cred: CCredInfo,
}

const _: () = assert!(size_of::<CClientInfo>() == 76);

impl CClientInfo {
    /// The C form of a `_client_info`.
    pub fn of(c: &ClientInfo) -> CClientInfo {
        let (uid, gid) = (c.cred.uid, c.cred.gid);
        CClientInfo {
            nd: c.nd,
            pid: c.pid as i32,
            sid: 0,
            flags: 0,
            cred: CCredInfo {
                ruid: uid,
                euid: uid,
                suid: uid,
                rgid: gid,
                egid: gid,
                sgid: gid,
                ngroups: 0,
                grouplist: [0; 8],
            },
        }
    }
}

/// `name_attach_t`: 24 bytes, `chid` at 8.
#[repr(C)]
#[derive(Debug)]
pub struct CNameAttach {
    /// `dispatch_t *` (always null: qnet has no dispatch layer).
    pub dpp: *mut libc::c_void,
    /// The channel the name is attached to.
    pub chid: i32,
    /// Mount id (0).
    pub mntid: i32,
    /// Zero.
    pub zero: [i32; 2],
}

const _: () = assert!(size_of::<CNameAttach>() == 24);
const _: () = assert!(offset_of!(CNameAttach, chid) == 8);

/// glibc's `struct sigevent` with QNX's pulse fields where `<sys/siginfo.h>` puts them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CSigevent {
    /// `sigev_value` (`union sigval`).
    pub value: u64,
    /// `sigev_signo`, also `sigev_coid`.
    pub signo_coid: i32,
    /// `sigev_notify`: the type in the low byte, `SIGEV_FLAG_*` above.
    pub notify: i32,
    /// `sigev_priority` (`_sigev_un._pad[0]`).
    pub priority: i32,
    /// `sigev_code` (`_sigev_un._pad[1]`).
    pub code: i32,
    /// `sigev_handle` (`_sigev_un._pad[2]`) and the high half of qnet's event id (`_pad[3]`).
    pub handle: [u32; 2],
    /// The rest of glibc's union.
    pub rest: [i32; 8],
}

const _: () = assert!(size_of::<CSigevent>() == 64);
const _: () = assert!(size_of::<libc::sigevent>() == 64);

/// `SIGEV_PULSE`.
pub const SIGEV_PULSE: i32 = 4;
/// `SIGEV_UNBLOCK`.
pub const SIGEV_UNBLOCK: i32 = 5;
/// `SIGEV_TYPE_MASK`.
pub const SIGEV_TYPE_MASK: i32 = 0xff;
/// `SIGEV_FLAG_UPDATEABLE`.
pub const SIGEV_FLAG_UPDATEABLE: i32 = 0x400;
/// `SIGEV_FLAG_HANDLE`: the event is registered; `sigev_handle` holds the handle.
pub const SIGEV_FLAG_HANDLE: i32 = 0x2000;

impl CSigevent {
    /// The event type (`SIGEV_GET_TYPE`).
    pub fn kind(&self) -> i32 {
        self.notify & SIGEV_TYPE_MASK
    }

    /// `sigev_value.sival_int`.
    pub fn sival_int(&self) -> i32 {
        self.value as u32 as i32
    }

    /// The registered handle, if `MsgRegisterEvent` set one.
    pub fn registered(&self) -> Option<u64> {
        (self.notify & SIGEV_FLAG_HANDLE != 0)
            .then(|| u64::from(self.handle[0]) | (u64::from(self.handle[1]) << 32))
    }
}
