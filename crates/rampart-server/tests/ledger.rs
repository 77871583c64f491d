//! Every audited action lands in the tamper-evident ledger before it takes
//! effect, provably: events carry their ledger index, proofs served by the
//! API verify against the signed checkpoint with nothing but the public key,
//! and when the ledger cannot record, actions are refused and change nothing.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use rampart_ledger::merkle::{Hash, verify_consistency, verify_inclusion};
use rampart_ledger::{Checkpoint, Verifier};
use rampart_testkit::{TestServer, skip_without};
use reqwest::Method;
use serde_json::{Value, json};

fn hash(b64: &str) -> Hash {
    data_encoding::BASE64.decode(b64.as_bytes()).unwrap().try_into().unwrap()
}

async fn signed_checkpoint(server: &TestServer, verifier: &Verifier, at_least: u64) -> Checkpoint {
    for _ in 0..50 {
        let note = server.request(Method::GET, "/ledger/checkpoint", None).send().await.unwrap().text().await.unwrap();
        if let Ok(text) = rampart_ledger::note::open(note.as_bytes(), std::slice::from_ref(verifier)) {
            let cp = Checkpoint::parse(text.text()).unwrap();
            if cp.size >= at_least {
                return cp;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covering {at_least} entries");
}

#[tokio::test]
async fn audited_actions_are_provably_in_the_signed_ledger() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    server.create_tenant(&admin, "acme").await;
    let key = server.request(Method::GET, "/ledger/key", None).send().await.unwrap().text().await.unwrap();
    let verifier = Verifier::parse(key.trim()).unwrap();

    let events: Value = server
        .request(Method::GET, "/api/v1/audit/events", Some(&admin.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["user.bootstrap", "auth.login.succeeded", "tenant.created"]);
    let max_index = items.iter().filter_map(|e| e["ledger_index"].as_u64()).max().unwrap();
    let cp = signed_checkpoint(&server, &verifier, max_index + 1).await;
    assert!(cp.origin.starts_with("rampart/"), "{}", cp.origin);

    for e in items {
        let id = e["id"].as_str().unwrap();
        let p: Value = server
            .request(Method::GET, &format!("/api/v1/ledger/proof/inclusion?event_id={id}&size={}", cp.size), None)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entry = data_encoding::BASE64.decode(p["entry"].as_str().unwrap().as_bytes()).unwrap();
        let decoded = rampart_ledger::entry::decode_event(&entry).unwrap();
        assert_eq!(decoded.id.as_str(), id, "the entry is this event");
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
        let leaf = rampart_ledger::merkle::leaf_hash(&entry);
        verify_inclusion(p["index"].as_u64().unwrap(), cp.size, &leaf, &proof, &cp.root).unwrap();
    }

    // The log only grows: a later checkpoint is consistent with this one.
    server.create_tenant(&admin, "globex").await;
    let later = signed_checkpoint(&server, &verifier, cp.size + 1).await;
    let c: Value = server
        .request(
            Method::GET,
            &format!("/api/v1/ledger/proof/consistency?first={}&second={}", cp.size, later.size),
            None,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(|h| hash(h.as_str().unwrap())).collect();
    verify_consistency(cp.size, later.size, &proof, &cp.root, &later.root).unwrap();

    let size = server.running.as_ref().unwrap().state.ledger.head().size;
    let tile = server.request(Method::GET, &format!("/ledger/tile/0/000.p/{size}"), None).send().await.unwrap();
    assert_eq!(tile.status(), 200);
    assert_eq!(tile.bytes().await.unwrap().len() as u64, 32 * size);
    let old = server.request(Method::GET, "/ledger/tile/0/000.p/1", None).send().await.unwrap();
    assert_eq!(old.status(), 404, "a superseded partial tile is gone");
    let beyond = server.request(Method::GET, "/ledger/tile/0/001", None).send().await.unwrap();
    assert_eq!(beyond.status(), 404);
    let hostile = server.request(Method::GET, "/ledger/tile/../../secrets/root.key", None).send().await.unwrap();
    assert_eq!(hostile.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn actions_are_refused_while_the_ledger_cannot_record_and_work_again_after() {
    let server = TestServer::start_with(|c| c.audit.timeout_ms = 1500).await;
    let admin = server.admin_session().await;
    let tiles = server.data_dir().join("ledger/tile");
    let aside = server.data_dir().join("ledger/tile.aside");
    std::fs::rename(&tiles, &aside).unwrap();
    std::fs::write(&tiles, b"storage gone").unwrap();

    // A commit needs only the ledger's journal, so actions are recorded and
    // done until the flusher (about a second later) cannot write the tiles;
    // from then on the ledger is in doubt and every action is refused.
    let mut recorded = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (create, started, name) = loop {
        assert!(std::time::Instant::now() < deadline, "actions were never refused while the tiles were unwritable");
        let name = format!("blocked{}", recorded.len());
        let started = std::time::Instant::now();
        let create = server
            .request(Method::POST, "/api/v1/users", Some(&admin.token))
            .json(&json!({"username": name, "role": "auditor", "password": "a long password 1"}))
            .send()
            .await
            .unwrap();
        if create.status() != 201 {
            break (create, started, name);
        }
        recorded.push(name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(create.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(3), "refused within the bound");
    let problem: Value = create.json().await.unwrap();
    assert_eq!(problem["type"], "urn:rampart:problem:unavailable");
    let store = &server.running.as_ref().unwrap().state.store;
    assert!(store.find_user_by_name(&name).await.unwrap().is_none(), "nothing changed");
    let login = server.login(&server.admin.username, &server.admin.password, None).await;
    assert_eq!(login.status(), 503, "even a failed login cannot go unrecorded");

    std::fs::remove_file(&tiles).unwrap();
    std::fs::rename(&aside, &tiles).unwrap();
    let create = server
        .request(Method::POST, "/api/v1/users", Some(&admin.token))
        .json(&json!({"username": "blocked", "role": "auditor", "password": "a long password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 201, "recovered without a restart");
    // What was done before the refusals is in the ledger.
    for name in &recorded {
        let found = server
            .request(
                Method::GET,
                &format!("/api/v1/logs/search?q=kind:user.created%20AND%20object:{name}"),
                Some(&admin.token),
            )
            .send()
            .await
            .unwrap();
        let body: Value = found.json().await.unwrap();
        let events = body["items"].as_array().map_or(0, Vec::len);
        assert_eq!(events, 1, "{name}: {body}");
        assert!(store.find_user_by_name(name).await.unwrap().is_some(), "{name}");
    }
    server.stop().await;
}

/// Unmounts the tmpfs when the test ends, however it ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &std::path::Path, size: &str, remount: bool) -> bool {
    let opts = if remount { format!("remount,size={size}") } else { format!("size={size}") };
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn a_full_ledger_disk_refuses_actions_within_the_bound_and_recovers_when_space_returns() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let ledger_dir = data.join("ledger");
    std::fs::create_dir_all(&ledger_dir).unwrap();
    if !mount_tmpfs(&ledger_dir, "256k", false) && skip_without("a tmpfs cannot be mounted", "this test needs root") {
        return;
    }
    let _guard = Mounted(ledger_dir.clone());
    let data2 = data.clone();
    let server = TestServer::start_with(move |c| {
        c.data_dir = data2;
        c.audit.timeout_ms = 1500;
    })
    .await;
    let admin = server.admin_session().await;
    let store = server.running.as_ref().unwrap().state.store.clone();

    // Fill the ledger's disk until an action is refused.
    let mut refused = None;
    for i in 0..5000 {
        let started = std::time::Instant::now();
        let r = server
            .request(Method::POST, "/api/v1/tenants", Some(&admin.token))
            .json(&json!({ "name": format!("fill-{i}") }))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => continue,
            503 => {
                assert!(started.elapsed() < Duration::from_secs(3), "refused within the bound");
                refused = Some(format!("fill-{i}"));
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refused = refused.expect("a 256 KiB disk fills within 5000 actions");
    let tenants = store.list_tenants(None, None, 10_000).await.unwrap();
    assert!(!tenants.items.iter().any(|t| t.name == refused), "the refused action changed nothing");
    let login = server.login(&server.admin.username, "not the password", None).await;
    assert_eq!(login.status(), 503, "a login cannot go unrecorded either");
    let user = server
        .request(Method::POST, "/api/v1/users", Some(&admin.token))
        .json(&json!({"username": "nospace", "role": "auditor", "password": "a long password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 503);
    assert!(store.find_user_by_name("nospace").await.unwrap().is_none());

    // Space returns: the same node serves again, no restart.
    assert!(mount_tmpfs(&ledger_dir, "64m", true), "remount larger");
    let again = server
        .request(Method::POST, "/api/v1/tenants", Some(&admin.token))
        .json(&json!({ "name": refused }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201, "recovered without a restart");
    let ledger = &server.running.as_ref().unwrap().state.ledger;
    let head = ledger.head();
    let p = ledger.inclusion(head.size - 1, None).await.unwrap();
    verify_inclusion(head.size - 1, head.size, &rampart_ledger::merkle::leaf_hash(&p.entry), &p.proof, &head.root)
        .unwrap();
    server.stop().await;
}

/// The searchable audit table is derived from the ledger: events the ledger
/// made durable but the table lost (a crash between the two commits, a
/// database failure while indexing) are indexed again when the node starts,
/// at their ledger positions, and nothing is indexed twice.
#[tokio::test]
async fn events_the_index_lost_are_indexed_again_from_the_ledger_at_start() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let dir = data.clone();
    let server = TestServer::start_with(move |c| c.data_dir = dir).await;
    let admin = server.admin_session().await;
    for name in ["t-one", "t-two", "t-three"] {
        server.create_tenant(&admin, name).await;
    }
    let store = server.running.as_ref().unwrap().state.store.clone();
    let filter = rampart_store::EventFilter { kind: Some("tenant.created".into()), ..Default::default() };
    let before = store.list_events(&filter, 0, 100).await.unwrap().items;
    assert_eq!(before.len(), 3);
    let positions: Vec<Option<i64>> = before.iter().map(|e| e.ledger_index).collect();
    assert!(positions.iter().all(Option::is_some), "{positions:?}");
    let total = store.list_events(&Default::default(), 0, 1000).await.unwrap().items.len();
    server.stop().await;

    // Lose the last two tenant events from the index, as a crash between the
    // ledger's commit and the index's would.
    let db = rampart_store::Store::open_sqlite(&data.join("rampart.db"), 1).await.unwrap();
    let cut = positions[1].unwrap();
    db.delete_events_from_position_for_tests(cut).await.unwrap();
    assert_eq!(db.list_events(&filter, 0, 100).await.unwrap().items.len(), 1);
    db.close().await;

    let dir = data.clone();
    let server = TestServer::start_with(move |c| c.data_dir = dir).await;
    let store = server.running.as_ref().unwrap().state.store.clone();
    let after = store.list_events(&filter, 0, 100).await.unwrap().items;
    let mut again: Vec<(Option<i64>, String)> =
        after.iter().map(|e| (e.ledger_index, e.event.object.clone().unwrap_or_default())).collect();
    again.sort();
    let mut expected: Vec<(Option<i64>, String)> =
        before.iter().map(|e| (e.ledger_index, e.event.object.clone().unwrap_or_default())).collect();
    expected.sort();
    assert_eq!(again, expected, "the lost events are back at their ledger positions");
    let ids: std::collections::BTreeSet<String> = after.iter().map(|e| e.event.id.as_str().to_owned()).collect();
    assert_eq!(ids.len(), 3, "nothing indexed twice");
    // Everything else that was indexed is still there, once (the restart
    // itself may add events of its own, e.g. a login).
    let now = store.list_events(&Default::default(), 0, 1000).await.unwrap().items.len();
    assert!(now >= total, "{now} < {total}");
    server.stop().await;
}
