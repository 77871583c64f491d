//! Access to bastion targets beyond standing grants, with real OpenSSH on
//! both sides (Debian's `sshd` as the target, the `ssh` client through the
//! bastion, `oathtool` for the TOTP code) and the `rampart` CLI: grants on
//! a label, just-in-time requests (approved by another, never by oneself;
//! denied; expiring on their own; revoked, which cuts a live session) and
//! the customer lockbox (the tenant's customer admin approves, another
//! tenant's admin is refused, access works only inside the window, the
//! session is cut when it ends, and the tenant's transparency view lists
//! every access with the recording hash the ledger holds). Also the API's
//! answers to malformed requests: a clear 4xx and nothing changed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/openssh.rs"]
mod openssh;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{Client, World, downloaded, events, keygen, next_step, ok, rampart, sha256_of, text, world};
use rampart_core::Role;
use rampart_testkit::{Session, TestServer, unix_now};
use serde_json::{Value, json};

/// The CLI as one user, against `server`.
struct Cli {
    url: String,
    ca: PathBuf,
    cfg: PathBuf,
}

impl Cli {
    fn new(server: &TestServer, dir: &Path) -> Cli {
        Cli { url: server.url.clone(), ca: server.data_dir().join("tls/ca.pem"), cfg: dir.join("cli") }
    }

    fn run(&self, who: &Session, args: &[&str]) -> std::process::Output {
        rampart(&self.url, &self.ca, &who.token, &self.cfg, args)
    }

