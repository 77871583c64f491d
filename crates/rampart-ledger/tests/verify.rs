//! Tamper evidence: a log verifies end to end, and changing any byte of its
//! entries, tiles, state or checkpoints makes verification fail and name the
//! place; a truncated log re-signed with the deployment's own key is caught
//! by a checkpoint saved before.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use rampart_ledger::fslog::{FsLog, TileReader};
use rampart_ledger::verify::{TileSource, VerifyError, verify_checkpoint, verify_log};
use rampart_ledger::{Checkpoint, Signer};

struct Dir(PathBuf);

impl TileSource for Dir {
    async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.0.join(path)).map_err(|e| e.to_string())
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"event\":{i},\"pad\":\"{}\"}}", "p".repeat((i % 41) as usize)).into_bytes()
}

fn build(dir: &Path, n: u64) {
    let mut log = FsLog::open(dir).unwrap();
    let mut i = 0;
    while i < n {
        let batch: Vec<Vec<u8>> = (i..(i + 777).min(n)).map(entry).collect();
        i += batch.len() as u64;
        log.append(&batch).unwrap();
    }
}

async fn verify_dir(dir: &Path) -> Result<u64, VerifyError> {
    let (size, root) = TileReader::new(dir)
        .state()
        .map_err(|e| VerifyError::Unreadable { path: "state".into(), reason: e.to_string() })?;
    let mut seen = 0;
    verify_log(&Dir(dir.to_owned()), size, &root, &mut |n| seen = n).await?;
    Ok(seen)
}

/// The stored files verification reads: not the journal, which after a
/// clean stop holds no record (only zero-filled space) and which replay on
/// opening reads, not verification.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                if e.file_name() != "journal" {
                    stack.push(e.path());
                }
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn any_changed_byte_fails_verification_and_names_the_place() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 70_000);
    assert_eq!(verify_dir(dir.path()).await.unwrap(), 70_000);
    let all = files(dir.path());
    let total: u64 = all.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    // A deterministic spread of 200 positions over all stored bytes.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut pos = state % total;
        let file = all
            .iter()
            .find(|f| {
                let len = std::fs::metadata(f).unwrap().len();
                if pos < len {
                    true
                } else {
                    pos -= len;
                    false
                }
            })
            .unwrap();
        let original = std::fs::read(file).unwrap();
        let mut changed = original.clone();
        changed[pos as usize] ^= 1 << (round % 8);
        std::fs::write(file, &changed).unwrap();
        let result = verify_dir(dir.path()).await;
        std::fs::write(file, &original).unwrap();
        let err = result.expect_err(&format!("a flipped bit at {} byte {pos} went unnoticed", file.display()));
        let msg = err.to_string();
        assert!(
            msg.contains("tile/") || msg.contains("root") || msg.contains("state") || msg.contains("entry"),
            "the error names the place: {msg}"
        );
    }
    assert_eq!(verify_dir(dir.path()).await.unwrap(), 70_000, "restored, it verifies again");
}

#[tokio::test]
async fn a_truncated_and_re_signed_log_is_caught_by_a_saved_checkpoint() {
    let signer = Signer::generate("example.org/log").unwrap();
    let verifier = signer.verifier().clone();
    let honest = tempfile::tempdir().unwrap();
    build(honest.path(), 1000);
    let (size, root) = TileReader::new(honest.path()).state().unwrap();
    let saved = Checkpoint::new("example.org/log", size, root).unwrap().sign(&signer).unwrap();

    // The operator (who holds the key) rebuilds a shorter log and signs it.
    let forged = tempfile::tempdir().unwrap();
    build(forged.path(), 900);
    let (fsize, froot) = TileReader::new(forged.path()).state().unwrap();
    let forged_cp = Checkpoint::new("example.org/log", fsize, froot).unwrap().sign(&signer).unwrap();
    let src = Dir(forged.path().to_owned());
    assert_eq!(verify_dir(forged.path()).await.unwrap(), 900, "the forged log is self-consistent");
    verify_checkpoint(&src, "latest", &forged_cp, "example.org/log", std::slice::from_ref(&verifier), fsize)
        .await
        .unwrap();
    let err = verify_checkpoint(&src, "saved", &saved, "example.org/log", std::slice::from_ref(&verifier), fsize)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    // Same size, rewritten history: caught too.
    let rewritten = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(rewritten.path()).unwrap();
    log.append(&(0..1000).map(|i| if i == 500 { b"edited".to_vec() } else { entry(i) }).collect::<Vec<_>>()).unwrap();
    drop(log); // verification reads what a flush wrote
    let src = Dir(rewritten.path().to_owned());
    let err = verify_checkpoint(&src, "saved", &saved, "example.org/log", std::slice::from_ref(&verifier), 1000)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rewritten"), "{err}");
    // And the honest log is consistent with its own saved checkpoint.
    let src = Dir(honest.path().to_owned());
    verify_checkpoint(&src, "saved", &saved, "example.org/log", &[verifier], 1000).await.unwrap();
}
