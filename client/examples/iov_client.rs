//! Course exercise "IOV messaging": send a header and a variable-length string as a two-part
//! IOV (`MsgSendv`).
//!
//! Usage: `iov_client <text> [name]` (default name `iov_server`; `<node>/<name>` for a server
//! on another node). A text of `-` means the data is read from stdin (for messages larger
//! than one command-line argument can carry). Prints `checksum=<n>`.

mod common;

use std::io::{IoSlice, IoSliceMut, Read};

use qnet::neutrino::{msg_sendv, name_open};

const MSG_CHECKSUM: u32 = 0x2000;

fn real_main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(text) = args.get(1) else {
        anyhow::bail!("usage: iov_client <text>|- [[<node>/]name]")
    };
    let data = if text == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        buf
    } else {
        text.as_bytes().to_vec()
    };
    let Ok(data_len) = u32::try_from(data.len()) else {
        anyhow::bail!("the data is too long: {} bytes", data.len())
    };
    let name = args.get(2).map(String::as_str).unwrap_or("iov_server");
    let coid = name_open(name)?;

    // header {u32 type, u32 data_len}, then the data
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&MSG_CHECKSUM.to_le_bytes());
    header[4..].copy_from_slice(&data_len.to_le_bytes());
    let siov = [IoSlice::new(&header), IoSlice::new(&data)];
    let mut sum = [0u8; 4];
    let mut riov = [IoSliceMut::new(&mut sum)];
    msg_sendv(coid, &siov, &mut riov)?;
    println!("checksum={}", u32::from_le_bytes(sum));
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::run(real_main)
}
