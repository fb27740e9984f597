//! The control stream of a peer connection: the hello that opens it and the notices that
//! follow in both directions.
//!
//! The dialler opens one bidirectional stream and sends `PeerHello { version, your_nd,
//! incarnation, max_message_size, dial }`; the acceptor answers with its own hello, or with
//! `PeerRefused` naming both versions and closes the connection, or — a discovery dial the
//! tie-break turns down — with `PeerRefused { duplicate }`. Afterwards each side writes
//! `PeerNotice` frames, `PeerUnblock` frames (cancels of its forwarded calls, by seq) and
//! `PeerDirectory` frames (the members it knows) on its direction. Anything else on the
//! control stream is a protocol violation: the connection is closed with a logged reason.

use std::time::Duration;

use qnet_core::{Nd, Notice, ThreadKey};
use qnet_proto::PEER_PROTOCOL_VERSION;
use qnet_proto::peer::{
    self, DialKind, PeerControl, PeerDirectory, PeerHello, PeerNotice, PeerRefused, PeerUnblock,
    peer_control, peer_notice,
};
use qnet_transport::{PeerConnection, RecvStream, SendStream};
use tokio::sync::{mpsc, watch};

use super::frames::{self, FrameReader, StreamError};
use crate::driver::Driver;

/// A peer that says nothing within this time after the handshake is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Control frames are small.
const MAX_CONTROL_FRAME: usize = 64 * 1024;

/// Why a control stream (and with it the connection) ended.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The stream or a frame on it is bad.
    #[error("{0}")]
    Stream(#[from] StreamError),
    /// The connection failed.
    #[error("{0}")]
    Connection(#[from] quinn::ConnectionError),
    /// No hello in time.
    #[error("no hello within {0:?}")]
    Timeout(Duration),
    /// The protocol versions differ.
    #[error(
        "peer protocol version mismatch: peer speaks version {theirs}, we speak version {ours}"
    )]
    Version {
        /// The peer's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// The peer refused us.
    #[error("refused by the peer: {0}")]
    Refused(String),
    /// The pair keeps another link (the tie-break of discovery dials): not a failure.
    #[error("duplicate link: {0}")]
    Duplicate(String),
    /// A well-formed frame the protocol does not allow here.
    #[error("unexpected control frame: {0}")]
    Unexpected(&'static str),
    /// The peer finished its control stream.
    #[error("control stream finished by the peer")]
    Finished,
}

/// What this node writes on a control stream after the hello, as the kernel said it (turned
/// into wire frames by the stream's task, not under the kernel's lock).
#[derive(Debug)]
pub enum Outgoing {
    /// A notice for the peer, applied there after the pulses queued on the link before it.
    Notice {
        /// The notice.
        notice: Notice,
        /// Pulses queued on this link before it (`PeerNotice.after_pulses`).
        after_pulses: u64,
    },
    /// Cancel the call `seq` that local `thread` forwarded on this connection.
    Unblock {
        /// The calling thread.
        thread: ThreadKey,
        /// Its call's seq.
        seq: u64,
    },
    /// Members this node knows (one frame of its directory).
    Directory(PeerDirectory),
}

impl Outgoing {
    fn to_wire(&self) -> peer_control::Frame {
        match self {
            Outgoing::Notice {
                notice,
                after_pulses,
            } => peer_control::Frame::Notice(PeerNotice {
                after_pulses: *after_pulses,
                ..notice_to_wire(notice)
            }),
            Outgoing::Unblock { thread, seq } => peer_control::Frame::Unblock(PeerUnblock {
                pid: thread.pid,
                tid: thread.tid,
                seq: *seq,
            }),
            Outgoing::Directory(d) => peer_control::Frame::Directory(d.clone()),
        }
    }
}

/// The open control stream after a successful hello.
#[derive(Debug)]
pub struct Control {
    /// Our direction.
    pub send: SendStream,
    /// The peer's direction.
    pub recv: RecvStream,
    /// Frames from the peer.
    pub reader: FrameReader,
    /// The nd the peer uses for us.
    pub srcnd: Nd,
    /// The peer daemon's incarnation.
    pub incarnation: u64,
    /// The peer's largest send or reply buffer (`None`: it did not say).
    pub max_message: Option<u64>,
    /// How the dialler found the acceptor.
    pub dial: DialKind,
}

fn hello(your_nd: Nd, incarnation: u64, max_message_size: u64, dial: DialKind) -> PeerControl {
    PeerControl {
        frame: Some(peer_control::Frame::Hello(PeerHello {
            version: PEER_PROTOCOL_VERSION,
            your_nd,
            incarnation,
            max_message_size,
            dial: dial.into(),
        })),
    }
}

async fn read_control(
    reader: &mut FrameReader,
    recv: &mut RecvStream,
) -> Result<peer_control::Frame, ControlError> {
    match reader.read::<PeerControl>(recv).await? {
        None => Err(ControlError::Finished),
        Some(PeerControl { frame: None }) => Err(ControlError::Unexpected("empty frame")),
        Some(PeerControl { frame: Some(f) }) => Ok(f),
    }
}

/// Dialler's side: open the control stream, say hello as the node that calls the peer `nd`
/// and found it by `kind`.
pub async fn dial(
    conn: &PeerConnection,
    nd: Nd,
    incarnation: u64,
    max_message: u64,
    kind: DialKind,
) -> Result<Control, ControlError> {
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        frames::write(&mut send, &hello(nd, incarnation, max_message, kind)).await?;
        let mut reader = FrameReader::new(MAX_CONTROL_FRAME);
        match read_control(&mut reader, &mut recv).await? {
            peer_control::Frame::Hello(h) if h.version == PEER_PROTOCOL_VERSION => Ok(Control {
                send,
                recv,
                reader,
                srcnd: h.your_nd,
                incarnation: h.incarnation,
                max_message: (h.max_message_size != 0).then_some(h.max_message_size),
                dial: kind,
            }),
            peer_control::Frame::Hello(h) => Err(ControlError::Version {
                theirs: h.version,
                ours: PEER_PROTOCOL_VERSION,
            }),
            peer_control::Frame::Refused(r) if r.duplicate => {
                Err(ControlError::Duplicate(r.reason))
            }
            peer_control::Frame::Refused(r) => Err(ControlError::Refused(r.reason)),
            peer_control::Frame::Notice(_)
            | peer_control::Frame::Unblock(_)
            | peer_control::Frame::Directory(_) => {
                Err(ControlError::Unexpected("notice before hello"))
            }
        }
    };
    tokio::time::timeout(HELLO_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(ControlError::Timeout(HELLO_TIMEOUT)))
}

