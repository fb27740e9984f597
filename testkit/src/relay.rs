//! [`Relay`]: a UDP relay between a dialling node and a listening node that a test can cut
//! (a pulled cable) and restore.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

/// A UDP relay between a dialling node and a listening node. The dialler is given
/// [`Relay::addr`] as the peer's address; datagrams are forwarded both ways until
/// [`Relay::cut`], dropped while cut, and forwarded again after [`Relay::restore`].
pub struct Relay {
    front: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// A relay on 127.0.0.1 forwarding to `target`.
    pub fn start(target: SocketAddr) -> Result<Relay> {
        let front = UdpSocket::bind("127.0.0.1:0")?;
        let back = UdpSocket::bind("127.0.0.1:0")?;
        back.connect(target)?;
        // Read timeouts only let the threads notice `stop`.
        front.set_read_timeout(Some(Duration::from_millis(50)))?;
        back.set_read_timeout(Some(Duration::from_millis(50)))?;
        let front_addr = front.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let dialler: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front2, back2) = (front.try_clone()?, back.try_clone()?);
        let mut threads = Vec::new();
        {
            let (cut, stop, dialler) = (cut.clone(), stop.clone(), dialler.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    *dialler.lock().unwrap() = Some(from);
                    if !cut.load(Ordering::SeqCst) {
                        let _ = back.send(&buf[..n]);
                    }
                }
            }));
        }
        {
            let (cut, stop) = (cut.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    let Ok(n) = back2.recv(&mut buf) else {
                        continue;
                    };
                    let to = *dialler.lock().unwrap();
                    if let (false, Some(to)) = (cut.load(Ordering::SeqCst), to) {
                        let _ = front2.send_to(&buf[..n], to);
                    }
                }
            }));
        }
        Ok(Relay {
            front: front_addr,
            cut,
            stop,
            threads,
        })
    }

    /// The address the dialling node is given for the listening node.
    pub fn addr(&self) -> SocketAddr {
        self.front
    }

    /// Drop every datagram from now on, both ways.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
