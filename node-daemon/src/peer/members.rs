//! The member table: what this node knows of every other node besides its live links, keyed
//! by node name — the addresses it may be dialled at, how it was learnt (static, seed,
//! directory, mDNS, or it dialled in), its incarnation, when it was last seen, the last dial
//! error — and the seeds. `qnet nodes` shows all of it.
//!
//! Pure: no sockets, no clock (times come in as arguments). The rules it keeps:
//! - **An address never makes a node.** Announcements (member directories, mDNS) only add
//!   candidate addresses under a name; a name counts as a node once a dial by that name or an
//!   accepted connection proved it with a certificate of the cluster CA (`link_up`).
//! - **An announcement cannot repoint a name.** An address proven to belong to one node (the
//!   remote address of its live link, e.g. the sender's own) is never taken as a candidate
//!   for another name; what is left is only ever dialled by name, so the TLS check decides.
//! - **Bounded.** At most [`MAX_ADDRS`] addresses per node, [`MAX_CANDIDATES`] names never
//!   proven, of which [`MAX_PER_SOURCE`] announced by any one peer; each address has its own
//!   backoff; unproven names are forgotten [`CANDIDATE_TTL`] after they were last announced,
//!   discovered nodes that went away [`MEMBER_TTL`] after they were last seen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use qnet_transport::Backoff;
use qnet_transport::explain::{DialLine, DialLog, Explained};

/// Candidate addresses kept per node.
pub const MAX_ADDRS: usize = 4;

/// Names known only from announcements (never proven by a certificate) kept at once.
pub const MAX_CANDIDATES: usize = 1024;

/// Of [`MAX_CANDIDATES`], how many one peer's directory may have brought in.
pub const MAX_PER_SOURCE: usize = 256;

/// An unproven name no one announced again for this long is forgotten.
pub const CANDIDATE_TTL: Duration = Duration::from_secs(600);

/// A discovered node (not `--peer`) down and not announced for this long is forgotten (it
/// is dialled no more; its nd stays in the kernel, down).
pub const MEMBER_TTL: Duration = Duration::from_secs(600);

/// Of two nodes that learn of each other at once, the one whose name sorts second waits this
/// long before dialling: usually the other's dial has made the pair's one link by then.
pub const DEFER: Duration = Duration::from_millis(300);

/// How a node or an address was learnt, and how a dial was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// `--peer NAME=ADDR`.
    Static,
    /// Found at a `--seed` address.
    Seed,
    /// Named in a peer's member directory.
    Directory,
    /// Announced over mDNS.
    Mdns,
    /// It dialled this node.
    Incoming,
}

impl Via {
    /// The word `qnet nodes` shows.
    pub fn name(self) -> &'static str {
        match self {
            Via::Static => "static",
            Via::Seed => "seed",
            Via::Directory => "directory",
            Via::Mdns => "mdns",
            Via::Incoming => "incoming",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    const ALL: [Via; 5] = [
        Via::Static,
        Via::Seed,
        Via::Directory,
        Via::Mdns,
        Via::Incoming,
    ];
}

/// One address a node may be dialled at.
#[derive(Debug)]
struct Candidate {
    addr: SocketAddr,
    /// A certificate proved the node there (a link or a dial that succeeded).
    proven: bool,
    next_try: Instant,
    backoff: Backoff,
}

/// What this node knows of one other node.
#[derive(Debug)]
struct Member {
    /// [`Via`] bits.
    learnt: u8,
    /// `--peer NAME=ADDR`'s address as given.
    configured: Option<String>,
    addrs: Vec<Candidate>,
    /// Of its newest link (or the last one).
    incarnation: Option<u64>,
    /// An announced incarnation that differs from its live link's: it restarted elsewhere.
    stale: Option<u64>,
    links: u32,
    ever_up: bool,
    last_seen: Option<SystemTime>,
    last_error: Option<String>,
    /// Last announced, linked or unlinked: what the TTLs count from.
    heard: Instant,
    /// Brought in by an announcement and not proven since: counted in
    /// [`MAX_CANDIDATES`].
    candidate: bool,
    /// The peer whose directory brought it in while unproven (for [`MAX_PER_SOURCE`]).
    announced_by: Option<Arc<str>>,
    /// Discovery dials of it past the TLS handshake, hello not answered yet (tie-break).
    dialling: u32,
    /// Its dials this node accepted (hello answered), not registered as links yet.
    pending: u32,
    /// A dial job for it is running.
    job: bool,
    log: DialLog,
}

impl Member {
    fn new(now: Instant) -> Self {
        Self {
            learnt: 0,
            configured: None,
            addrs: Vec::new(),
            incarnation: None,
            stale: None,
            links: 0,
            ever_up: false,
            last_seen: None,
            last_error: None,
            heard: now,
            candidate: false,
            announced_by: None,
            dialling: 0,
            pending: 0,
            job: false,
            log: DialLog::default(),
        }
    }

