//! Keys for imported material (origin `EXTERNAL`): created without
//! material in `PendingImport`; `GetParametersForImport` hands out a fresh
//! RSA wrapping public key and a one-time import token valid for 24 hours;
//! `ImportKeyMaterial` takes the customer's 256-bit key wrapped with
//! RSAES-OAEP-SHA-256 under it, unwraps it inside this crate, wraps it with
//! the keystore like generated material, and enables the key;
//! `DeleteImportedKeyMaterial` removes it again.
//!
//! Material may expire (`ValidTo`): from that instant the key reads as
//! `PendingImport` and nothing uses the material, and the expiry sweep
//! ([`Kms::expire_due_material`]) deletes it, records the expiry, and moves
//! the key to `PendingImport` for good. A key only ever takes the material
//! it was first given: each import is checked against a fingerprint of the
//! first (an HMAC keyed with the material over the key id, so it reveals
//! nothing of the material and differs between keys), so after expiry or
//! deletion the same material brings the old ciphertexts back, and other
//! material is refused.
//!
//! The wrapping private key is itself stored wrapped by the keystore and is
//! deleted when used or replaced. Only `SYMMETRIC_DEFAULT` keys take
//! imported material here.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Outcome};
use rampart_store::{ImportToken, ImportedMaterial, KmsKeyRow, StoreError};

use super::{Caller, KeyMetadata, Kms, KmsError, metadata, state_name, wrap_aad};
use crate::lifecycle::{self, Operation, Origin};
use crate::material::{self, Material};
use crate::spec::{KeyId, KeyRef, KeySpec, KeyUsage, MaterialId};

/// How long import parameters stay valid, as in AWS.
pub const IMPORT_TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;

/// What `GetParametersForImport` returns.
#[derive(Debug, Clone)]
pub struct ImportParameters {
    pub key_id: KeyId,
    /// The wrapping public key, X.509 SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    pub import_token: Vec<u8>,
    pub valid_to_ms: i64,
}

/// Why an import was refused, with the names AWS and Tencent give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the key's material was not imported (its origin is not EXTERNAL)")]
    NotExternal,
    #[error("the import token is not valid for this key; get new parameters with GetParametersForImport")]
    InvalidToken,
    #[error("the import token has expired; get new parameters with GetParametersForImport")]
    ExpiredToken,
    #[error("the key material does not decrypt with the import parameters' wrapping key and algorithm")]
    Undecryptable,
    #[error("imported key material must be a 256-bit (32-byte) key")]
    WrongLength,
    #[error(
        "this is not the key material that was imported into this key before; only the same material can be imported again"
    )]
    NotTheSameMaterial,
    #[error("the key changed while its material was imported; try again")]
    Raced,
}

impl ImportError {
    /// AWS's `__type` (botocore's ImportKeyMaterial errors).
    pub fn aws_type(self) -> &'static str {
        match self {
            ImportError::NotExternal => "UnsupportedOperationException",
            ImportError::InvalidToken => "InvalidImportTokenException",
            ImportError::ExpiredToken => "ExpiredImportTokenException",
            ImportError::Undecryptable => "InvalidCiphertextException",
            ImportError::WrongLength | ImportError::NotTheSameMaterial => "IncorrectKeyMaterialException",
            ImportError::Raced => "KMSInvalidStateException",
        }
    }

    /// Tencent's code (the SDK's `errorcodes.py`).
    pub fn tc_code(self) -> &'static str {
        match self {
            ImportError::NotExternal => "UnsupportedOperation.NotExternalCmk",
            ImportError::InvalidToken => "InvalidParameterValue",
            ImportError::ExpiredToken => "ResourceUnavailable.TokenExpired",
            ImportError::Undecryptable => "InvalidParameter.DecryptMaterialError",
            ImportError::WrongLength => "InvalidParameterValue.InvalidImportKeyMaterial",
            ImportError::NotTheSameMaterial => "InvalidParameterValue.MaterialNotMatch",
            ImportError::Raced => "ResourceUnavailable.CmkStateNotSupport",
        }
    }
}

/// The fingerprint of imported material for one key: HMAC-SHA-256 keyed
/// with the material over a label and the key id, hex.
fn fingerprint(key: &KeyId, material: &[u8]) -> String {
    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, material);
    let mut ctx = hmac::Context::with_key(&mac_key);
    ctx.update(b"rampart-kms-imported-material-v1");
    ctx.update(key.as_bytes());
    data_encoding::HEXLOWER.encode(ctx.sign().as_ref())
}

fn token_aad(key: &KeyId, token: &[u8]) -> Vec<u8> {
    let mut aad = b"rampart-kms-import-v1".to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad.extend_from_slice(token);
    aad
}

