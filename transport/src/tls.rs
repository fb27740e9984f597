//! Mutual TLS between nodes: rustls configurations and the two certificate verifiers.
//!
//! Both sides verify the peer's chain against the cluster CA only (no system roots), with the
//! usual webpki checks (signature, validity window, EKU). On top of that:
//! - the dialling side checks that the server's certificate names the node it dialled
//!   (`NodeServerVerifier`); the TLS server name is a constant, the check is on the node name
//!   read by [`node_name_from_cert`], so every valid node name works, DNS-shaped or not;
//! - the accepting side requires a client certificate ([`WebPkiClientVerifier`]) that names a
//!   node; the peer's node name is read from that verified certificate after the handshake.
//!
//! Every refusal is logged at debug level here; operators see it once per cause and interval
//! (`explain::DialLog` on the dialling side, `IncomingPeer::handshake` on the accepting side).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error, OtherError,
    RootCertStore, ServerConfig, SignatureScheme,
};

use crate::certs::{NodeIdentity, node_name_from_cert};

/// ALPN protocol id of the daemon-to-daemon protocol.
pub const ALPN: &[u8] = b"qnet/1";

/// The TLS server name used when dialling. Not checked by the verifier (the node name is).
pub(crate) const SERVER_NAME: &str = "qnet";

/// Why a TLS configuration could not be built from an identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA certificate cannot be used as a trust anchor.
    #[error("cluster CA certificate unusable: {0}")]
    BadCa(Error),
    /// The client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// rustls refused the node's own certificate or key.
    #[error("node certificate or key refused: {0}")]
    BadIdentity(Error),
    /// quinn refused the rustls configuration (e.g. no TLS 1.3 cipher suite).
    #[error("QUIC cannot use this TLS configuration: {0}")]
    Quic(String),
}

/// The crypto provider everything here uses (ring), explicitly, so that nothing depends on a
/// process-wide default being installed.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Shared material for building configs: trust roots and the provider.
#[derive(Clone)]
pub(crate) struct TlsContext {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    identity: Arc<NodeIdentity>,
}

impl TlsContext {
    pub(crate) fn new(identity: Arc<NodeIdentity>) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(identity.ca_cert().clone())
            .map_err(TlsError::BadCa)?;
        Ok(Self {
            roots: Arc::new(roots),
            provider: provider(),
            identity,
        })
    }

    /// Server side: client certificates required and verified against the CA.
    pub(crate) fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let inner =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()?;
        let verifier = Arc::new(NodeClientVerifier { inner });
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::BadIdentity)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![self.identity.cert().clone()],
                self.identity.key().clone_key(),
            )
            .map_err(TlsError::BadIdentity)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        // quinn requires either 0 or u32::MAX here; we do not use 0-RTT.
        cfg.max_early_data_size = 0;
        Ok(cfg)
    }

    /// Client side for dialling `expected_node`: presents our certificate, accepts only a
    /// server certificate from the CA that names `expected_node` (`None`: any node, for a
    /// dial to a seed address, whose node the certificate tells).
    pub(crate) fn client_config(
        &self,
        expected_node: Option<&str>,
    ) -> Result<ClientConfig, TlsError> {
        let verifier = Arc::new(NodeServerVerifier {
            roots: self.roots.clone(),
            algs: self.provider.signature_verification_algorithms,
            expected_node: expected_node.map(str::to_owned),
        });
        let mut cfg = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::BadIdentity)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(
                vec![self.identity.cert().clone()],
                self.identity.key().clone_key(),
            )
            .map_err(TlsError::BadIdentity)?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        cfg.enable_sni = false;
        Ok(cfg)
    }
}

fn other(msg: String) -> Error {
    // rustls prints `CertificateError::Other` with `Debug`: make that the plain message.
    struct Msg(String);
    impl std::fmt::Debug for Msg {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::fmt::Display for Msg {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Msg {}
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Msg(msg)))))
}

/// Dialling side: chain to the cluster CA, then the certificate must name the dialled node
/// (or, for a seed dial, some node).
#[derive(Debug)]
pub(crate) struct NodeServerVerifier {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
    expected_node: Option<String>,
}

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let result = ParsedCertificate::try_from(end_entity)
            .and_then(|cert| {
                rustls::client::verify_server_cert_signed_by_trust_anchor(
                    &cert,
                    &self.roots,
                    intermediates,
                    now,
                    self.algs.all,
                )
            })
            .and_then(
                |()| match (node_name_from_cert(end_entity), &self.expected_node) {
                    (Ok(_), None) => Ok(ServerCertVerified::assertion()),
                    (Ok(node), Some(expected)) if node == *expected => {
                        Ok(ServerCertVerified::assertion())
                    }
                    (Ok(node), Some(expected)) => Err(other(format!(
                        "certificate names node {node:?}, but node {expected:?} was dialled"
                    ))),
                    (Err(e), _) => Err(other(e.to_string())),
                },
            );
        if let Err(e) = &result {
            // Per attempt: the dialler's log (`explain::DialLog`) says it, at its rate.
            let node = self
                .expected_node
                .as_deref()
                .unwrap_or("(any node of the CA)");
            tracing::debug!(node, "refusing server: {e}");
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Accepting side: webpki's client verifier (chain to the CA, clientAuth EKU, validity),
/// plus: the certificate must name a node. Logs every refusal at debug level.
#[derive(Debug)]
struct NodeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let result = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
            .and_then(|ok| match node_name_from_cert(end_entity) {
                Ok(_) => Ok(ok),
                Err(e) => Err(other(e.to_string())),
            });
        if let Err(e) = &result {
            // Per attempt: the failed handshake is logged once per cause and interval by
            // `IncomingPeer::handshake`, with the peer's address.
            tracing::debug!("refusing client: {e}");
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
