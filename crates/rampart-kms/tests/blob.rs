//! The ciphertext blob through the public API only: round trips, material
//! versions after rotation, data keys, every documented way a blob can be
//! wrong (another context, another key, an unknown version, any flipped bit,
//! any truncation) answered as `InvalidCiphertext` without a panic, and key
//! bytes never showing in `Debug` output or error messages.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use data_encoding::{BASE64, HEXLOWER, HEXUPPER};
use rampart_kms::blob::{self, BlobError, DataKey, MaterialKey, WrappingKey};
use rampart_kms::{EncryptionContext, KeyId, MaterialId};
use zeroize::Zeroizing;

fn key_id(byte: u8) -> KeyId {
    KeyId::from_bytes([byte; 16])
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    EncryptionContext::from_pairs(pairs.iter().copied()).unwrap()
}

/// Material with recognisable bytes, so a leak of them can be searched for.
fn known_material() -> ([u8; 32], MaterialKey) {
    let bytes: [u8; 32] = std::array::from_fn(|i| 0xA0 ^ (i as u8).wrapping_mul(37));
    (bytes, MaterialKey::from_bytes(Zeroizing::new(bytes)))
}

/// A keystore of one key with one material version.
struct One {
    id: KeyId,
    version: MaterialId,
    material: MaterialKey,
}

impl One {
    fn new() -> Self {
        One { id: key_id(7), version: MaterialId::new(1), material: MaterialKey::generate().unwrap() }
    }

    fn encrypt(&self, plaintext: &[u8], context: &EncryptionContext) -> Vec<u8> {
        blob::encrypt(&self.material, self.id, self.version, plaintext, context).unwrap()
    }

    fn decrypt(&self, blob: &[u8], context: &EncryptionContext) -> Result<Zeroizing<Vec<u8>>, BlobError> {
        blob::decrypt(|id, version| (id == self.id && version == self.version).then_some(&self.material), blob, context)
    }

    /// Decrypts and turns a panic into a test failure that names the input.
    fn decrypt_no_panic(&self, blob: &[u8], context: &EncryptionContext, what: &str) -> Result<(), BlobError> {
        match catch_unwind(AssertUnwindSafe(|| self.decrypt(blob, context))) {
            Ok(result) => result.map(|_| ()),
            Err(_) => panic!("decrypt panicked on {what}"),
        }
    }
}

#[test]
fn round_trips_for_many_sizes_and_contexts() {
    let store = One::new();
    let contexts = [EncryptionContext::empty(), ctx(&[("", "")]), ctx(&[("purpose", "backup"), ("tenant", "t-1")])];
    for context in &contexts {
        for len in [0, 1, 15, 16, 17, 4096] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let blob = store.encrypt(&plaintext, context);
            assert_eq!(blob.len(), plaintext.len() + blob::OVERHEAD);
            assert_eq!(store.decrypt(&blob, context).unwrap().as_slice(), plaintext.as_slice());
        }
    }
}

#[test]
fn the_header_names_key_and_version_before_decrypting() {
    let store = One::new();
    let header = blob::parse_header(&store.encrypt(b"x", &EncryptionContext::empty())).unwrap();
    assert_eq!(header.key_id, store.id);
    assert_eq!(header.material_id, store.version);
    assert_eq!(header.format_version, blob::FORMAT_V1);
}

#[test]
fn a_different_context_never_decrypts() {
    let store = One::new();
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: [(Pairs, Pairs); 5] = [
        (&[("ab", "c")], &[("a", "bc")]),
        (&[], &[("", "")]),
        (&[("a", "1")], &[("A", "1")]),
        (&[("a", "1"), ("b", "2")], &[("a", "1")]),
        (&[("a", "1")], &[]),
    ];
    for (made, tried) in cases {
        let blob = store.encrypt(b"secret", &ctx(made));
        assert!(store.decrypt(&blob, &ctx(made)).is_ok());
        assert_eq!(
            store.decrypt(&blob, &ctx(tried)).err(),
            Some(BlobError::InvalidCiphertext),
            "{made:?} vs {tried:?}"
        );
    }
}

