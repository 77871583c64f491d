//! The command-line client against real servers: `rampart serve` as a
//! process (first start, defaults found beside its data directory, SIGTERM),
//! and every client command with its tables, `--json` and exit codes.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rampart_testkit::{TestServer, totp_code};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// Runs the CLI in `cwd` with its own config directory, feeding `stdin`.
fn run(cwd: &Path, config_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("RAMPART_CONFIG_DIR", config_dir)
        .env_remove("RAMPART_URL")
        .env_remove("RAMPART_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

// The CLI runs as a blocking child process; the server needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_tables_json_and_exit_codes() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("cfg");
    let ca = server.data_dir().join("tls/ca.pem");
    let ca = ca.to_str().expect("path");
    let remote = |args: &[&str], stdin: &str| {
        let mut all = vec!["--server", server.url.as_str(), "--ca-cert", ca];
        all.extend_from_slice(args);
        run(work.path(), &cfg, &all, stdin)
    };

    let secret = server.admin.totp_secret.clone().expect("secret");
    let wrong = remote(&["login", "--username", "admin", "--password-stdin"], "not the password\n123456\n");
    assert_eq!(code(&wrong), 3, "wrong credentials exit 3: {}", text(&wrong));
    let login = remote(
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{}\n{}\n", server.admin.password, totp_code(&secret, 0)),
    );
    assert_eq!(code(&login), 0, "{}", text(&login));
    let creds = cfg.join("credentials.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&creds).expect("creds").permissions().mode() & 0o777, 0o600);
    }

    let whoami = remote(&["whoami", "--json"], "");
    let me: Value = serde_json::from_slice(&whoami.stdout).expect("json");
    assert_eq!(me["username"], "admin");

    let tenant = remote(&["tenant", "create", "acme", "--json"], "");
    assert_eq!(code(&tenant), 0, "{}", text(&tenant));
    let tenant_id =
        serde_json::from_slice::<Value>(&tenant.stdout).expect("json")["id"].as_str().expect("id").to_owned();
    let search = remote(&["audit", "search", "--kind", "tenant.created", "--object", "acme"], "");
    assert_eq!(code(&search), 0, "{}", text(&search));
    assert!(text(&search).contains("LEDGER_INDEX") && text(&search).contains("acme"), "{}", text(&search));
    let none = remote(&["audit", "search", "--kind", "tenant.created", "--actor", "somebody-else", "--json"], "");
    let none: Value = serde_json::from_slice(&none.stdout).expect("json");
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "the actor filter applies");
    let bad = remote(&["audit", "search", "--outcome", "bogus"], "");
    assert_eq!(code(&bad), 6, "{}", text(&bad));
    let bad_time = remote(&["audit", "search", "--since", "yesterday"], "");
    assert_eq!(code(&bad_time), 6, "{}", text(&bad_time));
    let dup = remote(&["tenant", "create", "acme"], "");
    assert_eq!(code(&dup), 5, "conflict exits 5: {}", text(&dup));

    let user = remote(&["user", "create", "carol", "--role", "customer_user", "--tenant", &tenant_id], "");
    assert_eq!(code(&user), 0, "{}", text(&user));
    assert!(text(&user).contains("initial password (shown once)"));
    let bad_role = remote(&["user", "create", "dave", "--role", "root"], "");
    assert_eq!(code(&bad_role), 6, "invalid request exits 6: {}", text(&bad_role));

    let table = remote(&["user", "list"], "");
    let table_text = text(&table);
    assert!(table_text.contains("USERNAME") && table_text.contains("carol"), "{table_text}");
    let listed: Value = serde_json::from_slice(&remote(&["user", "list", "--json"], "").stdout).expect("json");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));

    let token = remote(&["token", "create", "ci", "--scope", "tenant_read", "--json"], "");
    assert_eq!(code(&token), 0, "{}", text(&token));
    let token_id =
        serde_json::from_slice::<Value>(&token.stdout).expect("json")["info"]["id"].as_str().expect("id").to_owned();
    assert!(text(&remote(&["token", "list"], "")).contains("tenant_read"));
    assert_eq!(code(&remote(&["token", "revoke", &token_id], "")), 0);

    let key = remote(&["access-key", "create", "--description", "aws"], "");
    assert!(text(&key).contains("secret access key"), "{}", text(&key));
    assert!(text(&remote(&["access-key", "list"], "")).contains("aws"));

    assert_eq!(code(&remote(&["user", "disable", "carol"], "")), 0);
    let missing = remote(&["user", "disable", "nobody"], "");
    assert_eq!(code(&missing), 4, "not found exits 4: {}", text(&missing));

    assert_eq!(code(&remote(&["logout"], "")), 0);
    let after = remote(&["user", "list"], "");
    assert_eq!(code(&after), 3, "{}", text(&after));
    assert!(text(&after).contains("rampart login"), "tells the user what to do");

    let unreachable = run(work.path(), &cfg, &["--server", "https://127.0.0.1:1", "--ca-cert", ca, "whoami"], "");
    assert_eq!(code(&unreachable), 7, "{}", text(&unreachable));
    server.stop().await;
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9443\"\n").expect("write");
    let ok = run(dir.path(), dir.path(), &["config", "check", good.to_str().expect("p")], "");
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(text(&ok).contains("127.0.0.1:9443"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisen = \"127.0.0.1:9443\"\n").expect("write");
    let err = run(dir.path(), dir.path(), &["config", "check", bad.to_str().expect("p")], "");
    assert_ne!(code(&err), 0);
    assert!(text(&err).contains("lisen"), "{}", text(&err));
}

