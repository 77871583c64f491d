//! The encrypted recording format: round trips, and every kind of
//! tampering refused with its own error.

use std::io::Write;

use super::sealed::{MAX_SEGMENT, Opener, RecordingKey, SealError, SealHeader, SealedWriter, open_all};

fn key(b: u8) -> RecordingKey {
    RecordingKey::new(&[b; 32]).unwrap_or_else(|e| panic!("{e}"))
}

fn header(session: &str) -> SealHeader {
    SealHeader {
        session: session.into(),
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        wrapped_key: vec![7; 80],
        nonce_prefix: [1, 2, 3, 4, 5, 6, 7],
    }
}

/// A recording written part by part, one flush each (finished or as a
/// crash leaves it), and the offsets where its segments start.
fn sealed(parts: &[&[u8]], finish: bool) -> (Vec<u8>, Vec<usize>) {
    let mut w = SealedWriter::new(Vec::new(), &header("ses_1"), &key(9)).unwrap_or_else(|e| panic!("{e}"));
    for part in parts {
        w.write_all(part).unwrap_or_else(|e| panic!("{e}"));
        w.flush().unwrap_or_else(|e| panic!("{e}"));
    }
    let bytes = if finish { w.finish().unwrap_or_else(|e| panic!("{e}")) } else { w.get_ref().clone() };
    let (_, used) = SealHeader::parse(&bytes).ok().flatten().unwrap_or_else(|| panic!("header"));
    let mut starts = Vec::new();
    let mut at = used;
    while at + 4 <= bytes.len() {
        starts.push(at);
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        at += 4 + len;
    }
    (bytes, starts)
}

