//! Bad input gets a clear 4xx (or the connection closed), changes nothing,
//! and the server keeps serving everyone else.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use rampart_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn problem(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(ctype, "application/problem+json", "status {status}");
    (status, resp.json().await.expect("problem json"))
}

async fn user_count(server: &TestServer) -> i64 {
    server.running.as_ref().expect("running").state.store.count_users().await.expect("count")
}

#[tokio::test]
async fn malformed_bodies_get_clear_problems_and_change_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let before = user_count(&server).await;
    let post = |body: Vec<u8>, ctype: Option<&str>| {
        let mut rb = server.request(Method::POST, "/api/v1/users", Some(&admin.token)).body(body);
        if let Some(c) = ctype {
            rb = rb.header("content-type", c);
        }
        rb.send()
    };
    let json = Some("application/json");

    let (status, p) = problem(post(b"{\"username\": ".to_vec(), json).await.expect("send")).await;
    assert_eq!((status.as_u16(), p["type"].as_str()), (400, Some("urn:rampart:problem:malformed-json")));

    let (status, p) =
        problem(post(b"username=x".to_vec(), Some("application/x-www-form-urlencoded")).await.expect("send")).await;
    assert_eq!((status.as_u16(), p["type"].as_str()), (415, Some("urn:rampart:problem:unsupported-media-type")));
    let (status, _) = problem(post(b"{}".to_vec(), None).await.expect("send")).await;
    assert_eq!(status, 415, "no content type at all");

    let unknown = br#"{"username":"x","role":"auditor","password":"a long password 1","is_root":true}"#.to_vec();
    let (status, p) = problem(post(unknown, json).await.expect("send")).await;
    assert_eq!(status, 422);
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("is_root")), "the unknown field is named: {p}");

    let mut invalid_utf8 = br#"{"username":"x"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#"","role":"auditor"}"#);
    let (status, _) = problem(post(invalid_utf8, json).await.expect("send")).await;
    assert_eq!(status, 400, "invalid UTF-8");

    let wrong_type = br#"{"username":"x","role":"superuser","password":"a long password 1"}"#.to_vec();
    let (status, _) = problem(post(wrong_type, json).await.expect("send")).await;
    assert_eq!(status, 422, "unknown role");

    let bad_name =
        br#"{"username":"Robert'); DROP TABLE users;--","role":"auditor","password":"a long password 1"}"#.to_vec();
    let (status, _) = problem(post(bad_name, json).await.expect("send")).await;
    assert_eq!(status, 422);

    let oversized = format!(r#"{{"username":"x","role":"auditor","password":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let (status, p) = problem(post(oversized.into_bytes(), json).await.expect("send")).await;
    assert_eq!((status.as_u16(), p["type"].as_str()), (413, Some("urn:rampart:problem:payload-too-large")));

    let (status, _) = problem(
        server.request(Method::GET, "/api/v1/users?limit=100000", Some(&admin.token)).send().await.expect("send"),
    )
    .await;
    assert_eq!(status, 400, "page size over the maximum");
    let (status, _) = problem(
        server.request(Method::GET, "/api/v1/users?surprise=1", Some(&admin.token)).send().await.expect("send"),
    )
    .await;
    assert_eq!(status, 400, "unknown query parameter");

    let (status, _) =
        problem(server.request(Method::PUT, "/api/v1/users", Some(&admin.token)).send().await.expect("send")).await;
    assert_eq!(status, 405, "wrong method");

    assert_eq!(user_count(&server).await, before, "no bad request created a user");
    let ok = server.request(Method::GET, "/api/v1/users", Some(&admin.token)).send().await.expect("send");
    assert_eq!(ok.status(), 200, "the server still serves");
    server.stop().await;
}

#[tokio::test]
async fn hostile_authorization_headers_are_refused_cleanly() {
    let server = TestServer::start().await;
    for value in [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer rpt_' OR 1=1 --",
        &format!("Bearer rpt_{}", "A".repeat(10_000)),
    ] {
        let r = server
            .request(Method::GET, "/api/v1/users", None)
            .header("authorization", value)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401, "{value:.40}");
    }
    server.stop().await;
}

/// Opens a TLS connection that trusts the test CA.
async fn tls_connect(server: &TestServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut server.ca_pem.as_slice()) {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let addr = server.running.as_ref().expect("running").addr;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await.expect("tls")
}

