//! The software keystore sealed by Shamir shares. [`SealedKeystore`] holds
//! an `Option<SoftwareKeystore>` behind a lock, so the KMS service keeps one
//! `Arc<dyn Keystore>` whether the root key is present or not. A node starts
//! sealed: every wrap and unwrap is refused with [`KeystoreError::Sealed`]
//! until operators have entered `threshold` shares one at a time (`rampart
//! operator unseal`); [`SealedKeystore::seal`] drops the root key again
//! (zeroized) and forgets any partial progress.
//!
//! At rest there is only the [`SealRecord`] (`DIR/secrets/kms-seal.json`,
//! 0600): the split's threshold and share count and the root key's 8-byte
//! fingerprint, which every share carries too. It lets a node refuse a share
//! of another `operator init` the moment it arrives and confirms the combined
//! key before it is used; it reveals nothing about the key.
//!
//! Progress here is pure state without I/O. The service (`service/seal.rs`)
//! first [`check`](SealedKeystore::check)s a share, records the attempt in
//! the audit trail, and only then [`add`](SealedKeystore::add)s it, so an
//! attempt that cannot be recorded changes nothing.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use rampart_core::secret::{SecretError, check_private, write_private_new};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::software::{FINGERPRINT_LEN, Share, combine, decode_share};
use super::{Keystore, KeystoreError, SoftwareKeystore};
use crate::blob::MaterialKey;

/// The format version of [`SealRecord`].
const RECORD_VERSION: u32 = 1;

/// What `rampart operator init` keeps about a Shamir split: never the key,
/// never a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealRecord {
    pub version: u32,
    /// How many shares reconstruct the root key.
    pub threshold: u8,
    /// How many shares were printed.
    pub shares: u8,
    /// The root key's public fingerprint in hex, as each share carries it.
    pub fingerprint: String,
    pub created_at_ms: i64,
}

impl SealRecord {
    /// Reads and checks a record; a file others can read or write, of
    /// another version or with impossible values is refused.
    pub fn load(path: &Path) -> Result<SealRecord, KeystoreError> {
        check_private(path).map_err(|err| match err {
            SecretError::TooOpen { .. } => KeystoreError::Config(err.to_string()),
            other => KeystoreError::Unavailable(other.to_string()),
        })?;
        let bytes = fs::read(path).map_err(|err| {
            KeystoreError::Unavailable(format!("cannot read the seal record {}: {err}", path.display()))
        })?;
        let record: SealRecord = serde_json::from_slice(&bytes)
            .map_err(|err| KeystoreError::Config(format!("the seal record {} is malformed: {err}", path.display())))?;
        record.fingerprint_bytes().map_err(|_| {
            KeystoreError::Config(format!("the seal record {} holds no valid fingerprint", path.display()))
        })?;
        if record.version != RECORD_VERSION {
            return Err(KeystoreError::Config(format!(
                "the seal record {} has version {}; this build reads version {RECORD_VERSION}",
                path.display(),
                record.version
            )));
        }
        if record.threshold < 2 || record.threshold > record.shares {
            return Err(KeystoreError::Config(format!(
                "the seal record {} names an impossible split ({} of {})",
                path.display(),
                record.threshold,
                record.shares
            )));
        }
        Ok(record)
    }

    fn fingerprint_bytes(&self) -> Result<[u8; FINGERPRINT_LEN], KeystoreError> {
        let bytes = data_encoding::HEXLOWER
            .decode(self.fingerprint.as_bytes())
            .map_err(|_| KeystoreError::Config("the fingerprint is not lower-case hex".into()))?;
        bytes.try_into().map_err(|_| KeystoreError::Config("the fingerprint has the wrong length".into()))
    }
}