impl Kms {
    /// Creates a `SYMMETRIC_DEFAULT` key that waits for imported material.
    pub async fn create_external_key(&self, caller: &Caller, description: &str) -> Result<KeyMetadata, KmsError> {
        self.require_role(caller, "CreateKey", true).await?;
        if description.len() > 8192 {
            return Err(KmsError::Invalid("the description is longer than 8192 bytes".into()));
        }
        let key_id = KeyId::random().ok_or_else(|| KmsError::Internal("random generator".into()))?;
        let now = now_ms();
        let row = KmsKeyRow {
            id: key_id.to_string(),
            tenant_id: caller.tenant.clone(),
            spec: KeySpec::SymmetricDefault.aws_name().to_owned(),
            key_usage: KeyUsage::EncryptDecrypt.aws_name().to_owned(),
            state: "PendingImport".into(),
            deletion_at: None,
            description: description.to_owned(),
            current_material: 0,
            rotation_period_days: None,
            next_rotation_at: None,
            created_at: now,
            updated_at: now,
            origin: "EXTERNAL".into(),
            policy: None,
            material_expires_at: None,
        };
        self.audit
            .record(
                self.event("kms.key.created", Outcome::Success, caller, &key_id)
                    .attr("spec", KeySpec::SymmetricDefault.aws_name())
                    .attr("origin", "EXTERNAL"),
            )
            .await?;
        self.store.kms_create_key(&row, self.keystore.name(), None).await?;
        metadata(&row)
    }

