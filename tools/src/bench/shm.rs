//! The machine's floor for a local call: a shared-memory + futex ping-pong between two
//! processes, the shape issue 23's direct path aims at with nothing else in it.
//!
//! - The peer (`qnet bench peer shm SLOTS MAX_SIZE`) makes a memfd, maps it and serves every
//!   slot from a thread of its own; the harness maps the same memfd through
//!   `/proc/<peer>/fd/<fd>`. One slot per client thread.
//! - A slot is a futex word, the lengths, and a request area and a reply area. The word holds
//!   the phase (request posted, reply posted) and one "sleeping" bit per side: a side that
//!   finds nothing sets its bit and sleeps in `FUTEX_WAIT`; the other side posts with one
//!   atomic swap (which clears the bit) and makes the `FUTEX_WAKE` syscall only if the bit
//!   was set. No spinning: a side that finds nothing sleeps at once.
//! - One copy each way: the client copies its request into the request area; the server
//!   reads it there and copies it into the reply area (its echo); the client reads the reply
//!   where it lies (its length and first word, which carries the call's sequence number).
//!
//! The futex calls are made here rather than through `qnet-direct`, so that the floor stays
//! the same whatever the product under measurement does.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::procs::{GUARD, Peer, announce, exit_when_stdin_closes};
use super::stats::Sample;
use super::workload::{Budget, run_threads};

/// Phase bits of a slot's word: a request is posted (the server's turn).
const REQUEST: u32 = 1;
/// A reply is posted (the client's turn).
const REPLY: u32 = 2;
/// Mask of the phase.
const PHASE: u32 = 3;
/// The server sleeps on the word (waiting for a request).
const SERVER_SLEEPS: u32 = 4;
/// The client sleeps on the word (waiting for a reply).
const CLIENT_SLEEPS: u32 = 8;

/// Offsets in a slot's header.
const WORD: usize = 0;
const REQUEST_LEN: usize = 8;
const REPLY_LEN: usize = 16;
/// Requests the server answered.
const SERVED: usize = 24;
/// Wake syscalls each side made.
const CLIENT_WAKES: usize = 32;
const SERVER_WAKES: usize = 40;
/// A slot's header takes a page, so the areas start page-aligned.
const HEADER: usize = 4096;

/// The longest sleep of a waiting client before it looks at its deadline again (a dead peer
/// must not hang the harness; a live one wakes it long before).
const CLIENT_NAP: Duration = Duration::from_millis(100);

/// A shared mapping of `slots` slots with areas of `area` bytes each way.
pub struct Segment {
    /// Address of the mapping (kept as an integer so the type is `Send` and `Sync`: every
    /// access goes through an atomic or a copy the phase protocol orders).
    base: usize,
    len: usize,
    slots: usize,
    area: usize,
}

/// Wake syscalls made so far, by side.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wakes {
    /// By the client, on posting a request to a sleeping server.
    pub client: u64,
    /// By the server, on posting a reply to a sleeping client.
    pub server: u64,
}

impl Segment {
    /// Bytes of one slot's area (one direction) for messages up to `max_size`: whole pages.
    pub fn area_for(max_size: usize) -> usize {
        max_size.max(1).div_ceil(4096) * 4096
    }

    fn len_of(slots: usize, area: usize) -> usize {
        slots * (HEADER + 2 * area)
    }

