//! Detection end to end on a `rampart serve` child: util-linux `logger`
//! sends sshd `Failed password` lines for one user from one address over
//! TCP; the fifth raises the red-line brute-force alert (a `detect.alert`
//! ledger event until the ticket desk takes alerts) well within a second,
//! and four do not. Rampart's own failed logins through the API raise the
//! same per-user rule.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_testkit::skip_without;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const PER_USER: &str = "e1d18ef1-203f-4b4e-8a5d-ba4a1bef1947";
const PER_SOURCE: &str = "b9b5be3b-1bd5-48ad-98e5-6302d967866e";

type Node = rampart_testkit::ServedNode;

async fn start(data: &Path) -> Node {
    Node::start(BIN, data).await
}

async fn admin_token(node: &Node, data: &Path) -> String {
    rampart_testkit::bootstrap_admin_token(&node.client, &node.url, data).await
}

/// The `detect.alert` events of `rule` for `group`, polling every 10 ms up to `wait`.
async fn alerts(node: &Node, token: &str, rule: &str, group: &str, wait: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let page: Value = node
            .client
            .get(format!("{}/api/v1/audit/events?kind=detect.alert&limit=500", node.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found: Vec<Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["attrs"]["rule_id"] == rule && e["attrs"]["group_key"] == group)
            .cloned()
            .collect();
        if !found.is_empty() || started.elapsed() >= wait {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many ingested sshd failures for `user` the node holds.
async fn ingested(node: &Node, token: &str, user: &str) -> usize {
    let page: Value = node
        .client
        .get(format!("{}/api/v1/audit/events?kind=log.sshd.auth_failed&actor={user}&limit=500", node.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().map_or(0, Vec::len)
}

fn failed_password(port: &str, user: &str) {
    let line = format!("Failed password for {user} from 198.51.100.77 port 50022 ssh2");
    let out = Command::new("logger")
        .args(["--tcp", "-n", "127.0.0.1", "-P", port, "-t", "sshd", "--id=4711", &line])
        .output()
        .expect("run logger");
    assert!(out.status.success(), "logger: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_failed_passwords_over_syslog_raise_the_brute_force_alert_within_a_second() {
    if Command::new("logger").arg("--version").output().is_err()
        && skip_without("util-linux logger", "apt-get install bsdutils")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let node = start(&data).await;
    let token = admin_token(&node, &data).await;
    let port = node.syslog["tcp"].as_str().unwrap().rsplit(':').next().unwrap().to_owned();
    let user = "svc-backup";

    for _ in 0..4 {
        failed_password(&port, user);
    }
    let started = Instant::now();
    while ingested(&node, &token, user).await < 4 {
        assert!(started.elapsed() < Duration::from_secs(15), "the four lines were not ingested");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let group = format!("user={user}");
    // Past the reordering delay: four failures are a near miss.
    assert!(alerts(&node, &token, PER_USER, &group, Duration::from_millis(600)).await.is_empty());

    let threshold = Instant::now();
    failed_password(&port, user);
    let found = alerts(&node, &token, PER_USER, &group, Duration::from_secs(10)).await;
    let latency = threshold.elapsed();
    assert_eq!(found.len(), 1, "{found:#?}");
    eprintln!("sshd brute force: alert {latency:?} after logger sent the fifth line");
    assert!(latency < Duration::from_secs(1), "the alert took {latency:?}");
    let a = &found[0]["attrs"];
    assert_eq!(a["severity"], "high");
    assert_eq!(a["event_count"], 5);
    let indexes = a["ledger_indexes"].as_array().unwrap();
    assert_eq!(indexes.len(), 5, "the alert names the five ingested lines");
    // The named indexes are the five ingested lines.
    let page: Value = node
        .client
        .get(format!("{}/api/v1/audit/events?kind=log.sshd.auth_failed&actor={user}&limit=500", node.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut lines: Vec<i64> =
        page["items"].as_array().unwrap().iter().map(|e| e["ledger_index"].as_i64().unwrap()).collect();
    lines.sort_unstable();
    let mut named: Vec<i64> = indexes.iter().map(|i| i.as_i64().unwrap()).collect();
    named.sort_unstable();
    assert_eq!(named, lines);
    // One address, five failures: below the per-address threshold of ten.
    assert!(alerts(&node, &token, PER_SOURCE, "address=198.51.100.77", Duration::ZERO).await.is_empty());

    // The alert is an alarm ticket on the desk (within the same second),
    // and further attempts join it instead of opening another.
    let tickets = async || -> Vec<Value> {
        let page: Value = node
            .client
            .get(format!("{}/api/v1/tickets?kind=alarm&limit=200", node.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["rule_id"] == PER_USER && t["dedup_key"].as_str().is_some_and(|k| k.ends_with(&group)))
            .cloned()
            .collect()
    };
    let mine = tickets().await;
    assert_eq!(mine.len(), 1, "one alarm ticket for the user: {mine:#?}");
    let opened = mine[0]["created_at"].as_str().unwrap();
    let opened_ms = time::OffsetDateTime::parse(opened, &time::format_description::well_known::Rfc3339).unwrap();
    let sent_ms = time::OffsetDateTime::now_utc() - threshold.elapsed();
    assert!(opened_ms - sent_ms < time::Duration::seconds(1), "the ticket opened within a second: {opened}");
    assert_eq!((mine[0]["status"].as_str(), mine[0]["severity"].as_str()), (Some("new"), Some("high")));
    let opened_with = mine[0]["event_count"].as_i64().unwrap();
    assert_eq!(opened_with, 5, "{mine:#?}");
    for _ in 0..5 {
        failed_password(&port, user);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let joined = loop {
        let now = tickets().await;
        assert_eq!(now.len(), 1, "further attempts join the open ticket: {now:#?}");
        if now[0]["event_count"].as_i64().unwrap() > opened_with {
            break now;
        }
        assert!(Instant::now() < deadline, "the further attempts never joined the ticket: {now:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(joined[0]["id"], mine[0]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_through_the_api_raise_the_per_user_rule() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let node = start(&data).await;
    let token = admin_token(&node, &data).await;
    let mut threshold = Instant::now();
    for i in 0..5 {
        threshold = Instant::now();
        let resp = node
            .client
            .post(format!("{}/api/v1/auth/login", node.url))
            .json(&json!({"username": "eve", "password": format!("guess-number-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    let found = alerts(&node, &token, PER_USER, "user=eve", Duration::from_secs(10)).await;
    let latency = threshold.elapsed();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(latency < Duration::from_secs(1), "the alert took {latency:?}");
    assert_eq!(found[0]["attrs"]["pack"], "rampart-redline");
}
