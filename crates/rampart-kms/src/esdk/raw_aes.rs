//! The SDK's raw AES keyring (`RawAESKeyring`, and `RawMasterKey` with
//! `AES_256_GCM_IV12_TAG16_NO_PADDING` in the Python SDK): data keys wrapped
//! with AES-256-GCM under a key the caller holds, no KMS involved. It lets
//! tests (and air-gapped users) exchange messages with the real SDK.
//!
//! An encrypted data key it writes is, with integers big-endian:
//!
//! ```text
//! provider id   = the key namespace (Python: provider_id)
//! provider info = key name | tag length in bits (4) = 128 | IV length (4) = 12 | IV (12)
//! ciphertext    = wrapped data key (32) | tag (16)
//! ```
//!
//! The wrapping uses the key itself (no derivation), a random IV, and the
//! message's serialized encryption context as associated data, so a wrapped
//! key is bound to the context as well as the header tag binds it.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::frame::{IV_LEN, TAG_LEN};
use super::header::serialize_context;
use super::{AlgorithmSuite, DataKeyProvider, EncryptedDataKey, EsdkError, KEY_LEN};
use crate::context::EncryptionContext;

const TAG_LEN_BITS: u32 = 128;

/// One AES-256 wrapping key, known by its namespace and name. `Debug` shows
/// only those.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: LessSafeKey,
}

impl RawAesKeyring {
    /// A keyring for a 32-byte wrapping key. The namespace and name must
    /// match the ones the other side used, byte for byte.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        key: &Zeroizing<[u8; KEY_LEN]>,
    ) -> Result<Self, EsdkError> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_slice())?);
        Ok(RawAesKeyring { namespace: namespace.into(), name: name.into(), key })
    }

    /// The provider info up to the IV, which identifies this key.
    fn info_prefix(&self) -> Vec<u8> {
        let mut info = self.name.as_bytes().to_vec();
        info.extend_from_slice(&TAG_LEN_BITS.to_be_bytes());
        info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        info
    }

    fn wrap(&self, data_key: &[u8; KEY_LEN], context: &EncryptionContext) -> Result<EncryptedDataKey, EsdkError> {
        let mut iv = [0u8; IV_LEN];
        SystemRandom::new().fill(&mut iv)?;
        let mut ciphertext = Vec::with_capacity(KEY_LEN + TAG_LEN);
        ciphertext.extend_from_slice(data_key);
        let aad = serialize_context(context)?;
        self.key.seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut ciphertext)?;
        let mut provider_info = self.info_prefix();
        provider_info.extend_from_slice(&iv);
        Ok(EncryptedDataKey { provider_id: self.namespace.clone(), provider_info, ciphertext })
    }

    /// Unwraps one encrypted data key if it is this key's, or `None`.
    fn unwrap(&self, edk: &EncryptedDataKey, aad: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
        if edk.provider_id != self.namespace || edk.ciphertext.len() != KEY_LEN + TAG_LEN {
            return None;
        }
        let iv = edk.provider_info.strip_prefix(self.info_prefix().as_slice())?;
        let iv: [u8; IV_LEN] = iv.try_into().ok()?;
        let mut buf = Zeroizing::new(edk.ciphertext.clone());
        let plaintext = self.key.open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut buf).ok()?;
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        data_key.copy_from_slice(plaintext.get(..KEY_LEN)?);
        Some(data_key)
    }
}

impl DataKeyProvider for RawAesKeyring {
    fn generate(
        &self,
        _suite: AlgorithmSuite,
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<[u8; KEY_LEN]>, Vec<EncryptedDataKey>), EsdkError> {
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new().fill(data_key.as_mut_slice())?;
        let edk = self.wrap(&data_key, context)?;
        Ok((data_key, vec![edk]))
    }

    fn decrypt(
        &self,
        keys: &[EncryptedDataKey],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, EsdkError> {
        let aad = serialize_context(context)?;
        keys.iter().find_map(|edk| self.unwrap(edk, &aad)).ok_or(EsdkError::NoDecryptableKey)
    }
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring").field("namespace", &self.namespace).field("name", &self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(byte: u8) -> RawAesKeyring {
        RawAesKeyring::new("ns", "key-1", &Zeroizing::new([byte; KEY_LEN])).unwrap()
    }

    #[test]
    fn wraps_in_the_sdk_layout_and_unwraps() {
        let context = EncryptionContext::from_pairs([("purpose", "test")]).unwrap();
        let (data_key, edks) = keyring(1).generate(AlgorithmSuite::default(), &context).unwrap();
        let edk = &edks[0];
        assert_eq!(edk.provider_id, "ns");
        assert_eq!(&edk.provider_info[..5], b"key-1");
        assert_eq!(&edk.provider_info[5..13], &[0, 0, 0, 128, 0, 0, 0, 12]);
        assert_eq!(edk.provider_info.len(), 5 + 8 + IV_LEN);
        assert_eq!(edk.ciphertext.len(), KEY_LEN + TAG_LEN);
        assert_eq!(*keyring(1).decrypt(&edks, &context).unwrap(), *data_key);
    }

    #[test]
    fn another_key_name_namespace_or_context_cannot_unwrap() {
        let context = EncryptionContext::from_pairs([("purpose", "test")]).unwrap();
        let (_, edks) = keyring(1).generate(AlgorithmSuite::default(), &context).unwrap();
        let none = |ring: &RawAesKeyring, ctx: &EncryptionContext| {
            matches!(ring.decrypt(&edks, ctx), Err(EsdkError::NoDecryptableKey))
        };
        assert!(none(&keyring(2), &context));
        assert!(none(&RawAesKeyring::new("other", "key-1", &Zeroizing::new([1; KEY_LEN])).unwrap(), &context));
        assert!(none(&RawAesKeyring::new("ns", "key-2", &Zeroizing::new([1; KEY_LEN])).unwrap(), &context));
        assert!(none(&keyring(1), &EncryptionContext::empty()));
        assert!(!format!("{:?}", keyring(1)).contains("01"), "Debug shows no key bytes");
    }
}
