//! The pathname space: `resmgr_attach` registers a path (a prefix with `_RESMGR_FLAG_DIR`)
//! on one of the caller's channels, a resolve answers every manager a path reaches in the
//! order a client must try them, `resmgr_detach`, `ChannelDestroy` and process exit take
//! entries away.
//!
//! Order, as QNX's process manager resolves: the longest matching prefix first; managers
//! attached at the same path in their list order, where a new attachment goes to the front
//! (`_RESMGR_FLAG_BEFORE`, QNX's default) or, with `_RESMGR_FLAG_AFTER`, to the back; a
//! shorter prefix only matches with `_RESMGR_FLAG_DIR`; a match with `_RESMGR_FLAG_OPAQUE`
//! hides the shorter prefixes. `_RESMGR_FLAG_FTYPEONLY` managers attach no path and get every
//! open of their file type, before any path match. The client connects to each in turn until
//! one accepts its connect message.
//!
//! `/net/<node>/…` is the network's (`remote.rs` sends resolves there to that node): no
//! process attaches under `/net`, so no manager here can stand in for another node's.

use crate::errno::Errno;
use crate::ids::{Chid, ProcessKey};
use crate::paths::{
    FTYPE_ANY, PathFlags, PathMatch, below, normalize, normalize_attach, prefixes, split_net,
};

use super::Kernel;
use super::limits::Limit;

/// One attachment.
#[derive(Clone, Debug)]
pub(super) struct PathEntry {
    /// The normalized path (`""` for `FTYPEONLY`).
    pub(super) prefix: String,
    /// The manager.
    pub(super) owner: ProcessKey,
    /// The channel its clients connect to.
    pub(super) chid: Chid,
    /// `resmgr_attach` flags.
    pub(super) flags: PathFlags,
    /// `resmgr_attach` file type.
    pub(super) file_type: u32,
}

/// An attached path, for introspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathSnapshot {
    /// The attachment's id.
    pub id: u32,
    /// The path (empty for an `FTYPEONLY` attachment).
    pub path: String,
    /// The manager.
    pub owner: ProcessKey,
    /// Its channel.
    pub chid: Chid,
    /// Its flags.
    pub flags: PathFlags,
    /// Its file type.
    pub file_type: u32,
}

impl Kernel {
    /// `resmgr_attach(path, file_type, flags)` on channel `chid` of `process` → the
    /// attachment's id.
    ///
    /// Refused: a path that is not absolute or climbs with `..` (`EINVAL`), one past
    /// `PATH_MAX` (`ENAMETOOLONG`), a path under `/net` (`EPERM`: that is other nodes'
    /// space, and a process attaches only on its own node), the same path twice on the same
    /// channel (`EEXIST`), a chid that is not the caller's (`EINVAL`), `FTYPEONLY` with a path
    /// or with `_FTYPE_ANY` (`EINVAL`), a remote process (`EPERM`), and past the process's
    /// names limit (`EAGAIN`; paths and names count together).
    pub(super) fn path_attach(
        &mut self,
        process: ProcessKey,
        path: &str,
        chid: Chid,
        flags: PathFlags,
        file_type: u32,
    ) -> Result<u32, Errno> {
        if process.nd != 0 {
            return Err(Errno::EPERM);
        }
        let prefix = if flags.contains(PathFlags::FTYPEONLY) {
            if !path.is_empty() || file_type == FTYPE_ANY {
                return Err(Errno::EINVAL);
            }
            String::new()
        } else {
            let p = normalize_attach(path)?;
            if p == "/net" || p.starts_with("/net/") {
                return Err(Errno::EPERM);
            }
            p
        };
        let p = self.processes.get(&process).ok_or(Errno::EINVAL)?;
        if !p.channels.contains_key(&chid) {
            return Err(Errno::EINVAL);
        }
        let duplicate = p.paths.iter().any(|id| {
            self.path_entries
                .get(id)
                .is_some_and(|e| e.chid == chid && e.prefix == prefix && e.file_type == file_type)
        });
        if duplicate {
            return Err(Errno::EEXIST);
        }
        let held = (p.names.len() + p.paths.len()) as u64;
        self.within(process, Limit::Names, held, 1)?;
        let id = self.path_ids.alloc().ok_or(Errno::EAGAIN)? as u32;
        let list = if flags.contains(PathFlags::FTYPEONLY) {
            self.ftype_only.entry(file_type).or_default()
        } else {
            self.paths.entry(prefix.clone()).or_default()
        };
        if flags.contains(PathFlags::AFTER) {
            list.push(id);
        } else {
            list.insert(0, id);
        }
        self.path_entries.insert(
            id,
            PathEntry {
                prefix,
                owner: process,
                chid,
                flags,
                file_type,
            },
        );
        if let Some(p) = self.processes.get_mut(&process) {
            p.paths.insert(id);
        }
        Ok(id)
    }

    /// `resmgr_detach(id)`: only the process that attached it; another id → `EINVAL`.
    pub(super) fn path_detach(&mut self, process: ProcessKey, id: u32) -> Result<(), Errno> {
        let owned = self
            .processes
            .get(&process)
            .is_some_and(|p| p.paths.contains(&id));
        if !owned {
            return Err(Errno::EINVAL);
        }
        self.remove_path(id);
        Ok(())
    }

    /// Every path attached on channel `chid` of `process` goes (the channel is destroyed).
    pub(super) fn remove_channel_paths(&mut self, process: ProcessKey, chid: Chid) {
        let ids: Vec<u32> = match self.processes.get(&process) {
            Some(p) => p
                .paths
                .iter()
                .copied()
                .filter(|id| self.path_entries.get(id).is_some_and(|e| e.chid == chid))
                .collect(),
            None => return,
        };
        for id in ids {
            self.remove_path(id);
        }
    }

