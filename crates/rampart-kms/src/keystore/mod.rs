//! Keystores: where the root wrapping key lives, and the one seam through
//! which the KMS service wraps key material for storage and unwraps it again.
//!
//! Three keystores implement [`Keystore`]: [`SoftwareKeystore`] (`software.rs`)
//! holds a 32-byte root key in memory, sealed at rest by a mode-0600 key file
//! or by Shamir shares held by operators; [`SealedKeystore`] (`sealed.rs`)
//! wraps it for the Shamir seal, refusing everything until enough shares
//! have been entered and again once it is sealed; [`Pkcs11Keystore`] (`pkcs11.rs`)
//! keeps the root key inside a PKCS#11 token, which encrypts and decrypts
//! with it but never lets it out. [`UnwrapCache`] (`cache.rs`) keeps recently
//! unwrapped material for a bounded time, so the HSM is not on every
//! request's path.
//!
//! Every error here is a [`KeystoreError`] whose message names a file, a
//! token, a label or a PKCS#11 return code, and never any key material.

use zeroize::Zeroizing;

use crate::blob::{BlobCipher, BlobError, Header, MaterialKey};

mod cache;
pub mod pkcs11;
pub mod sealed;
pub mod software;

pub use cache::{CacheStats, UnwrapCache};
pub use pkcs11::{Attempt, ExtractionReport, Pkcs11Config, Pkcs11Keystore};
pub use sealed::{SealRecord, SealStatus, SealedKeystore, UnsealError};
pub use software::{SHARE_PREFIX, SoftwareKeystore};

/// Where the root wrapping key lives. The service records [`Keystore::name`]
/// beside each wrapped material, so it knows which keystore can unwrap it.
///
/// Implementations are shared between request handlers, hence `Send + Sync`;
/// their `Debug` output shows configuration only, never a key or a PIN.
pub trait Keystore: Send + Sync + std::fmt::Debug {
    /// A short name recorded beside each wrapped material ("software", "pkcs11").
    fn name(&self) -> &'static str;

    /// Wraps any secret (an asymmetric private key in PKCS#8, an HMAC key)
    /// for storage, bound to `aad` (the key id and material id).
    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeystoreError>;

    /// Unwraps what [`Keystore::wrap_secret`] produced with the same `aad`.
    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError>;

    /// Wraps key material for storage, bound to `aad` (the key id and material id).
    fn wrap(&self, material: &MaterialKey, aad: &[u8]) -> Result<Vec<u8>, KeystoreError> {
        self.wrap_secret(material.expose(), aad)
    }

    /// Unwraps what `wrap` produced with the same `aad`; a wrapped secret of
    /// any length but 32 bytes is refused as [`KeystoreError::Unwrap`].
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<MaterialKey, KeystoreError> {
        let secret = self.unwrap_secret(wrapped, aad)?;
        MaterialKey::from_slice(&secret).ok_or(KeystoreError::Unwrap)
    }

    /// Keys generated and used inside the keystore, for a keystore that can
    /// hold them (an HSM); `None` for one that cannot (the software one).
    fn resident(&self) -> Option<&dyn ResidentKeys> {
        None
    }
}

/// Customer keys that live inside an HSM: generated there as sensitive and
/// non-extractable, used there, destroyed there. Rampart stores only their
/// label. Every call derives a one-time AES-256 key inside the token from
/// the resident key and the call's 32-byte salt and seals with it (AES-GCM,
/// also inside the token), so a resident key never encrypts anything itself
/// and stays as far from GCM's nonce limits as software material does.
pub trait ResidentKeys: Send + Sync {
    /// Generates a resident AES-256 key labelled `label`; refuses a label
    /// that is already taken.
    fn generate(&self, label: &str) -> Result<(), KeystoreError>;

