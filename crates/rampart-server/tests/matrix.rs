//! Deny by default: every declared route is called unauthenticated, with an
//! enrolment-only token and as every role; the route table and the OpenAPI
//! document must describe exactly the same operations.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use rampart_core::Role;
use rampart_server::Access;
use rampart_testkit::{Session, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn concrete(path: &str) -> String {
    path.replace("{id}", "usr_00000000000000000000000000000000")
}

async fn call(server: &TestServer, method: &http::Method, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_str().as_bytes()).expect("method");
    let mut rb = server.request(method.clone(), &concrete(path), token);
    if method == Method::POST {
        rb = rb.json(&serde_json::json!({}));
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = resp.text().await.unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        assert_eq!(ctype, "application/problem+json", "{method} {path}: denial must be problem+json");
    }
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_route_denies_by_default_for_every_role() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "acme").await;
    let mut sessions: Vec<(Role, Session)> = vec![(Role::Admin, admin.clone())];
    for (role, name) in [
        (Role::SecurityOperator, "secop"),
        (Role::OperationsEngineer, "ops"),
        (Role::Auditor, "auditor"),
        (Role::CustomerAdmin, "custadmin"),
        (Role::CustomerUser, "custuser"),
    ] {
        let t = role.is_customer().then_some(tenant.as_str());
        sessions.push((role, server.session_for(&admin, name, role, t).await));
    }

    // An operations engineer who has not enrolled TOTP gets an enrolment-only token.
    let resp = server
        .request(Method::POST, "/api/v1/users", Some(&admin.token))
        .json(
            &serde_json::json!({"username": "newops", "role": "operations_engineer", "password": "a long password 1"}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 201);
    let login: Value = server.login("newops", "a long password 1", None).await.json().await.expect("json");
    assert_eq!(login["enrollment_required"], true);
    let enrolment_token = login["token"].as_str().expect("token").to_owned();

    let mut specs = server.running.as_ref().expect("running").specs.clone();
    // Logging out revokes the caller's token, so it goes last.
    specs.sort_by_key(|s| s.path == "/api/v1/auth/logout");
    assert!(specs.len() >= 20, "the table lists every route: {}", specs.len());

    for spec in &specs {
        let what = format!("{} {}", spec.method, spec.path);
        let (status, _) = call(&server, &spec.method, spec.path, None).await;
        if spec.access == Access::Public {
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{what} is public: {status}"
            );
            continue;
        }
        if spec.access == Access::SourceToken {
            // A source's ingest token, not a user's: refused without one
            // and with any user token.
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} without a token");
            let (status, _) = call(&server, &spec.method, spec.path, Some(&sessions[0].1.token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} with a user's token");
            continue;
        }
        if spec.access == Access::Signed {
            // Signed routes authenticate each request by its signature: no
            // signature is a client error, with or without a bearer token.
            assert!(status.is_client_error(), "{what} refuses an unsigned request: {status}");
            let (status, _) = call(&server, &spec.method, spec.path, Some(&sessions[0].1.token)).await;
            assert!(status.is_client_error(), "{what} ignores bearer tokens: {status}");
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} without a token");
        let (status, _) = call(&server, &spec.method, spec.path, Some("rpt_not-a-real-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} with a bogus token");

        let (status, _) = call(&server, &spec.method, spec.path, Some(&enrolment_token)).await;
        if spec.access == Access::Enrollment {
            assert_ne!(status, StatusCode::FORBIDDEN, "{what} is open to enrolment tokens");
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{what} with an enrolment-only token");
        }

        for (role, session) in &sessions {
            let allowed = match spec.access {
                Access::Public | Access::Signed | Access::SourceToken | Access::Authenticated | Access::Enrollment => {
                    true
                }
                Access::Permission(p) => role.has(p),
            };
            let (status, body) = call(&server, &spec.method, spec.path, Some(&session.token)).await;
            if allowed {
                // Past the gate a handler may still refuse (the KMS decides
                // per key), but never with the gate's own `forbidden`.
                let gate_refused = status == StatusCode::UNAUTHORIZED
                    || (status == StatusCode::FORBIDDEN && body["type"] == "urn:rampart:problem:forbidden");
                assert!(!gate_refused, "{what} as {role} should pass the gate, got {status} {body}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{what} as {role} must be forbidden");
                assert_eq!(body["type"], "urn:rampart:problem:forbidden");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn route_table_and_openapi_document_list_the_same_operations() {
    let server = TestServer::start().await;
    let doc: Value = server
        .request(Method::GET, "/api/v1/openapi.json", None)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "OpenAPI 3.1: {}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> = rampart_server::openapi::operations(&doc).into_iter().collect();
    let specs = &server.running.as_ref().expect("running").specs;
    let declared: BTreeSet<(String, String)> =
        specs.iter().map(|s| (s.method.to_string(), s.path.to_owned())).collect();
    assert_eq!(declared.len(), specs.len(), "no route is declared twice");
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    let undeclared: Vec<_> = documented.difference(&declared).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(undeclared.is_empty(), "documented operations without a declared permission: {undeclared:?}");
    for spec in specs {
        let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
        assert!(op["x-rampart-access"].is_string(), "{} {} lacks x-rampart-access", spec.method, spec.path);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_route_missing_from_the_table_is_refused_for_everybody() {
    // Build the real router plus a route that bypasses the table, as a
    // careless change might; the gate must refuse it even to the admin.
    use axum::routing::get;
    use tower::ServiceExt;
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let state = server.running.as_ref().expect("running").state.clone();
    let (router, _) = rampart_server::api::routes()
        .danger_unlisted_route("/api/v1/forgotten", get(|| async { "reachable" }))
        .into_router(state);
    for token in [None, Some(admin.token.as_str())] {
        let mut req = http::Request::get("/api/v1/forgotten");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp =
            router.clone().oneshot(req.body(axum::body::Body::empty()).expect("request")).await.expect("response");
        assert_eq!(resp.status(), http::StatusCode::FORBIDDEN);
    }
    server.stop().await;
}
