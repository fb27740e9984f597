//! The shared-memory handle registry: `shm_create_handle` / `shm_open_handle`.
//!
//! A handle gives one named process one-time access to one shared-memory object. The creator
//! passes the object's descriptor (SCM_RIGHTS) with the pid allowed to open it and the
//! permissions granted (`O_RDONLY` or `O_RDWR`); the registry keeps the descriptor under an
//! unguessable 64-bit handle. Opening checks the caller's pid (from SO_PEERCRED) and the
//! permissions, removes the handle and hands the descriptor back, reopened read-only through
//! `/proc/self/fd` when only reading is granted, so a read-only grant can never be written.
//!
//! Shared memory is local (DESIGN): a handle names a process as (node, pid), never by pid
//! alone, and only a process of this node can be granted one (another node → `ENOREMOTE`).
//! The top 16 bits of every handle are a tag of the node that made it ([`node_tag`], the same
//! on every daemon), so a handle carried to another node is recognised there and refused with
//! `ENOREMOTE` naming its node, instead of looking like a stale handle (`EINVAL`). Two node
//! names can share a tag (1 in 65,536): such a handle then reads as unknown (`EINVAL`).

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::fs::OpenOptions;
use std::hash::BuildHasher;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, PoisonError};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use qnet_core::{Errno, ProcessKey};

/// Bits of a handle below its node tag.
const TAG_SHIFT: u32 = 48;

/// The 16-bit tag of node `name` in the handles it makes: FNV-1a of the name folded to 16
/// bits (a fixed function, so every daemon computes the same tag for a node).
pub fn node_tag(name: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) as u16
}

/// The node tag inside `handle`.
pub fn tag_of(handle: u64) -> u16 {
    (handle >> TAG_SHIFT) as u16
}

/// Live handles one creator pid may hold; more → `ENOMEM`.
pub const MAX_HANDLES_PER_CREATOR: usize = 1024;

/// Access a handle grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perms {
    /// `O_RDONLY`.
    ReadOnly,
    /// `O_RDWR`.
    ReadWrite,
}

impl Perms {
    /// From libc's open flags: exactly `O_RDONLY` or `O_RDWR`.
    pub fn from_flags(flags: u32) -> Option<Perms> {
        match i32::try_from(flags).ok()? {
            libc::O_RDONLY => Some(Perms::ReadOnly),
            libc::O_RDWR => Some(Perms::ReadWrite),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Handle {
    fd: OwnedFd,
    allowed: ProcessKey,
    perms: Perms,
    creator: ProcessKey,
}

/// Every live handle of this daemon.
#[derive(Debug)]
pub struct ShmRegistry {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Keyed SipHash (key from the OS RNG, drawn once): handles are a keyed hash of a counter,
    /// so knowing some handles says nothing about the others.
    key: RandomState,
    counter: u64,
    /// This node's tag, in the top bits of every handle made here.
    tag: u16,
    handles: HashMap<u64, Handle>,
    per_creator: HashMap<ProcessKey, usize>,
    limit: usize,
}

impl ShmRegistry {
    /// An empty registry of node `node` with a fresh random key.
    pub fn new(node: &str) -> Self {
        Self::with_limit(node, MAX_HANDLES_PER_CREATOR)
    }

    /// An empty registry of node `node` allowing `limit` live handles per creator.
    pub fn with_limit(node: &str, limit: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                key: RandomState::new(),
                counter: 0,
                tag: node_tag(node),
                handles: HashMap::new(),
                per_creator: HashMap::new(),
                limit,
            }),
        }
    }

    /// Whether `handle` carries another node's tag (it was made elsewhere).
    pub fn is_foreign(&self, handle: u64) -> bool {
        tag_of(handle)
            != self
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .tag
    }