#[test]
fn another_key_or_missing_material_never_decrypts() {
    let store = One::new();
    let blob = store.encrypt(b"secret", &EncryptionContext::empty());
    let other = MaterialKey::generate().unwrap();
    assert_eq!(
        blob::decrypt(|_, _| Some(&other), &blob, &EncryptionContext::empty()).err(),
        Some(BlobError::InvalidCiphertext),
        "other material under the same ids"
    );
    assert_eq!(
        blob::decrypt(|_, _| None::<&MaterialKey>, &blob, &EncryptionContext::empty()).err(),
        Some(BlobError::InvalidCiphertext),
        "unknown key"
    );
    // The same material registered under another key id: the header names
    // key 7, so the lookup finds nothing.
    let elsewhere = One { id: key_id(8), ..store };
    assert_eq!(elsewhere.decrypt(&blob, &EncryptionContext::empty()).err(), Some(BlobError::InvalidCiphertext));
}

#[test]
fn old_material_versions_keep_decrypting_after_rotation() {
    let id = key_id(3);
    let versions: HashMap<MaterialId, MaterialKey> =
        (1..=3).map(|v| (MaterialId::new(v), MaterialKey::generate().unwrap())).collect();
    let context = ctx(&[("k", "v")]);
    let blobs: Vec<(MaterialId, Vec<u8>)> = versions
        .iter()
        .map(|(v, m)| (*v, blob::encrypt(m, id, *v, format!("made with {v}").as_bytes(), &context).unwrap()))
        .collect();
    for (version, blob) in blobs {
        let plaintext = blob::decrypt(|k, v| (k == id).then(|| versions.get(&v)).flatten(), &blob, &context).unwrap();
        assert_eq!(plaintext.as_slice(), format!("made with {version}").as_bytes());
        // Naming the wrong version in the header is detected: the header is
        // authenticated, so a blob cannot be pointed at another version.
        let mut moved = blob.clone();
        moved[24] ^= 0x03;
        assert!(blob::decrypt(|k, v| (k == id).then(|| versions.get(&v)).flatten(), &moved, &context).is_err());
    }
}

#[test]
fn an_unknown_format_version_or_magic_is_refused() {
    let store = One::new();
    let blob = store.encrypt(b"secret", &EncryptionContext::empty());
    for version in [0u8, 2, 0xFF] {
        let mut other = blob.clone();
        other[4] = version;
        assert_eq!(blob::parse_header(&other).err(), Some(BlobError::InvalidCiphertext), "version {version}");
        assert_eq!(store.decrypt(&other, &EncryptionContext::empty()).err(), Some(BlobError::InvalidCiphertext));
    }
    let mut other = blob.clone();
    other[0] = b'X';
    assert_eq!(blob::parse_header(&other).err(), Some(BlobError::InvalidCiphertext));
}

#[test]
fn flipping_any_bit_fails_without_panicking() {
    let store = One::new();
    let context = ctx(&[("tenant", "t-1")]);
    for plaintext in [&b""[..], b"a secret of some length"] {
        let blob = store.encrypt(plaintext, &context);
        for bit in 0..blob.len() * 8 {
            let mut bad = blob.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let result = store.decrypt_no_panic(&bad, &context, &format!("bit {bit}"));
            assert_eq!(result, Err(BlobError::InvalidCiphertext), "bit {bit} of a {}-byte blob", blob.len());
        }
    }
}

