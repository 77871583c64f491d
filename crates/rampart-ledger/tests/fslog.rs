//! The embedded tile store: appends in batches of every shape, reopening
//! after a clean stop and after a crash (journal replay), entry reads,
//! proofs served from tiles, and what uncommitted, torn or tampered files do
//! to it.

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
        // Reopening restores exactly the committed log, after a clean stop
        // (which flushes) and after a crash (which replays the journal).
        let committed = (log.size(), log.root());
        if batch % 2 == 0 {
            drop(log)
        } else {
            log.abandon()
        }
        log = FsLog::open(dir.path()).unwrap();
        assert_eq!((log.size(), log.root()), committed, "reopened after {next}");
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
    log.abandon();
    // A crash after writing the next batch's files but before its state: a
    // stray partial tile and bundle of a larger width.
    std::fs::create_dir_all(dir.path().join("tile/0/001.p")).unwrap();
    std::fs::create_dir_all(dir.path().join("tile/entries/001.p")).unwrap();
    std::fs::write(dir.path().join("tile/0/001.p/99"), vec![7u8; 99 * 32]).unwrap();
    std::fs::write(dir.path().join("tile/entries/001.p/99"), b"garbage").unwrap();
    let mut reopened = FsLog::open(dir.path()).unwrap();
    assert_eq!((reopened.size(), reopened.root()), committed);
    let more: Vec<Vec<u8>> = (300..400).map(entry).collect();
    reopened.append(&more).unwrap();
    let all: Vec<Hash> = (0..400).map(|i| leaf_hash(&entry(i))).collect();
    assert_eq!(reopened.root(), root_from_leaves(&all));
    assert_eq!(reopened.reader().entry(399, 400).unwrap(), entry(399));
}

#[test]
fn a_changed_byte_in_a_tile_is_found_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&(0..1000).map(entry).collect::<Vec<_>>()).unwrap();
    drop(log);
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
    log.abandon();
    assert_eq!(FsLog::open(dir.path()).map(|l| (l.size(), l.root())).unwrap(), before);
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("journal")).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}

/// Where a segment's records end (the zero-filled space ahead starts).
fn records_end(segment: &std::path::Path) -> usize {
    let bytes = std::fs::read(segment).unwrap();
    let mut at = 0;
    while let rampart_ledger::journal::Read::Record(_, used) = rampart_ledger::journal::read(&bytes[at..]) {
        at += used;
    }
    at
}

#[test]
fn a_crash_after_acknowledgement_loses_nothing_and_the_journal_replays() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    for i in 0..40u64 {
        log.append(&[entry(i)]).unwrap();
    }
    log.append(&(40..700).map(entry).collect::<Vec<_>>()).unwrap();
    let committed = (log.size(), log.root());
    log.abandon();
    // The durable state lags (no flush ran within the second); the journal
    // holds every acknowledged batch.
    assert!(TileReader::new(dir.path()).state().unwrap().0 < 700);
    let reopened = FsLog::open(dir.path()).unwrap();
    assert_eq!((reopened.size(), reopened.root()), committed);
    // Opening made the replay durable and emptied the journal.
    assert_eq!(TileReader::new(dir.path()).state().unwrap(), committed);
    for seg in segments(dir.path()) {
        assert_eq!(records_end(&seg), 0, "{} holds records", seg.display());
        assert!(std::fs::read(&seg).unwrap().iter().all(|&b| b == 0), "{}", seg.display());
    }
    let reader = TileReader::new(dir.path());
    for i in [0, 39, 40, 255, 256, 699] {
        assert_eq!(reader.entry(i, 700).unwrap(), entry(i));
    }
}

#[test]
fn a_torn_journal_tail_is_dropped_and_appending_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&(0..10).map(entry).collect::<Vec<_>>()).unwrap();
    let committed = (log.size(), log.root());
    log.abandon();
    // A crash in the middle of writing the next record: half of it made it.
    let record = rampart_ledger::journal::encode(10, &[entry(10), entry(11)], &[0u8; 32]).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let end = records_end(&seg);
    assert!(end > 0);
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &record[..record.len() / 2], end as u64).unwrap();
    drop(f);
    let mut log = FsLog::open(dir.path()).unwrap();
    assert_eq!((log.size(), log.root()), committed, "the unacknowledged half record is not in the log");
    assert_eq!(log.append(&[entry(10)]).unwrap(), 10);
    log.abandon();
    let log = FsLog::open(dir.path()).unwrap();
    let leaves: Vec<Hash> = (0..11).map(|i| leaf_hash(&entry(i))).collect();
    assert_eq!(log.root(), root_from_leaves(&leaves));
}

#[test]
fn a_changed_journal_record_with_records_after_it_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&[b"first batch entry".to_vec()]).unwrap();
    log.append(&[b"second batch entry".to_vec()]).unwrap();
    log.abandon();
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.windows(5).position(|w| w == b"first").unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&seg, bytes).unwrap();
    let err = FsLog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("journal") && err.contains("follow a bad one"), "{err}");
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = FsLog::open(dir.path()).unwrap();
    let err = FsLog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("in use"), "{err}");
    drop(log);
    FsLog::open(dir.path()).unwrap();
}

