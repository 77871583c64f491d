//! Notifications delivered to real peers: an HTTP receiver that checks the
//! webhook signature with its own HMAC code, a TCP syslog listener parsing
//! RFC 5424, and aiosmtpd (a real SMTP server from PyPI) with STARTTLS.
//! Retries, the dead-letter list, re-driving and a restart in the middle
//! are exercised through the outbox worker on a real store.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use rampart_core::alert::{Alert, AlertEvent, AlertSink, Severity};
use rampart_core::audit::Audit;
use rampart_core::config::SecopsConfig;
use rampart_core::config::secops::{
    OutboxConfig, SmtpConfig, SmtpSecurity, SyslogForwardConfig, SyslogTransport, WebhookConfig,
};
use rampart_secops::notify::{Delivery, OutboxWorker};
use rampart_secops::{Notifier, SystemClock, TicketService};
use rampart_store::Store;

/// A webhook receiver that verifies signatures with its own secret.
#[derive(Clone)]
struct Receiver {
    secret: Vec<u8>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    /// Always answer 500.
    broken: bool,
    hits: Arc<AtomicUsize>,
    /// Accepted deliveries: (delivery id, event header, body).
    accepted: Arc<Mutex<Vec<(String, String, serde_json::Value)>>>,
    rejected_signatures: Arc<AtomicUsize>,
    /// How far the signature's time may be from ours, in seconds.
    tolerance_secs: i64,
    /// Answer this late.
    delay: Duration,
}

impl Receiver {
    fn new(secret: &[u8]) -> Self {
        Receiver {
            secret: secret.to_vec(),
            fail_first: Arc::default(),
            broken: false,
            hits: Arc::default(),
            accepted: Arc::default(),
            rejected_signatures: Arc::default(),
            tolerance_secs: 300,
            delay: Duration::ZERO,
        }
    }

