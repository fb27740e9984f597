//! The pathname space: `resmgr_attach`'s registration, `resmgr_detach`, and resolving a path
//! to the managers it reaches (what QNX's `open` asks its process manager).

use qnet_core::paths::{PathFlags, PathMatch};
use qnet_core::{Call, Chid, Completion as C};

use super::channel::done;
use crate::error::Result;
use crate::session::{kernel, unexpected};

/// `resmgr_attach`'s registration: attach absolute `path` (empty with
/// `_RESMGR_FLAG_FTYPEONLY`) on channel `chid` of this process, for opens of `file_type`
/// (0 = any). Returns the attachment's id. `EINVAL` for a relative path or one with `..`,
/// `EPERM` under `/net` (paths are attached on one's own node), `EEXIST` for the same path
/// twice on one channel.
pub fn path_attach(path: &str, chid: Chid, flags: PathFlags, file_type: u32) -> Result<u32> {
    let call = Call::PathAttach {
        path: path.into(),
        chid,
        flags,
        file_type,
    };
    match kernel("resmgr_attach", call)? {
        C::Count(id) => u32::try_from(id).map_err(|_| unexpected("resmgr_attach", &C::Count(id))),
        other => Err(unexpected("resmgr_attach", &other)),
    }
}

/// `resmgr_detach`: the attachment `id` of this process goes (`EINVAL` if it has none).
pub fn path_detach(id: u32) -> Result<()> {
    done(
        "resmgr_detach",
        kernel("resmgr_detach", Call::PathDetach { id })?,
    )
}

/// Every manager absolute `path` reaches for an open of `file_type`, in the order to try
/// them (`ENOENT` if none). `/net/<node>/…` is resolved by that node; its managers come
/// back with the nd this node uses for it.
pub fn path_resolve(path: &str, file_type: u32) -> Result<Vec<PathMatch>> {
    let call = Call::PathResolve {
        path: path.into(),
        file_type,
    };
    match kernel("path_resolve", call)? {
        C::Paths(found) => Ok(found),
        other => Err(unexpected("path_resolve", &other)),
    }
}

/// Every attachment at or below absolute `path`, each with `rest` relative to it (a listing
/// of the pathname space); `/net/<node>/…` lists that node's.
pub fn path_list(path: &str) -> Result<Vec<PathMatch>> {
    match kernel("path_list", Call::PathList { path: path.into() })? {
        C::Paths(found) => Ok(found),
        other => Err(unexpected("path_list", &other)),
    }
}
