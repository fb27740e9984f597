//! What the direct path (issue 23) holds, read from `/proc`: the segments a process has open
//! or mapped (memfds the daemon names `qnet-pair-<server>-<client>-<chid>`,
//! `qnet-table-<server>`, `qnet-bells-<server>`), their size and their resident bytes; and
//! whether the bench's processes used the path at all, so that a figure never silently comes
//! from the socket path.

use anyhow::{Context, Result};
use serde::Serialize;

/// Kind of a direct-path segment, from its memfd name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// A client process's pair with one channel.
    Pair,
    /// A serving process's table.
    Table,
    /// A serving process's bells.
    Bells,
}

/// A segment a process holds as a descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Its kind.
    pub kind: Kind,
    /// The memfd's name (`qnet-pair-…`).
    pub name: String,
    /// Its length, bytes.
    pub size: u64,
    /// Its pages that exist (touched by any process), bytes.
    pub resident: u64,
    /// Its inode: two descriptors of one segment share it.
    pub inode: (u64, u64),
}

/// The kind and name of a direct-path segment in a `/proc` link target or `maps` path
/// (`/memfd:qnet-pair-1-2-3 (deleted)`); `None` for anything else.
pub fn parse(text: &str) -> Option<(Kind, &str)> {
    let name = text
        .split("memfd:")
        .nth(1)?
        .split(" (deleted)")
        .next()?
        .trim();
    let kind = match name {
        n if n.starts_with("qnet-pair-") => Kind::Pair,
        n if n.starts_with("qnet-table-") => Kind::Table,
        n if n.starts_with("qnet-bells-") => Kind::Bells,
        _ => return None,
    };
    Some((kind, name))
}

/// The direct-path segments process `pid` holds as descriptors, with their size and resident
/// bytes (the shared-memory file's allocated blocks, whoever touched them).
pub fn descriptors(pid: u32) -> Result<Vec<Held>> {
    use std::os::unix::fs::MetadataExt;
    let dir = format!("/proc/{pid}/fd");
    let mut held = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path();
        // A descriptor closed since the listing is simply gone.
        let Ok(target) = std::fs::read_link(&path) else {
            continue;
        };
        let target = target.to_string_lossy();
        let Some((kind, name)) = parse(&target) else {
            continue;
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        held.push(Held {
            kind,
            name: name.to_owned(),
            size: meta.size(),
            resident: meta.blocks() * 512,
            inode: (meta.dev(), meta.ino()),
        });
    }
    held.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(held)
}

/// The direct-path segments process `pid` maps, by name (one entry per mapping).
pub fn mappings(pid: u32) -> Result<Vec<(Kind, String)>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .with_context(|| format!("reading /proc/{pid}/maps"))?;
    Ok(mapped(&maps))
}

fn mapped(maps: &str) -> Vec<(Kind, String)> {
    maps.lines()
        .filter_map(parse)
        .map(|(k, n)| (k, n.to_owned()))
        .collect()
}

/// Mappings of `kind` in `list`, each segment once.
pub fn distinct(list: &[(Kind, String)], kind: Kind) -> usize {
    let mut names: Vec<&str> = list
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, n)| n.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// Whether the bench's local processes used the direct path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectUse {
    /// The run asked for it (`--direct on`, the default: qnetd's default).
    pub asked: bool,
    /// `qnet::direct()` in the harness (the clients' process).
    pub harness_direct: bool,
    /// `qnet::direct()` in the local server process, as it reported it.
    pub server_direct: bool,
    /// Pair segments the harness maps at the end of the run.
    pub harness_pairs: usize,
    /// Pair segments the local server maps.
    pub server_pairs: usize,
    /// Table segments the local server maps (it serves a channel directly).
    pub server_tables: usize,
}

impl DirectUse {
    /// Read the maps of the harness and of the local server `server_pid`.
    pub fn read(asked: bool, server_direct: bool, server_pid: u32) -> Result<Self> {
        let harness = mappings(std::process::id())?;
        let server = mappings(server_pid)?;
        Ok(Self {
            asked,
            harness_direct: qnet::direct(),
            server_direct,
            harness_pairs: distinct(&harness, Kind::Pair),
            server_pairs: distinct(&server, Kind::Pair),
            server_tables: distinct(&server, Kind::Table),
        })
    }

