//! The running ledger: concurrent writers under group commit, signed
//! checkpoints, tiles served only when committed, proofs that verify against
//! the checkpoint, and fail-closed appends when storage breaks, with
//! recovery once it returns.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use rampart_ledger::Checkpoint;
use rampart_ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use rampart_ledger::{Ledger, LedgerError, Signer};

async fn wait_for_checkpoint(ledger: &Ledger, size: u64) -> String {
    for _ in 0..50 {
        if let Some(c) = ledger.checkpoint().filter(|c| c.lines().nth(1) == Some(size.to_string().as_str())) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint for size {size}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_unique_durable_indexes_and_provable_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate("test.example/ledger").unwrap();
    let ledger = Ledger::start(dir.path(), signer, "test.example/ledger").unwrap();
    let mut tasks = Vec::new();
    for w in 0..20u64 {
        let l = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..50u64 {
                let entry = format!("writer {w} entry {i}").into_bytes();
                got.push((l.append(entry.clone()).await.unwrap(), entry));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let indexes: BTreeSet<u64> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes.len(), 1000, "every acknowledged entry has its own index");
    assert_eq!(indexes.iter().next_back(), Some(&999));
    assert_eq!(ledger.head().size, 1000);

    let note = wait_for_checkpoint(&ledger, 1000).await;
    let (cp, _) = Checkpoint::open(note.as_bytes(), "test.example/ledger", &[ledger.verifier().clone()]).unwrap();
    assert_eq!((cp.size, cp.root), (1000, ledger.head().root));

    for (index, entry) in all.iter().step_by(97) {
        let p = ledger.inclusion(*index, None).await.unwrap();
        assert_eq!(&p.entry, entry);
        verify_inclusion(*index, cp.size, &leaf_hash(entry), &p.proof, &cp.root).unwrap();
    }
    // A later checkpoint is consistent with this one.
    let newer = ledger.append(b"one more".to_vec()).await.unwrap();
    // Asked against the older size, the new entry is "not yet" (a 400 the
    // CLI retries on), not "not found": regression for `audit prove`
    // failing when the served checkpoint lagged behind the append.
    assert!(matches!(ledger.inclusion(newer, Some(cp.size)).await, Err(rampart_ledger::LedgerError::BadRequest(_))));
    let later = wait_for_checkpoint(&ledger, 1001).await;
    let (cp2, _) = Checkpoint::open(later.as_bytes(), "test.example/ledger", &[ledger.verifier().clone()]).unwrap();
    let proof = ledger.consistency(cp.size, Some(cp2.size)).await.unwrap();
    verify_consistency(cp.size, cp2.size, &proof, &cp.root, &cp2.root).unwrap();
    let history = rampart_ledger::service::read_checkpoint_history(dir.path()).unwrap();
    assert!(history.len() >= 2, "every checkpoint is kept: {}", history.len());

    // Tiles: committed ones are served, ones beyond the log are not.
    assert_eq!(ledger.tile("0/000").await.unwrap().len(), 256 * 32);
    assert_eq!(ledger.tile("0/003.p/233").await.unwrap().len(), 233 * 32);
    assert!(matches!(ledger.tile("0/004").await, Err(LedgerError::NotFound)));
    assert!(matches!(ledger.tile("0/003").await, Err(LedgerError::NotFound)), "tile 3 is still partial");
    assert!(matches!(ledger.tile("../state").await, Err(LedgerError::NotFound)));
    assert!(!ledger.tile("entries/003.p/233").await.unwrap().is_empty());
    assert!(matches!(ledger.inclusion(5000, None).await, Err(LedgerError::NotFound | LedgerError::BadRequest(_))));
    assert!(matches!(ledger.consistency(0, None).await, Err(LedgerError::BadRequest(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_storage_refuses_appends_and_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::start(dir.path(), Signer::generate("t/l").unwrap(), "t/l").unwrap();
    for i in 0..10u8 {
        ledger.append(vec![i]).await.unwrap();
    }
    // Storage disappears: the tile directory is replaced by a plain file.
    // A commit needs only the journal, so appends go on being acknowledged
    // until the flusher (about a second later) fails to write the tiles;
    // from then on the log is in doubt and appends are refused, changing
    // nothing, until it can be rebuilt from `state` and the journal.
    let tiles = dir.path().join("tile");
    let aside = dir.path().join("tile.aside");
    std::fs::rename(&tiles, &aside).unwrap();
    std::fs::write(&tiles, b"not a directory").unwrap();
    let mut acked = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let before = loop {
        assert!(std::time::Instant::now() < deadline, "appends never failed while the tiles were unwritable");
        let before = ledger.head();
        let entry = format!("while broken {}", acked.len()).into_bytes();
        match ledger.append(entry.clone()).await {
            Ok(index) => acked.push((index, entry)),
            Err(err) => {
                assert!(matches!(err, LedgerError::Storage(_)), "{err:?}");
                assert_eq!(ledger.head(), before, "nothing was committed");
                break before;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(!acked.is_empty(), "the first append after the break needs only the journal");

    std::fs::remove_file(&tiles).unwrap();
    std::fs::rename(&aside, &tiles).unwrap();
    let index = ledger.append(b"after recovery".to_vec()).await.unwrap();
    assert_eq!(index, before.size, "the failed entry took no index");
    let head = ledger.head();
    let p = ledger.inclusion(index, None).await.unwrap();
    verify_inclusion(index, head.size, &leaf_hash(b"after recovery"), &p.proof, &head.root).unwrap();
    // What was acknowledged while the tiles were unwritable is in the log.
    for (index, entry) in &acked {
        let p = ledger.inclusion(*index, None).await.unwrap();
        assert_eq!(&p.entry, entry);
        verify_inclusion(*index, head.size, &leaf_hash(entry), &p.proof, &head.root).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_writers_get_contiguous_indexes_beside_single_writers() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::generate("test.example/ledger").unwrap();
    let ledger = Ledger::start(dir.path(), signer, "test.example/ledger").unwrap();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let l = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for b in 0..10u64 {
                // Batches of 1 to 40 entries, interleaved with the others.
                let batch: Vec<Vec<u8>> =
                    (0..(w * 5 + b) % 40 + 1).map(|i| format!("writer {w} batch {b} entry {i}").into_bytes()).collect();
                let first = l.append_many(batch.clone()).await.unwrap();
                got.extend(batch.into_iter().zip(first..));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let indexes: BTreeSet<u64> = all.iter().map(|(_, i)| *i).collect();
    assert_eq!(indexes.len(), all.len(), "no index given twice");
    assert_eq!(ledger.head().size, all.len() as u64, "no gaps");
    // Each entry is where its batch's first index says it is.
    let stored = ledger.entries(0, ledger.head().size).await.unwrap();
    for (entry, index) in &all {
        assert_eq!(&stored[*index as usize], entry, "entry at {index}");
    }
    // An empty batch has no index; an oversized entry refuses the whole
    // batch, and nothing of it is stored.
    let size = ledger.head().size;
    assert!(matches!(ledger.append_many(Vec::new()).await, Err(LedgerError::BadRequest(_))));
    let too_big = vec![b"fine".to_vec(), vec![0u8; rampart_ledger::fslog::MAX_ENTRY + 1]];
    assert!(matches!(ledger.append_many(too_big).await, Err(LedgerError::BadRequest(_))));
    let too_many = vec![b"x".to_vec(); rampart_ledger::service::MAX_BATCH + 1];
    assert!(matches!(ledger.append_many(too_many).await, Err(LedgerError::BadRequest(_))));
    assert_eq!(ledger.head().size, size, "refused batches change nothing");
}