    /// A command that must succeed, with `--json`; its output.
    fn json(&self, who: &Session, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(who, &all);
        ok(&out, &args.join(" "));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Registers `target` for the test's sshd with `extra` options, and an SSH
/// key for `user`; the user's OpenSSH client.
async fn target_and_key(
    server: &TestServer,
    cli: &Cli,
    admin: &Session,
    user: &Session,
    world: &World,
    extra: &[&str],
) -> Client {
    let port = world.sshd.port.to_string();
    let login_key = world.login_key.to_str().unwrap();
    let mut args = vec!["target", "create", "db", "--address", "127.0.0.1", "--port", &port];
    args.extend(["--host-key", &world.sshd.host_key, "--login", &world.sshd.login, "--private-key-file", login_key]);
    args.extend_from_slice(extra);
    ok(&cli.run(admin, &args), "target create");
    let key = world.dir.join(format!("{}_key", user.creds.username));
    keygen(&key);
    ok(&cli.run(user, &["ssh-key", "add", key.with_extension("pub").to_str().unwrap()]), "ssh-key add");
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().expect("the bastion listens").addr;
    let secret = data_encoding::BASE32_NOPAD.encode(user.creds.totp_secret.as_deref().unwrap());
    Client { dir: world.dir.clone(), bastion, key, totp_secret: secret }
}

async fn post(server: &TestServer, who: &Session, path: &str, body: Value) -> (u16, Value) {
    let resp = server.request(reqwest::Method::POST, path, Some(&who.token)).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Runs `cmd` over the master connection `name` on a blocking thread; its
/// output and how long it took.
fn exec(
    client: &Arc<Client>,
    name: &'static str,
    cmd: &'static str,
) -> tokio::task::JoinHandle<(std::process::Output, Duration)> {
    let c = client.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = c.over(name, &["x", cmd]).output().unwrap();
        (out, started.elapsed())
    })
}

/// Waits until a session of `user` running `command` is live; its id. (A
/// session that just ended may still be listed live for a moment: the
/// client can see its close before the bastion has indexed its end.)
async fn live_session(server: &TestServer, admin: &Session, user: &str, command: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = server.get_json("/api/v1/bastion/sessions?live=true", &admin.token).await;
        let found = live.as_array().and_then(|a| a.iter().find(|s| s["username"] == user && s["command"] == command));
        if let Some(s) = found {
            return s["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no live session of {user}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn just_in_time_access_is_approved_by_another_expires_unanswered_and_revoking_it_cuts_the_session() {
    let Some(w) = world(&[]) else { return };
    let server = TestServer::start_with(|c| c.bastion.jit_pending_timeout_secs = 15).await;
    let admin = server.admin_session().await;
    let sam = server.session_for(&admin, "sam", Role::SecurityOperator, None).await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let cli = Cli::new(&server, &w.dir);
    let client = Arc::new(target_and_key(&server, &cli, &admin, &bob, &w, &["--label", "env=dev"]).await);
    // Labels change after registration; a label grant follows them.
    let updated = cli.json(&admin, &["target", "update", "db", "--label", "tier=db", "--label", "env=prod"]);
    assert_eq!(updated["labels"], json!(["env=prod", "tier=db"]), "{updated}");
    let ask = |args: &[&str]| {
        let mut all = vec!["access", "request"];
        all.extend_from_slice(args);
        cli.json(&bob, &all)["id"].as_str().unwrap().to_owned()
    };

    // Nobody answers this one: it expires on its own after 15 s.
    let unanswered = ask(&["db", "--actions", "exec", "--reason", "read the logs", "--duration", "10m"]);
    // bob logs in (no grant yet: the login works, sessions do not).
    let c = client.clone();
    tokio::task::spawn_blocking(move || ok(&c.master("bob", "bob:db", next_step(bob_step)), "ssh master"))
        .await
        .unwrap();
    let (out, _) = exec(&client, "bob", "echo before-$((6*7))").await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("before-42"), "no grant, no session: {}", text(&out));

    // Asked on the label; bob cannot approve (no bastion_approve), and sam,
    // who can, cannot approve his own request either.
    let on_label =
        ask(&["--label", "env=prod", "--actions", "exec", "--reason", "disk full on prod", "--duration", "10m"]);
    assert_eq!(cli.run(&bob, &["access", "approve", &on_label]).status.code(), Some(3), "bob is no approver");
    let own = cli.json(&sam, &["access", "request", "db", "--actions", "exec", "--reason", "mine", "--duration", "5m"]);
    let own = own["id"].as_str().unwrap().to_owned();
    let (s, body) = post(&server, &sam, &format!("/api/v1/bastion/requests/{own}/approve"), json!({})).await;
    assert_eq!(s, 403, "no self-approval: {body}");
    assert!(body["detail"].as_str().unwrap().contains("the one who made it"), "{body}");
    assert_eq!(server.get_json(&format!("/api/v1/bastion/requests/{own}"), &sam.token).await["status"], "pending");

    // Approved by sam: a grant on the label, for 10 minutes from now.
    let a = cli.json(&sam, &["access", "approve", &on_label, "--comment", "go"]);
    assert_eq!(a["status"], "approved");
    let grant_id = a["grant_id"].as_str().unwrap().to_owned();
    let grants = server.get_json("/api/v1/bastion/grants", &admin.token).await;
    let grant = grants.as_array().unwrap().iter().find(|g| g["id"] == grant_id.as_str()).unwrap().clone();
    assert_eq!((grant["label"].as_str(), grant["request_id"].as_str()), (Some("env=prod"), Some(on_label.as_str())));
    let (out, _) = exec(&client, "bob", "echo approved-$((6*7))").await.unwrap();
    ok(&out, "exec once approved");
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved-42"), "{}", text(&out));

    // The deny path: denied once; a denied request gives nothing and is
    // not revoked.
    let denied = ask(&["db", "--actions", "shell", "--reason", "curious", "--duration", "1h"]);
    let d = cli.json(&sam, &["access", "deny", &denied, "--comment", "not today"]);
    assert_eq!((d["status"].as_str(), d["decided_by"].as_str()), (Some("denied"), Some("sam")));
    assert_eq!(cli.run(&sam, &["access", "approve", &denied]).status.code(), Some(5), "decided once");
    assert_eq!(cli.run(&bob, &["access", "revoke", &denied]).status.code(), Some(5), "a denied request is not revoked");
    let grants = server.get_json("/api/v1/bastion/grants", &admin.token).await;
    assert_eq!(grants.as_array().unwrap().len(), 1, "only the approved request's grant: {grants}");

    // The unanswered request has expired by now: listed so, and too late to approve.
    let deadline = Instant::now() + Duration::from_secs(40);
    while server.get_json(&format!("/api/v1/bastion/requests/{unanswered}"), &bob.token).await["status"] != "expired" {
        assert!(Instant::now() < deadline, "the pending request never expired");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(cli.run(&sam, &["access", "approve", &unanswered]).status.code(), Some(5), "expired");
    let mine = cli.json(&bob, &["access", "list"])["items"].clone();
    let statuses: Vec<&str> = mine.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["denied", "approved", "expired"], "bob sees his own only, newest first: {mine}");

    // Revoking the approval cuts bob's running session within seconds.
    let running = exec(&client, "bob", "sleep 60; echo never-cut");
    let live = live_session(&server, &admin, "bob", "sleep 60; echo never-cut").await;
    let r = cli.json(&sam, &["access", "revoke", &on_label]);
    assert_eq!(r["status"], "revoked");
    let (out, took) = running.await.unwrap();
    client.close("bob");
    assert!(!out.status.success() && !text(&out).contains("never-cut"), "{}", text(&out));
    assert!(text(&out).contains("no grant covers this session"), "{}", text(&out));
    assert!(took < Duration::from_secs(25), "cut within the re-check interval: {took:?}");
    let session = server.get_json(&format!("/api/v1/bastion/sessions/{live}"), &admin.token).await;
    assert_eq!(session["reason"], "grant_ended");
    let grants = server.get_json("/api/v1/bastion/grants", &admin.token).await;
    assert!(!grants.as_array().unwrap().iter().any(|g| g["id"] == grant_id.as_str()), "the grant went with it");

    for (kind, object) in [
        ("bastion.request.created", &on_label),
        ("bastion.request.approved", &on_label),
        ("bastion.request.denied", &denied),
        ("bastion.request.expired", &unanswered),
        ("bastion.request.revoked", &on_label),
    ] {
        let found = events(&server, &admin, kind).await;
        assert!(found.iter().any(|e| e["object"] == object.as_str()), "{kind} for {object}: {found:?}");
    }
    let refused = events(&server, &admin, "bastion.session.refused").await;
    assert!(refused.iter().any(|e| e["attrs"]["reason"] == "no_grant"), "{refused:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockbox_needs_the_customers_approval_cuts_at_the_window_end_and_shows_every_access() {
    let Some(w) = world(&[]) else { return };
    let server = TestServer::start_with(|c| c.bastion.recording_retention_days = 30).await;
    let admin = server.admin_session().await;
    let acme = server.create_tenant(&admin, "acme").await;
    let other = server.create_tenant(&admin, "other").await;
    let custie = server.session_for(&admin, "custie", Role::CustomerAdmin, Some(&acme)).await;
    let otto = server.session_for(&admin, "otto", Role::CustomerAdmin, Some(&other)).await;
    let cuser = server.session_for(&admin, "cuser", Role::CustomerUser, Some(&acme)).await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let cli = Cli::new(&server, &w.dir);
    let client = Arc::new(target_and_key(&server, &cli, &admin, &bob, &w, &["--lockbox-tenant", &acme]).await);
    // A standing grant: without the customer's approval it is not enough.
    ok(&cli.run(&admin, &["grant", "create", "--user", "bob", "--target", "db", "--actions", "exec"]), "grant");
    let c = client.clone();
    tokio::task::spawn_blocking(move || ok(&c.master("bob", "bob:db", next_step(bob_step)), "ssh master"))
        .await
        .unwrap();
    let (out, _) = exec(&client, "bob", "echo unapproved-$((6*7))").await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("unapproved-42"), "{}", text(&out));

    let ask = |duration: &str, reason: &str| {
        let r = cli.json(
            &bob,
            &["lockbox", "request", "db", "--reason-code", "incident", "--reason", reason, "--duration", duration],
        );
        assert_eq!((r["status"].as_str(), r["tenant_id"].as_str()), (Some("pending"), Some(acme.as_str())));
        r["id"].as_str().unwrap().to_owned()
    };
    let asked = ask("20s", "INC-7: orders table locked");
    // Only a customer admin of acme decides: otto (another tenant) finds
    // nothing, the operator's administrator and acme's plain user are refused.
    let path = |verb: &str| format!("/api/v1/lockbox/requests/{asked}/{verb}");
    assert_eq!(post(&server, &otto, &path("approve"), json!({})).await.0, 404, "another tenant's admin");
    assert_eq!(cli.run(&otto, &["lockbox", "show", &asked]).status.code(), Some(4));
    assert!(cli.json(&otto, &["lockbox", "list"])["items"].as_array().unwrap().is_empty(), "otto sees no acme request");
    assert_eq!(post(&server, &admin, &path("approve"), json!({})).await.0, 403, "the operator's admin");
    assert_eq!(post(&server, &cuser, &path("approve"), json!({})).await.0, 403, "acme's customer user");
    let pending = cli.json(&custie, &["lockbox", "list", "--status", "pending"])["items"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["reason"], "INC-7: orders table locked");

    // The deny path: refused, and still no session.
    let refused = ask("1h", "just looking");
    let d = cli.json(&custie, &["lockbox", "deny", &refused, "--comment", "no"]);
    assert_eq!(d["status"], "denied");
    let (out, _) = exec(&client, "bob", "echo refused-$((6*7))").await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("refused-42"), "{}", text(&out));

    // Approved: access works, inside the 20-second window.
    let a = cli.json(&custie, &["lockbox", "approve", &asked, "--comment", "ok, INC-7"]);
    assert_eq!((a["status"].as_str(), a["decided_by"].as_str()), (Some("approved"), Some("custie")));
    let approved_at = Instant::now();
    let (out, _) = exec(&client, "bob", "echo lockbox-$((6*7))").await.unwrap();
    ok(&out, "exec inside the window");
    assert!(String::from_utf8_lossy(&out.stdout).contains("lockbox-42"), "{}", text(&out));
    // A session running when the window ends is cut then.
    let running = exec(&client, "bob", "sleep 60; echo never-cut");
    let live = live_session(&server, &admin, "bob", "sleep 60; echo never-cut").await;
    let (out, _) = running.await.unwrap();
    let cut_after = approved_at.elapsed();
    assert!(!out.status.success() && !text(&out).contains("never-cut"), "{}", text(&out));
    assert!(text(&out).contains("no grant covers this session"), "{}", text(&out));
    assert!(cut_after >= Duration::from_secs(18) && cut_after < Duration::from_secs(40), "{cut_after:?}");
    assert_eq!(
        server.get_json(&format!("/api/v1/bastion/sessions/{live}"), &admin.token).await["reason"],
        "grant_ended"
    );
    let (out, _) = exec(&client, "bob", "echo after-$((6*7))").await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("after-42"), "the window is over: {}", text(&out));
    // A window the customer admin withdraws ends at once.
    let again = ask("5m", "INC-7 follow-up");
    ok(&cli.run(&custie, &["lockbox", "approve", &again]), "approve again");
    let r = cli.json(&custie, &["lockbox", "revoke", &again]);
    assert_eq!((r["status"].as_str(), r["decided_by"].as_str()), (Some("revoked"), Some("custie")));
    let (out, _) = exec(&client, "bob", "echo withdrawn-$((6*7))").await.unwrap();
    client.close("bob");
    assert!(!out.status.success() && !text(&out).contains("withdrawn-42"), "withdrawn: {}", text(&out));

