//! The two kinds of raw symmetric key this crate handles: a key's material
//! (one version of a `SYMMETRIC_DEFAULT` key) and the root wrapping key that
//! protects stored material.
//!
//! Both live only in zeroizing buffers, are not `Clone` (so copies are
//! deliberate and rare), print as `[REDACTED]` in `Debug`, and expose their
//! bytes only inside this crate. Nothing here may log, persist or format the
//! bytes.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::BlobError;

/// Length in bytes of material and wrapping keys (AES-256).
pub const KEY_LEN: usize = 32;

/// One version of a symmetric key's material: 32 random bytes. Ciphertexts
/// are never made with it directly but with a key derived per call.
pub struct MaterialKey(Zeroizing<[u8; KEY_LEN]>);

impl MaterialKey {
    /// Fresh material from the operating system's random generator.
    pub fn generate() -> Result<Self, BlobError> {
        random_key().map(MaterialKey)
    }

    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        MaterialKey(bytes)
    }

    /// Copies material out of a buffer (imported or unwrapped material),
    /// refusing any length but 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        copy_key(bytes).map(MaterialKey)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MaterialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaterialKey([REDACTED])")
    }
}

/// The root key under which the software keystore wraps key material for
/// storage.
pub struct WrappingKey(Zeroizing<[u8; KEY_LEN]>);

impl WrappingKey {
    pub fn generate() -> Result<Self, BlobError> {
        random_key().map(WrappingKey)
    }

    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        WrappingKey(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        copy_key(bytes).map(WrappingKey)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WrappingKey([REDACTED])")
    }
}

fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, BlobError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    SystemRandom::new().fill(key.as_mut()).map_err(|_| BlobError::Internal)?;
    Ok(key)
}

fn copy_key(bytes: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    if bytes.len() != KEY_LEN {
        return None;
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(bytes);
    Some(key)
}
