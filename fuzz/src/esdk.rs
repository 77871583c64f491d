//! The AWS Encryption SDK message format under the fuzzer: the header parser
//! (`rampart_kms::esdk::parse_header`), whose serialized header must be a
//! prefix of its input, and whole-message decryption
//! (`rampart_kms::esdk::decrypt_to_vec`) with a raw AES keyring that holds
//! [`KEY`] as `fuzz`/`fuzz-key`, so seeds the Python SDK encrypted with that
//! key decrypt and mutations start next to valid frames, footers and
//! signatures. Decryption runs under small limits to keep memory bounded.

use std::sync::OnceLock;

use rampart_kms::esdk::{self, Limits, raw_aes::RawAesKeyring};
use zeroize::Zeroizing;

/// The raw AES wrapping key: 32 bytes of 0x42.
pub const KEY: [u8; 32] = [0x42; 32];
/// The keyring's namespace (the SDK's provider id) and key name.
pub const NAMESPACE: &str = "fuzz";
pub const KEY_NAME: &str = "fuzz-key";

/// Any bytes: a header or a typed error, and a header is what it read.
pub fn header(data: &[u8]) {
    if let Ok(header) = esdk::parse_header(data) {
        assert!(data.starts_with(header.as_bytes()), "the serialized header is the input's prefix");
    }
}

/// Any bytes as a whole message, decrypted with the fixed keyring.
pub fn message(data: &[u8]) {
    static KEYRING: OnceLock<Option<RawAesKeyring>> = OnceLock::new();
    let keyring = KEYRING.get_or_init(|| RawAesKeyring::new(NAMESPACE, KEY_NAME, &Zeroizing::new(KEY)).ok());
    let Some(keyring) = keyring else { panic!("fuzz harness setup failed (not a finding): raw AES keyring") };
    let limits = Limits { max_encrypted_data_keys: 4, max_header_len: 64 << 10, max_frame_length: 64 << 10 };
    if let Ok((plaintext, _)) = esdk::decrypt_to_vec(keyring, data, &limits) {
        assert!(plaintext.len() <= data.len(), "plaintext is never longer than its message");
    }
}