#[test]
fn the_durable_state_follows_within_seconds_off_the_append_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    log.append(&(0..300).map(entry).collect::<Vec<_>>()).unwrap();
    assert_eq!(TileReader::new(dir.path()).state().unwrap().0, 0, "no flush within the first second");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // This append is acknowledged after its own journal record alone; it
    // hands the earlier files to the flusher, which moves `state` in the
    // background.
    log.append(&[entry(300)]).unwrap();
    // The cut leaves one segment (for records from 301 on); the flusher
    // removes the flushed one right after moving `state`.
    let names = || -> Vec<String> {
        segments(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while TileReader::new(dir.path()).state().unwrap().0 < 301 || names().len() > 1 {
        assert!(std::time::Instant::now() < deadline, "state never reached 301: {:?}", names());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(TileReader::new(dir.path()).state().unwrap(), (log.size(), log.root()));
    assert_eq!(names(), ["00000000000000000301"]);
    // A quiet log's segments are zero-filled ahead by the least step, not
    // by megabytes each.
    let next = segments(dir.path()).pop().unwrap();
    assert_eq!(std::fs::metadata(&next).unwrap().len(), 64 << 10);
}

/// Unmounts a test file system however the test ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk: the batch that does not fit is refused and changes nothing,
/// in memory or on reopening; once space returns appending goes on, and a
/// crash afterwards reopens to exactly what was acknowledged. Runs on a
/// 4 MiB tmpfs, 3 MiB of it taken by a filler file, which needs root (as
/// `cargo xtask test` in CI has). The journal is zero-filled ahead in
/// growing steps until a step does not fit; then records extend the
/// segment until one does not fit and is taken back. Removing the filler
/// leaves room for the tiles that reopening writes from the journal.
#[test]
fn a_full_disk_refuses_the_batch_and_appending_resumes_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mnt.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("\n*** SKIPPED: mounting a 4 MiB tmpfs to fill needs root\n");
        return;
    }
    let _unmount = Mounted(mnt.path().to_owned());
    let dir = mnt.path().join("ledger");
    let filler = mnt.path().join("filler");
    std::fs::write(&filler, vec![0u8; 3 << 20]).unwrap();
    let big = |i: u64| format!("{i:08}").into_bytes().repeat(250);
    let mut log = FsLog::open(&dir).unwrap();
    let mut acked: Vec<Vec<u8>> = Vec::new();
    let error = loop {
        let n = acked.len() as u64;
        let batch: Vec<Vec<u8>> = (n..n + 8).map(big).collect();
        let before = (log.size(), log.root());
        match log.append(&batch) {
            Ok(first) => {
                assert_eq!(first, before.0);
                acked.extend(batch);
            }
            Err(e) => {
                assert_eq!((log.size(), log.root()), before, "a refused batch changes nothing");
                break e.to_string();
            }
        }
        assert!(acked.len() < 10_000, "the disk never filled");
    };
    assert!(error.contains("No space left on device"), "{error}");
    assert!(!acked.is_empty(), "some batches fitted before the disk was full");
    std::fs::remove_file(&filler).unwrap();
    let first = log.append(&[b"after the disk was freed".to_vec()]).unwrap();
    assert_eq!(first, acked.len() as u64, "the refused batch took no index");
    acked.push(b"after the disk was freed".to_vec());
    log.abandon();
    let log = FsLog::open(&dir).unwrap();
    assert_eq!(log.size(), acked.len() as u64);
    let leaves: Vec<Hash> = acked.iter().map(|e| leaf_hash(e)).collect();
    assert_eq!(log.root(), root_from_leaves(&leaves), "exactly the acknowledged entries");
    let reader = TileReader::new(&dir);
    assert_eq!(reader.entry(log.size() - 1, log.size()).unwrap(), b"after the disk was freed");
    drop(log);
}

/// A commit overwrites space the segment already has, so the file does not
/// grow (its sync is data only); what is committed and not yet flushed is
/// read from the writer's memory, not the disk, until a flush writes it.
#[test]
fn commits_fill_zeroed_space_and_unflushed_files_are_served_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FsLog::open(dir.path()).unwrap();
    let seg = segments(dir.path()).pop().unwrap();
    let reserved = std::fs::metadata(&seg).unwrap().len();
    assert!(reserved >= 64 << 10, "the segment is zero-filled ahead: {reserved} bytes");
    for i in 0..300u64 {
        log.append(&[entry(i)]).unwrap();
    }
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), reserved, "300 commits did not grow the segment");
    assert!(records_end(&seg) > 300 * 16);
    // Nothing flushed yet: the directory alone does not have entry 299's
    // bundle; the writer's reader does.
    assert!(log.held_in_memory() > 0);
    assert!(TileReader::new(dir.path()).entry(299, 300).is_err());
    let reader = log.reader();
    assert_eq!(reader.entry(299, 300).unwrap(), entry(299));
    let proof = inclusion_proof_with(5, 300, &mut |h, k| reader.node(h, k, 300)).unwrap();
    verify_inclusion(5, 300, &leaf_hash(&entry(5)), &proof, &log.root()).unwrap();
    // A record larger than the space left grows the segment, in whole
    // 64 KiB steps.
    let big: Vec<Vec<u8>> = (0..80).map(|i| vec![b'a' + (i % 26) as u8; 65_000]).collect();
    log.append(&big).unwrap();
    let grown = std::fs::metadata(&seg).unwrap().len();
    assert!(grown > reserved && grown.is_multiple_of(64 << 10), "{reserved} -> {grown}");
    log.flush().unwrap();
    assert_eq!(log.held_in_memory(), 0, "a flush drops what it wrote from memory");
    assert_eq!(TileReader::new(dir.path()).entry(299, 380).unwrap(), entry(299));
    assert_eq!(TileReader::new(dir.path()).entry(379, 380).unwrap(), big[79]);
    let committed = (log.size(), log.root());
    log.append(&[entry(380)]).unwrap();
    log.abandon();
    let log = FsLog::open(dir.path()).unwrap();
    assert_eq!(log.size(), committed.0 + 1);
    assert_eq!(log.reader().entry(380, 381).unwrap(), entry(380));
}
