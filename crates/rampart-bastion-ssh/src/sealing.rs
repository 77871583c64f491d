//! Recordings encrypted at rest with a KMS data key. Each recording gets
//! its own 256-bit data key from `GenerateDataKey` under the bastion's
//! system key `alias/rampart/recordings` (created on first use), with the
//! session id in the encryption context; the KMS's wrapped copy goes into
//! the file's header, the plaintext only into zeroizing memory for as long
//! as the recording is written or read. Opening a recording asks the KMS
//! to unwrap that key again, so a key that is disabled, pending deletion
//! or deleted leaves the recording unreadable: deleting the key
//! crypto-shreds every recording made under it.

use rampart_bastion::recording::sealed::{RecordingKey, SealHeader};
use rampart_kms::service::KmsError;
use rampart_kms::{BlobError, EncryptionContext, KeyRef, StateError};

use crate::targets::system_caller;
use crate::{Bastion, BastionError};

/// The KMS alias of the key that wraps recording data keys.
pub const RECORDING_KEY_ALIAS: &str = "alias/rampart/recordings";

fn context(session: &str) -> Result<EncryptionContext, BastionError> {
    EncryptionContext::from_pairs([("purpose", "bastion-recording"), ("session", session)])
        .map_err(|e| BastionError::Internal(e.to_string()))
}

/// What the KMS's refusal to unwrap a recording key means for the reader.
fn unreadable(session: &str, err: KmsError) -> BastionError {
    match err {
        KmsError::State(StateError::PendingDeletion { .. } | StateError::UsedWhilePendingDeletion { .. }) => {
            BastionError::Gone(format!(
                "the recording of {session} cannot be decrypted: its KMS key is pending deletion (crypto-shredding); cancel the deletion to read it again"
            ))
        }
        KmsError::State(StateError::Disabled { .. }) => BastionError::Conflict(format!(
            "the recording of {session} cannot be decrypted while its KMS key is disabled"
        )),
        KmsError::NotFound => BastionError::Gone(format!(
            "the recording of {session} cannot be decrypted: its KMS key has been deleted, so the recording is crypto-shredded"
        )),
        other => BastionError::Kms(other.to_string()),
    }
}

impl Bastion {
    /// A fresh data key for one session's recording, and the header that
    /// carries it wrapped.
    pub(crate) async fn recording_seal(&self, session: &str) -> Result<(SealHeader, RecordingKey), BastionError> {
        let key = self.system_key(RECORDING_KEY_ALIAS, "Wraps the data keys of the SSH bastion's recordings").await?;
        let (key_id, data_key) =
            self.inner.kms.generate_data_key(&system_caller(), &key, 32, &context(session)?).await?;
        let recording_key =
            RecordingKey::new(data_key.plaintext()).map_err(|e| BastionError::Internal(e.to_string()))?;
        let mut nonce_prefix = [0u8; 7];
        aws_lc_rs::rand::fill(&mut nonce_prefix).map_err(|_| BastionError::Internal("no randomness".into()))?;
        let header = SealHeader {
            session: session.to_owned(),
            key_id: key_id.to_string(),
            wrapped_key: data_key.ciphertext_blob().to_vec(),
            nonce_prefix,
        };
        Ok((header, recording_key))
    }

    /// Unwraps a recording's data key. The header must be this session's,
    /// and the KMS must unwrap the key with the key the header names.
    pub(crate) async fn recording_key(&self, session: &str, header: &SealHeader) -> Result<RecordingKey, BastionError> {
        if header.session != session {
            return Err(BastionError::Conflict(format!(
                "the recording file of {session} carries the header of {}; it was swapped",
                header.session
            )));
        }
        let opened = self
            .inner
            .kms
            .decrypt(
                &system_caller(),
                &header.wrapped_key,
                &context(session)?,
                None,
                rampart_kms::spec::EncryptionAlgorithm::SymmetricDefault,
            )
            .await;
        let (key_id, plain) = match opened {
            Ok(opened) => opened,
            // An unknown key and a blob that does not open look alike to
            // the KMS; the key's own state tells deleted from altered.
            Err(KmsError::Blob(BlobError::InvalidCiphertext)) => {
                let named = rampart_kms::KeyId::parse(&header.key_id).map_err(|_| {
                    BastionError::Conflict(format!("the recording of {session} names no valid KMS key; it was altered"))
                })?;
                return Err(match self.inner.kms.describe_key(&system_caller(), &KeyRef::Id(named)).await {
                    Err(e) => unreadable(session, e),
                    Ok(_) => BastionError::Conflict(format!(
                        "the data key of the recording of {session} does not open for this session; the file was altered or swapped"
                    )),
                });
            }
            Err(e) => return Err(unreadable(session, e)),
        };
        if key_id.to_string() != header.key_id {
            return Err(BastionError::Conflict(format!(
                "the recording of {session} names KMS key {} but its data key is wrapped under another; it was altered",
                header.key_id
            )));
        }
        RecordingKey::new(&plain).map_err(|e| BastionError::Conflict(format!("the recording of {session}: {e}")))
    }
}
