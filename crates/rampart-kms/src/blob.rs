//! The symmetric ciphertext blob that `Encrypt`, `GenerateDataKey` and
//! `ReEncrypt` hand out and `Decrypt` takes back: versioned and
//! self-describing, so the service can find the key and material version
//! before it decrypts. Also data keys, and (in `blob/wrap.rs`) the format
//! that protects stored material. The raw key types are in `blob/keys.rs`.
//!
//! Format version 1, all integers big-endian:
//!
//! ```text
//! "RKMS" | 0x01 | key id (16) | material id (4) | salt (32) | nonce (12) | ciphertext | tag (16)
//! ```
//!
//! The first 69 bytes are the header. Each call draws a fresh 32-byte salt
//! and derives its own AES-256-GCM key with HKDF-SHA256 (salt = the salt,
//! input = the material, info = label, format version, key id and material
//! id), so a material version never encrypts anything itself and cannot come
//! near GCM's limit on random nonces per key, however much it is used. The
//! associated data is the header followed by the canonical encryption
//! context, which binds every header byte and the context to the ciphertext.
//!
//! Every way a blob can be wrong (truncated, altered, another key, another
//! context, an unknown version) is the one error `InvalidCiphertext`, so a
//! caller learns nothing about which check failed. This module must not log,
//! and must never panic on any input.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::context::EncryptionContext;
use crate::spec::{KeyId, MaterialId};

mod keys;
mod wrap;

pub use keys::{KEY_LEN, MaterialKey, WrappingKey};
pub use wrap::{unwrap, unwrap_secret, wrap, wrap_secret};

/// The first bytes of every blob.
pub const MAGIC: [u8; 4] = *b"RKMS";
/// The only format version this code writes and reads.
pub const FORMAT_V1: u8 = 1;
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Length of the header, which is also the associated data's prefix.
pub const HEADER_LEN: usize = MAGIC.len() + 1 + 16 + 4 + SALT_LEN + NONCE_LEN;
/// Bytes a blob adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;
/// AWS's `NumberOfBytes` range for `GenerateDataKey` is 1 to 1024.
pub const DATA_KEY_MAX: usize = 1024;

/// Labels the HKDF info, so keys derived for blobs can never equal keys
/// derived from the same material for another purpose.
const HKDF_LABEL: &[u8] = b"rampart-kms/blob";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("the ciphertext is invalid, or was made under another key or encryption context")]
    InvalidCiphertext,
    #[error("a data key has between 1 and {DATA_KEY_MAX} bytes")]
    DataKeyLength,
    #[error("stored key material cannot be unwrapped: it is corrupt, or was wrapped under another root key or row")]
    Unwrap,
    #[error("the cryptographic backend failed")]
    Internal,
    /// The key's material was resident in an HSM and is no longer there.
    #[error("the key material was destroyed inside the HSM; nothing encrypted under it can be decrypted")]
    Destroyed,
}

impl BlobError {
    /// The AWS KMS error type a facade answers with.
    pub fn aws_type(&self) -> &'static str {
        match self {
            BlobError::InvalidCiphertext => "InvalidCiphertextException",
            BlobError::DataKeyLength => "ValidationException",
            BlobError::Unwrap | BlobError::Internal => "KMSInternalException",
            BlobError::Destroyed => "KMSInvalidStateException",
        }
    }

    /// The Tencent Cloud KMS error code a facade answers with.
    pub fn tc_code(&self) -> &'static str {
        match self {
            BlobError::InvalidCiphertext => "InvalidParameterValue.InvalidCiphertext",
            BlobError::DataKeyLength => "InvalidParameterValue",
            BlobError::Unwrap | BlobError::Internal => "InternalError",
            BlobError::Destroyed => "ResourceUnavailable.CmkStateNotSupport",
        }
    }
}

/// What a blob's header says, readable before decrypting so the service can
/// fetch the key, check its state and pick the material version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format_version: u8,
    pub key_id: KeyId,
    pub material_id: MaterialId,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
}

impl Header {
    fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let fields: [&[u8]; 6] = [
            &MAGIC,
            &[self.format_version],
            self.key_id.as_bytes(),
            &self.material_id.get().to_be_bytes(),
            &self.salt,
            &self.nonce,
        ];
        let mut at = 0;
        for field in fields {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        out
    }
}

