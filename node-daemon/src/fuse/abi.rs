//! The part of the Linux FUSE protocol (`<linux/fuse.h>`, version 7) the mount speaks:
//! request headers and arguments parsed from bytes (every length checked: a short request is
//! an error, never a panic), and replies built as bytes.

/// `FUSE_KERNEL_VERSION`.
pub const MAJOR: u32 = 7;
/// The minor version this implementation answers with at most (the kernel's if lower).
pub const MINOR: u32 = 31;

/// Opcodes.
pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const IOCTL: u32 = 39;
    pub const BATCH_FORGET: u32 = 42;
}

/// `FUSE_INIT` flags this mount asks for.
pub const INIT_ASYNC_READ: u32 = 1 << 0;
/// `FUSE_ATOMIC_O_TRUNC`: `O_TRUNC` comes with the open (no separate truncate).
pub const INIT_ATOMIC_O_TRUNC: u32 = 1 << 3;
/// `FUSE_BIG_WRITES`.
pub const INIT_BIG_WRITES: u32 = 1 << 5;
/// `FUSE_MAX_PAGES`: `max_pages` is meaningful.
pub const INIT_MAX_PAGES: u32 = 1 << 22;

/// `FOPEN_DIRECT_IO`: no page cache (a device's reads are not a file's contents).
pub const FOPEN_DIRECT_IO: u32 = 1;

/// Largest write this mount accepts in one request (and largest read it is asked for).
pub const MAX_WRITE: u32 = 1 << 20;
/// `max_pages` for [`MAX_WRITE`].
pub const MAX_PAGES: u16 = 256;

/// The fixed part of every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InHeader {
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
}

/// Size of `fuse_in_header`.
pub const IN_HEADER: usize = 40;
/// Size of `fuse_out_header`.
pub const OUT_HEADER: usize = 16;

/// A request's bytes after the header, read field by field.
pub struct Args<'a> {
    b: &'a [u8],
}

/// The request was shorter than its opcode's arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Short;

impl<'a> Args<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        if self.b.len() < n {
            return Err(Short);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        let s = self.take(4)?;
        Ok(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Short> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_ne_bytes(a))
    }

    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.take(n).map(|_| ())
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Short> {
        self.take(n)
    }

    /// A NUL-terminated name (the rest of the request up to its NUL).
    pub fn name(&mut self) -> Result<&'a str, Short> {
        let end = self.b.iter().position(|&c| c == 0).ok_or(Short)?;
        let s = std::str::from_utf8(&self.b[..end]).map_err(|_| Short)?;
        self.b = &self.b[end + 1..];
        Ok(s)
    }
}

/// Parse a request's header; `None` if the buffer is shorter than a header or than its
/// announced length.
pub fn header(buf: &[u8]) -> Option<(InHeader, &[u8])> {
    let mut a = Args::new(buf);
    let len = a.u32().ok()?;
    let opcode = a.u32().ok()?;
    let unique = a.u64().ok()?;
    let nodeid = a.u64().ok()?;
    let uid = a.u32().ok()?;
    let gid = a.u32().ok()?;
    let pid = a.u32().ok()?;
    a.skip(4).ok()?;
    let len_us = len as usize;
    if len_us < IN_HEADER || len_us > buf.len() {
        return None;
    }
    let h = InHeader {
        len,
        opcode,
        unique,
        nodeid,
        uid,
        gid,
        pid,
    };
    Some((h, &buf[IN_HEADER..len_us]))
}

/// A reply: `fuse_out_header` then `body`.
pub fn reply(unique: u64, error: i32, body: &[u8]) -> Vec<u8> {
    let mut out = out_header(unique, error, body.len()).to_vec();
    out.extend_from_slice(body);
    out
}

/// The `fuse_out_header` of a reply with `body_len` bytes after it.
pub fn out_header(unique: u64, error: i32, body_len: usize) -> [u8; OUT_HEADER] {
    let mut h = [0u8; OUT_HEADER];
    h[0..4].copy_from_slice(&((OUT_HEADER + body_len) as u32).to_ne_bytes());
    h[4..8].copy_from_slice(&(-error).to_ne_bytes());
    h[8..16].copy_from_slice(&unique.to_ne_bytes());
    h
}

/// Little builder for reply bodies.
#[derive(Default)]
pub struct Body(pub Vec<u8>);