    /// `creator` grants `allowed` access `perms` (libc flags) to `fd`. Returns the handle.
    ///
    /// `allowed` on another node (`nd != 0`) → `ENOREMOTE` (shared memory is local); no
    /// descriptor or bad perms → `EINVAL`; a descriptor not open for the access granted →
    /// `EACCES`; the creator holding the limit of live handles already → `ENOMEM`.
    pub fn create(
        &self,
        creator: ProcessKey,
        fd: Option<OwnedFd>,
        allowed: ProcessKey,
        perms: u32,
    ) -> Result<u64, Errno> {
        if allowed.nd != 0 {
            return Err(Errno::ENOREMOTE);
        }
        let fd = fd.ok_or(Errno::EINVAL)?;
        let perms = Perms::from_flags(perms).ok_or(Errno::EINVAL)?;
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| Errno(e as i32))?;
        let mode = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE;
        let grantable = match perms {
            Perms::ReadOnly => mode == OFlag::O_RDONLY || mode == OFlag::O_RDWR,
            Perms::ReadWrite => mode == OFlag::O_RDWR,
        };
        if !grantable {
            return Err(Errno::EACCES);
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.per_creator.get(&creator).copied().unwrap_or(0) >= inner.limit {
            return Err(Errno::ENOMEM);
        }
        let tag = u64::from(inner.tag) << TAG_SHIFT;
        let handle = loop {
            inner.counter = inner.counter.wrapping_add(1);
            let h = tag | (inner.key.hash_one(inner.counter) & ((1 << TAG_SHIFT) - 1));
            if h != 0 && !inner.handles.contains_key(&h) {
                break h;
            }
        };
        inner.handles.insert(
            handle,
            Handle {
                fd,
                allowed,
                perms,
                creator,
            },
        );
        *inner.per_creator.entry(creator).or_insert(0) += 1;
        Ok(handle)
    }

