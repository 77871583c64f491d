//! The embedded tile store: appends in batches of every shape, reopening,
//! entry reads, proofs served from tiles, and what uncommitted or tampered
//! files do to it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use rampart_ledger::fslog::{FsLog, TileReader};
use rampart_ledger::merkle::{Hash, leaf_hash, root_from_leaves, verify_consistency, verify_inclusion};
use rampart_ledger::oracle::{consistency_proof_with, inclusion_proof_with};

fn entry(i: u64) -> Vec<u8> {
    format!("entry number {i} {}", "x".repeat((i % 97) as usize)).into_bytes()
}

#[test]
fn batches_of_every_size_reopen_to_the_same_log_and_prove() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    let mut leaves: Vec<Hash> = Vec::new();
    let mut next = 0u64;
    for batch in [1usize, 2, 255, 1, 256, 300, 4096, 7, 65_536 - 4_918, 3000] {
        let entries: Vec<Vec<u8>> = (0..batch as u64).map(|i| entry(next + i)).collect();
        let first = log.append(&entries).unwrap();
        assert_eq!(first, next);
        leaves.extend(entries.iter().map(|e| leaf_hash(e)));
        next += batch as u64;
        assert_eq!(log.size(), next);
        assert_eq!(log.root(), root_from_leaves(&leaves), "root after {next}");
        // Reopening restores exactly the committed log.
        let reopened = FsLog::open(dir.path()).unwrap();
        assert_eq!((reopened.size(), reopened.root()), (log.size(), log.root()));
    }
    let size = log.size();
    let reader = TileReader::new(dir.path());
    assert_eq!(reader.state().unwrap(), (size, log.root()));
    for i in [0, 1, 255, 256, 257, 65_535, 65_536, size - 1] {
        assert_eq!(reader.entry(i, size).unwrap(), entry(i), "entry {i}");
        let proof = inclusion_proof_with(i, size, &mut |h, k| reader.node(h, k, size)).unwrap();
        verify_inclusion(i, size, &leaf_hash(&entry(i)), &proof, &log.root()).unwrap();
    }
    assert!(reader.entry(size, size).is_err());
    for size1 in [1, 2, 256, 257, 4000, 65_536, size - 1] {
        let proof = consistency_proof_with(size1, size, &mut |h, k| reader.node(h, k, size)).unwrap();
        let root1 = root_from_leaves(&leaves[..size1 as usize]);
        verify_consistency(size1, size, &proof, &root1, &log.root()).unwrap();
    }
}

#[test]
fn files_written_past_the_committed_state_are_ignored_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&(0..300).map(entry).collect::<Vec<_>>()).unwrap();
    let committed = (log.size(), log.root());
    // A crash after writing the next batch's files but before its state: a
    // stray partial tile and bundle of a larger width.
    std::fs::create_dir_all(dir.path().join("tile/0/001.p")).unwrap();
    std::fs::write(dir.path().join("tile/0/001.p/99"), vec![7u8; 99 * 32]).unwrap();
    std::fs::write(dir.path().join("tile/entries/001.p/99"), b"garbage").unwrap();
    let mut reopened = FsLog::open(dir.path()).unwrap();
    assert_eq!((reopened.size(), reopened.root()), committed);
    let more: Vec<Vec<u8>> = (300..400).map(entry).collect();
    reopened.append(&more).unwrap();
    let all: Vec<Hash> = (0..400).map(|i| leaf_hash(&entry(i))).collect();
    assert_eq!(reopened.root(), root_from_leaves(&all));
    assert_eq!(TileReader::new(dir.path()).entry(399, 400).unwrap(), entry(399));
}

#[test]
fn a_changed_byte_in_a_tile_is_found_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&(0..1000).map(entry).collect::<Vec<_>>()).unwrap();
    let partial = dir.path().join("tile/0/003.p/232");
    let mut bytes = std::fs::read(&partial).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&partial, bytes).unwrap();
    let err = FsLog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("root"), "{err}");
}

#[test]
fn oversized_entries_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&[b"ok".to_vec()]).unwrap();
    let before = (log.size(), log.root());
    assert!(log.append(&[b"fine".to_vec(), vec![0u8; 70_000]]).is_err());
    assert_eq!((log.size(), log.root()), before);
    assert_eq!(FsLog::open(dir.path()).map(|l| (l.size(), l.root())).unwrap(), before);
}
