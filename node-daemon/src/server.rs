//! The Unix-socket front end: binding (stale-socket handling, permissions), the accept loop,
//! and graceful shutdown.
//!
//! Shutdown is structural: one `CancellationToken` is handed to every task (the timer and each
//! session) and a `TaskTracker` waits for them. When the `shutdown` future completes the
//! listener stops accepting, the socket file is removed, every session is cancelled (its
//! socket closes, so a client blocked in `MsgReceive` reads end-of-stream at once) and `run`
//! returns when all tasks are gone.
//!
//! Out of descriptors (`EMFILE`/`ENFILE` at accept), the daemon keeps serving its sessions
//! and answers each new client with a refusal it can act on (`EAGAIN`, "qnetd is out of
//! file descriptors: raise its LimitNOFILE") instead of leaving it to a reset: one
//! descriptor is kept in [`Reserve`] (nginx's and libev's way), closed to accept the client,
//! and opened again once the refusal is sent. The condition is logged at most once per
//! rate window, with how many refusals it stood for.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use qnet_core::Errno;
use qnet_proto::local::DaemonFrame;
use qnet_transport::LogRate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::driver::Driver;
use crate::local::direct::DirectRegistry;
use crate::local::session::{self, SessionContext};
use crate::local::shm::ShmRegistry;
use crate::metrics::{Exposition, Readiness};
use crate::peer::{Dialer, PeerEndpoint};

/// Sets the daemon's log filter (`EnvFilter` syntax) while it runs, for a config reload;
/// `Err` is why the filter was not set.
pub type LogFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// A [`LogFilter`] held by the server.
struct FilterSlot(Option<LogFilter>);

impl std::fmt::Debug for FilterSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LogFilter"
        } else {
            "None"
        })
    }
}

/// A config reload asked for (SIGHUP): the config file read again and validated, or the one
/// line saying why it cannot be used.
pub type Reload = Result<Config, String>;