/// Acceptor's side: take the dialler's control stream and hello, answer as the node that
/// calls the peer `nd`. A version mismatch is answered with a refusal naming both versions;
/// a hello `duplicate` finds a reason to turn down (the tie-break), with a duplicate refusal.
pub async fn accept(
    conn: &PeerConnection,
    nd: Nd,
    incarnation: u64,
    max_message: u64,
    duplicate: impl FnOnce(&PeerHello) -> Option<String>,
) -> Result<Control, ControlError> {
    let exchange = async {
        let (mut send, mut recv) = conn.accept_bi().await?;
        let mut reader = FrameReader::new(MAX_CONTROL_FRAME);
        let h = match read_control(&mut reader, &mut recv).await? {
            peer_control::Frame::Hello(h) => h,
            _ => {
                return Err(ControlError::Unexpected(
                    "first control frame is not a hello",
                ));
            }
        };
        let refusal = if h.version != PEER_PROTOCOL_VERSION {
            Some(ControlError::Version {
                theirs: h.version,
                ours: PEER_PROTOCOL_VERSION,
            })
        } else {
            duplicate(&h).map(ControlError::Duplicate)
        };
        if let Some(err) = refusal {
            let (reason, duplicate) = match &err {
                ControlError::Duplicate(r) => (r.clone(), true),
                e => (e.to_string(), false),
            };
            let refused = PeerControl {
                frame: Some(peer_control::Frame::Refused(PeerRefused {
                    reason,
                    version: PEER_PROTOCOL_VERSION,
                    duplicate,
                })),
            };
            frames::write(&mut send, &refused).await?;
            let _ = send.finish();
            // Give the refusal a moment to arrive before the close abandons it.
            let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
            return Err(err);
        }
        let kind = h.dial();
        frames::write(&mut send, &hello(nd, incarnation, max_message, kind)).await?;
        Ok(Control {
            send,
            recv,
            reader,
            srcnd: h.your_nd,
            incarnation: h.incarnation,
            max_message: (h.max_message_size != 0).then_some(h.max_message_size),
            dial: kind,
        })
    };
    tokio::time::timeout(HELLO_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(ControlError::Timeout(HELLO_TIMEOUT)))
}

