//! The KMS ciphertext blob under the fuzzer: `rampart_kms::blob::parse_header`
//! on any bytes, then `rampart_kms::blob::decrypt` with one fixed material key
//! ([`MATERIAL`]) that every key id and material id resolve to, so the HKDF
//! and AES-GCM paths run on whatever parses, and an encrypt/decrypt round
//! trip of the input as plaintext. Seeds sealed under [`MATERIAL`] with an
//! empty encryption context decrypt, so mutations start next to valid blobs.

use rampart_kms::blob::{self, MaterialKey};
use rampart_kms::context::EncryptionContext;
use rampart_kms::spec::{KeyId, MaterialId};
use zeroize::Zeroizing;

/// The material every blob is decrypted with: 32 bytes of 0x42.
pub const MATERIAL: [u8; 32] = [0x42; 32];

/// One input: parse, decrypt, and (for 1 to 4096 bytes) a round trip.
pub fn blob(data: &[u8]) {
    let material = MaterialKey::from_bytes(Zeroizing::new(MATERIAL));
    let empty = EncryptionContext::empty();
    let header = blob::parse_header(data);
    let opened = blob::decrypt(|_, _| Some(&material), data, &empty);
    assert!(header.is_ok() || opened.is_err(), "a blob whose header does not parse decrypted");
    if data.is_empty() || data.len() > 4096 {
        return;
    }
    let key_id = KeyId::from_bytes([7; 16]);
    let Ok(sealed) = blob::encrypt(&material, key_id, MaterialId::new(1), data, &empty) else {
        panic!("encrypting in memory failed");
    };
    let parsed = blob::parse_header(&sealed).map(|h| (h.key_id, h.material_id.get()));
    assert_eq!(parsed, Ok((key_id, 1)), "the header reads back");
    let back = blob::decrypt(|_, _| Some(&material), &sealed, &empty);
    assert_eq!(back.as_deref().map(Vec::as_slice), Ok(data), "the round trip gives the plaintext back");
}
