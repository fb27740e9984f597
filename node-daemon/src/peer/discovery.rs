//! Discovery: how this node finds the others besides `--peer` — seeds, the member directory
//! exchanged on the control stream, and (opt-in) mDNS (`mdns`) — and the dial jobs that turn
//! what they found into links.
//!
//! - **Seeds** (`--seed HOST:PORT`): each seed has its own loop. A round resolves the name
//!   again (so a DNS name that returns every member works), skips addresses that are this
//!   node's or a live link's, and dials the rest in parallel, each for at most
//!   [`DIAL_TIMEOUT`], accepting whichever node of the cluster CA answers (its certificate
//!   names it). Rounds repeat with backoff while a seed fails (up to [`SEED_RETRY_MAX`]),
//!   every [`SEED_IDLE`] otherwise.
//!   A seed that is down delays nothing else.
//! - **Directory**: on every link-up each side sends the members it holds a live link to
//!   (itself first: name, incarnation, addresses); when a node first comes up on a link that
//!   is not itself a directory dial, or comes back in a new incarnation, its entry goes to
//!   every other link. Entries only add candidates to the member table (`members`).
//! - **Dial jobs**: the finder task starts a job for each member due (not configured, not up,
//!   an address out of backoff), at most [`MAX_JOBS`] at once; a job dials every due address
//!   of its member in parallel, by the member's name (so the certificate must name it), for
//!   at most [`DIAL_TIMEOUT`] each, and keeps the first that answers.
//! - **One link per pair**: a discovery dial checks, once its handshake is done, that the
//!   node is not already up; the acceptor refuses a discovery dial that duplicates a live
//!   link or crosses its own dial while its name sorts first (`Members::refuse_duplicate`).
//!   Configured peers (`--peer`) keep dialling as before (two nodes that list each other keep
//!   two links).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use qnet_proto::peer::{DialKind, PeerDirectory, PeerMember};
use qnet_transport::explain::{self, DialLog, Explained};
use qnet_transport::{Backoff, ConnectError, PeerConnection};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::control::{self, ControlError};
use super::link::{Ctx, run_link};
use super::members::{Announced, Job, MAX_ADDRS, Members, Via};

/// The longest one discovery dial may take: a LAN answers in milliseconds, and an address
/// that does not answer must not hold up the others (they are dialled in parallel anyway).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Dial jobs running at once (each dials up to `MAX_ADDRS` addresses in parallel): whatever
/// peers announce, at most `MAX_JOBS * MAX_ADDRS` handshakes are in flight.
pub const MAX_JOBS: usize = 16;

/// The longest wait between two rounds of a seed that fails: a cluster whose seed comes up
/// late meshes within about this long of it (the backoff starts at 100 ms and doubles).
pub const SEED_RETRY_MAX: Duration = Duration::from_secs(2);

/// How often a seed whose every address is a live link is looked at again.
pub const SEED_IDLE: Duration = Duration::from_secs(30);

/// Addresses of one seed name dialled per round.
pub const MAX_SEED_ADDRS: usize = 16;

/// Members per directory frame (a control frame stays far below its 64 KiB limit).
pub const DIRECTORY_CHUNK: usize = 64;

/// Members read from one directory frame; the rest are ignored.
pub const MAX_DIRECTORY_READ: usize = 1024;

/// Joins, leaves and failed dials, for the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// A node came up (its first link, or a link from a new incarnation).
    pub joins: AtomicU64,
    /// A node went down (its last link closed).
    pub leaves: AtomicU64,
    /// Dials that failed, by how they were made ([`Via`]: static, seed, directory, mdns).
    pub failed_dials: [AtomicU64; 4],
}

