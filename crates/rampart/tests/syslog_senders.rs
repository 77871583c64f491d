//! Real senders against a real node: util-linux `logger` over TCP (newline
//! and octet-counted framing) and UDP, and Debian's rsyslog forwarding over
//! TLS (RFC 5425) with octet-counted framing, send to a `rampart serve`
//! child process, and every line is found through the API with its ledger
//! index; the sender shows up in `rampart source list`, and `rampart source
//! add|show|rm` manage the registry.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::{skip_without, totp_code};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

type Node = rampart_testkit::ServedNode;

async fn start(data: &Path) -> Node {
    Node::start(BIN, data).await
}

fn port(node: &Node, transport: &str) -> String {
    let addr = node.syslog[transport].as_str().unwrap_or_else(|| panic!("no {transport} listener: {}", node.syslog));
    addr.rsplit(':').next().unwrap().to_owned()
}

fn logger(args: &[&str]) -> Output {
    let out = Command::new("logger").args(args).output().expect("run logger");
    assert!(out.status.success(), "logger {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn rampart(cwd: &Path, cfg: &Path, data: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .current_dir(cwd)
        .env("RAMPART_CONFIG_DIR", cfg)
        .env_remove("RAMPART_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Ingested events whose message contains `needle`, waiting up to `wait` for `n`.
async fn find_within(node: &Node, token: &str, needle: &str, n: usize, wait: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{}/api/v1/audit/events?limit=500", node.url);
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let page: Value = node.client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            found.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["attrs"]["message"].as_str().is_some_and(|m| m.contains(needle)))
                    .cloned(),
            );
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_owned()),
                None => break,
            }
        }
        if found.len() >= n || started.elapsed() > wait {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn find(node: &Node, token: &str, needle: &str, n: usize) -> Vec<Value> {
    find_within(node, token, needle, n, Duration::from_secs(15)).await
}

/// Logs in as the bootstrap administrator through the CLI; returns the token.
fn admin_login(work: &Path, cfg: &Path, data: &Path) -> String {
    let boot: Value = serde_json::from_slice(&std::fs::read(data.join("bootstrap-admin.json")).unwrap()).unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(boot["totp_secret"].as_str().unwrap().as_bytes()).unwrap();
    let login = rampart(
        work,
        cfg,
        data,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{}\n{}\n", boot["password"].as_str().unwrap(), totp_code(&secret, 0)),
    );
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    let creds: Value = serde_json::from_slice(&std::fs::read(cfg.join("credentials.json")).unwrap()).unwrap();
    creds["servers"]
        .as_object()
        .and_then(|m| m.values().find_map(|v| v["token"].as_str()))
        .unwrap_or_else(|| panic!("a stored token: {creds}"))
        .to_owned()
}

// The CLI and logger run as blocking child processes; the test needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_lines_over_tcp_and_udp_are_searchable_with_their_ledger_index() {
    if Command::new("logger").arg("--version").output().is_err()
        && skip_without("util-linux logger", "apt-get install bsdutils")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let node = start(&data).await;
    let cfg = work.path().join("cfg");
    let token = admin_login(work.path(), &cfg, &data);

    let nonce = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let (tcp, udp) = (port(&node, "tcp"), port(&node, "udp"));
    logger(&["--tcp", "-n", "127.0.0.1", "-P", &tcp, "-t", "rampart-test", &format!("{nonce} tcp newline")]);
    logger(&[
        "--tcp",
        "--octet-count",
        "-n",
        "127.0.0.1",
        "-P",
        &tcp,
        "-t",
        "rampart-test",
        &format!("{nonce} tcp octets"),
    ]);
    logger(&["--rfc3164", "--tcp", "-n", "127.0.0.1", "-P", &tcp, "-t", "rampart-test", &format!("{nonce} tcp bsd")]);
    logger(&["-d", "-n", "127.0.0.1", "-P", &udp, "-t", "rampart-test", &format!("{nonce} udp")]);

    let events = find(&node, &token, &nonce, 4).await;
    let mut messages: Vec<&str> = events.iter().map(|e| e["attrs"]["message"].as_str().unwrap()).collect();
    messages.sort_unstable();
    let expected = ["tcp bsd", "tcp newline", "tcp octets", "udp"].map(|m| format!("{nonce} {m}"));
    assert_eq!(messages, expected, "every line, once: {events:#?}");
    let host = events[0]["attrs"]["source"]["name"].as_str().unwrap().to_owned();
    for e in &events {
        assert!(e["ledger_index"].as_i64().is_some(), "{e}");
        assert_eq!(e["attrs"]["syslog"]["app_name"], "rampart-test");
        assert_eq!(e["attrs"]["source"]["name"], json!(host), "one sender, one source");
    }
    // Each line's ledger entry proves: the inclusion proof route finds it.
    let id = events[0]["id"].as_str().unwrap();
    let proof =
        node.client.get(format!("{}/api/v1/ledger/proof/inclusion?event_id={id}", node.url)).send().await.unwrap();
    assert_eq!(proof.status(), 200, "{}", proof.text().await.unwrap());

    // The sender registered itself, unreviewed; the CLI shows and manages the registry.
    let list = rampart(work.path(), &cfg, &data, &["source", "list", "--json"], "");
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    let me = listed["items"].as_array().unwrap().iter().find(|s| s["name"] == json!(host)).expect("sender listed");
    assert_eq!(me["reviewed"], false);
    let added = rampart(
        work.path(),
        &cfg,
        &data,
        &[
            "source",
            "add",
            "core-sw-01",
            "--type",
            "network_device",
            "--owner",
            "netops",
            "--heartbeat",
            "60",
            "--json",
        ],
        "",
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let shown = rampart(work.path(), &cfg, &data, &["source", "show", "core-sw-01"], "");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("network_device") && text.contains("netops"), "{text}");
    let bad = rampart(work.path(), &cfg, &data, &["source", "add", "x", "--type", "toaster"], "");
    assert_eq!(bad.status.code(), Some(6), "invalid input exits 6: {}", String::from_utf8_lossy(&bad.stderr));
    let removed = rampart(work.path(), &cfg, &data, &["source", "rm", "core-sw-01"], "");
    assert!(removed.status.success());
    let gone = rampart(work.path(), &cfg, &data, &["source", "show", "core-sw-01"], "");
    assert_eq!(gone.status.code(), Some(4), "removed sources are not found");
}