    /// Serves on a loopback port; returns the URL.
    async fn serve(&self) -> String {
        let app = axum::Router::new().route("/hook", post(hook)).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn accepted(&self) -> Vec<(String, String, serde_json::Value)> {
        self.accepted.lock().unwrap().clone()
    }
}

/// The receiving side of `X-Rampart-Signature: t=<unix>,v1=<hex>`, written
/// here from the documentation, not with Rampart's code.
fn signature_ok(secret: &[u8], header: &str, body: &[u8], tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = data_encoding::HEXLOWER.decode(v.as_bytes()).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(tag)) = (t, v1) else { return false };
    let now = rampart_core::time::now_ms() / 1000;
    if (now - t).abs() > tolerance_secs {
        return false; // stale: a replay
    }
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    aws_lc_rs::hmac::verify(&key, &signed, &tag).is_ok()
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(r.delay).await;
    if r.broken {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if r.fail_first.load(Ordering::SeqCst) > 0 {
        r.fail_first.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if !signature_ok(&r.secret, &header("x-rampart-signature"), &body, r.tolerance_secs) {
        r.rejected_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let json = serde_json::from_slice(&body).expect("the body is JSON");
    r.accepted.lock().unwrap().push((header("x-rampart-delivery"), header("x-rampart-event"), json));
    StatusCode::OK
}

fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("write secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn webhook(dir: &Path, name: &str, url: &str, secret: &str) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: url.into(),
        secret_file: secret_file(dir, &format!("{name}.secret"), secret),
        timeout_ms: 2000,
        min_severity: Severity::Low,
    }
}

fn fast_outbox() -> OutboxConfig {
    OutboxConfig {
        max_attempts: 3,
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        poll_ms: 20,
        lease_ms: 5000,
        ..OutboxConfig::default()
    }
}

fn alert(group: &str, i: u64) -> Alert {
    let now = rampart_core::time::now_ms();
    Alert {
        rule_id: "ssh-brute-force".into(),
        rule_title: "SSH brute force".into(),
        pack: "rampart-redline".into(),
        severity: Severity::High,
        group_key: group.into(),
        tenant_id: None,
        events: vec![AlertEvent { ledger_index: i, time_ms: now, kind: "syslog.sshd".into() }],
        event_count: 1,
        first_seen_ms: now,
        last_seen_ms: now,
        tags: vec![],
        description: String::new(),
    }
}

struct Node {
    store: Store,
    desk: TicketService,
    worker: OutboxWorker,
}

async fn node(db: &Path, config: SecopsConfig) -> Node {
    node_at(db, config, Arc::new(SystemClock)).await
}

async fn node_at(db: &Path, config: SecopsConfig, clock: Arc<dyn rampart_secops::Clock>) -> Node {
    let store = Store::open_sqlite(db, 4).await.expect("open");
    let audit = Audit::new(Arc::new(rampart_store::TableAuditSink(store.clone())), Duration::from_secs(5));
    let notifier = Notifier::from_config(&config).expect("channels");
    let worker =
        OutboxWorker::new(store.clone(), audit.clone(), notifier.clone(), config.outbox.clone(), clock.clone());
    let desk = TicketService::new(store.clone(), audit, config, notifier, clock);
    Node { store, desk, worker }
}

/// Runs outbox passes until `done` holds or 10 s pass.
async fn drive(worker: &OutboxWorker, mut done: impl FnMut(&[(rampart_core::Id, Delivery)]) -> bool) -> Vec<Delivery> {
    let mut all = Vec::new();
    for _ in 0..500 {
        let pass = worker.run_once().await.expect("pass");
        let stop = done(&pass);
        all.extend(pass.into_iter().map(|(_, d)| d));
        if stop {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the outbox did not settle: {all:?}");
}

#[tokio::test]
async fn a_signed_webhook_verifies_and_a_wrong_secret_is_refused_then_dead_lettered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = Receiver::new(b"correct horse battery staple");
    let url = good.serve().await;
    let config = SecopsConfig {
        webhooks: vec![
            webhook(dir.path(), "soc", &url, "correct horse battery staple"),
            // The same receiver, configured with a secret it does not share.
            webhook(dir.path(), "wrong", &url, "a different secret entirely"),
        ],
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("r.db"), config).await;
    let raised = n.desk.raise(&alert("user=alice", 1)).await.expect("raise");
    let mut dead = 0;
    let outcomes = drive(&n.worker, |pass| {
        dead += pass.iter().filter(|(_, d)| matches!(d, Delivery::Dead { .. })).count();
        dead == 1 && !good.accepted().is_empty()
    })
    .await;
    let accepted = good.accepted();
    assert_eq!(accepted.len(), 1, "exactly the correctly signed delivery is accepted");
    let (delivery, event, body) = &accepted[0];
    assert!(delivery.starts_with("ntf_"));
    assert_eq!(event, "ticket.opened");
    assert_eq!(body["ticket"]["id"], raised.ticket_id.as_str());
    assert_eq!(body["alert"]["ledger_indexes"], serde_json::json!([1]));
    assert_eq!(good.rejected_signatures.load(Ordering::SeqCst), 3, "the wrong secret fails every attempt");
    assert!(outcomes.iter().any(|d| matches!(d, Delivery::Dead { error } if error.contains("401"))), "{outcomes:?}");
    let dead = n.store.list_notifications("dead", None, 10).await.expect("dead");
    assert_eq!(dead.items.len(), 1);
    assert_eq!(dead.items[0].target, "wrong");
    assert_eq!(dead.items[0].attempts, 3);
    let filter = rampart_store::EventFilter { kind: Some("notify.dead_lettered".into()), ..Default::default() };
    assert_eq!(n.store.list_events(&filter, 0, 10).await.expect("events").items.len(), 1);
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_one_delivery_and_a_dead_one_is_redriven() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flaky = Receiver::new(b"0123456789abcdef0123");
    flaky.fail_first.store(2, Ordering::SeqCst);
    let url = flaky.serve().await;
    let mut broken = Receiver::new(b"0123456789abcdef0123");
    broken.broken = true;
    let broken_url = broken.serve().await;
    let config = SecopsConfig {
        webhooks: vec![
            webhook(dir.path(), "flaky", &url, "0123456789abcdef0123"),
            webhook(dir.path(), "broken", &broken_url, "0123456789abcdef0123"),
        ],
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("r.db"), config).await;
    n.desk.raise(&alert("user=bob", 2)).await.expect("raise");
    let mut settled = 0;
    drive(&n.worker, |pass| {
        settled += pass.iter().filter(|(_, d)| !matches!(d, Delivery::Retry { .. })).count();
        settled == 2
    })
    .await;
    assert_eq!(flaky.hits.load(Ordering::SeqCst), 3, "two failures, then the delivery");
    assert_eq!(flaky.accepted().len(), 1, "exactly one delivery");
    let delivered = n.store.list_notifications("delivered", None, 10).await.expect("delivered");
    assert_eq!(delivered.items.len(), 1);
    assert_eq!((delivered.items[0].target.as_str(), delivered.items[0].attempts), ("flaky", 3));
    assert_eq!(broken.hits.load(Ordering::SeqCst), 3, "max_attempts, then the dead-letter list");
    let dead = n.store.list_notifications("dead", None, 10).await.expect("dead").items;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].last_error.as_deref().is_some_and(|e| e.contains("500")), "{:?}", dead[0].last_error);

    // Nothing more happens to a dead letter until it is re-driven.
    assert!(n.worker.run_once().await.expect("pass").is_empty());
    let redriven = n.worker.redrive("soc1", None, dead[0].id.as_str()).await.expect("redrive");
    assert_eq!((redriven.status.as_str(), redriven.attempts), ("pending", 0));
    assert!(n.worker.redrive("soc1", None, dead[0].id.as_str()).await.is_err(), "only dead letters are re-driven");
    let pass = n.worker.run_once().await.expect("pass");
    assert_eq!(pass.len(), 1);
    assert_eq!(broken.hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_outbox_entry_survives_a_restart_before_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("r.db");
    let receiver = Receiver::new(b"restart-secret-0123456");
    let url = receiver.serve().await;
    let config = SecopsConfig {
        webhooks: vec![webhook(dir.path(), "soc", &url, "restart-secret-0123456")],
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    // The change is acknowledged, its notification queued; the node stops
    // before its worker ever runs.
    let first = node(&db, config.clone()).await;
    let raised = first.desk.raise(&alert("user=carol", 3)).await.expect("raise");
    // Mid-delivery: leased by a worker that then dies.
    let leased = first
        .store
        .claim_notifications(rampart_core::time::now_ms(), rampart_core::time::now_ms() + 300, 10)
        .await
        .expect("claim");
    assert_eq!(leased.len(), 1);
    first.store.close().await;
    drop(first);
    assert!(receiver.accepted().is_empty());

    let second = node(&db, config).await;
    drive(&second.worker, |pass| pass.iter().any(|(_, d)| *d == Delivery::Delivered)).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "delivered once the lease of the dead worker ran out");
    assert_eq!(accepted[0].2["ticket"]["id"], raised.ticket_id.as_str());
}

/// Reads RFC 6587 octet-counted frames from one TCP connection.
async fn read_frames(stream: &mut tokio::net::TcpStream) -> Vec<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    let mut out = Vec::new();
    let mut rest = &buf[..];
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').expect("length");
        let len: usize = std::str::from_utf8(&rest[..space]).unwrap().parse().expect("number");
        let msg = &rest[space + 1..space + 1 + len];
        out.push(String::from_utf8(msg.to_vec()).expect("utf-8"));
        rest = &rest[space + 1 + len..];
    }
    out
}

