//! The two algorithm suites this code speaks and the keys each message
//! derives from its data key. Both suites are AES-256-GCM with 12-byte IVs
//! and 16-byte tags, keyed by HKDF-SHA512 over the data key with the message
//! id as salt, and both commit to the data key: the header carries a
//! 32-byte commitment key derived the same way under another label, and a
//! decryptor that derives a different one refuses the message before it
//! decrypts anything. That is what stops one ciphertext from decrypting to
//! two different plaintexts under two different data keys.
//!
//! Suite ids 0x0014 to 0x0378 are the SDK's older, non-committing suites.
//! They are recognised only so that refusing them can say why.

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf;

use super::{EsdkError, KEY_LEN};

/// HKDF info label of the data encryption key, after the suite id.
const DERIVE_KEY_LABEL: &[u8] = b"DERIVEKEY";
/// HKDF info label of the commitment key (alone, without the suite id).
const COMMIT_KEY_LABEL: &[u8] = b"COMMITKEY";

/// The suite ids of the SDK's non-committing suites (message format 1).
const NON_COMMITTING: [u16; 9] = [0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AlgorithmSuite {
    /// 0x0478, `AES_256_GCM_HKDF_SHA512_COMMIT_KEY`: committing, unsigned.
    AesGcmCommitKey,
    /// 0x0578, `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`: committing
    /// and signed with ECDSA P-384. The SDK's and the CLI's default.
    #[default]
    AesGcmCommitKeyEcdsaP384,
}

impl AlgorithmSuite {
    /// The two-byte id written in the header.
    pub fn id(self) -> u16 {
        match self {
            AlgorithmSuite::AesGcmCommitKey => 0x0478,
            AlgorithmSuite::AesGcmCommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// The suite for a header's id, refusing the non-committing suites by
    /// name and everything else as unknown.
    pub fn from_id(id: u16) -> Result<Self, EsdkError> {
        match id {
            0x0478 => Ok(AlgorithmSuite::AesGcmCommitKey),
            0x0578 => Ok(AlgorithmSuite::AesGcmCommitKeyEcdsaP384),
            _ if NON_COMMITTING.contains(&id) => Err(EsdkError::NonCommittingSuite(id)),
            _ => Err(EsdkError::UnknownSuite(id)),
        }
    }

    /// Whether messages of this suite end with an ECDSA P-384 signature.
    pub fn is_signed(self) -> bool {
        self == AlgorithmSuite::AesGcmCommitKeyEcdsaP384
    }
}

/// The per-message keys: the AES-256-GCM key for the header tag and every
/// frame, and the commitment key the header carries.
pub(super) struct MessageKeys {
    pub(super) content: LessSafeKey,
    pub(super) commitment: [u8; KEY_LEN],
}

/// Derives a message's keys from its data key. Both expansions use the same
/// pseudo-random key (salt = message id), with the info labels the SDK uses:
/// suite id then `DERIVEKEY` for the content key, `COMMITKEY` alone for the
/// commitment key.
pub(super) fn derive_keys(
    suite: AlgorithmSuite,
    data_key: &[u8; KEY_LEN],
    message_id: &[u8; KEY_LEN],
) -> Result<MessageKeys, EsdkError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA512, message_id).extract(data_key);
    let suite_id = suite.id().to_be_bytes();
    let content_info: [&[u8]; 2] = [&suite_id, DERIVE_KEY_LABEL];
    let content = LessSafeKey::new(UnboundKey::from(prk.expand(&content_info, &AES_256_GCM)?));
    let commitment_info: [&[u8]; 1] = [COMMIT_KEY_LABEL];
    let mut commitment = [0u8; KEY_LEN];
    prk.expand(&commitment_info, Len32)?.fill(&mut commitment)?;
    Ok(MessageKeys { content, commitment })
}

/// HKDF output length for the commitment key.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::aead::{Aad, Nonce};

    use super::*;

    #[test]
    fn ids_round_trip_and_old_suites_are_refused_by_name() {
        for suite in [AlgorithmSuite::AesGcmCommitKey, AlgorithmSuite::AesGcmCommitKeyEcdsaP384] {
            assert_eq!(AlgorithmSuite::from_id(suite.id()).unwrap(), suite);
        }
        for id in NON_COMMITTING {
            assert!(matches!(AlgorithmSuite::from_id(id), Err(EsdkError::NonCommittingSuite(i)) if i == id));
        }
        assert!(matches!(AlgorithmSuite::from_id(0x0678), Err(EsdkError::UnknownSuite(0x0678))));
        assert_eq!(AlgorithmSuite::default().id(), 0x0578);
    }

    /// The derivation, recomputed by hand from RFC 5869's definition with
    /// HMAC-SHA512, must equal what `derive_keys` produces; this pins the
    /// labels, their order and the salt.
    #[test]
    fn derivation_matches_hkdf_sha512_by_hand() {
        use aws_lc_rs::hmac;
        let data_key = [7u8; KEY_LEN];
        let message_id = [9u8; KEY_LEN];
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, &message_id), &data_key);
        let prk = hmac::Key::new(hmac::HMAC_SHA512, prk.as_ref());
        let t1 = |info: &[u8]| {
            let mut msg = info.to_vec();
            msg.push(1);
            hmac::sign(&prk, &msg).as_ref()[..KEY_LEN].to_vec()
        };
        let keys = derive_keys(AlgorithmSuite::AesGcmCommitKeyEcdsaP384, &data_key, &message_id).unwrap();
        assert_eq!(keys.commitment.to_vec(), t1(b"COMMITKEY"));

        // The content key is opaque, so compare what it seals with what the
        // hand-derived key seals.
        let expected = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &t1(b"\x05\x78DERIVEKEY")).unwrap());
        let seal = |key: &LessSafeKey| {
            let mut buf = b"probe".to_vec();
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key([0; 12]), Aad::empty(), &mut buf).unwrap();
            buf
        };
        assert_eq!(seal(&keys.content), seal(&expected));
        let other = derive_keys(AlgorithmSuite::AesGcmCommitKey, &data_key, &message_id).unwrap();
        assert_ne!(seal(&keys.content), seal(&other.content), "the suite id is part of the content key's info");
        assert_eq!(other.commitment, keys.commitment, "the commitment key's info has no suite id");
    }
}
