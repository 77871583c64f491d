//! Tests of Ed25519 cosignature v1: known answers from the specification and
//! from other implementations, round trips, and every way a cosignature or a
//! key must fail.

use aws_lc_rs::digest::{SHA256, digest};
use data_encoding::HEXLOWER;
use rampart_ledger::{Checkpoint, Signer, leaf_hash};

use super::*;

/// The checkpoint body of the tlog-cosignature and tlog-witness examples.
const SPEC_BODY: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

/// RFC 8032 section 7.1, test 1: the seed and the public key it gives.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// Computed from the specification's definitions with Python's
/// `cryptography` package (OpenSSL's Ed25519), an implementation independent
/// of this one: the RFC 8032 test 1 key named `witness.example.com/w1`
/// cosigning [`SPEC_BODY`] at the specification's example time 1679315147.
const KAT_VKEY: &str = "witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const KAT_SKEY: &str = "PRIVATE+KEY+witness.example.com/w1+7e6f4aaa+BJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g";
const KAT_LINE: &str = "\u{2014} witness.example.com/w1 fm9KqgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n";

fn rfc8032_key(name: &str) -> CosignerKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&HEXLOWER.decode(RFC8032_SEED.as_bytes()).unwrap());
    CosignerKey::from_seed(name, seed).unwrap()
}

#[test]
fn the_key_id_is_sha256_of_name_newline_0x04_and_key_truncated_to_four_bytes() {
    let key = rfc8032_key("witness.example.com/w1");
    assert_eq!(HEXLOWER.encode(key.verifier().public_key()), RFC8032_PUBLIC);
    // Derived here from the specification's formula, byte by byte.
    let mut input = b"witness.example.com/w1\n".to_vec();
    input.push(0x04);
    input.extend_from_slice(&HEXLOWER.decode(RFC8032_PUBLIC.as_bytes()).unwrap());
    let d = digest(&SHA256, &input);
    let expected = u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]);
    assert_eq!(key.key_id(), expected);
    assert_eq!(key.key_id(), 0x7e6f4aaa);
    // The plain Ed25519 note key of the same name and public key has another
    // ID, since it hashes the type byte 0x01.
    let note_key = rampart_ledger::Verifier::new("witness.example.com/w1", *key.verifier().public_key()).unwrap();
    assert_ne!(note_key.key_id(), key.key_id());
}

#[test]
fn known_answers_from_an_independent_implementation_match() {
    let key = rfc8032_key("witness.example.com/w1");
    assert_eq!(key.verifier().to_string(), KAT_VKEY);
    assert_eq!(key.expose_secret_encoding().as_str(), KAT_SKEY);
    assert_eq!(cosign(SPEC_BODY, &key, 1679315147).unwrap(), KAT_LINE);
    let verifier = CosignerVerifier::parse(KAT_VKEY).unwrap();
    assert_eq!(verify_cosignature(KAT_LINE, SPEC_BODY, &verifier), Ok(1679315147));
    assert_eq!(CosignerKey::parse(KAT_SKEY).unwrap().verifier(), &verifier);
}