#[tokio::test]
async fn alerts_are_forwarded_as_rfc_5424_over_tcp_and_udp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tcp_addr = tcp.local_addr().expect("addr");
    let frames = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = tcp.accept().await.expect("accept");
            got.extend(read_frames(&mut s).await);
        }
        got
    });
    let forward = |address, transport| SyslogForwardConfig {
        address,
        transport,
        server_name: None,
        ca_file: None,
        app_name: "rampart".into(),
        timeout_ms: 2000,
        min_severity: Severity::Low,
    };
    let config = SecopsConfig {
        syslog: Some(forward(tcp_addr, SyslogTransport::Tcp)),
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("r.db"), config).await;
    let opened = n.desk.raise(&alert("src=203.0.113.9", 10)).await.expect("raise");
    n.desk.raise(&alert("src=203.0.113.9", 11)).await.expect("join");
    let mut delivered = 0;
    drive(&n.worker, |pass| {
        delivered += pass.iter().filter(|(_, d)| *d == Delivery::Delivered).count();
        delivered == 2
    })
    .await;
    let mut frames = tokio::time::timeout(Duration::from_secs(5), frames).await.expect("frames").expect("task");
    frames.sort_by_key(|f| f.contains("ticket.joined"));
    assert_eq!(frames.len(), 2, "every alert is forwarded, joins included");
    for (frame, msgid) in frames.iter().zip(["ticket.opened", "ticket.joined"]) {
        // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
        let parts: Vec<&str> = frame.splitn(8, ' ').collect();
        assert_eq!(parts[0], "<83>1", "authpriv.err for a high alert: {frame}");
        assert!(time::OffsetDateTime::parse(parts[1], &time::format_description::well_known::Rfc3339).is_ok());
        assert!(!parts[2].is_empty() && parts[3] == "rampart" && parts[4] == "-" && parts[5] == msgid, "{frame}");
        assert!(parts[6].starts_with("[rampart@32473") && frame.contains(&format!("ticket=\"{}\"", opened.ticket_id)));
        let json_start = frame.find("] {").expect("message") + 2;
        let doc: serde_json::Value = serde_json::from_str(&frame[json_start..]).expect("JSON message");
        assert_eq!(doc["alert"]["rule_id"], "ssh-brute-force");
    }

    // UDP: one datagram per message.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let config = SecopsConfig {
        syslog: Some(forward(udp.local_addr().expect("addr"), SyslogTransport::Udp)),
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("u.db"), config).await;
    n.desk.raise(&alert("src=198.51.100.1", 12)).await.expect("raise");
    drive(&n.worker, |pass| pass.iter().any(|(_, d)| *d == Delivery::Delivered)).await;
    let mut buf = vec![0u8; 65536];
    let (len, _) =
        tokio::time::timeout(Duration::from_secs(5), udp.recv_from(&mut buf)).await.expect("datagram").expect("recv");
    let msg = std::str::from_utf8(&buf[..len]).expect("utf-8");
    assert!(msg.starts_with("<83>1 ") && msg.contains(" ticket.opened [rampart@32473"), "{msg}");
}