impl Body {
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// `fuse_attr`: what `getattr` and `lookup` answer about a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub mtime: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Attr {
    fn put(&self, b: &mut Body) {
        b.u64(self.ino)
            .u64(self.size)
            .u64(self.size.div_ceil(512))
            .u64(self.mtime)
            .u64(self.mtime)
            .u64(self.mtime)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(self.mode)
            .u32(self.nlink)
            .u32(self.uid)
            .u32(self.gid)
            .u32(0)
            .u32(4096)
            .u32(0);
    }
}

/// `fuse_entry_out`.
pub fn entry_out(attr: &Attr, valid_secs: u64) -> Vec<u8> {
    let mut b = Body::default();
    b.u64(attr.ino)
        .u64(0)
        .u64(valid_secs)
        .u64(valid_secs)
        .u32(0)
        .u32(0);
    attr.put(&mut b);
    b.0
}

/// `fuse_attr_out`.
pub fn attr_out(attr: &Attr, valid_secs: u64) -> Vec<u8> {
    let mut b = Body::default();
    b.u64(valid_secs).u32(0).u32(0);
    attr.put(&mut b);
    b.0
}

/// `fuse_open_out`.
pub fn open_out(fh: u64, open_flags: u32) -> Vec<u8> {
    let mut b = Body::default();
    b.u64(fh).u32(open_flags).u32(0);
    b.0
}

/// One `fuse_dirent` (padded to 8 bytes).
pub fn dirent(out: &mut Vec<u8>, ino: u64, off: u64, kind: u32, name: &str) {
    let start = out.len();
    out.extend_from_slice(&ino.to_ne_bytes());
    out.extend_from_slice(&off.to_ne_bytes());
    out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(name.as_bytes());
    let len = out.len() - start;
    out.resize(start + len.next_multiple_of(8), 0);
}

/// The size [`dirent`] takes for `name`.
pub fn dirent_len(name: &str) -> usize {
    (24 + name.len()).next_multiple_of(8)
}

/// `fuse_statfs_out`: nothing to count.
pub fn statfs_out() -> Vec<u8> {
    let mut b = Body::default();
    b.zeros(40).u32(4096).u32(255).u32(4096).u32(0).zeros(24);
    b.0
}

/// `fuse_init_out` for the kernel's `minor`.
pub fn init_out(minor: u32, flags: u32) -> Vec<u8> {
    let mut b = Body::default();
    b.u32(MAJOR)
        .u32(minor.min(MINOR))
        .u32(MAX_WRITE)
        .u32(flags)
        .u16(64)
        .u16(48)
        .u32(MAX_WRITE)
        .u32(1)
        .u16(MAX_PAGES)
        .u16(0)
        .zeros(32);
    b.0
}

/// `DT_DIR`, `DT_REG` for dirents.
pub const DT_DIR: u32 = 4;
/// `DT_REG`.
pub const DT_REG: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn request(opcode: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Body::default();
        b.u32((IN_HEADER + body.len()) as u32)
            .u32(opcode)
            .u64(9)
            .u64(1)
            .u32(1000)
            .u32(100)
            .u32(4242)
            .u32(0)
            .bytes(body);
        b.0
    }

    #[test]
    fn headers_parse_and_short_requests_are_refused() {
        let r = request(op::LOOKUP, b"name\0");
        let (h, rest) = header(&r).unwrap();
        assert_eq!(
            (h.opcode, h.unique, h.uid, h.gid, h.pid),
            (op::LOOKUP, 9, 1000, 100, 4242)
        );
        assert_eq!(Args::new(rest).name().unwrap(), "name");
        assert!(header(&r[..20]).is_none());
        // A length beyond the bytes read, or below a header: refused.
        let mut bad = r.clone();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(header(&bad).is_none());
        bad[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(header(&bad).is_none());
        assert_eq!(Args::new(b"x").u64(), Err(Short));
        assert_eq!(Args::new(b"noterm").name(), Err(Short));
    }

    #[test]
    fn replies_have_the_kernel_sizes() {
        assert_eq!(reply(3, 2, &[1, 2]).len(), OUT_HEADER + 2);
        assert_eq!(&reply(3, 2, &[])[4..8], &(-2i32).to_ne_bytes());
        let a = Attr::default();
        assert_eq!(entry_out(&a, 1).len(), 128);
        assert_eq!(attr_out(&a, 1).len(), 104);
        assert_eq!(open_out(1, 0).len(), 16);
        assert_eq!(statfs_out().len(), 80);
        assert_eq!(init_out(36, 0).len(), 64);
        let mut d = Vec::new();
        dirent(&mut d, 1, 1, DT_DIR, "abc");
        assert_eq!(d.len(), dirent_len("abc"));
        assert_eq!(d.len() % 8, 0);
    }
}