/// Generates a root key, splits it into `shares` shares of which any
/// `threshold` reconstruct it, and writes the seal record to `path`, which
/// must not exist yet (an initialised node is never initialised again: that
/// would orphan every key wrapped under the old root key). Returns the
/// record and the shares, to be shown once and never stored.
pub fn initialise(
    path: &Path,
    threshold: u8,
    shares: u8,
    now_ms: i64,
) -> Result<(SealRecord, Vec<SecretString>), KeystoreError> {
    let keystore = SoftwareKeystore::generate()?;
    let split = keystore.split(threshold, shares)?;
    let record = SealRecord {
        version: RECORD_VERSION,
        threshold,
        shares,
        fingerprint: keystore.fingerprint(),
        created_at_ms: now_ms,
    };
    let mut json = serde_json::to_vec_pretty(&record)
        .map_err(|err| KeystoreError::Unavailable(format!("cannot encode the seal record: {err}")))?;
    json.push(b'\n');
    write_private_new(path, &json).map_err(|err| match err.kind() {
        ErrorKind::AlreadyExists => KeystoreError::Config(format!(
            "already initialised: {} exists; a second init would orphan every key wrapped under the first root key",
            path.display()
        )),
        _ => KeystoreError::Unavailable(format!("cannot write the seal record {}: {err}", path.display())),
    })?;
    Ok((record, split))
}

/// Where unsealing stands, as `seal-status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SealStatus {
    pub sealed: bool,
    pub threshold: u8,
    pub shares: u8,
    /// Distinct valid shares entered towards the threshold so far.
    pub progress: u8,
}

/// Why a share was not taken. None of the messages holds share text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Not a share at all, or mistyped (its checksum fails).
    #[error("{0}")]
    Malformed(String),
    /// A well-formed share of another root key (another `operator init`).
    #[error("the share belongs to another root key: it was printed by a different `rampart operator init`")]
    Foreign,
    /// The same share (the same index) was entered before.
    #[error("share {0} was already entered; it is not counted twice")]
    Duplicate(u8),
    /// The threshold was reached but the shares did not reconstruct the
    /// key whose fingerprint the record holds. Progress is reset.
    #[error("the {0} shares entered do not reconstruct the root key; progress was reset, enter the shares again")]
    Mismatch(u8),
    #[error("the KMS is already unsealed")]
    AlreadyUnsealed,
}

impl UnsealError {
    /// A short, stable name for audit events and problem types.
    pub fn reason(&self) -> &'static str {
        match self {
            UnsealError::Malformed(_) => "malformed",
            UnsealError::Foreign => "foreign",
            UnsealError::Duplicate(_) => "duplicate",
            UnsealError::Mismatch(_) => "mismatch",
            UnsealError::AlreadyUnsealed => "already_unsealed",
        }
    }
}

/// What [`SealedKeystore::check`] found: a share that would be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The share's index (1 to the number of shares).
    pub index: u8,
    /// Whether this share reaches the threshold, so that adding it combines.
    pub completes: bool,
}

/// What [`SealedKeystore::add`] did.
#[derive(Debug)]
pub enum Added {
    /// Counted; this many distinct shares are held now.
    Progress(u8),
    /// The threshold was reached and the shares reconstruct the root key;
    /// [`SealedKeystore::install`] puts it to use.
    Complete(Unsealing),
}

/// A reconstructed root key, not yet in use. Dropping it zeroizes the key.
#[derive(Debug)]
pub struct Unsealing(SoftwareKeystore);

/// The software keystore behind a Shamir seal.
pub struct SealedKeystore {
    record: SealRecord,
    fingerprint: [u8; FINGERPRINT_LEN],
    /// The root key while unsealed. Wraps and unwraps hold the read lock
    /// for their whole (short) computation, so once `seal` has taken the
    /// write lock and dropped the key, no operation still uses it.
    root: RwLock<Option<SoftwareKeystore>>,
    /// Valid, distinct shares entered so far (points zeroized on drop).
    progress: Mutex<Vec<Share>>,
}

impl SealedKeystore {
    /// A sealed keystore for the split `record` describes.
    pub fn new(record: SealRecord) -> Result<Self, KeystoreError> {
        let fingerprint = record.fingerprint_bytes()?;
        Ok(SealedKeystore { record, fingerprint, root: RwLock::new(None), progress: Mutex::new(Vec::new()) })
    }

    pub fn record(&self) -> &SealRecord {
        &self.record
    }

