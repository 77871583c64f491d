//! The ledger behaves the same on every backend: the embedded tile
//! directory, and the database (SQLite, and PostgreSQL where several nodes
//! share one log). Each case runs on all three.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use rampart_ledger::dblog::{DbLog, DbRead};
use rampart_ledger::merkle::{leaf_hash, verify_inclusion};
use rampart_ledger::reader::TileReader;
use rampart_ledger::{Ledger, Signer};
use rampart_store::Store;
use rampart_store::testing::TestPostgres;

enum Backend {
    Files(tempfile::TempDir),
    Db(Store, tempfile::TempDir, Option<TestPostgres>),
}

impl Backend {
    async fn start(&self) -> Ledger {
        let signer = Signer::generate("test/log").unwrap();
        match self {
            Backend::Files(dir) => Ledger::start(dir.path(), signer, "test/log").unwrap(),
            Backend::Db(store, dir, _) => {
                let log = DbLog::open(store.clone()).await.unwrap();
                let reader = TileReader::from_raw(Arc::new(DbRead::new(store.clone())));
                Ledger::start_with(Box::new(log), reader, dir.path(), signer, "test/log").unwrap()
            }
        }
    }
}

async fn backends() -> Vec<(&'static str, Backend)> {
    let mut out = vec![("files", Backend::Files(tempfile::tempdir().unwrap()))];
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open_sqlite(&dir.path().join("db.sqlite"), 4).await.unwrap();
    out.push(("sqlite", Backend::Db(sqlite, dir, None)));
    if let Some(pg) = TestPostgres::create().await {
        let store = pg.store().await.unwrap();
        out.push(("postgres", Backend::Db(store, tempfile::tempdir().unwrap(), Some(pg))));
    }
    out
}

async fn cleanup(backend: Backend) {
    if let Backend::Db(store, _, pg) = backend {
        store.close().await;
        if let Some(pg) = pg {
            pg.drop_db().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_proofs_and_restarts_behave_alike_on_every_backend() {
    for (name, backend) in backends().await {
        let ledger = backend.start().await;
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let l = ledger.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..70u64 {
                    let e = format!("{w}/{i}").into_bytes();
                    out.push((l.append(e.clone()).await.unwrap(), e));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let head = ledger.head();
        assert_eq!(head.size, 560, "{name}");
        for (i, e) in all.iter().step_by(37) {
            let p = ledger.inclusion(*i, None).await.unwrap();
            assert_eq!(&p.entry, e, "{name}");
            verify_inclusion(*i, head.size, &leaf_hash(e), &p.proof, &head.root).unwrap();
        }
        ledger.close().await;
        assert!(matches!(ledger.append(b"after close".to_vec()).await, Err(rampart_ledger::LedgerError::Closed)));
        drop(ledger);
        // A restart (a new writer on the same storage) continues the same log.
        let again = backend.start().await;
        assert_eq!(again.head(), head, "{name}: reopened at the committed head");
        let next = again.append(b"after restart".to_vec()).await.unwrap();
        assert_eq!(next, 560, "{name}");
        cleanup(backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_append_to_one_consistent_log() {
    for (name, backend) in backends().await {
        let Backend::Db(..) = backend else { continue };
        let a = backend.start().await;
        let b = backend.start().await;
        let mut indexes = std::collections::BTreeSet::new();
        for i in 0..300u64 {
            let node = if i % 3 == 0 { &a } else { &b };
            assert!(indexes.insert(node.append(format!("entry {i}").into_bytes()).await.unwrap()), "{name}: unique");
        }
        assert_eq!(indexes.len(), 300);
        assert_eq!(indexes.iter().next_back(), Some(&299), "{name}: no gaps");
        // Each node follows the other's appends within a second or two.
        for _ in 0..50 {
            if a.head().size == 300 && b.head().size == 300 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(a.head(), b.head(), "{name}: both see one log");
        let p = a.inclusion(298, None).await.unwrap();
        verify_inclusion(298, 300, &leaf_hash(&p.entry), &p.proof, &b.head().root).unwrap();
        cleanup(backend).await;
    }
}

/// Regression: a proof against an older checkpoint whose partial tiles were
/// superseded (the log grew past them, and they were dropped) failed with
/// "not found"; found by exporting logs while they kept arriving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_against_an_older_size_survive_the_growth_of_the_log() {
    for (name, backend) in backends().await {
        let ledger = backend.start().await;
        let entries: Vec<Vec<u8>> = (0..300u32).map(|i| format!("entry {i}").into_bytes()).collect();
        ledger.append_many(entries[..10].to_vec()).await.unwrap();
        ledger.append_many(entries[10..].to_vec()).await.unwrap();
        // Closing flushes, which drops the superseded partial tiles.
        ledger.close().await;
        drop(ledger);
        let ledger = backend.start().await;
        let leaves: Vec<_> = entries[..10].iter().map(|e| leaf_hash(e)).collect();
        let old_root = rampart_ledger::root_from_leaves(&leaves);
        for index in [0, 3, 9] {
            let p = ledger.inclusion(index, Some(10)).await.unwrap_or_else(|e| panic!("{name}: entry {index}: {e}"));
            assert_eq!(p.entry, entries[index as usize], "{name}");
            verify_inclusion(index, 10, &p.leaf_hash, &p.proof, &old_root).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let new_root = rampart_ledger::root_from_leaves(&entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
        let proof = ledger.consistency(10, Some(300)).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        rampart_ledger::verify_consistency(10, 300, &proof, &old_root, &new_root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        ledger.close().await;
        drop(ledger);
        cleanup(backend).await;
    }
}
