//! The witness: it cosigns a log's checkpoint only when the checkpoint is
//! signed by a key it trusts for that log and extends, by a verified
//! consistency proof, the latest checkpoint it cosigned for the log before.
//! That refusal to cosign two inconsistent views is the whole point of a
//! witness: a log that shows one history to some clients and another to
//! others cannot get both cosigned.
//!
//! The checks are a pure function, [`check_extension`]; [`Witness`] adds the
//! durable state in `witness/state.rs`, one lock that makes check-then-store
//! atomic (so two racing requests can never roll a log back), and the
//! cosigning key.

mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use rampart_ledger::note::{Note, NoteError};
use rampart_ledger::{Checkpoint, CheckpointError, Hash, Verifier, empty_root, verify_consistency};
use tokio::sync::Mutex;

use crate::cosignature::{CosignatureError, CosignerKey, CosignerVerifier, cosign};
use crate::protocol::{AddCheckpointRequest, Rejection};
use state::StateDir;

/// A tree size and its root hash: what the witness remembers per log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

impl TreeHead {
    /// The empty tree, which every log starts from and every tree extends.
    pub fn empty() -> Self {
        Self { size: 0, root: empty_root() }
    }
}

/// The logs a witness serves: for each origin, the keys whose signature on a
/// checkpoint makes it that log's.
#[derive(Debug, Clone, Default)]
pub struct KnownLogs {
    logs: BTreeMap<String, Vec<Verifier>>,
}

impl KnownLogs {
    /// No logs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` for the log `origin`. A log may have several keys, for
    /// rotation; the same key twice is refused since it is most likely a
    /// configuration mistake and would make signatures ambiguous.
    pub fn add(&mut self, origin: &str, key: Verifier) -> Result<(), WitnessError> {
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(WitnessError::Config(format!("invalid log origin {origin:?}")));
        }
        let keys = self.logs.entry(origin.to_owned()).or_default();
        if keys.iter().any(|k| k.name() == key.name() && k.key_id() == key.key_id()) {
            return Err(WitnessError::Config(format!("log {origin:?} lists the key {key} twice")));
        }
        keys.push(key);
        Ok(())
    }

    /// The keys trusted for `origin`, if the log is known.
    pub fn keys(&self, origin: &str) -> Option<&[Verifier]> {
        self.logs.get(origin).map(Vec::as_slice)
    }

    /// The known origins, in order.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }
}

/// Why the witness did not cosign: a refusal the specification assigns a
/// status code to, or a failure of the witness itself.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("witness state {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("witness state file {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: &'static str },
    #[error("the witness state directory {path} is in use by another process")]
    Locked { path: String },
    #[error("witness configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Cosignature(#[from] CosignatureError),
    #[error("internal witness error: {0}")]
    Internal(&'static str),
}

impl WitnessError {
    /// The HTTP status this error is answered with: the specification's
    /// code for a refusal, 500 for anything that is the witness's fault.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Rejected(r) => r.status(),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Decides whether the checkpoint `new`, submitted with `old_size` and
/// `proof`, may be cosigned by a witness whose latest cosigned head for the
/// log is `stored` (the empty tree if none). The checks and their codes
/// follow c2sp.org/tlog-witness:
///
/// - an old size above the checkpoint size is a bad request (400);
/// - an old size other than the stored size is a conflict (409);
/// - equal sizes need equal roots (409 otherwise) and an empty proof;
/// - an old size of zero needs an empty proof, and a checkpoint of size zero
///   must carry the empty tree's root;
/// - otherwise the proof must show `stored` is a prefix of `new` (422).
///
/// On success `new.size >= stored.size`, so a head is never rolled back.
pub fn check_extension(stored: &TreeHead, old_size: u64, proof: &[Hash], new: &TreeHead) -> Result<(), Rejection> {
    if old_size > new.size {
        return Err(Rejection::BadRequest(format!(
            "the old size {old_size} is larger than the checkpoint size {}",
            new.size
        )));
    }
    if old_size != stored.size {
        return Err(Rejection::Conflict { size: stored.size });
    }
    if new.size == 0 && new.root != empty_root() {
        return Err(Rejection::BadProof("a tree of size 0 has the empty tree's root".into()));
    }
    if old_size == new.size {
        if new.root != stored.root {
            return Err(Rejection::Conflict { size: stored.size });
        }
        if !proof.is_empty() {
            return Err(Rejection::BadProof("the proof between equal sizes must be empty".into()));
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(Rejection::BadProof("the proof from size 0 must be empty".into()));
        }
        return Ok(());
    }
    verify_consistency(old_size, new.size, proof, &stored.root, &new.root)
        .map_err(|e| Rejection::BadProof(e.to_string()))
}

/// A running witness. Cheap to clone; clones share the state and the lock.
#[derive(Debug, Clone)]
pub struct Witness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    key: CosignerKey,
    logs: KnownLogs,
    dir: StateDir,
    /// The latest cosigned head per origin, mirroring the state directory.
    /// Held from the check until the new head is on disk, so that checking
    /// and storing are one atomic step per witness.
    heads: Mutex<HashMap<String, TreeHead>>,
}