    pub fn is_sealed(&self) -> bool {
        self.root.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    pub fn status(&self) -> SealStatus {
        let sealed = self.is_sealed();
        let progress = if sealed { self.progress().len() } else { 0 };
        SealStatus {
            sealed,
            threshold: self.record.threshold,
            shares: self.record.shares,
            progress: u8::try_from(progress).unwrap_or(u8::MAX),
        }
    }

    /// Whether `share` would be counted, without counting it.
    pub fn check(&self, share: &SecretString) -> Result<Checked, UnsealError> {
        let progress = self.progress();
        let decoded = self.validate(&progress, share)?;
        Ok(Checked { index: decoded.index(), completes: progress.len() + 1 >= usize::from(self.record.threshold) })
    }

    /// Counts `share`; at the threshold, combines all shares held. Shares
    /// that do not reconstruct the recorded root key reset the progress.
    pub fn add(&self, share: &SecretString) -> Result<Added, UnsealError> {
        let mut progress = self.progress();
        let decoded = self.validate(&progress, share)?;
        if progress.len() + 1 < usize::from(self.record.threshold) {
            progress.push(decoded);
            return Ok(Added::Progress(u8::try_from(progress.len()).unwrap_or(u8::MAX)));
        }
        let points = Zeroizing::new(
            progress.iter().chain(std::iter::once(&decoded)).map(|s| s.point.to_vec()).collect::<Vec<_>>(),
        );
        match combine(&points, &self.fingerprint) {
            Ok(root) => Ok(Added::Complete(Unsealing(SoftwareKeystore::from_combined(root)))),
            Err(_) => {
                progress.clear();
                Err(UnsealError::Mismatch(self.record.threshold))
            }
        }
    }

    /// Puts a reconstructed root key to use and forgets the shares. If the
    /// keystore was unsealed meanwhile, the key already in use stays.
    pub fn install(&self, unsealing: Unsealing) {
        let mut root = self.root.write().unwrap_or_else(PoisonError::into_inner);
        if root.is_none() {
            *root = Some(unsealing.0);
        }
        drop(root);
        self.progress().clear();
    }

    /// Drops the root key (zeroizing it) and any partial progress. Returns
    /// whether the keystore was unsealed.
    pub fn seal(&self) -> bool {
        let was_unsealed = self.root.write().unwrap_or_else(PoisonError::into_inner).take().is_some();
        self.progress().clear();
        was_unsealed
    }

    fn validate(&self, progress: &[Share], share: &SecretString) -> Result<Share, UnsealError> {
        if !self.is_sealed() {
            return Err(UnsealError::AlreadyUnsealed);
        }
        let decoded = decode_share(share.expose_secret(), "the share").map_err(|err| match err {
            KeystoreError::Config(message) => UnsealError::Malformed(message),
            other => UnsealError::Malformed(other.to_string()),
        })?;
        // The fingerprint is public (every share prints it), so a plain
        // comparison leaks nothing.
        if decoded.fingerprint != self.fingerprint
            || decoded.threshold != self.record.threshold
            || decoded.index() > self.record.shares
        {
            return Err(UnsealError::Foreign);
        }
        if progress.iter().any(|held| held.index() == decoded.index()) {
            return Err(UnsealError::Duplicate(decoded.index()));
        }
        Ok(decoded)
    }

    /// Nothing here panics while holding the lock; a poisoned lock still
    /// guards a consistent list.
    fn progress(&self) -> MutexGuard<'_, Vec<Share>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_root<T>(&self, f: impl FnOnce(&SoftwareKeystore) -> Result<T, KeystoreError>) -> Result<T, KeystoreError> {
        let root = self.root.read().unwrap_or_else(PoisonError::into_inner);
        match root.as_ref() {
            Some(keystore) => f(keystore),
            None => Err(KeystoreError::Sealed),
        }
    }
}

impl Keystore for SealedKeystore {
    /// The same name as the key-file software keystore: the wrapping format
    /// is the same; only how the root key is kept at rest differs.
    fn name(&self) -> &'static str {
        "software"
    }

    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.with_root(|k| k.wrap_secret(secret, aad))
    }

    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        self.with_root(|k| k.unwrap_secret(wrapped, aad))
    }

    fn wrap(&self, material: &MaterialKey, aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.with_root(|k| k.wrap(material, aad))
    }

    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<MaterialKey, KeystoreError> {
        self.with_root(|k| k.unwrap(wrapped, aad))
    }
}

impl fmt::Debug for SealedKeystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status();
        f.debug_struct("SealedKeystore")
            .field("fingerprint", &self.record.fingerprint)
            .field("sealed", &status.sealed)
            .field("threshold", &status.threshold)
            .field("shares", &status.shares)
            .field("progress", &status.progress)
            .finish()
    }
}

#[cfg(test)]
mod tests;