/// Why the daemon could not start. Each message is one line for the operator: what failed,
/// the value, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another daemon answers on the socket path.
    #[error(
        "a daemon is already listening on {}: stop it, or give this one another --socket",
        .0.display()
    )]
    InUse(PathBuf),
    /// Something other than a socket is at the socket path.
    #[error(
        "{} exists and is not a socket; not touching it: remove it, or give another --socket",
        .0.display()
    )]
    NotASocket(PathBuf),
    /// The directory of the socket path does not exist.
    #[error(
        "socket directory {} does not exist (socket {}): create it, or give another --socket",
        dir.display(),
        path.display()
    )]
    NoDirectory {
        /// The missing directory.
        dir: PathBuf,
        /// The socket path.
        path: PathBuf,
    },
    /// The metrics endpoint could not be bound.
    #[error("cannot serve metrics on {addr}: {error}: give another --metrics address")]
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The error.
        error: io::Error,
    },
    /// The peer endpoint could not start.
    #[error(transparent)]
    Peer(#[from] crate::peer::PeerError),
    /// The pathname space could not be mounted (`--mount`).
    #[error(transparent)]
    Mount(#[from] crate::fuse::MountError),
    /// A system call failed. (The error is in the message, not a `source()`, so that
    /// printing the chain does not say it twice.)
    #[error("{what} {}: {error}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

/// A bound, not yet serving daemon.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    /// Identity of the socket file we created, so shutdown removes only our own.
    inode: (u64, u64),
    ctx: Arc<SessionContext>,
    peer: Option<PeerEndpoint>,
    metrics: Option<tokio::net::TcpListener>,
    busy_poll: crate::poll::Windows,
    /// The running configuration (what a reload compares the file with).
    config: Config,
    exposition: Arc<Exposition>,
    log_filter: FilterSlot,
    mount: Option<crate::fuse::Mount>,
}

impl Server {
    /// Bind the socket of `config` (replacing a stale socket file no daemon answers on) and
    /// make it connectable by every local user. Must be called inside a tokio runtime.
    pub fn bind(config: &Config) -> Result<Self, ServerError> {
        let path = config.socket.clone();
        let io_err = |what, error| ServerError::Io {
            what,
            path: path.clone(),
            error,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                return Err(ServerError::NoDirectory {
                    dir: dir.into(),
                    path: path.clone(),
                });
            }
        }
        remove_stale(&path)?;
        let listener = UnixListener::bind(&path).map_err(|e| io_err("binding", e))?;
        let meta = std::fs::metadata(&path).map_err(|e| io_err("reading", e))?;
        let inode = (meta.dev(), meta.ino());
        // From here on a failed start removes the socket file it made: a later start (or a
        // client) must not find a dead socket.
        Self::finish_bind(config, listener, inode).inspect_err(|_| {
            remove_own_socket(&path, inode);
        })
    }

    fn finish_bind(
        config: &Config,
        listener: UnixListener,
        inode: (u64, u64),
    ) -> Result<Self, ServerError> {
        let path = config.socket.clone();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(
            |error| ServerError::Io {
                what: "setting permissions of",
                path: path.clone(),
                error,
            },
        )?;
        let driver = Driver::new(qnet_core::Config {
            max_message_size: config.max_message_size,
            limits: config.limits,
            ..qnet_core::Config::default()
        });
        driver.set_local_node_name(&config.node);
        // The local wing's direct path, held by the driver under the kernel's lock.
        driver.attach_direct(Box::new(DirectRegistry::new(
            config.direct == crate::config::Direct::On,
            config.limits.queued_pulses as u64,
            driver.epoch_ns(),
        )));
        let peer = crate::peer::start(config, &driver)?;
        // The peer table, handed to what shows it (ADMIN sessions, the metrics).
        let peers = peer.as_ref().map(PeerEndpoint::peers);
        let metrics = config
            .metrics
            .map(|addr| {
                crate::metrics::bind(addr).map_err(|error| ServerError::Metrics { addr, error })
            })
            .transpose()?;
        let own_cert = config
            .certs
            .as_deref()
            .and_then(|dir| crate::peer::own_cert_not_after(dir, &config.node));
        let ctx = Arc::new(SessionContext {
            driver,
            shm: ShmRegistry::new(&config.node),
            node: config.node.clone(),
            max_message_size: config.max_message_size,
            max_frame_len: config.max_frame_len(),
            one_copy: config.one_copy == crate::config::OneCopy::On,
            clients: Default::default(),
            cert_not_after: own_cert,
            peers: peers.clone(),
        });
        let mount = config
            .mount
            .as_deref()
            .map(|dir| crate::fuse::Mount::new(dir, config.mount_links.clone()))
            .transpose()?;
        let mut certs = Vec::new();
        if let Some(t) = own_cert {
            certs.push(("node", config.node.clone(), t));
        }
        if let Some(t) = (config.certs.as_deref()).and_then(crate::peer::ca_cert_not_after) {
            certs.push(("ca", config.node.clone(), t));
        }
        let exposition = Arc::new(Exposition::new(
            ctx.driver.clone(),
            peers,
            certs,
            Readiness {
                socket: (path.clone(), inode),
                peer: peer.as_ref().and_then(PeerEndpoint::local_addr),
                stopping: Default::default(),
            },
        ));
        Ok(Self {
            listener,
            path,
            inode,
            ctx,
            peer,
            metrics,
            mount,
            busy_poll: crate::poll::Windows::new(config.busy_poll, config.busy_poll_idle)
                .adaptive(!config.busy_poll_fixed),
            config: config.clone(),
            exposition,
            log_filter: FilterSlot(None),
        })
    }

    /// Let a reload change the log filter through `set`.
    pub fn with_log_filter(mut self, set: LogFilter) -> Self {
        self.log_filter = FilterSlot(Some(set));
        self
    }

    /// The UDP address peers reach this daemon on, if it listens for them.
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer.as_ref().and_then(PeerEndpoint::local_addr)
    }

    /// The TCP address of the metrics endpoint, if it serves one.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the pathname space is mounted, if it is.
    pub fn mount_dir(&self) -> Option<&Path> {
        self.mount.as_ref().map(crate::fuse::Mount::dir)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serve sessions until `shutdown` completes, then close them all and remove the socket.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (_keep, reloads) = mpsc::unbounded_channel();
        self.run_reloading(shutdown, reloads).await;
    }

    /// [`Server::run`], applying each config that arrives on `reloads` (see `reload`): the
    /// live settings at once, the others logged as waiting for a restart; a reload that
    /// cannot be applied is refused whole with one line, and the running config stays.
    pub async fn run_reloading(
        self,
        shutdown: impl Future<Output = ()>,
        mut reloads: mpsc::UnboundedReceiver<Reload>,
    ) {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(self.ctx.driver.clone().run_timer(cancel.clone()));
        tracker.spawn(crate::poll::spin(
            self.ctx.driver.activity(),
            self.busy_poll,
            cancel.clone(),
        ));
        let mut live = Live {
            config: self.config,
            dialer: self.peer.map(|peer| peer.spawn(&tracker, cancel.clone())),
            metrics: None,
            log_filter: self.log_filter.0,
            exposition: self.exposition.clone(),
            tracker: tracker.clone(),
            cancel: cancel.clone(),
        };
        if let Some(listener) = self.metrics {
            live.serve_metrics(listener);
        }
        let links = self
            .mount
            .as_ref()
            .map(|m| Arc::new(m.serve(self.ctx.driver.clone(), tokio::runtime::Handle::current())));
        if let Some(links) = links.clone().filter(|l| l.enabled()) {
            let cancel = cancel.clone();
            tracker.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tick.tick() => links.sync(),
                    }
                }
            });
        }
        tokio::pin!(shutdown);
        let reserve = Reserve::new();
        // One line per window about running out of descriptors (with the count it stands
        // for), one per window about other accept failures.
        let mut out_of_fds_log = LogRate::new(1, qnet_transport::lograte::INTERVAL);
        let mut accept_log = LogRate::new(1, qnet_transport::lograte::INTERVAL);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(reload) = reloads.recv() => live.reload(reload),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tracker.spawn(session::serve(stream, self.ctx.clone(), cancel.clone()));
                    }
                    Err(e) if out_of_fds(&e) => {
                        if let Some(suppressed) = out_of_fds_log.allow(Instant::now()) {
                            tracing::warn!(
                                error = %e,
                                refused_since_last = suppressed,
                                "out of file descriptors: new clients are refused with EAGAIN \
                                 until sessions close; raise qnetd's LimitNOFILE"
                            );
                        }
                        match reserve.take() {
                            Some(spare) => {
                                drop(spare);
                                // The client is still queued: this accept does not wait.
                                let next = self.listener.accept();
                                match tokio::time::timeout(Duration::from_millis(10), next).await {
                                    Ok(Ok((stream, _))) => {
                                        tracker.spawn(refuse_out_of_fds(stream, reserve.clone()));
                                    }
                                    _ => reserve.refill(),
                                }
                            }
                            // A refusal is being sent with the reserve's descriptor (or
                            // none could be had again yet).
                            None => {
                                reserve.refill();
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                        }
                    }
                    Err(e) => {
                        if let Some(suppressed) = accept_log.allow(Instant::now()) {
                            tracing::warn!(error = %e, suppressed, "accept failed");
                        }
                        // Back off instead of spinning; sessions keep running.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        (self.exposition.ready.stopping).store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(sessions = tracker.len().saturating_sub(1), "shutting down");
        if let Some(m) = &self.mount {
            if let Some(l) = &links {
                l.clear();
            }
            m.unmount();
        }
        drop(self.listener);
        remove_own_socket(&self.path, self.inode);
        // Before the sessions close: what their closing causes must not reach other clients.
        self.ctx.driver.stop();
        cancel.cancel();
        tracker.close();
        tracker.wait().await;
        tracing::info!("stopped");
    }
}