    /// Both sides mapped a pair: local calls could go direct.
    pub fn used(&self) -> bool {
        self.harness_pairs > 0 && self.server_pairs > 0
    }

    /// The header line.
    pub fn line(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut s = format!(
            "direct path {} (qnetd --direct {}): harness qnet::direct()={}, maps {} pair(s); \
             local server qnet::direct()={}, maps {} pair(s) and {} table(s)",
            if self.used() { "USED" } else { "NOT USED" },
            if self.asked { "on" } else { "off" },
            yes(self.harness_direct),
            self.harness_pairs,
            yes(self.server_direct),
            self.server_pairs,
            self.server_tables,
        );
        if self.asked && !self.used() {
            s.push_str(
                " -- WARNING: asked for but not used: the local figures are the socket path's",
            );
        }
        if !self.asked && self.used() {
            s.push_str(" -- WARNING: used although off");
        }
        s
    }
}

/// What direct pairs cost, from the descriptors a daemon holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PairCost {
    /// Pairs the daemon holds for the processes in question.
    pub pairs: usize,
    /// A pair segment's length, bytes (the largest seen).
    pub mapped: u64,
    /// Resident bytes per pair (mean).
    pub resident: f64,
    /// Resident bytes of the serving process's table and bells together.
    pub server_segments: u64,
    /// Descriptors per pair: in the daemon, the client process, the server process.
    pub fds_daemon: f64,
    /// See `fds_daemon`.
    pub fds_client: f64,
    /// See `fds_daemon`.
    pub fds_server: f64,
}

impl PairCost {
    /// The pairs daemon `daemon` holds between `server` and `client` (with `chid`: the pair
    /// with that channel only), and the descriptors the three processes hold for them.
    pub fn read(daemon: u32, server: u32, client: u32, chid: Option<i32>) -> Result<Self> {
        let held = descriptors(daemon)?;
        let prefix = format!("qnet-pair-{server}-{client}-");
        let exact = chid.map(|c| format!("{prefix}{c}"));
        let ours = |h: &&Held| match &exact {
            Some(name) => h.name == *name,
            None => h.name.starts_with(&prefix),
        };
        let mut pairs: Vec<&Held> = held.iter().filter(ours).collect();
        let fds = pairs.len();
        pairs.sort_by_key(|h| h.inode);
        pairs.dedup_by_key(|h| h.inode);
        let n = pairs.len();
        let per = |count: usize| if n == 0 { 0.0 } else { count as f64 / n as f64 };
        // No pair: nothing to count in the other two (which may be gone, or not ours).
        let count_in = |pid: u32| -> Result<usize> {
            if n == 0 {
                return Ok(0);
            }
            Ok(descriptors(pid)?.iter().filter(ours).count())
        };
        let server_segments = held
            .iter()
            .filter(|h| {
                h.name == format!("qnet-table-{server}") || h.name == format!("qnet-bells-{server}")
            })
            .map(|h| h.resident)
            .sum();
        Ok(Self {
            pairs: n,
            mapped: pairs.iter().map(|h| h.size).max().unwrap_or(0),
            resident: pairs.iter().map(|h| h.resident as f64).sum::<f64>() / n.max(1) as f64,
            server_segments,
            fds_daemon: per(fds),
            fds_client: per(count_in(client)?),
            fds_server: per(count_in(server)?),
        })
    }

