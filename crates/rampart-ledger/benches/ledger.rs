//! `cargo bench -p rampart-ledger`: durable appends per second by batch size
//! and with concurrent writers under group commit, inclusion-proof latency
//! from tiles, and whole-log verification speed, each beside its anchor:
//! Trillian Tessera's published POSIX figure (about 10,000 durable entries/s
//! on 7 cores, fsync-bound) for appends, and the targets (100,000
//! appends/s, 2,000,000 leaves/s verified on 2 cores).
//!
//! Runs on the real disk under the target directory (never tmpfs, where
//! fsync costs nothing), with 300-byte entries, the size of a typical audit
//! event.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::print_stdout)]

use std::time::{Duration, Instant};

use rampart_ledger::fslog::FsLog;
use rampart_ledger::merkle::{leaf_hash, verify_inclusion};
use rampart_ledger::oracle::inclusion_proof_with;
use rampart_ledger::verify::{TileSource, verify_log};
use rampart_ledger::{Ledger, Signer};

const TESSERA_POSIX: f64 = 10_000.0;
const ENTRY: usize = 300;

fn entry(i: u64) -> Vec<u8> {
    let mut e = format!("{{\"v\":1,\"type\":\"event\",\"seq\":{i},\"pad\":\"").into_bytes();
    e.resize(ENTRY - 2, b'x');
    e.extend_from_slice(b"\"}");
    e
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Dir(std::path::PathBuf);
impl TileSource for Dir {
    async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(self.0.join(path)).map_err(|e| e.to_string())
    }
}

fn main() {
    println!("| measure | Rampart | anchor or target | ratio |");
    println!("|---|---|---|---|");

    // Durable appends by batch size, one committer (fsync per batch).
    for batch in [1usize, 16, 256, 1024, 4096] {
        let dir = scratch(&format!("batch-{batch}"));
        let mut log = FsLog::open(&dir).unwrap();
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let entries: Vec<Vec<u8>> = (n..n + batch as u64).map(entry).collect();
            log.append(&entries).unwrap();
            n += batch as u64;
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        println!(
            "| durable appends/s, batch {batch} | {rate:.0} | Tessera POSIX {TESSERA_POSIX:.0}; target 100000 | {:.2} / {:.2} |",
            rate / TESSERA_POSIX,
            rate / 100_000.0
        );
    }

    // Commit latency while the journal is cut (about every second) and its
    // segments filled: 16-entry batches back to back for 4 s. A stall on
    // the commit path shows in the tail, which an acknowledged request's
    // p99 inherits (the KMS's 5 ms target at concurrency 64).
    let dir = scratch("latency");
    let mut log = FsLog::open(&dir).unwrap();
    let mut lat = Vec::new();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(4) {
        let entries: Vec<Vec<u8>> = (n..n + 16).map(entry).collect();
        let t = Instant::now();
        log.append(&entries).unwrap();
        lat.push(t.elapsed());
        n += 16;
    }
    drop(log);
    lat.sort();
    let q = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "| commit latency, 16-entry batches for 4 s, p50 / p99 / p99.9 / max | {:.2} / {:.2} / {:.2} / {:.2} ms | KMS p99 target 5 ms | {:.2} |",
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        q(0.99) / 5.0
    );

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Concurrent writers through the sequencer's group commit.
    for writers in [64usize, 1024] {
        let dir = scratch(&format!("writers-{writers}"));
        let rate = rt.block_on(async {
            let ledger = Ledger::start(&dir, Signer::generate("bench/log").unwrap(), "bench/log").unwrap();
            let per = 200_000 / writers;
            let started = Instant::now();
            let tasks: Vec<_> = (0..writers)
                .map(|w| {
                    let l = ledger.clone();
                    tokio::spawn(async move {
                        for i in 0..per {
                            l.append(entry((w * per + i) as u64)).await.unwrap();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            (writers * per) as f64 / started.elapsed().as_secs_f64()
        });
        println!(
            "| durable appends/s, {writers} concurrent writers (group commit) | {rate:.0} | Tessera POSIX {TESSERA_POSIX:.0}; target 100000 | {:.2} / {:.2} |",
            rate / TESSERA_POSIX,
            rate / 100_000.0
        );
    }

    // A million-entry log for proofs and verification.
    let dir = scratch("million");
    let mut log = FsLog::open(&dir).unwrap();
    let size = 1u64 << 20;
    let mut n = 0;
    while n < size {
        let entries: Vec<Vec<u8>> = (n..n + 4096).map(entry).collect();
        log.append(&entries).unwrap();
        n += 4096;
    }
    let root = log.root();
    let reader = log.reader();
    let mut lat = Vec::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % size;
        let t = Instant::now();
        let proof = inclusion_proof_with(i, size, &mut |h, k| reader.node(h, k, size)).unwrap();
        lat.push(t.elapsed());
        verify_inclusion(i, size, &leaf_hash(&entry(i)), &proof, &root).unwrap();
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
    println!("| inclusion proof from tiles, 2^20 entries, p50 / p99 | {:.0} / {:.0} µs | - | - |", p(0.5), p(0.99));

    // The verifier reads the directory: make the last second's files durable.
    log.flush().unwrap();
    let started = Instant::now();
    rt.block_on(verify_log(&Dir(dir.clone()), size, &root, &mut |_| {})).unwrap();
    let rate = size as f64 / started.elapsed().as_secs_f64();
    println!(
        "| whole-log verification, 2^20 entries | {rate:.0} leaves/s | target 2000000 | {:.2} |",
        rate / 2_000_000.0
    );
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\n{cores} cores; {ENTRY}-byte entries; ext4 on the machine's disk; release build.");
    for d in [
        "latency",
        "million",
        "writers-64",
        "writers-1024",
        "batch-1",
        "batch-16",
        "batch-256",
        "batch-1024",
        "batch-4096",
    ] {
        let _ = std::fs::remove_dir_all(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(d));
    }
}
