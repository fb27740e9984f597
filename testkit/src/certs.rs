//! [`Certs`]: a throwaway cluster CA and node certificates in a directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use qnet_transport::{CertAuthority, NodeIdentity, Validity, issue_node_cert};

/// A cluster CA and node certificates in a directory (`qnetd --certs`).
pub struct Certs {
    dir: PathBuf,
    /// The cluster CA.
    pub ca: CertAuthority,
    _temp: Option<tempfile::TempDir>,
}

impl Certs {
    /// A new CA in `dir`, with certificates for `nodes`.
    pub fn new(dir: &Path, nodes: &[&str]) -> Result<Certs> {
        Self::make(dir.to_path_buf(), None, "qnet-test", nodes)
    }

    /// A new CA for cluster `cluster` in a temporary directory of its own, with certificates
    /// for `nodes`.
    pub fn temp(cluster: &str, nodes: &[&str]) -> Certs {
        let temp = tempfile::tempdir().expect("tempdir");
        Self::make(temp.path().to_path_buf(), Some(temp), cluster, nodes).expect("certificates")
    }

    fn make(
        dir: PathBuf,
        temp: Option<tempfile::TempDir>,
        cluster: &str,
        nodes: &[&str],
    ) -> Result<Certs> {
        std::fs::create_dir_all(&dir)?;
        let ca = CertAuthority::generate(cluster).context("generating the CA")?;
        ca.save(&dir, true).context("saving the CA")?;
        let certs = Certs {
            dir,
            ca,
            _temp: temp,
        };
        for n in nodes {
            certs.issue(n)?;
        }
        Ok(certs)
    }

    /// Issue (or reissue) `node`'s certificate, valid for a day.
    pub fn issue(&self, node: &str) -> Result<()> {
        self.issue_valid(node, Validity::days(1))
    }

    /// Issue (or reissue) `node`'s certificate with `validity`.
    pub fn issue_valid(&self, node: &str, validity: Validity) -> Result<()> {
        issue_node_cert(&self.ca, node, validity)
            .with_context(|| format!("issuing {node}"))?
            .save(&self.dir, true)
            .with_context(|| format!("saving {node}"))?;
        Ok(())
    }

    /// Issue `node` (valid for a day), write it, load it back from disk.
    pub fn node(&self, node: &str) -> NodeIdentity {
        self.node_valid(node, Validity::days(1))
    }

    /// Issue `node` with `validity`, write it, load it back from disk.
    pub fn node_valid(&self, node: &str, validity: Validity) -> NodeIdentity {
        self.issue_valid(node, validity).expect("issuing");
        NodeIdentity::load(&self.dir, node).expect("loading the identity")
    }

    /// The directory (`--certs`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