/// What a reload can change in a running daemon, and the config it runs.
struct Live {
    config: Config,
    dialer: Option<Dialer>,
    /// The metrics endpoint's address and what stops it.
    metrics: Option<(std::net::SocketAddr, CancellationToken)>,
    log_filter: Option<LogFilter>,
    exposition: Arc<Exposition>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Live {
    fn serve_metrics(&mut self, listener: tokio::net::TcpListener) {
        let stop = self.cancel.child_token();
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(metrics = %addr, "serving metrics");
            self.metrics = Some((addr, stop.clone()));
        }
        self.tracker.spawn(crate::metrics::serve(
            listener,
            self.exposition.clone(),
            stop,
        ));
    }

    /// Apply `reload`, or refuse it whole.
    fn reload(&mut self, reload: Reload) {
        crate::notify::reloading();
        let result = reload.and_then(|new| self.apply(new));
        let ok = result.is_ok();
        if let Err(why) = result {
            tracing::warn!("config reload refused, the running configuration stays: {why}");
        }
        let counts = &self.exposition.reloads;
        let n = if ok { &counts.applied } else { &counts.refused };
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counts
            .last_ok
            .store(ok, std::sync::atomic::Ordering::Relaxed);
        crate::notify::ready("running");
    }

    /// Everything that can fail first (the new log filter, the new metrics address, a peer
    /// list without a peer endpoint), then the changes, which cannot.
    fn apply(&mut self, new: Config) -> Result<(), String> {
        let d = crate::reload::diff(&self.config, &new);
        if d.applies("log") {
            tracing_subscriber::EnvFilter::try_new(&new.log)
                .map_err(|e| format!("bad log filter {:?}: {e}", new.log))?;
            if self.log_filter.is_none() {
                return Err("this daemon's log filter cannot change while it runs".into());
            }
        }
        let metrics = match (d.applies("metrics"), new.metrics) {
            (true, Some(addr)) => Some(Some(crate::metrics::bind(addr).map_err(|e| {
                format!("cannot serve metrics on {addr}: {e}: give another metrics address")
            })?)),
            (true, None) => Some(None),
            (false, _) => None,
        };
        if (d.applies("peers") || d.applies("seeds")) && self.dialer.is_none() {
            return Err(
                "peers and seeds need the peer endpoint (listen), which only a restart adds".into(),
            );
        }
        if let (true, Some(set)) = (d.applies("log"), &self.log_filter) {
            set(&new.log)?;
        }
        if let Some(listener) = metrics {
            if let Some((_, stop)) = self.metrics.take() {
                stop.cancel();
            }
            if let Some(listener) = listener {
                self.serve_metrics(listener);
            }
        }
        if let (true, Some(dialer)) = (d.applies("peers"), &mut self.dialer) {
            if let Err(e) = dialer.set_peers(&new.peers) {
                tracing::warn!("config reload: {e}");
            }
        }
        if let (true, Some(dialer)) = (d.applies("seeds"), &mut self.dialer) {
            dialer.set_seeds(&new.seeds);
        }
        if d.limits() {
            self.exposition.driver().set_limits(new.limits);
        }
        self.config = crate::reload::merge(&self.config, &new);
        let changed = if d.live.is_empty() {
            "nothing".to_owned()
        } else {
            crate::reload::line(&d.live)
        };
        tracing::info!(%changed, "config reloaded");
        if !d.restart.is_empty() {
            tracing::warn!(
                settings = %crate::reload::line(&d.restart),
                "config reload: these settings changed in the file but take effect only at \
                 the next start"
            );
        }
        Ok(())
    }
}

