//! Unsealing progress: what is counted, what is refused, and that sealing
//! again drops the key.

use super::*;
use crate::blob::KEY_LEN;
use crate::keystore::software::encode_share;

/// A sealed keystore for a fresh 3-of-5 split, its shares, and the
/// keystore that was split (to compare against).
fn split_3_of_5() -> (SealedKeystore, Vec<SecretString>, SoftwareKeystore) {
    let original = SoftwareKeystore::generate().unwrap();
    let shares = original.split(3, 5).unwrap();
    let record = SealRecord {
        version: RECORD_VERSION,
        threshold: 3,
        shares: 5,
        fingerprint: original.fingerprint(),
        created_at_ms: 0,
    };
    (SealedKeystore::new(record).unwrap(), shares, original)
}

fn unseal_with(sealed: &SealedKeystore, shares: &[&SecretString]) {
    for share in shares {
        match sealed.add(share).unwrap() {
            Added::Progress(_) => {}
            Added::Complete(unsealing) => sealed.install(unsealing),
        }
    }
}

#[test]
fn a_sealed_keystore_refuses_to_wrap_and_unwrap() {
    let (sealed, _, original) = split_3_of_5();
    let wrapped = original.wrap_secret(b"material", b"aad").unwrap();
    assert_eq!(sealed.wrap_secret(b"material", b"aad"), Err(KeystoreError::Sealed));
    assert_eq!(sealed.unwrap_secret(&wrapped, b"aad").map(|_| ()), Err(KeystoreError::Sealed));
    assert_eq!(sealed.status(), SealStatus { sealed: true, threshold: 3, shares: 5, progress: 0 });
}

#[test]
fn threshold_shares_unseal_and_the_key_is_the_one_that_was_split() {
    let (sealed, shares, original) = split_3_of_5();
    let wrapped = original.wrap_secret(b"material", b"aad").unwrap();
    let first = sealed.add(&shares[4]).unwrap();
    assert!(matches!(first, Added::Progress(1)), "{first:?}");
    assert_eq!(sealed.check(&shares[0]).unwrap(), Checked { index: 1, completes: false });
    assert!(matches!(sealed.add(&shares[0]).unwrap(), Added::Progress(2)));
    assert_eq!(sealed.status().progress, 2);
    assert_eq!(sealed.check(&shares[2]).unwrap(), Checked { index: 3, completes: true });
    let Added::Complete(unsealing) = sealed.add(&shares[2]).unwrap() else { panic!("the third share completes") };
    // Combined but not yet installed: still sealed, progress kept.
    assert!(sealed.is_sealed());
    assert_eq!(sealed.status().progress, 2);
    sealed.install(unsealing);
    assert_eq!(sealed.status(), SealStatus { sealed: false, threshold: 3, shares: 5, progress: 0 });
    assert_eq!(sealed.unwrap_secret(&wrapped, b"aad").unwrap().as_slice(), b"material");
    assert_eq!(sealed.check(&shares[1]), Err(UnsealError::AlreadyUnsealed));
}

#[test]
fn a_duplicate_share_is_refused_and_not_counted_twice() {
    let (sealed, shares, _) = split_3_of_5();
    sealed.add(&shares[1]).unwrap();
    assert_eq!(sealed.check(&shares[1]), Err(UnsealError::Duplicate(2)));
    // The same share typed in lower case with spaces around is the same share.
    let retyped = SecretString::from(format!("  {}\n", shares[1].expose_secret().to_ascii_lowercase()));
    assert!(matches!(sealed.add(&retyped), Err(UnsealError::Duplicate(2))));
    assert_eq!(sealed.status().progress, 1);
}

#[test]
fn malformed_and_mistyped_shares_change_nothing() {
    let (sealed, shares, _) = split_3_of_5();
    sealed.add(&shares[0]).unwrap();
    let mut typo = shares[1].expose_secret().to_owned();
    let last = typo.pop().unwrap();
    typo.push(if last == 'A' { 'B' } else { 'A' });
    for bad in ["", "hello", "rampart-share-1-0-AAAA", "rampart-share-1-300-AAAA", &typo, &"A".repeat(100_000)] {
        let err = sealed.add(&SecretString::from(bad.to_owned())).unwrap_err();
        assert!(matches!(err, UnsealError::Malformed(_)), "{err:?}");
        assert!(!err.to_string().contains(&typo), "the message must not echo the share");
    }
    assert_eq!(sealed.status().progress, 1);
}

