//! Dial and link failures in plain words, for operators: which side refused what, and what
//! to do, instead of rustls' `invalid peer certificate: UnknownIssuer` or a TLS alert number.
//! [`Explained::permanent`] says whether dialling again can help without someone changing a
//! certificate or a configuration (a daemon logs those at WARN, the transient ones at INFO).

use std::time::{Duration, Instant};

use quinn::ConnectionError;

use crate::endpoint::ConnectError;

/// A failure in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// Retrying cannot help until a certificate or a configuration changes.
    pub permanent: bool,
    /// What is wrong and what to do, one line.
    pub text: String,
}

impl Explained {
    /// A failure retrying cannot mend.
    pub fn permanent(text: String) -> Self {
        Self {
            permanent: true,
            text,
        }
    }

    /// A failure that may go away by itself.
    pub fn transient(text: String) -> Self {
        Self {
            permanent: false,
            text,
        }
    }
}

/// Explain why dialling `node` failed.
pub fn connect_error(e: &ConnectError) -> Explained {
    match e {
        ConnectError::Handshake { node, addr, source } => {
            connection_error(node, &addr.to_string(), source)
        }
        ConnectError::InvalidNodeName(_) | ConnectError::Tls(_) => {
            Explained::permanent(e.to_string())
        }
        ConnectError::Start { .. } | ConnectError::PeerIdentity { .. } => {
            Explained::transient(e.to_string())
        }
    }
}

/// Explain why the connection with `node` at `addr` failed or closed.
pub fn connection_error(node: &str, addr: &str, e: &ConnectionError) -> Explained {
    let who = who(node);
    let ca = "both nodes need certificates issued by the same cluster CA (`qnet cert init` \
              once, then `qnet cert issue --node NAME` for each node, each with that ca.pem)";
    match e {
        // This side refused the peer during the handshake.
        ConnectionError::TransportError(t) => {
            let reason = t.reason.as_str();
            if let Some(text) = refused_here(node, addr, reason, ca) {
                Explained::permanent(text)
            } else if let Some(alert) = alert(u64::from(t.code)) {
                Explained::permanent(format!(
                    "TLS handshake with {who} at {addr} failed here ({}): {reason}",
                    alert_name(alert)
                ))
            } else {
                Explained::transient(format!("connection to {who} at {addr} failed: {e}"))
            }
        }
        // The peer refused this side.
        ConnectionError::ConnectionClosed(c) => {
            let reason = String::from_utf8_lossy(&c.reason);
            match alert(u64::from(c.error_code)) {
                Some(a) => Explained::permanent(refused_there(node, addr, a, &reason, ca)),
                None => Explained::transient(format!("{who} at {addr} closed the connection: {e}")),
            }
        }
        ConnectionError::TimedOut => Explained::transient(format!(
            "no answer from {who} at {addr}: is qnetd running there with --listen on \
             that address, and does UDP reach it?"
        )),
        ConnectionError::VersionMismatch => Explained::permanent(format!(
            "{who} at {addr} speaks another QUIC version: run the same qnet release"
        )),
        other => Explained::transient(format!("connection to {who} at {addr}: {other}")),
    }
}

/// How a failure names what was dialled: `node n2`, or a seed as its label says
/// (`seed n1:4433`, [`Transport::connect_any`](crate::Transport::connect_any)).
fn who(node: &str) -> String {
    if node.starts_with("seed ") {
        node.to_owned()
    } else {
        format!("node {node}")
    }
}

/// The TLS alert a QUIC crypto error code carries (`0x100 + alert`).
fn alert(code: u64) -> Option<u8> {
    (0x100..=0x1ff)
        .contains(&code)
        .then(|| u8::try_from(code - 0x100).ok())
        .flatten()
}

fn alert_name(alert: u8) -> String {
    match alert {
        40 => "handshake failure".into(),
        42 => "bad certificate".into(),
        45 => "certificate expired".into(),
        46 => "certificate unknown".into(),
        48 => "unknown CA".into(),
        51 => "decrypt error".into(),
        116 => "certificate required".into(),
        120 => "no application protocol".into(),
        other => format!("TLS alert {other}"),
    }
}

/// This side's verifier refused the certificate `node` presented.
fn refused_here(node: &str, addr: &str, reason: &str, ca: &str) -> Option<String> {
    let who = who(node);
    let has = |s: &str| reason.contains(s);
    Some(if has("UnknownIssuer") || has("BadSignature") {
        format!(
            "{who} at {addr} presented a certificate not signed by this node's CA \
             (certs/ca.pem): {ca}"
        )
    } else if has("Expired") || has("expired") || has("NotValidYet") {
        format!(
            "{who} at {addr} presented a certificate that has expired or is not valid \
             yet: reissue it (`qnet cert issue --node {node}`) and check both hosts' clocks"
        )
    } else if has("was dialled") || has("NotValidForName") {
        format!(
            "the certificate at {addr} is not {who}'s ({reason}): fix the name in \
             --peer {node}=ADDR or the address (or the member directory or mDNS record that \
             named it there is stale or false)"
        )
    } else if has("no application protocol") || has("ALPN") {
        format!(
            "{who} at {addr} does not speak this qnet peer protocol: run the same qnet \
             release on both"
        )
    } else {
        return None;
    })
}