#[tokio::test]
async fn a_syslog_forward_that_cannot_connect_is_retried_not_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let config = SecopsConfig {
        syslog: Some(SyslogForwardConfig {
            address: closed,
            transport: SyslogTransport::Tcp,
            server_name: None,
            ca_file: None,
            app_name: "rampart".into(),
            timeout_ms: 500,
            min_severity: Severity::Low,
        }),
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("r.db"), config).await;
    n.desk.raise(&alert("x=y", 1)).await.expect("raise");
    let first = n.worker.run_once().await.expect("pass");
    assert!(matches!(first[0].1, Delivery::Retry { .. }), "{first:?}");
    let pending = n.store.list_notifications("pending", None, 10).await.expect("pending").items;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
}

/// aiosmtpd with STARTTLS required, delivering into a maildir.
struct Smtpd {
    child: std::process::Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_aiosmtpd(dir: &Path, cert: &Path, key: &Path) -> Option<Smtpd> {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        eprintln!(
            "\n*** SKIPPED: the SMTP test needs aiosmtpd (python3 -m pip install aiosmtpd; `cargo xtask test` installs it).\n"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let maildir = dir.join("maildir");
    let mut child = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(cert)
        .arg("--tlskey")
        .arg(key)
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn aiosmtpd");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Smtpd { child, port, maildir });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("aiosmtpd did not start listening on {port}");
}

fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for e in entries.flatten() {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

#[tokio::test]
async fn mail_goes_to_a_real_smtp_server_over_starttls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).expect("cert");
    let cert = dir.path().join("smtp.pem");
    let key = dir.path().join("smtp.key");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("key");
    let Some(smtpd) = start_aiosmtpd(dir.path(), &cert, &key) else { return };
    let smtp = |security| SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtpd.port,
        security,
        ca_file: Some(cert.clone()),
        username: None,
        password_file: None,
        from: "rampart@example.test".into(),
        to: vec!["soc@example.test".into()],
        timeout_ms: 5000,
        min_severity: Severity::Low,
    };
    let config =
        SecopsConfig { smtp: Some(smtp(SmtpSecurity::Starttls)), outbox: fast_outbox(), ..SecopsConfig::default() };
    let n = node(&dir.path().join("r.db"), config).await;
    let raised = n.desk.raise(&alert("user=dave", 5)).await.expect("raise");
    let outcomes =
        drive(&n.worker, |pass| !pass.is_empty() && pass.iter().all(|(_, d)| !matches!(d, Delivery::Retry { .. })))
            .await;
    assert!(outcomes.contains(&Delivery::Delivered), "{outcomes:?}");
    let mut got = Vec::new();
    for _ in 0..50 {
        got = mails(&smtpd.maildir);
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "the SMTP server received the mail");
    assert!(got[0].contains("Subject: [Rampart] HIGH new ticket: SSH brute force"), "{}", got[0]);
    assert!(got[0].contains(raised.ticket_id.as_str()));
    assert!(got[0].contains("To: soc@example.test"));

