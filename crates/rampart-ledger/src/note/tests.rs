//! Unit tests for signed notes and their keys: round trips, the key
//! encodings, and the malformed notes that must be refused.

use zeroize::Zeroizing;

use super::*;

fn signer(name: &str) -> Signer {
    Signer::generate(name).unwrap()
}

#[test]
fn sign_then_open_round_trips() {
    let s = signer("example.com/log");
    let text = "example.com/log\n1\nAAAA\n";
    let msg = sign(text, &s).unwrap();
    assert!(msg.starts_with(text));
    assert!(msg.contains("\n\n\u{2014} example.com/log "));
    let note = open(msg.as_bytes(), &[s.verifier().clone()]).unwrap();
    assert_eq!(note.text(), text);
    assert_eq!(note.verified().len(), 1);
    assert_eq!(note.verified()[0].key_id, s.key_id());
    assert!(note.unverified().is_empty());
    // The wire form parses back to the same note.
    let parsed = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(parsed.to_string(), msg);
}

#[test]
fn keys_round_trip_through_their_encodings() {
    let s = signer("example.com/k1");
    let vkey = s.verifier().to_string();
    let v = Verifier::parse(&vkey).unwrap();
    assert_eq!(&v, s.verifier());
    let skey = s.expose_secret_encoding();
    assert!(skey.starts_with("PRIVATE+KEY+example.com/k1+"));
    let again = Signer::parse(&skey).unwrap();
    assert_eq!(again.verifier(), s.verifier());
    assert_eq!(again.sign(b"x"), s.sign(b"x"));
}

#[test]
fn debug_output_never_shows_the_seed() {
    let seed = Zeroizing::new([0x42u8; 32]);
    let s = Signer::from_seed("example.com/k", seed).unwrap();
    let debug = format!("{s:?}");
    assert!(debug.contains("REDACTED"), "{debug}");
    let skey = s.expose_secret_encoding();
    let b64 = skey.splitn(5, '+').nth(4).unwrap();
    assert!(!debug.contains(b64), "{debug}");
    assert!(!debug.contains("4242"), "{debug}");
}

#[test]
fn keys_with_a_wrong_id_or_shape_are_refused() {
    let s = signer("example.com/k");
    let vkey = s.verifier().to_string();
    let mut fields = vkey.splitn(3, '+');
    let (name, id, key) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
    let wrong_id = format!("{name}+{:08x}+{key}", s.key_id() ^ 1);
    assert_eq!(Verifier::parse(&wrong_id), Err(NoteError::KeyIdMismatch));
    assert_eq!(Verifier::parse(&format!("other+{id}+{key}")), Err(NoteError::KeyIdMismatch));
    // A random key id may be all digits (no case to change) about 2% of the time.
    if id != id.to_uppercase() {
        assert!(matches!(
            Verifier::parse(&format!("{name}+{}+{key}", id.to_uppercase())),
            Err(NoteError::MalformedKey(_))
        ));
    }
    assert!(matches!(Verifier::parse(&format!("{name}+{id}")), Err(NoteError::MalformedKey(_))));
    assert!(matches!(Verifier::parse(&format!("{name}+{id}+{key}+x")), Err(NoteError::MalformedKey(_))));
    assert!(matches!(Verifier::parse(&format!("{name}+{id}+{key}=")), Err(NoteError::MalformedKey(_))));
    assert!(matches!(Verifier::parse(&format!("a b+{id}+{key}")), Err(NoteError::MalformedKey(_))));
    assert!(matches!(Verifier::parse(&format!("+{id}+{key}")), Err(NoteError::MalformedKey(_))));
    let mut raw = BASE64.decode(key.as_bytes()).unwrap();
    raw[0] = 0x02;
    assert_eq!(Verifier::parse(&format!("{name}+{id}+{}", BASE64.encode(&raw))), Err(NoteError::UnsupportedKeyType(2)));
    raw[0] = 0x01;
    raw.pop();
    assert!(matches!(
        Verifier::parse(&format!("{name}+{id}+{}", BASE64.encode(&raw))),
        Err(NoteError::MalformedKey(_))
    ));
    assert!(Signer::parse(&vkey).is_err(), "a public key is not a private one");
    let skey = s.expose_secret_encoding();
    let tampered = skey.replacen(&format!("{:08x}", s.key_id()), &format!("{:08x}", s.key_id() ^ 1), 1);
    assert_eq!(Signer::parse(&tampered).unwrap_err(), NoteError::KeyIdMismatch);
}

#[test]
fn texts_that_are_not_notes_cannot_be_signed() {
    let s = signer("k");
    assert!(matches!(sign("", &s), Err(NoteError::InvalidText(_))));
    assert!(matches!(sign("no newline", &s), Err(NoteError::InvalidText(_))));
    assert!(matches!(sign("tab\there\n", &s), Err(NoteError::InvalidText(_))));
    assert!(matches!(sign("cr\r\n", &s), Err(NoteError::InvalidText(_))));
}

