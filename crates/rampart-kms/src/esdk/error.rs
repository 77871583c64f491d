//! The one error type of the message format layer. Each way a message can
//! be refused has its own variant, so the CLI can say precisely what went
//! wrong; none of them carries key material or plaintext.

use std::error::Error;

use crate::context::ContextError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EsdkError {
    #[error("reading or writing the message failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the message ends early: it is truncated")]
    Truncated,
    #[error(
        "message format version {0} is not supported: only version 2 (key-committing suites 0x0478 and 0x0578) is accepted"
    )]
    UnsupportedVersion(u8),
    #[error(
        "algorithm suite {0:#06x} does not commit to its data key and is refused (commitment policy RequireEncryptRequireDecrypt)"
    )]
    NonCommittingSuite(u16),
    #[error("algorithm suite {0:#06x} is unknown")]
    UnknownSuite(u16),
    #[error("the message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the message has {found} encrypted data keys, more than the limit of {max}")]
    TooManyEncryptedDataKeys { found: usize, max: u16 },
    #[error("the message header is longer than the limit of {max} bytes")]
    HeaderTooLarge { max: usize },
    #[error("frame length {found} is outside the allowed range 1 to {max}")]
    FrameLength { found: u32, max: u32 },
    #[error("non-framed message bodies are not supported; only framed content (type 2) is")]
    NonFramed,
    #[error("the encryption context is not acceptable: {0}")]
    Context(#[from] ContextError),
    #[error("encryption context key {0:?} uses the prefix \"aws-crypto-\", which the SDK reserves")]
    ReservedContextKey(String),
    #[error("a signed message must carry its verification key in the encryption context")]
    MissingPublicKey,
    #[error("an unsigned message must not carry a verification key in its encryption context")]
    UnexpectedPublicKey,
    #[error("the data key provider failed: {0}")]
    Provider(#[source] Box<dyn Error + Send + Sync>),
    #[error("none of the message's encrypted data keys could be decrypted")]
    NoDecryptableKey,
    #[error("key commitment check failed: the data key is not the one this message was encrypted under")]
    Commitment,
    #[error("the header authentication tag does not verify: the header was altered")]
    HeaderAuth,
    #[error("frame {0} does not verify: the message was altered")]
    FrameAuth(u32),
    #[error("frame {found} is out of order, expected frame {expected}")]
    FrameOrder { expected: u32, found: u32 },
    #[error("the message would need more than 2^32 - 1 frames; use a larger frame length")]
    TooManyFrames,
    #[error("the message signature does not verify: discard all plaintext written so far")]
    Signature,
    #[error("data follows the end of the message")]
    TrailingData,
    #[error("the cryptographic backend failed")]
    Crypto,
}

impl EsdkError {
    /// Wraps a provider's own error, keeping it as the source so callers can
    /// downcast it (to a KMS error, say).
    pub fn provider(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        EsdkError::Provider(error.into())
    }
}

impl From<aws_lc_rs::error::Unspecified> for EsdkError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        EsdkError::Crypto
    }
}

/// Maps a failed `read_exact` inside a message: running out of input is a
/// truncated message, anything else is the reader's own failure.
pub(super) fn read_error(error: std::io::Error) -> EsdkError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof { EsdkError::Truncated } else { EsdkError::Io(error) }
}
