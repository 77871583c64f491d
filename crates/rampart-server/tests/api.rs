//! The API's promises, end to end over HTTPS against a real node: login with
//! TOTP and its replay protection, lockout, tenant confinement, tokens and
//! access keys, problem responses for bad input, and the contract endpoints.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use rampart_core::Role;
use rampart_testkit::{TestServer, totp_code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn problem(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(ctype, "application/problem+json", "status {status} must carry a problem body");
    (status, resp.json().await.expect("problem json"))
}

#[tokio::test]
async fn totp_code_logs_in_once_and_a_replay_is_refused() {
    let server = TestServer::start().await;
    let secret = server.admin.totp_secret.clone().expect("secret");
    let code = totp_code(&secret, 0);
    let first = server.login(&server.admin.username, &server.admin.password, Some(&code)).await;
    assert_eq!(first.status(), 200);
    let body: Value = first.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["enrollment_required"], false);

    let replay = server.login(&server.admin.username, &server.admin.password, Some(&code)).await;
    let (status, p) = problem(replay).await;
    assert_eq!(status, 401, "the same code twice must be refused");
    assert_eq!(p["type"], "urn:rampart:problem:invalid-credentials");

    // Without a code, or with the wrong password, the admin cannot log in.
    let no_code = server.login(&server.admin.username, &server.admin.password, None).await;
    assert_eq!(no_code.status(), 401);
    let bad_pw = server.login(&server.admin.username, "wrong password!!", Some(&totp_code(&secret, 1))).await;
    assert_eq!(bad_pw.status(), 401);

    let events: Value = server
        .request(Method::GET, "/api/v1/audit/events?kind=auth.login.failed", Some(body["token"].as_str().expect("t")))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let reasons: Vec<&str> =
        events["items"].as_array().expect("items").iter().filter_map(|e| e["attrs"]["reason"].as_str()).collect();
    assert_eq!(reasons, ["replayed_totp_code", "missing_totp_code", "bad_password"]);
    server.stop().await;
}

#[tokio::test]
async fn wrong_codes_lock_the_user_out_with_backoff_and_an_event() {
    let server = TestServer::start().await;
    let secret = server.admin.totp_secret.clone().expect("secret");
    for _ in 0..5 {
        let r = server.login(&server.admin.username, &server.admin.password, Some("000000")).await;
        assert_eq!(r.status(), 401);
    }
    // Locked: even the right code is refused, with Retry-After.
    let r = server.login(&server.admin.username, &server.admin.password, Some(&totp_code(&secret, 0))).await;
    let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let (status, p) = problem(r).await;
    assert_eq!(status, 429);
    assert_eq!(p["type"], "urn:rampart:problem:locked-out");
    assert!(retry_after.is_some_and(|s| (1..=5).contains(&s)), "first lock is 5 s: {retry_after:?}");

    // Once the back-off passes, the right code works, and the lockout is on record.
    tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(5) + 1)).await;
    let r = server.login(&server.admin.username, &server.admin.password, Some(&totp_code(&secret, 1))).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let events = server
        .running
        .as_ref()
        .expect("running")
        .state
        .store
        .list_events(&rampart_store::EventFilter { kind: Some("auth.lockout".into()), ..Default::default() }, 0, 10)
        .await
        .expect("events");
    assert!(!events.items.is_empty(), "a lockout must be recorded");
    server.stop().await;
}

#[tokio::test]
async fn failures_from_one_address_lock_out_every_user_name_it_tries() {
    let server = TestServer::start().await;
    for i in 0..5 {
        let r = server.login(&format!("nobody{i}"), "some password here", None).await;
        assert_eq!(r.status(), 401, "unknown users look like wrong passwords");
    }
    let r = server.login(&server.admin.username, &server.admin.password, Some("123456")).await;
    assert_eq!(r.status(), 429, "the source address is locked out");
    server.stop().await;
}

#[tokio::test]
async fn calls_without_a_token_get_401_problem_details() {
    let server = TestServer::start().await;
    let r = server.request(Method::GET, "/api/v1/users", None).send().await.expect("get");
    assert!(r.headers().get("www-authenticate").is_some());
    assert!(r.headers().get("x-request-id").is_some(), "every response carries a request id");
    let (status, p) = problem(r).await;
    assert_eq!(status, 401);
    assert_eq!(p["type"], "urn:rampart:problem:unauthenticated");
    assert_eq!(p["status"], 401);
    server.stop().await;
}

