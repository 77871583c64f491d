//! Unit tests of every spec's material: generation, serialisation round
//! trips, signatures checked by an independent verifier (the public key as
//! a caller would receive it), OAEP round trips and limits, HMAC tags, and
//! malformed input refused.

use aws_lc_rs::signature::{self, UnparsedPublicKey};

use super::*;

fn generate(spec: KeySpec) -> (Material, Zeroizing<Vec<u8>>) {
    match Material::generate(spec) {
        Ok(pair) => pair,
        Err(e) => panic!("generating {spec}: {e}"),
    }
}

/// The SubjectPublicKeyInfo's trailing BIT STRING: the raw public key an
/// independent verifier takes. SPKI is SEQUENCE { AlgorithmIdentifier,
/// BIT STRING }, and the key is the BIT STRING's content after its
/// unused-bits byte, which for these keys ends the document.
fn spki_key(spki: &[u8], key_len_hint: usize) -> &[u8] {
    &spki[spki.len() - key_len_hint..]
}

#[test]
fn every_spec_round_trips_through_its_serialised_secret() {
    for spec in [KeySpec::SymmetricDefault, KeySpec::Hmac256, KeySpec::Hmac512, KeySpec::EccNistP256, KeySpec::Rsa2048]
    {
        let (material, secret) = generate(spec);
        assert_eq!(material.spec(), spec);
        let again = Material::from_secret(spec, &secret).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(again.spec(), spec);
        assert!(!format!("{again:?}").contains(&format!("{:?}", &secret[..4])), "Debug must redact");
    }
}

#[test]
fn secrets_of_the_wrong_spec_or_size_are_refused() {
    let (_, hmac) = generate(KeySpec::Hmac256);
    assert_eq!(Material::from_secret(KeySpec::Hmac384, &hmac).err(), Some(MaterialError::Malformed));
    let (_, p256) = generate(KeySpec::EccNistP256);
    assert_eq!(Material::from_secret(KeySpec::EccNistP384, &p256).err(), Some(MaterialError::Malformed));
    let (_, rsa) = generate(KeySpec::Rsa2048);
    assert_eq!(Material::from_secret(KeySpec::Rsa3072, &rsa).err(), Some(MaterialError::Malformed));
    assert_eq!(Material::from_secret(KeySpec::Rsa2048, b"not der").err(), Some(MaterialError::Malformed));
    assert_eq!(Material::from_secret(KeySpec::SymmetricDefault, &[0u8; 31]).err(), Some(MaterialError::Malformed));
}

#[test]
fn ecdsa_signatures_verify_with_the_published_public_key() {
    for (spec, alg, verify_alg, point_len) in [
        (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256, &signature::ECDSA_P256_SHA256_ASN1, 65),
        (KeySpec::EccNistP384, SigningAlgorithm::EcdsaSha384, &signature::ECDSA_P384_SHA384_ASN1, 97),
    ] {
        let (material, _) = generate(spec);
        let sig = material.sign(alg, b"hello", MessageType::Raw).unwrap_or_else(|e| panic!("{e}"));
        let spki = material.public_key_der().unwrap_or_else(|e| panic!("{e}"));
        let public = UnparsedPublicKey::new(verify_alg, spki_key(&spki, point_len));
        assert!(public.verify(b"hello", &sig).is_ok(), "{spec}: an independent verifier accepts the signature");
        assert!(public.verify(b"hellO", &sig).is_err());
        assert_eq!(material.verify(alg, b"hello", MessageType::Raw, &sig), Ok(true));
        assert_eq!(material.verify(alg, b"other", MessageType::Raw, &sig), Ok(false));
        assert_eq!(material.verify(alg, b"hello", MessageType::Raw, b"garbage"), Ok(false));
    }
}

