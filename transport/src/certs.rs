//! Cluster certificates: the CA, node certificates signed by it, their files on disk, and
//! reading a node's name back out of a certificate.
//!
//! A node certificate carries the node name twice: as the subject common name and as the DNS
//! subject alternative name `<node>.qnet`. Both must agree; [`node_name_from_cert`] is the one
//! place that reads them, for the dialling side and the accepting side alike.
//!
//! Files in a certificate directory: `ca.pem`, `ca.key` (the CA), `NAME.pem`, `NAME.key` (one
//! node). Keys are written with mode 0600.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

/// DNS suffix of a node's subject alternative name: node `n1` is `n1.qnet`.
pub const NODE_DNS_SUFFIX: &str = ".qnet";

/// Longest node name.
pub const MAX_NODE_NAME_LEN: usize = qnet_core::node_name::MAX_NODE_NAME_LEN;

/// CA certificate file name in a certificate directory.
pub const CA_CERT_FILE: &str = "ca.pem";

/// CA key file name in a certificate directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a generated CA is valid.
const CA_VALIDITY_DAYS: i64 = 3650;

/// Why certificate material could not be made, stored, loaded or read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The node name breaks the rule (`qnet_core::node_name`).
    #[error("{0}")]
    InvalidNodeName(qnet_core::node_name::NodeNameError),
    /// rcgen could not generate a key or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read or written. (The I/O error is in the message, not a
    /// `source()`, so that printing the chain does not say it twice.)
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A file to be written exists and overwriting was not asked for.
    #[error("{} already exists (refusing to overwrite)", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{}: not a valid PEM {what}: {detail}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was expected ("certificate" or "private key").
        what: &'static str,
        /// The parser's complaint.
        detail: String,
    },
    /// A certificate is not valid DER X.509.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// A certificate names no node (no `<node>.qnet` DNS name).
    #[error("certificate carries no node name (no DNS name ending in {NODE_DNS_SUFFIX})")]
    NoNodeName,
    /// A certificate names two different nodes (common name vs DNS name, or two DNS names).
    #[error("certificate names conflicting nodes {first:?} and {second:?}")]
    ConflictingNodeNames {
        /// One name found.
        first: String,
        /// Another, different name found.
        second: String,
    },
    /// A node certificate names another node than the one it was loaded for.
    #[error("{} names node {found:?}, expected {expected:?}", path.display())]
    WrongNode {
        /// The certificate file.
        path: PathBuf,
        /// The node asked for.
        expected: String,
        /// The node the certificate names.
        found: String,
    },
}

/// [`NodeIdentity::ca_fingerprint`] of a CA certificate.
pub fn ca_fingerprint(ca: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, ca);
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Check a node name against the rule ([`qnet_core::node_name::NODE_NAME_RULE`]: 1 to 63
/// of A-Z a-z 0-9 - _ . and not `all`).
pub fn validate_node_name(name: &str) -> Result<(), CertError> {
    qnet_core::node_name::validate_node_name(name).map_err(CertError::InvalidNodeName)
}

/// The validity window of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Not valid before this instant.
    pub not_before: OffsetDateTime,
    /// Not valid after this instant.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour ago (tolerating clock skew between nodes) until `days` days from now.
    pub fn days(days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        }
    }

    /// An explicit window (tests use one in the past to make an expired certificate).
    pub fn between(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Self {
        Self {
            not_before,
            not_after,
        }
    }
}

/// A cluster certificate authority: its certificate and private key, PEM-encoded.
#[derive(Clone)]
pub struct CertAuthority {
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

impl CertAuthority {
    /// A new self-signed CA for the cluster `cluster_name`, valid for ten years.
    pub fn generate(cluster_name: &str) -> Result<Self, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("qnet cluster CA {cluster_name}"),
        );
        dn.push(DnType::OrganizationName, cluster_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let validity = Validity::days(CA_VALIDITY_DAYS as u32);
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// From PEM text (checked when used to sign).
    pub fn from_pem(cert_pem: String, key_pem: String) -> Self {
        Self { cert_pem, key_pem }
    }

    /// Read `ca.pem` and `ca.key` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, CertError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = read_string(&cert_path)?;
        let key_pem = read_string(&key_path)?;
        // Validate now so that errors name the file.
        parse_cert_pem(&cert_path, cert_pem.as_bytes())?;
        parse_key_pem(&key_path, key_pem.as_bytes())?;
        Ok(Self { cert_pem, key_pem })
    }

