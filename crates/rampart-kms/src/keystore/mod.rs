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

use crate::blob::MaterialKey;

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
}

impl KeystoreError {
    /// The AWS KMS error type a facade answers with: to a caller every
    /// keystore failure is the service's own, except a sealed keystore,
    /// which is a documented, retryable state (see `KmsError::Sealed`).
    pub fn aws_type(&self) -> &'static str {
        match self {
            KeystoreError::Sealed => "KeyUnavailableException",
            _ => "KMSInternalException",
        }
    }

    /// The Tencent Cloud KMS error code a facade answers with.
    pub fn tc_code(&self) -> &'static str {
        match self {
            KeystoreError::Sealed => "UnsupportedOperation.ServiceTemporaryUnavailable",
            _ => "InternalError",
        }
    }
}
