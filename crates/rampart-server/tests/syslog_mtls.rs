//! Mutual TLS on the syslog TLS listener, retention and export, on a whole
//! node: client certificates issued by the node's CA to a registered
//! source (its events are that source's whatever the syslog header says),
//! refused at the handshake when missing, revoked, of a deleted source or
//! from another CA (with rustls and with openssl s_client); retention that
//! prunes the search index while the ledger still proves the pruned
//! events; and the export of a time range with its proofs.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_core::config::ClientAuth;
use rampart_testkit::{Session, TestServer, skip_without};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn nonce() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{t:x}")
}

fn line(host: &str, time: &str, msg: &str) -> String {
    format!("<38>1 {time} {host} app 4242 - - {msg}")
}

fn octet_counted(msg: &str) -> Vec<u8> {
    format!("{} {msg}", msg.len()).into_bytes()
}

fn tls_addr(server: &TestServer) -> std::net::SocketAddr {
    server.running.as_ref().expect("running").syslog.tls.expect("tls listener")
}

async fn post(server: &TestServer, admin: &Session, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = server.request(Method::POST, path, Some(&admin.token)).json(&body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A key made here and a certificate for it issued to `source` through
/// the API from its signing request; the answer with the key added as
/// `key` (the server never sees it).
async fn issue(server: &TestServer, admin: &Session, source: &str) -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default().serialize_request(&key).unwrap().pem().unwrap();
    let (status, mut issued) =
        post(server, admin, &format!("/api/v1/sources/{source}/certs"), json!({"days": 30, "csr": csr})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert!(issued.get("key").is_none(), "no key comes back: {issued}");
    issued["key"] = json!(key.serialize_pem());
    issued
}

fn connector(ca_pem: &[u8], client: Option<(&str, &str)>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &*ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = rustls_pemfile::certs(&mut cert.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
            let key = rustls_pemfile::private_key(&mut key.as_bytes()).unwrap().unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Connects and sends `lines`; the stream, or the error the server's
/// refusal surfaced as (with TLS 1.3 the client learns of it on reading).
async fn send(
    server: &TestServer,
    connector: &tokio_rustls::TlsConnector,
    lines: &[String],
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(tls_addr(server)).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    for l in lines {
        tls.write_all(&octet_counted(l)).await?;
    }
    tls.flush().await?;
    Ok(tls)
}

/// Whether the server ends the connection within 5 s (closed or refused).
async fn ended_by_server(tls: &mut tokio_rustls::client::TlsStream<TcpStream>) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

/// Ingested events whose message contains `needle`, waiting up to 10 s for
/// `n` (0: what is there now).
async fn found(server: &TestServer, admin: &Session, needle: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let url = reqwest::Url::parse_with_params(
            "https://x/api/v1/logs/search",
            &[("q", format!("\"{needle}\"")), ("limit", "1000".into())],
        )
        .unwrap();
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let page: Value = server.get_json(&path, &admin.token).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metric(server: &TestServer, prefix: &str) -> f64 {
    let text = server.request(Method::GET, "/metrics", None).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn now_rfc3339() -> String {
    rampart_core::time::rfc3339(rampart_core::time::now_ms())
}

#[tokio::test]
async fn a_client_certificate_names_the_source_and_revoked_or_foreign_ones_are_refused() {
    let server = TestServer::start_with(|c| c.ingest.tls_client_auth = ClientAuth::Required).await;
    let admin = server.admin_session().await;
    let (status, _) =
        post(&server, &admin, "/api/v1/sources", json!({"name": "fw-edge", "type": "network_device"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let issued = issue(&server, &admin, "fw-edge").await;
    let (cert, key) = (issued["certificate"].as_str().unwrap(), issued["key"].as_str().unwrap());
    let serial = issued["serial"].as_str().unwrap().to_owned();
    assert_eq!(issued["ca"].as_str().unwrap().as_bytes(), server.ca_pem.as_slice(), "the node's own CA");
    let tag = nonce();

    // The certificate's source, whatever host the header names.
    let good = connector(&server.ca_pem, Some((cert, key)));
    let mut open = send(&server, &good, &[line("spoofed-host", &now_rfc3339(), &format!("{tag} with cert"))])
        .await
        .expect("a valid certificate is accepted");
    let events = found(&server, &admin, &format!("{tag} with cert"), 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["attrs"]["source"]["name"], "fw-edge", "attributed to the certificate's source: {e}");
    assert_eq!(e["attrs"]["syslog"]["hostname"], "spoofed-host", "the header is kept as sent");
    assert_eq!(e["attrs"]["receiver"]["client_cert"], json!(serial));
    let listed: Value = server.get_json("/api/v1/sources/spoofed-host", &admin.token).await;
    assert_eq!(listed["status"], 404, "the header's host name registered nothing: {listed}");

    // No certificate, while required: refused, nothing stored.
    let anonymous = connector(&server.ca_pem, None);
    let refused = send(&server, &anonymous, &[line("h", &now_rfc3339(), &format!("{tag} anonymous"))]).await;
    if let Ok(mut tls) = refused {
        assert!(ended_by_server(&mut tls).await, "a connection without a certificate is refused");
    }

    // Another CA's certificate for the same name: refused.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_key = rcgen::KeyPair::generate().unwrap();
    let other_ca = params.self_signed(&other_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name.push(rcgen::DnType::CommonName, "fw-edge");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let forged = leaf.signed_by(&leaf_key, &other_ca, &other_key).unwrap();
    let foreign = connector(&server.ca_pem, Some((&forged.pem(), &leaf_key.serialize_pem())));
    if let Ok(mut tls) = send(&server, &foreign, &[line("h", &now_rfc3339(), &format!("{tag} foreign"))]).await {
        assert!(ended_by_server(&mut tls).await, "another CA's certificate is refused");
    }

    // Revoked: the open connection is closed, new handshakes refused.
    let path = format!("/api/v1/sources/fw-edge/certs/{serial}/revoke");
    let (status, revoked) = post(&server, &admin, &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(post(&server, &admin, &path, json!({})).await.0, StatusCode::CONFLICT, "revoked once");
    assert!(ended_by_server(&mut open).await, "a connection with a revoked certificate is closed");
    if let Ok(mut tls) = send(&server, &good, &[line("h", &now_rfc3339(), &format!("{tag} revoked"))]).await {
        assert!(ended_by_server(&mut tls).await, "a revoked certificate is refused");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for refused in ["anonymous", "foreign", "revoked"] {
        assert!(found(&server, &admin, &format!("{tag} {refused}"), 0).await.is_empty(), "{refused} stored nothing");
    }
    assert!(metric(&server, "rampart_ingest_tls_handshake_failures_total").await >= 3.0);
    // Per source: what it sent, and its queue (settled: empty).
    assert!(metric(&server, "rampart_ingest_events_total{source=\"fw-edge\"").await >= 1.0);
    let text = server.request(Method::GET, "/metrics", None).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("rampart_ingest_source_queue{source=\"fw-edge\"} 0"), "{text}");

    // The listing shows it; issuing and revoking were audited.
    let certs: Value = server.get_json("/api/v1/sources/fw-edge/certs", &admin.token).await;
    assert_eq!(certs["items"].as_array().unwrap().len(), 1, "{certs}");
    assert!(certs["items"][0].get("key").is_none(), "the key is never stored or listed");
    for kind in ["source.cert.issued", "source.cert.revoked"] {
        let audit: Value = server.get_json(&format!("/api/v1/audit/events?kind={kind}"), &admin.token).await;
        let items = audit["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{kind}: {audit}");
        assert_eq!(items[0]["attrs"]["serial"], json!(serial));
    }
    // Bad input changes nothing.
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default().serialize_request(&key).unwrap().pem().unwrap();
    let (status, _) = post(&server, &admin, "/api/v1/sources/fw-edge/certs", json!({"days": 0, "csr": csr})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post(&server, &admin, "/api/v1/sources/nope/certs", json!({"csr": csr})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&server, &admin, "/api/v1/sources/fw-edge/certs/00ff/revoke", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let certs: Value = server.get_json("/api/v1/sources/fw-edge/certs", &admin.token).await;
    assert_eq!(certs["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}

/// Sends `msg` over mutual TLS with `client` until the node accepts it
/// (a node learns of another node's certificates within a second).
async fn send_until_accepted(server: &TestServer, client: &tokio_rustls::TlsConnector, msg: &str) {
    let started = Instant::now();
    loop {
        if let Ok(mut tls) = send(server, client, &[line("h", &now_rfc3339(), msg)]).await
            && !ended_by_server(&mut tls).await
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the certificate was never accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_of_a_deployment_share_one_ca_and_each_accepts_what_another_issued() {
    let required = |c: &mut rampart_core::config::Config| c.ingest.tls_client_auth = ClientAuth::Required;
    let Some(first) = TestServer::start_postgres_with(required).await else { return };
    let second = first.join(required).await;
    assert_eq!(first.ca_pem, second.ca_pem, "the second node adopted the deployment's CA");
    // A client that trusts the one ca.pem reaches either node: the second
    // node's server certificate was re-issued under it.
    let health = first.client.get(format!("{}/healthz", second.url)).send().await.unwrap();
    assert!(health.status().is_success(), "{health:?}");

    // Issued through the first node, accepted by the second's listener.
    let admin = first.admin_session().await;
    let (status, _) = post(&first, &admin, "/api/v1/sources", json!({"name": "edge-7", "type": "server"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let issued = issue(&first, &admin, "edge-7").await;
    let client =
        connector(&first.ca_pem, Some((issued["certificate"].as_str().unwrap(), issued["key"].as_str().unwrap())));
    let tag = nonce();
    send_until_accepted(&second, &client, &format!("{tag} via second")).await;
    // The first node's session token works on the second: sessions are rows.
    let events = found(&second, &admin, &format!("{tag} via second"), 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["attrs"]["source"]["name"], "edge-7");

    // Revoked through the second node: the first refuses it too.
    let serial = issued["serial"].as_str().unwrap();
    let path = format!("/api/v1/sources/edge-7/certs/{serial}/revoke");
    assert_eq!(post(&second, &admin, &path, json!({})).await.0, StatusCode::OK);
    let started = Instant::now();
    loop {
        let refused = match send(&first, &client, &[line("h", &now_rfc3339(), &format!("{tag} after revoke"))]).await {
            Ok(mut tls) => ended_by_server(&mut tls).await,
            Err(_) => true,
        };
        if refused {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the first node still accepts a revoked certificate");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A node without the deployment's root secret cannot unseal the CA and
    // does not start.
    let dir = tempfile::tempdir().unwrap();
    let mut config = rampart_testkit::test_config(dir.path());
    config.database.url = first.database_url().map(str::to_owned);
    let err = rampart_server::start(config).await.expect_err("a stranger's node does not start");
    assert!(format!("{err:#}").contains("root secret"), "the error says why: {err:#}");

    second.stop().await;
    first.stop().await;
}

/// A PEM block's body flipped in its last byte (a signature's).
fn tampered(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = data_encoding::BASE64.decode(body.as_bytes()).unwrap();
    *der.last_mut().unwrap() ^= 1;
    let b64 = data_encoding::BASE64.encode(&der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n", lines.join("\n"))
}

/// `openssl req` making a key of `newkey` and its request in `dir`; the
/// request's PEM, or `None` where openssl is missing.
fn openssl_csr(dir: &std::path::Path, name: &str, newkey: &[&str]) -> Option<String> {
    let (key, req) = (dir.join(format!("{name}-key.pem")), dir.join(format!("{name}.csr")));
    let out = Command::new("openssl")
        .args(["req", "-new", "-nodes", "-subj", &format!("/CN={name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&req)
        .args(newkey)
        .output()
        .ok()?;
    assert!(out.status.success(), "openssl req {newkey:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(std::fs::read_to_string(req).unwrap())
}

/// The public key (PEM) in a certificate or request, as openssl prints it.
fn openssl_pubkey(kind: &str, pem: &str, dir: &std::path::Path) -> String {
    let file = dir.join(format!("pub-{}", nonce()));
    std::fs::write(&file, pem).unwrap();
    let out = Command::new("openssl").args([kind, "-noout", "-pubkey", "-in"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn certificates_are_issued_only_for_the_key_of_a_request_whose_signature_verifies() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let (status, _) = post(&server, &admin, "/api/v1/sources", json!({"name": "edge-42", "type": "server"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let path = "/api/v1/sources/edge-42/certs";

    // rcgen's request: the certificate holds that very key, and the audit
    // event names the key by its hash.
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default().serialize_request(&key).unwrap().pem().unwrap();
    let (status, issued) = post(&server, &admin, path, json!({"csr": csr})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let der = rustls_pemfile::certs(&mut issued["certificate"].as_str().unwrap().as_bytes()).next().unwrap().unwrap();
    assert_eq!(rampart_server::tls::spki_of(&der).unwrap(), key.public_key_der(), "the request's key is certified");
    let key_hash = rampart_core::secret::hex(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key.public_key_der()).as_ref(),
    );
    assert_eq!(issued["public_key_sha256"], json!(key_hash));
    let audit: Value = server.get_json("/api/v1/audit/events?kind=source.cert.issued", &admin.token).await;
    assert_eq!(audit["items"][0]["attrs"]["public_key_sha256"], json!(key_hash), "{audit}");

    // Malformed, hostile and unsupported requests: a clear 422, nothing issued.
    let huge = format!("{csr}{}", "A".repeat(17 * 1024));
    let mut refused: Vec<(&str, Value, &str)> = vec![
        ("no request", json!({"days": 30}), "csr"),
        ("not PEM", json!({"csr": "hello"}), "does not parse"),
        ("a certificate, not a request", json!({"csr": issued["certificate"]}), "does not parse"),
        ("tampered signature", json!({"csr": tampered(&csr)}), "does not verify"),
        ("oversized", json!({"csr": huge}), "over 16384 bytes"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let weak = openssl_csr(dir.path(), "weak", &["-newkey", "rsa:1024"]);
    if let Some(weak) = &weak {
        refused.push(("RSA 1024", json!({"csr": weak}), "2048 to 8192 bits"));
    }
    for (what, body, says) in refused {
        let (status, problem) = post(&server, &admin, path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {problem}");
        assert!(problem.to_string().contains(says), "{what}: the problem says why ({says}): {problem}");
    }
    let certs: Value = server.get_json(path, &admin.token).await;
    assert_eq!(certs["items"].as_array().unwrap().len(), 1, "only the good request was issued: {certs}");

    // Requests made by openssl on the sender, for each supported kind of key.
    if weak.is_some() || !skip_without("openssl", "apt-get install openssl") {
        for (name, newkey) in [
            ("rsa2048", vec!["-newkey", "rsa:2048"]),
            ("p384", vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            ("p256sha384", vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha384"]),
            ("ed25519", vec!["-newkey", "ed25519"]),
        ] {
            let csr = openssl_csr(dir.path(), name, &newkey).unwrap();
            let (status, issued) = post(&server, &admin, path, json!({"csr": csr})).await;
            assert_eq!(status, StatusCode::CREATED, "{name}: {issued}");
            assert_eq!(
                openssl_pubkey("x509", issued["certificate"].as_str().unwrap(), dir.path()),
                openssl_pubkey("req", &csr, dir.path()),
                "{name}: the certificate holds the request's key"
            );
        }
    }
    server.stop().await;
}

/// Runs `openssl s_client` against the TLS listener with `args`, sending
/// `line` octet-counted; returns (exit success, stderr).
fn s_client_blocking(addr: std::net::SocketAddr, args: &[String], line: &str) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-quiet", "-verify_return_error"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&octet_counted(line)).unwrap();
    stdin.flush().unwrap();
    // Keep stdin open a moment so the server's answer (or alert) arrives.
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdin);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.success(), err)
}

/// [`s_client_blocking`] off the runtime's threads (the node runs on them).
async fn s_client(addr: std::net::SocketAddr, args: &[&str], line: &str) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let line = line.to_owned();
    tokio::task::spawn_blocking(move || s_client_blocking(addr, &args, &line)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_is_refused_without_a_valid_certificate_and_accepted_with_one() {
    if Command::new("openssl").arg("version").output().is_err() && skip_without("openssl", "apt-get install openssl") {
        return;
    }
    let server = TestServer::start_with(|c| c.ingest.tls_client_auth = ClientAuth::Optional).await;
    let admin = server.admin_session().await;
    let (status, _) = post(&server, &admin, "/api/v1/sources", json!({"name": "db-cert", "type": "database"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    // The sender makes its key and request with openssl; only the request
    // goes to Rampart.
    let csr = openssl_csr(dir.path(), "db-cert", &["-newkey", "rsa:2048"]).expect("openssl req");
    let (status, issued) = post(&server, &admin, "/api/v1/sources/db-cert/certs", json!({"csr": csr})).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let ca = file("ca.pem", issued["ca"].as_str().unwrap());
    let cert = file("db-cert.pem", issued["certificate"].as_str().unwrap());
    let key = dir.path().join("db-cert-key.pem").display().to_string();
    // The certificate names its source: its id in a URI SAN, its name as CN.
    let text = Command::new("openssl").args(["x509", "-noout", "-text", "-in", &cert]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let uri = format!("URI:rampart:source:{}", issued["source_id"].as_str().unwrap());
    assert!(text.contains(&uri) && text.contains("CN = db-cert"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "a client certificate: {text}");
    // A second certificate of the same source, revoked.
    let second = issue(&server, &admin, "db-cert").await;
    let revoked_cert = file("revoked.pem", second["certificate"].as_str().unwrap());
    let revoked_key = file("revoked-key.pem", second["key"].as_str().unwrap());
    let path = format!("/api/v1/sources/db-cert/certs/{}/revoke", second["serial"].as_str().unwrap());
    assert_eq!(post(&server, &admin, &path, json!({})).await.0, StatusCode::OK);
    // A self-signed certificate (the server's own CA never saw it).
    let self_signed = rcgen::generate_simple_self_signed(vec!["db-cert".to_owned()]).unwrap();
    let ss_cert = file("self.pem", &self_signed.cert.pem());
    let ss_key = file("self-key.pem", &self_signed.key_pair.serialize_pem());

    let addr = tls_addr(&server);
    let tag = nonce();
    let ca_args = ["-CAfile", ca.as_str(), "-verify_hostname", "localhost"];
    for (what, extra, tls12) in [
        ("revoked", vec!["-cert", revoked_cert.as_str(), "-key", revoked_key.as_str()], false),
        ("revoked12", vec!["-cert", revoked_cert.as_str(), "-key", revoked_key.as_str()], true),
        ("selfsigned", vec!["-cert", ss_cert.as_str(), "-key", ss_key.as_str()], false),
    ] {
        let mut args: Vec<&str> = ca_args.to_vec();
        args.extend(extra);
        if tls12 {
            args.push("-tls1_2");
        }
        let (_, err) = s_client(addr, &args, &line("h", &now_rfc3339(), &format!("{tag} {what}"))).await;
        assert!(err.contains("alert"), "{what}: the server refuses with a TLS alert: {err}");
        if tls12 {
            assert!(err.contains("handshake failure") || err.contains("certificate"), "{what}: {err}");
        }
    }
    // The valid one, and (optional mode) none at all, are accepted.
    let mut args: Vec<&str> = ca_args.to_vec();
    args.extend(["-cert", cert.as_str(), "-key", key.as_str()]);
    let (_, err) = s_client(addr, &args, &line("spoof", &now_rfc3339(), &format!("{tag} valid"))).await;
    assert!(!err.contains("alert"), "{err}");
    let (_, err) = s_client(addr, &ca_args, &line("plain-host", &now_rfc3339(), &format!("{tag} anonymous"))).await;
    assert!(!err.contains("alert"), "{err}");
    let valid = found(&server, &admin, &format!("{tag} valid"), 1).await;
    assert_eq!(valid.len(), 1);
    assert_eq!(valid[0]["attrs"]["source"]["name"], "db-cert");
    let anonymous = found(&server, &admin, &format!("{tag} anonymous"), 1).await;
    assert_eq!(anonymous.len(), 1);
    assert_eq!(anonymous[0]["attrs"]["source"]["name"], "plain-host", "without a certificate: the header's host");
    for refused in ["revoked", "revoked12", "selfsigned"] {
        assert!(found(&server, &admin, &format!("{tag} {refused}"), 0).await.is_empty(), "{refused} stored nothing");
    }
    // A deleted source's certificate stops working with it.
    let resp = server.request(Method::DELETE, "/api/v1/sources/db-cert", Some(&admin.token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, err) = s_client(addr, &args, &line("h", &now_rfc3339(), &format!("{tag} deleted"))).await;
    assert!(err.contains("alert"), "a deleted source's certificate is refused: {err}");
    server.stop().await;
}

/// The inclusion proof of ledger entry `index`, checked against the node's
/// signed checkpoint; panics if it does not verify.
async fn prove(server: &TestServer, index: u64) {
    let key = server.request(Method::GET, "/ledger/key", None).send().await.unwrap().text().await.unwrap();
    let verifier = rampart_ledger::Verifier::parse(key.trim()).unwrap();
    let started = Instant::now();
    let cp = loop {
        let note = server.request(Method::GET, "/ledger/checkpoint", None).send().await.unwrap().text().await.unwrap();
        let (cp, _) =
            rampart_ledger::Checkpoint::open(note.as_bytes(), verifier.name(), std::slice::from_ref(&verifier))
                .unwrap();
        if cp.size > index {
            break cp;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no checkpoint covers {index}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let p: Value = server
        .request(Method::GET, &format!("/api/v1/ledger/proof/inclusion?index={index}&size={}", cp.size), None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b64 = |s: &Value| data_encoding::BASE64.decode(s.as_str().unwrap().as_bytes()).unwrap();
    let proof: Vec<rampart_ledger::Hash> =
        p["proof"].as_array().unwrap().iter().map(|h| b64(h).as_slice().try_into().unwrap()).collect();
    rampart_ledger::verify_inclusion(index, cp.size, &rampart_ledger::leaf_hash(&b64(&p["entry"])), &proof, &cp.root)
        .unwrap_or_else(|e| panic!("entry {index}: {e}"));
}

#[tokio::test]
async fn retention_prunes_the_search_index_and_the_ledger_still_proves_what_was_pruned() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let (status, created) =
        post(&server, &admin, "/api/v1/sources", json!({"name": "ret-01", "type": "server", "retention_days": 30}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["retention_days"], 30);
    let (status, _) = post(&server, &admin, "/api/v1/sources", json!({"name": "keep-01", "type": "server"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let bad = server
        .request(Method::PATCH, "/api/v1/sources/keep-01", Some(&admin.token))
        .json(&json!({"retention_days": -3}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let tag = nonce();
    let old = "2026-01-02T03:04:05.000Z";
    let lines = [
        line("ret-01", old, &format!("{tag} old a")),
        line("ret-01", old, &format!("{tag} old b")),
        line("ret-01", &now_rfc3339(), &format!("{tag} new")),
        line("keep-01", old, &format!("{tag} kept old")),
    ];
    let tcp = server.running.as_ref().unwrap().syslog.tcp.unwrap();
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    for l in &lines {
        stream.write_all(format!("{l}\n").as_bytes()).await.unwrap();
    }
    drop(stream);
    let before = found(&server, &admin, &tag, 4).await;
    assert_eq!(before.len(), 4, "{before:?}");
    let index_of = |events: &[Value], msg: &str| -> u64 {
        let e = events.iter().find(|e| e["attrs"]["message"].as_str().unwrap().ends_with(msg)).unwrap();
        e["ledger_index"].as_u64().unwrap()
    };
    let pruned = [index_of(&before, "old a"), index_of(&before, "old b")];

    // The injected clock: prune as of now.
    let state = &server.running.as_ref().unwrap().state;
    let removed = state.ingest.registry.prune(rampart_core::time::now_ms()).await.unwrap();
    assert_eq!(removed, 2, "the two old lines of the source with a retention");
    let after = found(&server, &admin, &tag, 2).await;
    let mut left: Vec<&str> = after.iter().map(|e| e["attrs"]["message"].as_str().unwrap()).collect();
    left.sort_unstable();
    assert_eq!(left, [format!("{tag} kept old"), format!("{tag} new")]);
    assert_eq!(state.ingest.registry.prune(rampart_core::time::now_ms()).await.unwrap(), 0, "nothing twice");
    let audit: Value = server.get_json("/api/v1/audit/events?kind=logs.pruned", &admin.token).await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "recorded once, before it happened: {audit}");
    assert_eq!(items[0]["attrs"]["source"], "ret-01");

    // The ledger keeps them: their proofs still verify.
    for index in pruned {
        prove(&server, index).await;
    }
    // Re-indexing from the ledger (as at the next start) does not bring them back.
    assert_eq!(rampart_server::audit::reindex(&state.ledger, &state.store).await.unwrap(), 0);
    assert_eq!(found(&server, &admin, &tag, 2).await.len(), 2);
    server.stop().await;
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn an_export_of_a_time_range_carries_its_proofs_and_verifies_offline() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tag = nonce();
    let tcp = server.running.as_ref().unwrap().syslog.tcp.unwrap();
    let mut stream = TcpStream::connect(tcp).await.unwrap();
    for i in 0..30 {
        let host = if i % 3 == 0 { "exp-b" } else { "exp-a" };
        stream
            .write_all(format!("{}\n", line(host, &now_rfc3339(), &format!("{tag} {i:02}"))).as_bytes())
            .await
            .unwrap();
    }
    drop(stream);
    assert_eq!(found(&server, &admin, &tag, 30).await.len(), 30);

    let export = |query: String| {
        let server = &server;
        let token = admin.token.clone();
        async move { server.request(Method::GET, &format!("/api/v1/logs/export?{query}"), Some(&token)).send().await }
    };
    let resp = export("since=1h&until=2099-01-01T00:00:00Z&source=exp-a".into()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    let bytes = resp.bytes().await.unwrap();
    let key = server.request(Method::GET, "/ledger/key", None).send().await.unwrap().text().await.unwrap();
    let verifier = rampart_ledger::Verifier::parse(key.trim()).unwrap();
    let text = gunzip(&bytes);
    let summary = rampart_ledger::export::verify(text.as_slice(), std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(summary.events, 20, "exp-a's events only");
    assert_eq!(summary.header.source.as_deref(), Some("exp-a"));
    for l in String::from_utf8(text.clone()).unwrap().lines().skip(1) {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["end"] == true {
            break;
        }
        let entry = data_encoding::BASE64.decode(v["entry"].as_str().unwrap().as_bytes()).unwrap();
        let event = rampart_ledger::entry::decode_event(&entry).unwrap();
        assert!(event.attrs["message"].as_str().unwrap().starts_with(&tag), "the raw message is in the entry");
    }
    // Tampered with: refused.
    let forged = String::from_utf8(text).unwrap().replacen("\"index\":", "\"index\":1", 1);
    assert!(rampart_ledger::export::verify(forged.as_bytes(), std::slice::from_ref(&verifier)).is_err());
    // Bad windows are 400s; exporting is audited.
    for q in ["since=1h&until=2h", "since=yesterday&until=now", "until=1h"] {
        let status = export(q.into()).await.unwrap().status();
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{q}: {status}");
    }
    let audit: Value = server.get_json("/api/v1/audit/events?kind=logs.exported", &admin.token).await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    server.stop().await;
}