    fn is_static(&self) -> bool {
        self.learnt & Via::Static.bit() != 0
    }
}

/// One dial job: a node and the addresses due, dialled in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The node, dialled by this name.
    pub name: Arc<str>,
    /// Its addresses whose backoff has passed.
    pub addrs: Vec<SocketAddr>,
    /// How it was learnt (the hello says so).
    pub via: Via,
    /// The incarnation an announcement gave, if it differs from its live link's.
    pub restarted: Option<u64>,
}

/// What an announcement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// Nothing to do (this node, no usable address, nothing new).
    Nothing,
    /// Dropped by a cap.
    Refused,
    /// A new name, or new addresses or a new incarnation for a known one: worth a dial.
    News,
}

/// A seed as `qnet nodes` shows it.
#[derive(Debug, Clone, Default)]
pub struct SeedStatus {
    /// What its name resolved to in the last round.
    pub addrs: Vec<SocketAddr>,
    /// Why its last round failed (resolution or every dial), cleared by a good round.
    pub last_error: Option<String>,
}

/// A member as `qnet nodes` shows it.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// Its name.
    pub name: Arc<str>,
    /// How it was learnt.
    pub learnt: Vec<&'static str>,
    /// Where it may be dialled.
    pub addrs: Vec<SocketAddr>,
    /// `--peer`'s address.
    pub configured: Option<String>,
    /// Its incarnation, if a link told it.
    pub incarnation: Option<u64>,
    /// A certificate has proved it (a link came up), or it is a configured peer.
    pub verified: bool,
    /// When last seen (now while up).
    pub last_seen: Option<SystemTime>,
    /// The last dial or link error.
    pub last_error: Option<String>,
}

/// The member table of one node. See the module doc.
#[derive(Debug)]
pub struct Members {
    me: Arc<str>,
    /// This node's peer endpoint: decides which announced addresses it can dial.
    listen: SocketAddr,
    table: BTreeMap<Arc<str>, Member>,
    /// Members with [`Member::candidate`].
    unproven: usize,
    per_source: HashMap<Arc<str>, usize>,
    /// Announcements dropped by the caps.
    refused: u64,
    /// Addresses a certificate proved, with their node (live links only).
    proven: HashMap<SocketAddr, Arc<str>>,
    /// This node's own addresses (never dialled).
    own: HashSet<SocketAddr>,
    seeds: BTreeMap<String, SeedStatus>,
    rng: u64,
}

impl Members {
    /// The table of node `me` listening on `listen`; backoff jitter seeded with `seed`.
    pub fn new(me: &str, listen: SocketAddr, seed: u64) -> Self {
        Self {
            me: me.into(),
            listen,
            table: BTreeMap::new(),
            unproven: 0,
            per_source: HashMap::new(),
            refused: 0,
            proven: HashMap::new(),
            own: HashSet::from([listen]),
            seeds: BTreeMap::new(),
            rng: seed,
        }
    }

    /// `addr` is one of this node's own (a dial there would reach itself).
    pub fn add_own(&mut self, addr: SocketAddr) {
        self.own.insert(addr);
    }

    /// Is `addr` this node's own?
    pub fn is_own(&self, addr: &SocketAddr) -> bool {
        self.own.contains(addr)
    }

    /// The node a live link proved at `addr`, if any.
    pub fn proven_at(&self, addr: &SocketAddr) -> Option<&Arc<str>> {
        self.proven.get(addr)
    }

    /// Announcements dropped by the caps so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Names known only from announcements.
    pub fn unproven(&self) -> usize {
        self.unproven
    }

