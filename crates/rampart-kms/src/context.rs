//! The encryption context: a caller's map of non-secret strings that binds a
//! ciphertext to what it protects, and its canonical byte encoding, which is
//! the associated data the blob authenticates.
//!
//! The encoding is injective, so two different maps can never produce the
//! same bytes: a big-endian `u32` count of pairs, then for each pair, sorted
//! by key bytewise, the key and the value each behind a big-endian `u32`
//! length. Concatenating keys and values without lengths (as some emulators
//! do) makes `{"ab":"c"}` and `{"a":"bc"}` the same associated data, so a
//! ciphertext made for one context would decrypt under the other.
//!
//! This module must not hash, log or store anything: the audit trail hashes
//! [`EncryptionContext::audit_hash_input`] with its own keyed hash, and
//! everything else takes the bytes from here.

use std::collections::BTreeMap;

/// AWS does not document a pair limit; this one keeps the associated data
/// small and bounded whatever a client sends.
pub const MAX_PAIRS: usize = 64;
/// Upper bound on the sum of the key and value lengths, in bytes.
pub const MAX_BYTES: usize = 8 * 1024;

/// Labels the audit hash input, so the hash of a context can never equal the
/// hash of some other value that happens to share its bytes.
const AUDIT_LABEL: &[u8] = b"rampart-kms/encryption-context/v1\0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("an encryption context has at most {MAX_PAIRS} pairs")]
    TooManyPairs,
    #[error("an encryption context has at most {MAX_BYTES} bytes of keys and values")]
    TooLarge,
    #[error("an encryption context key appears more than once")]
    DuplicateKey,
}

impl ContextError {
    /// The AWS KMS error type a facade answers with.
    pub fn aws_type(&self) -> &'static str {
        "ValidationException"
    }

    /// The Tencent Cloud KMS error code a facade answers with.
    pub fn tc_code(&self) -> &'static str {
        "InvalidParameterValue"
    }
}

