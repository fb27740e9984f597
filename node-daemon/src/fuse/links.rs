//! Optional symbolic links at the QNX paths (`--mount-link ROOT`): an attached path under a
//! configured root (e.g. `/dev/sample` under `/dev`) gets a link to its file in the mount,
//! so programs that open the QNX path reach the manager. Only under the configured roots,
//! only where nothing exists (a file, a directory or someone else's link is never replaced),
//! only in a directory that exists; a link goes when its path is detached (if it is still
//! ours) and at shutdown.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::driver::Driver;

/// The links the daemon made, kept in step with the attached paths.
pub struct Links {
    driver: Arc<Driver>,
    mount: PathBuf,
    roots: Vec<PathBuf>,
    made: Mutex<HashSet<PathBuf>>,
}

impl Links {
    pub(super) fn new(driver: Arc<Driver>, mount: PathBuf, roots: Vec<PathBuf>) -> Self {
        Self {
            driver,
            mount,
            roots,
            made: Mutex::new(HashSet::new()),
        }
    }

    /// Whether any root is configured.
    pub fn enabled(&self) -> bool {
        !self.roots.is_empty()
    }

    fn target(&self, path: &Path) -> PathBuf {
        self.mount.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Make links for newly attached paths, remove those of detached ones.
    pub fn sync(&self) {
        if self.roots.is_empty() {
            return;
        }
        let attached: HashSet<PathBuf> = self.driver.with_kernel(|k| {
            k.paths()
                .into_iter()
                .filter(|p| p.owner.nd == 0 && !p.path.is_empty())
                .map(|p| PathBuf::from(p.path))
                .collect()
        });
        let wanted: HashSet<PathBuf> = attached
            .into_iter()
            .filter(|p| self.roots.iter().any(|r| p.starts_with(r) && p != r))
            .collect();
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        for p in wanted.difference(&made.clone()) {
            let parent_ok = p.parent().is_some_and(Path::is_dir);
            if parent_ok && std::fs::symlink_metadata(p).is_err() {
                match std::os::unix::fs::symlink(self.target(p), p) {
                    Ok(()) => {
                        tracing::info!(path = %p.display(), "link to the mount made");
                        made.insert(p.clone());
                    }
                    Err(e) => tracing::debug!(path = %p.display(), error = %e, "no link"),
                }
            }
        }
        let gone: Vec<PathBuf> = made.difference(&wanted).cloned().collect();
        for p in gone {
            self.remove(&p);
            made.remove(&p);
        }
    }

    /// Remove `p` if it is still our link.
    fn remove(&self, p: &Path) {
        if std::fs::read_link(p).is_ok_and(|t| t == self.target(p)) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Remove every link made (shutdown).
    pub fn clear(&self) {
        let made: Vec<PathBuf> = self
            .made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        for p in made {
            self.remove(&p);
        }
    }
}
