//! Crash safety of the log platform: a node is SIGKILLed while a TCP syslog
//! sender and an HTTPS ingest client stream at it, five times over one
//! data directory. After every restart each HTTPS event that was
//! acknowledged (200 with its ledger index range) and each TCP line that
//! was already searchable before the kill is found by `GET
//! /api/v1/logs/search`, at the same ledger index, and nothing is there
//! twice. The search index is derived: what the node made durable but had
//! not indexed when it died is indexed from the ledger at the next start.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

struct Node {
    child: Child,
    url: String,
    tcp: String,
    client: reqwest::Client,
}

// The child is SIGKILLed and waited for by the test, not here.
#[allow(clippy::zombie_processes)]
async fn start(data: &Path) -> Node {
    let _ = std::fs::remove_file(data.join("client.json"));
    let child = rampart_testkit::serve_command(BIN)
        .arg("--data-dir")
        .arg(data)
        .env("RAMPART_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let (info, client) = rampart_testkit::wait_until_serving(data).await;
    let url = info["url"].as_str().expect("url").to_owned();
    let tcp = info["syslog"]["tcp"].as_str().expect("syslog tcp").to_owned();
    Node { child, url, tcp, client }
}

/// Every event matching `q`: message → ledger index, and how many there are.
async fn all(node: &Node, token: &str, q: &str) -> (BTreeMap<String, i64>, usize) {
    let mut out = BTreeMap::new();
    let mut total = 0;
    let mut after: Option<String> = None;
    loop {
        let mut params = vec![("q", q.to_owned()), ("limit", "1000".to_owned())];
        if let Some(a) = &after {
            params.push(("after", a.clone()));
        }
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/logs/search", node.url), &params).unwrap();
        let page: Value = node.client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        for e in page["items"].as_array().unwrap() {
            let msg = e["attrs"]["message"].as_str().unwrap_or_default().to_owned();
            out.insert(msg, e["ledger_index"].as_i64().unwrap());
            total += 1;
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return (out, total),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_tcp_and_http_load_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let node = start(&data).await;
    let api = rampart_testkit::bootstrap_api_token(&node.client, &node.url, &data, "logs-crash").await;
    let created = node
        .client
        .post(format!("{}/api/v1/sources", node.url))
        .bearer_auth(&api)
        .json(&json!({"name": "crash-http", "type": "application"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let ingest: Value = node
        .client
        .post(format!("{}/api/v1/sources/crash-http/token", node.url))
        .bearer_auth(&api)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ingest = ingest["token"].as_str().unwrap().to_owned();

    // HTTPS: message → the index its acknowledgement named.
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    // TCP: lines that were searchable before a kill.
    let mut seen_tcp: BTreeMap<String, i64> = BTreeMap::new();
    let mut node = Some(node);
    for round in 0..5 {
        let n = match node.take() {
            Some(n) => n,
            None => start(&data).await,
        };
        // Everything acknowledged so far survived the previous kill.
        let (http, http_total) = all(&n, &api, "source:crash-http").await;
        let want = acked.lock().unwrap().clone();
        for (msg, index) in &want {
            assert_eq!(http.get(msg), Some(index), "round {round}: acknowledged {msg} lost or moved");
        }
        assert_eq!(http_total, http.len(), "round {round}: an HTTPS event is indexed twice");
        let (tcp, tcp_total) = all(&n, &api, "host:crash-tcp").await;
        for (msg, index) in &seen_tcp {
            assert_eq!(tcp.get(msg), Some(index), "round {round}: searchable TCP line {msg} lost or moved");
        }
        assert_eq!(tcp_total, tcp.len(), "round {round}: a TCP line is indexed twice");

        let tcp_sender = {
            let addr = n.tcp.clone();
            tokio::spawn(async move {
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return };
                for i in 0.. {
                    let line = format!("<14>1 2026-11-29T12:00:00Z crash-tcp app - - - tcp r{round} #{i}\n");
                    if s.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    // At most ~5,000 lines/s: load enough to be cut mid-way,
                    // few enough that reading them all back stays quick.
                    if i % 50 == 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            })
        };
        let mut http_senders = Vec::new();
        for w in 0..2 {
            let (client, url, token, acked) = (n.client.clone(), n.url.clone(), ingest.clone(), acked.clone());
            http_senders.push(tokio::spawn(async move {
                for b in 0.. {
                    let msgs: Vec<String> = (0..20).map(|i| format!("http r{round} w{w} b{b} #{i}")).collect();
                    let body: String = msgs.iter().map(|m| format!("{}\n", json!(m))).collect();
                    let resp = client.post(format!("{url}/api/v1/ingest")).bearer_auth(&token).body(body).send().await;
                    let Ok(resp) = resp else { return };
                    if resp.status() != 200 {
                        return;
                    }
                    let Ok(answer) = resp.json::<Value>().await else { return };
                    let first = answer["first_index"].as_i64().unwrap();
                    {
                        let mut acked = acked.lock().unwrap();
                        for (k, m) in msgs.into_iter().enumerate() {
                            acked.insert(m, first + k as i64);
                        }
                    }
                    // At most ~2,000 events/s per writer (see the TCP sender).
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500 + 400 * round)).await;
        // What is searchable now was acknowledged as stored.
        let (tcp_now, _) = all(&n, &api, "host:crash-tcp").await;
        seen_tcp.extend(tcp_now);
        let mut child = n.child;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        tcp_sender.await.unwrap();
        for s in http_senders {
            s.await.unwrap();
        }
    }
    let n = start(&data).await;
    let (http, _) = all(&n, &api, "source:crash-http").await;
    let want = acked.lock().unwrap().clone();
    let lost: BTreeSet<&String> = want.keys().filter(|m| !http.contains_key(*m)).collect();
    assert!(lost.is_empty(), "acknowledged HTTPS events lost: {lost:?}");
    let (tcp, _) = all(&n, &api, "host:crash-tcp").await;
    assert!(seen_tcp.keys().all(|m| tcp.contains_key(m)), "searchable TCP lines lost");
    assert!(
        want.len() > 100 && seen_tcp.len() > 100,
        "too little load to mean anything: {} / {}",
        want.len(),
        seen_tcp.len()
    );
    let mut child = n.child;
    child.kill().unwrap();
    child.wait().unwrap();
}
