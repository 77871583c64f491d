//! Envelope encryption with this KMS in the AWS Encryption SDK v2 message
//! format: what the rest of Rampart uses to encrypt its own blobs (session
//! recordings, evidence files, exports), and what `rampart kms
//! encrypt-file` writes. Each message gets a fresh data key from
//! `GenerateDataKey` under a KMS key; its encrypted copy travels in the
//! message header as an `aws-kms` encrypted data key naming the key's ARN,
//! so the real `aws-encryption-cli` pointed at this KMS decrypts the same
//! files, and the other way round.
//!
//! [`KmsKeyProvider`] is the [`DataKeyProvider`] that asks the service. The
//! format layer is synchronous (it streams through `Read` and `Write`), the
//! service is asynchronous: the provider runs the service's futures to
//! completion on the runtime's handle, so it must be used from a blocking
//! thread (`tokio::task::spawn_blocking`), which [`Kms::envelope_encrypt`]
//! and [`Kms::envelope_decrypt`] do.

use std::io::{Read, Write};

use tokio::runtime::Handle;
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::esdk::{
    self, AlgorithmSuite, DataKeyProvider, EncryptOptions, EncryptedDataKey, EsdkError, Limits, Summary,
};
use crate::service::{Caller, Kms, KmsError};
use crate::spec::{Arn, ArnResource, EncryptionAlgorithm, KeyRef, account_id};

/// The provider id the AWS Encryption SDK gives KMS data keys.
pub const AWS_KMS_PROVIDER: &str = "aws-kms";

/// Data keys from this KMS for one caller and one key.
#[derive(Debug)]
pub struct KmsKeyProvider {
    kms: Kms,
    caller: Caller,
    /// The key new data keys are made under; `None` only decrypts.
    key: Option<KeyRef>,
    region: String,
    handle: Handle,
}

impl KmsKeyProvider {
    /// A provider on the current runtime; call it from a blocking thread.
    pub fn new(kms: Kms, caller: Caller, key: Option<KeyRef>, region: impl Into<String>) -> Result<Self, KmsError> {
        let handle = Handle::try_current().map_err(|_| KmsError::Internal("no async runtime".into()))?;
        Ok(KmsKeyProvider { kms, caller, key, region: region.into(), handle })
    }
}

impl DataKeyProvider for KmsKeyProvider {
    fn generate(
        &self,
        _suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<EncryptedDataKey>), EsdkError> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| EsdkError::provider(KmsError::Invalid("no key to encrypt under".into())))?;
        let (key_id, data_key) = self
            .handle
            .block_on(self.kms.generate_data_key(&self.caller, key, 32, context))
            .map_err(EsdkError::provider)?;
        let mut plaintext = Zeroizing::new([0u8; 32]);
        if data_key.plaintext().len() != 32 {
            return Err(EsdkError::provider(KmsError::Internal("data key of the wrong length".into())));
        }
        plaintext.copy_from_slice(data_key.plaintext());
        let arn = Arn::new(&self.region, &account_id(self.caller.tenant.as_ref()), ArnResource::Key(key_id))
            .map_err(|e| EsdkError::provider(KmsError::from(e)))?;
        let edk = EncryptedDataKey {
            provider_id: AWS_KMS_PROVIDER.to_owned(),
            provider_info: arn.to_string().into_bytes(),
            ciphertext: data_key.ciphertext_blob().to_vec(),
        };
        Ok((plaintext, vec![edk]))
    }

    fn decrypt(
        &self,
        edks: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, EsdkError> {
        let mut last = None;
        for edk in edks.iter().filter(|e| e.provider_id == AWS_KMS_PROVIDER) {
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else { continue };
            let Ok(named) = KeyRef::parse(arn) else { continue };
            let attempt = self.handle.block_on(self.kms.decrypt(
                &self.caller,
                &edk.ciphertext,
                context,
                Some(&named),
                EncryptionAlgorithm::SymmetricDefault,
            ));
            match attempt {
                Ok((_, plain)) if plain.len() == 32 => {
                    let mut key = Zeroizing::new([0u8; 32]);
                    key.copy_from_slice(&plain);
                    return Ok(key);
                }
                Ok(_) => last = Some(KmsError::Internal("data key of the wrong length".into())),
                // Another tenant's or a deleted key: try the next data key.
                Err(e) => last = Some(e),
            }
        }
        Err(EsdkError::provider(last.unwrap_or(KmsError::Invalid("no aws-kms data key in the message".into()))))
    }
}

fn join_error(e: tokio::task::JoinError) -> KmsError {
    KmsError::Internal(e.to_string())
}

fn esdk_error(e: EsdkError) -> KmsError {
    match e {
        EsdkError::Provider(inner) => match inner.downcast::<KmsError>() {
            Ok(kms) => *kms,
            Err(other) => KmsError::Internal(other.to_string()),
        },
        other => KmsError::Invalid(format!("envelope: {other}")),
    }
}

impl Kms {
    /// Encrypts `reader` into `writer` under `key` as an ESDK v2 message
    /// (suite 0x0478: key-committing, unsigned — a blob Rampart writes and
    /// reads itself gains nothing from a signature only the KMS could check).
    pub async fn envelope_encrypt<R, W>(
        &self,
        caller: &Caller,
        key: &KeyRef,
        region: &str,
        context: &EncryptionContext,
        reader: R,
        writer: W,
    ) -> Result<Summary, KmsError>
    where
        R: Read + Send + 'static,
        W: Write + Send + 'static,
    {
        let provider = KmsKeyProvider::new(self.clone(), caller.clone(), Some(key.clone()), region)?;
        let context = context.clone();
        let options = EncryptOptions { suite: AlgorithmSuite::AesGcmCommitKey, ..EncryptOptions::default() };
        tokio::task::spawn_blocking(move || esdk::encrypt(&provider, &context, reader, writer, &options))
            .await
            .map_err(join_error)?
            .map_err(esdk_error)
    }

    /// Decrypts an ESDK v2 message made by [`Kms::envelope_encrypt`] (or by
    /// the AWS Encryption SDK with this KMS), returning the plaintext only
    /// after the whole message verified.
    pub async fn envelope_decrypt(
        &self,
        caller: &Caller,
        message: Vec<u8>,
    ) -> Result<(Zeroizing<Vec<u8>>, EncryptionContext), KmsError> {
        let provider = KmsKeyProvider::new(self.clone(), caller.clone(), None, "")?;
        let (plain, summary) = tokio::task::spawn_blocking(move || {
            esdk::decrypt_to_vec(&provider, std::io::Cursor::new(message), &Limits::default())
        })
        .await
        .map_err(join_error)?
        .map_err(esdk_error)?;
        Ok((plain, summary.header.encryption_context))
    }
}
