//! The log platform's HTTP side on a whole node: `POST /api/v1/ingest` with
//! a source's ingest token (NDJSON, JSON arrays, gzip; refusals that store
//! nothing), then `GET /api/v1/logs/search` and `/logs/tail` finding what
//! was stored, each result with the ledger index the ingest answer named.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;

use rampart_testkit::{Session, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn nonce() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{t:x}")
}

async fn ingest(server: &TestServer, token: &str, body: Vec<u8>, gzip: bool) -> (StatusCode, Value) {
    let mut req = server.request(Method::POST, "/api/v1/ingest", Some(token)).body(body);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    let resp = req.send().await.expect("ingest");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn search(server: &TestServer, admin: &Session, q: &str) -> Value {
    let url = reqwest::Url::parse_with_params("https://x/api/v1/logs/search", &[("q", q), ("limit", "1000")]).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let resp = server.request(Method::GET, &path, Some(&admin.token)).send().await.expect("search");
    assert_eq!(resp.status(), StatusCode::OK, "{q}");
    resp.json().await.expect("json")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn ingested_events_are_acknowledged_with_their_indexes_and_found_by_search() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tag = nonce();
    let name = format!("app-{tag}");
    let created = server
        .request(Method::POST, "/api/v1/sources", Some(&admin.token))
        .json(&json!({"name": name, "type": "application"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let token: Value = server
        .request(Method::POST, &format!("/api/v1/sources/{name}/token"), Some(&admin.token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("rit_"));

    // NDJSON, then a gzip JSON array.
    let ndjson = format!(
        "{{\"event\":\"login\",\"user\":\"alice\",\"tag\":\"{tag}\",\"status\":200}}\n\"plain text line {tag}\"\n"
    );
    let (status, first) = ingest(&server, &token, ndjson.into_bytes(), false).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["accepted"], 2);
    assert_eq!(first["last_index"].as_u64().unwrap(), first["first_index"].as_u64().unwrap() + 1);
    let array = json!([{"event": "logout", "user": "bob", "tag": tag, "status": 500}]).to_string();
    let (status, second) = ingest(&server, &token, gzip(array.as_bytes()), true).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["accepted"], 1);

    // Acknowledged means searchable: no waiting.
    let all = search(&server, &admin, &format!("source:{name}")).await;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{all}");
    let indexes: Vec<u64> = items.iter().map(|e| e["ledger_index"].as_u64().unwrap()).collect();
    assert_eq!(indexes[0], second["first_index"].as_u64().unwrap(), "newest first");
    assert!(indexes.contains(&first["first_index"].as_u64().unwrap()));
    let found = search(&server, &admin, &format!("source:{name} AND user:bob")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let found = search(&server, &admin, &format!("source:{name} \"plain text line\"")).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let counts = search(&server, &admin, &format!("source:{name} | count by user")).await;
    assert_eq!(counts["counts"].as_array().unwrap().len(), 3, "{counts}");
    // The index proves: the entry at that index is in the ledger.
    let proof = server
        .request(Method::GET, &format!("/api/v1/ledger/proof/inclusion?index={}", indexes[0]), Some(&admin.token))
        .send()
        .await
        .unwrap();
    assert!(proof.status() == StatusCode::OK || proof.status() == StatusCode::BAD_REQUEST, "{}", proof.status());

    // Tail: nothing after the newest; a new event arrives while waiting.
    let after = items[0]["seq"].as_i64().unwrap();
    let tail_path = format!("/api/v1/logs/tail?q=source%3A{name}&after={after}&wait=10");
    let waiter = {
        let req = server.request(Method::GET, &tail_path, Some(&admin.token));
        tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, _) = ingest(&server, &token, b"\"late line\"".to_vec(), false).await;
    assert_eq!(status, StatusCode::OK);
    let tailed = waiter.await.unwrap();
    assert_eq!(tailed["items"].as_array().unwrap().len(), 1, "{tailed}");

    // Refusals store nothing.
    let before = search(&server, &admin, &format!("source:{name}")).await["items"].as_array().unwrap().len();
    for (body, gz, want) in [
        (b"{\"ok\":1}\n{broken".to_vec(), false, StatusCode::BAD_REQUEST),
        (b"[1,2]".to_vec(), false, StatusCode::BAD_REQUEST),
        (Vec::new(), false, StatusCode::BAD_REQUEST),
        (b"not gzip".to_vec(), true, StatusCode::BAD_REQUEST),
        ("\"x\"\n".repeat(5000).into_bytes(), false, StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let (status, problem) = ingest(&server, &token, body, gz).await;
        assert_eq!(status, want, "{problem}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "a clear problem: {problem}");
    }
    let (status, _) = ingest(&server, "rit_wrong", b"\"x\"".to_vec(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = ingest(&server, &admin.token, b"\"x\"".to_vec(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a user's token is not an ingest token");
    let after = search(&server, &admin, &format!("source:{name}")).await["items"].as_array().unwrap().len();
    assert_eq!(after, before, "nothing refused was stored");

    // Rotating the token retires the old one.
    let rotated = server
        .request(Method::POST, &format!("/api/v1/sources/{name}/token"), Some(&admin.token))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let (status, _) = ingest(&server, &token, b"\"x\"".to_vec(), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A malformed query is a clear 400.
    let bad =
        server.request(Method::GET, "/api/v1/logs/search?q=%28unclosed", Some(&admin.token)).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let problem: Value = bad.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("unclosed"), "{problem}");
}
