//! Standard vectors run against the ledger core: every inclusion, consistency
//! and subtree proof case of transparency-dev/merkle's testdata, and the C2SP
//! signed-note example, from `../shared/testdata` beside the project root.
//! Where that folder is absent the tests say SKIPPED and pass.
//!
//! A hash here is exactly 32 bytes, so a vector value of another length
//! (upstream's "don't care" placeholders, empty or truncated hashes) cannot
//! reach the verifiers as such. Upstream only ever compares such values byte
//! for byte, so each is replaced by a 32-byte stand-in derived from its bytes
//! and its role: equal placeholders in the same role (two roots) stay equal,
//! and a placeholder never equals a real hash or one in another role.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use rampart_ledger::note::{self, Verifier};
use rampart_ledger::{
    Hash, leaf_hash, verify_consistency, verify_inclusion, verify_subtree_consistency, verify_subtree_inclusion,
};
use serde::Deserialize;

fn testdata() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} is absent; the standard vectors were not run", dir.display());
        None
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Decodes vector hashes, replacing values that are not 32 bytes long by
/// stand-ins (see the module comment) and counting them.
#[derive(Default)]
struct Decoder {
    stand_ins: usize,
}

impl Decoder {
    fn hash(&mut self, b64: &str, role: &str) -> Hash {
        let bytes = BASE64.decode(b64.as_bytes()).unwrap_or_else(|e| panic!("bad base64 {b64:?}: {e}"));
        if let Ok(hash) = Hash::try_from(bytes.as_slice()) {
            return hash;
        }
        self.stand_ins += 1;
        leaf_hash(&[b"rampart vector stand-in ".as_slice(), role.as_bytes(), b" ", &bytes].concat())
    }