/// A validated encryption context. The map orders keys by `String`'s `Ord`,
/// which is bytewise comparison of their UTF-8, so iteration order is the
/// canonical order and needs no further sorting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// The empty context, which is what a request without one means.
    pub fn empty() -> Self {
        EncryptionContext(BTreeMap::new())
    }

    /// Builds a context from pairs, refusing a key given twice rather than
    /// letting the last one win silently.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, ContextError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            if map.insert(key.into(), value.into()).is_some() {
                return Err(ContextError::DuplicateKey);
            }
            if map.len() > MAX_PAIRS {
                return Err(ContextError::TooManyPairs);
            }
        }
        Self::from_map(map)
    }

    /// Validates a map the caller already built (a JSON object, say).
    pub fn from_map(map: BTreeMap<String, String>) -> Result<Self, ContextError> {
        if map.len() > MAX_PAIRS {
            return Err(ContextError::TooManyPairs);
        }
        let total = map.iter().try_fold(0usize, |sum, (k, v)| sum.checked_add(k.len())?.checked_add(v.len()));
        match total {
            Some(n) if n <= MAX_BYTES => Ok(EncryptionContext(map)),
            _ => Err(ContextError::TooLarge),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The pairs in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The canonical encoding: count, then each key and value behind its
    /// length, keys in bytewise order. The limits above keep every length
    /// far below `u32::MAX`, so the casts cannot truncate.
    pub fn canonical(&self) -> Vec<u8> {
        let body: usize = self.0.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut out = Vec::with_capacity(4 + body);
        out.extend_from_slice(&len_u32(self.0.len()));
        for (key, value) in &self.0 {
            out.extend_from_slice(&len_u32(key.len()));
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&len_u32(value.len()));
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// What the audit trail feeds its keyed hash: a domain label followed by
    /// the canonical encoding. The caller hashes; nothing is hashed here.
    pub fn audit_hash_input(&self) -> Vec<u8> {
        let mut out = AUDIT_LABEL.to_vec();
        out.extend_from_slice(&self.canonical());
        out
    }
}

fn len_u32(len: usize) -> [u8; 4] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

impl TryFrom<BTreeMap<String, String>> for EncryptionContext {
    type Error = ContextError;
    fn try_from(map: BTreeMap<String, String>) -> Result<Self, ContextError> {
        Self::from_map(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn shifted_boundaries_do_not_collide() {
        // The emulator flaw: without lengths, both are the bytes "abc".
        assert_ne!(ctx(&[("ab", "c")]).canonical(), ctx(&[("a", "bc")]).canonical());
        assert_ne!(ctx(&[("a", "b"), ("c", "d")]).canonical(), ctx(&[("a", "bcd")]).canonical());
        assert_ne!(ctx(&[("a", "")]).canonical(), ctx(&[("", "a")]).canonical());
    }

    #[test]
    fn empty_map_differs_from_empty_strings() {
        let empty = EncryptionContext::empty().canonical();
        let empty_pair = ctx(&[("", "")]).canonical();
        assert_ne!(empty, empty_pair);
        assert_eq!(empty, 0u32.to_be_bytes().to_vec());
    }

    #[test]
    fn order_of_insertion_does_not_matter_but_bytes_do() {
        assert_eq!(ctx(&[("b", "2"), ("a", "1")]).canonical(), ctx(&[("a", "1"), ("b", "2")]).canonical());
        // Keys are compared as UTF-8 bytes: 'B' (0x42) sorts before 'a'
        // (0x61), and 'é' (0xC3 0xA9) after 'z'.
        let sorted = ctx(&[("z", ""), ("é", ""), ("a", ""), ("B", "")]);
        let keys: Vec<&str> = sorted.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["B", "a", "z", "é"]);
        assert_ne!(ctx(&[("a", "1")]).canonical(), ctx(&[("A", "1")]).canonical(), "context is case-sensitive");
    }

    #[test]
    fn encoding_is_exactly_as_documented() {
        let got = ctx(&[("k", "vv")]).canonical();
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 1, b'k', 0, 0, 0, 2];
        want.extend_from_slice(b"vv");
        assert_eq!(got, want);
    }

    #[test]
    fn decoding_the_encoding_gives_back_the_map() {
        // A decoder for the documented format recovers every pair, which is
        // what makes the encoding injective.
        let original = ctx(&[("purpose", "backup"), ("tenant", "t-1"), ("", "x"), ("y", "")]);
        let bytes = original.canonical();
        let read = |at: &mut usize| -> u32 {
            let n = u32::from_be_bytes(bytes[*at..*at + 4].try_into().unwrap());
            *at += 4;
            n
        };
        let mut at = 0;
        let count = read(&mut at);
        let mut pairs = Vec::new();
        for _ in 0..count {
            let k = read(&mut at) as usize;
            let key = String::from_utf8(bytes[at..at + k].to_vec()).unwrap();
            at += k;
            let v = read(&mut at) as usize;
            let value = String::from_utf8(bytes[at..at + v].to_vec()).unwrap();
            at += v;
            pairs.push((key, value));
        }
        assert_eq!(at, bytes.len());
        assert_eq!(EncryptionContext::from_pairs(pairs).unwrap(), original);
    }

    #[test]
    fn limits_are_enforced() {
        let many: Vec<(String, String)> = (0..=MAX_PAIRS).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(EncryptionContext::from_pairs(many.clone()), Err(ContextError::TooManyPairs));
        assert!(EncryptionContext::from_pairs(many[..MAX_PAIRS].to_vec()).is_ok());

        let half = "x".repeat(MAX_BYTES / 2);
        assert!(EncryptionContext::from_pairs([(half.clone(), half.clone())]).is_ok());
        assert_eq!(EncryptionContext::from_pairs([(half.clone(), format!("{half}x"))]), Err(ContextError::TooLarge));

        let map: BTreeMap<String, String> = [("a".to_owned(), "y".repeat(MAX_BYTES))].into();
        assert_eq!(EncryptionContext::try_from(map), Err(ContextError::TooLarge));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert_eq!(EncryptionContext::from_pairs([("a", "1"), ("a", "2")]), Err(ContextError::DuplicateKey));
    }

    #[test]
    fn audit_input_is_labelled_canonical_bytes() {
        let c = ctx(&[("a", "b")]);
        let input = c.audit_hash_input();
        assert!(input.ends_with(&c.canonical()));
        assert_ne!(input, c.canonical());
        assert_ne!(input, EncryptionContext::empty().audit_hash_input());
    }
}