    /// Could a dial from this node's endpoint reach `addr`, and is it not this node?
    pub fn usable(&self, addr: &SocketAddr) -> bool {
        let ip = addr.ip();
        let l = self.listen.ip();
        let dialable = addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast();
        let family = match (l, ip) {
            (std::net::IpAddr::V4(_), std::net::IpAddr::V6(_)) => false,
            (std::net::IpAddr::V6(_), std::net::IpAddr::V4(_)) => l.is_unspecified(),
            _ => true,
        };
        // Another host's loopback is never reachable; ours only from a loopback endpoint.
        let scope = if l.is_loopback() {
            ip.is_loopback()
        } else {
            !ip.is_loopback() && !is_link_local(ip)
        };
        dialable && family && scope && !self.own.contains(addr)
    }

    fn backoff(&mut self, ever_up: bool) -> Backoff {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        if ever_up {
            Backoff::lan(self.rng)
        } else {
            Backoff::new(
                Duration::from_millis(500),
                Duration::from_secs(60),
                self.rng,
            )
        }
    }

    fn member(&mut self, name: &str, now: Instant) -> &mut Member {
        if !self.table.contains_key(name) {
            self.table.insert(name.into(), Member::new(now));
        }
        self.table.get_mut(name).expect("just inserted")
    }

    /// `--peer name=addr`.
    pub fn learn_static(&mut self, name: &str, addr: &str, now: Instant) {
        let m = self.member(name, now);
        m.learnt |= Via::Static.bit();
        m.configured = Some(addr.to_owned());
    }

    /// `--peer name=…` is no longer configured (a reload removed it): it stays a member
    /// as it was otherwise learnt, no longer dialled by its own loop.
    pub fn forget_static(&mut self, name: &str) {
        if let Some(m) = self.table.get_mut(name) {
            m.learnt &= !Via::Static.bit();
            m.configured = None;
        }
    }

    /// An announcement of node `name` (incarnation, addresses) `via` a directory (from peer
    /// `from`, which sent it on its own link) or mDNS (`from` = `None`).
    pub fn announce(
        &mut self,
        from: Option<&str>,
        via: Via,
        name: &str,
        incarnation: Option<u64>,
        addrs: &[SocketAddr],
        now: Instant,
    ) -> Announced {
        if name == &*self.me || qnet_transport::validate_node_name(name).is_err() {
            return Announced::Nothing;
        }
        // Only addresses this endpoint can dial, not proven to be another node's.
        let usable: Vec<SocketAddr> = addrs
            .iter()
            .filter(|a| self.usable(a))
            .filter(|a| self.proven.get(*a).is_none_or(|n| **n == *name))
            .take(MAX_ADDRS)
            .copied()
            .collect();
        let known = self.table.contains_key(name);
        if !known {
            if usable.is_empty() {
                return Announced::Nothing;
            }
            let from_count = from.map_or(0, |f| self.per_source.get(f).copied().unwrap_or(0));
            if self.unproven >= MAX_CANDIDATES || from_count >= MAX_PER_SOURCE {
                self.refused += 1;
                return Announced::Refused;
            }
            self.unproven += 1;
            let source: Option<Arc<str>> = from.map(Into::into);
            if let Some(f) = &source {
                *self.per_source.entry(f.clone()).or_default() += 1;
            }
            let m = self.member(name, now);
            m.candidate = true;
            m.announced_by = source;
        }
        let defer = if *name < *self.me {
            // The other side dials first; this one only if that does not happen.
            DEFER
        } else {
            Duration::ZERO
        };
        let mut fresh = Vec::new();
        for addr in &usable {
            if !self.table[name].addrs.iter().any(|c| c.addr == *addr) {
                let ever_up = self.table[name].ever_up;
                fresh.push(Candidate {
                    addr: *addr,
                    proven: false,
                    next_try: now + defer,
                    backoff: self.backoff(ever_up),
                });
            }
        }
        let m = self.member(name, now);
        m.learnt |= via.bit();
        m.heard = now;
        let mut news = !known;
        if !fresh.is_empty() {
            news = true;
            // Proven addresses first, then the announced ones (newest first), then the rest.
            let old = std::mem::take(&mut m.addrs);
            let (proven, rest): (Vec<_>, Vec<_>) = old.into_iter().partition(|c| c.proven);
            m.addrs = proven;
            m.addrs.extend(fresh);
            m.addrs.extend(rest);
            m.addrs.truncate(MAX_ADDRS);
        }
        if let Some(inc) = incarnation
            && m.links > 0
            && m.incarnation != Some(inc)
            && m.stale != Some(inc)
        {
            m.stale = Some(inc);
            news = true;
        }
        if news {
            Announced::News
        } else {
            Announced::Nothing
        }
    }

