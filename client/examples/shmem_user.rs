//! Course example "POSIX named shared memory": open the creator's object by name and watch
//! it for updates.
//!
//! Usage: `shmem_user <name> [until_count]` (default 5). Prints `count=<n> text=<t>` for each
//! new value seen, and exits once the count reaches `until_count` (or after 30 s).

mod common;

use std::time::{Duration, Instant};

use qnet::shm::SharedMemory;

fn real_main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(name) = args.get(1) else {
        anyhow::bail!("usage: shmem_user <name> [until_count]")
    };
    let until: u32 = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let shm = SharedMemory::open(name)?;

    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(30) {
        let mem = shm.as_slice();
        let count = u32::from_le_bytes([mem[0], mem[1], mem[2], mem[3]]);
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        if last != Some(count) {
            let text = &mem[4..];
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            println!(
                "count={count} text={}",
                String::from_utf8_lossy(&text[..end])
            );
            last = Some(count);
            if count >= until {
                return Ok(());
            }
        }
        // Polling, as the course's example does: nothing tells the reader about updates.
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("gave up waiting for count {until}")
}

fn main() -> std::process::ExitCode {
    common::run(real_main)
}
