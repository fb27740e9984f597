//! [`Lines`]: what a child process prints, one line at a time, collected by a thread and
//! waitable (a daemon's log on stderr, a program's answers on stdout).

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::GUARD;

/// Lines collected from a stream, waitable.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
    closed: AtomicBool,
}

impl Lines {
    /// Collect every line `r` produces on a background thread.
    pub fn collect(r: impl Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                sink.lock().push(line);
                sink.more.notify_all();
            }
            sink.closed.store(true, Ordering::SeqCst);
            let _guard = sink.lock();
            sink.more.notify_all();
        });
        lines
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until `found` finds something in the lines so far; `None` if the stream ends
    /// first or after [`GUARD`].
    fn wait_until<T>(&self, found: impl Fn(&[String]) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lock();
        loop {
            if let Some(t) = found(&lines) {
                return Some(t);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self
                .more
                .wait_timeout(lines, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Wait until the first line at or after index `from` that satisfies `pred`; its index
    /// and text. `None` if the stream ends first or after [`GUARD`].
    pub fn wait_from(&self, from: usize, pred: impl Fn(&str) -> bool) -> Option<(usize, String)> {
        self.wait_until(|lines| {
            let (i, l) = lines.iter().enumerate().skip(from).find(|(_, l)| pred(l))?;
            Some((i, l.clone()))
        })
    }

    /// Wait until `n` lines satisfy `pred` and return them; `None` if the stream ends first
    /// or after [`GUARD`].
    pub fn wait_count(&self, n: usize, pred: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        self.wait_until(|lines| {
            let found: Vec<String> = lines.iter().filter(|l| pred(l)).cloned().collect();
            (found.len() >= n).then_some(found)
        })
    }

    /// Wait for a line satisfying `pred`.
    pub fn wait(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.wait_from(0, pred).map(|(_, l)| l)
    }

    /// How many lines so far satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lock().iter().filter(|l| pred(l)).count()
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Wait until the stream is closed (the process exited); [`GUARD`] bounds it.
    pub fn wait_closed(&self) -> bool {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.lock();
        while !self.closed.load(Ordering::SeqCst) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            lines = self
                .more
                .wait_timeout(lines, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Everything so far, one line each.
    pub fn dump(&self) -> String {
        self.lock().join("\n")
    }
}