/// The peer refused this side with TLS alert `alert`.
fn refused_there(node: &str, addr: &str, alert: u8, reason: &str, ca: &str) -> String {
    let who = who(node);
    match alert {
        45 => format!(
            "{who} at {addr} refused this node's certificate as expired: reissue it \
             (`qnet cert issue`) and check both hosts' clocks"
        ),
        42 | 46 | 48 | 51 | 116 => format!(
            "{who} at {addr} refused this node's certificate ({}): {ca}",
            alert_name(alert)
        ),
        120 => format!(
            "{who} at {addr} does not speak this qnet peer protocol: run the same qnet \
             release on both"
        ),
        a => format!(
            "{who} at {addr} refused the TLS handshake ({}): {reason}",
            alert_name(a)
        ),
    }
}

/// How often the same failure of one peer is logged again while it persists.
pub const REPEAT: Duration = Duration::from_secs(60);

/// The log of one peer's failing dials: each new reason once at once (WARN when permanent,
/// INFO otherwise), then the same reason again at most once per [`REPEAT`] (or the interval
/// given to [`DialLog::every`]) with the number of failures in between, so a peer that fails
/// for days writes a line a minute, not one per backoff step.
pub struct DialLog {
    every: Duration,
    last: Option<(String, Instant)>,
    /// Failures with the last reason since it was last logged.
    unlogged: u64,
    /// Told of every failure, logged or not (e.g. to keep a peer's last error).
    observer: Option<Observer>,
}

impl Default for DialLog {
    fn default() -> Self {
        Self {
            every: REPEAT,
            last: None,
            unlogged: 0,
            observer: None,
        }
    }
}

impl std::fmt::Debug for DialLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DialLog")
            .field("last", &self.last)
            .field("unlogged", &self.unlogged)
            .finish_non_exhaustive()
    }
}

/// What [`DialLog::observed`] calls with each failure.
type Observer = Box<dyn Fn(&Explained) + Send + Sync>;

/// A line [`DialLog`] lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialLine {
    /// Log at WARN (else INFO).
    pub warn: bool,
    /// The failure's words.
    pub text: String,
    /// Failures with the same reason not logged since the last line.
    pub repeated: u64,
}

impl DialLog {
    /// A log that also tells `observer` of every failure.
    pub fn observed(observer: impl Fn(&Explained) + Send + Sync + 'static) -> Self {
        Self {
            observer: Some(Box::new(observer)),
            ..Self::default()
        }
    }

    /// Log the same reason again at most once per `every` (instead of [`REPEAT`]).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Record a failure at `now`; the line to log, if any.
    pub fn failed_at(&mut self, now: Instant, e: &Explained) -> Option<DialLine> {
        let line = |repeated| DialLine {
            warn: e.permanent,
            text: e.text.clone(),
            repeated,
        };
        match &mut self.last {
            Some((text, at)) if *text == e.text => {
                if now.saturating_duration_since(*at) < self.every {
                    self.unlogged += 1;
                    return None;
                }
                *at = now;
                Some(line(std::mem::take(&mut self.unlogged)))
            }
            _ => {
                self.last = Some((e.text.clone(), now));
                self.unlogged = 0;
                Some(line(0))
            }
        }
    }

    /// Record a failure of dialling `node` and log it (or count it).
    pub fn failed(&mut self, node: &str, e: &Explained, retry_in: Duration) {
        if let Some(observer) = &self.observer {
            observer(e);
        }
        let Some(l) = self.failed_at(Instant::now(), e) else {
            return;
        };
        let retry_in = format!("{retry_in:.1?}");
        if l.warn {
            tracing::warn!(peer = %node, repeated = l.repeated, %retry_in, "cannot link to peer: {}", l.text);
        } else {
            tracing::info!(peer = %node, repeated = l.repeated, %retry_in, "cannot link to peer: {}", l.text);
        }
    }

    /// A link came up: the next failure is news again.
    pub fn reset(&mut self) {
        self.last = None;
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_logged_once_then_once_a_minute_with_the_count() {
        let t0 = Instant::now();
        let bad_ca = Explained::permanent("not signed by this node's CA".into());
        let mut log = DialLog::default();
        let first = log.failed_at(t0, &bad_ca).unwrap();
        assert!(first.warn);
        assert_eq!(first.repeated, 0);
        for s in 1..=11 {
            assert_eq!(
                log.failed_at(t0 + Duration::from_secs(5 * s), &bad_ca),
                None
            );
        }
        let again = log.failed_at(t0 + REPEAT, &bad_ca).unwrap();
        assert_eq!(again.repeated, 11, "the failures in between are counted");
        // Another reason is news at once, at its own level.
        let down = Explained::transient("no answer".into());
        let l = log.failed_at(t0 + REPEAT, &down).unwrap();
        assert!(!l.warn);
        log.reset();
        assert!(log.failed_at(t0 + REPEAT, &down).is_some());
    }

    #[test]
    fn tls_alerts_are_read_from_quic_crypto_codes() {
        assert_eq!(alert(0x130), Some(48));
        assert_eq!(alert(0x0a), None);
        assert_eq!(alert_name(48), "unknown CA");
    }
}