    fn proof(&mut self, proof: &Option<Vec<String>>) -> Vec<Hash> {
        proof.iter().flatten().map(|h| self.hash(h, "proof")).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubtreeInclusion {
    leaf_idx: u64,
    start: u64,
    end: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SubtreeConsistency {
    start: u64,
    end: u64,
    size: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// What one vector folder produced: how many cases ran, how many of them
/// were valid proofs, and which disagreed with the expected outcome.
struct Outcome {
    cases: usize,
    valid: usize,
    stand_ins: usize,
    failures: Vec<String>,
}

/// Runs `check` on every JSON file under `merkle/testdata/<folder>`, which
/// returns the case's description, whether an error was expected, and the
/// verifier's result.
fn run<T: for<'de> Deserialize<'de>>(
    root: &Path,
    folder: &str,
    check: impl Fn(&T, &mut Decoder) -> (String, bool, Result<(), rampart_ledger::ProofError>),
) -> Outcome {
    let mut files = Vec::new();
    json_files(&root.join("merkle/testdata").join(folder), &mut files);
    let mut decoder = Decoder::default();
    let mut outcome = Outcome { cases: 0, valid: 0, stand_ins: 0, failures: Vec::new() };
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let case: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (desc, want_err, got) = check(&case, &mut decoder);
        outcome.cases += 1;
        if !want_err {
            outcome.valid += 1;
        }
        if got.is_err() != want_err {
            let name = file.strip_prefix(root).unwrap_or(file).display();
            outcome.failures.push(format!("{name} ({desc}): wantErr {want_err}, got {got:?}"));
        }
    }
    outcome.stand_ins = decoder.stand_ins;
    eprintln!("{folder}: {} cases, {} valid, {} stand-in hashes", outcome.cases, outcome.valid, outcome.stand_ins);
    assert!(outcome.failures.is_empty(), "{folder} vectors failed:\n{}", outcome.failures.join("\n"));
    outcome
}

#[test]
fn rfc9162_inclusion_and_consistency_vectors() {
    let Some(root) = testdata() else { return };
    let inclusion = run(&root, "inclusion", |c: &Inclusion, d| {
        let (leaf, proof, want) = (d.hash(&c.leaf_hash, "leaf"), d.proof(&c.proof), d.hash(&c.root, "root"));
        (c.desc.clone(), c.want_err, verify_inclusion(c.leaf_idx, c.tree_size, &leaf, &proof, &want))
    });
    let consistency = run(&root, "consistency", |c: &Consistency, d| {
        let (root1, root2, proof) = (d.hash(&c.root1, "root"), d.hash(&c.root2, "root"), d.proof(&c.proof));
        (c.desc.clone(), c.want_err, verify_consistency(c.size1, c.size2, &proof, &root1, &root2))
    });
    // Guards against a wrong path or an emptied folder passing vacuously, and
    // against a verifier that refuses everything.
    assert!(inclusion.cases + consistency.cases > 100, "only {} cases", inclusion.cases + consistency.cases);
    assert!(inclusion.cases >= 90 && consistency.cases >= 90);
    assert!(inclusion.valid >= 5 && consistency.valid >= 5);
}

#[test]
fn subtree_inclusion_and_consistency_vectors() {
    let Some(root) = testdata() else { return };
    let inclusion = run(&root, "subtreeinclusion", |c: &SubtreeInclusion, d| {
        let (leaf, proof, want) = (d.hash(&c.leaf_hash, "leaf"), d.proof(&c.proof), d.hash(&c.root, "root"));
        (c.desc.clone(), c.want_err, verify_subtree_inclusion(c.leaf_idx, c.start, c.end, &leaf, &proof, &want))
    });
    let consistency = run(&root, "subtreeconsistency", |c: &SubtreeConsistency, d| {
        let (root1, root2, proof) = (d.hash(&c.root1, "root"), d.hash(&c.root2, "root"), d.proof(&c.proof));
        (c.desc.clone(), c.want_err, verify_subtree_consistency(c.start, c.end, c.size, &proof, &root1, &root2))
    });
    assert!(inclusion.cases >= 150 && consistency.cases >= 100, "{} and {} cases", inclusion.cases, consistency.cases);
    assert!(inclusion.valid >= 5 && consistency.valid >= 5);
}

/// The verifier key line and the note between the BEGIN and END markers.
fn signed_note_vector(root: &Path) -> (String, String) {
    let text = fs::read_to_string(root.join("c2sp/signed-note-vector.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines.iter().position(|l| *l == "-----BEGIN NOTE-----").expect("BEGIN marker");
    let end = lines.iter().position(|l| *l == "-----END NOTE-----").expect("END marker");
    let keys: Vec<&str> = lines[..begin].iter().copied().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(keys.len(), 1, "expected one verifier key line, found {keys:?}");
    let note: String = lines[begin + 1..end].iter().map(|l| format!("{l}\n")).collect();
    (keys[0].to_owned(), note)
}

#[test]
fn c2sp_signed_note_vector_verifies() {
    let Some(root) = testdata() else { return };
    let (vkey, msg) = signed_note_vector(&root);
    let verifier = Verifier::parse(&vkey).unwrap();
    assert_eq!(verifier.to_string(), vkey, "the key re-encodes to the same line");
    let opened = note::open(msg.as_bytes(), std::slice::from_ref(&verifier)).unwrap();
    let (text, _) = msg.rsplit_once("\n\n").unwrap();
    assert_eq!(opened.text(), format!("{text}\n"));
    assert_eq!(opened.verified().len(), 1);
    assert_eq!(opened.verified()[0].key_id, verifier.key_id());
}

#[test]
fn c2sp_signed_note_vector_fails_when_any_byte_changes() {
    let Some(root) = testdata() else { return };
    let (vkey, msg) = signed_note_vector(&root);
    let verifiers = [Verifier::parse(&vkey).unwrap()];
    let bytes = msg.as_bytes();
    for i in 0..bytes.len() {
        for flip in [0x01, 0x20, 0x80] {
            let mut changed = bytes.to_vec();
            changed[i] ^= flip;
            let result = note::open(&changed, &verifiers);
            assert!(result.is_err(), "byte {i} ^ {flip:#04x} still verifies: {:?}", String::from_utf8_lossy(&changed));
        }
    }
    // A key that differs only in its public key bytes must not verify it.
    let mut other = verifiers[0].public_key().to_owned();
    other[0] ^= 1;
    let impostor = Verifier::new(verifiers[0].name(), other).unwrap();
    assert!(note::open(bytes, &[impostor]).is_err());
}
