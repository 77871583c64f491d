//! The detection stage in a whole node: Rampart's own failed logins raise
//! the red-line brute-force alert (recorded as `detect.alert` well within a
//! second of the threshold event), correlation state survives a restart
//! (events before and after it reach the threshold together), the rules
//! and status endpoints, and a reload that keeps state or, for a broken
//! tree, is refused and changes nothing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use rampart_core::config::Config;
use rampart_testkit::{Session, TestServer, client_for, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PER_USER: &str = "e1d18ef1-203f-4b4e-8a5d-ba4a1bef1947";

async fn fail_login(server: &TestServer, user: &str) {
    let resp = server.login(user, "wrong-password-attempt", None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{}", resp.text().await.unwrap_or_default());
}

/// `detect.alert` events of `rule` for `group`, waiting up to `within` for one.
async fn alerts(server: &TestServer, admin: &Session, rule: &str, group: &str, within: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let page = server.get_json("/api/v1/audit/events?kind=detect.alert&limit=100", &admin.token).await;
        let found: Vec<Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["attrs"]["rule_id"] == rule && e["attrs"]["group_key"] == group)
            .cloned()
            .collect();
        if !found.is_empty() || started.elapsed() > within {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn failed_logins_to_rampart_raise_the_brute_force_alert_within_a_second() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    for _ in 0..4 {
        fail_login(&server, "mallory").await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(alerts(&server, &admin, PER_USER, "user=mallory", Duration::ZERO).await.is_empty(), "four is a near miss");
    let threshold = Instant::now();
    fail_login(&server, "mallory").await;
    let found = alerts(&server, &admin, PER_USER, "user=mallory", Duration::from_secs(5)).await;
    let latency = threshold.elapsed();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(latency < Duration::from_secs(1), "alert after {latency:?}");
    let a = &found[0]["attrs"];
    assert_eq!(
        (a["severity"].as_str(), a["pack"].as_str(), a["event_count"].as_u64()),
        (Some("high"), Some("rampart-redline"), Some(5))
    );
    assert_eq!(a["ledger_indexes"].as_array().unwrap().len(), 5);
    eprintln!("brute-force alert {latency:?} after the threshold event");

    let status = server.get_json("/api/v1/detect/status", &admin.token).await;
    assert_eq!(status["enabled"], true);
    assert!(status["cursor"].as_u64().unwrap() > 5, "{status}");
    let rules = server.get_json("/api/v1/detect/rules", &admin.token).await;
    assert!(rules["rules"].as_array().unwrap().iter().any(|r| r["id"] == PER_USER && r["pack"] == "rampart-redline"));
    assert_eq!(rules["rejected"], json!([]));
    assert!(rules["license"].is_null(), "no SigmaHQ rules, no credit line");
    // The sink records the alert in the ledger (where the search above saw
    // it) a moment before the stage counts it, so wait for the counter.
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let text = server.request(Method::GET, "/metrics", None).send().await.unwrap().text().await.unwrap();
        if text.contains("rampart_detect_alerts_total{") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rampart_detect_alerts_total{") && l.contains("pack=\"rampart-redline\"")),
        "alerts are counted by pack"
    );
    assert!(metrics.contains("rampart_detect_correlation_evictions_total"), "evictions are exported");
    server.stop().await;
}

async fn start(config: &Config) -> (rampart_server::Running, reqwest::Client, String) {
    let running = rampart_server::start(config.clone()).await.expect("start");
    let client = client_for(&std::fs::read(running.data_dir.tls().ca_cert).unwrap());
    let url = format!("https://{}", running.addr);
    (running, client, url)
}

async fn fail_login_at(client: &reqwest::Client, url: &str, user: &str) {
    let resp = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": "wrong-password-attempt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// The cursor the stage saved in the data directory.
fn state_cursor(config: &Config) -> u64 {
    let saved: Value =
        serde_json::from_slice(&std::fs::read(config.data_dir.join("detect/state.json")).expect("state file")).unwrap();
    saved["cursor"].as_u64().unwrap()
}

#[tokio::test]
async fn correlation_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let (running, client, url) = start(&config).await;
    for _ in 0..3 {
        fail_login_at(&client, &url, "trudy").await;
    }
    // Let the stage evaluate them, then stop gracefully: the state is saved.
    tokio::time::sleep(Duration::from_millis(800)).await;
    running.shutdown().await.unwrap();
    let cursor = state_cursor(&config);
    assert!(cursor >= 3, "cursor {cursor}");

    let (running, client, url) = start(&config).await;
    fail_login_at(&client, &url, "trudy").await;
    fail_login_at(&client, &url, "trudy").await;
    let ledger = running.state.ledger.clone();
    let started = Instant::now();
    let found = loop {
        let size = ledger.head().size;
        let entries = ledger.entries(0, size).await.unwrap();
        let found: Vec<rampart_core::Event> = entries
            .iter()
            .filter_map(|b| rampart_ledger::entry::decode_event(b))
            .filter(|e| e.kind == "detect.alert" && e.attrs["group_key"] == "user=trudy")
            .collect();
        if !found.is_empty() || started.elapsed() > Duration::from_secs(5) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(found.len(), 1, "three failures before the restart and two after reach five together");
    assert_eq!(found[0].attrs["event_count"], 5);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn reload_keeps_state_and_a_broken_tree_is_refused_changing_nothing() {
    let rules_dir = tempfile::tempdir().unwrap();
    let dir = rules_dir.path().to_owned();
    let server = TestServer::start_with(|c| c.detect.rules_dirs = vec![dir]).await;
    let admin = server.admin_session().await;
    // Before the failed logins, which lock the test's address out.
    let auditor = server.session_for(&admin, "audrey", rampart_core::Role::Auditor, None).await;
    std::fs::write(
        rules_dir.path().join("mine.yml"),
        "title: Tenant created\nid: 9f8a7b6c-0000-4000-8000-000000000001\nlogsource: {product: rampart, service: audit}\n\
         detection: {s: {kind: tenant.created}, condition: s}\nlevel: low\n",
    )
    .unwrap();
    for _ in 0..3 {
        fail_login(&server, "oscar").await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = server.get_json("/api/v1/detect/status", &admin.token).await;
    let reload = |token: String| {
        let req = server.request(Method::POST, "/api/v1/detect/reload", Some(&token));
        async move { req.send().await.unwrap() }
    };
    let resp = reload(admin.token.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert!(body["groups_kept"].as_u64().unwrap() >= 1, "{body}");
    let rules = server.get_json("/api/v1/detect/rules", &admin.token).await;
    assert!(rules["rules"].as_array().unwrap().iter().any(|r| r["title"] == "Tenant created" && r["pack"] == "custom"));

    // A broken rule: refused with its reason; the loaded rules stay.
    std::fs::write(
        rules_dir.path().join("broken.yml"),
        "title: Broken\nlogsource: {product: rampart}\ndetection: {s: {kind|nosuchmodifier: x}, condition: s}\n",
    )
    .unwrap();
    let resp = reload(admin.token.clone()).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = resp.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("nosuchmodifier"), "{problem}");
    let after = server.get_json("/api/v1/detect/rules", &admin.token).await;
    assert_eq!(after["rejected"], json!([]), "the refused tree changed nothing");
    assert_eq!(after["rules"].as_array().unwrap().len(), rules["rules"].as_array().unwrap().len());

    // The two remaining failures reach the threshold with the three before the reloads.
    fail_login(&server, "oscar").await;
    fail_login(&server, "oscar").await;
    assert_eq!(alerts(&server, &admin, PER_USER, "user=oscar", Duration::from_secs(5)).await.len(), 1);
    let status = server.get_json("/api/v1/detect/status", &admin.token).await;
    assert!(status["cursor"].as_u64() > before["cursor"].as_u64());

    // An auditor reads, but may not reload.
    assert_eq!(
        server.request(Method::GET, "/api/v1/detect/rules", Some(&auditor.token)).send().await.unwrap().status(),
        200
    );
    assert_eq!(reload(auditor.token.clone()).await.status(), StatusCode::FORBIDDEN);
    server.stop().await;
}