#[test]
fn the_signed_message_is_header_time_and_body() {
    assert_eq!(
        signed_message(SPEC_BODY, 1679315147).unwrap(),
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    assert_eq!(signed_message("o\n0\nr\n", 0).unwrap(), b"cosignature/v1\ntime 0\no\n0\nr\n");
    assert_eq!(
        signed_message(SPEC_BODY, MAX_TIMESTAMP + 1),
        Err(CosignatureError::TimestampTooLarge(MAX_TIMESTAMP + 1))
    );
    for bad in ["", "o\n1\nr", "o\n1\n", "o\r\n1\nr\n"] {
        assert!(signed_message(bad, 1).is_err(), "{bad:?}");
    }
}

#[test]
fn cosignature_lines_published_elsewhere_parse_to_their_stated_times() {
    // The example in c2sp.org/tlog-cosignature; its time is the one in the
    // specification's example signed message.
    let spec = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
    let parsed = parse_line(spec).unwrap();
    assert_eq!((parsed.name.as_str(), parsed.key_id, parsed.time), ("witness.example.com/w1", 0x8d66cf3f, 1679315147));
    // TestCosignatureTimestamp in transparency-dev/formats note/note_cosigv1_test.go.
    let go = "\u{2014} w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";
    assert_eq!(parse_line(go).unwrap().time, 1727964367);
    // The same test's plain Ed25519 note signature is no cosignature.
    let plain =
        "\u{2014} w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=";
    assert!(matches!(parse_line(plain), Err(CosignatureError::MalformedLine(_))));
}

#[test]
fn vkeys_from_the_field_parse_and_bad_ones_are_refused() {
    // A deployed witness's Ed25519 cosignature v1 vkey, from
    // TestCoSigV1NewVerifier in transparency-dev/formats.
    let remora = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
    let v = CosignerVerifier::parse(remora).unwrap();
    assert_eq!((v.name(), v.key_id()), ("remora.n621.de", 0xda77ade7));
    assert_eq!(v.to_string(), remora);

    let note_vkey = Signer::generate("example.com/log").unwrap().verifier().to_string();
    let cases = [
        ("plain Ed25519 note key", note_vkey.as_str(), CosignatureError::UnsupportedKeyType(0x01)),
        (
            "wrong key id",
            "remora.n621.de+da77ade8+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            CosignatureError::KeyIdMismatch,
        ),
        (
            "other name",
            "remora.n621.dx+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            CosignatureError::KeyIdMismatch,
        ),
        (
            "upper-case id",
            "remora.n621.de+DA77ADE7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            CosignatureError::MalformedKey("the key ID is not 8 lower-case hex digits"),
        ),
        (
            "two fields",
            "remora.n621.de+da77ade7",
            CosignatureError::MalformedKey("a key has three fields separated by '+'"),
        ),
        ("bad base64", "remora.n621.de+da77ade7+!!!!", CosignatureError::MalformedKey("the key is not valid base64")),
        ("short key", "remora.n621.de+da77ade7+BOvN63jn", CosignatureError::MalformedKey("an Ed25519 key is 32 bytes")),
        ("empty key", "remora.n621.de+da77ade7+", CosignatureError::MalformedKey("the key is empty")),
        (
            "empty name",
            "+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            CosignatureError::MalformedKey("the key name is empty or contains a space or '+'"),
        ),
    ];
    for (what, encoded, want) in cases {
        assert_eq!(CosignerVerifier::parse(encoded), Err(want), "{what}");
    }
    assert!(CosignerKey::parse(KAT_VKEY).is_err(), "a public key is no private key");
    assert!(CosignerKey::parse(&KAT_SKEY.replace("7e6f4aaa", "7e6f4aab")).is_err());
}

#[test]
fn cosign_then_verify_round_trips_and_any_change_fails() {
    let key = CosignerKey::generate("witness.example/w1").unwrap();
    let cp = Checkpoint::new("example.com/log", 7, leaf_hash(b"x")).unwrap();
    let mut with_ext = cp.clone();
    with_ext.extensions = vec!["ext".into()];
    for body in [cp.to_string(), with_ext.to_string()] {
        let line = cosign(&body, &key, 1_700_000_000).unwrap();
        assert!(line.ends_with('\n') && line.starts_with("\u{2014} witness.example/w1 "));
        assert_eq!(verify_cosignature(&line, &body, key.verifier()), Ok(1_700_000_000));
        assert_eq!(verify_cosignature(line.trim_end(), &body, key.verifier()), Ok(1_700_000_000));

        let tampered = body.replace("\n7\n", "\n8\n");
        assert!(matches!(
            verify_cosignature(&line, &tampered, key.verifier()),
            Err(CosignatureError::BadSignature { .. })
        ));
        let other = CosignerKey::generate("witness.example/w1").unwrap();
        assert!(matches!(verify_cosignature(&line, &body, other.verifier()), Err(CosignatureError::WrongKey { .. })));
        // The same public key under another name has another key ID.
        let renamed = CosignerVerifier::new("witness.example/w2", *key.verifier().public_key()).unwrap();
        assert!(matches!(verify_cosignature(&line, &body, &renamed), Err(CosignatureError::WrongKey { .. })));

        // Changing the stated time breaks the signature.
        let parsed = parse_line(&line).unwrap();
        let mut raw = parsed.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&(parsed.time + 1).to_be_bytes());
        raw.extend_from_slice(&parsed.signature);
        let retimed = format!("\u{2014} witness.example/w1 {}\n", BASE64.encode(&raw));
        assert!(matches!(
            verify_cosignature(&retimed, &body, key.verifier()),
            Err(CosignatureError::BadSignature { .. })
        ));
    }
    // Extension lines are covered by the cosignature.
    let line = cosign(&with_ext.to_string(), &key, 5).unwrap();
    assert!(verify_cosignature(&line, &cp.to_string(), key.verifier()).is_err());
}

