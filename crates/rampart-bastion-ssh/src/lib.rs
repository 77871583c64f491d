//! Rampart's SSH bastion: the adapter around the pure core in
//! `rampart-bastion`. [`server`] runs the russh server administrators
//! connect to (`ssh -p 2222 USER:TARGET@host`): public key (registered, or
//! certified by the bastion's SSH CA), then TOTP as a
//! keyboard-interactive second factor, with the API's lockout.
//! [`upstream`] opens Rampart's own russh client connection to the target,
//! pinned to its registered host key and logged in with a credential only
//! Rampart holds. [`targets`] is the target registry (credentials sealed
//! with the KMS envelope API, labels, the lockbox tenant), [`grants`] who
//! may reach which target (or label) how and when (deny by default),
//! [`requests`] just-in-time access that an approver turns into a
//! time-limited grant, [`lockbox`] the customer's approval that a target
//! holding a tenant's data also needs, and that tenant's access
//! transparency view, [`recorder`] the asciicast v2 recording of each
//! session, streamed to the data directory while it runs, encrypted at
//! rest under its own KMS data key ([`sealing`]), followed live by
//! reviewers and removed after the retention period ([`sessions`]);
//! [`sshca`] is the cluster's SSH user CA, whose certificates log in
//! without a registered key.
//!
//! Every session start, end and refusal is a ledger event, recorded
//! before the action it describes takes effect.

#![forbid(unsafe_code)]

pub mod grants;
pub mod hostkey;
pub mod lockbox;
pub mod recorder;
pub mod redline;
pub mod requests;
pub mod reviews;
pub mod sealing;
pub mod server;
pub mod sessions;
pub mod sshca;
pub mod targets;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;

use rampart_auth::{Auth, AuthError};
use rampart_core::audit::{Audit, AuditError};
use rampart_core::config::BastionConfig;
use rampart_kms::service::{Kms, KmsError};
use rampart_store::{Store, StoreError};

pub use grants::{Action, GrantInfo, NewGrant};
pub use lockbox::{AccessInfo, NewLockboxRequest};
pub use requests::{NewAccessRequest, RequestInfo};
pub use reviews::ReviewInfo;
pub use server::Listening;
pub use sessions::SessionInfo;
pub use sshca::{IssuedSshCert, NewSshCert, SshCertInfo};
pub use targets::{Credential, LockboxLabel, NewTarget, TargetInfo, TargetUpdate};

/// What can go wrong in the bastion's services, in terms the API maps to
/// problem responses. Messages never contain a credential.
#[derive(Debug, thiserror::Error)]
pub enum BastionError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The thing existed and is gone for good: a recording past retention,
    /// or one whose KMS key was deleted (crypto-shredded).
    #[error("{0}")]
    Gone(String),
    /// The caller may not do this to this object (deciding one's own review).
    #[error("{0}")]
    Forbidden(String),
    #[error("audit trail unavailable: {0}")]
    AuditUnavailable(#[from] AuditError),
    /// The KMS could not seal or open a credential (sealed, key disabled…).
    #[error("the KMS could not seal or open the target credential: {0}")]
    Kms(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for BastionError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => BastionError::NotFound,
            StoreError::Conflict(what) => BastionError::Conflict(format!("already exists ({what})")),
            other => BastionError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for BastionError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::NotFound => BastionError::NotFound,
            AuthError::Invalid(m) => BastionError::Invalid(m),
            AuthError::Conflict(m) => BastionError::Conflict(m),
            AuthError::AuditUnavailable(a) => BastionError::AuditUnavailable(a),
            other => BastionError::Internal(other.to_string()),
        }
    }
}

impl From<KmsError> for BastionError {
    fn from(err: KmsError) -> Self {
        BastionError::Kms(err.to_string())
    }
}

/// Where the bastion keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The server's Ed25519 host key (OpenSSH format, mode 0600).
    pub host_key: PathBuf,
    /// Session recordings, one asciicast file per session.
    pub recordings: PathBuf,
}

/// The bastion's services. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Bastion {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    auth: Auth,
    kms: Kms,
    audit: Audit,
    config: BastionConfig,
    region: String,
    paths: Paths,
    red_lines: Arc<rampart_bastion::policy::PolicySet>,
}

impl Bastion {
    /// The bastion's services; fails only when `config.red_lines` names a
    /// file that cannot be read or holds invalid policies.
    pub fn new(
        store: Store,
        auth: Auth,
        kms: Kms,
        config: BastionConfig,
        region: &str,
        paths: Paths,
    ) -> Result<Self, String> {
        let audit = auth.audit().clone();
        let red_lines = Arc::new(redline::load(config.red_lines.as_deref())?);
        Ok(Bastion {
            inner: Arc::new(Inner { store, auth, kms, audit, config, region: region.to_owned(), paths, red_lines }),
        })
    }

    /// The command red lines every interactive line and exec is checked against.
    pub fn red_lines(&self) -> &Arc<rampart_bastion::policy::PolicySet> {
        &self.inner.red_lines
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    pub fn config(&self) -> &BastionConfig {
        &self.inner.config
    }
}
