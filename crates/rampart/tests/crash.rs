//! Crash safety: a node is SIGKILLed at random moments while writers stream
//! audited actions at it, twenty times over one data directory. After every
//! restart each acknowledged action is in the ledger with its content,
//! `rampart ledger verify` passes, and the ledger is consistent with every
//! checkpoint the node served before it died.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

struct Node {
    child: Child,
    url: String,
    client: reqwest::Client,
}

// The child is SIGKILLed and waited for by the harness, not here.
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
    Node { child, url, client }
}

fn rampart(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).arg("--data-dir").arg(data).output().expect("run rampart")
}

/// A small deterministic generator, seeded from the clock and printed, so a
/// failing schedule can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("crash schedule seed: {seed}");
    let mut rng = Rng(seed);

    // An API token survives restarts, unlike a TOTP code (single use per step).
    let node = start(&data).await;
    let token = rampart_testkit::bootstrap_api_token(&node.client, &node.url, &data, "crash-harness").await;
    let mut node = Some(node);

    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut saved_checkpoints: Vec<PathBuf> = Vec::new();
    for round in 0..20 {
        let n = match node.take() {
            Some(n) => n,
            None => start(&data).await,
        };
        // Every checkpoint served before this crash must stay consistent.
        if let Ok(r) = n.client.get(format!("{}/ledger/checkpoint", n.url)).send().await
            && r.status() == 200
        {
            let path = work.path().join(format!("checkpoint-{round}"));
            std::fs::write(&path, r.text().await.unwrap()).unwrap();
            saved_checkpoints.push(path);
        }
        let mut writers = Vec::new();
        for w in 0..4 {
            let (client, url, token, acked) = (n.client.clone(), n.url.clone(), token.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round}-w{w}-{i}");
                    let resp = client
                        .post(format!("{url}/api/v1/tenants"))
                        .bearer_auth(&token)
                        .json(&json!({ "name": name }))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 201 => {
                            acked.lock().unwrap().insert(name);
                        }
                        _ => return,
                    }
                }
            }));
        }
        let checkpoint_poller = {
            let (client, url) = (n.client.clone(), n.url.clone());
            let dir = work.path().to_owned();
            tokio::spawn(async move {
                let mut saved = Vec::new();
                for k in 0.. {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let Ok(r) = client.get(format!("{url}/ledger/checkpoint")).send().await else { break };
                    let Ok(text) = r.text().await else { break };
                    let path = dir.join(format!("served-{round}-{k}"));
                    std::fs::write(&path, text).unwrap();
                    saved.push(path);
                }
                saved
            })
        };
        tokio::time::sleep(Duration::from_millis(100 + rng.next() % 1400)).await;
        let mut child = n.child;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
        saved_checkpoints.extend(checkpoint_poller.await.unwrap());

        // Offline checks on the dead node's directory.
        let mut args = vec!["ledger", "verify"];
        let paths: Vec<String> = saved_checkpoints
            .iter()
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains('\u{2014}')))
            .map(|p| p.display().to_string())
            .collect();
        for p in &paths {
            args.push("--checkpoint");
            args.push(p);
        }
        let out = rampart(&data, &args);
        assert!(
            out.status.success(),
            "round {round}: ledger verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let in_ledger = tenants_in_ledger(&data.join("ledger"));
        let acked_now = acked.lock().unwrap().clone();
        let missing: Vec<&String> = acked_now.difference(&in_ledger).collect();
        assert!(missing.is_empty(), "round {round}: acknowledged but lost: {missing:?}");
    }
    assert!(acked.lock().unwrap().len() > 40, "the harness acknowledged too few writes to mean anything");
}

/// The names of every `tenant.created` event in the ledger directory.
fn tenants_in_ledger(dir: &Path) -> BTreeSet<String> {
    let reader = rampart_ledger::fslog::TileReader::new(dir);
    let (size, _) = reader.state().unwrap();
    (0..size)
        .filter_map(|i| rampart_ledger::entry::decode_event(&reader.entry(i, size).unwrap()))
        .filter(|e| e.kind == "tenant.created")
        .filter_map(|e| e.attrs["name"].as_str().map(str::to_owned))
        .collect()
}
