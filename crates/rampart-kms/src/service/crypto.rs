//! The cryptographic operations of the service: symmetric encryption and
//! data keys through the versioned blob, RSA-OAEP, signatures, MACs, data
//! key pairs and random bytes. Each checks the key's state and type, records
//! its audit event (key, material version, algorithm, a keyed hash of the
//! encryption context; never data or key material), and only then computes.

use std::sync::Arc;

use rampart_core::Outcome;
use zeroize::Zeroizing;

use super::{Caller, Kms, KmsError};
use crate::blob::{self, BlobError};
use crate::context::EncryptionContext;
use crate::keystore::ResidentCipher;
use crate::lifecycle::Operation;
use crate::material::{self, Material, MessageType};
use crate::spec::{EncryptionAlgorithm, KeyId, KeyRef, KeySpec, KeyType, MacAlgorithm, SigningAlgorithm, SpecError};

/// The most bytes `Encrypt`, `Sign` (raw) and `GenerateMac` take, as in AWS.
pub const MAX_MESSAGE: usize = 4096;

/// A fresh data key pair: the private key (PKCS#8 DER) in plaintext when
/// asked for, always encrypted under the KMS key, and the public key
/// (SubjectPublicKeyInfo DER).
#[derive(Debug)]
pub struct DataKeyPair {
    pub private_plaintext: Option<Zeroizing<Vec<u8>>>,
    pub private_ciphertext: Vec<u8>,
    pub public_key: Vec<u8>,
}

/// A key's public half as `GetPublicKey` describes it.
#[derive(Debug, Clone)]
pub struct PublicKeyInfo {
    pub key_id: KeyId,
    pub key_type: KeyType,
    pub der: Vec<u8>,
}

fn key_type(meta: &super::KeyMetadata) -> Result<KeyType, KmsError> {
    Ok(KeyType::new(meta.spec, Some(meta.usage))?)
}

impl Kms {
    /// Seals a symmetric blob: inline under software material, on a
    /// blocking thread inside the HSM for a resident key.
    async fn seal_blob(
        &self,
        material: &Arc<Material>,
        key_id: KeyId,
        material_id: crate::spec::MaterialId,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let Material::Resident { label } = &**material else {
            return Ok(blob::encrypt(material.symmetric()?, key_id, material_id, plaintext, context)?);
        };
        let (keystore, label) = (self.keystore.clone(), label.clone());
        let (plaintext, context) = (Zeroizing::new(plaintext.to_vec()), context.clone());
        tokio::task::spawn_blocking(move || {
            let keys = keystore.resident().ok_or(BlobError::Internal)?;
            blob::encrypt(&ResidentCipher { keys, label: &label }, key_id, material_id, &plaintext, &context)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))?
        .map_err(KmsError::from)
    }

    /// Opens a symmetric blob whose header named `material`.
    async fn open_blob(
        &self,
        material: &Arc<Material>,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let Material::Resident { label } = &**material else {
            let symmetric = material.symmetric()?;
            return Ok(blob::decrypt(|_, _| Some(symmetric), ciphertext, context)?);
        };
        let (keystore, label) = (self.keystore.clone(), label.clone());
        let (ciphertext, context) = (ciphertext.to_vec(), context.clone());
        tokio::task::spawn_blocking(move || {
            let keys = keystore.resident().ok_or(BlobError::Internal)?;
            let cipher = ResidentCipher { keys, label: &label };
            blob::decrypt(|_, _| Some(&cipher), &ciphertext, &context)
        })
        .await
        .map_err(|e| KmsError::Internal(e.to_string()))?
        .map_err(KmsError::from)
    }

