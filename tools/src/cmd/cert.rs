//! `qnet cert`: the cluster CA and node certificates.
//!
//! `init` makes the cluster CA (`ca.pem`, `ca.key`) in a directory; `issue` signs a node
//! certificate (`NODE.pem`, `NODE.key`) with it. Copy `ca.pem` and a node's two files to that
//! node; `ca.key` stays where certificates are issued.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use qnet_transport::certs::{CA_CERT_FILE, CA_KEY_FILE};
use qnet_transport::{CertAuthority, CertError, Validity, issue_node_cert, validate_node_name};

/// `qnet cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create the cluster CA: DIR/ca.pem and DIR/ca.key (mode 0600).
    Init {
        /// Directory for the CA files (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Cluster name, recorded in the CA certificate.
        #[arg(long, default_value = "qnet")]
        cluster: String,
        /// Replace an existing CA (every node certificate it signed stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a node certificate signed by the CA in DIR: DIR/NODE.pem and DIR/NODE.key.
    Issue {
        /// Directory holding ca.pem and ca.key; the node files are written there.
        #[arg(long)]
        dir: PathBuf,
        /// Node name: 1 to 63 of A-Z a-z 0-9 - _ . and not `all`.
        #[arg(long)]
        node: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Replace an existing certificate for this node.
        #[arg(long)]
        force: bool,
    },
}

/// Run one `qnet cert` subcommand.
pub fn run(cmd: CertCommand) -> Result<()> {
    match cmd {
        CertCommand::Init {
            dir,
            cluster,
            force,
        } => {
            if cluster.trim().is_empty() {
                bail!("--cluster must not be empty");
            }
            let ca = CertAuthority::generate(&cluster)?;
            match ca.save(&dir, force) {
                Err(e @ CertError::AlreadyExists { .. }) => bail!(
                    "{e}; pass --force to replace the cluster CA \
                     (certificates it issued will no longer be trusted)"
                ),
                r => r?,
            }
            outln!(
                "wrote {} and {} (cluster {cluster:?})",
                dir.join(CA_CERT_FILE).display(),
                dir.join(CA_KEY_FILE).display()
            );
            Ok(())
        }
        CertCommand::Issue {
            dir,
            node,
            days,
            force,
        } => {
            validate_node_name(&node)?;
            if days == 0 {
                bail!("--days must be at least 1");
            }
            let ca = CertAuthority::load(&dir).with_context(|| {
                format!(
                    "cannot load the cluster CA from {} (run `qnet cert init --dir {}` first)",
                    dir.display(),
                    dir.display()
                )
            })?;
            let cert = issue_node_cert(&ca, &node, Validity::days(days))?;
            match cert.save(&dir, force) {
                Err(e @ CertError::AlreadyExists { .. }) => {
                    bail!("{e}; pass --force to replace the node certificate")
                }
                r => r?,
            }
            outln!(
                "wrote {} and {} (node {node:?}, valid {days} days)",
                dir.join(format!("{node}.pem")).display(),
                dir.join(format!("{node}.key")).display()
            );
            Ok(())
        }
    }
}
