//! Course example "POSIX named shared memory": the creator sets up a named object and updates
//! it; `shmem_user` reads it by name.
//!
//! Usage: `shmem_creator <name> [updates] [interval_ms]` (defaults 5, 200). Layout: `u32 count`
//! then a NUL-terminated text. Prints `created <name>`, `updated count=<n>`, then waits for a
//! line (or end of input) on stdin and unlinks the name.

mod common;

use std::io::{BufRead, Write};
use std::time::Duration;

use qnet::shm::SharedMemory;

fn main() -> std::process::ExitCode {
    // One line on error (`error: <ERRNAME> …`), no `Caused by:` chain, no backtrace.
    common::run(serve)
}

fn serve() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(name) = args.get(1) else {
        anyhow::bail!("usage: shmem_creator <name> [updates] [interval_ms]")
    };
    let updates: u32 = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let interval = Duration::from_millis(args.get(3).map_or(Ok(200), |s| s.parse())?);

    let mut shm = SharedMemory::create(name, 4096)?; // shm_open + ftruncate + mmap
    write(&mut shm, 0, "initial");
    println!("created {name}");
    std::io::stdout().flush()?;
    for n in 1..=updates {
        std::thread::sleep(interval);
        write(&mut shm, n, &format!("update number {n}"));
        println!("updated count={n}");
        std::io::stdout().flush()?;
    }
    println!("press Enter to remove {name}");
    std::io::stdout().flush()?;
    let _ = std::io::stdin().lock().read_line(&mut String::new());
    SharedMemory::unlink(name)?;
    Ok(())
}

/// Text first, count last: a reader that sees the new count sees the new text.
fn write(shm: &mut SharedMemory, count: u32, text: &str) {
    let mem = shm.as_mut_slice();
    let t = &text.as_bytes()[..text.len().min(mem.len() - 5)];
    mem[4..4 + t.len()].copy_from_slice(t);
    mem[4 + t.len()] = 0;
    std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
    mem[..4].copy_from_slice(&count.to_le_bytes());
}