    async fn external_key(&self, caller: &Caller, key: &KeyRef, op: Operation) -> Result<KmsKeyRow, KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, op).await?;
        if meta.origin != Origin::External {
            return Err(ImportError::NotExternal.into());
        }
        Ok(row)
    }

    /// A fresh RSA wrapping key pair and import token for the key.
    pub async fn get_parameters_for_import(
        &self,
        caller: &Caller,
        key: &KeyRef,
        wrapping_spec: KeySpec,
    ) -> Result<ImportParameters, KmsError> {
        if !matches!(wrapping_spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) {
            return Err(KmsError::Invalid("WrappingKeySpec must be RSA_2048, RSA_3072 or RSA_4096".into()));
        }
        let row = self.external_key(caller, key, Operation::GetParametersForImport).await?;
        let key_id = KeyId::parse(&row.id)?;
        let token = material::generate_random(32)?.to_vec();
        let keystore = self.keystore.clone();
        let aad = token_aad(&key_id, &token);
        let (public_key, wrapped) = tokio::task::spawn_blocking(move || {
            let (pair, pkcs8) = Material::generate(wrapping_spec)?;
            let public = pair.public_key_der()?;
            let wrapped = keystore.wrap_secret(&pkcs8, &aad)?;
            Ok::<_, KmsError>((public, wrapped))
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))??;
        let valid_to_ms = now_ms() + IMPORT_TOKEN_TTL_MS;
        self.audit
            .record(
                self.event("kms.key.import_parameters_issued", Outcome::Success, caller, &key_id)
                    .attr("wrapping_key_spec", wrapping_spec.aws_name()),
            )
            .await?;
        self.store
            .kms_put_import_token(&ImportToken {
                key_id: row.id.clone(),
                token: data_encoding::HEXLOWER.encode(&token),
                wrapped,
                algorithm: wrapping_spec.aws_name().to_owned(),
                expires_at: valid_to_ms,
            })
            .await?;
        Ok(ImportParameters { key_id, public_key, import_token: token, valid_to_ms })
    }

    /// Installs the customer's key material, wrapped under the import
    /// parameters' public key, and enables a key that waited for it. The
    /// same material can be imported again (after it expired or was
    /// deleted, or to change its expiry); other material is refused.
    /// `valid_to_ms` makes the material expire then.
    pub async fn import_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
        import_token: &[u8],
        encrypted_material: &[u8],
        valid_to_ms: Option<i64>,
    ) -> Result<KeyMetadata, KmsError> {
        let now = now_ms();
        if let Some(at) = valid_to_ms {
            lifecycle::check_material_expiry(caller.api, at, now)?;
        }
        let row = self.external_key(caller, key, Operation::ImportKeyMaterial).await?;
        let meta = metadata(&row)?;
        let state = lifecycle::material_imported(&meta.state)?;
        let key_id = meta.key_id;
        let stored = match self.store.kms_import_token(&row.id).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => return Err(ImportError::InvalidToken.into()),
            Err(e) => return Err(e.into()),
        };
        let expected =
            data_encoding::HEXLOWER.decode(stored.token.as_bytes()).map_err(|_| ImportError::InvalidToken)?;
        if verify_slices_are_equal(&expected, import_token).is_err() {
            return Err(ImportError::InvalidToken.into());
        }
        if stored.expires_at <= now {
            return Err(ImportError::ExpiredToken.into());
        }
        let wrapping_spec: KeySpec = stored.algorithm.parse()?;
        let keystore = self.keystore.clone();
        let token_aad = token_aad(&key_id, &expected);
        let material_aad = wrap_aad(&key_id, MaterialId::new(1));
        let encrypted = encrypted_material.to_vec();
        let (wrapped, print) = tokio::task::spawn_blocking(move || {
            let pkcs8 = keystore.unwrap_secret(&stored.wrapped, &token_aad)?;
            let pair = Material::from_secret(wrapping_spec, &pkcs8)?;
            let secret = pair.rsa_decrypt(&encrypted).map_err(|_| ImportError::Undecryptable)?;
            // Imported material must be a 256-bit AES key.
            Material::from_secret(KeySpec::SymmetricDefault, &secret).map_err(|_| ImportError::WrongLength)?;
            let print = fingerprint(&key_id, &secret);
            Ok::<_, KmsError>((keystore.wrap_secret(&secret, &material_aad)?, print))
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))??;
        let known = self.store.kms_material_fingerprint(&row.id).await?;
        if known.is_some_and(|k| verify_slices_are_equal(k.as_bytes(), print.as_bytes()).is_err()) {
            return Err(ImportError::NotTheSameMaterial.into());
        }
        let (to, _) = state_name(&state);
        self.audit
            .record(
                self.event("kms.key.material_imported", Outcome::Success, caller, &key_id)
                    .attr("from", row.state.as_str())
                    .attr("expires", valid_to_ms.map(rfc3339)),
            )
            .await?;
        let material = ImportedMaterial {
            keystore: self.keystore.name(),
            wrapped: &wrapped,
            fingerprint: &print,
            expires_at: valid_to_ms,
        };
        let imported = self.store.kms_import_material(&row.id, &row.state, to, &material, now).await;
        self.forget_key(&row.id);
        match imported {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(ImportError::Raced.into()),
            Err(e) => return Err(e.into()),
        }
        self.cache.remove_key(key_id);
        Ok(KeyMetadata { state, current_material: MaterialId::new(1), material_expires_ms: valid_to_ms, ..meta })
    }

    /// Deletes imported material; the key waits for material again and its
    /// ciphertexts stay unreadable until the same material is imported. A
    /// key that holds no material (never imported, expired) is left as is.
    pub async fn delete_imported_key_material(&self, caller: &Caller, key: &KeyRef) -> Result<(), KmsError> {
        let row = self.external_key(caller, key, Operation::DeleteImportedKeyMaterial).await?;
        let key_id = KeyId::parse(&row.id)?;
        lifecycle::material_deleted(&metadata(&row)?.state)?;
        if row.state == "PendingImport" {
            return Ok(());
        }
        self.audit
            .record(
                self.event("kms.key.material_deleted", Outcome::Success, caller, &key_id)
                    .attr("from", row.state.as_str()),
            )
            .await?;
        let deleted = self.store.kms_delete_imported_material(&row.id, now_ms()).await;
        self.forget_key(&row.id);
        match deleted {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(ImportError::Raced.into()),
            Err(e) => return Err(e.into()),
        }
        self.cache.remove_key(key_id);
        Ok(())
    }

    /// Deletes every imported material that has expired at `now`: recorded,
    /// then removed from the database and the cache, the key moved to
    /// `PendingImport`. Safe on several nodes at once: each deletion is a
    /// compare-and-set on the expiry that was due, so a key another node
    /// expired first, or that was re-imported meanwhile, is skipped. Returns
    /// how many this call expired.
    pub async fn expire_due_material(&self, now: i64) -> Result<usize, KmsError> {
        self.ready()?;
        let due = self.store.kms_due_for_material_expiry(now, 100).await?;
        let mut expired = 0;
        for row in &due {
            let Some(at) = row.material_expires_at else { continue };
            let key_id = KeyId::parse(&row.id)?;
            self.audit
                .record(
                    Event::new("kms.key.material_expired", Outcome::Success, "system")
                        .object(key_id.to_string())
                        .tenant(row.tenant_id.clone())
                        .attr("from", row.state.as_str())
                        .attr("expired_at", rfc3339(at)),
                )
                .await?;
            let done = self.store.kms_expire_material(&row.id, at, now).await;
            self.forget_key(&row.id);
            match done {
                Ok(()) => {
                    expired += 1;
                    self.cache.remove_key(key_id);
                }
                // Expired by another node first, or re-imported meanwhile:
                // that change stands, and so does its record.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use super::{ImportError, fingerprint};
    use crate::spec::KeyId;

    #[test]
    fn fingerprints_tell_materials_and_keys_apart_and_hide_the_material() {
        let a = KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        let b = KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ac").unwrap();
        let m = [7u8; 32];
        assert_eq!(fingerprint(&a, &m), fingerprint(&a, &m), "stable");
        assert_ne!(fingerprint(&a, &m), fingerprint(&a, &[8u8; 32]), "other material");
        assert_ne!(fingerprint(&a, &m), fingerprint(&b, &m), "the same material under another key");
        assert_eq!(fingerprint(&a, &m).len(), 64);
        assert!(!fingerprint(&a, &m).contains("0707070707"), "no material in it");
    }

    #[test]
    fn import_errors_have_the_names_the_sdks_know() {
        assert_eq!(ImportError::NotTheSameMaterial.aws_type(), "IncorrectKeyMaterialException");
        assert_eq!(ImportError::NotTheSameMaterial.tc_code(), "InvalidParameterValue.MaterialNotMatch");
        assert_eq!(ImportError::ExpiredToken.aws_type(), "ExpiredImportTokenException");
        assert_eq!(ImportError::NotExternal.tc_code(), "UnsupportedOperation.NotExternalCmk");
    }
}
