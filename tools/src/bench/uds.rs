//! The local floor: a raw Unix-socket ping-pong between two processes, blocking std sockets,
//! 4-byte little-endian length + payload both ways, one connection (and one server thread)
//! per client.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::procs::{Peer, announce, exit_when_stdin_closes};
use super::stats::Sample;
use super::workload::{Budget, run_threads};

/// Peer side (`qnet bench peer uds PATH`): echo every frame on every connection.
pub fn serve(path: &Path) -> Result<()> {
    let listener = UnixListener::bind(path).with_context(|| format!("binding {path:?}"))?;
    exit_when_stdin_closes();
    announce("uds");
    for stream in listener.incoming() {
        let mut stream = stream?;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            while read_frame(&mut stream, &mut buf).is_ok() {
                if stream.write_all(&buf).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

/// Read one frame (header included) into `buf`.
fn read_frame(stream: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header) as usize;
    buf.resize(4 + len, 0);
    buf[..4].copy_from_slice(&header);
    stream.read_exact(&mut buf[4..])
}

/// A frame of `size` payload bytes.
fn frame(size: usize) -> Vec<u8> {
    let mut f = vec![0x5a; 4 + size];
    f[..4].copy_from_slice(&(size as u32).to_le_bytes());
    f
}

/// The echo server, running as a child process.
pub struct Floor {
    _peer: Peer,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Floor {
    /// Start the echo peer.
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("echo.sock");
        let path_str = path.to_str().context("temp path is not UTF-8")?;
        let peer = Peer::start("uds", &[path_str])?;
        Ok(Self {
            _peer: peer,
            path,
            _dir: dir,
        })
    }

    /// `clients` connections, each a closed-loop ping-pong of `size` bytes.
    pub fn measure(&self, size: usize, clients: usize, budget: Budget) -> Result<Sample> {
        run_threads(
            clients,
            size,
            budget,
            |_| {
                let s = UnixStream::connect(&self.path)?;
                Ok((s, frame(size), Vec::with_capacity(4 + size)))
            },
            |(s, out, back)| {
                s.write_all(out)?;
                read_frame(s, back)?;
                if back.len() != out.len() {
                    bail!("echo of {} bytes came back as {}", out.len(), back.len());
                }
                Ok(())
            },
        )
    }
}