    /// Write `ca.pem` and `ca.key` (mode 0600) into `dir`, creating `dir` if needed.
    /// Refuses to replace an existing CA unless `overwrite`.
    pub fn save(&self, dir: &Path, overwrite: bool) -> Result<(), CertError> {
        create_dir(dir)?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !overwrite {
            for p in [&cert_path, &key_path] {
                if p.exists() {
                    return Err(CertError::AlreadyExists { path: p.clone() });
                }
            }
        }
        write_file(&key_path, &self.key_pem, 0o600, overwrite)?;
        write_file(&cert_path, &self.cert_pem, 0o644, overwrite)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PEM (secret).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

/// A node certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct NodeCert {
    node: String,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCert")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl NodeCert {
    /// The node this certificate is for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM (secret).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Write `NODE.pem` and `NODE.key` (mode 0600) into `dir`, creating `dir` if needed.
    pub fn save(&self, dir: &Path, overwrite: bool) -> Result<(), CertError> {
        create_dir(dir)?;
        let (cert_path, key_path) = node_paths(dir, &self.node);
        if !overwrite {
            for p in [&cert_path, &key_path] {
                if p.exists() {
                    return Err(CertError::AlreadyExists { path: p.clone() });
                }
            }
        }
        write_file(&key_path, &self.key_pem, 0o600, overwrite)?;
        write_file(&cert_path, &self.cert_pem, 0o644, overwrite)
    }
}

/// Issue a certificate for `node_name`, signed by `ca`, usable both to accept (serverAuth)
/// and to dial (clientAuth). Subject CN = node name, DNS SAN = `<node>.qnet`.
pub fn issue_node_cert(
    ca: &CertAuthority,
    node_name: &str,
    validity: Validity,
) -> Result<NodeCert, CertError> {
    validate_node_name(node_name)?;
    sign_node_cert(ca, node_name, validity)
}

/// [`issue_node_cert`] without the name check (tests make certificates a peer could present).
fn sign_node_cert(
    ca: &CertAuthority,
    node_name: &str,
    validity: Validity,
) -> Result<NodeCert, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node_name);
    params.distinguished_name = dn;
    let dns = format!("{node_name}{NODE_DNS_SUFFIX}");
    params.subject_alt_names = vec![SanType::DnsName(dns.try_into()?)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(NodeCert {
        node: node_name.to_owned(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The node name a certificate carries (its `<node>.qnet` DNS name, which must agree with
/// its common name when that is a node name too). Does not verify anything else.
pub fn node_name_from_cert(der: &[u8]) -> Result<String, CertError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| CertError::Malformed(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Malformed(e.to_string()))?;
    let mut found: Option<String> = None;
    // A `<node>.qnet` name whose node breaks the rule: said if no valid one is found.
    let mut invalid = None;
    if let Some(san) = san {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                let Some(node) = dns.strip_suffix(NODE_DNS_SUFFIX) else {
                    continue;
                };
                if let Err(e) = validate_node_name(node) {
                    invalid.get_or_insert(e);
                    continue;
                }
                match &found {
                    Some(prev) if prev != node => {
                        return Err(CertError::ConflictingNodeNames {
                            first: prev.clone(),
                            second: node.to_owned(),
                        });
                    }
                    _ => found = Some(node.to_owned()),
                }
            }
        }
    }
    let node = match (found, invalid) {
        (Some(node), _) => node,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(CertError::NoNodeName),
    };
    for cn in cert.subject().iter_common_name() {
        let cn = cn
            .as_str()
            .map_err(|e| CertError::Malformed(e.to_string()))?;
        if cn != node {
            return Err(CertError::ConflictingNodeNames {
                first: node,
                second: cn.to_owned(),
            });
        }
    }
    Ok(node)
}

/// What a node needs to join the cluster: the cluster CA, its own certificate and key.
pub struct NodeIdentity {
    node: String,
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Clone for NodeIdentity {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl NodeIdentity {
    /// Read `ca.pem`, `NODE.pem` and `NODE.key` from `dir`; the certificate must name `node`.
    pub fn load(dir: &Path, node: &str) -> Result<Self, CertError> {
        validate_node_name(node)?;
        let ca_path = dir.join(CA_CERT_FILE);
        let (cert_path, key_path) = node_paths(dir, node);
        let ca = parse_cert_pem(&ca_path, read_string(&ca_path)?.as_bytes())?;
        let cert = parse_cert_pem(&cert_path, read_string(&cert_path)?.as_bytes())?;
        let key = parse_key_pem(&key_path, read_string(&key_path)?.as_bytes())?;
        let found = node_name_from_cert(&cert)?;
        if found != node {
            return Err(CertError::WrongNode {
                path: cert_path,
                expected: node.to_owned(),
                found,
            });
        }
        Ok(Self {
            node: found,
            ca,
            cert,
            key,
        })
    }

    /// From a CA and an issued node certificate in memory (the node name is read from the
    /// certificate).
    pub fn from_pem(ca: &CertAuthority, node: &NodeCert) -> Result<Self, CertError> {
        let mem = Path::new("<memory>");
        let ca_der = parse_cert_pem(mem, ca.cert_pem.as_bytes())?;
        let cert = parse_cert_pem(mem, node.cert_pem.as_bytes())?;
        let key = parse_key_pem(mem, node.key_pem.as_bytes())?;
        let name = node_name_from_cert(&cert)?;
        Ok(Self {
            node: name,
            ca: ca_der,
            cert,
            key,
        })
    }

    /// This node's name, as its certificate states it.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The cluster CA certificate (DER).
    pub fn ca_cert(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// A short fingerprint of the cluster CA certificate: the first 16 bytes of its SHA-256,
    /// in hex. Nodes of one cluster share it; mDNS announcements carry it so that nodes of
    /// other clusters are ignored without a dial.
    pub fn ca_fingerprint(&self) -> String {
        ca_fingerprint(self.ca_cert())
    }

    /// This node's certificate (DER).
    pub fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// This node's private key (DER).
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }
}

fn node_paths(dir: &Path, node: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{node}.pem")),
        dir.join(format!("{node}.key")),
    )
}

fn read_string(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|error| CertError::Io {
        path: path.to_owned(),
        error,
    })
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(|error| CertError::Io {
        path: dir.to_owned(),
        error,
    })
}

fn write_file(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<(), CertError> {
    let io = |error| CertError::Io {
        path: path.to_owned(),
        error,
    };
    let mut opts = OpenOptions::new();
    opts.write(true).mode(mode);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            io(e)
        }
    })?;
    // `mode` only applies on creation; an overwritten key file must not stay readable.
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

fn parse_cert_pem(path: &Path, pem: &[u8]) -> Result<CertificateDer<'static>, CertError> {
    CertificateDer::from_pem_slice(pem).map_err(|e| CertError::Pem {
        path: path.to_owned(),
        what: "certificate",
        detail: e.to_string(),
    })
}