#[test]
fn digest_signing_equals_raw_signing_of_the_same_message() {
    let (material, _) = generate(KeySpec::Rsa2048);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, b"message");
    // PKCS#1 v1.5 is deterministic, so the two paths must give the same bytes.
    let alg = SigningAlgorithm::RsassaPkcs1V15Sha384;
    let raw = material.sign(alg, b"message", MessageType::Raw).unwrap_or_else(|e| panic!("{e}"));
    let pre = material.sign(alg, digest.as_ref(), MessageType::Digest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw, pre);
    assert_eq!(material.verify(alg, digest.as_ref(), MessageType::Digest, &raw), Ok(true));
    assert_eq!(
        material.sign(alg, &digest.as_ref()[..32], MessageType::Digest).err(),
        Some(MaterialError::DigestLength(48)),
        "a digest of the wrong length is refused"
    );
}

#[test]
fn rsa_pss_signatures_verify_and_are_randomised() {
    let (material, _) = generate(KeySpec::Rsa2048);
    let alg = SigningAlgorithm::RsassaPssSha256;
    let a = material.sign(alg, b"m", MessageType::Raw).unwrap_or_else(|e| panic!("{e}"));
    let b = material.sign(alg, b"m", MessageType::Raw).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a, b, "PSS uses a random salt");
    assert_eq!(material.verify(alg, b"m", MessageType::Raw, &a), Ok(true));
    assert_eq!(material.verify(SigningAlgorithm::RsassaPkcs1V15Sha256, b"m", MessageType::Raw, &a), Ok(false));
}

#[test]
fn oaep_round_trips_and_refuses_oversized_or_tampered_input() {
    let (material, _) = generate(KeySpec::Rsa2048);
    assert_eq!(material.rsa_max_plaintext(), Ok(190));
    let ct = material.rsa_encrypt(b"secret").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ct.len(), 256);
    assert_eq!(material.rsa_decrypt(&ct).map(|p| p.to_vec()), Ok(b"secret".to_vec()));
    assert_eq!(material.rsa_encrypt(&[0u8; 191]).err(), Some(MaterialError::PlaintextTooLong(190)));
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert_eq!(material.rsa_decrypt(&bad).err(), Some(MaterialError::Decrypt));
    assert_eq!(material.rsa_decrypt(b"short").err(), Some(MaterialError::Decrypt));
}

#[test]
fn hmac_tags_follow_rfc_4231() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    // HMAC keys here are exactly the hash length, so the key is padded as
    // HMAC itself would pad it (with zeros) to test through from_secret.
    let mut key = b"Jefe".to_vec();
    key.resize(32, 0);
    let material = Material::from_secret(KeySpec::Hmac256, &key).unwrap_or_else(|e| panic!("{e}"));
    let tag = material.mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing?").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        data_encoding::HEXLOWER.encode(&tag),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(material.verify_mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing?", &tag), Ok(true));
    assert_eq!(material.verify_mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing!", &tag), Ok(false));
    assert_eq!(material.verify_mac(MacAlgorithm::HmacSha256, b"what do ya want for nothing?", &tag[..31]), Ok(false));
}

#[test]
fn operations_of_another_kind_are_refused() {
    let (sym, _) = generate(KeySpec::SymmetricDefault);
    assert_eq!(sym.sign(SigningAlgorithm::EcdsaSha256, b"m", MessageType::Raw).err(), Some(MaterialError::WrongKind));
    assert_eq!(sym.public_key_der().err(), Some(MaterialError::WrongKind));
    assert_eq!(sym.mac(MacAlgorithm::HmacSha256, b"m").err(), Some(MaterialError::WrongKind));
    let (ec, _) = generate(KeySpec::EccNistP256);
    assert!(ec.symmetric().is_err());
    assert_eq!(ec.rsa_encrypt(b"m").err(), Some(MaterialError::WrongKind));
    assert_eq!(
        ec.sign(SigningAlgorithm::RsassaPssSha256, b"m", MessageType::Raw).err(),
        Some(MaterialError::WrongKind),
        "an RSA algorithm on an EC key"
    );
}

#[test]
fn data_key_pairs_are_usable_private_keys_with_matching_public_keys() {
    let (private, public) = generate_key_pair(KeySpec::EccNistP384).unwrap_or_else(|e| panic!("{e}"));
    let material = Material::from_secret(KeySpec::EccNistP384, &private).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(material.public_key_der().ok(), Some(public));
    assert_eq!(generate_random(1024).map(|r| r.len()), Ok(1024));
}