/// Reads a blob's header. Anything that is not a version-1 blob with room
/// for a tag is `InvalidCiphertext`.
pub fn parse_header(blob: &[u8]) -> Result<Header, BlobError> {
    const BAD: BlobError = BlobError::InvalidCiphertext;
    if blob.len() < OVERHEAD {
        return Err(BAD);
    }
    let (magic, rest) = blob.split_first_chunk::<4>().ok_or(BAD)?;
    let (&format_version, rest) = rest.split_first().ok_or(BAD)?;
    if *magic != MAGIC || format_version != FORMAT_V1 {
        return Err(BAD);
    }
    let (key_id, rest) = rest.split_first_chunk::<16>().ok_or(BAD)?;
    let (material_id, rest) = rest.split_first_chunk::<4>().ok_or(BAD)?;
    let (salt, rest) = rest.split_first_chunk::<SALT_LEN>().ok_or(BAD)?;
    let (nonce, _) = rest.split_first_chunk::<NONCE_LEN>().ok_or(BAD)?;
    Ok(Header {
        format_version,
        key_id: KeyId::from_bytes(*key_id),
        material_id: MaterialId::new(u32::from_be_bytes(*material_id)),
        salt: *salt,
        nonce: *nonce,
    })
}

/// What seals and opens a blob's body once its header is fixed: software
/// material (a [`MaterialKey`], whose per-call key is derived here with
/// HKDF) or a key resident in an HSM (whose per-call key is derived and
/// used inside the token, see `keystore::ResidentKeys`).
pub trait BlobCipher {
    /// Appends the AES-256-GCM ciphertext of `plaintext` and its tag to
    /// `out` (which holds the header), under the call key of `header`.
    fn seal_into(&self, header: &Header, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), BlobError>;

    /// Opens `body` (ciphertext and tag); any failure is `InvalidCiphertext`
    /// unless the backend itself failed.
    fn open(&self, header: &Header, aad: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, BlobError>;
}

impl BlobCipher for MaterialKey {
    fn seal_into(&self, header: &Header, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), BlobError> {
        let key = call_key(self, header)?;
        let start = out.len();
        out.extend_from_slice(plaintext);
        let sealed = match out.split_at_mut_checked(start) {
            Some((_, body)) => {
                key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(header.nonce), Aad::from(aad), body)
            }
            None => Err(aws_lc_rs::error::Unspecified),
        };
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => Err(BlobError::Internal),
        }
    }

    fn open(&self, header: &Header, aad: &[u8], body: &[u8]) -> Result<Zeroizing<Vec<u8>>, BlobError> {
        let key = call_key(self, header)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(header.nonce), Aad::from(aad), buf.as_mut_slice())
            .map_err(|_| BlobError::InvalidCiphertext)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

impl Header {
    /// The call's salt, from which its one-time key is derived.
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }
}

/// Encrypts `plaintext` under one material version of a key, bound to
/// `context`. Fails only if the random generator or the cipher fails.
pub fn encrypt(
    material: &impl BlobCipher,
    key_id: KeyId,
    material_id: MaterialId,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>, BlobError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| BlobError::Internal)?;
    rng.fill(&mut nonce).map_err(|_| BlobError::Internal)?;
    let header = Header { format_version: FORMAT_V1, key_id, material_id, salt, nonce };
    let header_bytes = header.to_bytes();

    // Reserve the whole blob up front: the plaintext is copied in and then
    // encrypted in place, and a reallocation would leave a copy of it in
    // freed memory.
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&header_bytes);
    let aad = associated_data(&header_bytes, context);
    match material.seal_into(&header, &aad, plaintext, &mut out) {
        Ok(()) => Ok(out),
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// Decrypts a blob. `lookup` returns the material for the header's key id
/// and material id, or `None` if there is none (which is answered as an
/// invalid ciphertext, like every other failure).
pub fn decrypt<'k, C: BlobCipher + 'k>(
    lookup: impl Fn(KeyId, MaterialId) -> Option<&'k C>,
    blob: &[u8],
    context: &EncryptionContext,
) -> Result<Zeroizing<Vec<u8>>, BlobError> {
    let header = parse_header(blob)?;
    let material = lookup(header.key_id, header.material_id).ok_or(BlobError::InvalidCiphertext)?;
    let (header_bytes, body) = blob.split_at_checked(HEADER_LEN).ok_or(BlobError::InvalidCiphertext)?;
    let aad = associated_data(header_bytes, context);
    material.open(&header, &aad, body)
}

/// The per-call key: HKDF-SHA256 from the material, salted with the call's
/// salt, with info binding the format version, key id and material id.
fn call_key(material: &MaterialKey, header: &Header) -> Result<LessSafeKey, BlobError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &header.salt).extract(material.expose());
    let material_id = header.material_id.get().to_be_bytes();
    let info: [&[u8]; 4] = [HKDF_LABEL, &[header.format_version], header.key_id.as_bytes(), &material_id];
    let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| BlobError::Internal)?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn associated_data(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let context = context.canonical();
    let mut aad = Vec::with_capacity(header.len() + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(&context);
    aad
}

/// A data key: its plaintext, for the caller to use and forget, and the
/// blob of it, for the caller to store. `Debug` shows neither.
pub struct DataKey {
    plaintext: Zeroizing<Vec<u8>>,
    ciphertext_blob: Vec<u8>,
}

impl DataKey {
    /// A data key drawn by the caller and sealed elsewhere (inside an HSM).
    pub fn new(plaintext: Zeroizing<Vec<u8>>, ciphertext_blob: Vec<u8>) -> Self {
        DataKey { plaintext, ciphertext_blob }
    }

    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    pub fn ciphertext_blob(&self) -> &[u8] {
        &self.ciphertext_blob
    }

    /// Splits the data key, e.g. to drop the plaintext at once for
    /// `GenerateDataKeyWithoutPlaintext`.
    pub fn into_parts(self) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
        (self.plaintext, self.ciphertext_blob)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &format_args!("[REDACTED; {} bytes]", self.plaintext.len()))
            .field("ciphertext_blob", &format_args!("[{} bytes]", self.ciphertext_blob.len()))
            .finish()
    }
}