    /// `caller` opens `handle` for `perms` (libc flags); on success the handle is gone.
    ///
    /// A handle made on another node (its tag) → `ENOREMOTE`; unknown handle or bad perms →
    /// `EINVAL`; `caller` not the allowed process → `EPERM`; `O_RDWR` asked of a read-only
    /// handle → `EACCES`. Refusals leave the handle in place.
    pub fn open(&self, caller: ProcessKey, handle: u64, perms: u32) -> Result<OwnedFd, Errno> {
        let asked = Perms::from_flags(perms).ok_or(Errno::EINVAL)?;
        let h = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            if tag_of(handle) != inner.tag {
                return Err(Errno::ENOREMOTE);
            }
            let Entry::Occupied(e) = inner.handles.entry(handle) else {
                return Err(Errno::EINVAL);
            };
            let h = e.get();
            if h.allowed != caller {
                return Err(Errno::EPERM);
            }
            if asked == Perms::ReadWrite && h.perms == Perms::ReadOnly {
                return Err(Errno::EACCES);
            }
            let h = e.remove();
            if let Entry::Occupied(mut c) = inner.per_creator.entry(h.creator) {
                *c.get_mut() -= 1;
                if *c.get() == 0 {
                    c.remove();
                }
            }
            h
        };
        match asked {
            Perms::ReadWrite => Ok(h.fd),
            // A fresh open file description, read-only, of the same object.
            Perms::ReadOnly => OpenOptions::new()
                .read(true)
                .open(format!("/proc/self/fd/{}", h.fd.as_raw_fd()))
                .map(OwnedFd::from)
                .map_err(|e| Errno(e.raw_os_error().unwrap_or(Errno::EIO.0))),
        }
    }

    /// Live handles.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .handles
            .len()
    }

    /// Whether no handle is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;

    fn local(pid: u32) -> ProcessKey {
        ProcessKey { nd: 0, pid }
    }

    fn rdwr_file() -> OwnedFd {
        OwnedFd::from(tempfile::tempfile().unwrap())
    }

    #[test]
    fn create_then_open_once() {
        let reg = ShmRegistry::new("n1");
        let h = reg
            .create(local(10), Some(rdwr_file()), local(20), libc::O_RDWR as u32)
            .unwrap();
        assert_eq!(
            reg.open(local(21), h, libc::O_RDWR as u32).unwrap_err(),
            Errno::EPERM
        );
        let fd = reg.open(local(20), h, libc::O_RDWR as u32).unwrap();
        let mut f = std::fs::File::from(fd);
        f.write_all(b"x").unwrap();
        assert_eq!(
            reg.open(local(20), h, libc::O_RDWR as u32).unwrap_err(),
            Errno::EINVAL
        );
        assert!(reg.is_empty());
    }

    #[test]
    fn read_only_handle_gives_a_read_only_fd() {
        let reg = ShmRegistry::new("n1");
        let file = tempfile::tempfile().unwrap();
        let mut writer = file.try_clone().unwrap();
        writer.write_all(b"hello").unwrap();
        let h = reg
            .create(
                local(10),
                Some(file.into()),
                local(20),
                libc::O_RDONLY as u32,
            )
            .unwrap();
        assert_eq!(
            reg.open(local(20), h, libc::O_RDWR as u32).unwrap_err(),
            Errno::EACCES
        );
        let mut f = std::fs::File::from(reg.open(local(20), h, libc::O_RDONLY as u32).unwrap());
        assert!(f.write_all(b"no").is_err());
        f.rewind().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn refusals_at_create() {
        let reg = ShmRegistry::new("n1");
        assert_eq!(
            reg.create(local(1), None, local(2), 0).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            reg.create(local(1), Some(rdwr_file()), local(2), 0o1234)
                .unwrap_err(),
            Errno::EINVAL
        );
        let ro = OwnedFd::from(std::fs::File::open("/proc/self/status").unwrap());
        assert_eq!(
            reg.create(local(1), Some(ro), local(2), libc::O_RDWR as u32)
                .unwrap_err(),
            Errno::EACCES
        );
    }

    #[test]
    fn per_creator_limit() {
        const LIMIT: usize = 8;
        let reg = ShmRegistry::with_limit("n1", LIMIT);
        let file = tempfile::tempfile().unwrap();
        let mut handles = Vec::new();
        for _ in 0..LIMIT {
            let fd = OwnedFd::from(file.try_clone().unwrap());
            handles.push(reg.create(local(1), Some(fd), local(2), 0).unwrap());
        }
        let fd = OwnedFd::from(file.try_clone().unwrap());
        assert_eq!(
            reg.create(local(1), Some(fd), local(2), 0).unwrap_err(),
            Errno::ENOMEM
        );
        // Another creator is not affected; opening one frees a slot.
        let fd = OwnedFd::from(file.try_clone().unwrap());
        assert!(reg.create(local(3), Some(fd), local(2), 0).is_ok());
        drop(reg.open(local(2), handles[0], 0).unwrap());
        let fd = OwnedFd::from(file.try_clone().unwrap());
        assert!(reg.create(local(1), Some(fd), local(2), 0).is_ok());
        let mut unique = handles.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), handles.len());
    }

    /// Handles are keyed by (node, pid): none can be made for another node's process, the
    /// same pid on another node is not the granted process, and a handle from another node
    /// is recognised by its tag (`ENOREMOTE`, not `EINVAL`).
    #[test]
    fn handles_are_per_node() {
        let n1 = ShmRegistry::new("n1");
        let n2 = ShmRegistry::new("n2");
        assert_ne!(node_tag("n1"), node_tag("n2"));
        let remote = ProcessKey { nd: 2, pid: 20 };
        assert_eq!(
            n1.create(local(10), Some(rdwr_file()), remote, libc::O_RDWR as u32)
                .unwrap_err(),
            Errno::ENOREMOTE
        );
        assert!(n1.is_empty(), "a refusal changes nothing");
        let h = n2
            .create(local(10), Some(rdwr_file()), local(20), libc::O_RDWR as u32)
            .unwrap();
        assert_eq!(tag_of(h), node_tag("n2"));
        assert!(n1.is_foreign(h) && !n2.is_foreign(h));
        assert_eq!(
            n1.open(local(20), h, libc::O_RDWR as u32).unwrap_err(),
            Errno::ENOREMOTE
        );
        assert_eq!(
            n2.open(remote, h, libc::O_RDWR as u32).unwrap_err(),
            Errno::EPERM,
            "pid 20 of another node is not pid 20 here"
        );
        assert!(n2.open(local(20), h, libc::O_RDWR as u32).is_ok());
    }
}