    // The transparency view: both accesses, who, when, why, and the
    // recording's hash as the ledger recorded it (and as the file has it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let seen = cli.json(&custie, &["lockbox", "accesses"])["items"].clone();
        if seen.as_array().unwrap().iter().all(|a| !a["ended_at"].is_null()) {
            break seen;
        }
        assert!(Instant::now() < deadline, "the sessions never ended: {seen}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seen = seen.as_array().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    // The search index follows the ledger a moment behind: wait for both ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ended = loop {
        let ended = events(&server, &admin, "bastion.session.ended").await;
        if seen.iter().all(|a| ended.iter().any(|e| e["attrs"]["session"] == a["session_id"])) {
            break ended;
        }
        assert!(Instant::now() < deadline, "the sessions' ends never reached the index");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for access in seen {
        assert_eq!((access["username"].as_str(), access["target"].as_str()), (Some("bob"), Some("db")));
        assert_eq!(
            (access["reason_code"].as_str(), access["request_id"].as_str()),
            (Some("incident"), Some(asked.as_str()))
        );
        assert_eq!(access["reason"], "INC-7: orders table locked");
        assert_eq!(access["approved_by"], "custie");
        let session = access["session_id"].as_str().unwrap();
        let end = ended.iter().find(|e| e["attrs"]["session"] == session).expect("the session's end is in the ledger");
        assert_eq!(access["recording_sha256"], end["attrs"]["recording_sha256"], "{access} vs {end}");
        assert_eq!(access["recording_bytes"], end["attrs"]["recording_bytes"]);
        // The hash the customer sees is the one of the recording handed out
        // (decrypted by the node; the file on disk is encrypted).
        let plain = downloaded(&server, &admin, session).await;
        assert_eq!(access["recording_sha256"].as_str(), Some(sha256_of(&plain).as_str()));
    }
    // Past retention the recordings are removed; the customer's view keeps
    // every hash.
    let state = &server.running.as_ref().unwrap().state;
    let removed = state.bastion.sweep_recordings(rampart_core::time::now_ms() + 31 * 86_400_000).await.unwrap();
    assert!(removed >= 2, "{removed}");
    let after = cli.json(&custie, &["lockbox", "accesses"])["items"].clone();
    for access in seen {
        let kept = after.as_array().unwrap().iter().find(|a| a["session_id"] == access["session_id"]).unwrap();
        assert_eq!(kept["recording_sha256"], access["recording_sha256"], "the transparency view keeps the hash");
        assert!(kept["recording_sha256"].is_string());
    }
    assert!(seen.iter().any(|a| a["session_id"] == live.as_str() && a["end_reason"] == "grant_ended"));
    assert!(
        cli.json(&otto, &["lockbox", "accesses"])["items"].as_array().unwrap().is_empty(),
        "other tenants see none"
    );
    let named = format!("/api/v1/lockbox/accesses?tenant={acme}");
    let s = server.request(reqwest::Method::GET, &named, Some(&otto.token)).send().await.unwrap().status();
    assert_eq!(s, 404, "naming another tenant reads as not found");
    assert_eq!(cli.run(&cuser, &["lockbox", "accesses"]).status.code(), Some(3), "customer users do not see it");

    // Every step is a ledger event, filed under the tenant.
    for (kind, n) in [
        ("lockbox.requested", 3),
        ("lockbox.approved", 2),
        ("lockbox.denied", 1),
        ("lockbox.revoked", 1),
        ("lockbox.access", 2),
    ] {
        let found = events(&server, &admin, kind).await;
        assert_eq!(found.len(), n, "{kind}: {found:?}");
        assert!(found.iter().all(|e| e["tenant_id"] == acme.as_str()), "{kind} is the tenant's: {found:?}");
    }
    let refusals = events(&server, &admin, "bastion.session.refused").await;
    assert!(refusals.iter().any(|e| e["attrs"]["reason"] == "lockbox_not_approved"), "{refusals:?}");
    server.stop().await;
}

/// Bad input to the access API gets a clear 4xx problem and changes
/// nothing; the routes are for the roles that hold their permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_and_lockbox_requests_refuse_bad_input_and_change_nothing() {
    let server = TestServer::start_with(|c| {
        c.bastion.jit_max_duration_secs = 3600;
        c.bastion.lockbox_max_duration_secs = 7200;
    })
    .await;
    let admin = server.admin_session().await;
    let ops = server.session_for(&admin, "opsie", Role::OperationsEngineer, None).await;
    let tenant = server.create_tenant(&admin, "custco").await;
    let cust = server.session_for(&admin, "custie", Role::CustomerAdmin, Some(&tenant)).await;
    let work = tempfile::tempdir().unwrap();
    let host = keygen(&work.path().join("host"));
    keygen(&work.path().join("login"));
    let private = std::fs::read_to_string(work.path().join("login")).unwrap();
    let target = |name: &str, extra: Value| {
        let mut t = json!({ "name": name, "address": "127.0.0.1", "port": 22, "host_key": host, "login": "ops",
            "private_key": private });
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    // Targets: labels and the lockbox tenant are checked.
    for bad in [
        json!({ "labels": ["Env=prod"] }),
        json!({ "labels": ["env=prod,pci"] }),
        json!({ "labels": ["env=pr od"] }),
        json!({ "labels": (0..33).map(|i| format!("l{i}")).collect::<Vec<_>>() }),
        json!({ "lockbox_tenant": "tnt_00000000000000000000000000000000" }),
        json!({ "lockbox_tenant": "acme" }),
    ] {
        let (s, body) = post(&server, &admin, "/api/v1/bastion/targets", target("db", bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    assert!(server.get_json("/api/v1/bastion/targets", &admin.token).await.as_array().unwrap().is_empty());
    let (s, _) =
        post(&server, &admin, "/api/v1/bastion/targets", target("db", json!({ "labels": ["env=prod"] }))).await;
    assert_eq!(s, 201);
    let (s, body) =
        post(&server, &admin, "/api/v1/bastion/targets", target("vault", json!({ "lockbox_tenant": tenant }))).await;
    assert_eq!((s, body["lockbox_tenant"].as_str()), (201, Some(tenant.as_str())), "{body}");
    let patch = |body: Value| {
        server.request(reqwest::Method::PATCH, "/api/v1/bastion/targets/db", Some(&admin.token)).json(&body).send()
    };
    for bad in [json!({ "labels": ["UPPER"] }), json!({ "lockbox_tenant": "nope" }), json!({ "colour": "red" })] {
        assert_eq!(patch(bad.clone()).await.unwrap().status(), 422, "{bad}");
    }
    let db = |targets: Value| targets.as_array().unwrap().iter().find(|t| t["name"] == "db").unwrap().clone();
    let before = db(server.get_json("/api/v1/bastion/targets", &admin.token).await);
    assert_eq!((before["labels"].clone(), before["lockbox_tenant"].clone()), (json!(["env=prod"]), Value::Null));
    let changed = patch(json!({ "labels": ["tier=db", "env=prod", "tier=db"] })).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["labels"], json!(["env=prod", "tier=db"]), "sorted, unique");

    // Grants: a target or a label, not both, not neither; a valid label.
    let grant = |extra: Value| {
        let mut g = json!({ "username": "opsie", "actions": ["exec"], "valid_for_secs": 60 });
        for (k, v) in extra.as_object().unwrap() {
            g[k] = v.clone();
        }
        g
    };
    for bad in [json!({}), json!({ "target": "db", "label": "env=prod" }), json!({ "label": "Bad Label" })] {
        let (s, body) = post(&server, &admin, "/api/v1/bastion/grants", grant(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    assert!(server.get_json("/api/v1/bastion/grants", &admin.token).await.as_array().unwrap().is_empty());

    // Just-in-time requests.
    let request = |extra: Value| {
        let mut r = json!({ "target": "db", "actions": ["exec"], "reason": "disk full", "duration_secs": 600 });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    for (bad, needle) in [
        (json!({ "reason": "x".repeat(1025) }), "reason"),
        (json!({ "reason": "" }), "reason"),
        (json!({ "reason": "two\nlines" }), "reason"),
        (json!({ "duration_secs": 0 }), "duration_secs"),
        (json!({ "duration_secs": 3601 }), "jit_max_duration_secs"),
        (json!({ "duration_secs": -5 }), ""),
        (json!({ "duration_secs": "an hour" }), ""),
        (json!({ "target": "nope" }), "no target"),
        (json!({ "label": "env=prod" }), "exactly one"),
        (json!({ "actions": [] }), "action"),
        (json!({ "actions": ["root"] }), ""),
        (json!({ "login": "root" }), "logs in as"),
        (json!({ "extra": true }), ""),
    ] {
        let (s, body) = post(&server, &ops, "/api/v1/bastion/requests", request(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(needle), "{bad}: {body}");
    }
    let too_big = "x".repeat(2 * 1024 * 1024);
    let (s, _) = post(&server, &ops, "/api/v1/bastion/requests", request(json!({ "reason": too_big }))).await;
    assert_eq!(s, 413, "an oversized body is refused before any handler");
    assert!(server.get_json("/api/v1/bastion/requests", &admin.token).await.as_array().unwrap().is_empty());
    let resp = server.request(reqwest::Method::GET, "/api/v1/bastion/requests?status=bogus", Some(&ops.token));
    assert_eq!(resp.send().await.unwrap().status(), 422);
    let (s, _) = post(&server, &cust, "/api/v1/bastion/requests", request(json!({}))).await;
    assert_eq!(s, 403, "customers do not use the bastion");
    let (s, body) = post(&server, &ops, "/api/v1/bastion/requests", request(json!({}))).await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (s, _) = post(&server, &ops, &format!("/api/v1/bastion/requests/{id}/approve"), json!({})).await;
    assert_eq!(s, 403, "an operations engineer approves nothing");
    let (s, _) = post(
        &server,
        &admin,
        &format!("/api/v1/bastion/requests/{id}/approve"),
        json!({ "comment": "x".repeat(1025) }),
    )
    .await;
    assert_eq!(s, 422, "an oversized comment");
    let (s, _) =
        post(&server, &admin, "/api/v1/bastion/requests/req_00000000000000000000000000000000/approve", json!({})).await;
    assert_eq!(s, 404);
    assert_eq!(server.get_json(&format!("/api/v1/bastion/requests/{id}"), &ops.token).await["status"], "pending");

    // Lockbox requests.
    let lockbox = |extra: Value| {
        let mut r = json!({ "target": "vault", "reason_code": "incident", "reason": "INC-1", "duration_secs": 600 });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    for (bad, needle) in [
        (json!({ "reason_code": "because" }), "reason_code"),
        (json!({ "reason": "y".repeat(1025) }), "reason"),
        (json!({ "duration_secs": 7201 }), "lockbox_max_duration_secs"),
        (json!({ "duration_secs": 0 }), "duration_secs"),
        (json!({ "target": "db" }), "no tenant's data"),
        (json!({ "target": "nope" }), "no target"),
    ] {
        let (s, body) = post(&server, &ops, "/api/v1/lockbox/requests", lockbox(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(needle), "{bad}: {body}");
    }
    assert!(server.get_json("/api/v1/lockbox/requests", &cust.token).await.as_array().unwrap().is_empty());
    assert!(server.get_json("/api/v1/lockbox/requests", &admin.token).await.as_array().unwrap().is_empty());
    let (s, _) = post(&server, &cust, "/api/v1/lockbox/requests", lockbox(json!({}))).await;
    assert_eq!(s, 403, "the customer asks nobody for its own data");

    // A label marked for a tenant: every target carrying it needs that
    // tenant's approval; two tenants' marks on one target refuse it.
    let mark = |who: &Session, label: &str, tenant: &str| {
        let path = format!("/api/v1/lockbox/labels/{}", label.replace('/', "%2F"));
        server.request(reqwest::Method::PUT, &path, Some(&who.token)).json(&json!({ "tenant_id": tenant })).send()
    };
    assert_eq!(mark(&ops, "pci", &tenant).await.unwrap().status(), 403, "administrators mark labels");
    assert_eq!(mark(&admin, "Bad Label", &tenant).await.unwrap().status(), 422);
    assert_eq!(mark(&admin, "pci", "tnt_00000000000000000000000000000000").await.unwrap().status(), 422);
    assert!(server.get_json("/api/v1/lockbox/labels", &admin.token).await.as_array().unwrap().is_empty());
    assert_eq!(mark(&admin, "pci", &tenant).await.unwrap().status(), 204);
    let (s, _) = post(&server, &admin, "/api/v1/bastion/targets", target("cards", json!({ "labels": ["pci"] }))).await;
    assert_eq!(s, 201);
    let (s, body) = post(&server, &ops, "/api/v1/lockbox/requests", lockbox(json!({ "target": "cards" }))).await;
    assert_eq!((s, body["tenant_id"].as_str()), (201, Some(tenant.as_str())), "the label's tenant decides: {body}");
    let other = server.create_tenant(&admin, "otherco").await;
    assert_eq!(mark(&admin, "k8s.io/zone=eu-1", &other).await.unwrap().status(), 204, "a label with a slash");
    let (s, _) = post(
        &server,
        &admin,
        "/api/v1/bastion/targets",
        target("mixed", json!({ "labels": ["pci", "k8s.io/zone=eu-1"] })),
    )
    .await;
    assert_eq!(s, 201);
    let (s, body) = post(&server, &ops, "/api/v1/lockbox/requests", lockbox(json!({ "target": "mixed" }))).await;
    assert_eq!(s, 409, "two tenants' data on one target: {body}");
    let labels = server.get_json("/api/v1/lockbox/labels", &admin.token).await;
    assert_eq!(labels.as_array().unwrap().len(), 2, "{labels}");
    let unmark = |label: &str| {
        let path = format!("/api/v1/lockbox/labels/{}", label.replace('/', "%2F"));
        server.request(reqwest::Method::DELETE, &path, Some(&admin.token)).send()
    };
    assert_eq!(unmark("k8s.io/zone=eu-1").await.unwrap().status(), 204);
    assert_eq!(unmark("k8s.io/zone=eu-1").await.unwrap().status(), 404);
    let (s, _) = post(&server, &ops, "/api/v1/lockbox/requests", lockbox(json!({ "target": "mixed" }))).await;
    assert_eq!(s, 201, "one tenant's mark left");
    server.stop().await;
}

/// A login attempt with a certificate, on a fresh connection, with a wrong
/// TOTP code (so only a login refused before the second factor can show
/// no "partial success") and `-v`, running `touch MARKER` on the target.
fn cert_attempt(client: &Client, cert: &Path, login: &str, marker: &Path) -> std::process::Output {
    let cert_file = format!("CertificateFile={}", cert.display());
    let command = format!("touch {}", marker.display());
    client.ssh(None, &["-v", "-o", &cert_file, &format!("{login}@127.0.0.1"), &command]).output().unwrap()
}

/// Asserts a certificate login was refused at the key: no second factor
/// was asked, and nothing reached the target.
fn refused_at_the_key(out: &std::process::Output, marker: &Path, what: &str) {
    assert!(!out.status.success(), "{what}: {}", text(out));
    assert!(!text(out).contains("partial success"), "{what}: the key stage must refuse it: {}", text(out));
    assert!(!marker.exists(), "{what}: nothing may reach the target");
}

/// Issues a certificate for `key` as `who` through the CLI; its JSON.
fn issue_cert(cli: &Cli, who: &Session, key: &Path, valid: &str, save: &Path) -> Value {
    let issued = cli.json(who, &["ssh-cert", "issue", "--key", key.to_str().unwrap(), "--valid", valid]);
    std::fs::write(save, format!("{}\n", issued["certificate"].as_str().unwrap())).unwrap();
    issued
}

async fn refusal_reasons(server: &TestServer, admin: &Session) -> Vec<String> {
    let refused = events(server, admin, "bastion.login.refused").await;
    refused.iter().filter_map(|e| e["attrs"]["reason"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_the_bastion_ca_logs_in_without_a_registered_key_and_bad_ones_are_refused() {
    let Some(w) = world(&[]) else { return };
    let server = TestServer::start_with(|c| c.bastion.ssh_cert_max_secs = 3600).await;
    let admin = server.admin_session().await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let alice = server.session_for(&admin, "alice", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let cli = Cli::new(&server, &w.dir);
    let port = w.sshd.port.to_string();
    let mut args = vec!["target", "create", "db", "--address", "127.0.0.1", "--port", &port];
    args.extend(["--host-key", &w.sshd.host_key, "--login", &w.sshd.login]);
    args.extend(["--private-key-file", w.login_key.to_str().unwrap()]);
    ok(&cli.run(&admin, &args), "target create");
    let grant = ["grant", "create", "--user", "bob", "--target", "db", "--actions", "exec"];
    ok(&cli.run(&admin, &grant), "grant");
    // bob's key is never registered: only certificates let it in.
    let key = w.dir.join("bob_key");
    keygen(&key);
    let public = key.with_extension("pub");
    assert!(server.get_json("/api/v1/ssh-keys", &bob.token).await.as_array().unwrap().is_empty());
    let bastion = server.running.as_ref().unwrap().bastion.as_ref().expect("the bastion listens").addr;
    let secret = data_encoding::BASE32_NOPAD.encode(bob.creds.totp_secret.as_deref().unwrap());
    let client = Arc::new(Client { dir: w.dir.clone(), bastion, key: key.clone(), totp_secret: secret });
    let marker = |name: &str| w.dir.join(format!("marker-{name}"));

    // A short certificate, for the expiry check at the end; then the one used.
    let short = issue_cert(&cli, &bob, &public, "60s", &w.dir.join("bob-short.cert"));
    let cert_a = w.dir.join("bob-a.cert");
    let a = issue_cert(&cli, &bob, &public, "30m", &cert_a);
    let serial_a = a["serial"].as_str().unwrap().to_owned();
    assert_eq!((a["username"].as_str(), a["status"].as_str()), (Some("bob"), Some("valid")), "{a}");

    // What OpenSSH itself reads in it: signed by the CA the API publishes,
    // a user certificate for bob alone, the serial and key id, no critical
    // options, only the pty and port-forwarding extensions.
    let ca_line = cli.run(&bob, &["ssh-cert", "ca"]);
    ok(&ca_line, "ssh-cert ca");
    let ca_file = w.dir.join("rampart_ca.pub");
    std::fs::write(&ca_file, &ca_line.stdout).unwrap();
    let ca_fp = std::process::Command::new("ssh-keygen").arg("-lf").arg(&ca_file).output().unwrap();
    ok(&ca_fp, "ssh-keygen -lf");
    let ca_fp = String::from_utf8_lossy(&ca_fp.stdout).split_whitespace().nth(1).unwrap().to_owned();
    let shown = std::process::Command::new("ssh-keygen").arg("-Lf").arg(&cert_a).output().unwrap();
    ok(&shown, "ssh-keygen -L");
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("user certificate"), "{shown}");
    assert!(shown.contains(&format!("Signing CA: ED25519 {ca_fp}")), "{shown}");
    assert!(shown.contains(&format!("Key ID: \"rampart:bob:{serial_a}\"")), "{shown}");
    assert!(shown.contains(&format!("Serial: {serial_a}")), "{shown}");
    let principals = shown.split("Principals:").nth(1).unwrap().split("Critical Options:").next().unwrap();
    assert_eq!(principals.split_whitespace().collect::<Vec<_>>(), ["bob"], "{shown}");
    let critical = shown.split("Critical Options:").nth(1).unwrap().split("Extensions:").next().unwrap();
    assert_eq!(critical.trim(), "(none)", "{shown}");
    let extensions: Vec<&str> = shown.split("Extensions:").nth(1).unwrap().split_whitespace().collect();
    assert_eq!(extensions, ["permit-port-forwarding", "permit-pty"], "{shown}");

    // The key alone is not registered: refused. With the certificate it
    // logs in, TOTP still asked (an operations engineer needs it).
    let plain = client
        .ssh(None, &["-v", "bob:db@127.0.0.1", &format!("touch {}", marker("plain").display())])
        .output()
        .unwrap();
    refused_at_the_key(&plain, &marker("plain"), "the unregistered key without its certificate");
    let cert_opt = format!("CertificateFile={}", cert_a.display());
    let ctl = client.control("bob");
    let step = next_step(bob_step);
    let c = client.clone();
    let opened = tokio::task::spawn_blocking(move || {
        c.ssh(
            Some(step),
            &[
                "-o",
                &cert_opt,
                "-M",
                "-S",
                ctl.to_str().unwrap(),
                "-o",
                "ControlPersist=yes",
                "-f",
                "-N",
                "bob:db@127.0.0.1",
            ],
        )
        .output()
        .unwrap()
    })
    .await
    .unwrap();
    ok(&opened, "ssh master with the certificate");
    let (out, _) = exec(&client, "bob", "echo cert-$((6*7))").await.unwrap();
    ok(&out, "exec over the certificate login");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cert-42"), "{}", text(&out));
    let logins = events(&server, &admin, "bastion.login.succeeded").await;
    let login = logins.iter().find(|e| e["actor"] == "bob").expect("bob's login is recorded");
    assert_eq!(login["attrs"]["auth_method"], "certificate", "{login}");
    assert_eq!(login["attrs"]["certificate_serial"], serial_a.as_str(), "{login}");
    assert_eq!(login["attrs"]["certificate_key_id"], format!("rampart:bob:{serial_a}"), "{login}");
    assert_eq!(login["attrs"]["second_factor"], "totp", "{login}");

    // Revoking the certificate cuts the session it logged in.
    let running = exec(&client, "bob", "sleep 60; echo never-cut");
    let live = live_session(&server, &admin, "bob", "sleep 60; echo never-cut").await;
    let revoked = cli.json(&admin, &["ssh-cert", "revoke", &serial_a]);
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    let (out, took) = running.await.unwrap();
    client.close("bob");
    assert!(!out.status.success() && !text(&out).contains("never-cut"), "{}", text(&out));
    assert!(text(&out).contains("certificate this login used was revoked"), "{}", text(&out));
    assert!(took < Duration::from_secs(25), "cut within the re-check interval: {took:?}");
    let session = server.get_json(&format!("/api/v1/bastion/sessions/{live}"), &admin.token).await;
    assert_eq!(session["reason"], "certificate_revoked");

    // Another live certificate for the same key gets past the "try it"
    // step, so each refusal below is the certificate check's own.
    let _b = issue_cert(&cli, &bob, &public, "30m", &w.dir.join("bob-b.cert"));
    // Revoked: refused at the next login.
    let out = cert_attempt(&client, &cert_a, "bob:db", &marker("revoked"));
    refused_at_the_key(&out, &marker("revoked"), "a revoked certificate");
    // Signed by a CA of one's own, with the same serial and key id: refused.
    let foreign_ca = w.dir.join("foreign_ca");
    keygen(&foreign_ca);
    let copy = w.dir.join("bob_copy.pub");
    std::fs::copy(&public, &copy).unwrap();
    let signed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&foreign_ca)
        .args(["-I", &format!("rampart:bob:{serial_a}"), "-n", "bob", "-V", "-5m:+1h", "-z", &serial_a])
        .arg(&copy)
        .output()
        .unwrap();
    ok(&signed, "ssh-keygen -s");
    let out = cert_attempt(&client, &w.dir.join("bob_copy-cert.pub"), "bob:db", &marker("foreign"));
    refused_at_the_key(&out, &marker("foreign"), "a certificate from a foreign CA");
    // alice may certify bob's public key, but only for herself: bob cannot
    // log in with it.
    let for_alice = w.dir.join("alice-for-bob-key.cert");
    let issued = issue_cert(&cli, &alice, &public, "30m", &for_alice);
    assert_eq!(issued["username"], "alice");
    let out = cert_attempt(&client, &for_alice, "bob:db", &marker("principal"));
    refused_at_the_key(&out, &marker("principal"), "a certificate for another principal");
    let reasons = refusal_reasons(&server, &admin).await;
    for reason in ["certificate_revoked", "certificate_unknown_ca", "certificate_wrong_principal"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason} in {reasons:?}");
    }
    let refused = events(&server, &admin, "bastion.login.refused").await;
    let revoked_refusal = refused.iter().find(|e| e["attrs"]["reason"] == "certificate_revoked").unwrap();
    assert_eq!(revoked_refusal["attrs"]["certificate_serial"], serial_a.as_str(), "{revoked_refusal}");

    // Expired: the 60-second certificate, once its window has passed.
    let until = epoch_secs(short["valid_before"].as_str().unwrap());
    while unix_now() <= until + 1 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let out = cert_attempt(&client, &w.dir.join("bob-short.cert"), "bob:db", &marker("expired"));
    refused_at_the_key(&out, &marker("expired"), "an expired certificate");

    let listed = cli.json(&admin, &["ssh-cert", "list", "--all"]);
    let statuses: Vec<(&str, &str)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["username"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses.len(), 4, "{listed}");
    assert!(statuses.contains(&("bob", "revoked")) && statuses.contains(&("bob", "expired")), "{statuses:?}");
    let issued_events = events(&server, &admin, "bastion.ssh_cert.issued").await;
    assert_eq!(issued_events.len(), 4);
    let revoked_events = events(&server, &admin, "bastion.ssh_cert.revoked").await;
    assert_eq!(revoked_events.len(), 1);
    let recorded = serde_json::to_string(&[issued_events, revoked_events, refused, logins]).unwrap();
    assert!(!recorded.contains("BEGIN OPENSSH") && !recorded.contains("AAAA"), "no key material in the ledger");
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-01-02T03:04:05Z`
/// or with fractional seconds), as the API writes them.
fn epoch_secs(text: &str) -> u64 {
    let out = std::process::Command::new("date").args(["-u", "-d", text, "+%s"]).output().unwrap();
    ok(&out, "date -d");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn certificate_requests_that_are_malformed_or_for_someone_else_are_refused_and_change_nothing() {
    let server = TestServer::start_with(|c| c.bastion.ssh_cert_max_secs = 3600).await;
    let admin = server.admin_session().await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let auditor = server.session_for(&admin, "aud", Role::Auditor, None).await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIx6W9mawPcDZe97DWyuNHFdiFhRFSLmE+aKaQ0FSsmT bob@example";
    let path = "/api/v1/bastion/ssh-certs";
    let cases = [
        (json!({"public_key": "ssh-ed25519 not-base64"}), 422, "not an OpenSSH public key"),
        (json!({"public_key": ""}), 422, "one OpenSSH public key line"),
        (json!({"public_key": format!("ssh-ed25519-cert-v01@openssh.com {}", &key[12..])}), 422, "public key"),
        (json!({"public_key": key, "valid_for_secs": 3601}), 422, "ssh_cert_max_secs"),
        (json!({"public_key": key, "valid_for_secs": 10}), 422, "between 60 and 3600"),
        (json!({"public_key": key, "username": "admin"}), 403, "only for your own user"),
        (json!({"public_key": key, "principal": "bob"}), 422, ""),
    ];
    for (body, status, says) in cases {
        let (got, problem) = post(&server, &bob, path, body.clone()).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap_or_default().contains(says), "{body}: {problem}");
    }
    // Who may do what: an auditor asks for none, bob lists and revokes none.
    assert_eq!(post(&server, &auditor, path, json!({"public_key": key})).await.0, 403);
    let listing = server.request(reqwest::Method::GET, path, Some(&bob.token)).send().await.unwrap();
    assert_eq!(listing.status(), 403);
    // Nothing was issued, and nothing recorded as issued.
    assert!(server.get_json(path, &admin.token).await.as_array().unwrap().is_empty());
    assert!(events(&server, &admin, "bastion.ssh_cert.issued").await.is_empty());
    // A good request, for bob's own name, works; its serial revokes once.
    let (s, issued) =
        post(&server, &bob, path, json!({"public_key": key, "username": "bob", "valid_for_secs": 600})).await;
    assert_eq!(s, 201, "{issued}");
    assert!(issued["certificate"].as_str().unwrap().starts_with("ssh-ed25519-cert-v01@openssh.com "), "{issued}");
    let serial = issued["serial"].as_str().unwrap();
    let revoke = format!("{path}/{serial}/revoke");
    assert_eq!(post(&server, &bob, &revoke, json!({})).await.0, 403, "bob revokes nothing");
    assert_eq!(post(&server, &admin, &revoke, json!({})).await.0, 200);
    assert_eq!(post(&server, &admin, &revoke, json!({})).await.0, 409, "revoked once");
    for bad in ["123", "-1", "x", "99999999999999999999"] {
        assert_eq!(post(&server, &admin, &format!("{path}/{bad}/revoke"), json!({})).await.0, 404, "{bad}");
    }
    assert_eq!(events(&server, &admin, "bastion.ssh_cert.revoked").await.len(), 1);
    // The CA's public key is the same on every call, and never the private key.
    let ca = server.get_json("/api/v1/bastion/ssh-ca", &bob.token).await;
    assert!(ca["public_key"].as_str().unwrap().starts_with("ssh-ed25519 "), "{ca}");
    assert_eq!(server.get_json("/api/v1/bastion/ssh-ca", &admin.token).await, ca);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_to_a_group_reaches_its_members_and_removing_one_cuts_their_session() {
    let Some(w) = world(&[]) else { return };
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let bob = server.session_for(&admin, "bob", Role::OperationsEngineer, None).await;
    let bob_step = unix_now() / 30 + 1;
    let cli = Cli::new(&server, &w.dir);
    let client = Arc::new(target_and_key(&server, &cli, &admin, &bob, &w, &[]).await);

    let created = cli.json(&admin, &["group", "create", "dba", "--description", "database on-call"]);
    assert_eq!(created["members"], json!([]), "{created}");
    let added = cli.json(&admin, &["group", "add", "dba", "bob"]);
    assert_eq!(added["members"], json!(["bob"]), "{added}");
    let grant = cli.json(&admin, &["grant", "create", "--group", "dba", "--target", "db", "--actions", "exec"]);
    assert_eq!((grant["group_id"].as_str(), grant["user_id"].as_str()), (created["id"].as_str(), None), "{grant}");

    // bob has no grant of his own: the group's lets him in.
    let c = client.clone();
    tokio::task::spawn_blocking(move || ok(&c.master("bob", "bob:db", next_step(bob_step)), "ssh master"))
        .await
        .unwrap();
    let (out, _) = exec(&client, "bob", "echo group-$((6*7))").await.unwrap();
    ok(&out, "exec through the group's grant");
    assert!(String::from_utf8_lossy(&out.stdout).contains("group-42"), "{}", text(&out));

    // Taken out of the group: his running session is cut, the next refused.
    let running = exec(&client, "bob", "sleep 60; echo never-cut");
    let live = live_session(&server, &admin, "bob", "sleep 60; echo never-cut").await;
    let removed = cli.json(&admin, &["group", "remove", "dba", "bob"]);
    assert_eq!(removed["members"], json!([]), "{removed}");
    let (out, took) = running.await.unwrap();
    assert!(!out.status.success() && !text(&out).contains("never-cut"), "{}", text(&out));
    assert!(text(&out).contains("no grant covers this session"), "{}", text(&out));
    assert!(took < Duration::from_secs(25), "cut within the re-check interval: {took:?}");
    let session = server.get_json(&format!("/api/v1/bastion/sessions/{live}"), &admin.token).await;
    assert_eq!(session["reason"], "grant_ended");
    let (out, _) = exec(&client, "bob", "echo after-$((6*7))").await.unwrap();
    client.close("bob");
    assert!(!out.status.success() && !text(&out).contains("after-42"), "{}", text(&out));

    for kind in ["group.created", "group.member.added", "group.member.removed"] {
        let found = events(&server, &admin, kind).await;
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        assert_eq!(found[0]["object"], "dba", "{kind}: {found:?}");
    }
    // Deleting the group takes its grant with it.
    ok(&cli.run(&admin, &["group", "delete", "dba"]), "group delete");
    let grants = server.get_json("/api/v1/bastion/grants", &admin.token).await;
    assert!(grants.as_array().unwrap().is_empty(), "{grants}");
    assert_eq!(events(&server, &admin, "group.deleted").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn group_requests_that_are_malformed_or_not_permitted_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "acme").await;
    let ops = server.session_for(&admin, "ops", Role::OperationsEngineer, None).await;
    let cadmin = server.session_for(&admin, "cadmin", Role::CustomerAdmin, Some(tenant.as_str())).await;
    let cuser = server.session_for(&admin, "cuser", Role::CustomerUser, Some(tenant.as_str())).await;
    let _ = cuser;
    assert_eq!(post(&server, &admin, "/api/v1/groups", json!({"name": "dba"})).await.0, 201);
    for (body, status) in [
        (json!({"name": "DBA"}), 422),
        (json!({"name": ""}), 422),
        (json!({"name": "-x"}), 422),
        (json!({"name": "dba"}), 409),
        (json!({"name": "x", "members": ["ops"]}), 422),
    ] {
        let (got, problem) = post(&server, &admin, "/api/v1/groups", body.clone()).await;
        assert_eq!(got, status, "{body}: {problem}");
    }
    assert_eq!(post(&server, &ops, "/api/v1/groups", json!({"name": "mine"})).await.0, 403, "no user_write");
    let put = |who: &Session, path: &str| server.request(reqwest::Method::PUT, path, Some(&who.token)).send();
    assert_eq!(put(&admin, "/api/v1/groups/dba/members/nobody").await.unwrap().status(), 422);
    assert_eq!(put(&admin, "/api/v1/groups/dba/members/cuser").await.unwrap().status(), 422, "a customer user");
    assert_eq!(put(&admin, "/api/v1/groups/nope/members/ops").await.unwrap().status(), 404);
    assert_eq!(put(&admin, "/api/v1/groups/dba/members/ops").await.unwrap().status(), 200);
    assert_eq!(put(&admin, "/api/v1/groups/dba/members/ops").await.unwrap().status(), 409, "once");
    // A customer admin manages users, but the operator's groups do not exist for them.
    assert_eq!(put(&cadmin, "/api/v1/groups/dba/members/cadmin").await.unwrap().status(), 404);
    assert_eq!(server.get_json("/api/v1/groups", &cadmin.token).await, json!([]));
    assert_eq!(post(&server, &cadmin, "/api/v1/groups", json!({"name": "acme-team"})).await.0, 422);
    // A grant names exactly one of a user and a group, and a group that exists.
    let grants = "/api/v1/bastion/grants";
    for body in [
        json!({"username": "ops", "group": "dba", "label": "env=prod", "actions": ["exec"], "valid_for_secs": 60}),
        json!({"label": "env=prod", "actions": ["exec"], "valid_for_secs": 60}),
        json!({"group": "nope", "label": "env=prod", "actions": ["exec"], "valid_for_secs": 60}),
    ] {
        assert_eq!(post(&server, &admin, grants, body.clone()).await.0, 422, "{body}");
    }
    assert!(server.get_json(grants, &admin.token).await.as_array().unwrap().is_empty());
    let groups = server.get_json("/api/v1/groups", &admin.token).await;
    assert_eq!(groups.as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups[0]["members"], json!(["ops"]), "{groups}");
    assert_eq!(events(&server, &admin, "group.created").await.len(), 1);
    assert_eq!(events(&server, &admin, "group.member.added").await.len(), 1);
    server.stop().await;
}

/// Pending just-in-time and lockbox requests expire at their deadline on
/// their own: the server's sweep writes `bastion.request.expired` and
/// `lockbox.expired` although nobody lists, reads or decides a request
/// (each of which would expire it too), so the test only reads the ledger
/// until both events are there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_requests_expire_at_their_deadline_without_anyone_looking() {
    let server = TestServer::start_with(|c| {
        c.bastion.jit_pending_timeout_secs = 2;
        c.bastion.lockbox_pending_timeout_secs = 2;
    })
    .await;
    let admin = server.admin_session().await;
    let ops = server.session_for(&admin, "opsie", Role::OperationsEngineer, None).await;
    let tenant = server.create_tenant(&admin, "custco").await;
    let work = tempfile::tempdir().unwrap();
    let host = keygen(&work.path().join("host"));
    keygen(&work.path().join("login"));
    let private = std::fs::read_to_string(work.path().join("login")).unwrap();
    for (name, extra) in [("db", json!({})), ("vault", json!({ "lockbox_tenant": tenant }))] {
        let mut t = json!({ "name": name, "address": "127.0.0.1", "port": 22, "host_key": host, "login": "ops",
            "private_key": private });
        t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (s, body) = post(&server, &admin, "/api/v1/bastion/targets", t).await;
        assert_eq!(s, 201, "{body}");
    }
    let jit = json!({ "target": "db", "actions": ["exec"], "reason": "disk full", "duration_secs": 600 });
    let (s, body) = post(&server, &ops, "/api/v1/bastion/requests", jit).await;
    assert_eq!(s, 201, "{body}");
    let jit = body["id"].as_str().unwrap().to_owned();
    let lockbox = json!({ "target": "vault", "reason_code": "incident", "reason": "INC-7", "duration_secs": 600 });
    let (s, body) = post(&server, &ops, "/api/v1/lockbox/requests", lockbox).await;
    assert_eq!(s, 201, "{body}");
    let lockbox = body["id"].as_str().unwrap().to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    for (kind, id) in [("bastion.request.expired", &jit), ("lockbox.expired", &lockbox)] {
        loop {
            let found = events(&server, &admin, kind).await;
            if let Some(e) = found.iter().find(|e| e["object"] == id.as_str()) {
                assert_eq!((e["outcome"].as_str(), e["actor"].as_str()), (Some("denied"), Some("system")), "{e}");
                break;
            }
            assert!(Instant::now() < deadline, "no {kind} for {id} within 30 s: the sweep did not run");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // Now a reader sees them expired, each recorded once.
    assert_eq!(server.get_json(&format!("/api/v1/bastion/requests/{jit}"), &ops.token).await["status"], "expired");
    let expired = events(&server, &admin, "bastion.request.expired").await;
    assert_eq!(expired.iter().filter(|e| e["object"] == jit.as_str()).count(), 1, "{expired:?}");
    server.stop().await;
}