#[test]
fn truncating_or_extending_fails_without_panicking() {
    let store = One::new();
    let context = EncryptionContext::empty();
    let blob = store.encrypt(b"a secret of some length", &context);
    for len in 0..blob.len() {
        let result = store.decrypt_no_panic(&blob[..len], &context, &format!("length {len}"));
        assert_eq!(result, Err(BlobError::InvalidCiphertext), "truncated to {len}");
        assert!(catch_unwind(|| blob::parse_header(&blob[..len])).is_ok(), "parse_header panicked at {len}");
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(store.decrypt_no_panic(&longer, &context, "one extra byte"), Err(BlobError::InvalidCiphertext));
}

#[test]
fn data_keys_decrypt_to_their_plaintext() {
    let store = One::new();
    let context = ctx(&[("purpose", "file")]);
    for len in [1, 16, 32, blob::DATA_KEY_MAX] {
        let data_key = blob::generate_data_key(&store.material, store.id, store.version, len, &context).unwrap();
        assert_eq!(data_key.plaintext().len(), len);
        let decrypted = store.decrypt(data_key.ciphertext_blob(), &context).unwrap();
        assert_eq!(decrypted.as_slice(), data_key.plaintext());
    }
    let a = blob::generate_data_key(&store.material, store.id, store.version, 32, &context).unwrap();
    let b = blob::generate_data_key(&store.material, store.id, store.version, 32, &context).unwrap();
    assert_ne!(a.plaintext(), b.plaintext(), "data keys are random");
    for len in [0, blob::DATA_KEY_MAX + 1] {
        let err = blob::generate_data_key(&store.material, store.id, store.version, len, &context).err();
        assert_eq!(err, Some(BlobError::DataKeyLength), "length {len}");
    }
}

/// Every rendering of `bytes` a careless `Debug` or message might produce.
fn renderings(bytes: &[u8]) -> Vec<String> {
    let window = &bytes[..bytes.len().min(8)];
    vec![
        format!("{window:?}").trim_end_matches(']').to_owned(),
        HEXLOWER.encode(window),
        HEXUPPER.encode(window),
        BASE64.encode(bytes).chars().take(8).collect(),
    ]
}

fn assert_hides(text: &str, bytes: &[u8]) {
    for leak in renderings(bytes) {
        assert!(!text.contains(&leak), "{text:?} shows key bytes as {leak:?}");
    }
}

#[test]
fn debug_output_never_shows_key_bytes() {
    let (bytes, material) = known_material();
    let shown = format!("{material:?} {material:#?}");
    assert!(shown.contains("REDACTED"));
    assert_hides(&shown, &bytes);

    let root = WrappingKey::from_bytes(Zeroizing::new(bytes));
    assert_hides(&format!("{root:?} {root:#?}"), &bytes);

    let data_key: DataKey = blob::generate_data_key(&material, key_id(1), MaterialId::new(1), 32, &ctx(&[])).unwrap();
    let shown = format!("{data_key:?} {data_key:#?}");
    assert!(shown.contains("REDACTED"));
    assert_hides(&shown, data_key.plaintext());
    assert_hides(&shown, &bytes);

    let blob = blob::encrypt(&material, key_id(1), MaterialId::new(1), b"plain", &ctx(&[])).unwrap();
    let header = blob::parse_header(&blob).unwrap();
    assert_hides(&format!("{header:?}"), &bytes);
    assert_hides(&format!("{blob:?}"), &bytes);
}

#[test]
fn errors_never_show_key_bytes_or_plaintext() {
    let (bytes, material) = known_material();
    let plaintext = b"attack at dawn, the password is hunter2";
    let blob = blob::encrypt(&material, key_id(1), MaterialId::new(1), plaintext, &ctx(&[("a", "b")])).unwrap();
    let err = blob::decrypt(|_, _| Some(&material), &blob, &ctx(&[])).unwrap_err();
    for text in [err.to_string(), format!("{err:?}")] {
        assert_hides(&text, &bytes);
        assert!(!text.contains("hunter2") && !text.contains("attack"), "{text}");
    }
    let root = WrappingKey::from_bytes(Zeroizing::new([1; 32]));
    let wrapped = blob::wrap(&root, &material, b"row").unwrap();
    let err = blob::unwrap(&WrappingKey::from_bytes(Zeroizing::new([2; 32])), &wrapped, b"row").unwrap_err();
    assert_hides(&format!("{err} {err:?}"), &bytes);
}

#[test]
fn wrapped_material_round_trips_and_decrypts_what_the_original_encrypted() {
    let store = One::new();
    let root = WrappingKey::generate().unwrap();
    let blob = store.encrypt(b"kept across a restart", &EncryptionContext::empty());
    let wrapped = blob::wrap(&root, &store.material, b"tenant-1/key-7/1").unwrap();
    let restored = One { material: blob::unwrap(&root, &wrapped, b"tenant-1/key-7/1").unwrap(), ..store };
    assert_eq!(restored.decrypt(&blob, &EncryptionContext::empty()).unwrap().as_slice(), b"kept across a restart");
}