    /// A memfd of `slots` slots for messages up to `max_size`, mapped; its descriptor.
    #[allow(unsafe_code)]
    pub fn memfd(slots: usize, max_size: usize) -> Result<(OwnedFd, Self)> {
        let area = Self::area_for(max_size);
        let len = Self::len_of(slots.max(1), area);
        // SAFETY: memfd_create with a NUL-terminated name; the descriptor is ours alone.
        let fd = unsafe { libc::memfd_create(c"qnet-bench-floor".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("memfd_create");
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ftruncate of a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(std::io::Error::last_os_error()).context("sizing the floor's memfd");
        }
        let seg = Self::map(Some(fd.as_raw_fd()), slots.max(1), area)?;
        Ok((fd, seg))
    }

    /// Map the segment a peer made, through `/proc/<pid>/fd/<fd>`.
    pub fn open(path: &Path, slots: usize, area: usize) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening the floor's segment {path:?}"))?;
        let want = Self::len_of(slots, area) as u64;
        let have = file.metadata()?.len();
        if have < want {
            bail!("the floor's segment has {have} bytes, {want} expected");
        }
        Self::map(Some(file.as_raw_fd()), slots, area)
    }

    /// An anonymous shared mapping: shared with the children this process forks after.
    #[cfg(test)]
    pub fn anonymous(slots: usize, max_size: usize) -> Result<Self> {
        Self::map(None, slots, Self::area_for(max_size))
    }

