//! The data directory: everything a node keeps on disk.
//!
//! ```text
//! DIR/                       0700
//!   rampart.db               embedded SQLite (WAL) when no database URL is set
//!   secrets/root.key         32-byte root secret, 0600; keys are derived from it
//!   secrets/ledger.key       the ledger's Ed25519 checkpoint signing key (C2SP form), 0600
//!   secrets/kms-root.key     the KMS software keystore's root wrapping key, 0600 (kms.seal = "key-file")
//!   secrets/kms-seal.json    with kms.seal = "shamir": the split's threshold and the root key's
//!                            fingerprint (never the key, never a share), 0600
//!   secrets/ssh-host-ed25519.key  the SSH bastion's host key (OpenSSH format), 0600
//!   ledger/                  the tamper-evident ledger (C2SP tlog-tiles layout)
//!   recordings/              0700: the bastion's session recordings, SESSION.cast (asciicast v2), 0600
//!   tls/ca.pem               the local CA that clients trust
//!   tls/ca-key.pem           0600
//!   tls/server.pem           server certificate for the configured names
//!   tls/server-key.pem       0600
//!   bootstrap-admin.json     0600, first start only: username, password, totp_secret
//!   client.json              where the CLI finds this server (URL, CA path), and the
//!                            syslog listeners' bound addresses
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rampart_auth::Bootstrap;
use rampart_core::secret::RootSecret;
use rampart_ledger::Signer;
use secrecy::ExposeSecret;

use crate::tls::{TlsPaths, write_private};

#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

fn make_private_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

impl DataDir {
    /// Creates the directory layout (idempotent).
    pub fn prepare(root: &Path) -> Result<DataDir> {
        make_private_dir(root)?;
        make_private_dir(&root.join("secrets"))?;
        make_private_dir(&root.join("tls"))?;
        make_private_dir(&root.join("recordings"))?;
        Ok(DataDir { root: root.to_owned() })
    }

    pub fn tls(&self) -> TlsPaths {
        TlsPaths::in_dir(&self.root.join("tls"))
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.root.join("rampart.db")
    }

    pub fn bootstrap_path(&self) -> PathBuf {
        self.root.join("bootstrap-admin.json")
    }

    pub fn client_info_path(&self) -> PathBuf {
        self.root.join("client.json")
    }

    /// Loads the root secret, creating it on first start.
    pub fn root_secret(&self) -> Result<RootSecret> {
        let path = self.root.join("secrets").join("root.key");
        if path.exists() {
            Ok(RootSecret::load(&path)?)
        } else {
            tracing::info!(path = %path.display(), "created a new root secret");
            Ok(RootSecret::create(&path)?)
        }
    }

    /// The software keystore's root wrapping key (0600).
    pub fn kms_key_path(&self) -> PathBuf {
        self.root.join("secrets").join("kms-root.key")
    }

    /// The Shamir seal record written by `rampart operator init` (0600).
    pub fn kms_seal_path(&self) -> PathBuf {
        self.root.join("secrets").join("kms-seal.json")
    }

    /// Where the SSH bastion keeps its files.
    pub fn bastion(&self) -> rampart_bastion_ssh::Paths {
        rampart_bastion_ssh::Paths {
            host_key: self.root.join("secrets").join("ssh-host-ed25519.key"),
            recordings: self.root.join("recordings"),
        }
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// Loads the ledger's checkpoint signing key, creating it (named after
    /// `origin`) on first start.
    pub fn ledger_signer(&self, origin: &str) -> Result<Signer> {
        let path = self.root.join("secrets").join("ledger.key");
        if path.exists() {
            rampart_core::secret::check_private(&path)?;
            let text = zeroize::Zeroizing::new(fs::read_to_string(&path)?);
            let signer = Signer::parse(text.trim()).context("reading the ledger signing key")?;
            if signer.name() != origin {
                anyhow::bail!(
                    "the ledger key in {} signs for {:?}, but the configured origin is {origin:?}",
                    path.display(),
                    signer.name()
                );
            }
            Ok(signer)
        } else {
            let signer = Signer::generate(origin).context("generating the ledger signing key")?;
            write_private(&path, signer.expose_secret_encoding().as_bytes())?;
            tracing::info!(%origin, "created the ledger signing key");
            Ok(signer)
        }
    }

    /// Writes the first administrator's credentials (0600).
    pub fn write_bootstrap(&self, b: &Bootstrap) -> Result<()> {
        let json = serde_json::json!({
            "username": b.username,
            "password": b.password.expose_secret(),
            "totp_secret": b.totp_secret.expose_secret(),
        });
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec_pretty(&json)?);
        write_private(&self.bootstrap_path(), &bytes)
    }

    /// Tells the CLI, run beside this directory, where the server listens.
    pub fn write_client_info(&self, url: &str, syslog: &crate::ingest::Listeners) -> Result<()> {
        let ca = fs::canonicalize(self.tls().ca_cert).unwrap_or_else(|_| self.tls().ca_cert);
        let addr = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string());
        let json = serde_json::json!({
            "url": url,
            "ca_cert": ca,
            "syslog": { "udp": addr(syslog.udp), "tcp": addr(syslog.tcp), "tls": addr(syslog.tls) },
        });
        // Written whole then renamed, so a reader never sees half a file.
        let tmp = self.client_info_path().with_extension("tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(&json)?)?;
        fs::rename(&tmp, self.client_info_path())?;
        Ok(())
    }
}
