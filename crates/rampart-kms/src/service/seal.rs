//! Unsealing and sealing the KMS whose software root key is split into
//! Shamir shares. Each share entered is checked, recorded in the audit
//! trail, and only then counted, so an attempt that cannot be recorded
//! changes nothing; the event never holds the share, only its index and the
//! progress. Reaching the threshold records `kms.unsealed` before the key
//! is put to use. Sealing records `kms.sealed`, drops the root key
//! (zeroized) and empties the unwrap cache.
//!
//! Attempts are serialised, so check, record and apply act as one step and
//! two operators entering shares at once are both counted.

use std::sync::Arc;

use rampart_core::audit::AuditError;
use rampart_core::{Event, Outcome};
use secrecy::SecretString;

use super::Kms;
use crate::keystore::sealed::Added;
use crate::keystore::{SealStatus, SealedKeystore, UnsealError};

/// The seal of a KMS whose keystore is a [`SealedKeystore`].
#[derive(Debug, Clone)]
pub(super) struct SealState {
    pub(super) keystore: Arc<SealedKeystore>,
    attempts: Arc<tokio::sync::Mutex<()>>,
}

impl SealState {
    pub(super) fn new(keystore: Arc<SealedKeystore>) -> Self {
        SealState { keystore, attempts: Arc::new(tokio::sync::Mutex::new(())) }
    }
}

/// Why unsealing or sealing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "this node's KMS is not sealed by Shamir shares (kms.seal = \"key-file\", or a PKCS#11 keystore): there is nothing to unseal or seal"
    )]
    NotShamir,
    #[error(transparent)]
    Share(#[from] UnsealError),
    #[error("the audit trail did not confirm the record; the attempt was not taken")]
    Audit(#[from] AuditError),
}

/// A share taken: its index and where unsealing stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsealed {
    pub index: u8,
    pub status: SealStatus,
}

/// Who enters a share: unauthenticated, as the share is the credential.
const UNSEAL_ACTOR: &str = "anonymous";

impl Kms {
    /// Where unsealing stands, or `None` without a Shamir seal.
    pub fn seal_status(&self) -> Option<SealStatus> {
        self.seal.as_ref().map(|seal| seal.keystore.status())
    }

    /// Enters one share from `source`. A share that is malformed, of another
    /// root key or already entered is refused, recorded, and not counted;
    /// shares that reach the threshold without reconstructing the recorded
    /// root key reset the progress.
    pub async fn unseal(&self, source: Option<String>, share: &SecretString) -> Result<Unsealed, SealError> {
        let seal = self.seal.as_ref().ok_or(SealError::NotShamir)?;
        let _one_at_a_time = seal.attempts.lock().await;
        let keystore = &seal.keystore;
        let event = |kind: &str, outcome: Outcome| {
            let status = keystore.status();
            Event::new(kind, outcome, UNSEAL_ACTOR)
                .source(source.clone())
                .attr("threshold", status.threshold)
                .attr("progress", status.progress)
        };
        let checked = match keystore.check(share) {
            Ok(checked) => checked,
            Err(err) => {
                self.audit
                    .record(event("kms.unseal.share_rejected", Outcome::Failure).attr("reason", err.reason()))
                    .await?;
                return Err(err.into());
            }
        };
        if !checked.completes {
            self.audit
                .record(event("kms.unseal.share_accepted", Outcome::Success).attr("share_index", checked.index))
                .await?;
            keystore.add(share)?;
            return Ok(Unsealed { index: checked.index, status: keystore.status() });
        }
        match keystore.add(share) {
            Ok(Added::Complete(unsealing)) => {
                self.audit
                    .record(
                        event("kms.unsealed", Outcome::Success)
                            .attr("share_index", checked.index)
                            .attr("fingerprint", keystore.record().fingerprint.as_str()),
                    )
                    .await?;
                keystore.install(unsealing);
                Ok(Unsealed { index: checked.index, status: keystore.status() })
            }
            // Not completing after all: the state moved since the check
            // (sealed meanwhile), and the share was counted towards a new start.
            Ok(Added::Progress(_)) => Ok(Unsealed { index: checked.index, status: keystore.status() }),
            Err(err) => {
                let mut failed = event("kms.unseal.share_rejected", Outcome::Failure).attr("reason", err.reason());
                if matches!(err, UnsealError::Mismatch(_)) {
                    failed = event("kms.unseal.failed", Outcome::Failure)
                        .attr("reason", err.reason())
                        .attr("severity", "high");
                }
                self.audit.record(failed).await?;
                Err(err.into())
            }
        }
    }

    /// Seals the KMS again: records `kms.sealed` by `actor`, drops the root
    /// key (zeroized) and any partial progress, and empties the unwrap
    /// cache. Every KMS operation is refused from then on until unsealed.
    pub async fn seal(&self, actor: &str, source: Option<String>) -> Result<SealStatus, SealError> {
        let seal = self.seal.as_ref().ok_or(SealError::NotShamir)?;
        let _one_at_a_time = seal.attempts.lock().await;
        let was_sealed = seal.keystore.is_sealed();
        self.audit
            .record(Event::new("kms.sealed", Outcome::Success, actor).source(source).attr("was_sealed", was_sealed))
            .await?;
        seal.keystore.seal();
        self.cache.clear();
        Ok(seal.keystore.status())
    }

    /// Records that unseal attempts from `source` were refused for coming
    /// too fast (once per address and window; the caller limits).
    pub async fn unseal_throttled(&self, source: Option<String>) -> Result<(), AuditError> {
        self.audit.record(Event::new("kms.unseal.throttled", Outcome::Denied, UNSEAL_ACTOR).source(source)).await?;
        Ok(())
    }

    /// How many unwrapped key versions the cache holds (for tests and metrics).
    pub fn cached_materials(&self) -> usize {
        self.cache.len()
    }
}