    #[allow(unsafe_code)]
    fn map(fd: Option<RawFd>, slots: usize, area: usize) -> Result<Self> {
        let len = Self::len_of(slots, area);
        let flags = match fd {
            Some(_) => libc::MAP_SHARED,
            None => libc::MAP_SHARED | libc::MAP_ANONYMOUS,
        };
        // SAFETY: a new mapping at an address the kernel picks; nothing aliases it yet.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.unwrap_or(-1),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mapping the floor's segment");
        }
        Ok(Self {
            base: p as usize,
            len,
            slots,
            area,
        })
    }

    /// Slots in the segment.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Bytes of each area.
    pub fn area(&self) -> usize {
        self.area
    }

    fn slot_base(&self, i: usize) -> usize {
        assert!(i < self.slots, "slot {i} of {}", self.slots);
        self.base + i * (HEADER + 2 * self.area)
    }

    #[allow(unsafe_code)]
    fn u32_at(&self, i: usize, offset: usize) -> &AtomicU32 {
        // SAFETY: in bounds (slot_base checks i; header offsets are below HEADER), aligned
        // (page-aligned slots, 8-aligned offsets), and the mapping lives as long as `self`.
        unsafe { &*((self.slot_base(i) + offset) as *const AtomicU32) }
    }

    #[allow(unsafe_code)]
    fn u64_at(&self, i: usize, offset: usize) -> &AtomicU64 {
        // SAFETY: as in `u32_at`.
        unsafe { &*((self.slot_base(i) + offset) as *const AtomicU64) }
    }

    fn request_area(&self, i: usize) -> *mut u8 {
        (self.slot_base(i) + HEADER) as *mut u8
    }

    fn reply_area(&self, i: usize) -> *mut u8 {
        (self.slot_base(i) + HEADER + self.area) as *mut u8
    }

    /// Requests the server answered on slot `i`.
    pub fn served(&self, i: usize) -> u64 {
        self.u64_at(i, SERVED).load(Ordering::Acquire)
    }

    /// Wake syscalls made on slot `i`.
    #[cfg(test)]
    pub fn wakes(&self, i: usize) -> Wakes {
        Wakes {
            client: self.u64_at(i, CLIENT_WAKES).load(Ordering::Relaxed),
            server: self.u64_at(i, SERVER_WAKES).load(Ordering::Relaxed),
        }
    }

    /// Whether the server of slot `i` sleeps now.
    #[cfg(test)]
    pub fn server_sleeps(&self, i: usize) -> bool {
        self.u32_at(i, WORD).load(Ordering::Acquire) & SERVER_SLEEPS != 0
    }

    /// Post `phase` on slot `i`, waking the other side only if it said it sleeps.
    fn post(&self, i: usize, phase: u32, other_sleeps: u32, wakes: usize) {
        let word = self.u32_at(i, WORD);
        if word.swap(phase, Ordering::AcqRel) & other_sleeps != 0 {
            self.u64_at(i, wakes).fetch_add(1, Ordering::Relaxed);
            futex_wake(word);
        }
    }

    /// Wait until slot `i` holds `phase`, sleeping (with `my_sleep` set) while it does not.
    /// `false`: `deadline` passed first.
    fn wait_for(&self, i: usize, phase: u32, my_sleep: u32, deadline: Option<Instant>) -> bool {
        let word = self.u32_at(i, WORD);
        loop {
            let seen = word.load(Ordering::Acquire);
            if seen & PHASE == phase {
                return true;
            }
            let asleep = seen | my_sleep;
            if seen != asleep
                && word
                    .compare_exchange(seen, asleep, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
            {
                continue;
            }
            let nap = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left.min(CLIENT_NAP)),
                    None => return false,
                },
            };
            futex_wait(word, asleep, nap);
        }
    }

    /// The server's side of slot `i`, for ever: wait for a request, copy it into the reply
    /// area, post the reply. Allocates nothing and takes no lock (it also runs in a forked
    /// child in the tests).
    #[allow(unsafe_code)]
    pub fn serve(&self, i: usize) -> ! {
        loop {
            self.wait_for(i, REQUEST, SERVER_SLEEPS, None);
            let n = (self.u64_at(i, REQUEST_LEN).load(Ordering::Relaxed) as usize).min(self.area);
            // SAFETY: both areas are `area` bytes inside the mapping, disjoint; the client
            // leaves them alone until it sees the reply (the phase orders the accesses).
            unsafe { std::ptr::copy_nonoverlapping(self.request_area(i), self.reply_area(i), n) };
            self.u64_at(i, REPLY_LEN).store(n as u64, Ordering::Relaxed);
            self.u64_at(i, SERVED).fetch_add(1, Ordering::Relaxed);
            self.post(i, REPLY, CLIENT_SLEEPS, SERVER_WAKES);
        }
    }

    /// The client's side of one call on slot `i`: copy `request` in, post it, sleep until the
    /// reply is posted (at most [`GUARD`]). Returns the reply's length; the reply stays in the
    /// slot (see [`Self::reply_head`], [`Self::copy_reply`]).
    #[allow(unsafe_code)]
    pub fn call(&self, i: usize, request: &[u8]) -> Result<usize> {
        if request.len() > self.area {
            bail!(
                "{} bytes do not fit a {}-byte area",
                request.len(),
                self.area
            );
        }
        // SAFETY: `request.len()` bytes fit the request area (checked); the server does not
        // touch it until the request is posted.
        unsafe {
            std::ptr::copy_nonoverlapping(request.as_ptr(), self.request_area(i), request.len())
        };
        self.u64_at(i, REQUEST_LEN)
            .store(request.len() as u64, Ordering::Relaxed);
        self.post(i, REQUEST, SERVER_SLEEPS, CLIENT_WAKES);
        if !self.wait_for(i, REPLY, CLIENT_SLEEPS, Some(Instant::now() + GUARD)) {
            bail!("the floor's server did not answer slot {i} within {GUARD:?}");
        }
        Ok(self.u64_at(i, REPLY_LEN).load(Ordering::Relaxed) as usize)
    }

    /// The first `out.len()` (at most 8) bytes of slot `i`'s reply, read in place.
    #[allow(unsafe_code)]
    pub fn reply_head(&self, i: usize, out: &mut [u8]) {
        let n = out.len().min(8).min(self.area);
        // SAFETY: n bytes inside the reply area, which the server leaves alone until the next
        // request is posted.
        unsafe { std::ptr::copy_nonoverlapping(self.reply_area(i), out.as_mut_ptr(), n) };
    }

    /// A copy of slot `i`'s reply (`len` bytes): for checking, not on the measured path.
    #[allow(unsafe_code)]
    pub fn copy_reply(&self, i: usize, len: usize) -> Vec<u8> {
        let len = len.min(self.area);
        let mut v = vec![0u8; len];
        // SAFETY: as in `reply_head`.
        unsafe { std::ptr::copy_nonoverlapping(self.reply_area(i), v.as_mut_ptr(), len) };
        v
    }
}

