//! Names and nodes: `name_attach`, `name_detach`, `name_open` (with QNX's `_IO_CONNECT`
//! handshake), `name_close`, `netmgr_strtond`, `netmgr_ndtostr`.
//!
//! `name_open` sends the `_IO_CONNECT` message QNX's does (type 0x100, subtype
//! `_IO_CONNECT_OPEN`, file type `_FTYPE_NAME`) and returns the connection once the server
//! answered it; if the server answers with `MsgError(e)`, `name_open` fails with `e`. A server
//! that receives the message and never answers it (or never receives) leaves `name_open`
//! blocked, as on QNX. `QNET_NAME_OPEN_CONNECT=0` skips the handshake (a qnet extension).

use libc::{c_char, c_int, c_uint, size_t};
use qnet::neutrino as n;
use qnet::{ChannelFlags, Errno};

use crate::layout::CNameAttach;
use crate::{CResult, errno_of, errno_ret, ids, set_errno, str_arg};

/// `_IO_CONNECT`.
pub const IO_CONNECT: u16 = 0x100;
/// `_IO_CONNECT_OPEN`.
pub const IO_CONNECT_OPEN: u16 = 2;
/// `_FTYPE_NAME`.
pub const FTYPE_NAME: u32 = 12;
/// The environment setting that turns the `_IO_CONNECT` handshake off (`0`).
pub const CONNECT_ENV: &str = "QNET_NAME_OPEN_CONNECT";

/// The `struct _io_connect` QNX's `name_open` sends: a 40-byte header and an empty path.
pub fn io_connect_message() -> Vec<u8> {
    let mut m = vec![0u8; 41];
    m[0..2].copy_from_slice(&IO_CONNECT.to_ne_bytes());
    m[2..4].copy_from_slice(&IO_CONNECT_OPEN.to_ne_bytes());
    m[4..8].copy_from_slice(&FTYPE_NAME.to_ne_bytes());
    // ioflag: _IO_FLAG_RD | _IO_FLAG_WR
    m[16..20].copy_from_slice(&3u32.to_ne_bytes());
    // path_len: the terminating NUL
    m[34..36].copy_from_slice(&1u16.to_ne_bytes());
    m
}

fn handshake_enabled() -> bool {
    std::env::var(CONNECT_ENV).map_or(true, |v| v != "0")
}

/// `name_attach(dpp, path, flags)`: a channel with `_NTO_CHF_DISCONNECT |
/// _NTO_CHF_COID_DISCONNECT | _NTO_CHF_UNBLOCK` and the name on this node (unique: `EEXIST`).
/// `NAME_FLAG_ATTACH_GLOBAL` is accepted: any node can `name_open("node/name")` anyway.
///
/// With a dispatch handle (`dispatch_create`) that has no channel yet, the name's channel
/// becomes the dispatch's, so its `dispatch_block` loop receives the name's messages (and
/// answers `name_open`'s `_IO_CONNECT`). A dispatch that already has a channel (after
/// `resmgr_attach`, or from `dispatch_create_channel`) gets the name on that channel, as
/// QNX's; `name_detach` then leaves the channel to the dispatch.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn name_attach(
    dpp: *mut libc::c_void,
    path: *const c_char,
    _flags: c_uint,
) -> *mut CNameAttach {
    // SAFETY: the caller passes a string.
    let r = unsafe { str_arg(path) }.and_then(|name| {
        if name.is_empty() || name.contains('/') || name == ".." || name == "." {
            return Err(Errno::EINVAL);
        }
        // A dispatch with a channel already (`resmgr_attach` or `dispatch_create_channel`
        // came first): the name goes on that channel, which its loop serves.
        if let Some(chid) = crate::resmgr::existing_channel(dpp) {
            return n::name_attach_channel(name, chid)
                .map(|()| (chid, true))
                .map_err(errno_of);
        }
        n::name_attach(name, ChannelFlags::default())
            .map(|chid| (chid, false))
            .map_err(errno_of)
    });
    match r {
        Ok((chid, existing)) => Box::into_raw(Box::new(CNameAttach {
            dpp: if existing || crate::resmgr::adopt_channel(dpp, chid) {
                dpp
            } else {
                std::ptr::null_mut()
            },
            chid,
            mntid: 0,
            zero: [0; 2],
        })),
        Err(e) => {
            set_errno(e.0);
            std::ptr::null_mut()
        }
    }
}