#[test]
fn a_cosignature_is_not_a_note_signature_and_a_note_signature_is_not_a_cosignature() {
    let seed = Zeroizing::new([7u8; 32]);
    let cosigner = CosignerKey::from_seed("w", seed.clone()).unwrap();
    let signer = Signer::from_seed("w", seed).unwrap();
    let body = Checkpoint::new("o", 1, leaf_hash(b"a")).unwrap().to_string();
    let line = cosign(&body, &cosigner, 9).unwrap();
    let note = format!("{body}\n{line}");
    assert!(rampart_ledger::note::open(note.as_bytes(), &[signer.verifier().clone()]).is_err());
    let signed = rampart_ledger::note::sign(&body, &signer).unwrap();
    let note_line = signed.rsplit_once("\n\n").unwrap().1;
    assert!(verify_cosignature(note_line, &body, cosigner.verifier()).is_err());
}

#[test]
fn malformed_lines_are_refused_with_reasons() {
    let key = rfc8032_key("witness.example.com/w1");
    let good = KAT_LINE.trim_end();
    let b64 = good.rsplit_once(' ').unwrap().1;
    let mut over = BASE64.decode(b64.as_bytes()).unwrap();
    over[4] = 0x80;
    let cases = [
        ("hyphen", good.replacen('\u{2014}', "-", 1)),
        ("no space after the dash", format!("\u{2014}witness.example.com/w1 {b64}")),
        ("no space after the name", format!("\u{2014} witness.example.com/w1{b64}")),
        ("two lines", format!("{good}\n{good}")),
        ("bad base64", format!("{}!", &good[..good.len() - 1])),
        ("short", format!("\u{2014} witness.example.com/w1 {}", BASE64.encode(&[1u8; 75]))),
        ("long", format!("\u{2014} witness.example.com/w1 {}", BASE64.encode(&[1u8; 77]))),
        ("name with plus", good.replacen("witness.example.com/w1", "a+b", 1)),
        ("time above 2^63-1", format!("\u{2014} witness.example.com/w1 {}", BASE64.encode(&over))),
    ];
    for (what, line) in cases {
        assert!(verify_cosignature(&line, SPEC_BODY, key.verifier()).is_err(), "{what} was accepted");
    }
    assert_eq!(
        parse_line(&format!("\u{2014} witness.example.com/w1 {}", BASE64.encode(&over))),
        Err(CosignatureError::TimestampTooLarge(u64::from_be_bytes([0x80, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb])))
    );
}

#[test]
fn debug_output_never_shows_the_seed() {
    let key = rfc8032_key("witness.example.com/w1");
    let shown = format!("{key:?}");
    assert!(shown.contains("REDACTED") && shown.contains("7e6f4aaa"));
    assert!(!shown.contains("nWGxne") && !shown.contains("9d61b19d"));
}