    // A certificate the client does not trust: nothing is sent in clear.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).expect("write");
    let mut untrusted = smtp(SmtpSecurity::Starttls);
    untrusted.ca_file = Some(other_ca);
    let config = SecopsConfig { smtp: Some(untrusted), outbox: fast_outbox(), ..SecopsConfig::default() };
    let n = node(&dir.path().join("u.db"), config).await;
    n.desk.raise(&alert("user=erin", 6)).await.expect("raise");
    let first = n.worker.run_once().await.expect("pass");
    assert!(matches!(&first[0].1, Delivery::Retry { error, .. } if error.contains("email")), "{first:?}");
    assert_eq!(mails(&smtpd.maildir).len(), 1, "no mail over an unverified connection");
}

#[test]
fn credentials_are_never_configured_without_tls() {
    let c = SmtpConfig {
        host: "mx.example.test".into(),
        port: 25,
        security: SmtpSecurity::None,
        ca_file: None,
        username: Some("u".into()),
        password_file: Some("/nonexistent".into()),
        from: "a@example.test".into(),
        to: vec!["b@example.test".into()],
        timeout_ms: 1000,
        min_severity: Severity::Low,
    };
    let creds = Some(("u".to_owned(), secrecy::SecretString::from("hunter2hunter2")));
    let err =
        rampart_secops::notify::email::Email::new(&c, None, creds).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("without TLS") && !err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn joins_are_announced_at_most_once_per_interval_and_a_missed_deadline_is_announced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut receiver = Receiver::new(b"interval-secret-0123456");
    // The test moves the node's clock by hours; freshness is not the point here.
    receiver.tolerance_secs = i64::MAX / 2;
    let url = receiver.serve().await;
    let config = SecopsConfig {
        webhooks: vec![webhook(dir.path(), "soc", &url, "interval-secret-0123456")],
        join_notify_interval_secs: 300,
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let clock = rampart_secops::ManualClock::at(rampart_core::time::now_ms());
    let n = node_at(&dir.path().join("r.db"), config, Arc::new(clock.clone())).await;
    let settle = |n: &Node| {
        let worker = n.worker.clone();
        async move { drive(&worker, |pass| pass.is_empty()).await }
    };
    for i in 0..3 {
        n.desk.raise(&alert("user=frank", i)).await.expect("raise");
    }
    settle(&n).await;
    let events = |r: &Receiver| r.accepted().into_iter().map(|(_, e, _)| e).collect::<Vec<_>>();
    assert_eq!(events(&receiver), ["ticket.opened"], "joins within the interval are not announced");
    clock.advance_ms(301_000);
    n.desk.raise(&alert("user=frank", 3)).await.expect("raise");
    settle(&n).await;
    assert_eq!(events(&receiver), ["ticket.opened", "ticket.joined"]);
    assert_eq!(receiver.accepted()[1].2["ticket"]["event_count"], 4, "the announcement counts every event");

    // High: acknowledge within an hour.
    clock.advance_ms(3_600_000);
    assert_eq!(n.desk.check_sla().await.expect("sla"), 1);
    settle(&n).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 3);
    assert_eq!(accepted[2].1, "ticket.escalated");
    assert_eq!(accepted[2].2["ticket"]["severity"], "critical");
}