    /// Dial jobs due at `now`, at most `limit` (each marked running until [`Members::job_done`]):
    /// nodes not configured (their own loop dials them), without a live link (or announced
    /// with another incarnation than it), with addresses whose backoff has passed.
    pub fn due(&mut self, now: Instant, limit: usize) -> Vec<Job> {
        let mut jobs = Vec::new();
        for (name, m) in &mut self.table {
            if jobs.len() >= limit {
                break;
            }
            if m.is_static() || m.job || (m.links > 0 && m.stale.is_none()) {
                continue;
            }
            let addrs: Vec<SocketAddr> = m
                .addrs
                .iter()
                .filter(|c| c.next_try <= now)
                .map(|c| c.addr)
                .collect();
            if addrs.is_empty() {
                continue;
            }
            m.job = true;
            let via = Via::ALL
                .into_iter()
                .rev()
                .find(|v| m.learnt & v.bit() != 0 && matches!(v, Via::Mdns | Via::Directory))
                .unwrap_or(Via::Directory);
            jobs.push(Job {
                name: name.clone(),
                addrs,
                via,
                restarted: m.stale.take(),
            });
        }
        jobs
    }

    /// When the next job may be due (`None`: none until something is announced).
    pub fn next_due(&self) -> Option<Instant> {
        self.table
            .values()
            .filter(|m| !m.is_static() && !m.job && (m.links == 0 || m.stale.is_some()))
            .flat_map(|m| m.addrs.iter().map(|c| c.next_try))
            .min()
    }

    /// The job of `name` ended (its link, if any, runs on its own).
    pub fn job_done(&mut self, name: &str) {
        if let Some(m) = self.table.get_mut(name) {
            m.job = false;
        }
    }

    /// Dialling `name` at `addr` failed with `e`: that address backs off. The line to log,
    /// if the failure is news ([`DialLog`]).
    pub fn dial_failed(
        &mut self,
        name: &str,
        addr: SocketAddr,
        e: &Explained,
        now: Instant,
    ) -> Option<DialLine> {
        let m = self.table.get_mut(name)?;
        if let Some(c) = m.addrs.iter_mut().find(|c| c.addr == addr) {
            c.next_try = now + c.backoff.next_delay();
        }
        m.last_error = Some(e.text.clone());
        m.log.failed_at(now, e)
    }

    /// A dial of `name` at `addr` reached it: that address is proven, its backoff reset.
    pub fn dial_ok(&mut self, name: &str, addr: SocketAddr) {
        if let Some(m) = self.table.get_mut(name)
            && let Some(c) = m.addrs.iter_mut().find(|c| c.addr == addr)
        {
            c.proven = true;
            c.backoff.reset();
        }
    }

    /// Record why configured peer `name` cannot be dialled (its own loop logs it).
    pub fn set_error(&mut self, name: &str, text: &str) {
        if let Some(m) = self.table.get_mut(name) {
            m.last_error = Some(text.to_owned());
        }
    }

    /// A discovery dial of `name` passed its TLS handshake: may it say hello? Not if the
    /// node is up or a dial of its is being accepted (the pair has its link) — unless it is
    /// up only in another incarnation than `restarted`, which an announcement gave. If yes,
    /// the dial counts for the tie-break until [`Members::dial_ended`].
    pub fn try_dial(&mut self, name: &str, restarted: Option<u64>, now: Instant) -> bool {
        let m = self.member(name, now);
        let stale = restarted.is_some() && m.incarnation != restarted;
        if (m.links > 0 && !stale) || m.pending > 0 {
            return false;
        }
        m.dialling += 1;
        true
    }

    /// A dial [`Members::try_dial`] let through failed (one that succeeded counts until its
    /// [`Members::link_up`]).
    pub fn dial_ended(&mut self, name: &str) {
        if let Some(m) = self.table.get_mut(name) {
            m.dialling = m.dialling.saturating_sub(1);
        }
    }

