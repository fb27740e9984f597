//! The pathname space as a file system: what each FUSE request means.
//!
//! - Directories: `/`, every prefix of an attached path, a path attached with
//!   `_RESMGR_FLAG_DIR`, `/net` (this node and its peers) and `/net/<node>/…` (that node's
//!   space, listed and resolved by it). A listing shows the attached paths below; what a
//!   `_RESMGR_FLAG_DIR` manager serves below its directory is found by name (lookup opens it
//!   there), not listed.
//! - Files: attached paths, and names a directory manager accepts. Attributes come from
//!   the manager (`_IO_CONNECT` without access, `_IO_STAT`, `_IO_CLOSE`); its file types
//!   show as regular files (the kernel would give device files its own meaning).
//! - Open, read, write, `ioctl`, release: `_IO_CONNECT` (the request's flags), `_IO_READ`,
//!   `_IO_WRITE` (an `_IO_LSEEK` first when the kernel's offset is not where the last one
//!   left off), `_IO_DEVCTL` (the `ioctl` request with QNX's direction bits), `_IO_CLOSE`.
//!   Files are opened with `direct_io`: every read reaches the manager.
//! - Every call is made as a thread of the requesting process with the request's uid and gid
//!   (see `caller.rs`), so the manager's `iofunc_client_info` and permission checks see them.
//!   An open file keeps its own threads (hence its process in the kernel) until release.
//! - A request interrupted by a signal (`FUSE_INTERRUPT`) answers `EINTR` at once; the call
//!   behind it is unblocked as a signal would (the manager gets its unblock pulse when its
//!   channel asked for them) and its thread is dropped once the call ends or the file is
//!   released.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use qnet_core::{Coid, Completion, Credentials, Errno, Extents, Pid, ThreadKey};
use tokio::sync::Notify;

use super::abi::{self, Args, Attr, InHeader, op};
use super::caller::{self, Caller};
use crate::driver::Driver;

/// How long the kernel may keep what lookups and getattrs answered.
const VALID_SECS: u64 = 1;

/// `_RESMGR_FLAG_DIR`.
const FLAG_DIR: u32 = 0x4;

/// What a path is.
enum Kind {
    Dir,
    File(Attr),
}

/// An open file: its connection, the threads that use it, where its offset is.
struct Handle {
    pid: Pid,
    cred: Credentials,
    coid: Coid,
    idle: Mutex<Vec<Caller>>,
    /// Threads left blocked by an interrupted call (ended at release).
    stuck: Mutex<Vec<ThreadKey>>,
    pos: Mutex<u64>,
}

/// The file system.
pub struct Fs {
    driver: Arc<Driver>,
    dev: Arc<std::fs::File>,
    inodes: Mutex<Inodes>,
    handles: Mutex<HashMap<u64, Arc<Handle>>>,
    next_fh: AtomicU64,
    inflight: Mutex<HashMap<u64, Arc<Notify>>>,
}

struct Inodes {
    by_path: HashMap<String, u64>,
    by_ino: HashMap<u64, String>,
    next: u64,
}