#[tokio::test]
async fn a_client_dribbling_headers_is_cut_off_while_others_are_served() {
    let server = TestServer::start_with(|c| c.server.header_read_timeout_secs = 1).await;
    let mut slow = tls_connect(&server).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let dribble = async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                break;
            }
        }
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
        buf
    };
    let others = async {
        for _ in 0..5 {
            let r = server.request(Method::GET, "/healthz", None).send().await.expect("healthz");
            assert_eq!(r.status(), 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let (answer, ()) = tokio::join!(dribble, others);
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains("200 OK"), "the slow client must not be served: {text}");
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let server = TestServer::start().await;
    let addr = server.running.as_ref().expect("running").addr;
    // A request whose headers and half its body have arrived is in flight
    // for certain when shutdown begins; the rest of its body comes after.
    let body = serde_json::json!({"username": "nobody", "password": "some password here"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut conn = tls_connect(&server).await;
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.expect("write head");
    conn.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.write_all(tail.as_bytes()).await.expect("write tail");
    conn.flush().await.expect("flush");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 401"), "the in-flight request is answered, not cut: {text}");
    drop(conn);
    stopping.await.expect("shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "new connections are refused");
}

/// The KMS's native endpoints: malformed JSON, unknown fields, bad base64,
/// oversized plaintexts, hostile key references and policies each get a
/// problem, and no key is created or changed by any of them.
#[tokio::test]
async fn hostile_kms_requests_get_problems_and_change_no_key() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "hostilekms").await;
    let cust = server.session_for(&admin, "hk", rampart_core::Role::CustomerAdmin, Some(&tenant)).await;
    let send = |method: Method, path: String, body: Option<Vec<u8>>| {
        let mut rb = server.request(method, &path, Some(&cust.token)).header("content-type", "application/json");
        if let Some(b) = body {
            rb = rb.body(b);
        }
        rb.send()
    };
    let created: Value =
        send(Method::POST, "/api/v1/kms/keys".into(), Some(b"{}".to_vec())).await.unwrap().json().await.unwrap();
    let key = created["key_id"].as_str().unwrap().to_owned();
    let keys_before: Value = send(Method::GET, "/api/v1/kms/keys".into(), None).await.unwrap().json().await.unwrap();

    let big = data_encoding::BASE64.encode(&vec![7u8; 4097]);
    let cases: Vec<(Method, String, Vec<u8>)> = vec![
        (Method::POST, "/api/v1/kms/keys".into(), b"{not json".to_vec()),
        (Method::POST, "/api/v1/kms/keys".into(), br#"{"spec":"SYMMETRIC_DEFAULT","evil":1}"#.to_vec()),
        (Method::POST, "/api/v1/kms/keys".into(), br#"{"spec":"ECC_SECG_P256K1"}"#.to_vec()),
        (Method::POST, "/api/v1/kms/keys".into(), br#"{"spec":"HMAC_256"}"#.to_vec()),
        (Method::POST, "/api/v1/kms/keys".into(), br#"{"alias":"alias/aws/reserved"}"#.to_vec()),
        (Method::POST, format!("/api/v1/kms/keys/{key}/crypto/encrypt"), br#"{"data":"%%%"}"#.to_vec()),
        (Method::POST, format!("/api/v1/kms/keys/{key}/crypto/encrypt"), format!(r#"{{"data":"{big}"}}"#).into_bytes()),
        (
            Method::POST,
            format!("/api/v1/kms/keys/{key}/crypto/encrypt"),
            br#"{"data":"eA==","context":{"a":1}}"#.to_vec(),
        ),
        (
            Method::POST,
            format!("/api/v1/kms/keys/{key}/crypto/sign"),
            br#"{"data":"eA==","algorithm":"ECDSA_SHA_256"}"#.to_vec(),
        ),
        (Method::POST, "/api/v1/kms/decrypt".into(), br#"{"ciphertext":"AAAA"}"#.to_vec()),
        (Method::POST, "/api/v1/kms/keys/..%2F..%2Fetc%2Fpasswd/disable".into(), b"{}".to_vec()),
        (Method::POST, format!("/api/v1/kms/keys/{key}/schedule-deletion"), br#"{"pending_days":3}"#.to_vec()),
        (Method::PUT, format!("/api/v1/kms/keys/{key}/policy"), br#"{"Statement":{"Condition":{}}}"#.to_vec()),
        (Method::PUT, format!("/api/v1/kms/keys/{key}/policy"), b"[1,2,3]".to_vec()),
    ];
    for (method, path, body) in cases {
        let what = format!("{method} {path} {}", String::from_utf8_lossy(&body[..body.len().min(60)]));
        let (status, p) = problem(send(method, path, Some(body)).await.unwrap()).await;
        assert!(status.is_client_error(), "{what}: {status} {p}");
        assert!(p["type"].as_str().is_some_and(|t| t.starts_with("urn:rampart:problem:")), "{what}: {p}");
        assert!(!p["detail"].as_str().unwrap_or_default().contains("7777777"), "{what}: input is not echoed");
    }
    let keys_after: Value = send(Method::GET, "/api/v1/kms/keys".into(), None).await.unwrap().json().await.unwrap();
    assert_eq!(keys_before, keys_after, "no refused request created or changed a key");
    server.stop().await;
}
