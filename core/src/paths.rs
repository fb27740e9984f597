//! The pathname space's vocabulary: `resmgr_attach` flags, what a resolve answers, and the
//! lexical rules for paths (the registry itself is `kernel/paths.rs`).

use std::fmt;

use crate::errno::Errno;
use crate::ids::{Chid, Nd, Pid};

/// `resmgr_attach` flags (QNX's `_RESMGR_FLAG_*` values; unknown bits are kept and ignored).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PathFlags(pub u32);

impl PathFlags {
    /// `_RESMGR_FLAG_BEFORE` (QNX's default): resolved before the managers already attached
    /// at the same path.
    pub const BEFORE: PathFlags = PathFlags(0x1);
    /// `_RESMGR_FLAG_AFTER`: resolved after the managers already attached at the same path.
    pub const AFTER: PathFlags = PathFlags(0x2);
    /// `_RESMGR_FLAG_DIR`: the path is a directory: longer paths below it resolve to it, with
    /// the prefix stripped. Without it only the exact path matches.
    pub const DIR: PathFlags = PathFlags(0x4);
    /// `_RESMGR_FLAG_OPAQUE`: shorter prefixes are not tried once this one matched.
    pub const OPAQUE: PathFlags = PathFlags(0x8);
    /// `_RESMGR_FLAG_FTYPEONLY`: no path; the manager gets every open of its file type.
    pub const FTYPEONLY: PathFlags = PathFlags(0x10);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: PathFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for PathFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::BEFORE, "BEFORE"),
            (Self::AFTER, "AFTER"),
            (Self::DIR, "DIR"),
            (Self::OPAQUE, "OPAQUE"),
            (Self::FTYPEONLY, "FTYPEONLY"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            write!(f, "0")
        } else {
            write!(f, "{}", set.join("|"))
        }
    }
}

/// `_FTYPE_ANY`: the file type of an ordinary `open`, and of a manager that takes any open.
pub const FTYPE_ANY: u32 = 0;

/// The longest path the registry takes (QNX's `PATH_MAX`, 1024 with its NUL).
pub const PATH_MAX: usize = 1023;

/// One manager a path resolves to, in the order a client must try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathMatch {
    /// The manager's node, as the resolving node numbers it (0 = this node).
    pub nd: Nd,
    /// The manager process.
    pub pid: Pid,
    /// The channel it attached the path on.
    pub chid: Chid,
    /// The attachment's id (`resmgr_attach`'s return value), for `_io_connect.handle`.
    pub handle: u32,
    /// Its `resmgr_attach` flags.
    pub flags: PathFlags,
    /// Its file type.
    pub file_type: u32,
    /// The path it attached (normalized; empty for `FTYPEONLY`).
    pub prefix: String,
    /// What is left of the resolved path below `prefix`, without a leading `/` (empty for
    /// an exact match): the path the manager's connect message carries.
    pub rest: String,
}

/// Clean an absolute path lexically: repeated `/` and `.` components go, `..` removes the
/// component before it (never going above `/`). `EINVAL` for an empty or relative path or
/// one with a NUL; `ENAMETOOLONG` past [`PATH_MAX`].
pub fn normalize(path: &str) -> Result<String, Errno> {
    normalize_with(path, true)
}

/// As [`normalize`], but a `..` component is refused (`EINVAL`): what a manager attaches must
/// name its place plainly, never climb out of one.
pub fn normalize_attach(path: &str) -> Result<String, Errno> {
    normalize_with(path, false)
}

fn normalize_with(path: &str, allow_dotdot: bool) -> Result<String, Errno> {
    if !path.starts_with('/') || path.contains('\0') {
        return Err(Errno::EINVAL);
    }
    if path.len() > PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if allow_dotdot => {
                parts.pop();
            }
            ".." => return Err(Errno::EINVAL),
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The components of a normalized path's parent chain, longest first: `/a/b` gives `/a/b`,
/// `/a`, `/`.
pub(crate) fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            _ if current == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&current[..i]),
            None => None,
        };
        Some(current)
    })
}

/// `path` below `prefix` (both normalized, `prefix` one of [`prefixes`]`(path)`), without a
/// leading `/`.
pub(crate) fn below<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix == "/" {
        &path[1..]
    } else {
        path[prefix.len()..].trim_start_matches('/')
    }
}

/// The node part of `/net/<node>/rest`: `(node, "/rest")`; `None` for other paths.
pub fn split_net(path: &str) -> Option<(&str, String)> {
    let tail = path.strip_prefix("/net/")?;
    let (node, rest) = tail.split_once('/').unwrap_or((tail, ""));
    if node.is_empty() {
        return None;
    }
    Some((node, format!("/{rest}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_cleans_lexically_and_never_climbs_above_the_root() {
        assert_eq!(normalize("/dev//ser1/").unwrap(), "/dev/ser1");
        assert_eq!(normalize("/dev/./a/../b").unwrap(), "/dev/b");
        assert_eq!(normalize("/../..").unwrap(), "/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize("dev/x"), Err(Errno::EINVAL));
        assert_eq!(normalize(""), Err(Errno::EINVAL));
        assert_eq!(
            normalize(&format!("/{}", "a".repeat(PATH_MAX))),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(normalize_attach("/dev/../etc"), Err(Errno::EINVAL));
        assert_eq!(normalize_attach("/dev/x/.").unwrap(), "/dev/x");
    }

    #[test]
    fn prefixes_go_from_the_path_to_the_root() {
        let p: Vec<&str> = prefixes("/a/b/c").collect();
        assert_eq!(p, ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(prefixes("/").collect::<Vec<_>>(), ["/"]);
        assert_eq!(below("/a/b/c", "/a"), "b/c");
        assert_eq!(below("/a/b/c", "/"), "a/b/c");
        assert_eq!(below("/a", "/a"), "");
    }

    #[test]
    fn net_paths_split_into_node_and_rest() {
        assert_eq!(split_net("/net/b/dev/x"), Some(("b", "/dev/x".into())));
        assert_eq!(split_net("/net/b"), Some(("b", "/".into())));
        assert_eq!(split_net("/net"), None);
        assert_eq!(split_net("/dev/x"), None);
    }
}
