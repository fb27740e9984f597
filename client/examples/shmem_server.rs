//! Course example "shared memory handles": on request, create an anonymous shared memory
//! object, make a handle only the requesting process can open, write into it, reply with the
//! handle.
//!
//! Usage: `shmem_server [name]` (default `shmem_server`). Prints `attached <name>`, then
//! `handle for pid=<p>` per request (or `no handle for nd=<nd> pid=<p>: <error>` for a client
//! on another node, which gets `ENOREMOTE`).

mod common;

use std::io::Write;
use std::os::fd::AsFd;

use qnet::shm::{SharedMemory, shm_create_handle_nd};
use qnet::{ChannelFlags, Errno, NameAttachment, PulseCode, Received};

/// Request: `u32 type (MSG_GET_SHMEM), u32 size`.
const MSG_GET_SHMEM: u32 = 0x2100;

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shmem_server".into());
    let attach = NameAttachment::attach(&name, ChannelFlags::default())?;
    println!("attached {name}");
    std::io::stdout().flush()?;

    // Keep the mappings alive while clients may use them (a real server frees them on the
    // client's release message or disconnect pulse).
    let mut objects: Vec<(i32, SharedMemory)> = Vec::new();
    loop {
        match attach.receive(64)? {
            Received::Pulse(p) if p.code == PulseCode::DISCONNECT => {
                objects.retain(|(scoid, _)| *scoid != p.scoid);
                qnet::neutrino::scoid_detach(p.scoid)?;
            }
            Received::Pulse(_) => {}
            Received::Message(m) => {
                let d = m.data();
                if d.len() != 8 || u32::from_le_bytes([d[0], d[1], d[2], d[3]]) != MSG_GET_SHMEM {
                    m.error(Errno::EINVAL)?;
                    continue;
                }
                let size = u32::from_le_bytes([d[4], d[5], d[6], d[7]]).clamp(64, 1 << 20) as usize;
                let info = *m.info();
                let fd = SharedMemory::anonymous_fd(size)?; // shm_open(SHM_ANON, ...)
                let mut shm = SharedMemory::from_fd(fd.as_fd(), true)?;
                let text = format!("hello pid {} from shmem_server", info.pid);
                shm.as_mut_slice()[..text.len()].copy_from_slice(text.as_bytes());
                // Only the requesting process (its node and pid from the message info) may
                // open it. Shared memory does not cross nodes: a client on another node gets
                // the ENOREMOTE this fails with.
                let handle = match shm_create_handle_nd(fd.as_fd(), info.nd, info.pid, libc::O_RDWR)
                {
                    Ok(h) => h,
                    Err(e) => {
                        println!("no handle for nd={} pid={}: {e}", info.nd, info.pid);
                        std::io::stdout().flush()?;
                        m.error(e.errno())?;
                        continue;
                    }
                };
                println!("handle for pid={}", info.pid);
                std::io::stdout().flush()?;
                objects.push((info.scoid, shm));
                m.reply(0, &handle.to_le_bytes())?;
            }
        }
    }
}
