//! Keys for imported material (origin `EXTERNAL`): created without
//! material in `PendingImport`; `GetParametersForImport` hands out a fresh
//! RSA wrapping public key and a one-time import token valid for 24 hours;
//! `ImportKeyMaterial` takes the customer's 256-bit key wrapped with
//! RSAES-OAEP-SHA-256 under it, unwraps it inside this crate, wraps it with
//! the keystore like generated material, and enables the key;
//! `DeleteImportedKeyMaterial` removes it again. Expiring material
//! (`ValidTo`) is refused for now: nothing would enforce the expiry.
//!
//! The wrapping private key is itself stored wrapped by the keystore and is
//! deleted when used or replaced. Only `SYMMETRIC_DEFAULT` keys take
//! imported material here.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use rampart_core::Outcome;
use rampart_core::time::now_ms;
use rampart_store::{ImportToken, KmsKeyRow};

use super::{Caller, KeyMetadata, Kms, KmsError, metadata, wrap_aad};
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
            return Err(KmsError::Unsupported("the key's material was not imported (origin is not EXTERNAL)".into()));
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
    /// parameters' public key, and enables the key. `valid_to_ms` makes the
    /// material expire (it is then deleted and the key waits again).
    pub async fn import_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
        import_token: &[u8],
        encrypted_material: &[u8],
        valid_to_ms: Option<i64>,
    ) -> Result<KeyMetadata, KmsError> {
        let row = self.external_key(caller, key, Operation::ImportKeyMaterial).await?;
        let key_id = KeyId::parse(&row.id)?;
        let invalid = || KmsError::Invalid("the import token is not valid for this key; get new parameters".into());
        let stored = match self.store.kms_import_token(&row.id).await {
            Ok(t) => t,
            Err(rampart_store::StoreError::NotFound) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        let expected = data_encoding::HEXLOWER.decode(stored.token.as_bytes()).map_err(|_| invalid())?;
        if verify_slices_are_equal(&expected, import_token).is_err() || stored.expires_at <= now_ms() {
            return Err(invalid());
        }
        if valid_to_ms.is_some() {
            // Refused rather than stored and never enforced: there is no
            // expiry sweep for imported material yet.
            return Err(KmsError::Unsupported(
                "expiring key material is not supported; use ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
            ));
        }
        let wrapping_spec: KeySpec = stored.algorithm.parse()?;
        let keystore = self.keystore.clone();
        let token_aad = token_aad(&key_id, &expected);
        let material_aad = wrap_aad(&key_id, MaterialId::new(1));
        let encrypted = encrypted_material.to_vec();
        let wrapped = tokio::task::spawn_blocking(move || {
            let pkcs8 = keystore.unwrap_secret(&stored.wrapped, &token_aad)?;
            let pair = Material::from_secret(wrapping_spec, &pkcs8)?;
            let secret = pair.rsa_decrypt(&encrypted).map_err(|_| {
                KmsError::Invalid("the key material does not decrypt with the import parameters".into())
            })?;
            // Imported material must be a 256-bit AES key.
            Material::from_secret(KeySpec::SymmetricDefault, &secret)
                .map_err(|_| KmsError::Invalid("imported key material must be 32 bytes".into()))?;
            Ok::<_, KmsError>(keystore.wrap_secret(&secret, &material_aad)?)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))??;
        let meta = metadata(&row)?;
        let state = lifecycle::material_imported(&meta.state)?;
        self.audit
            .record(
                self.event("kms.key.material_imported", Outcome::Success, caller, &key_id)
                    .attr("expires", valid_to_ms.map(rampart_core::time::rfc3339)),
            )
            .await?;
        self.store.kms_import_material(&row.id, self.keystore.name(), &wrapped, valid_to_ms, now_ms()).await?;
        self.forget_key(&row.id);
        self.cache.remove_key(key_id);
        Ok(KeyMetadata { state, current_material: MaterialId::new(1), material_expires_ms: valid_to_ms, ..meta })
    }

    /// Deletes imported material; the key waits for material again and its
    /// ciphertexts stay unreadable until the same material is imported.
    pub async fn delete_imported_key_material(&self, caller: &Caller, key: &KeyRef) -> Result<(), KmsError> {
        let row = self.external_key(caller, key, Operation::DeleteImportedKeyMaterial).await?;
        let key_id = KeyId::parse(&row.id)?;
        lifecycle::material_deleted(&metadata(&row)?.state)?;
        self.audit.record(self.event("kms.key.material_deleted", Outcome::Success, caller, &key_id)).await?;
        self.store.kms_delete_imported_material(&row.id, now_ms()).await?;
        self.forget_key(&row.id);
        self.cache.remove_key(key_id);
        Ok(())
    }
}
