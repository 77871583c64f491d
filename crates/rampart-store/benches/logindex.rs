//! `cargo bench -p rampart-store --bench logindex`: what indexing a log
//! event costs in the row index that search uses today (`audit_events`
//! with its eight indexes and the term rows, `Store::append_rows`) against
//! log blocks (`logblock::encode` and one row per 4,096 events,
//! `Store::append_block`), on the same events, on SQLite, side by side,
//! reported as a ratio. Also what reading blocks back costs a search:
//! chunks decompressed and decoded, and a query tested on every event.
//!
//! The events are what the ingest bench sends (`xtask bench ingest`:
//! 300-byte RFC 5424 lines with key=value fields), parsed by the real
//! pipeline and given the source attributes the node adds. Runs on the
//! real disk under the target directory. `RAMPART_BENCH_EVENTS` sets the
//! number of events (default 200,000).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::print_stdout)]

use std::io::Write as _;
use std::time::Instant;

use rampart_core::Event;
use rampart_ingest::{Connection, SourceConfig, to_event};
use rampart_store::logblock::{BLOCK_EVENTS, BlockEvent, ChunkRead, encode};
use rampart_store::logmatch::{Candidate, Matcher};
use rampart_store::{IndexRow, Store};

/// The ingest bench's line (`xtask/src/bench/ingest.rs`).
fn line(conn: usize, i: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(300);
    let _ = write!(
        out,
        "<134>1 2026-11-29T12:00:00.000Z bench-{conn:02} benchapp 4242 BENCH - conn={conn} seq={i} \
         user=alice action=GET path=/api/v1/items status=200 bytes=5120 "
    );
    out.resize(299, b'x');
    out.push(b'\n');
    out
}

fn events(n: usize) -> Vec<Event> {
    let now = rampart_core::time::now_ms();
    let mut conns: Vec<Connection> = (0..4).map(|_| Connection::new(SourceConfig::default())).collect();
    let mut records = Vec::new();
    for i in 0..n {
        let conn = i % 4;
        conns[conn].push(&line(conn, i / 4), now, &mut records).expect("framing");
    }
    records
        .iter()
        .map(|r| {
            let mut e = to_event(r, now);
            let host = e.attrs.pointer("/syslog/hostname").cloned().unwrap_or_default();
            if let serde_json::Value::Object(attrs) = &mut e.attrs {
                attrs.insert("source".into(), serde_json::json!({ "name": host, "type": "server", "reviewed": false }));
                attrs.insert("logsource".into(), serde_json::json!({ "product": "linux", "service": "benchapp" }));
                attrs.insert("receiver".into(), serde_json::json!({ "transport": "tcp", "peer": "127.0.0.1:40000" }));
            }
            e
        })
        .collect()
}

/// CPU seconds this process has used (user + system).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

async fn fresh(name: &str) -> (Store, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open_sqlite(&dir.join("rampart.db"), 4).await.expect("open");
    (store, dir)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("RAMPART_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let events = events(n);
    let texts: Vec<String> = events.iter().map(|e| serde_json::to_string(&e.attrs).unwrap()).collect();
    println!(
        "{n} events, {} bytes of attributes JSON each on average",
        texts.iter().map(String::len).sum::<usize>() / n
    );

    // The row index: batches of 4,096, as the node's indexer commits them.
    let (store, dir) = fresh("logindex-rows").await;
    let (t, c) = (Instant::now(), cpu());
    for (i, chunk) in events.chunks(BLOCK_EVENTS).enumerate() {
        let rows: Vec<IndexRow<'_>> = chunk
            .iter()
            .zip(&texts[i * BLOCK_EVENTS..])
            .zip(i * BLOCK_EVENTS..)
            .map(|((event, attrs), p)| IndexRow { event, ledger_index: Some(p as i64), attrs_json: Some(attrs) })
            .collect();
        store.append_rows(&rows).await.expect("rows");
    }
    let (rows_s, rows_cpu) = (t.elapsed().as_secs_f64(), cpu() - c);
    store.close().await;
    let rows_bytes = dir_bytes(&dir);

    // Log blocks: encode and one row per 4,096 events.
    let (store, dir) = fresh("logindex-blocks").await;
    let (t, c) = (Instant::now(), cpu());
    let mut encode_s = 0.0;
    for (i, chunk) in events.chunks(BLOCK_EVENTS).enumerate() {
        let input: Vec<BlockEvent<'_>> = chunk
            .iter()
            .zip(&texts[i * BLOCK_EVENTS..])
            .zip(i * BLOCK_EVENTS..)
            .map(|((event, attrs_json), p)| BlockEvent { event, ledger_index: p as i64, attrs_json })
            .collect();
        let e = Instant::now();
        let block = encode(&input, store.backend()).expect("encode");
        encode_s += e.elapsed().as_secs_f64();
        store.append_block(&block).await.expect("block");
    }
    let (blocks_s, blocks_cpu) = (t.elapsed().as_secs_f64(), cpu() - c);
    let blocks_bytes = dir_bytes(&dir);

    // Reading back: every block, every chunk decoded, a query on each event.
    let query = rampart_ingest::query::parse("User:alice AND status:500", 0).expect("query");
    let matcher = Matcher::new(query.filter.as_ref(), store.backend());
    let t = Instant::now();
    let (mut read, mut matched) = (0usize, 0usize);
    let mut before = None;
    loop {
        let blocks = store.blocks_before(before, None, None, 16, false).await.expect("blocks");
        let Some(last) = blocks.last() else { break };
        before = Some(last.first_index);
        for b in &blocks {
            for c in store.block_stored_chunks(b, u32::MAX, ChunkRead::Whole).await.expect("chunks") {
                let records = c.decode(b.first_index, b.min_time_ms).expect("decode");
                for e in records.events_where(|_, _| true).expect("events") {
                    read += 1;
                    let cand =
                        Candidate { event: &e.event, ledger_index: Some(e.ledger_index), attrs_json: &e.attrs_json };
                    matched += usize::from(matcher.matches(&cand));
                }
            }
        }
    }
    let scan_s = t.elapsed().as_secs_f64();
    assert_eq!((read, matched), (n, 0));
    store.close().await;

    let per = |s: f64| s * 1e6 / n as f64;
    println!();
    println!("| index | events/s | CPU µs/event | of it: encoding µs/event | disk bytes/event |");
    println!("|---|---|---|---|---|");
    println!(
        "| rows (`audit_events` + terms) | {:.0} | {:.1} | — | {:.0} |",
        n as f64 / rows_s,
        per(rows_cpu),
        rows_bytes as f64 / n as f64
    );
    println!(
        "| log blocks | {:.0} | {:.1} | {:.1} | {:.0} |",
        n as f64 / blocks_s,
        per(blocks_cpu),
        per(encode_s),
        blocks_bytes as f64 / n as f64
    );
    println!();
    println!(
        "blocks / rows: {:.1}× the rate, {:.2} of the CPU, {:.2} of the disk",
        rows_s / blocks_s,
        blocks_cpu / rows_cpu,
        blocks_bytes as f64 / rows_bytes as f64
    );
    println!(
        "reading blocks back and testing a query on every event: {:.0} events/s ({:.2} µs/event)",
        n as f64 / scan_s,
        per(scan_s)
    );
}