impl Drop for Segment {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; no reference into it outlives
        // `self` (accessors borrow it).
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Sleep while `word == expected`, at most `timeout` (none: until woken). A shared futex (no
/// `FUTEX_PRIVATE_FLAG`): the two sides are different processes.
#[allow(unsafe_code)]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the word, a valid mapped address, for the call's duration; the
    // timespec lives on this frame. Every outcome (woken, value changed, timeout, signal) is
    // handled by the caller looking at the word again.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}

/// Wake the one thread sleeping on `word` (each slot has one per side).
#[allow(unsafe_code)]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE uses the address as a key only.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
}

/// Peer side (`qnet bench peer shm SLOTS MAX_SIZE`): make the segment, serve every slot.
pub fn serve(slots: usize, max_size: usize) -> Result<()> {
    let (fd, seg) = Segment::memfd(slots, max_size)?;
    let seg = Arc::new(seg);
    for i in 0..seg.slots() {
        let seg = seg.clone();
        std::thread::spawn(move || seg.serve(i));
    }
    exit_when_stdin_closes();
    announce(&format!(
        "{} {} {} {}",
        std::process::id(),
        fd.as_raw_fd(),
        seg.slots(),
        seg.area()
    ));
    loop {
        std::thread::park();
    }
}

/// The floor's peer and the harness's mapping of its segment.
pub struct Floor {
    seg: Segment,
    _peer: Peer,
}

impl Floor {
    /// Start the peer with a slot per client (`max_clients`) for messages up to `max_size`,
    /// map its segment, and check exchanges byte for byte: every size of `sizes` on the first
    /// slot, the smallest on the others (so the check touches little memory).
    pub fn start(max_clients: usize, max_size: usize, sizes: &[usize]) -> Result<Self> {
        let peer = Peer::start("shm", &[&max_clients.to_string(), &max_size.to_string()])?;
        let (pid, fd): (u32, i32) = (peer.field(0)?, peer.field(1)?);
        let (slots, area) = (peer.field(2)?, peer.field(3)?);
        let seg = Segment::open(Path::new(&format!("/proc/{pid}/fd/{fd}")), slots, area)?;
        let smallest = sizes.iter().copied().min().unwrap_or(0);
        let checks = sizes
            .iter()
            .map(|&size| (0, size))
            .chain((1..seg.slots()).map(|i| (i, smallest)));
        for (i, size) in checks {
            check_echo(&seg, i, size)
                .with_context(|| format!("the shared-memory floor's {size}-byte echo"))?;
        }
        Ok(Self { seg, _peer: peer })
    }

