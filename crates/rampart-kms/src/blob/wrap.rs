//! The storage format of wrapped key material: what the software keystore
//! writes to the database instead of a plaintext key.
//!
//! Format version 1 is `"RKMW" || 0x01 || nonce (12) || AES-256-GCM
//! ciphertext || tag (16)` under the root wrapping key, with associated data
//! `"RKMW" || 0x01 || caller's aad`. The caller's aad names the row (tenant,
//! key id, material id), so wrapped material copied onto another key's row
//! does not unwrap. The root key wraps one value per key version, so its
//! random 96-bit nonces stay far from GCM's limits.
//!
//! This module must not store, log or format anything it handles.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{MaterialKey, WrappingKey};
use super::{BlobError, TAG_LEN};

const WRAP_MAGIC: [u8; 4] = *b"RKMW";
const WRAP_V1: u8 = 1;
const WRAP_HEADER_LEN: usize = WRAP_MAGIC.len() + 1 + NONCE_LEN;

/// Wraps one version of key material for storage.
pub fn wrap(root: &WrappingKey, material: &MaterialKey, aad: &[u8]) -> Result<Vec<u8>, BlobError> {
    wrap_secret(root, material.expose(), aad)
}

/// Unwraps stored key material; anything but a 32-byte key is refused.
pub fn unwrap(root: &WrappingKey, wrapped: &[u8], aad: &[u8]) -> Result<MaterialKey, BlobError> {
    let secret = unwrap_secret(root, wrapped, aad)?;
    MaterialKey::from_slice(&secret).ok_or(BlobError::Unwrap)
}

/// Wraps any secret (an asymmetric private key in PKCS#8, an HMAC key).
pub fn wrap_secret(root: &WrappingKey, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, BlobError> {
    let key = root_key(root)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| BlobError::Internal)?;
    let mut out = Vec::with_capacity(WRAP_HEADER_LEN + secret.len() + TAG_LEN);
    out.extend_from_slice(&WRAP_MAGIC);
    out.push(WRAP_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(secret);
    let sealed = match out.split_at_mut_checked(WRAP_HEADER_LEN) {
        Some((_, body)) => {
            key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(full_aad(aad)), body)
        }
        None => Err(aws_lc_rs::error::Unspecified),
    };
    match sealed {
        Ok(tag) => {
            // The capacity reserved above holds the tag, so this does not
            // reallocate and leave a copy of the secret in freed memory.
            out.extend_from_slice(tag.as_ref());
            Ok(out)
        }
        Err(_) => {
            out.zeroize();
            Err(BlobError::Internal)
        }
    }
}

/// Unwraps a secret wrapped by [`wrap_secret`] under the same root key and aad.
pub fn unwrap_secret(root: &WrappingKey, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    let (header, body) = wrapped.split_at_checked(WRAP_HEADER_LEN).ok_or(BlobError::Unwrap)?;
    let (magic, rest) = header.split_at(WRAP_MAGIC.len());
    let (version, nonce) = rest.split_at(1);
    if magic != WRAP_MAGIC || version != [WRAP_V1] || body.len() < TAG_LEN {
        return Err(BlobError::Unwrap);
    }
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| BlobError::Unwrap)?;
    let key = root_key(root)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len =
        key.open_in_place(nonce, Aad::from(full_aad(aad)), buf.as_mut_slice()).map_err(|_| BlobError::Unwrap)?.len();
    buf.truncate(len);
    Ok(buf)
}

fn root_key(root: &WrappingKey) -> Result<LessSafeKey, BlobError> {
    UnboundKey::new(&AES_256_GCM, root.expose()).map(LessSafeKey::new).map_err(|_| BlobError::Internal)
}

/// Binds the format and version into the associated data, so a future
/// format cannot be confused with this one even under the same root key.
fn full_aad(aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_MAGIC.len() + 1 + aad.len());
    out.extend_from_slice(&WRAP_MAGIC);
    out.push(WRAP_V1);
    out.extend_from_slice(aad);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(byte: u8) -> WrappingKey {
        WrappingKey::from_bytes(Zeroizing::new([byte; 32]))
    }

    #[test]
    fn material_round_trips_under_the_same_root_and_aad() {
        let material = MaterialKey::generate().unwrap();
        let wrapped = wrap(&root(1), &material, b"tenant/key/1").unwrap();
        assert_eq!(wrapped.len(), WRAP_HEADER_LEN + 32 + TAG_LEN);
        let back = unwrap(&root(1), &wrapped, b"tenant/key/1").unwrap();
        assert_eq!(back.expose(), material.expose());
        assert!(!wrapped.windows(32).any(|w| w == material.expose()), "the wrapped form must not contain the key");
    }

    #[test]
    fn another_root_another_row_or_any_change_fails() {
        let material = MaterialKey::generate().unwrap();
        let wrapped = wrap(&root(1), &material, b"row-a").unwrap();
        assert_eq!(unwrap(&root(2), &wrapped, b"row-a").err(), Some(BlobError::Unwrap));
        assert_eq!(unwrap(&root(1), &wrapped, b"row-b").err(), Some(BlobError::Unwrap));
        for i in 0..wrapped.len() * 8 {
            let mut bad = wrapped.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(unwrap(&root(1), &bad, b"row-a").err(), Some(BlobError::Unwrap), "bit {i}");
        }
        for len in 0..wrapped.len() {
            assert_eq!(unwrap(&root(1), &wrapped[..len], b"row-a").err(), Some(BlobError::Unwrap), "length {len}");
        }
    }

    #[test]
    fn secrets_of_other_lengths_wrap_but_do_not_unwrap_as_material() {
        let wrapped = wrap_secret(&root(3), b"pkcs8 bytes of some length", b"row").unwrap();
        assert_eq!(unwrap_secret(&root(3), &wrapped, b"row").unwrap().as_slice(), b"pkcs8 bytes of some length");
        assert_eq!(unwrap(&root(3), &wrapped, b"row").err(), Some(BlobError::Unwrap));
        let empty = wrap_secret(&root(3), b"", b"row").unwrap();
        assert!(unwrap_secret(&root(3), &empty, b"row").unwrap().is_empty());
    }
}