    /// AES-256-GCM of `plaintext` under the call key for `salt`, with
    /// `nonce` and `aad`: returns the ciphertext followed by the 16-byte tag.
    fn seal(
        &self,
        label: &str,
        salt: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeystoreError>;

    /// Opens what [`ResidentKeys::seal`] produced; a wrong tag, salt, nonce
    /// or `aad` is [`KeystoreError::Unwrap`], a missing key
    /// [`KeystoreError::Destroyed`].
    fn open(
        &self,
        label: &str,
        salt: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError>;

    /// Destroys the resident key; `Ok(false)` if there was none.
    fn destroy(&self, label: &str) -> Result<bool, KeystoreError>;

    /// Whether a resident key labelled `label` exists, and that it is
    /// sensitive and not extractable (a key that is not is an error).
    fn exists(&self, label: &str) -> Result<bool, KeystoreError>;
}

/// Why a keystore could not do what was asked. The strings carry paths,
/// labels and return codes for the operator, and never key material, PINs
/// or share text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// The HSM or the key file cannot be reached or used right now.
    #[error("the keystore is unavailable: {0}")]
    Unavailable(String),
    /// The wrapped material is corrupt, or was wrapped under another root
    /// key or for another row. Every such cause is this one error, so a
    /// caller learns nothing about which check failed.
    #[error(
        "key material cannot be unwrapped: it is corrupt, or was wrapped under another root key or for another row"
    )]
    Unwrap,
    /// The keystore is set up wrongly: a missing token or key, a refused
    /// PIN, a key file others can read, malformed or too few shares.
    #[error("keystore configuration: {0}")]
    Config(String),
    /// The root key is sealed by Shamir shares and not (or no longer)
    /// unsealed: nothing can be wrapped or unwrapped until operators enter
    /// enough shares with `rampart operator unseal`.
    #[error("the KMS is sealed: enter the operators' shares with `rampart operator unseal`")]
    Sealed,
    /// A resident key is no longer in the HSM: it was destroyed, for good.
    #[error("the key material was destroyed inside the HSM")]
    Destroyed,
}

impl KeystoreError {
    /// The AWS KMS error type a facade answers with: to a caller every
    /// keystore failure is the service's own, except a sealed keystore,
    /// which is a documented, retryable state (see `KmsError::Sealed`).
    pub fn aws_type(&self) -> &'static str {
        match self {
            KeystoreError::Sealed => "KeyUnavailableException",
            KeystoreError::Destroyed => "KMSInvalidStateException",
            _ => "KMSInternalException",
        }
    }

    /// The Tencent Cloud KMS error code a facade answers with.
    pub fn tc_code(&self) -> &'static str {
        match self {
            KeystoreError::Sealed => "UnsupportedOperation.ServiceTemporaryUnavailable",
            KeystoreError::Destroyed => "ResourceUnavailable.CmkStateNotSupport",
            _ => "InternalError",
        }
    }
}

/// A resident key as a [`BlobCipher`]: blobs under it have the same format
/// as under software material; only where the call key is derived and used
/// differs. Its calls block on the token: run them off the async threads.
pub struct ResidentCipher<'a> {
    pub keys: &'a dyn ResidentKeys,
    pub label: &'a str,
}

impl std::fmt::Debug for ResidentCipher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentCipher").field("label", &self.label).finish_non_exhaustive()
    }
}

fn blob_error(e: KeystoreError) -> BlobError {
    match e {
        KeystoreError::Unwrap => BlobError::InvalidCiphertext,
        KeystoreError::Destroyed => BlobError::Destroyed,
        _ => BlobError::Internal,
    }
}

impl BlobCipher for ResidentCipher<'_> {
    fn seal_into(&self, header: &Header, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), BlobError> {
        let sealed = self.keys.seal(self.label, header.salt(), header.nonce(), aad, plaintext).map_err(blob_error)?;
        out.extend_from_slice(&sealed);
        Ok(())
    }

    fn open(&self, header: &Header, aad: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, BlobError> {
        self.keys.open(self.label, header.salt(), header.nonce(), aad, body).map_err(blob_error)
    }
}

/// The label of a resident key version on the token: names the key and the
/// version, so an operator listing the token sees what each object is.
pub fn resident_label(key: &crate::spec::KeyId, version: crate::spec::MaterialId) -> String {
    format!("rampart-kms/{key}/{}", version.get())
}
