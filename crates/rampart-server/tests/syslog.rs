//! The syslog listeners of a whole node, over real sockets: TCP with both
//! RFC 6587 framings, UDP, TLS (RFC 5425) with the node's certificate; the
//! source registry's handling of unknown senders; broken framing and
//! oversized messages; silence beyond a heartbeat; the registry's API.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rampart_core::config::UnknownSources;
use rampart_testkit::{Session, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn syslog(server: &TestServer) -> &rampart_server::ingest::Listeners {
    &server.running.as_ref().expect("running").syslog
}

/// A tag unique to one test run, so each test finds only its own lines.
fn nonce() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{t:x}")
}

/// An RFC 5424 line from `host`, tagged `app`.
fn line(host: &str, app: &str, msg: &str) -> String {
    format!("<38>1 2026-01-02T03:04:05.000Z {host} {app} 4242 - - {msg}")
}

fn octet_counted(msg: &str) -> Vec<u8> {
    format!("{} {msg}", msg.len()).into_bytes()
}

/// The ingested events by `actor` (`app@host`), waiting up to 10 s for `n`.
async fn events_by(server: &TestServer, admin: &Session, actor: &str, n: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let page: Value = server
            .request(Method::GET, &format!("/api/v1/logs/search?q=actor:%22{actor}%22&limit=500"), Some(&admin.token))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics(server: &TestServer) -> String {
    server.request(Method::GET, "/metrics", None).send().await.expect("metrics").text().await.expect("text")
}

/// The value of a metric line starting with `prefix`, or 0.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Reads until the server closes the connection; fails after 5 s.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the server must close the connection: {read:?}");
}

#[tokio::test]
async fn tcp_lines_in_both_framings_are_ledgered_and_their_sender_registered() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tcp = syslog(&server).tcp.expect("tcp listener");
    let app = format!("tcp{}", nonce());

    let mut counted = TcpStream::connect(tcp).await.expect("connect");
    for i in 0..3 {
        counted.write_all(&octet_counted(&line("Web-01", &app, &format!("octet {i}")))).await.expect("write");
    }
    let mut newline = TcpStream::connect(tcp).await.expect("connect");
    newline
        .write_all(format!("{}\n{}\r\n", line("web-01", &app, "nl 0"), line("web-01", &app, "nl 1")).as_bytes())
        .await
        .expect("write");
    drop((counted, newline));

    let events = events_by(&server, &admin, &format!("{app}@Web-01"), 3).await;
    let events2 = events_by(&server, &admin, &format!("{app}@web-01"), 2).await;
    assert_eq!((events.len(), events2.len()), (3, 2), "{events:?} {events2:?}");
    let mut messages: Vec<&str> =
        events.iter().chain(&events2).map(|e| e["attrs"]["message"].as_str().unwrap()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["nl 0", "nl 1", "octet 0", "octet 1", "octet 2"]);
    for e in events.iter().chain(&events2) {
        assert!(e["ledger_index"].as_i64().is_some(), "every event has its ledger index: {e}");
        assert_eq!(e["attrs"]["source"]["name"], "web-01", "both spellings are one source");
        assert_eq!(e["attrs"]["receiver"]["transport"], "tcp");
    }
    // The octet-counted lines of one connection keep their order in the ledger.
    let idx: Vec<i64> = events.iter().map(|e| e["ledger_index"].as_i64().unwrap()).collect();
    let order: Vec<&str> = {
        let mut by_index: Vec<(i64, &str)> =
            idx.iter().zip(&events).map(|(i, e)| (*i, e["attrs"]["message"].as_str().unwrap())).collect();
        by_index.sort();
        by_index.into_iter().map(|(_, m)| m).collect()
    };
    assert_eq!(order, ["octet 0", "octet 1", "octet 2"]);

    // The unknown sender was registered, unreviewed, and its registration audited.
    let source: Value = server.get_json("/api/v1/sources/web-01", &admin.token).await;
    assert_eq!((source["reviewed"].as_bool(), source["status"].as_str()), (Some(false), Some("active")), "{source}");
    let registered: Value = server.get_json("/api/v1/audit/events?kind=source.registered", &admin.token).await;
    assert!(registered["items"].as_array().unwrap().iter().any(|e| e["attrs"]["name"] == "web-01"), "{registered}");
    let text = metrics(&server).await;
    assert!(metric(&text, "rampart_ingest_events_total{source=\"web-01\"") >= 5.0, "{text}");
    assert!(metric(&text, "rampart_ingest_bytes_total{source=\"web-01\"") > 100.0);
    server.stop().await;
}