#[tokio::test]
async fn serve_initialises_the_data_dir_and_the_cli_finds_it_beside_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("cfg");
    let mut child = rampart_testkit::serve_command(BIN)
        .args(["--log-format", "json"])
        .current_dir(work.path())
        .env_remove("RAMPART_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let data = work.path().join("rampart-data");
    let started = std::time::Instant::now();
    while !data.join("client.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
        assert!(child.try_wait().expect("wait").is_none(), "server exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for f in ["tls/ca.pem", "bootstrap-admin.json"] {
        assert!(data.join(f).exists(), "{f}");
    }
    let boot: Value =
        serde_json::from_slice(&std::fs::read(data.join("bootstrap-admin.json")).expect("read")).expect("json");
    let secret = data_encoding::BASE32_NOPAD.decode(boot["totp_secret"].as_str().expect("s").as_bytes()).expect("b32");
    // No --server or --ca-cert: both come from ./rampart-data.
    let login = run(
        work.path(),
        &cfg,
        &["login", "--username", "admin", "--password-stdin"],
        &format!("{}\n{}\n", boot["password"].as_str().expect("pw"), totp_code(&secret, 0)),
    );
    assert_eq!(code(&login), 0, "{}", text(&login));
    let tenants = run(work.path(), &cfg, &["tenant", "list"], "");
    assert_eq!(code(&tenants), 0, "{}", text(&tenants));

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "SIGTERM is a clean shutdown: {stderr}");
    let json_lines: Vec<Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        json_lines.iter().any(|l| l["level"] == "INFO" && l["message"] == "listening"),
        "--log-format json writes structured lines: {stderr}"
    );
    assert!(
        json_lines.iter().any(|l| l["message"] == "SSH bastion listening"),
        "`rampart serve` starts the SSH bastion: {stderr}"
    );
    assert!(data.join("secrets/ssh-host-ed25519.key").exists(), "with its persistent host key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prove_writes_a_bundle_that_verifies_offline_and_ledger_verify_checks_a_server() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    server.create_tenant(&admin, "proven").await;
    let events: Value = server
        .request(reqwest::Method::GET, "/api/v1/audit/events?kind=tenant.created", Some(&admin.token))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let event_id = events["items"][0]["id"].as_str().expect("id").to_owned();
    let key = server
        .request(reqwest::Method::GET, "/ledger/key", None)
        .send()
        .await
        .expect("key")
        .text()
        .await
        .expect("text");
    let key = key.trim();
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("cfg");
    let ca = server.data_dir().join("tls/ca.pem");
    let ca = ca.to_str().expect("path");
    let bundle = work.path().join("proof.tlog-proof");
    let bundle_arg = bundle.to_str().expect("path");
    let prove = run(
        work.path(),
        &cfg,
        &["--server", &server.url, "--ca-cert", ca, "audit", "prove", &event_id, "-o", bundle_arg],
        "",
    );
    assert_eq!(code(&prove), 0, "{}", text(&prove));
    assert!(std::fs::read_to_string(&bundle).expect("bundle").starts_with("c2sp.org/tlog-proof@v1\n"));

    // Offline: no server, only the key.
    let verified = run(work.path(), &cfg, &["audit", "verify-proof", bundle_arg, "--key", key], "");
    assert_eq!(code(&verified), 0, "{}", text(&verified));
    assert!(text(&verified).contains("tenant.created") && text(&verified).contains(&event_id));
    let tampered = std::fs::read_to_string(&bundle).expect("bundle").replacen("index ", "index 1", 1);
    std::fs::write(&bundle, tampered).expect("write");
    let refused = run(work.path(), &cfg, &["audit", "verify-proof", bundle_arg, "--key", key], "");
    assert_ne!(code(&refused), 0, "a tampered bundle must not verify: {}", text(&refused));

    let remote =
        run(work.path(), &cfg, &["--server", &server.url, "--ca-cert", ca, "ledger", "verify", "--key", key], "");
    assert_eq!(code(&remote), 0, "{}", text(&remote));
    assert!(text(&remote).contains("ledger OK"));
    server.stop().await;
}