/// Generates a random data key of `len` bytes (32 for `AES_256`, 16 for
/// `AES_128`) and its blob under the given material.
pub fn generate_data_key(
    material: &impl BlobCipher,
    key_id: KeyId,
    material_id: MaterialId,
    len: usize,
    context: &EncryptionContext,
) -> Result<DataKey, BlobError> {
    if !(1..=DATA_KEY_MAX).contains(&len) {
        return Err(BlobError::DataKeyLength);
    }
    let mut plaintext = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new().fill(plaintext.as_mut_slice()).map_err(|_| BlobError::Internal)?;
    let ciphertext_blob = encrypt(material, key_id, material_id, &plaintext, context)?;
    Ok(DataKey { plaintext, ciphertext_blob })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_id() -> KeyId {
        KeyId::from_bytes([0x11; 16])
    }

    #[test]
    fn header_layout_is_as_documented() {
        let material = MaterialKey::from_bytes(Zeroizing::new([9; 32]));
        let blob =
            encrypt(&material, key_id(), MaterialId::new(0x0102_0304), b"hi", &EncryptionContext::empty()).unwrap();
        assert_eq!(HEADER_LEN, 69);
        assert_eq!(blob.len(), OVERHEAD + 2);
        assert_eq!(&blob[..4], b"RKMS");
        assert_eq!(blob[4], 1);
        assert_eq!(&blob[5..21], &[0x11; 16]);
        assert_eq!(&blob[21..25], &[1, 2, 3, 4]);
        let header = parse_header(&blob).unwrap();
        assert_eq!(header.to_bytes().as_slice(), &blob[..HEADER_LEN]);
        assert_eq!((header.key_id, header.material_id), (key_id(), MaterialId::new(0x0102_0304)));
    }

    #[test]
    fn each_call_uses_a_fresh_salt_and_derived_key() {
        let material = MaterialKey::from_bytes(Zeroizing::new([9; 32]));
        let ctx = EncryptionContext::empty();
        let a = encrypt(&material, key_id(), MaterialId::new(1), b"same", &ctx).unwrap();
        let b = encrypt(&material, key_id(), MaterialId::new(1), b"same", &ctx).unwrap();
        let (ha, hb) = (parse_header(&a).unwrap(), parse_header(&b).unwrap());
        assert_ne!(ha.salt, hb.salt);
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
        // The body is not AES-GCM under the material itself: opening it with
        // the material directly fails, because the key is derived per call.
        let direct = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9; 32]).unwrap());
        let mut body = a[HEADER_LEN..].to_vec();
        let aad = associated_data(&a[..HEADER_LEN], &ctx);
        assert!(direct.open_in_place(Nonce::assume_unique_for_key(ha.nonce), Aad::from(&aad), &mut body).is_err());
    }

    #[test]
    fn the_derived_key_depends_on_key_id_and_material_id() {
        let material = MaterialKey::from_bytes(Zeroizing::new([9; 32]));
        let header = Header {
            format_version: FORMAT_V1,
            key_id: key_id(),
            material_id: MaterialId::new(1),
            salt: [5; SALT_LEN],
            nonce: [0; NONCE_LEN],
        };
        let seal = |h: &Header| {
            let mut buf = *b"probe";
            let tag = call_key(&material, h)
                .unwrap()
                .seal_in_place_separate_tag(Nonce::assume_unique_for_key(h.nonce), Aad::empty(), &mut buf)
                .unwrap();
            (buf, tag.as_ref().to_vec())
        };
        let base = seal(&header);
        assert_eq!(base, seal(&header), "derivation is deterministic");
        assert_ne!(base, seal(&Header { key_id: KeyId::from_bytes([0x12; 16]), ..header }));
        assert_ne!(base, seal(&Header { material_id: MaterialId::new(2), ..header }));
        assert_ne!(base, seal(&Header { salt: [6; SALT_LEN], ..header }));
    }

    #[test]
    fn error_codes_follow_each_api() {
        assert_eq!(BlobError::InvalidCiphertext.aws_type(), "InvalidCiphertextException");
        assert_eq!(BlobError::InvalidCiphertext.tc_code(), "InvalidParameterValue.InvalidCiphertext");
    }
}