/// What a client refused for want of descriptors reads (`EAGAIN` in its call).
pub const OUT_OF_FDS: &str = "qnetd is out of file descriptors: raise its LimitNOFILE (systemd) \
     or ulimit -n, or end some sessions; try again later";

/// Whether an accept failed because the process (`EMFILE`) or the system (`ENFILE`) has no
/// descriptor left.
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// One descriptor held in reserve, given up to accept (and refuse) a client when the daemon
/// is out of descriptors, and taken back after.
#[derive(Debug)]
struct Reserve(Mutex<Option<OwnedFd>>);

impl Reserve {
    fn new() -> Arc<Self> {
        let r = Arc::new(Self(Mutex::new(None)));
        r.refill();
        r
    }

    fn take(&self) -> Option<OwnedFd> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Hold a descriptor again (`/dev/null`), if there is one to have.
    fn refill(&self) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = std::fs::File::open("/dev/null").ok().map(OwnedFd::from);
        }
    }
}

/// Tell a client accepted with the reserve's descriptor that the daemon is out of
/// descriptors (`EAGAIN` and [`OUT_OF_FDS`]), then close it and take the descriptor back.
/// Its hello is read first (it is normally there already): closing a socket with unread
/// data would reset the connection.
async fn refuse_out_of_fds(mut stream: UnixStream, reserve: Arc<Reserve>) {
    const WAIT: Duration = Duration::from_secs(1);
    let frame = DaemonFrame {
        frame: Some(qnet_proto::hello::busy(Errno::EAGAIN, OUT_OF_FDS.into())),
    };
    let mut out = BytesMut::new();
    qnet_proto::frame::encode_frame(&frame, &mut out);
    let mut hello = [0u8; qnet_proto::hello::MAX_HELLO_LEN];
    let _ = tokio::time::timeout(WAIT, async {
        stream.write_all(&out).await?;
        stream.read(&mut hello).await
    })
    .await;
    drop(stream);
    reserve.refill();
}

/// Bind `config.socket` and serve until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    Server::bind(&config)?.run(shutdown).await;
    Ok(())
}

/// If `path` is a socket no one answers on, remove it; if someone answers, refuse.
fn remove_stale(path: &Path) -> Result<(), ServerError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ServerError::Io {
                what: "inspecting",
                path: path.into(),
                error: e,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ServerError::NotASocket(path.into()));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(ServerError::InUse(path.into())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket file");
            std::fs::remove_file(path).map_err(|e| ServerError::Io {
                what: "removing",
                path: path.into(),
                error: e,
            })
        }
        Err(e) => Err(ServerError::Io {
            what: "probing",
            path: path.into(),
            error: e,
        }),
    }
}

fn remove_own_socket(path: &Path, inode: (u64, u64)) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if (m.dev(), m.ino()) == inode => {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove socket file");
            }
        }
        _ => tracing::debug!(path = %path.display(), "socket file is no longer ours"),
    }
}