impl Counters {
    /// Count a failed dial made `via`.
    pub fn failed(&self, via: Via) {
        let i = match via {
            Via::Static => 0,
            Via::Seed => 1,
            Via::Directory | Via::Incoming => 2,
            Via::Mdns => 3,
        };
        self.failed_dials[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed dials by kind.
    pub fn failed_by_kind(&self) -> [(&'static str, u64); 4] {
        let v = |i: usize| self.failed_dials[i].load(Ordering::Relaxed);
        [
            ("static", v(0)),
            ("seed", v(1)),
            ("directory", v(2)),
            ("mdns", v(3)),
        ]
    }
}

/// What discovery shares between the link tasks, the finder, the seeds and mDNS.
#[derive(Debug)]
pub struct Discovery {
    members: Mutex<Members>,
    /// Wakes the finder: something was announced.
    wake: Notify,
    /// Joins, leaves, failed dials.
    pub counters: Counters,
    /// This node's name and incarnation, and the addresses it advertises.
    me: PeerMember,
    /// One log line per window for failures of dials of unproven names (a flood of fake
    /// directory entries writes a bounded number of lines).
    unproven_log: Mutex<qnet_transport::LogRate>,
}

impl Discovery {
    /// Discovery of node `me` (incarnation `incarnation`) listening on `listen` and
    /// advertising `advertised`; `own` are further addresses of its endpoint (never dialled).
    pub fn new(
        me: &str,
        incarnation: u64,
        listen: SocketAddr,
        advertised: &[SocketAddr],
        own: &[SocketAddr],
    ) -> Arc<Self> {
        let mut members = Members::new(me, listen, incarnation);
        for a in own.iter().chain(advertised) {
            members.add_own(*a);
        }
        Arc::new(Self {
            members: Mutex::new(members),
            wake: Notify::new(),
            counters: Counters::default(),
            me: PeerMember {
                node: me.to_owned(),
                incarnation,
                addrs: advertised.iter().map(ToString::to_string).collect(),
            },
            unproven_log: Mutex::default(),
        })
    }

    /// The member table.
    pub fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Something worth a dial was announced.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// This node's directory: itself, then every member it holds a live link to, in frames
    /// of [`DIRECTORY_CHUNK`].
    pub fn directory(&self) -> Vec<PeerDirectory> {
        let mut all = vec![self.me.clone()];
        all.extend(self.members().directory().into_iter().map(member));
        all.chunks(DIRECTORY_CHUNK)
            .map(|c| PeerDirectory {
                members: c.to_vec(),
            })
            .collect()
    }

    /// The directory entry of up member `name`.
    pub fn entry(&self, name: &str) -> Option<PeerDirectory> {
        let e = self.members().entry(name)?;
        Some(PeerDirectory {
            members: vec![member(e)],
        })
    }

    /// Take in a directory frame from peer `from` (on its own link). Returns how many
    /// entries the caps dropped.
    pub fn apply(&self, from: &str, dir: &PeerDirectory) -> u64 {
        let now = Instant::now();
        let mut news = false;
        let mut refused = 0;
        {
            let mut m = self.members();
            for e in dir.members.iter().take(MAX_DIRECTORY_READ) {
                let addrs: Vec<SocketAddr> = e
                    .addrs
                    .iter()
                    .take(4 * MAX_ADDRS)
                    .filter_map(|a| a.parse().ok())
                    .collect();
                let inc = (e.incarnation != 0).then_some(e.incarnation);
                match m.announce(Some(from), Via::Directory, &e.node, inc, &addrs, now) {
                    Announced::News => news = true,
                    Announced::Refused => refused += 1,
                    Announced::Nothing => {}
                }
            }
        }
        if news {
            self.wake();
        }
        refused
    }

    /// Take in an mDNS record of node `name`.
    pub fn announce_mdns(&self, name: &str, incarnation: Option<u64>, addrs: &[SocketAddr]) {
        let r = self
            .members()
            .announce(None, Via::Mdns, name, incarnation, addrs, Instant::now());
        if r == Announced::News {
            self.wake();
        }
    }

    /// Log a failed dial of `name` (made `via`) at `addr`, and record it.
    fn dial_failed(&self, name: &str, via: Via, addr: SocketAddr, e: &Explained) {
        self.counters.failed(via);
        let (line, verified) = {
            let mut m = self.members();
            let line = m.dial_failed(name, addr, e, Instant::now());
            let verified = m.verified(name);
            (line, verified)
        };
        let Some(line) = line else { return };
        // A name no certificate ever proved may be a fake: those share one rate.
        let suppressed = if verified {
            Some(line.repeated)
        } else {
            qnet_transport::lograte::allow_shared(&self.unproven_log)
        };
        let Some(suppressed) = suppressed else { return };
        if line.warn {
            tracing::warn!(peer = %name, via = via.name(), suppressed, "cannot link to peer: {}", line.text);
        } else {
            tracing::info!(peer = %name, via = via.name(), suppressed, "cannot link to peer: {}", line.text);
        }
    }
}

fn member((name, incarnation, addrs): (Arc<str>, u64, Vec<SocketAddr>)) -> PeerMember {
    PeerMember {
        node: name.to_string(),
        incarnation,
        addrs: addrs.iter().map(ToString::to_string).collect(),
    }
}

impl From<Via> for DialKind {
    fn from(v: Via) -> Self {
        match v {
            Via::Static | Via::Incoming => DialKind::Static,
            Via::Seed => DialKind::Seed,
            Via::Directory => DialKind::Directory,
            Via::Mdns => DialKind::Mdns,
        }
    }
}

impl From<DialKind> for Via {
    fn from(k: DialKind) -> Self {
        match k {
            DialKind::Static => Via::Static,
            DialKind::Seed => Via::Seed,
            DialKind::Directory => Via::Directory,
            DialKind::Mdns => Via::Mdns,
        }
    }
}

/// Start the dial jobs of members due, until `cancel`.
pub async fn finder(ctx: Arc<Ctx>, cancel: CancellationToken) {
    let disc = ctx.peers.discovery.clone();
    let mut jobs = JoinSet::new();
    loop {
        let now = Instant::now();
        let free = MAX_JOBS.saturating_sub(jobs.len());
        let (due, next) = {
            let mut m = disc.members();
            m.expire(now);
            let due = m.due(now, free);
            (due, m.next_due())
        };
        for job in due {
            jobs.spawn(dial_job(ctx.clone(), job, cancel.clone()));
        }
        // With every slot taken, the next end of a job is what may free one.
        let wait = match next {
            Some(t) if jobs.len() < MAX_JOBS => t
                .saturating_duration_since(now)
                .max(Duration::from_millis(5)),
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = disc.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
        }
    }
    jobs.shutdown().await;
}

/// Dial `job`'s member at all its due addresses at once; link the first that answers.
async fn dial_job(ctx: Arc<Ctx>, job: Job, cancel: CancellationToken) {
    let disc = &ctx.peers.discovery;
    let mut dials = JoinSet::new();
    for addr in job.addrs.iter().copied() {
        let transport = ctx.transport.clone();
        let name = job.name.clone();
        dials.spawn(async move {
            let r = tokio::time::timeout(DIAL_TIMEOUT, transport.connect(&name, addr)).await;
            (addr, r)
        });
    }
    let mut winner = None;
    while let Some(done) = dials.join_next().await {
        let Ok((addr, result)) = done else { continue };
        match result {
            Ok(Ok(conn)) => {
                winner = Some((addr, conn));
                break;
            }
            Ok(Err(e)) => disc.dial_failed(&job.name, job.via, addr, &explain::connect_error(&e)),
            Err(_) => disc.dial_failed(&job.name, job.via, addr, &timed_out(&job.name, addr)),
        }
    }
    // The others are abandoned (dropping a handshake closes it).
    dials.abort_all();
    if let Some((addr, conn)) = winner {
        disc.members().dial_ok(&job.name, addr);
        link_dialled(&ctx, conn, addr, job.via, job.restarted, &cancel).await;
    }
    disc.members().job_done(&job.name);
}

fn timed_out(name: &str, addr: SocketAddr) -> Explained {
    Explained::transient(format!(
        "no answer from node {name} at {addr} within {DIAL_TIMEOUT:?}: is qnetd running there \
         with --listen on that address, and does UDP reach it?"
    ))
}

/// A discovery dial (`via`, to `addr`) passed its handshake: say hello and run the link in
/// its own task, unless the node is already up (in the incarnation an announcement gave,
/// `restarted`, if any) or the peer refuses it as a duplicate.
async fn link_dialled(
    ctx: &Arc<Ctx>,
    conn: PeerConnection,
    addr: SocketAddr,
    via: Via,
    restarted: Option<u64>,
    cancel: &CancellationToken,
) {
    let disc = &ctx.peers.discovery;
    let name = conn.peer_node().to_owned();
    if name == ctx.node {
        disc.members().add_own(addr);
        conn.close("this node");
        return;
    }
    let Some(nd) = ctx.nd_of(&name) else {
        conn.close("cannot add node");
        return;
    };
    // Up already (a seed reached a linked node, or its own dial was taken meanwhile): the
    // pair has its link.
    if !disc.members().try_dial(&name, restarted, Instant::now()) {
        conn.close("already linked");
        return;
    }
    let hello = control::dial(
        &conn,
        nd,
        ctx.incarnation,
        ctx.peers.max_message,
        via.into(),
    )
    .await;
    if hello.is_err() {
        disc.members().dial_ended(&name);
    }
    match hello {
        Ok(control) => {
            let (ctx, cancel) = (ctx.clone(), cancel.clone());
            tokio::spawn(async move { run_link(&ctx, nd, conn, control, via, &cancel).await });
        }
        Err(ControlError::Duplicate(reason)) => {
            tracing::debug!(peer = %name, %addr, %reason, "discovery dial refused as a duplicate");
            conn.close("duplicate link");
        }
        Err(e) => {
            let why = match conn.close_reason() {
                Some(closed) => explain::connection_error(&name, &addr.to_string(), &closed),
                None => Explained::permanent(format!(
                    "peer handshake with node {name} at {addr} failed: {e}"
                )),
            };
            conn.close(&e.to_string());
            disc.dial_failed(&name, via, addr, &why);
        }
    }
}

/// The addresses `seed` (`HOST:PORT` or `IP:PORT`) stands for now; the error in plain words.
async fn resolve(seed: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = seed.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let target = seed.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        target
            .to_socket_addrs()
            .map(|a| a.take(MAX_SEED_ADDRS).collect::<Vec<_>>())
    })
    .await;
    match found {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(format!("cannot resolve {seed}: no address")),
        Ok(Err(e)) => Err(format!("cannot resolve {seed}: {e}")),
        Err(e) => Err(format!("cannot resolve {seed}: {e}")),
    }
}

/// Public for the static peers' loop: [`resolve`] of one address.
pub async fn resolve_one(addr: &str) -> Result<SocketAddr, String> {
    resolve(addr).await.map(|a| a[0])
}

/// One seed's rounds, until `cancel`.
pub async fn seed_loop(ctx: Arc<Ctx>, seed: String, cancel: CancellationToken) {
    let disc = ctx.peers.discovery.clone();
    let label = format!("seed {seed}");
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        SEED_RETRY_MAX,
        ctx.incarnation ^ seed.len() as u64,
    );
    let mut log = DialLog::default();
    loop {
        let round = match resolve(&seed).await {
            Err(text) => Err(Explained::transient(text)),
            Ok(addrs) => {
                let targets: Vec<SocketAddr> = {
                    let mut m = disc.members();
                    m.seed(&seed).addrs = addrs.clone();
                    addrs
                        .into_iter()
                        .filter(|a| !m.is_own(a) && m.proven_at(a).is_none())
                        .collect()
                };
                seed_round(&ctx, &label, &targets, &cancel).await
            }
        };
        let wait = match round {
            Ok(true) => {
                backoff.reset();
                disc.members().seed(&seed).last_error = None;
                SEED_IDLE
            }
            Ok(false) => {
                // Reached something, not everything: look again soon.
                disc.members().seed(&seed).last_error = None;
                backoff.next_delay()
            }
            Err(e) => {
                disc.counters.failed(Via::Seed);
                disc.members().seed(&seed).last_error = Some(e.text.clone());
                let delay = backoff.next_delay();
                log.failed(&label, &e, delay);
                delay
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Dial `targets` of a seed in parallel; link whoever answers. `Ok(true)`: every target
/// answered (or there was none); `Ok(false)`: some did; `Err`: none did, why the first failed.
async fn seed_round(
    ctx: &Arc<Ctx>,
    label: &str,
    targets: &[SocketAddr],
    cancel: &CancellationToken,
) -> Result<bool, Explained> {
    if targets.is_empty() {
        return Ok(true);
    }
    let mut dials = JoinSet::new();
    for addr in targets.iter().copied() {
        let transport = ctx.transport.clone();
        let label = label.to_owned();
        dials.spawn(async move {
            let r = tokio::time::timeout(DIAL_TIMEOUT, transport.connect_any(&label, addr)).await;
            (addr, r)
        });
    }
    let mut first_error = None;
    let mut reached = 0;
    while let Some(done) = dials.join_next().await {
        let Ok((addr, result)) = done else { continue };
        let e = match result {
            Ok(Ok(conn)) => {
                reached += 1;
                let (ctx, cancel) = (ctx.clone(), cancel.clone());
                tokio::spawn(async move {
                    link_dialled(&ctx, conn, addr, Via::Seed, None, &cancel).await;
                });
                continue;
            }
            Ok(Err(e @ ConnectError::Handshake { .. })) => explain::connect_error(&e),
            Ok(Err(e)) => Explained::transient(e.to_string()),
            Err(_) => Explained::transient(format!(
                "no answer from {label} at {addr} within {DIAL_TIMEOUT:?}: is qnetd running \
                 there with --listen on that address, and does UDP reach it?"
            )),
        };
        if first_error.is_none() {
            first_error = Some(e);
        }
    }
    match (reached, first_error) {
        (_, None) => Ok(true),
        (0, Some(e)) => Err(e),
        (_, Some(_)) => Ok(false),
    }
}

/// The addresses this node advertises (directory self-entry, mDNS) and the further ones its
/// endpoint is reached at, for an endpoint bound to `listen`: a specific IP is the one
/// advertised; a wildcard advertises every routable address of the interfaces (`interfaces`,
/// all if empty) in its family — never loopback, link-local or unspecified ones, which no
/// other host can dial — and counts every local address as its own.
pub fn endpoint_addrs(
    listen: SocketAddr,
    interfaces: &[String],
) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let locals: Vec<(String, std::net::IpAddr)> = if_addrs::get_if_addrs()
        .map(|l| l.into_iter().map(|i| (i.name.clone(), i.ip())).collect())
        .unwrap_or_default();
    advertise(listen, &locals, interfaces)
}

/// [`endpoint_addrs`] given the interfaces' addresses `locals`.
fn advertise(
    listen: SocketAddr,
    locals: &[(String, std::net::IpAddr)],
    interfaces: &[String],
) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let port = listen.port();
    let ip = listen.ip();
    if !ip.is_unspecified() {
        return (vec![listen], vec![listen]);
    }
    let own: Vec<SocketAddr> = locals
        .iter()
        .map(|(_, a)| SocketAddr::new(*a, port))
        .chain([listen])
        .collect();
    let advertised = locals
        .iter()
        .filter(|(name, _)| interfaces.is_empty() || interfaces.contains(name))
        .map(|(_, a)| *a)
        .filter(|a| {
            !a.is_loopback()
                && !a.is_unspecified()
                && !super::members::is_link_local(*a)
                && (ip.is_ipv6() || a.is_ipv4())
        })
        .map(|a| SocketAddr::new(a, port))
        .take(MAX_ADDRS)
        .collect();
    (advertised, own)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only routable addresses of the chosen interfaces are advertised; every local address
    /// is this node's own (never dialled).
    #[test]
    fn only_routable_addresses_are_advertised() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let locals = [
            ("lo".to_owned(), ip("127.0.0.1")),
            ("lo".to_owned(), ip("::1")),
            ("eth0".to_owned(), ip("10.0.0.5")),
            ("eth0".to_owned(), ip("fe80::1")),
            ("eth0".to_owned(), ip("2001:db8::5")),
            ("eth1".to_owned(), ip("192.168.7.5")),
            ("eth1".to_owned(), ip("169.254.3.3")),
        ];
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        let (adv, own) = advertise(sa("0.0.0.0:7100"), &locals, &[]);
        assert_eq!(adv, [sa("10.0.0.5:7100"), sa("192.168.7.5:7100")]);
        assert!(own.contains(&sa("127.0.0.1:7100")) && own.contains(&sa("10.0.0.5:7100")));
        let (adv, _) = advertise(sa("[::]:7100"), &locals, &["eth0".to_owned()]);
        assert_eq!(adv, [sa("10.0.0.5:7100"), sa("[2001:db8::5]:7100")]);
        let (adv, own) = advertise(sa("10.0.0.5:7100"), &locals, &[]);
        assert_eq!((adv.clone(), own), (vec![sa("10.0.0.5:7100")], adv));
        let (adv, _) = advertise(sa("127.0.0.1:7100"), &locals, &[]);
        assert_eq!(adv, [sa("127.0.0.1:7100")], "a loopback endpoint: itself");
    }
}