/// rsyslog's TLS driver; Debian ships it in rsyslog-gnutls.
fn have_rsyslog_gtls() -> bool {
    let have_rsyslogd = Command::new("rsyslogd").arg("-v").output().is_ok_and(|o| o.status.success());
    have_rsyslogd && Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
}

// rsyslogd is killed and waited for at the end; a failed assertion before
// that ends the test process with it.
#[allow(clippy::zombie_processes)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_forwards_over_tls_with_octet_counting_and_every_line_is_stored() {
    if !have_rsyslog_gtls() && skip_without("rsyslogd with its TLS driver", "apt-get install rsyslog rsyslog-gnutls") {
        return;
    }
    const LINES: usize = 10_000;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let node = start(&data).await;
    let cfg = work.path().join("cfg");
    let token = admin_login(work.path(), &cfg, &data);

    // rsyslog takes plain TCP lines and forwards them to Rampart over TLS,
    // octet-counted, checking the node's certificate against its CA.
    let input = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let input_port = input.local_addr().unwrap().port();
    drop(input);
    let spool = work.path().join("rsyslog");
    std::fs::create_dir_all(&spool).unwrap();
    let conf = work.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{spool}" DefaultNetstreamDriverCAFile="{ca}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{input_port}" ruleset="fwd")
ruleset(name="fwd") {{
  action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost" template="RSYSLOG_SyslogProtocol23Format"
         queue.type="LinkedList" action.resumeRetryCount="-1")
}}
"#,
            spool = spool.display(),
            ca = data.join("tls/ca.pem").display(),
            tls = port(&node, "tls"),
        ),
    )
    .unwrap();
    let mut rsyslogd = Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(work.path().join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rsyslogd");
    let started = Instant::now();
    let mut sender = loop {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", input_port)).await {
            break s;
        }
        assert!(rsyslogd.try_wait().unwrap().is_none(), "rsyslogd exited: {:?}", rsyslogd.wait_with_output());
        assert!(started.elapsed() < Duration::from_secs(20), "rsyslogd did not open its input");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let nonce =
        format!("rs{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let mut lines = String::new();
    for i in 0..LINES {
        lines.push_str(&format!("<86>Nov 29 10:00:00 rs-host sshd[77]: {nonce} line {i:05}\n"));
    }
    tokio::io::AsyncWriteExt::write_all(&mut sender, lines.as_bytes()).await.unwrap();
    drop(sender);

    let events = find_within(&node, &token, &nonce, LINES, Duration::from_secs(60)).await;
    let _ = rsyslogd.kill();
    let _ = rsyslogd.wait();
    // rsyslog forwards an RFC 3164 message with the space after the tag's
    // colon, and Rampart keeps what it is sent.
    let mut seen: Vec<&str> = events.iter().map(|e| e["attrs"]["message"].as_str().unwrap().trim_start()).collect();
    seen.sort_unstable();
    let expected: Vec<String> = (0..LINES).map(|i| format!("{nonce} line {i:05}")).collect();
    assert_eq!(seen.len(), LINES, "every line forwarded by rsyslog is stored, once");
    assert_eq!(seen, expected);
    for e in &events {
        assert_eq!(e["attrs"]["receiver"]["transport"], "tls");
        assert_eq!(e["attrs"]["source"]["name"], "rs-host");
        assert!(e["ledger_index"].as_i64().is_some(), "{e}");
    }
    let id = events[LINES / 2]["id"].as_str().unwrap();
    let proof =
        node.client.get(format!("{}/api/v1/ledger/proof/inclusion?event_id={id}", node.url)).send().await.unwrap();
    assert_eq!(proof.status(), 200, "{}", proof.text().await.unwrap());
}