    /// [`Self::read`] once two reads 20 ms apart agree (at most a second): the daemon hands
    /// a segment over as a duplicate descriptor it closes once sent, so a read right after a
    /// call may count one more for a moment.
    pub fn read_settled(daemon: u32, server: u32, client: u32, chid: Option<i32>) -> Result<Self> {
        let mut last = Self::read(daemon, server, client, chid)?;
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = Self::read(daemon, server, client, chid)?;
            if now == last {
                break;
            }
            last = now;
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_read_from_links_and_maps() {
        assert_eq!(
            parse("/memfd:qnet-pair-10-20-1 (deleted)"),
            Some((Kind::Pair, "qnet-pair-10-20-1"))
        );
        assert_eq!(
            parse("/memfd:qnet-table-10 (deleted)"),
            Some((Kind::Table, "qnet-table-10"))
        );
        assert_eq!(
            parse("/memfd:qnet-bells-10"),
            Some((Kind::Bells, "qnet-bells-10"))
        );
        assert_eq!(parse("/memfd:qnet-bench-floor (deleted)"), None);
        assert_eq!(parse("socket:[1234]"), None);
        assert_eq!(parse("/usr/lib/libc.so.6"), None);
        let maps = "\
7f0000000000-7f0000100000 rw-s 00000000 00:01 1234 /memfd:qnet-pair-10-20-1 (deleted)
7f0000100000-7f0000200000 rw-s 00000000 00:01 1234 /memfd:qnet-pair-10-20-1 (deleted)
7f0000200000-7f0000300000 r--s 00000000 00:01 1235 /memfd:qnet-table-10 (deleted)
7f0000300000-7f0000400000 rw-s 00000000 00:01 1236 /memfd:qnet-pair-10-20-2 (deleted)
7f0000400000-7f0000500000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6
";
        let list = mapped(maps);
        assert_eq!(list.len(), 4);
        assert_eq!(distinct(&list, Kind::Pair), 2, "one pair mapped twice");
        assert_eq!(distinct(&list, Kind::Table), 1);
        assert_eq!(distinct(&list, Kind::Bells), 0);
    }

    /// A memfd named as the daemon names them, `len` bytes, the first `touched` bytes
    /// written.
    #[allow(unsafe_code)]
    fn memfd(name: &str, len: u64, touched: usize) -> std::fs::File {
        use std::io::Write;
        use std::os::fd::FromRawFd;
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: memfd_create with a NUL-terminated name; the descriptor is ours alone.
        let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a fresh descriptor nothing else owns.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        f.write_all(&vec![1u8; touched]).unwrap();
        f.set_len(len).unwrap();
        f
    }

    /// This process stands for the daemon, the server and the client: one pair segment held
    /// twice (a descriptor and its duplicate) counts as one pair with two descriptors; its
    /// resident bytes are the pages written, its size the memfd's; the table and bells are
    /// summed; another channel's pair is not counted.
    #[test]
    fn pair_costs_are_read_from_the_descriptors() {
        let me = std::process::id();
        let pair = memfd(&format!("qnet-pair-{me}-{me}-3"), 1 << 20, 8192);
        let _dup = pair.try_clone().unwrap();
        let _other = memfd(&format!("qnet-pair-{me}-{me}-4"), 1 << 20, 4096);
        let _table = memfd(&format!("qnet-table-{me}"), 1 << 20, 4096);
        let _bells = memfd(&format!("qnet-bells-{me}"), 1 << 20, 4096);
        let c = PairCost::read(me, me, me, Some(3)).unwrap();
        assert_eq!(c.pairs, 1);
        assert_eq!(c.mapped, 1 << 20);
        assert_eq!(c.resident, 8192.0);
        assert_eq!(c.server_segments, 8192);
        assert_eq!((c.fds_daemon, c.fds_client, c.fds_server), (2.0, 2.0, 2.0));
        let all = PairCost::read(me, me, me, None).unwrap();
        assert_eq!(all.pairs, 2);
        assert_eq!(all.resident, (8192.0 + 4096.0) / 2.0);
        assert_eq!(all.fds_daemon, 1.5);
        let none = PairCost::read(me, me, 1, None).unwrap();
        assert_eq!((none.pairs, none.resident, none.fds_daemon), (0, 0.0, 0.0));
    }

    #[test]
    fn the_warning_says_when_the_path_was_not_used() {
        let mut u = DirectUse {
            asked: true,
            harness_direct: true,
            server_direct: true,
            harness_pairs: 2,
            server_pairs: 2,
            server_tables: 1,
        };
        assert!(u.used());
        assert!(u.line().starts_with("direct path USED (qnetd --direct on)"));
        assert!(!u.line().contains("WARNING"));
        u.server_pairs = 0;
        assert!(!u.used());
        assert!(u.line().contains("WARNING: asked for but not used"));
        u.asked = false;
        u.harness_pairs = 0;
        assert!(
            u.line()
                .starts_with("direct path NOT USED (qnetd --direct off)")
        );
        assert!(!u.line().contains("WARNING"));
    }
}