    /// Encrypts under the key's current material: the symmetric blob for a
    /// `SYMMETRIC_DEFAULT` key, raw RSAES-OAEP-SHA-256 for an RSA key.
    pub async fn encrypt(
        &self,
        caller: &Caller,
        key: &KeyRef,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(KeyId, Vec<u8>), KmsError> {
        if plaintext.is_empty() || plaintext.len() > MAX_MESSAGE {
            return Err(KmsError::Invalid("the plaintext must be 1 to 4096 bytes".into()));
        }
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, Operation::Encrypt).await?;
        key_type(&meta)?.check_encryption(algorithm)?;
        if algorithm == EncryptionAlgorithm::RsaesOaepSha256 && !context.is_empty() {
            return Err(KmsError::Invalid("asymmetric encryption takes no encryption context".into()));
        }
        let material = self.material(&meta.key_id, meta.spec, meta.current_material).await?;
        self.audit
            .record(
                self.event("kms.encrypt", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", meta.current_material.get())
                    .attr("algorithm", algorithm.aws_name())
                    .attr("context_hash", self.context_hash(context)),
            )
            .await?;
        let out = match algorithm {
            EncryptionAlgorithm::SymmetricDefault => {
                self.seal_blob(&material, meta.key_id, meta.current_material, plaintext, context).await?
            }
            EncryptionAlgorithm::RsaesOaepSha256 => material.rsa_encrypt(plaintext)?,
        };
        Ok((meta.key_id, out))
    }

    /// Decrypts a blob of one of the caller's keys; `expected` (when given)
    /// must name the key the blob was made with. An RSA ciphertext carries
    /// no key id, so for `RSAES_OAEP_SHA_256` the key must be named.
    pub async fn decrypt(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &EncryptionContext,
        expected: Option<&KeyRef>,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(KeyId, Zeroizing<Vec<u8>>), KmsError> {
        if algorithm == EncryptionAlgorithm::RsaesOaepSha256 {
            let key = expected.ok_or_else(|| KmsError::Invalid("KeyId is required for asymmetric keys".into()))?;
            return self.decrypt_rsa(caller, ciphertext, key).await;
        }
        let (header, row) = match expected {
            // A named key answers for itself first: one that does not exist
            // is not found, one of the wrong kind (an HMAC key, a signing
            // key) is the wrong usage, whatever the ciphertext holds.
            Some(k) => {
                let named = self.resolve(caller, k).await?;
                self.authorize(caller, &named, Operation::Decrypt).await?;
                key_type(&super::metadata(&named)?)?.check_encryption(algorithm)?;
                let header = blob::parse_header(ciphertext)?;
                if header.key_id.to_string() != named.id {
                    return Err(KmsError::IncorrectKey);
                }
                (header, named)
            }
            None => {
                let header = blob::parse_header(ciphertext)?;
                let row = self.resolve(caller, &KeyRef::Id(header.key_id)).await.map_err(|e| match e {
                    // A blob of an unknown (or another tenant's) key is just invalid.
                    KmsError::NotFound => KmsError::Blob(BlobError::InvalidCiphertext),
                    other => other,
                })?;
                (header, row)
            }
        };
        let meta = self.permit(caller, &row, Operation::Decrypt).await?;
        key_type(&meta)?.check_encryption(algorithm)?;
        let material = match self.material(&meta.key_id, meta.spec, header.material_id).await {
            Ok(m) => m,
            Err(KmsError::NotFound) => return Err(KmsError::Blob(BlobError::InvalidCiphertext)),
            Err(e) => return Err(e),
        };
        if !matches!(*material, Material::Symmetric(_) | Material::Resident { .. }) {
            return Err(crate::material::MaterialError::WrongKind.into());
        }
        self.audit
            .record(
                self.event("kms.decrypt", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", header.material_id.get())
                    .attr("algorithm", algorithm.aws_name())
                    .attr("context_hash", self.context_hash(context)),
            )
            .await?;
        let plaintext = self.open_blob(&material, ciphertext, context).await?;
        Ok((meta.key_id, plaintext))
    }

    async fn decrypt_rsa(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        key: &KeyRef,
    ) -> Result<(KeyId, Zeroizing<Vec<u8>>), KmsError> {
        let oaep = EncryptionAlgorithm::RsaesOaepSha256;
        let (meta, material) = self.usable_key(caller, key, Operation::Decrypt, |t| t.check_encryption(oaep)).await?;
        self.audit
            .record(
                self.event("kms.decrypt", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", meta.current_material.get())
                    .attr("algorithm", EncryptionAlgorithm::RsaesOaepSha256.aws_name()),
            )
            .await?;
        let plaintext = material.rsa_decrypt(ciphertext)?;
        Ok((meta.key_id, plaintext))
    }

    /// A fresh data key: its plaintext and its blob under the key.
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        bytes: usize,
        context: &EncryptionContext,
    ) -> Result<(KeyId, blob::DataKey), KmsError> {
        let sym = EncryptionAlgorithm::SymmetricDefault;
        let (meta, material) =
            self.usable_key(caller, key, Operation::GenerateDataKey, |t| t.check_encryption(sym)).await?;
        self.audit
            .record(
                self.event("kms.generate_data_key", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", meta.current_material.get())
                    .attr("bytes", bytes)
                    .attr("context_hash", self.context_hash(context)),
            )
            .await?;
        let data_key = match &*material {
            Material::Resident { .. } => {
                // The data key is drawn here, as for software material; only
                // its sealing happens inside the HSM.
                if !(1..=blob::DATA_KEY_MAX).contains(&bytes) {
                    return Err(BlobError::DataKeyLength.into());
                }
                let mut plaintext = Zeroizing::new(vec![0u8; bytes]);
                aws_lc_rs::rand::fill(plaintext.as_mut_slice()).map_err(|_| BlobError::Internal)?;
                let blob = self.seal_blob(&material, meta.key_id, meta.current_material, &plaintext, context).await?;
                blob::DataKey::new(plaintext, blob)
            }
            other => blob::generate_data_key(other.symmetric()?, meta.key_id, meta.current_material, bytes, context)?,
        };
        Ok((meta.key_id, data_key))
    }

    /// A fresh asymmetric data key pair of `pair_spec`, its private key
    /// encrypted under a symmetric KMS key.
    pub async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        key: &KeyRef,
        pair_spec: KeySpec,
        context: &EncryptionContext,
        with_plaintext: bool,
    ) -> Result<(KeyId, DataKeyPair), KmsError> {
        use KeySpec::*;
        if !matches!(pair_spec, EccNistP256 | EccNistP384 | Rsa2048 | Rsa3072 | Rsa4096) {
            return Err(KmsError::Invalid(format!("{pair_spec} is not a data key pair spec")));
        }
        let op = if with_plaintext {
            Operation::GenerateDataKeyPair
        } else {
            Operation::GenerateDataKeyPairWithoutPlaintext
        };
        let sym = EncryptionAlgorithm::SymmetricDefault;
        let (meta, material) = self.usable_key(caller, key, op, |t| t.check_encryption(sym)).await?;
        self.audit
            .record(
                self.event("kms.generate_data_key_pair", Outcome::Success, caller, &meta.key_id)
                    .attr("material_id", meta.current_material.get())
                    .attr("key_pair_spec", pair_spec.aws_name())
                    .attr("context_hash", self.context_hash(context)),
            )
            .await?;
        let (private, public_key) = tokio::task::spawn_blocking(move || material::generate_key_pair(pair_spec))
            .await
            .map_err(|e| KmsError::Internal(e.to_string()))??;
        let private_ciphertext =
            self.seal_blob(&material, meta.key_id, meta.current_material, &private, context).await?;
        let pair = DataKeyPair { private_plaintext: with_plaintext.then_some(private), private_ciphertext, public_key };
        Ok((meta.key_id, pair))
    }

    /// The public key of an asymmetric key.
    pub async fn get_public_key(&self, caller: &Caller, key: &KeyRef) -> Result<PublicKeyInfo, KmsError> {
        let (meta, material) = self.usable_key(caller, key, Operation::GetPublicKey, KeyType::check_public_key).await?;
        let der = material.public_key_der()?;
        self.audit.record(self.event("kms.get_public_key", Outcome::Success, caller, &meta.key_id)).await?;
        Ok(PublicKeyInfo { key_id: meta.key_id, key_type: key_type(&meta)?, der })
    }

    /// Signs a message (at most 4096 bytes) or its digest.
    pub async fn sign(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        kind: MessageType,
        algorithm: SigningAlgorithm,
    ) -> Result<(KeyId, Vec<u8>), KmsError> {
        check_message(message)?;
        let (meta, material) = self.usable_key(caller, key, Operation::Sign, |t| t.check_signing(algorithm)).await?;
        self.audit
            .record(
                self.event("kms.sign", Outcome::Success, caller, &meta.key_id)
                    .attr("algorithm", algorithm.aws_name())
                    .attr("message_type", message_type_name(kind)),
            )
            .await?;
        let sig = material.sign(algorithm, message, kind)?;
        Ok((meta.key_id, sig))
    }

    /// Whether `signature` is valid for the message under the key. An
    /// invalid signature is an answer (`false`), not an error.
    pub async fn verify(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        kind: MessageType,
        algorithm: SigningAlgorithm,
        signature: &[u8],
    ) -> Result<(KeyId, bool), KmsError> {
        check_message(message)?;
        let (meta, material) = self.usable_key(caller, key, Operation::Verify, |t| t.check_signing(algorithm)).await?;
        let valid = material.verify(algorithm, message, kind, signature)?;
        let outcome = if valid { Outcome::Success } else { Outcome::Failure };
        self.audit
            .record(
                self.event("kms.verify", outcome, caller, &meta.key_id)
                    .attr("algorithm", algorithm.aws_name())
                    .attr("message_type", message_type_name(kind)),
            )
            .await?;
        Ok((meta.key_id, valid))
    }

    /// The key a cryptographic call names, after its policy, its state and
    /// `check` (the key type permits the algorithm) all agree, with the
    /// material of its current version.
    async fn usable_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: Operation,
        check: impl FnOnce(KeyType) -> Result<(), SpecError>,
    ) -> Result<(super::KeyMetadata, Arc<Material>), KmsError> {
        let row = self.resolve(caller, key).await?;
        let meta = self.permit(caller, &row, op).await?;
        check(key_type(&meta)?)?;
        let material = self.material(&meta.key_id, meta.spec, meta.current_material).await?;
        Ok((meta, material))
    }

    /// The HMAC of a message (at most 4096 bytes) under an HMAC key.
    pub async fn generate_mac(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        algorithm: MacAlgorithm,
    ) -> Result<(KeyId, Vec<u8>), KmsError> {
        check_message(message)?;
        let (meta, material) = self.usable_key(caller, key, Operation::GenerateMac, |t| t.check_mac(algorithm)).await?;
        self.audit
            .record(
                self.event("kms.generate_mac", Outcome::Success, caller, &meta.key_id)
                    .attr("algorithm", algorithm.aws_name()),
            )
            .await?;
        Ok((meta.key_id, material.mac(algorithm, message)?))
    }

    /// Whether `mac` is the HMAC of the message, compared in constant time.
    pub async fn verify_mac(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        algorithm: MacAlgorithm,
        mac: &[u8],
    ) -> Result<(KeyId, bool), KmsError> {
        check_message(message)?;
        let (meta, material) = self.usable_key(caller, key, Operation::VerifyMac, |t| t.check_mac(algorithm)).await?;
        let valid = material.verify_mac(algorithm, message, mac)?;
        let outcome = if valid { Outcome::Success } else { Outcome::Failure };
        self.audit
            .record(self.event("kms.verify_mac", outcome, caller, &meta.key_id).attr("algorithm", algorithm.aws_name()))
            .await?;
        Ok((meta.key_id, valid))
    }

    /// `len` random bytes (1–1024) from the operating system's generator.
    /// No key is involved, but the call is recorded like every other.
    pub async fn generate_random(&self, caller: &Caller, len: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.ready()?;
        if !(1..=1024).contains(&len) {
            return Err(KmsError::Invalid("NumberOfBytes must be 1 to 1024".into()));
        }
        self.audit
            .record(
                rampart_core::Event::new("kms.generate_random", Outcome::Success, &caller.actor)
                    .tenant(caller.tenant.clone())
                    .source(caller.source.clone())
                    .attr("bytes", len),
            )
            .await?;
        Ok(material::generate_random(len)?)
    }
}

fn check_message(message: &[u8]) -> Result<(), KmsError> {
    if message.is_empty() || message.len() > MAX_MESSAGE {
        return Err(KmsError::Invalid("the message must be 1 to 4096 bytes".into()));
    }
    Ok(())
}

fn message_type_name(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Raw => "RAW",
        MessageType::Digest => "DIGEST",
    }
}