    fn remove_path(&mut self, id: u32) {
        let Some(entry) = self.path_entries.remove(&id) else {
            return;
        };
        self.path_ids.free(id as i32);
        if let Some(p) = self.processes.get_mut(&entry.owner) {
            p.paths.remove(&id);
        }
        if entry.flags.contains(PathFlags::FTYPEONLY) {
            if let Some(list) = self.ftype_only.get_mut(&entry.file_type) {
                list.retain(|i| *i != id);
                if list.is_empty() {
                    self.ftype_only.remove(&entry.file_type);
                }
            }
        } else if let Some(list) = self.paths.get_mut(&entry.prefix) {
            list.retain(|i| *i != id);
            if list.is_empty() {
                self.paths.remove(&entry.prefix);
            }
        }
    }

    /// Every manager `path` (absolute; `..` resolved lexically) reaches for an open of
    /// `file_type`, in the order to try them; none → `ENOENT`. Paths under `/net/<node>`
    /// are resolved by that node (`remote.rs`), never here.
    pub(super) fn path_resolve(&self, path: &str, file_type: u32) -> Result<Vec<PathMatch>, Errno> {
        let path = normalize(path)?;
        if split_net(&path).is_some() {
            // `/net/<this node>` was stripped by the caller; another node is not ours.
            return Err(Errno::ENOENT);
        }
        let mut found = Vec::new();
        if file_type != FTYPE_ANY {
            for id in self.ftype_only.get(&file_type).into_iter().flatten() {
                found.extend(self.path_match(*id, below(&path, "/")));
            }
        }
        for prefix in prefixes(&path) {
            let Some(ids) = self.paths.get(prefix) else {
                continue;
            };
            let exact = prefix == path;
            let rest = below(&path, prefix);
            let mut opaque = false;
            for id in ids {
                let Some(e) = self.path_entries.get(id) else {
                    continue;
                };
                let type_fits =
                    e.file_type == FTYPE_ANY || file_type == FTYPE_ANY || e.file_type == file_type;
                if (exact || e.flags.contains(PathFlags::DIR)) && type_fits {
                    opaque |= e.flags.contains(PathFlags::OPAQUE);
                    found.extend(self.path_match(*id, rest));
                }
            }
            if opaque {
                break;
            }
        }
        if found.is_empty() {
            Err(Errno::ENOENT)
        } else {
            Ok(found)
        }
    }

    /// Every attachment at or below `dir` (normalized; `/` lists them all), each with `rest`
    /// its path below `dir`: what a directory listing of the pathname space shows.
    pub(super) fn path_list(&self, dir: &str) -> Result<Vec<PathMatch>, Errno> {
        let dir = normalize(dir)?;
        let start = dir.clone();
        let mut out = Vec::new();
        for (prefix, ids) in self.paths.range(start..) {
            let inside = prefix == &dir
                || dir == "/"
                || prefix
                    .strip_prefix(dir.as_str())
                    .is_some_and(|r| r.starts_with('/'));
            if !inside {
                // Sorted: once past `dir` and its `dir/…` children, nothing more is inside.
                if !prefix.starts_with(dir.as_str()) {
                    break;
                }
                continue;
            }
            let rest = below(prefix, &dir);
            for id in ids {
                out.extend(self.path_match(*id, rest));
            }
        }
        Ok(out)
    }

    fn path_match(&self, id: u32, rest: &str) -> Option<PathMatch> {
        let e = self.path_entries.get(&id)?;
        Some(PathMatch {
            nd: e.owner.nd,
            pid: e.owner.pid,
            chid: e.chid,
            handle: id,
            flags: e.flags,
            file_type: e.file_type,
            prefix: e.prefix.clone(),
            rest: rest.to_owned(),
        })
    }

    /// Attached paths, by id.
    pub fn paths(&self) -> Vec<PathSnapshot> {
        self.path_entries
            .iter()
            .map(|(id, e)| PathSnapshot {
                id: *id,
                path: e.prefix.clone(),
                owner: e.owner,
                chid: e.chid,
                flags: e.flags,
                file_type: e.file_type,
            })
            .collect()
    }

    /// The path indexes recomputed from the entries: the first mismatch (for `audit`).
    pub(super) fn audit_paths(&self) -> Result<(), String> {
        for (id, e) in &self.path_entries {
            let list = if e.flags.contains(PathFlags::FTYPEONLY) {
                self.ftype_only.get(&e.file_type)
            } else {
                self.paths.get(&e.prefix)
            };
            if !list.is_some_and(|l| l.contains(id)) {
                return Err(format!("path {id} ({:?}) missing from its list", e.prefix));
            }
            let owned = self
                .processes
                .get(&e.owner)
                .is_some_and(|p| p.paths.contains(id) && p.channels.contains_key(&e.chid));
            if !owned {
                return Err(format!(
                    "path {id} ({:?}) not held by a live channel",
                    e.prefix
                ));
            }
        }
        let listed: usize = self
            .paths
            .values()
            .chain(self.ftype_only.values())
            .map(Vec::len)
            .sum();
        let held: usize = self.processes.values().map(|p| p.paths.len()).sum();
        if listed != self.path_entries.len() || held != self.path_entries.len() {
            return Err(format!(
                "paths: {} entries, {listed} listed, {held} held",
                self.path_entries.len()
            ));
        }
        Ok(())
    }
}