impl Witness {
    /// A witness cosigning with `key` for `logs`, keeping its state in
    /// `state_dir` (created if missing, locked while the witness lives).
    pub fn open(key: CosignerKey, logs: KnownLogs, state_dir: &Path) -> Result<Self, WitnessError> {
        let (dir, heads) = StateDir::open(state_dir)?;
        Ok(Self { inner: Arc::new(Inner { key, logs, dir, heads: Mutex::new(heads) }) })
    }

    /// The witness's public key, for the logs and clients that verify its
    /// cosignatures.
    pub fn verifier(&self) -> &CosignerVerifier {
        self.inner.key.verifier()
    }

    /// The latest head cosigned for `origin`, if any.
    pub async fn latest(&self, origin: &str) -> Option<TreeHead> {
        self.inner.heads.lock().await.get(origin).copied()
    }

    /// Handles an `add-checkpoint` request body and returns the response
    /// body: the witness's cosignature line. The new head is durably stored
    /// before the cosignature is made.
    pub async fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let request = AddCheckpointRequest::parse(body).map_err(Rejection::from)?;
        let (checkpoint, text) = self.open_checkpoint(&request.checkpoint)?;
        let new = TreeHead { size: checkpoint.size, root: checkpoint.root };
        let origin = checkpoint.origin;
        // The check and the store run in a task of their own so that a client
        // hanging up cannot cancel them halfway, between the write to disk
        // and the update of the heads in memory.
        let this = self.clone();
        let (old_size, proof, task_origin) = (request.old_size, request.proof, origin.clone());
        tokio::spawn(async move { this.commit(&task_origin, old_size, &proof, new).await })
            .await
            .map_err(|_| WitnessError::Internal("the commit task failed"))??;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| WitnessError::Internal("the system clock is before 1970"))?
            .as_secs();
        let line = cosign(&text, &self.inner.key, now)?;
        tracing::info!(%origin, size = new.size, old_size, "cosigned a checkpoint");
        Ok(line)
    }

    /// Checks `new` against the stored head of `origin` and, if it may be
    /// cosigned, stores it durably, all under the one lock.
    async fn commit(&self, origin: &str, old_size: u64, proof: &[Hash], new: TreeHead) -> Result<(), WitnessError> {
        let mut heads = self.inner.heads.lock().await;
        let stored = heads.get(origin).copied();
        let known = stored.unwrap_or_else(TreeHead::empty);
        if let Err(rejection) = check_extension(&known, old_size, proof, &new) {
            if matches!(rejection, Rejection::BadProof(_)) {
                // A validly signed checkpoint that does not extend what we
                // cosigned may be evidence of a fork; keep a trace of it.
                tracing::warn!(%origin, old_size, new_size = new.size, stored_size = known.size, %rejection,
                    "refused a signed checkpoint inconsistent with the head cosigned before");
            }
            return Err(rejection.into());
        }
        if stored != Some(new) {
            self.inner.dir.store(origin, new).await?;
            heads.insert(origin.to_owned(), new);
        }
        Ok(())
    }

    /// Parses the signed checkpoint, finds its log and checks its signature,
    /// returning the checkpoint and the exact note text to cosign.
    fn open_checkpoint(&self, signed: &str) -> Result<(Checkpoint, String), Rejection> {
        // The origin is read from the unverified text only to pick the keys
        // that must then verify it.
        let note = Note::parse(signed.as_bytes()).map_err(|e| Rejection::BadRequest(e.to_string()))?;
        let unverified = Checkpoint::parse(&note.text).map_err(|e| Rejection::BadRequest(e.to_string()))?;
        let keys =
            self.inner.logs.keys(&unverified.origin).ok_or(Rejection::UnknownOrigin(unverified.origin.clone()))?;
        match Checkpoint::open(signed.as_bytes(), &unverified.origin, keys) {
            Ok((checkpoint, verified)) => Ok((checkpoint, verified.into_text())),
            Err(CheckpointError::Note(
                e @ (NoteError::NoVerifiedSignature
                | NoteError::BadSignature { .. }
                | NoteError::AmbiguousVerifier { .. }),
            )) => Err(Rejection::Forbidden(e.to_string())),
            Err(e) => Err(Rejection::BadRequest(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