#[test]
fn a_sealed_recording_round_trips_and_hides_its_plaintext() {
    let (bytes, starts) = sealed(&[b"{\"version\": 2}\n", b"[0.1, \"i\", \"echo SECRET-MARKER\"]\n", b""], true);
    assert_eq!(starts.len(), 3, "two flushed segments and the final one (an empty flush adds none)");
    assert!(!bytes.windows(13).any(|w| w == b"SECRET-MARKER"), "no plaintext on disk");
    let (h, plain) = open_all(&bytes, &key(9), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(h.session, "ses_1");
    assert_eq!(plain, b"{\"version\": 2}\n[0.1, \"i\", \"echo SECRET-MARKER\"]\n");
}

#[test]
fn large_writes_are_split_into_bounded_segments() {
    let big = vec![b'x'; MAX_SEGMENT * 2 + 10];
    let (bytes, starts) = sealed(&[&big], true);
    assert_eq!(starts.len(), 4, "two full segments, the rest, the final one");
    let (_, plain) = open_all(&bytes, &key(9), false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plain, big);
}

#[test]
fn each_kind_of_tampering_is_refused_with_its_own_error() {
    let (bytes, starts) = sealed(&[b"first part\n", b"second part\n"], true);
    // A flipped bit in a segment's ciphertext.
    let mut flipped = bytes.clone();
    flipped[starts[1] + 6] ^= 1;
    assert_eq!(open_all(&flipped, &key(9), false).err(), Some(SealError::Authentication { segment: 1 }));
    // Two segments swapped.
    let mut swapped = bytes[..starts[0]].to_vec();
    swapped.extend_from_slice(&bytes[starts[1]..starts[2]]);
    swapped.extend_from_slice(&bytes[starts[0]..starts[1]]);
    swapped.extend_from_slice(&bytes[starts[2]..]);
    assert_eq!(open_all(&swapped, &key(9), false).err(), Some(SealError::Authentication { segment: 0 }));
    // The final segment dropped: cut at a segment boundary.
    let cut = &bytes[..starts[2]];
    assert_eq!(open_all(cut, &key(9), false).err(), Some(SealError::Unfinished { segments: 2 }));
    let (_, crashed) = open_all(cut, &key(9), true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(crashed, b"first part\nsecond part\n", "a crashed session reads back up to its last flush");
    let (unfinished, _) = sealed(&[b"first part\n", b"second part\n"], false);
    assert_eq!(open_all(&unfinished, &key(9), false).err(), Some(SealError::Unfinished { segments: 2 }));
    assert_eq!(open_all(&unfinished, &key(9), true).map(|(_, p)| p).ok(), Some(crashed));
    // Cut inside a segment.
    let mid = &bytes[..starts[1] + 7];
    assert_eq!(open_all(mid, &key(9), true).err(), Some(SealError::Truncated { segment: 1 }));
    // Bytes after the final segment.
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"more");
    assert_eq!(open_all(&trailing, &key(9), false).err(), Some(SealError::Trailing));
    // A header from another session (same key, same prefix): no segment opens.
    let other = header("ses_2").encode().unwrap_or_else(|e| panic!("{e}"));
    let mut spliced = other.clone();
    spliced.extend_from_slice(&bytes[starts[0]..]);
    assert_eq!(open_all(&spliced, &key(9), false).err(), Some(SealError::Authentication { segment: 0 }));
    // The wrong key.
    assert_eq!(open_all(&bytes, &key(8), false).err(), Some(SealError::Authentication { segment: 0 }));
    // A length field out of bounds.
    let mut long = bytes.clone();
    long[starts[0]..starts[0] + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(open_all(&long, &key(9), false), Err(SealError::BadSegmentLength { segment: 0, .. })));
    // Not this format at all, and a later version.
    assert_eq!(open_all(b"{\"version\": 2}\n", &key(9), false).err(), Some(SealError::BadMagic));
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert_eq!(open_all(&v2, &key(9), false).err(), Some(SealError::UnsupportedVersion(2)));
}

#[test]
fn the_opener_gives_the_same_plaintext_whatever_the_chunking() {
    let (bytes, _) = sealed(&[b"alpha\n", b"beta\n", b"gamma\n"], true);
    let (h, used) = SealHeader::parse(&bytes).ok().flatten().unwrap_or_else(|| panic!("header"));
    for chunk in [1, 3, 7, 64, 4096] {
        let mut opener = Opener::new(&h, &bytes[..used], &key(9)).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for piece in bytes[used..].chunks(chunk) {
            opener.push(piece, &mut out).unwrap_or_else(|e| panic!("{e}"));
        }
        opener.end().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, b"alpha\nbeta\ngamma\n", "chunk {chunk}");
    }
    // A header arriving a byte at a time asks for more, then parses.
    for n in 0..used {
        assert_eq!(SealHeader::parse(&bytes[..n]).ok().map(|h| h.is_none()), Some(true), "prefix {n}");
    }
}

/// The fuzz seeds were written by an independent implementation of the
/// format as `docs/bastion-recordings.md` describes it (Python's
/// `cryptography`): the finished one opens here to the asciicast it holds,
/// and every seed passes the fuzz target's invariants.
#[test]
fn the_documented_format_written_elsewhere_opens_here() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/bastion_sealed_reader");
    let finished = std::fs::read(dir.join("finished.bin")).unwrap_or_else(|e| panic!("{e}"));
    let key = RecordingKey::new(&crate::fuzz_entry::SEALED_FUZZ_KEY).unwrap_or_else(|e| panic!("{e}"));
    let (header, plain) = open_all(&finished[1..], &key, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header.session, "ses_0123456789abcdef");
    assert!(String::from_utf8_lossy(&plain).contains("[0.100000, \"i\", \"echo hi\\r\"]"));
    let unfinished = std::fs::read(dir.join("unfinished.bin")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(open_all(&unfinished[1..], &key, false), Err(SealError::Unfinished { segments: 3 })));
    let flipped = std::fs::read(dir.join("flipped.bin")).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(open_all(&flipped[1..], &key, false), Err(SealError::Authentication { .. })));
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")).flatten() {
        crate::fuzz_entry::sealed_reader(&std::fs::read(entry.path()).unwrap_or_default());
        seeds += 1;
    }
    assert!(seeds >= 5);
}
