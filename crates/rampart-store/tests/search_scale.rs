//! Log search at scale (ignored by default; minutes of work): fills a
//! SQLite store (or PostgreSQL with `RAMPART_SEARCH_PG=1`) with
//! `RAMPART_SEARCH_EVENTS` (default 1,000,000) ingested-looking events and
//! times the queries of docs/search.md, p50 and p95 of 20 runs each
//! (`User` and `src_ip` have search terms, `status` has none). With
//! `RAMPART_SEARCH_BLOCKS=1` the events go into log blocks, as the node
//! indexes ingested events, instead of rows. Run:
//! `cargo test -p rampart-store --release --test search_scale -- --ignored --nocapture`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use rampart_core::{Event, Outcome};
use rampart_ingest::query::parse;
use rampart_store::{LogSearch, Store};

fn event(i: u64) -> Event {
    let host = format!("host-{:03}", i % 500);
    let user = format!("user{}", i % 5000);
    let mut ev = Event::new(
        if i.is_multiple_of(10) { "log.sshd.auth_failed" } else { "log.http.access" },
        Outcome::Success,
        user.clone(),
    );
    ev.attrs = serde_json::json!({
        "ocsf.class_uid": 4002,
        "source": { "name": host, "type": "server" },
        "syslog": { "hostname": host, "app_name": "nginx", "format": "rfc5424" },
        "fields": {
            "User": user,
            "src_ip": format!("10.{}.{}.{}", (i / 65536) % 256, (i / 256) % 256, i % 251),
            "status": (200 + (i % 5) * 100).to_string(),
            "c-uri": format!("/api/items/{}", i % 1000),
        },
        "message": format!("GET /api/items/{} HTTP/1.1 status={} user={user} seq={i}", i % 1000, 200 + (i % 5) * 100),
    });
    ev
}

async fn time(store: &Store, q: &str, runs: usize) -> (Duration, Duration, usize) {
    let mut samples = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let s = LogSearch {
            query: parse(q, rampart_core::time::now_ms()).unwrap(),
            since_ms: None,
            until_ms: None,
            before: None,
            limit: 100,
        };
        let t = Instant::now();
        found = if s.query.count_by.is_some() {
            store.count_logs(&s).await.unwrap().len()
        } else {
            store.search_logs(&s).await.unwrap().events.len()
        };
        samples.push(t.elapsed());
    }
    samples.sort();
    (samples[samples.len() / 2], samples[(samples.len() * 95).div_ceil(100) - 1], found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes of work; run by hand for docs/search.md"]
async fn search_latency_at_scale() {
    let n: u64 = std::env::var("RAMPART_SEARCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let pg;
    let store = if std::env::var_os("RAMPART_SEARCH_PG").is_some() {
        pg = rampart_store::testing::TestPostgres::create().await.expect("PostgreSQL");
        pg.store().await.unwrap()
    } else {
        Store::open_sqlite(&dir.path().join("search.db"), 4).await.unwrap()
    };
    let blocks = std::env::var_os("RAMPART_SEARCH_BLOCKS").is_some();
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let events: Vec<Event> = (i..(i + 4096).min(n)).map(event).collect();
        let len = events.len() as u64;
        if blocks {
            let logs = events
                .into_iter()
                .zip(i..)
                .map(|(event, k)| {
                    let attrs = serde_json::value::to_raw_value(&event.attrs).unwrap();
                    rampart_store::WaitingLog::owned(event, attrs, k as i64)
                })
                .collect();
            store.index_logs(logs).await.unwrap();
        } else {
            let batch: Vec<(&Event, Option<i64>)> = events.iter().zip(i..).map(|(e, k)| (e, Some(k as i64))).collect();
            store.append_events(&batch).await.unwrap();
        }
        i += len;
    }
    store.seal_logs(None).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "indexed {n} events in {secs:.1} s: {:.0} events/s ({})",
        n as f64 / secs,
        if blocks { "log blocks" } else { "rows" }
    );
    eprintln!("term rows: {}", store.term_rows_for_tests().await.unwrap());
    for q in [
        "host:host-042",
        "source:host-042 AND kind:log.sshd.auth_failed",
        "User:user4242",
        "User:user4242 AND host:host-042",
        "src_ip:10.0.1.7",
        "User:user4242 | count by host",
        "status:500",
        "\"user=user4242 \"",
        "host:host-042 \"seq=4\"",
        "kind:log.sshd.* | count by host",
        "time:>15m",
    ] {
        let (p50, p95, found) = time(&store, q, 20).await;
        eprintln!("| `{q}` | {found} | {:.1} ms | {:.1} ms |", p50.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
    }
}