    /// `clients` threads, each a closed-loop call of `size` bytes on a slot of its own.
    pub fn measure(&self, size: usize, clients: usize, budget: Budget) -> Result<Sample> {
        if clients > self.seg.slots() {
            bail!("{clients} clients, {} slots", self.seg.slots());
        }
        let seg = &self.seg;
        run_threads(
            clients,
            size,
            budget,
            |i| Ok((i, vec![0x5a; size], 0u64)),
            |(i, out, seq)| call_checked(seg, *i, out, seq),
        )
    }
}

/// One measured call: the sequence number in the request's first bytes, the reply's length
/// and first bytes checked.
fn call_checked(seg: &Segment, i: usize, out: &mut [u8], seq: &mut u64) -> Result<()> {
    *seq += 1;
    let stamp = seq.to_le_bytes();
    let k = out.len().min(8);
    out[..k].copy_from_slice(&stamp[..k]);
    let n = seg.call(i, out)?;
    let mut head = [0u8; 8];
    seg.reply_head(i, &mut head[..k]);
    if n != out.len() || head[..k] != stamp[..k] {
        bail!(
            "call {seq} of {} bytes came back as {n} bytes starting {:?}",
            out.len(),
            &head[..k]
        );
    }
    Ok(())
}

/// One call of `size` bytes of a pattern on slot `i`: the reply must be the same bytes, and
/// the server must have counted one more answer.
fn check_echo(seg: &Segment, i: usize, size: usize) -> Result<()> {
    let request: Vec<u8> = (0..size)
        .map(|b| (b as u64 * 131 + size as u64 * 7 + i as u64) as u8)
        .collect();
    let served = seg.served(i);
    let n = seg.call(i, &request)?;
    if n != size || seg.copy_reply(i, n) != request {
        bail!("slot {i}: the echo of {size} bytes differs from what was sent");
    }
    if seg.served(i) != served + 1 {
        bail!(
            "slot {i}: the server counted {} answers, not 1",
            seg.served(i) - served
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::waitpid;
    use nix::unistd::{ForkResult, Pid, fork};

    use super::*;

    /// A forked child serving slot 0 of `seg`; SIGKILLed and reaped on drop.
    struct Server(Pid);

    impl Server {
        #[allow(unsafe_code)]
        fn fork(seg: &Segment) -> Self {
            // SAFETY: the child only runs `Segment::serve` (atomics, copies and futex
            // syscalls: async-signal-safe, no allocation, no lock) and the prctl, until it is
            // killed.
            match unsafe { fork() }.expect("fork") {
                ForkResult::Child => {
                    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
                    seg.serve(0)
                }
                ForkResult::Parent { child } => Self(child),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = kill(self.0, Signal::SIGKILL);
            let _ = waitpid(self.0, None);
        }
    }

    /// Two processes over an anonymous shared mapping made before the fork: every size from
    /// nothing to 1 MiB comes back byte for byte, each counted once by the server, and a long
    /// run of calls (where a missed wake-up would hang a side) completes.
    #[test]
    fn the_floor_exchanges_the_bytes_it_claims_between_two_processes() {
        let seg = Segment::anonymous(1, 1 << 20).unwrap();
        let _server = Server::fork(&seg);
        for size in [0, 1, 7, 8, 9, 64, 4095, 4096, 65536, (1 << 20) - 1, 1 << 20] {
            check_echo(&seg, 0, size).unwrap();
        }
        assert!(seg.call(0, &vec![0u8; (1 << 20) + 1]).is_err(), "too large");
        let before = seg.served(0);
        let (mut out, mut seq) = (vec![0u8; 64], 0);
        for _ in 0..10_000 {
            call_checked(&seg, 0, &mut out, &mut seq).unwrap();
        }
        assert_eq!(seg.served(0), before + 10_000);
    }

    /// The wake syscall is made only for a side that said it sleeps: a request posted before
    /// the server ever looked costs the client no wake; one posted while the server sleeps
    /// costs exactly one.
    #[test]
    fn a_wake_is_made_only_for_a_sleeping_side() {
        let seg = Segment::anonymous(1, 4096).unwrap();
        // No server yet: the client posts, then the server starts and finds the request.
        let seg = Arc::new(seg);
        let early = {
            let seg = seg.clone();
            std::thread::spawn(move || seg.call(0, b"early").unwrap())
        };
        let deadline = Instant::now() + GUARD;
        while seg.u32_at(0, WORD).load(Ordering::Acquire) & PHASE != REQUEST {
            assert!(Instant::now() < deadline, "the request was never posted");
            std::thread::yield_now();
        }
        let _server = Server::fork(&seg);
        assert_eq!(early.join().unwrap(), 5);
        assert_eq!(seg.wakes(0).client, 0, "the server was not asleep");
        // Now the server sleeps (wait until its bit shows): the next request wakes it once.
        while !seg.server_sleeps(0) {
            assert!(Instant::now() < deadline, "the server never slept");
            std::thread::yield_now();
        }
        check_echo(&seg, 0, 100).unwrap();
        assert_eq!(seg.wakes(0).client, 1);
    }
}