#[test]
fn a_share_of_another_init_is_refused_as_foreign() {
    let (sealed, _, _) = split_3_of_5();
    let (_, others, _) = split_3_of_5();
    assert_eq!(sealed.check(&others[0]), Err(UnsealError::Foreign));
    assert!(matches!(sealed.add(&others[0]), Err(UnsealError::Foreign)));
    assert_eq!(sealed.status().progress, 0);
}

#[test]
fn shares_that_do_not_combine_to_the_recorded_key_reset_progress() {
    // A share with the right fingerprint and checksum but a forged point:
    // only the combination's fingerprint check can catch it.
    let (sealed, shares, original) = split_3_of_5();
    let forged = encode_share(4, 3, &original.fingerprint_bytes(), &[7u8; KEY_LEN]).unwrap();
    sealed.add(&shares[0]).unwrap();
    sealed.add(&shares[1]).unwrap();
    assert_eq!(sealed.check(&forged).unwrap(), Checked { index: 4, completes: true });
    assert!(matches!(sealed.add(&forged), Err(UnsealError::Mismatch(3))));
    assert_eq!(sealed.status(), SealStatus { sealed: true, threshold: 3, shares: 5, progress: 0 });
    // The genuine shares still unseal afterwards.
    unseal_with(&sealed, &[&shares[0], &shares[1], &shares[3]]);
    assert!(!sealed.is_sealed());
}

#[test]
fn sealing_again_drops_the_key_and_the_progress() {
    let (sealed, shares, original) = split_3_of_5();
    let wrapped = original.wrap_secret(b"material", b"aad").unwrap();
    unseal_with(&sealed, &[&shares[0], &shares[1], &shares[2]]);
    assert!(sealed.seal(), "it was unsealed");
    assert!(sealed.root.read().unwrap().is_none(), "the key is dropped (and zeroized on drop)");
    assert_eq!(sealed.unwrap_secret(&wrapped, b"aad").map(|_| ()), Err(KeystoreError::Sealed));
    // Partial progress is forgotten by seal as well.
    sealed.add(&shares[3]).unwrap();
    assert!(!sealed.seal(), "it was sealed already");
    assert_eq!(sealed.status().progress, 0);
    // And other shares unseal it again, to the same key.
    unseal_with(&sealed, &[&shares[2], &shares[3], &shares[4]]);
    assert_eq!(sealed.unwrap_secret(&wrapped, b"aad").unwrap().as_slice(), b"material");
}

#[test]
fn initialise_writes_a_record_without_the_key_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms-seal.json");
    let (record, shares) = initialise(&path, 2, 3, 1234).unwrap();
    assert_eq!(shares.len(), 3);
    assert_eq!(SealRecord::load(&path).unwrap(), record);
    let text = std::fs::read_to_string(&path).unwrap();
    for share in &shares {
        let body = share.expose_secret().rsplit('-').next().unwrap();
        assert!(!text.contains(body), "no share is written");
    }
    let again = initialise(&path, 2, 3, 1235).unwrap_err();
    assert!(again.to_string().contains("already initialised"), "{again}");
    assert_eq!(SealRecord::load(&path).unwrap(), record, "the first record stands");
    let sealed = SealedKeystore::new(record).unwrap();
    unseal_with(&sealed, &[&shares[2], &shares[0]]);
    assert!(!sealed.is_sealed());
}

#[test]
fn a_seal_record_with_impossible_values_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms-seal.json");
    for (body, why) in [
        (r#"{"version":2,"threshold":2,"shares":3,"fingerprint":"0011223344556677","created_at_ms":0}"#, "version"),
        (r#"{"version":1,"threshold":4,"shares":3,"fingerprint":"0011223344556677","created_at_ms":0}"#, "split"),
        (r#"{"version":1,"threshold":2,"shares":3,"fingerprint":"0011","created_at_ms":0}"#, "fingerprint"),
        (r#"{"version":1,"threshold":2,"shares":3,"fingerprint":"0011223344556677"}"#, "malformed"),
    ] {
        let _ = std::fs::remove_file(&path);
        rampart_core::secret::write_private_new(&path, body.as_bytes()).unwrap();
        let err = SealRecord::load(&path).unwrap_err().to_string();
        assert!(err.contains(why), "{why}: {err}");
    }
}