#[tokio::test]
async fn an_auditor_reads_but_cannot_create_a_user() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let auditor = server.session_for(&admin, "audrey", Role::Auditor, None).await;
    let r = server
        .request(Method::POST, "/api/v1/users", Some(&auditor.token))
        .json(&json!({"username": "eve", "role": "admin", "password": "a long password 1"}))
        .send()
        .await
        .expect("post");
    let (status, _) = problem(r).await;
    assert_eq!(status, 403);
    let list = server.request(Method::GET, "/api/v1/users", Some(&auditor.token)).send().await.expect("get");
    assert_eq!(list.status(), 200);
    let audit = server.request(Method::GET, "/api/v1/audit/events", Some(&auditor.token)).send().await.expect("get");
    assert_eq!(audit.status(), 200, "auditors read the audit trail");
    // Nothing was created by the refused call.
    let users = server.running.as_ref().expect("running").state.store.find_user_by_name("eve").await.expect("find");
    assert!(users.is_none());
    server.stop().await;
}

#[tokio::test]
async fn a_customer_user_cannot_see_another_tenant() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let acme = server.create_tenant(&admin, "acme").await;
    let globex = server.create_tenant(&admin, "globex").await;
    let alice = server.session_for(&admin, "alice", Role::CustomerUser, Some(&acme)).await;
    let gadmin = server.session_for(&admin, "gadmin", Role::CustomerAdmin, Some(&globex)).await;
    server.session_for(&admin, "bob", Role::CustomerUser, Some(&globex)).await;

    let own =
        server.request(Method::GET, &format!("/api/v1/tenants/{acme}"), Some(&alice.token)).send().await.expect("get");
    assert_eq!(own.status(), 200);
    let other = server
        .request(Method::GET, &format!("/api/v1/tenants/{globex}"), Some(&alice.token))
        .send()
        .await
        .expect("get");
    let (status, _) = problem(other).await;
    assert_eq!(status, 404, "another tenant reads as not found");
    let list: Value = server
        .request(Method::GET, "/api/v1/tenants", Some(&alice.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["acme"]);

    // A customer admin sees and manages only their own tenant's users.
    let users: Value = server
        .request(Method::GET, "/api/v1/users", Some(&gadmin.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let mut names: Vec<&str> =
        users["items"].as_array().expect("items").iter().filter_map(|u| u["username"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["bob", "gadmin"]);
    let alice_from_globex = server
        .request(Method::GET, &format!("/api/v1/users/{}", alice.id), Some(&gadmin.token))
        .send()
        .await
        .expect("get");
    assert_eq!(alice_from_globex.status(), 404);
    let disable = server
        .request(Method::POST, &format!("/api/v1/users/{}/disable", alice.id), Some(&gadmin.token))
        .send()
        .await
        .expect("post");
    assert_eq!(disable.status(), 404);
    let create_in_acme = server
        .request(Method::POST, "/api/v1/users", Some(&gadmin.token))
        .json(&json!({"username": "mole", "role": "customer_user", "tenant_id": acme, "password": "a long password 1"}))
        .send()
        .await
        .expect("post");
    assert_eq!(create_in_acme.status(), 403);
    let create_operator = server
        .request(Method::POST, "/api/v1/users", Some(&gadmin.token))
        .json(&json!({"username": "mole", "role": "admin", "password": "a long password 1"}))
        .send()
        .await
        .expect("post");
    assert_eq!(create_operator.status(), 403, "customer admins cannot create operator accounts");
    server.stop().await;
}

#[tokio::test]
async fn api_tokens_are_scoped_expiring_and_revocable() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let r = server
        .request(Method::POST, "/api/v1/tokens", Some(&admin.token))
        .json(&json!({"name": "ci", "scopes": ["tenant_read"], "expires_in_days": 7}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let token = created["token"].as_str().expect("token").to_owned();
    let id = created["info"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["info"]["scopes"], json!(["tenant_read"]));

    assert_eq!(server.request(Method::GET, "/api/v1/tenants", Some(&token)).send().await.expect("get").status(), 200);
    assert_eq!(
        server.request(Method::GET, "/api/v1/users", Some(&token)).send().await.expect("get").status(),
        403,
        "a token scoped to tenant_read cannot list users"
    );
    let listed: Value = server
        .request(Method::GET, "/api/v1/tokens", Some(&admin.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let listed_text = listed.to_string();
    assert!(listed_text.contains(&id) && !listed_text.contains(&token), "listing shows the id, never the token");

    let auditor = server.session_for(&admin, "aud", Role::Auditor, None).await;
    let escalate = server
        .request(Method::POST, "/api/v1/tokens", Some(&auditor.token))
        .json(&json!({"name": "x", "scopes": ["user_write"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(escalate.status(), 403, "a token cannot carry a permission its owner lacks");
    let too_long = server
        .request(Method::POST, "/api/v1/tokens", Some(&admin.token))
        .json(&json!({"name": "x", "expires_in_days": 100000}))
        .send()
        .await
        .expect("post");
    assert_eq!(too_long.status(), 422);

    let revoke = server
        .request(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&admin.token))
        .send()
        .await
        .expect("delete");
    assert_eq!(revoke.status(), 204);
    assert_eq!(server.request(Method::GET, "/api/v1/tenants", Some(&token)).send().await.expect("get").status(), 401);
    server.stop().await;
}

/// Verified access keys are cached for a second, but disabling the owner
/// on this node takes effect on the very next request.
#[tokio::test]
async fn disabling_a_user_stops_their_cached_access_key_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let ops = server.session_for(&admin, "keyholder", Role::SecurityOperator, None).await;
    let (id, _) = server.access_key(&ops).await;
    let state = &server.running.as_ref().expect("running").state;
    assert!(state.auth.access_key_secret(&id).await.is_ok(), "usable, and now cached");
    let disable = server
        .request(Method::POST, &format!("/api/v1/users/{}/disable", ops.id), Some(&admin.token))
        .send()
        .await
        .expect("disable");
    assert_eq!(disable.status(), 204);
    assert!(state.auth.access_key_secret(&id).await.is_err(), "a disabled owner's key no longer signs");
    server.stop().await;
}

#[tokio::test]
async fn access_key_secrets_are_shown_once_and_stored_sealed() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let r = server
        .request(Method::POST, "/api/v1/access-keys", Some(&admin.token))
        .json(&json!({"description": "aws cli"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let id = created["access_key_id"].as_str().expect("id").to_owned();
    let secret = created["secret_access_key"].as_str().expect("secret").to_owned();
    assert_eq!(id.len(), 20);
    assert_eq!(secret.len(), 40);

    let state = &server.running.as_ref().expect("running").state;
    let row = state.store.get_access_key(&id).await.expect("row");
    assert!(!row.secret_sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "stored sealed, not in clear");
    let (_, unsealed) = state.auth.access_key_secret(&id).await.expect("unseal");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&unsealed), secret);

    let listed = server
        .request(Method::GET, "/api/v1/access-keys", Some(&admin.token))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(listed.contains(&id) && !listed.contains(&secret));
    let revoke = server
        .request(Method::DELETE, &format!("/api/v1/access-keys/{id}"), Some(&admin.token))
        .send()
        .await
        .expect("delete");
    assert_eq!(revoke.status(), 204);
    assert!(state.auth.access_key_secret(&id).await.is_err(), "a revoked key no longer signs");
    server.stop().await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_reset_forces_reenrolment() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let ops = server.session_for(&admin, "ops", Role::OperationsEngineer, None).await;
    let reset = server
        .request(Method::POST, &format!("/api/v1/users/{}/reset-totp", ops.id), Some(&admin.token))
        .send()
        .await
        .expect("post");
    assert_eq!(reset.status(), 204);
    assert_eq!(
        server.request(Method::GET, "/api/v1/auth/whoami", Some(&ops.token)).send().await.expect("get").status(),
        401
    );
    let again: Value = server.login("ops", &ops.creds.password, None).await.json().await.expect("json");
    assert_eq!(again["enrollment_required"], true, "after a reset the user enrols again");

    let disable = server
        .request(Method::POST, &format!("/api/v1/users/{}/disable", ops.id), Some(&admin.token))
        .send()
        .await
        .expect("post");
    assert_eq!(disable.status(), 204);
    let after = server.login("ops", &ops.creds.password, None).await;
    assert_eq!(after.status(), 401, "a disabled user cannot log in");
    let me = server
        .request(Method::POST, &format!("/api/v1/users/{}/disable", admin.id), Some(&admin.token))
        .send()
        .await
        .expect("post");
    assert_eq!(me.status(), 403, "admins cannot disable themselves");
    server.stop().await;
}

#[tokio::test]
async fn contract_endpoints_answer() {
    let server = TestServer::start().await;
    let health: Value =
        server.request(Method::GET, "/healthz", None).send().await.expect("get").json().await.expect("json");
    assert_eq!(health["status"], "ok");
    let ready = server.request(Method::GET, "/readyz", None).send().await.expect("get");
    assert_eq!(ready.status(), 200);
    let metrics = server.request(Method::GET, "/metrics", None).send().await.expect("get").text().await.expect("text");
    assert!(metrics.contains("rampart_http_requests_total"), "{metrics}");
    let missing = server.request(Method::GET, "/no/such/path", None).send().await.expect("get");
    let (status, _) = problem(missing).await;
    assert_eq!(status, 404);
    let data = server.data_dir();
    for f in ["tls/ca.pem", "bootstrap-admin.json", "secrets/root.key", "tls/server-key.pem", "tls/ca-key.pem"] {
        assert!(data.join(f).exists(), "{f} exists");
    }
    #[cfg(unix)]
    for f in ["bootstrap-admin.json", "secrets/root.key", "tls/server-key.pem", "tls/ca-key.pem"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(f)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} must be private");
    }
    server.stop().await;
}

#[tokio::test]
async fn http2_is_negotiated_and_http1_keeps_connections_alive() {
    let server = TestServer::start().await;
    let h2 = server.request(Method::GET, "/healthz", None).send().await.expect("get");
    assert_eq!(h2.version(), reqwest::Version::HTTP_2, "ALPN offers h2");
    let ca = reqwest::Certificate::from_pem(&server.ca_pem).expect("ca");
    let h1 = reqwest::Client::builder().tls_certs_only([ca]).http1_only().build().expect("client");
    for _ in 0..3 {
        let r = h1.get(format!("{}/healthz", server.url)).send().await.expect("get");
        assert_eq!(r.version(), reqwest::Version::HTTP_11);
        assert_ne!(r.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"));
    }
    server.stop().await;
}

#[tokio::test]
async fn readyz_reports_unreachable_storage() {
    let server = TestServer::start().await;
    server.running.as_ref().expect("running").state.store.close().await;
    let r = server.request(Method::GET, "/readyz", None).send().await.expect("get");
    let (status, p) = problem(r).await;
    assert_eq!(status, 503);
    assert_eq!(p["type"], "urn:rampart:problem:unavailable");
    let live = server.request(Method::GET, "/healthz", None).send().await.expect("get");
    assert_eq!(live.status(), 200, "liveness does not depend on storage");
}

#[tokio::test]
async fn the_same_flows_work_on_postgresql() {
    let Some(server) = TestServer::start_postgres().await else { return };
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "pgco").await;
    let user = server.session_for(&admin, "pguser", Role::CustomerAdmin, Some(&tenant)).await;
    let users: Value = server
        .request(Method::GET, "/api/v1/users", Some(&user.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1));
    let info: Value = server
        .request(Method::GET, "/api/v1/system", Some(&admin.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["storage"], "postgres");
    // The ledger lives in the shared database too: events carry indexes and
    // proofs verify against the served head.
    let events: Value = server
        .request(Method::GET, "/api/v1/audit/events", Some(&admin.token))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let index = events["items"][0]["ledger_index"].as_u64().expect("a ledger index");
    let head = server.running.as_ref().expect("running").state.ledger.head();
    let p: Value = server
        .request(Method::GET, &format!("/api/v1/ledger/proof/inclusion?index={index}&size={}", head.size), None)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let entry = data_encoding::BASE64.decode(p["entry"].as_str().expect("entry").as_bytes()).expect("b64");
    let proof: Vec<[u8; 32]> = p["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| data_encoding::BASE64.decode(h.as_str().expect("h").as_bytes()).expect("b64").try_into().expect("32"))
        .collect();
    rampart_ledger::merkle::verify_inclusion(
        index,
        head.size,
        &rampart_ledger::merkle::leaf_hash(&entry),
        &proof,
        &head.root,
    )
    .expect("inclusion verifies");
    server.stop().await;
}
