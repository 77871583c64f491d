//! The AWS Encryption SDK message format, version 2, as a streaming format
//! layer: what `rampart kms encrypt-file` and `decrypt-file` read and write,
//! so that files interoperate with the real `aws-encryption-cli` in both
//! directions. Only the two key-committing suites exist here: 0x0578 (AES-256-GCM,
//! HKDF-SHA512, key commitment, ECDSA P-384 signature; the default) and 0x0478
//! (the same without the signature). Every other suite, including every
//! version-1 message, is refused on decrypt, which is the SDK's
//! `REQUIRE_ENCRYPT_REQUIRE_DECRYPT` commitment policy.
//!
//! A message is a header (suite, a random 32-byte message id, the encryption
//! context, the encrypted data keys, the frame length and the commitment
//! key), a header authentication tag, framed body and, for 0x0578, a footer
//! with the signature over everything before it. The layout is in
//! `esdk/header.rs` and `esdk/frame.rs`, key derivation in `esdk/suite.rs`,
//! the signature in `esdk/sign.rs`. Where the prose spec and the Python SDK
//! (the executable reference) disagree, this follows the Python SDK, which
//! is what the CLI runs: see the notes in `esdk/encrypt.rs`.
//!
//! Data keys come from a [`DataKeyProvider`]: the KMS, or the raw AES
//! keyring in [`raw_aes`] that the SDK's `RawMasterKey` speaks. The format
//! layer itself never sees a wrapping key.
//!
//! Streaming and what an error means: [`decrypt`] writes each frame's
//! plaintext only after that frame's AES-GCM tag verified, so it never writes
//! bytes an attacker forged frame by frame. But frames can be cut off,
//! and with 0x0578 the signature in the footer is checked only after the last
//! frame, so the plaintext of earlier frames has already been written when
//! the signature check fails, as in the SDK's own streaming mode. **Any `Err`
//! from [`decrypt`] means the output written so far MUST be discarded.**
//! [`decrypt_to_vec`] and [`decrypt_to_path`] do that for the caller: they
//! hand out plaintext only after the whole message, including the
//! signature, has verified.
//!
//! Both directions read and write a frame in several small pieces, so wrap
//! files and sockets in `BufReader` and `BufWriter`.
//!
//! Nothing here logs, and nothing panics on any input: every malformed
//! message is a typed [`EsdkError`].

use zeroize::Zeroizing;

use crate::context::EncryptionContext;

mod decrypt;
mod encrypt;
mod error;
mod frame;
mod header;
pub mod raw_aes;
mod sign;
mod sinks;
mod suite;

pub use decrypt::decrypt;
pub use encrypt::{EncryptOptions, encrypt};
pub use error::EsdkError;
pub use header::{Header, parse_header, parse_header_with};
pub use sinks::{decrypt_to_path, decrypt_to_vec};
pub use suite::AlgorithmSuite;

/// The encryption context key under which a signed message carries its
/// verification key: base64 of the compressed P-384 point.
pub const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";
/// Context keys the SDK reserves for itself; a caller's context must not
/// use them, or it could plant a verification key.
pub const RESERVED_CONTEXT_PREFIX: &str = "aws-crypto-";
/// The SDK's and the CLI's default frame length.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// The largest frame length the Python SDK accepts (`MAX_FRAME_SIZE`), so
/// the largest this code writes.
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;
/// The CLI's default for `--max-encrypted-data-keys`.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: u16 = 10;
/// Default bound on the serialized header. Ten KMS data keys and the
/// largest encryption context the KMS accepts take well under 32 KiB.
pub const DEFAULT_MAX_HEADER_LEN: usize = 1 << 20;
/// Default bound on the frame length of a message to decrypt, which is the
/// memory decryption needs: one frame.
pub const DEFAULT_MAX_DECRYPT_FRAME_LENGTH: u32 = 16 << 20;
/// The length of a data key, message id and commitment key, in bytes.
pub const KEY_LEN: usize = 32;

/// One data key, encrypted by one key provider. The KMS provider uses
/// provider id `aws-kms`, the key ARN as provider info and the KMS
/// ciphertext blob as ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Where data keys come from and go back to. Synchronous on purpose: the
/// format layer runs in blocking code and calls the provider once per
/// message.
///
/// `context` is the message's full encryption context, including
/// [`PUBLIC_KEY_CONTEXT_KEY`] for signed suites; providers bind their
/// encrypted data keys to it (the KMS as its encryption context, the raw AES
/// keyring as associated data).
pub trait DataKeyProvider {
    /// A fresh data key and at least one encryption of it.
    fn generate(
        &self,
        suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<[u8; KEY_LEN]>, Vec<EncryptedDataKey>), EsdkError>;

    /// The data key from any one of `keys`, or an error if none can be
    /// decrypted ([`EsdkError::NoDecryptableKey`] or a provider error).
    fn decrypt(
        &self,
        keys: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, EsdkError>;
}

/// Bounds on what a message to decrypt (or a header to parse) may ask for,
/// so hostile input cannot make this code allocate without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many encrypted data keys (the CLI's
    /// `--max-encrypted-data-keys`, default 10).
    pub max_encrypted_data_keys: u16,
    /// At most this many bytes of serialized header.
    pub max_header_len: usize,
    /// At most this frame length; decryption holds one frame in memory.
    pub max_frame_length: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_encrypted_data_keys: DEFAULT_MAX_ENCRYPTED_DATA_KEYS,
            max_header_len: DEFAULT_MAX_HEADER_LEN,
            max_frame_length: DEFAULT_MAX_DECRYPT_FRAME_LENGTH,
        }
    }
}

/// What encrypting or decrypting a message found: its header (suite, message
/// id, the full encryption context, the encrypted data keys) and how many
/// plaintext bytes went in or came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub header: Header,
    pub plaintext_len: u64,
}