#[test]
fn malformed_notes_are_refused() {
    let s = signer("example.com/k");
    let v = [s.verifier().clone()];
    let good = sign("hello\n", &s).unwrap();
    let sig_line = good.split_once("\n\n").unwrap().1;
    let cases: Vec<(&str, String)> = vec![
        ("missing final newline", good.trim_end_matches('\n').to_owned()),
        ("no blank line", good.replacen("\n\n", "\n", 1)),
        ("extra blank line at the end", format!("{good}\n")),
        ("blank line between signatures", format!("{good}\n{sig_line}")),
        ("no signatures", "hello\n\n".to_owned()),
        ("hyphen instead of em dash", good.replace('\u{2014}', "-")),
        ("no space after the dash", good.replace("\u{2014} ", "\u{2014}")),
        ("bad base64", good.replacen("example.com/k ", "example.com/k !", 1)),
        ("truncated base64", format!("hello\n\n{}", &sig_line[..sig_line.len() - 3]) + "\n"),
        ("base64 too short", "hello\n\n\u{2014} example.com/k AAAAAA==\n".to_owned()),
        ("no key name", good.replace("\u{2014} example.com/k ", "\u{2014}  ")),
        ("control character", good.replacen("hello", "he\u{7}llo", 1)),
        ("carriage return", good.replacen("hello\n", "hello\r\n", 1)),
    ];
    for (what, msg) in cases {
        assert!(open(msg.as_bytes(), &v).is_err(), "{what} was accepted: {msg:?}");
    }
    assert!(matches!(open(b"hello\n\n\xff\n", &v), Err(NoteError::Malformed(_))));
    let huge = format!("{}\n\n{sig_line}", "a".repeat(MAX_NOTE_LEN));
    assert!(matches!(open(huge.as_bytes(), &v), Err(NoteError::TooLarge { .. })));
}

#[test]
fn signatures_are_checked_against_the_right_keys() {
    let log = signer("example.com/log");
    let witness = signer("example.com/witness");
    let mut note = Note::new("tree head\n").unwrap();
    note.add_signature(&witness).unwrap();
    note.add_signature(&log).unwrap();
    let msg = note.to_string();

    // Only the log is trusted: the witness's signature is kept unverified.
    let opened = open(msg.as_bytes(), &[log.verifier().clone()]).unwrap();
    assert_eq!(opened.verified().len(), 1);
    assert_eq!(opened.unverified().len(), 1);
    assert_eq!(opened.unverified()[0].name, "example.com/witness");

    // No trusted key signed: refused.
    let stranger = signer("example.com/log");
    assert_eq!(open(msg.as_bytes(), &[stranger.verifier().clone()]), Err(NoteError::NoVerifiedSignature));
    assert_eq!(open(msg.as_bytes(), &[]), Err(NoteError::NoVerifiedSignature));

    // A bad signature by a trusted key rejects the note even though another
    // trusted signature is good.
    let mut forged = note.clone();
    forged.signatures[0].signature[0] ^= 1;
    let err = open(forged.to_string().as_bytes(), &[log.verifier().clone(), witness.verifier().clone()]);
    assert!(matches!(err, Err(NoteError::BadSignature { .. })), "{err:?}");

    // The same key listed twice is ambiguous.
    let twice = [log.verifier().clone(), log.verifier().clone()];
    assert!(matches!(open(msg.as_bytes(), &twice), Err(NoteError::AmbiguousVerifier { .. })));

    // Repeated signatures collapse to one.
    let mut doubled = note.clone();
    doubled.add_signature(&log).unwrap();
    doubled.add_signature(&witness).unwrap();
    let opened = open(doubled.to_string().as_bytes(), &[log.verifier().clone()]).unwrap();
    assert_eq!((opened.verified().len(), opened.unverified().len()), (1, 1));
}

#[test]
fn the_text_may_hold_blank_lines() {
    let s = signer("k");
    let text = "first\n\nsecond\n";
    let msg = sign(text, &s).unwrap();
    assert_eq!(open(msg.as_bytes(), &[s.verifier().clone()]).unwrap().text(), text);
}

#[test]
fn too_many_signatures_are_refused() {
    let s = signer("k");
    let mut note = Note::new("x\n").unwrap();
    for _ in 0..MAX_SIGNATURES {
        note.add_signature(&s).unwrap();
    }
    assert!(note.add_signature(&s).is_err());
    assert!(open(note.to_string().as_bytes(), &[s.verifier().clone()]).is_ok());
    let line = note.to_string().rsplit_once("\n\n").unwrap().1.lines().next().unwrap().to_owned();
    let msg = format!("{note}{line}\n");
    assert_eq!(Note::parse(msg.as_bytes()), Err(NoteError::TooManySignatures { max: MAX_SIGNATURES }));
}