    /// Has a certificate proved `name` (a link came up), or is it a configured peer?
    pub fn verified(&self, name: &str) -> bool {
        self.table
            .get(name)
            .is_some_and(|m| m.ever_up || m.is_static())
    }

    /// Is `name` up with incarnation `incarnation` (any, if `None`)?
    pub fn up_with(&self, name: &str, incarnation: Option<u64>) -> bool {
        self.table
            .get(name)
            .is_some_and(|m| m.links > 0 && incarnation.is_none_or(|i| m.incarnation == Some(i)))
    }

    /// The tie-break, on the accepting side, for a dial from `name` in `incarnation` made by
    /// discovery (`discovery`; configured dials are always taken): why it is refused as a
    /// duplicate, if it is. The pair keeps a live link of the same incarnation, or one being
    /// accepted; of two crossing dials, the one of the node whose name sorts first. A dial
    /// taken counts as pending until [`Members::link_up`] (or [`Members::accept_failed`]).
    pub fn accept(
        &mut self,
        name: &str,
        incarnation: u64,
        discovery: bool,
        now: Instant,
    ) -> Result<(), &'static str> {
        let me = self.me.clone();
        let m = self.member(name, now);
        if discovery {
            if (m.links > 0 && m.incarnation == Some(incarnation)) || m.pending > 0 {
                return Err("already linked");
            }
            if m.dialling > 0 && *me < *name {
                return Err("crossing dials: the node whose name sorts first keeps its own");
            }
        }
        m.pending += 1;
        Ok(())
    }

    /// A dial [`Members::accept`] took failed before its link came up.
    pub fn accept_failed(&mut self, name: &str) {
        if let Some(m) = self.table.get_mut(name) {
            m.pending = m.pending.saturating_sub(1);
        }
    }

    /// A link to `name` (from its daemon's `incarnation`) came up, at remote `addr`, made
    /// `via`: the name is proven, the address too.
    pub fn link_up(
        &mut self,
        name: &str,
        incarnation: u64,
        addr: SocketAddr,
        via: Via,
        now: Instant,
    ) {
        let (was_candidate, source) = self.table.get_mut(name).map_or((false, None), |m| {
            (std::mem::take(&mut m.candidate), m.announced_by.take())
        });
        if was_candidate {
            self.unproven -= 1;
        }
        if let Some(s) = source {
            self.release_source(&s);
        }
        self.proven.insert(addr, name.into());
        let fresh = self.backoff(true);
        let m = self.member(name, now);
        m.learnt |= via.bit();
        m.links += 1;
        // What made the link counted for the tie-break until now: the accepted dial, or this
        // node's discovery dial (answered, registered only now).
        match via {
            Via::Incoming => m.pending = m.pending.saturating_sub(1),
            Via::Seed | Via::Directory | Via::Mdns => m.dialling = m.dialling.saturating_sub(1),
            Via::Static => {}
        }
        m.ever_up = true;
        m.incarnation = Some(incarnation);
        if m.stale == Some(incarnation) {
            m.stale = None;
        }
        m.last_seen = Some(SystemTime::now());
        m.last_error = None;
        m.heard = now;
        m.log.reset();
        match m.addrs.iter_mut().find(|c| c.addr == addr) {
            Some(c) => {
                c.proven = true;
                c.backoff.reset();
            }
            // The address a link came from is where it listens (one UDP socket per node).
            None => {
                m.addrs.insert(
                    0,
                    Candidate {
                        addr,
                        proven: true,
                        next_try: now,
                        backoff: fresh,
                    },
                );
                m.addrs.truncate(MAX_ADDRS);
            }
        }
    }

    fn release_source(&mut self, source: &str) {
        if let Some(n) = self.per_source.get_mut(source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(source);
            }
        }
    }

    /// A link to `name` closed with `reason`.
    pub fn link_down(&mut self, name: &str, reason: String, now: Instant) {
        let Some(m) = self.table.get_mut(name) else {
            return;
        };
        m.links = m.links.saturating_sub(1);
        m.last_seen = Some(SystemTime::now());
        m.last_error = Some(reason);
        m.heard = now;
        if m.links == 0 {
            // Dial it again soon (its address may still work).
            for c in &mut m.addrs {
                c.next_try = now;
            }
            self.proven.retain(|_, n| **n != *name);
        }
    }

    /// Forget unproven names and discovered nodes that went away (see the TTLs).
    pub fn expire(&mut self, now: Instant) {
        let mut gone = Vec::new();
        for (name, m) in &self.table {
            let idle = now.saturating_duration_since(m.heard);
            if m.is_static() || m.links > 0 || m.job || m.dialling > 0 || m.pending > 0 {
                continue;
            }
            let unproven = !m.ever_up;
            if (unproven && idle >= CANDIDATE_TTL) || (m.ever_up && idle >= MEMBER_TTL) {
                gone.push(name.clone());
            }
        }
        for name in gone {
            if let Some(m) = self.table.remove(&name) {
                if m.candidate {
                    self.unproven -= 1;
                }
                if let Some(s) = m.announced_by {
                    self.release_source(&s);
                }
            }
        }
    }

    /// The up members with their incarnation and addresses (proven first), for a directory.
    pub fn directory(&self) -> Vec<(Arc<str>, u64, Vec<SocketAddr>)> {
        self.table
            .iter()
            .filter(|(_, m)| m.links > 0)
            .map(|(n, m)| (n.clone(), m.incarnation.unwrap_or(0), addrs_of(m)))
            .collect()
    }

    /// `name`'s directory entry, if it is up.
    pub fn entry(&self, name: &str) -> Option<(Arc<str>, u64, Vec<SocketAddr>)> {
        let (n, m) = self.table.get_key_value(name)?;
        (m.links > 0).then(|| (n.clone(), m.incarnation.unwrap_or(0), addrs_of(m)))
    }

    /// Seed `seed`'s status, to change.
    pub fn seed(&mut self, seed: &str) -> &mut SeedStatus {
        self.seeds.entry(seed.to_owned()).or_default()
    }

    /// The seeds with what each resolved to, the nodes found there, and the last error.
    pub fn seed_views(&self) -> Vec<(String, SeedStatus, Vec<Arc<str>>)> {
        self.seeds
            .iter()
            .map(|(s, st)| {
                let mut nodes: Vec<Arc<str>> = st
                    .addrs
                    .iter()
                    .filter_map(|a| self.proven.get(a).cloned())
                    .collect();
                nodes.dedup();
                (s.clone(), st.clone(), nodes)
            })
            .collect()
    }

    /// Every member.
    pub fn views(&self) -> Vec<MemberView> {
        self.table
            .iter()
            .map(|(name, m)| MemberView {
                name: name.clone(),
                learnt: Via::ALL
                    .into_iter()
                    .filter(|v| m.learnt & v.bit() != 0)
                    .map(Via::name)
                    .collect(),
                addrs: m.addrs.iter().map(|c| c.addr).collect(),
                configured: m.configured.clone(),
                incarnation: m.incarnation,
                verified: m.ever_up || m.is_static(),
                last_seen: if m.links > 0 {
                    Some(SystemTime::now())
                } else {
                    m.last_seen
                },
                last_error: m.last_error.clone(),
            })
            .collect()
    }
}