#[tokio::test]
async fn udp_datagrams_and_tls_streams_are_ledgered() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let app = format!("udp{}", nonce());
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    udp.send_to(line("db-01", &app, "over udp").as_bytes(), syslog(&server).udp.expect("udp")).await.expect("send");
    let events = events_by(&server, &admin, &format!("{app}@db-01"), 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["attrs"]["receiver"]["transport"], "udp");
    // The kernel's count of datagrams lost before they were read is exported too.
    let listen = syslog(&server).udp.unwrap();
    let kernel = format!("rampart_ingest_udp_kernel_drops_total{{listen=\"{listen}\"}} 0");
    let started = std::time::Instant::now();
    while !metrics(&server).await.contains(&kernel) {
        assert!(started.elapsed() < Duration::from_secs(5), "{kernel} missing: {}", metrics(&server).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // RFC 5425: TLS with the node's certificate, octet-counted frames.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut server.ca_pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(syslog(&server).tls.expect("tls")).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("TLS handshake with the node's certificate");
    let app = format!("tls{}", nonce());
    tls.write_all(&octet_counted(&line("fw-01", &app, "over tls"))).await.unwrap();
    tls.flush().await.unwrap();
    let events = events_by(&server, &admin, &format!("{app}@fw-01"), 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["attrs"]["receiver"]["transport"], "tls");
    assert!(events[0]["ledger_index"].as_i64().is_some());
    drop(tls);
    server.stop().await;
}

#[tokio::test]
async fn broken_framing_closes_only_that_connection_and_long_lines_are_cut_and_flagged() {
    let server = TestServer::start_with(|c| c.ingest.max_message_bytes = 2048).await;
    let admin = server.admin_session().await;
    let tcp = syslog(&server).tcp.unwrap();
    let app = format!("frm{}", nonce());
    let mut good = TcpStream::connect(tcp).await.unwrap();
    good.write_all(&octet_counted(&line("h1", &app, "before"))).await.unwrap();

    // An octet count followed by garbage: the framing is broken.
    let mut bad = TcpStream::connect(tcp).await.unwrap();
    bad.write_all(&octet_counted(&line("h1", &app, "fine"))).await.unwrap();
    bad.write_all(b"12x oops").await.unwrap();
    closed_by_server(&mut bad).await;

    good.write_all(&octet_counted(&line("h1", &app, "after"))).await.unwrap();
    let long = "x".repeat(5000);
    good.write_all(&octet_counted(&line("h1", &app, &long))).await.unwrap();
    let events = events_by(&server, &admin, &format!("{app}@h1"), 4).await;
    let mut messages: Vec<String> =
        events.iter().map(|e| e["attrs"]["message"].as_str().unwrap().chars().take(6).collect()).collect();
    messages.sort();
    assert_eq!(messages, ["after", "before", "fine", "xxxxxx"], "the good connection is unaffected");
    let cut = events.iter().find(|e| e["attrs"]["message"].as_str().unwrap().starts_with('x')).unwrap();
    assert!(cut["attrs"]["syslog"]["flags"].as_array().unwrap().contains(&json!("truncated")), "{cut}");
    assert!(cut["attrs"]["message"].as_str().unwrap().len() < 2048);
    let text = metrics(&server).await;
    assert_eq!(metric(&text, "rampart_ingest_framing_errors_total{transport=\"tcp\"}"), 1.0, "{text}");
    assert_eq!(metric(&text, "rampart_ingest_truncated_total{source=\"h1\"}"), 1.0, "{text}");
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_bound_are_closed_and_the_open_ones_keep_working() {
    let server = TestServer::start_with(|c| c.ingest.max_connections = 1).await;
    let admin = server.admin_session().await;
    let app = format!("max{}", nonce());
    let mut first = TcpStream::connect(syslog(&server).tcp.unwrap()).await.unwrap();
    first.write_all(format!("{}\n", line("h2", &app, "one")).as_bytes()).await.unwrap();
    assert_eq!(events_by(&server, &admin, &format!("{app}@h2"), 1).await.len(), 1);
    let mut second = TcpStream::connect(syslog(&server).tcp.unwrap()).await.unwrap();
    closed_by_server(&mut second).await;
    first.write_all(format!("{}\n", line("h2", &app, "two")).as_bytes()).await.unwrap();
    assert_eq!(events_by(&server, &admin, &format!("{app}@h2"), 2).await.len(), 2);
    let text = metrics(&server).await;
    assert!(metric(&text, "rampart_ingest_connections_refused_total{transport=\"tcp\"}") >= 1.0, "{text}");
    // The slot is given back when a connection ends.
    drop(first);
    let started = std::time::Instant::now();
    loop {
        let mut third = TcpStream::connect(syslog(&server).tcp.unwrap()).await.unwrap();
        third.write_all(format!("{}\n", line("h2", &app, "three")).as_bytes()).await.unwrap();
        drop(third);
        if events_by(&server, &admin, &format!("{app}@h2"), 3).await.len() == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "a freed slot is reused");
    }
    server.stop().await;
}

#[tokio::test]
async fn refused_and_held_senders_store_nothing_until_registered_or_reviewed() {
    for policy in [UnknownSources::Refuse, UnknownSources::Hold] {
        let server = TestServer::start_with(|c| c.ingest.unknown_sources = policy).await;
        let admin = server.admin_session().await;
        let tcp = syslog(&server).tcp.unwrap();
        let app = format!("pol{}", nonce());
        let mut stream = TcpStream::connect(tcp).await.unwrap();
        stream.write_all(format!("{}\n", line("stranger", &app, "hello")).as_bytes()).await.unwrap();
        closed_by_server(&mut stream).await;
        let listed: Value = server.get_json("/api/v1/sources/stranger", &admin.token).await;
        match policy {
            UnknownSources::Refuse => assert_eq!(listed["status"], 404, "refuse registers nothing: {listed}"),
            _ => assert_eq!((listed["status"].as_str(), listed["reviewed"].as_bool()), (Some("pending"), Some(false))),
        }
        // Registered (refuse) or reviewed (hold), the sender is taken.
        let resp = match policy {
            UnknownSources::Refuse => server
                .request(Method::POST, "/api/v1/sources", Some(&admin.token))
                .json(&json!({"name": "stranger", "type": "server"}))
                .send()
                .await
                .unwrap(),
            _ => server
                .request(Method::PATCH, "/api/v1/sources/stranger", Some(&admin.token))
                .json(&json!({"reviewed": true}))
                .send()
                .await
                .unwrap(),
        };
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        let mut stream = TcpStream::connect(tcp).await.unwrap();
        stream.write_all(format!("{}\n", line("stranger", &app, "again")).as_bytes()).await.unwrap();
        drop(stream);
        let events = events_by(&server, &admin, &format!("{app}@stranger"), 1).await;
        let messages: Vec<&str> = events.iter().map(|e| e["attrs"]["message"].as_str().unwrap()).collect();
        assert_eq!(messages, ["again"], "{policy:?}: nothing of the refused or held sender was stored");
        let text = metrics(&server).await;
        assert!(metric(&text, "rampart_ingest_dropped_total") >= 1.0, "{text}");
        server.stop().await;
    }
}

#[tokio::test]
async fn forged_host_names_cannot_grow_the_registry_beyond_its_bound() {
    let server = TestServer::start_with(|c| c.ingest.max_sources = 2).await;
    let admin = server.admin_session().await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app = format!("cap{}", nonce());
    for i in 0..5 {
        udp.send_to(line(&format!("forged-{i}"), &app, "hi").as_bytes(), syslog(&server).udp.unwrap()).await.unwrap();
        // One at a time, so which two are registered is known.
        if i < 2 {
            assert_eq!(events_by(&server, &admin, &format!("{app}@forged-{i}"), 1).await.len(), 1);
        }
    }
    let started = std::time::Instant::now();
    let refused = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("rampart_ingest_dropped_total{") && l.contains("reason=\"refused\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    while refused(&metrics(&server).await) < 3.0 {
        assert!(started.elapsed() < Duration::from_secs(10), "{}", metrics(&server).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed: Value = server.get_json("/api/v1/sources", &admin.token).await;
    let names: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["forged-0", "forged-1"]);
    assert!(events_by(&server, &admin, &format!("{app}@forged-4"), 1).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_refused_line_does_not_take_the_rest_of_a_relayed_batch_with_it() {
    let server = TestServer::start_with(|c| c.ingest.unknown_sources = UnknownSources::Refuse).await;
    let admin = server.admin_session().await;
    let resp = server
        .request(Method::POST, "/api/v1/sources", Some(&admin.token))
        .json(&json!({"name": "known", "type": "server"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let app = format!("relay{}", nonce());
    // A relay forwards several hosts' lines over one connection.
    let batch = format!("{}\n{}\n", line("stranger", &app, "refused"), line("known", &app, "kept"));
    let mut relay = TcpStream::connect(syslog(&server).tcp.unwrap()).await.unwrap();
    relay.write_all(batch.as_bytes()).await.unwrap();
    closed_by_server(&mut relay).await;
    let kept = events_by(&server, &admin, &format!("{app}@known"), 1).await;
    assert_eq!(kept.len(), 1, "the known host's line in the same read is stored");
    assert!(events_by(&server, &admin, &format!("{app}@stranger"), 1).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_source_silent_beyond_its_heartbeat_is_reported_once_per_silence() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let created: Value = server
        .request(Method::POST, "/api/v1/sources", Some(&admin.token))
        .json(&json!({"name": "quiet-01", "type": "network_device", "owner": "netops", "product": "cisco",
            "heartbeat_secs": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["reviewed"], true, "a source a person registers is reviewed");
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app = format!("hb{}", nonce());
    udp.send_to(line("quiet-01", &app, "alive").as_bytes(), syslog(&server).udp.unwrap()).await.unwrap();
    assert_eq!(events_by(&server, &admin, &format!("{app}@quiet-01"), 1).await.len(), 1);

    // The injected clock: the check runs at chosen instants.
    let registry = &server.running.as_ref().unwrap().state.ingest.registry;
    let now = rampart_core::time::now_ms();
    assert_eq!(registry.report_silent(now + 5_000).await.unwrap(), 0, "within its heartbeat");
    assert_eq!(registry.report_silent(now + 11_000).await.unwrap(), 1, "silent for more than 10 s");
    assert_eq!(registry.report_silent(now + 12_000).await.unwrap(), 0, "one report per silence");
    let silent: Value = server.get_json("/api/v1/audit/events?kind=source.silent", &admin.token).await;
    let items = silent["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{silent}");
    assert_eq!(
        (items[0]["object"].as_str(), items[0]["attrs"]["name"].as_str()),
        (Some(id.as_str()), Some("quiet-01"))
    );
    assert!(items[0]["ledger_index"].as_i64().is_some());
    let shown: Value = server.get_json(&format!("/api/v1/sources/{id}"), &admin.token).await;
    assert!(shown["silent_since"].is_string(), "{shown}");

    // It speaks again, then falls silent again: a new report.
    udp.send_to(line("quiet-01", &app, "back").as_bytes(), syslog(&server).udp.unwrap()).await.unwrap();
    assert_eq!(events_by(&server, &admin, &format!("{app}@quiet-01"), 2).await.len(), 2);
    let back = rampart_core::time::now_ms();
    assert_eq!(registry.report_silent(back + 5_000).await.unwrap(), 0, "it spoke: no longer silent");
    assert_eq!(registry.report_silent(back + 11_000).await.unwrap(), 1, "the next silence is reported anew");
    server.stop().await;
}

#[tokio::test]
async fn the_source_api_checks_its_input_and_audits_changes() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let post = |body: Value| server.request(Method::POST, "/api/v1/sources", Some(&admin.token)).json(&body).send();
    for bad in [
        json!({"name": "a b", "type": "server"}),
        json!({"name": "ok", "type": "toaster"}),
        json!({"name": "ok", "type": "server", "parser": "cobol"}),
        json!({"name": "ok", "type": "server", "heartbeat_secs": 0}),
        json!({"name": "", "type": "server"}),
    ] {
        let resp = post(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let resp = post(json!({"name": "ok", "type": "server", "color": "red"})).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");
    let listed: Value = server.get_json("/api/v1/sources", &admin.token).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "bad input changed nothing");

    let resp = post(json!({"name": "PG-01", "type": "database", "service": "postgresql", "parser": "postgres"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!((created["name"].as_str(), created["parser"].as_str()), (Some("pg-01"), Some("postgresql")));
    assert_eq!(post(json!({"name": "pg-01", "type": "database"})).await.unwrap().status(), StatusCode::CONFLICT);
    let patched: Value = server
        .request(Method::PATCH, "/api/v1/sources/pg-01", Some(&admin.token))
        .json(&json!({"owner": "dba", "heartbeat_secs": 60, "service": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((patched["owner"].as_str(), patched["heartbeat_secs"].as_i64()), (Some("dba"), Some(60)));
    assert!(patched["service"].is_null(), "{patched}");
    let resp = server.request(Method::DELETE, "/api/v1/sources/pg-01", Some(&admin.token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = server.request(Method::GET, "/api/v1/sources/pg-01", Some(&admin.token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    for kind in ["source.created", "source.updated", "source.deleted"] {
        let found: Value = server.get_json(&format!("/api/v1/audit/events?kind={kind}"), &admin.token).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{kind}: {found}");
    }
    let _: SocketAddr = syslog(&server).udp.unwrap();
    server.stop().await;
}
