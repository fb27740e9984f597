//! Course example "shared memory handles": ask the server for a shared memory object, turn
//! the handle into an fd, map it and print what the server wrote.
//!
//! Usage: `shmem_client [name]` (default `shmem_server`). Prints `shared: <text>`.

mod common;

use std::os::fd::AsFd;

use qnet::Connection;
use qnet::shm::{SharedMemory, shm_open_handle};

const MSG_GET_SHMEM: u32 = 0x2100;

fn real_main() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shmem_server".into());
    let server = Connection::open_name(&name)?;
    let mut req = [0u8; 8];
    req[..4].copy_from_slice(&MSG_GET_SHMEM.to_le_bytes());
    req[4..].copy_from_slice(&4096u32.to_le_bytes());
    let mut handle = [0u8; 8];
    server.send(&req, &mut handle)?;

    let fd = shm_open_handle(u64::from_le_bytes(handle), libc::O_RDWR)?;
    let shm = SharedMemory::from_fd(fd.as_fd(), true)?;
    let text = shm.as_slice();
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    println!("shared: {}", String::from_utf8_lossy(&text[..end]));
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::run(real_main)
}