/// `name_detach(attach, flags)`: removes the name, destroys its channel, frees `attach`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn name_detach(attach: *mut CNameAttach, _flags: c_uint) -> c_int {
    if attach.is_null() {
        set_errno(Errno::EINVAL.0);
        return -1;
    }
    // SAFETY: `attach` came from `name_attach` (Box::into_raw) and is detached once.
    let a = unsafe { Box::from_raw(attach) };
    errno_ret(n::name_detach(a.chid).map(|()| 0).map_err(errno_of)) as c_int
}

unsafe fn open(name: *const c_char) -> CResult {
    // SAFETY: the caller passes a string.
    let name = unsafe { str_arg(name) }?;
    let (target, from_env) = match ids::default_node_name() {
        Some(node) if !name.contains('/') => (format!("{node}/{name}"), Some(node)),
        _ => (name.to_owned(), None),
    };
    let coid = n::name_open(&target).map_err(|e| {
        // A node that QNET_NODE names, not the program: say so, or `perror` shows only
        // "No route to host".
        if let (Some(node), Errno::EHOSTUNREACH | Errno::EHOSTDOWN) = (from_env, e.errno()) {
            crate::tell_once(&format!("{}={node}: {e}", ids::NODE_ENV));
        }
        errno_of(e)
    })?;
    if handshake_enabled() {
        if let Err(e) = n::msg_send(coid, &io_connect_message(), &mut []) {
            let _ = n::connect_detach(coid);
            return Err(errno_of(e));
        }
    }
    Ok(i64::from(ids::to_c(coid, true)))
}

/// `name_open(name, flags)`: a side-channel connection to the channel `name` is attached to
/// (`node/name` for another node); see the module doc for the `_IO_CONNECT` handshake.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn name_open(name: *const c_char, _flags: c_int) -> c_int {
    // SAFETY: the caller passes a string.
    errno_ret(unsafe { open(name) }) as c_int
}

/// `name_close(coid)`: `ConnectDetach(coid)`.
#[unsafe(no_mangle)]
pub extern "C" fn name_close(coid: c_int) -> c_int {
    errno_ret(crate::channel::connect_detach(coid)) as c_int
}

/// `netmgr_strtond(nodename, endstr)`: the node descriptor for a node name (the name ends
/// at the first `/`; `*endstr` is set there). `ENOENT` for an unknown node.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn netmgr_strtond(
    nodename: *const c_char,
    endstr: *mut *mut c_char,
) -> c_int {
    // SAFETY: the caller passes a string.
    let r = unsafe { str_arg(nodename) }.and_then(|s| {
        let len = s.find('/').unwrap_or(s.len());
        if !endstr.is_null() {
            // SAFETY: `len` is within the string; the caller's out pointer.
            unsafe { *endstr = nodename.add(len).cast_mut() };
        }
        n::netmgr_strtond(&s[..len])
            .map(i64::from)
            .map_err(errno_of)
    });
    errno_ret(r) as c_int
}

/// `netmgr_ndtostr(flags, nd, buf, maxbuf)`: the name of node `nd` (0: this node) into
/// `buf`, NUL-terminated and cut to `maxbuf`; returns the length of the full name.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn netmgr_ndtostr(
    _flags: c_uint,
    nd: c_int,
    buf: *mut c_char,
    maxbuf: size_t,
) -> c_int {
    let r = u32::try_from(nd)
        .map_err(|_| Errno::EINVAL)
        .and_then(|nd| n::netmgr_ndtostr(nd).map_err(errno_of))
        .map(|name| {
            if !buf.is_null() && maxbuf > 0 {
                let k = name.len().min(maxbuf - 1);
                // SAFETY: the caller's buffer holds `maxbuf` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(name.as_ptr(), buf.cast(), k);
                    *buf.add(k) = 0;
                }
            }
            name.len() as i64
        });
    errno_ret(r) as c_int
}