fn addrs_of(m: &Member) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = m
        .addrs
        .iter()
        .filter(|c| c.proven)
        .map(|c| c.addr)
        .collect();
    v.extend(m.addrs.iter().filter(|c| !c.proven).map(|c| c.addr));
    v
}

/// 169.254.0.0/16 and fe80::/10: usable only with an interface, never advertised.
pub fn is_link_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn table(me: &str) -> Members {
        Members::new(me, a("0.0.0.0:7100"), 1)
    }

    /// An announcement names candidates only: nothing is up until a link proves the name,
    /// and a name announced at an address proven to be another node's gets nothing there.
    #[test]
    fn an_address_never_makes_a_node_nor_repoints_a_name() {
        let t0 = Instant::now();
        let mut m = table("n1");
        // n2 dialled in from 10.0.0.2: that address is n2's.
        m.link_up("n2", 7, a("10.0.0.2:7100"), Via::Incoming, t0);
        // n2's directory says n3 is at n2's own address: refused there.
        let r = m.announce(
            Some("n2"),
            Via::Directory,
            "n3",
            Some(1),
            &[a("10.0.0.2:7100")],
            t0,
        );
        assert_eq!(r, Announced::Nothing, "no usable address, no member");
        assert!(m.views().iter().all(|v| &*v.name != "n3"));
        // ... and at an address of its own: a candidate, not a node.
        let r = m.announce(
            Some("n2"),
            Via::Directory,
            "n3",
            Some(1),
            &[a("10.0.0.2:7100"), a("10.0.0.3:7100")],
            t0,
        );
        assert_eq!(r, Announced::News);
        let n3 = m.views().into_iter().find(|v| &*v.name == "n3").unwrap();
        assert!(!n3.verified, "unproven");
        assert_eq!(n3.addrs, [a("10.0.0.3:7100")]);
        assert!(!m.up_with("n3", None));
        // This node's own name is never taken from anyone.
        assert_eq!(
            m.announce(None, Via::Mdns, "n1", None, &[a("10.9.9.9:1")], t0),
            Announced::Nothing
        );
        // Addresses no dial can use are dropped.
        assert_eq!(
            m.announce(
                None,
                Via::Mdns,
                "n4",
                None,
                &[
                    a("127.0.0.1:7100"),
                    a("0.0.0.0:7100"),
                    a("169.254.1.1:7100"),
                    a("10.0.0.4:0"),
                    a("224.0.0.251:5353")
                ],
                t0
            ),
            Announced::Nothing
        );
    }

    /// 100,000 fake names from one peer: at most [`MAX_PER_SOURCE`] kept, the rest counted;
    /// from many peers at most [`MAX_CANDIDATES`]; [`MAX_ADDRS`] addresses each; all forgotten
    /// after [`CANDIDATE_TTL`].
    #[test]
    fn announcements_are_bounded() {
        let t0 = Instant::now();
        let mut m = table("n1");
        let many: Vec<SocketAddr> = (0..100).map(|i| a(&format!("10.1.0.{i}:7100"))).collect();
        for i in 0..100_000 {
            m.announce(
                Some("bad"),
                Via::Directory,
                &format!("fake{i}"),
                Some(i),
                &many,
                t0,
            );
        }
        assert_eq!(m.unproven(), MAX_PER_SOURCE);
        assert_eq!(m.refused(), 100_000 - MAX_PER_SOURCE as u64);
        assert!(m.views().iter().all(|v| v.addrs.len() <= MAX_ADDRS));
        for p in 0..10 {
            for i in 0..1000 {
                m.announce(
                    Some(&format!("bad{p}")),
                    Via::Directory,
                    &format!("x{p}-{i}"),
                    None,
                    &many[..1],
                    t0,
                );
            }
        }
        assert_eq!(m.unproven(), MAX_CANDIDATES);
        assert_eq!(m.views().len(), MAX_CANDIDATES);
        // A job per name, its addresses in parallel; none again before their backoff.
        let jobs = m.due(t0 + DEFER, usize::MAX);
        assert_eq!(jobs.len(), MAX_CANDIDATES);
        assert!(m.due(t0 + DEFER, usize::MAX).is_empty(), "jobs running");
        let e = Explained::transient("no answer".into());
        for j in &jobs {
            for addr in &j.addrs {
                m.dial_failed(&j.name, *addr, &e, t0);
            }
            m.job_done(&j.name);
        }
        assert!(
            m.due(t0 + Duration::from_millis(200), usize::MAX)
                .is_empty(),
            "each address waits its backoff"
        );
        m.expire(t0 + CANDIDATE_TTL);
        assert_eq!((m.unproven(), m.views().len()), (0, 0));
        // Room again.
        assert_eq!(
            m.announce(
                Some("bad"),
                Via::Directory,
                "again",
                None,
                &many[..1],
                t0 + CANDIDATE_TTL
            ),
            Announced::News
        );
    }

    /// One link per pair: a discovery dial duplicating a live link of the same incarnation is
    /// refused; of crossing dials, the lower name's wins on both sides; a new incarnation is
    /// a restart, not a duplicate.
    #[test]
    fn the_tie_break_keeps_the_lower_names_dial() {
        let t0 = Instant::now();
        let (mut a1, mut b1) = (table("a"), table("b"));
        // Both dialled each other; both handshakes passed, the hellos cross.
        assert!(a1.try_dial("b", None, t0));
        assert!(b1.try_dial("a", None, t0));
        assert!(a1.accept("b", 2, true, t0).is_err(), "a keeps its own dial");
        assert_eq!(b1.accept("a", 1, true, t0), Ok(()), "b takes a's");
        // a's dial is answered; a registers it (b has not yet).
        b1.dial_ended("a");
        assert!(
            a1.accept("b", 2, true, t0).is_err(),
            "answered, not registered: still a's"
        );
        a1.link_up("b", 2, a("10.0.0.2:7100"), Via::Directory, t0);
        assert!(a1.accept("b", 2, true, t0).is_err(), "registered");
        // Taken but not registered yet: another discovery dial of a is a duplicate, and b's
        // own next dial of a does not say hello.
        assert_eq!(b1.accept("a", 1, true, t0), Err("already linked"));
        assert!(!b1.try_dial("a", None, t0));
        b1.link_up("a", 1, a("10.0.0.1:7100"), Via::Incoming, t0);
        assert_eq!(b1.accept("a", 1, true, t0), Err("already linked"), "late");
        assert!(!b1.try_dial("a", None, t0), "up");
        assert!(
            b1.try_dial("a", Some(9), t0),
            "announced in another incarnation"
        );
        b1.dial_ended("a");
        assert_eq!(b1.accept("a", 9, true, t0), Ok(()), "a restarted");
        b1.accept_failed("a");
        assert_eq!(
            b1.accept("a", 1, false, t0),
            Ok(()),
            "configured dials are taken"
        );
        b1.accept_failed("a");
        assert_eq!(b1.accept("c", 1, true, t0), Ok(()), "unknown");
    }

    /// A node announced with another incarnation than its live link's restarted elsewhere:
    /// it is dialled although up, once per announcement.
    #[test]
    fn a_new_incarnation_is_dialled_although_up() {
        let t0 = Instant::now();
        let mut m = table("n3");
        m.link_up("n2", 1, a("10.0.0.2:7100"), Via::Directory, t0);
        assert!(m.due(t0, 10).is_empty(), "up");
        assert_eq!(
            m.announce(
                Some("n1"),
                Via::Directory,
                "n2",
                Some(1),
                &[a("10.0.0.2:7100")],
                t0
            ),
            Announced::Nothing
        );
        assert_eq!(
            m.announce(
                Some("n1"),
                Via::Directory,
                "n2",
                Some(2),
                &[a("10.0.0.9:7100")],
                t0
            ),
            Announced::News
        );
        let jobs = m.due(t0 + DEFER, 10);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].restarted, Some(2));
        assert!(jobs[0].addrs.contains(&a("10.0.0.9:7100")));
        m.job_done("n2");
        assert!(m.due(t0 + DEFER, 10).is_empty(), "once");
    }

    /// The lower name dials at once, the higher after [`DEFER`].
    #[test]
    fn the_higher_name_defers() {
        let t0 = Instant::now();
        let mut m = table("m");
        m.announce(None, Via::Mdns, "z", None, &[a("10.0.0.26:1")], t0);
        m.announce(None, Via::Mdns, "a", None, &[a("10.0.0.1:1")], t0);
        let now: Vec<_> = m.due(t0, 10).into_iter().map(|j| j.name).collect();
        assert_eq!(now, [Arc::from("z")]);
        let later: Vec<_> = m.due(t0 + DEFER, 10).into_iter().map(|j| j.name).collect();
        assert_eq!(later, [Arc::from("a")]);
    }

    #[test]
    fn usable_addresses_follow_the_endpoint() {
        let wild = Members::new("n", a("0.0.0.0:1"), 0);
        assert!(wild.usable(&a("10.0.0.1:2")));
        assert!(!wild.usable(&a("[2001:db8::1]:2")));
        assert!(!wild.usable(&a("127.0.0.1:2")));
        let lo = Members::new("n", a("127.0.0.1:1"), 0);
        assert!(lo.usable(&a("127.0.0.1:2")));
        assert!(!lo.usable(&a("127.0.0.1:1")), "itself");
        assert!(!lo.usable(&a("10.0.0.1:2")));
        let v6 = Members::new("n", a("[::]:1"), 0);
        assert!(v6.usable(&a("[2001:db8::1]:2")) && v6.usable(&a("10.0.0.1:2")));
        assert!(!v6.usable(&a("[fe80::1]:2")));
    }
}
