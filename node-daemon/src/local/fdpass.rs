//! File-descriptor passing (SCM_RIGHTS) on a tokio `UnixStream`, with nix's `recvmsg`/`sendmsg`.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// Linux's `SCM_MAX_FD`: the most descriptors one `sendmsg` can carry. Room for all of them
/// means the control data is never truncated, so no received descriptor goes unaccounted.
const SCM_MAX_FD: usize = 253;

/// Read some bytes into `buf`, collecting any descriptors that arrive with them into `fds`.
/// `Ok(0)` is the end of the stream.
pub async fn recv_with_fds(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    let mut cmsg = vec![0u8; nix::sys::socket::cmsg_space::<[RawFd; SCM_MAX_FD]>()];
    stream
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<()>(
                fd,
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
            )?;
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    fds.extend(raw.into_iter().map(own_received_fd));
                }
            }
            Ok(msg.bytes)
        })
        .await
}

/// Take ownership of a descriptor the kernel just installed for us via SCM_RIGHTS.
#[allow(unsafe_code)]
fn own_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: `raw` was installed in this process by the `recvmsg` that returned it; nothing
    // else knows it, so this is its only owner and it is closed exactly once, on drop.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Write all of `bytes`, the first chunk carrying `fd` as SCM_RIGHTS.
pub async fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: &OwnedFd) -> io::Result<()> {
    send_with_fds(stream, bytes, std::slice::from_ref(fd)).await
}

/// Write all of `bytes`, the first chunk carrying `fds` (in order) as SCM_RIGHTS.
pub async fn send_with_fds(stream: &UnixStream, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let sock = stream.as_raw_fd();
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let sent = stream
        .async_io(Interest::WRITABLE, || {
            let iov = [IoSlice::new(bytes)];
            let cmsg = [ControlMessage::ScmRights(&raw)];
            Ok(sendmsg::<()>(
                sock,
                &iov,
                &cmsg,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            )?)
        })
        .await?;
    let mut rest = bytes.get(sent..).unwrap_or_default();
    while !rest.is_empty() {
        stream.writable().await?;
        match stream.try_write(rest) {
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