fn parse_key_pem(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| CertError::Pem {
        path: path.to_owned(),
        what: "private key",
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for ok in ["n1", "a", "A_b-9", "-x", "x-", "a.b", &"z".repeat(63)] {
            validate_node_name(ok).unwrap();
        }
        for bad in ["", "all", "a b", "é", &"z".repeat(64), "a/b"] {
            assert!(validate_node_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn issued_cert_names_its_node() {
        let ca = CertAuthority::generate("test").unwrap();
        for name in ["n1", "-edge-", "under_score", "host.example.org"] {
            let node = issue_node_cert(&ca, name, Validity::days(1)).unwrap();
            let id = NodeIdentity::from_pem(&ca, &node).unwrap();
            assert_eq!(id.node(), name);
            assert_eq!(node_name_from_cert(id.cert()).unwrap(), name);
        }
        // `qnet cert issue` refuses a name outside the rule; a certificate made elsewhere
        // with one (a peer presenting it) is refused when its name is read, saying why.
        for bad in ["all", "bad/name", "a b"] {
            assert!(matches!(
                issue_node_cert(&ca, bad, Validity::days(1)),
                Err(CertError::InvalidNodeName(_))
            ));
            let node = sign_node_cert(&ca, bad, Validity::days(1)).unwrap();
            let der = CertificateDer::from_pem_slice(node.cert_pem.as_bytes()).unwrap();
            let e = node_name_from_cert(&der).unwrap_err();
            assert!(matches!(e, CertError::InvalidNodeName(_)), "{bad}: {e}");
            assert!(e.to_string().contains("allowed: 1 to 63"), "{e}");
        }
        // The CA itself names no node.
        let ca_der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert!(matches!(
            node_name_from_cert(&ca_der),
            Err(CertError::NoNodeName)
        ));
        assert!(matches!(
            node_name_from_cert(b"garbage"),
            Err(CertError::Malformed(_))
        ));
    }

    #[test]
    fn save_load_and_key_modes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::generate("test").unwrap();
        ca.save(dir.path(), false).unwrap();
        assert!(matches!(
            ca.save(dir.path(), false),
            Err(CertError::AlreadyExists { .. })
        ));
        ca.save(dir.path(), true).unwrap();
        let ca = CertAuthority::load(dir.path()).unwrap();
        issue_node_cert(&ca, "n1", Validity::days(1))
            .unwrap()
            .save(dir.path(), false)
            .unwrap();
        for key in ["ca.key", "n1.key"] {
            let mode = fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let id = NodeIdentity::load(dir.path(), "n1").unwrap();
        assert_eq!(id.node(), "n1");
        // n1's files renamed as n2 are refused: the certificate names n1.
        fs::copy(dir.path().join("n1.pem"), dir.path().join("n2.pem")).unwrap();
        fs::copy(dir.path().join("n1.key"), dir.path().join("n2.key")).unwrap();
        assert!(matches!(
            NodeIdentity::load(dir.path(), "n2"),
            Err(CertError::WrongNode { .. })
        ));
    }
}