// The CLI runs as a blocking child process; the server needs a worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_commands_work_an_alert_from_list_to_resolution() {
    use rampart_core::alert::{Alert, AlertEvent, Severity};
    let server = TestServer::start().await;
    let now = rampart_core::time::now_ms();
    let alert = Alert {
        rule_id: "ssh-brute-force".into(),
        rule_title: "SSH brute force".into(),
        pack: "rampart-redline".into(),
        severity: Severity::Critical,
        group_key: "user=alice".into(),
        tenant_id: None,
        events: vec![AlertEvent { ledger_index: 2, time_ms: now, kind: "log.auth.failed".into() }],
        event_count: 5,
        first_seen_ms: now,
        last_seen_ms: now,
        tags: vec![],
        description: String::new(),
    };
    let raised = server.running.as_ref().expect("running").state.alert_sink().raise(&alert).await.expect("raise");
    let id = raised.ticket_id.to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let cfg = work.path().join("cfg");
    let ca = server.data_dir().join("tls/ca.pem");
    let ca = ca.to_str().expect("path");
    let remote = |args: &[&str]| {
        let mut all = vec!["--server", server.url.as_str(), "--ca-cert", ca];
        all.extend_from_slice(args);
        run(work.path(), &cfg, &all, "")
    };
    let secret = server.admin.totp_secret.clone().expect("secret");
    let login = run(
        work.path(),
        &cfg,
        &["--server", server.url.as_str(), "--ca-cert", ca, "login", "--username", "admin", "--password-stdin"],
        &format!("{}\n{}\n", server.admin.password, totp_code(&secret, 0)),
    );
    assert_eq!(code(&login), 0, "{}", text(&login));

    let list = remote(&["tickets", "list", "--severity", "critical"]);
    assert_eq!(code(&list), 0, "{}", text(&list));
    assert!(text(&list).contains("SEVERITY") && text(&list).contains(&id), "{}", text(&list));
    let bad = remote(&["tickets", "list", "--status", "open"]);
    assert_eq!(code(&bad), 6, "an unknown status is invalid: {}", text(&bad));
    assert_eq!(code(&remote(&["tickets", "ack", &id])), 0);
    let again = remote(&["tickets", "ack", &id]);
    assert_eq!(code(&again), 5, "an illegal transition is a conflict: {}", text(&again));
    assert!(text(&again).contains("in_progress"), "it says what is allowed: {}", text(&again));
    assert_eq!(code(&remote(&["tickets", "assign", &id, "admin", "--queue", "tier2"])), 0);
    assert_eq!(code(&remote(&["tickets", "comment", &id, "blocking the source"])), 0);
    assert_eq!(code(&remote(&["tickets", "resolve", &id, "blocked at the firewall"])), 0);
    let shown = remote(&["tickets", "show", &id]);
    let shown_text = text(&shown);
    assert!(shown_text.contains("history:") && shown_text.contains("ticket.resolved"), "{shown_text}");
    assert!(shown_text.contains("blocking the source"), "{shown_text}");
    let json: Value = serde_json::from_slice(&remote(&["tickets", "show", &id, "--json"]).stdout).expect("json");
    assert_eq!((json["status"].as_str(), json["queue"].as_str()), (Some("resolved"), Some("tier2")));
    assert_eq!(json["events"][0]["ledger_index"], 2);
    let missing = remote(&["tickets", "show", "tkt_00000000000000000000000000000000"]);
    assert_eq!(code(&missing), 4, "{}", text(&missing));
    let dead = remote(&["tickets", "dead-letters", "--json"]);
    assert_eq!(code(&dead), 0, "{}", text(&dead));
    server.stop().await;
}