#[tokio::test]
async fn alerts_are_forwarded_over_tls_to_a_siem_whose_certificate_verifies() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let certified = rcgen::generate_simple_self_signed(vec!["siem.example.test".into()]).expect("cert");
    let ca = dir.path().join("siem.pem");
    std::fs::write(&ca, certified.cert.pem()).expect("ca");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into()),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    // A SIEM that takes one connection and returns what it read, or the
    // handshake's error.
    let siem = || async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let acceptor = acceptor.clone();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut tls = acceptor.accept(tcp).await?;
            let mut buf = Vec::new();
            tls.read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(String::from_utf8(buf).expect("utf-8"))
        });
        (addr, task)
    };
    let (addr, received) = siem().await;
    let forward = |address, server_name: &str| SyslogForwardConfig {
        address,
        transport: SyslogTransport::Tls,
        server_name: Some(server_name.into()),
        ca_file: Some(ca.clone()),
        app_name: "rampart".into(),
        timeout_ms: 2000,
        min_severity: Severity::Low,
    };
    let config = SecopsConfig {
        syslog: Some(forward(addr, "siem.example.test")),
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("r.db"), config).await;
    n.desk.raise(&alert("src=192.0.2.7", 20)).await.expect("raise");
    drive(&n.worker, |pass| pass.iter().any(|(_, d)| *d == Delivery::Delivered)).await;
    let got =
        tokio::time::timeout(Duration::from_secs(5), received).await.expect("received").expect("task").expect("read");
    let (len, msg) = got.split_once(' ').expect("octet count");
    assert_eq!(len.parse::<usize>().expect("length"), msg.len(), "one octet-counted frame: {got}");
    assert!(msg.starts_with("<83>1 ") && msg.contains(" ticket.opened [rampart@32473"), "{msg}");

    // The wrong name on the certificate: the client refuses the handshake,
    // nothing is sent, and the row waits for a retry.
    let (addr, refused) = siem().await;
    let config = SecopsConfig {
        syslog: Some(forward(addr, "other.example.test")),
        outbox: fast_outbox(),
        ..SecopsConfig::default()
    };
    let n = node(&dir.path().join("w.db"), config).await;
    n.desk.raise(&alert("src=192.0.2.8", 21)).await.expect("raise");
    let pass = n.worker.run_once().await.expect("pass");
    assert!(matches!(&pass[0].1, Delivery::Retry { error, .. } if error.contains("certificate")), "{pass:?}");
    let server_side = tokio::time::timeout(Duration::from_secs(5), refused).await.expect("done").expect("task");
    assert!(server_side.is_err() || server_side.is_ok_and(|s| s.is_empty()), "no message over a refused handshake");
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried_not_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut slow = Receiver::new(b"slow-receiver-secret-01");
    slow.delay = Duration::from_secs(5);
    let url = slow.serve().await;
    let mut hook = webhook(dir.path(), "slow", &url, "slow-receiver-secret-01");
    hook.timeout_ms = 200;
    let config = SecopsConfig { webhooks: vec![hook], outbox: fast_outbox(), ..SecopsConfig::default() };
    let n = node(&dir.path().join("r.db"), config).await;
    n.desk.raise(&alert("user=gina", 1)).await.expect("raise");
    let started = std::time::Instant::now();
    let pass = n.worker.run_once().await.expect("pass");
    assert!(started.elapsed() < Duration::from_secs(3), "the attempt gave up at its timeout");
    assert!(matches!(&pass[0].1, Delivery::Retry { .. }), "{pass:?}");
    assert!(slow.accepted().is_empty());
}