impl Inodes {
    fn ino(&mut self, path: &str) -> u64 {
        if let Some(&i) = self.by_path.get(path) {
            return i;
        }
        let i = self.next;
        self.next += 1;
        self.by_path.insert(path.to_owned(), i);
        self.by_ino.insert(i, path.to_owned());
        i
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn dir_attr(ino: u64) -> Attr {
    Attr {
        ino,
        mode: libc::S_IFDIR | 0o755,
        nlink: 2,
        ..Attr::default()
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Fs {
    /// A file system over `driver`, replying on `dev` (the `/dev/fuse` of the mount).
    pub fn new(driver: Arc<Driver>, dev: Arc<std::fs::File>) -> Self {
        let mut inodes = Inodes {
            by_path: HashMap::new(),
            by_ino: HashMap::new(),
            next: 2,
        };
        inodes.by_path.insert("/".into(), 1);
        inodes.by_ino.insert(1, "/".into());
        Self {
            driver,
            dev,
            inodes: Mutex::new(inodes),
            handles: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// Write one reply (a single `write`, as the protocol wants).
    pub fn reply(&self, unique: u64, result: Result<Vec<u8>, Errno>) {
        match result {
            Ok(body) => self.reply_bytes(unique, &body),
            Err(e) => self.write_reply(&abi::reply(unique, e.0, &[]), &[]),
        }
    }

    /// A successful reply whose body is `body` (written from where it is: no copy).
    fn reply_bytes(&self, unique: u64, body: &[u8]) {
        let head = abi::out_header(unique, 0, body.len());
        self.write_reply(&head, body);
    }

    fn write_reply(&self, head: &[u8], body: &[u8]) {
        let parts = [std::io::IoSlice::new(head), std::io::IoSlice::new(body)];
        let want = head.len() + body.len();
        match (&*self.dev).write_vectored(&parts) {
            Ok(n) if n == want => {}
            // ENOENT: the request was interrupted and is gone.
            Ok(n) => tracing::debug!(n, want, "FUSE reply cut short"),
            Err(e) => tracing::debug!(error = %e, "FUSE reply not taken"),
        }
    }

    /// `FUSE_INTERRUPT` of request `unique`.
    pub fn interrupt(&self, unique: u64) {
        if let Some(n) = lock(&self.inflight).get(&unique) {
            n.notify_one();
        }
    }

    /// Note request `unique` as in flight (before its task starts, so that an interrupt read
    /// after it finds it).
    pub fn begin(&self, unique: u64) -> Arc<Notify> {
        let n = Arc::new(Notify::new());
        lock(&self.inflight).insert(unique, n.clone());
        n
    }

    /// Serve one request (anything but INIT, FORGET, INTERRUPT, DESTROY).
    pub async fn serve(self: Arc<Self>, h: InHeader, body: Vec<u8>, interrupted: Arc<Notify>) {
        let noreply = matches!(h.opcode, op::FORGET | op::BATCH_FORGET);
        if h.opcode == op::READ {
            // Reads answer with the manager's reply bytes as they came (no copy).
            let result = self.read(&body, &interrupted).await;
            lock(&self.inflight).remove(&h.unique);
            match result {
                Ok(data) => self.reply_bytes(h.unique, &data),
                Err(e) => self.reply(h.unique, Err(e)),
            }
            return;
        }
        let result = self.dispatch(&h, &body, &interrupted).await;
        lock(&self.inflight).remove(&h.unique);
        if !noreply {
            self.reply(h.unique, result);
        }
    }

    /// `FUSE_READ`: `_IO_READ` of the requested size; the reply's bytes.
    async fn read(&self, body: &[u8], intr: &Notify) -> Result<Bytes, Errno> {
        let mut a = Args::new(body);
        let fh = a.u64().map_err(|_| Errno::EINVAL)?;
        let offset = a.u64().map_err(|_| Errno::EINVAL)?;
        let size = a.u32().map_err(|_| Errno::EINVAL)?.min(abi::MAX_WRITE);
        let msg = caller::rw_header(caller::IO_READ, size);
        let (status, data) = self
            .io(fh, Some(offset), msg, u64::from(size), intr)
            .await?;
        let n = (status.max(0) as usize).min(size as usize);
        let data = flatten(data, n);
        self.advance(fh, offset, data.len());
        Ok(data)
    }

    fn path(&self, ino: u64) -> Result<String, Errno> {
        lock(&self.inodes)
            .by_ino
            .get(&ino)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    fn ino(&self, path: &str) -> u64 {
        lock(&self.inodes).ino(path)
    }

    /// The requester as a process of the kernel: its pid (the daemon's for the kernel's own
    /// requests), uid and gid.
    fn who(h: &InHeader) -> (Pid, Credentials) {
        let pid = if h.pid == 0 {
            std::process::id()
        } else {
            h.pid
        };
        (
            pid,
            Credentials {
                uid: h.uid,
                gid: h.gid,
            },
        )
    }

    fn caller(&self, h: &InHeader) -> Result<Caller, Errno> {
        let (pid, cred) = Self::who(h);
        Caller::new(&self.driver, pid, cred)
    }

    fn handle(&self, fh: u64) -> Result<Arc<Handle>, Errno> {
        lock(&self.handles).get(&fh).cloned().ok_or(Errno::EBADF)
    }

    async fn dispatch(&self, h: &InHeader, body: &[u8], intr: &Notify) -> Result<Vec<u8>, Errno> {
        let mut a = Args::new(body);
        let short = |_| Errno::EINVAL;
        match h.opcode {
            op::LOOKUP => {
                let name = a.name().map_err(short)?;
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(Errno::ENOENT);
                }
                let path = join(&self.path(h.nodeid)?, name);
                let kind = self.kind(h, &path).await?;
                let ino = self.ino(&path);
                Ok(abi::entry_out(&attr_of(ino, kind), VALID_SECS))
            }
            op::GETATTR | op::SETATTR => {
                let path = self.path(h.nodeid)?;
                let kind = self.kind(h, &path).await?;
                Ok(abi::attr_out(&attr_of(h.nodeid, kind), VALID_SECS))
            }
            op::OPENDIR => match self.kind(h, &self.path(h.nodeid)?).await? {
                Kind::Dir => Ok(abi::open_out(0, 0)),
                Kind::File(_) => Err(Errno(libc::ENOTDIR)),
            },
            op::READDIR => {
                a.skip(8).map_err(short)?;
                let offset = a.u64().map_err(short)?;
                let size = a.u32().map_err(short)? as usize;
                self.readdir(h, offset, size).await
            }
            op::RELEASEDIR | op::FSYNCDIR | op::FLUSH | op::FSYNC => Ok(Vec::new()),
            op::STATFS => Ok(abi::statfs_out()),
            op::OPEN => {
                let flags = a.u32().map_err(short)?;
                self.open(h, flags, 0)
                    .await
                    .map(|fh| abi::open_out(fh, abi::FOPEN_DIRECT_IO))
            }
            op::CREATE => {
                let flags = a.u32().map_err(short)?;
                let mode = a.u32().map_err(short)?;
                a.skip(8).map_err(short)?;
                let name = a.name().map_err(short)?;
                let path = join(&self.path(h.nodeid)?, name);
                let fh = self
                    .open_path(h, &path, flags | libc::O_CREAT as u32, mode)
                    .await?;
                let ino = self.ino(&path);
                let attr = Attr {
                    ino,
                    mode: libc::S_IFREG | (mode & 0o777),
                    nlink: 1,
                    uid: h.uid,
                    gid: h.gid,
                    ..Attr::default()
                };
                let mut out = abi::entry_out(&attr, VALID_SECS);
                out.extend_from_slice(&abi::open_out(fh, abi::FOPEN_DIRECT_IO));
                Ok(out)
            }
            op::WRITE => {
                let fh = a.u64().map_err(short)?;
                let offset = a.u64().map_err(short)?;
                let size = a.u32().map_err(short)?;
                a.skip(4 + 8 + 8).map_err(short)?;
                let data = a.bytes(size as usize).map_err(short)?;
                let mut msg = caller::rw_header(caller::IO_WRITE, size);
                msg.extend_from_slice(data);
                let (status, _) = self.io(fh, Some(offset), msg, 0, intr).await?;
                let n = status.max(0) as u32;
                self.advance(fh, offset, n as usize);
                let mut out = abi::Body::default();
                out.u32(n).u32(0);
                Ok(out.0)
            }
            op::IOCTL => {
                let fh = a.u64().map_err(short)?;
                let _flags = a.u32().map_err(short)?;
                let cmd = a.u32().map_err(short)?;
                let _arg = a.u64().map_err(short)?;
                let in_size = a.u32().map_err(short)?;
                let out_size = a.u32().map_err(short)?;
                let input = a.bytes(in_size as usize).map_err(short)?;
                self.ioctl(fh, cmd, input, out_size, intr).await
            }
            op::RELEASE => {
                let fh = a.u64().map_err(short)?;
                self.release(fh).await;
                Ok(Vec::new())
            }
            op::FORGET | op::BATCH_FORGET => Ok(Vec::new()),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// What `path` is (see the module doc).
    async fn kind(&self, h: &InHeader, path: &str) -> Result<Kind, Errno> {
        if path == "/" || path == "/net" {
            return Ok(Kind::Dir);
        }
        if let Some(node) = path.strip_prefix("/net/").filter(|n| !n.contains('/')) {
            return if self.node_names().iter().any(|n| n == node) {
                Ok(Kind::Dir)
            } else {
                Err(Errno::ENOENT)
            };
        }
        let mut c = self.caller(h)?;
        let listed = c.list(path).await.unwrap_or_default();
        if listed
            .iter()
            .any(|m| !m.rest.is_empty() || m.flags.0 & FLAG_DIR != 0)
        {
            return Ok(Kind::Dir);
        }
        // An attached file, or a name below a directory manager: ask the manager.
        let coid = c.open(path, 0, 0).await?;
        let st = c.fstat(coid).await;
        c.close(coid).await;
        let st = st.unwrap_or_default();
        if st.mode & libc::S_IFMT == libc::S_IFDIR {
            return Ok(Kind::Dir);
        }
        Ok(Kind::File(Attr {
            ino: 0,
            size: st.size,
            mtime: st.mtime,
            mode: libc::S_IFREG
                | (if st.mode == 0 {
                    0o666
                } else {
                    st.mode & 0o7777
                }),
            nlink: 1,
            uid: st.uid,
            gid: st.gid,
        }))
    }

    /// This node's name and its peers' (the entries of `/net`).
    fn node_names(&self) -> Vec<String> {
        self.driver.with_kernel(|k| {
            let mut names: Vec<String> = k.node_name(0).into_iter().map(str::to_owned).collect();
            names.extend(k.nodes().filter(|n| n.2).map(|n| n.1.to_owned()));
            names
        })
    }

    async fn readdir(&self, h: &InHeader, offset: u64, size: usize) -> Result<Vec<u8>, Errno> {
        let path = self.path(h.nodeid)?;
        let mut children: BTreeSet<(String, bool)> = BTreeSet::new();
        if path == "/net" {
            for n in self.node_names() {
                children.insert((n, true));
            }
        } else {
            let mut c = self.caller(h)?;
            let listed = c.list(&path).await?;
            for m in &listed {
                if m.rest.is_empty() {
                    continue;
                }
                let (first, more) = match m.rest.split_once('/') {
                    Some((f, _)) => (f, true),
                    None => (m.rest.as_str(), m.flags.0 & FLAG_DIR != 0),
                };
                children.insert((first.to_owned(), more));
            }
            if path == "/" {
                children.insert(("net".into(), true));
            }
        }
        let mut entries: Vec<(String, u64, u32)> = vec![
            (".".into(), h.nodeid, abi::DT_DIR),
            ("..".into(), 1, abi::DT_DIR),
        ];
        for (name, dir) in children {
            let ino = self.ino(&join(&path, &name));
            entries.push((name, ino, if dir { abi::DT_DIR } else { abi::DT_REG }));
        }
        let mut out = Vec::new();
        for (i, (name, ino, kind)) in entries.iter().enumerate().skip(offset as usize) {
            if out.len() + abi::dirent_len(name) > size {
                break;
            }
            abi::dirent(&mut out, *ino, i as u64 + 1, *kind, name);
        }
        Ok(out)
    }

    async fn open(&self, h: &InHeader, flags: u32, mode: u32) -> Result<u64, Errno> {
        let path = self.path(h.nodeid)?;
        self.open_path(h, &path, flags, mode).await
    }

    async fn open_path(
        &self,
        h: &InHeader,
        path: &str,
        flags: u32,
        mode: u32,
    ) -> Result<u64, Errno> {
        let (pid, cred) = Self::who(h);
        let mut c = Caller::new(&self.driver, pid, cred)?;
        let coid = match c.open(path, caller::ioflag(flags), mode).await {
            Err(Errno::ENOENT) if flags & libc::O_CREAT as u32 != 0 => return Err(Errno::EACCES),
            r => r?,
        };
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(Handle {
            pid,
            cred,
            coid,
            idle: Mutex::new(vec![c]),
            stuck: Mutex::new(Vec::new()),
            pos: Mutex::new(0),
        });
        lock(&self.handles).insert(fh, handle);
        Ok(fh)
    }

    fn advance(&self, fh: u64, offset: u64, n: usize) {
        if let Ok(hd) = self.handle(fh) {
            *lock(&hd.pos) = offset + n as u64;
        }
    }

    /// One message on open file `fh` (after an `_IO_LSEEK` if `offset` is not where the file
    /// is), as one of its threads; an interrupt answers `EINTR` and unblocks the call.
    async fn io(
        &self,
        fh: u64,
        offset: Option<u64>,
        msg: Vec<u8>,
        reply_cap: u64,
        intr: &Notify,
    ) -> Result<(i64, Extents), Errno> {
        let hd = self.handle(fh)?;
        let popped = lock(&hd.idle).pop();
        let mut c = match popped {
            Some(c) => c,
            None => Caller::new(&self.driver, hd.pid, hd.cred)?,
        };
        if let Some(off) = offset {
            let at = *lock(&hd.pos);
            if off != at {
                // A manager that cannot seek keeps its own position.
                let _ = c.seek(hd.coid, off).await;
            }
        }
        let answer = match c.start(caller::send_call(hd.coid, msg, reply_cap)) {
            Some(a) => a,
            None => {
                tokio::select! {
                    a = c.wait() => a,
                    () = intr.notified() => {
                        c.unblock();
                        // The call may end at once (it was SEND-blocked) or when the manager
                        // answers; its thread serves no other request meanwhile.
                        lock(&hd.stuck).push(c.thread());
                        tokio::spawn(async move {
                            let _ = c.wait().await;
                            drop(c);
                        });
                        return Err(Errno::EINTR);
                    }
                }
            }
        };
        lock(&hd.idle).push(c);
        match answer? {
            Completion::Reply { status, data } => Ok((status, data)),
            _ => Err(Errno::EPROTO),
        }
    }

    async fn ioctl(
        &self,
        fh: u64,
        cmd: u32,
        input: &[u8],
        out_size: u32,
        intr: &Notify,
    ) -> Result<Vec<u8>, Errno> {
        // Linux's _IOC direction bits are QNX's the other way round.
        let to = cmd & 0x4000_0000 != 0;
        let from = cmd & 0x8000_0000 != 0;
        let dcmd = (cmd & 0x3fff_ffff)
            | if to { 0x8000_0000 } else { 0 }
            | if from { 0x4000_0000 } else { 0 };
        let nbytes = (input.len() as u32).max(out_size);
        let mut msg = caller::devctl_header(dcmd, nbytes);
        msg.extend_from_slice(input);
        let r = self.io(fh, None, msg, 16 + u64::from(out_size), intr).await;
        let (_, reply) = match r {
            Err(Errno::ENOSYS) => return Err(Errno(libc::ENOTTY)),
            r => r?,
        };
        let reply = flatten(reply, 16 + out_size as usize);
        let mut out = abi::Body::default();
        out.i32(0).u32(0).u32(0).u32(0);
        if reply.len() > 16 {
            out.bytes(&reply[16..]);
        }
        Ok(out.0)
    }

    async fn release(&self, fh: u64) {
        let Some(hd) = lock(&self.handles).remove(&fh) else {
            return;
        };
        let popped = lock(&hd.idle).pop();
        let c = match popped {
            Some(c) => Some(c),
            None => Caller::new(&self.driver, hd.pid, hd.cred).ok(),
        };
        if let Some(mut c) = c {
            c.close(hd.coid).await;
        }
        lock(&hd.idle).clear();
        for t in lock(&hd.stuck).drain(..) {
            self.driver.unregister_thread(t);
        }
    }
}

/// The first `n` bytes of a reply's written pieces (unwritten gaps as zeros); the piece
/// itself when it is one piece at offset 0 (the usual reply: no copy).
fn flatten(data: Extents, n: usize) -> Bytes {
    if let [one] = data.pieces() {
        if one.offset == 0 {
            return one.data.slice(..n.min(one.data.len()));
        }
    }
    let mut buf = vec![0u8; (data.end() as usize).min(n)];
    data.copy_into(&mut buf);
    Bytes::from(buf)
}

fn attr_of(ino: u64, kind: Kind) -> Attr {
    match kind {
        Kind::Dir => dir_attr(ino),
        Kind::File(a) => Attr { ino, ..a },
    }
}
