//! Heap tuning for large messages (glibc's malloc).
//!
//! Every large message is a large allocation in the daemon: the frame a session reads, the
//! buffer a forwarded call or its answer is assembled in. By default glibc serves a block
//! above `M_MMAP_THRESHOLD` (128 KiB, raised at run time to the largest block freed) with a
//! fresh `mmap`, and gives free memory at the top of the heap back to the kernel once more
//! than `M_TRIM_THRESHOLD` (twice the former) is free. A daemon relaying 1 MiB messages then
//! maps, faults in and returns its buffers on every call: 370–460 page faults per remote
//! 1 MiB round trip in the two daemons, about a tenth of their CPU on that path and 12–25 %
//! of its throughput (BENCHMARKS.md, change log "heap thresholds").
//!
//! [`tune`] fixes both thresholds from the configured message limit: blocks up to the largest
//! frame come from the heap, and up to two of them may stay free in it for the next message
//! instead of going back to the kernel. So the price is memory: after a burst of large
//! messages the daemon's RSS can stay up to two maximum-size frames above its idle size.
//! A user who sets `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in the environment
//! keeps glibc's reading of them; nothing is changed then.

use qnet_proto::frame::FRAME_OVERHEAD;

/// glibc refuses an mmap threshold above half its maximum heap size (32 MiB on 64-bit).
const MMAP_THRESHOLD_MAX: usize = 32 << 20;

/// Below this the default dynamic threshold already serves messages from the heap.
const MMAP_THRESHOLD_MIN: usize = 1 << 20;

/// The environment variables with which glibc users set the same thresholds.
const ENV_OVERRIDES: [&str; 2] = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"];

/// The thresholds for a daemon whose largest message is `max_message_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Blocks at least this large get their own mapping (`M_MMAP_THRESHOLD`).
    pub mmap: usize,
    /// Free memory at the top of the heap beyond this goes back to the kernel
    /// (`M_TRIM_THRESHOLD`).
    pub trim: usize,
}

impl Thresholds {
    /// One frame of the largest message (plus framing headroom), clamped to what glibc
    /// accepts, and room for two such blocks before trimming.
    pub fn for_max_message(max_message_size: u64) -> Self {
        let frame = usize::try_from(max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_add(FRAME_OVERHEAD);
        let mmap = frame.clamp(MMAP_THRESHOLD_MIN, MMAP_THRESHOLD_MAX);
        Self {
            mmap,
            trim: mmap.saturating_mul(2),
        }
    }
}

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The thresholds were set.
    Set(Thresholds),
    /// The environment sets them; left to glibc.
    FromEnvironment,
    /// Not glibc, or glibc refused a value; the defaults stay.
    Unavailable,
}

/// For the start-up log line: `mmap 16MiB trim 32MiB`, `from environment` or `unavailable`.
impl std::fmt::Display for Tuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tuning::Set(t) => write!(f, "mmap {}KiB trim {}KiB", t.mmap >> 10, t.trim >> 10),
            Tuning::FromEnvironment => f.write_str("from environment"),
            Tuning::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// Set the heap thresholds for `max_message_size`. Call once at start-up.
pub fn tune(max_message_size: u64) -> Tuning {
    if ENV_OVERRIDES.iter().any(|v| std::env::var_os(v).is_some()) {
        return Tuning::FromEnvironment;
    }
    let t = Thresholds::for_max_message(max_message_size);
    if set(t) {
        Tuning::Set(t)
    } else {
        Tuning::Unavailable
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(t: Thresholds) -> bool {
    let (Ok(mmap), Ok(trim)) = (i32::try_from(t.mmap), i32::try_from(t.trim)) else {
        return false;
    };
    // SAFETY: mallopt takes two integers and only changes malloc's parameters under its
    // own lock; it returns 1 on success, 0 for a refused value.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_: Thresholds) -> bool {
    false
}

/// Give free heap memory back to the kernel now (glibc `malloc_trim(0)`: the top of every
/// arena and the free pages inside it), whatever the trim threshold. Called after a load
/// drains (`driver`), so idle RSS returns close to a fresh daemon's. What stays: the two
/// message-size blocks kept by [`tune`] only while in use, the runtime's and the tables'
/// live data, and heap pages that still hold a live allocation.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and works under malloc's own locks; it returns
    // whether memory was released, which changes nothing for us.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_message_limit_within_glibc_bounds() {
        let mib = 1usize << 20;
        let cases: [(u64, usize); 5] = [
            // (max_message_size, expected mmap threshold)
            (0, mib),
            (64 * 1024, mib),
            (mib as u64, mib + FRAME_OVERHEAD),
            (16 * mib as u64, 16 * mib + FRAME_OVERHEAD),
            (u64::MAX, 32 * mib),
        ];
        for (max, mmap) in cases {
            let t = Thresholds::for_max_message(max);
            assert_eq!(t.mmap, mmap, "max_message_size {max}");
            assert_eq!(t.trim, 2 * mmap, "max_message_size {max}");
        }
    }
}