/// Carry notices and unblocks both ways on `control` until it fails: the peer's to the
/// driver (as node `nd`), each notice after the pulses the peer queued before it (`pulses`,
/// the count handled from this connection's pulse stream), ours from `outgoing`; the peer's
/// member directory frames to `directory`.
pub async fn run(
    driver: &Driver,
    nd: Nd,
    mut control: Control,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut pulses: watch::Receiver<u64>,
    mut directory: impl FnMut(PeerDirectory),
) -> ControlError {
    loop {
        tokio::select! {
            frame = read_control(&mut control.reader, &mut control.recv) => {
                let notice = match frame {
                    Ok(peer_control::Frame::Notice(n)) => {
                        if !super::pulses::wait_for(&mut pulses, n.after_pulses).await {
                            return ControlError::Unexpected("pulse stream gone before a notice");
                        }
                        n
                    }
                    Ok(peer_control::Frame::Unblock(u)) => {
                        let thread = ThreadKey { nd, pid: u.pid, tid: u.tid };
                        tracing::debug!(%thread, seq = u.seq, "unblock from peer");
                        driver.remote_unblock(thread, u.seq);
                        continue;
                    }
                    Ok(peer_control::Frame::Directory(d)) => {
                        directory(d);
                        continue;
                    }
                    Ok(_) => return ControlError::Unexpected("hello or refusal after the hello"),
                    Err(e) => return e,
                };
                match notice_from_wire(notice) {
                    Ok(n) => {
                        tracing::debug!(nd, notice = ?n, "notice from peer");
                        driver.notice(nd, n);
                    }
                    Err(what) => return ControlError::Unexpected(what),
                }
            }
            Some(out) = outgoing.recv() => {
                let frame = PeerControl { frame: Some(out.to_wire()) };
                if let Err(e) = frames::write(&mut control.send, &frame).await {
                    return e.into();
                }
            }
        }
    }
}

/// A kernel notice as a wire frame.
pub fn notice_to_wire(notice: &Notice) -> PeerNotice {
    let n = match *notice {
        Notice::ThreadExit { pid, tid, seq } => {
            peer_notice::Notice::ThreadExit(peer::ThreadExit { pid, tid, seq })
        }
        Notice::ProcessExit { pid, next_seq } => {
            peer_notice::Notice::ProcessExit(peer::ProcessExit { pid, next_seq })
        }
        Notice::ConnectionDead { pid, coid } => {
            peer_notice::Notice::ConnectionDead(peer::ConnectionDead {
                pid,
                remote_coid: coid,
            })
        }
        Notice::DeliverEvent {
            client_pid,
            event,
            value,
            server_pid,
        } => peer_notice::Notice::DeliverPulse(peer::DeliverPulse {
            client_pid,
            event,
            value,
            server_pid,
        }),
    };
    PeerNotice {
        notice: Some(n),
        after_pulses: 0,
    }
}

/// A wire notice as a kernel notice; an empty one is malformed.
pub fn notice_from_wire(notice: PeerNotice) -> Result<Notice, &'static str> {
    Ok(match notice.notice.ok_or("empty notice")? {
        peer_notice::Notice::ThreadExit(t) => Notice::ThreadExit {
            pid: t.pid,
            tid: t.tid,
            seq: t.seq,
        },
        peer_notice::Notice::ProcessExit(p) => Notice::ProcessExit {
            pid: p.pid,
            next_seq: p.next_seq,
        },
        peer_notice::Notice::ConnectionDead(c) => Notice::ConnectionDead {
            pid: c.pid,
            coid: c.remote_coid,
        },
        peer_notice::Notice::DeliverPulse(d) => Notice::DeliverEvent {
            client_pid: d.client_pid,
            event: d.event,
            value: d.value,
            server_pid: d.server_pid,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        let all = [
            Notice::ThreadExit {
                pid: 1,
                tid: 2,
                seq: 9,
            },
            Notice::ProcessExit {
                pid: 3,
                next_seq: 17,
            },
            Notice::ConnectionDead { pid: 4, coid: 5 },
            Notice::DeliverEvent {
                client_pid: 6,
                event: 1 << 40,
                value: Some(-1),
                server_pid: 7,
            },
        ];
        for n in all {
            assert_eq!(notice_from_wire(notice_to_wire(&n)), Ok(n));
        }
        assert!(
            notice_from_wire(PeerNotice {
                notice: None,
                after_pulses: 0
            })
            .is_err()
        );
    }
}
