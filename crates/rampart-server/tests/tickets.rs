//! The ticket desk through the HTTPS API: an alert raised through the node's
//! `AlertSink` becomes a ticket that people list, show, acknowledge,
//! assign, comment on and resolve; illegal changes are problems that change
//! nothing; roles and tenants see what they should.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use rampart_core::Role;
use rampart_core::alert::{Alert, AlertEvent, Severity};
use rampart_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn alert(group: &str, tenant: Option<&str>) -> Alert {
    let now = rampart_core::time::now_ms();
    Alert {
        rule_id: "ssh-brute-force".into(),
        rule_title: "SSH brute force".into(),
        pack: "rampart-redline".into(),
        severity: Severity::High,
        group_key: group.into(),
        tenant_id: tenant.map(|t| rampart_core::Id::parse(t).expect("tenant id")),
        events: vec![AlertEvent { ledger_index: 3, time_ms: now, kind: "log.auth.failed".into() }],
        event_count: 5,
        first_seen_ms: now,
        last_seen_ms: now,
        tags: vec!["attack.t1110".into()],
        description: "5 failed logins".into(),
    }
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> (StatusCode, Value, String) {
    let resp = server.request(Method::POST, path, Some(token)).json(&body).send().await.expect("request");
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, resp.json().await.unwrap_or(Value::Null), ctype)
}

#[tokio::test]
async fn an_alert_becomes_a_ticket_that_is_worked_through_the_api() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let secop = server.session_for(&admin, "secop", Role::SecurityOperator, None).await;
    let auditor = server.session_for(&admin, "auditor", Role::Auditor, None).await;
    let tenant = server.create_tenant(&admin, "acme").await;
    let customer = server.session_for(&admin, "acme-admin", Role::CustomerAdmin, Some(&tenant)).await;

    let sink = server.running.as_ref().unwrap().state.alert_sink();
    let first = sink.raise(&alert("user=alice", None)).await.expect("raise");
    let joined = sink.raise(&alert("user=alice", None)).await.expect("join");
    assert!(joined.joined && joined.ticket_id == first.ticket_id);
    let theirs = sink.raise(&alert("user=bob", Some(&tenant))).await.expect("tenant alert");
    let id = first.ticket_id.to_string();

    // The node's own detection stage may open tickets too (creating the
    // security operator is a privileged role granted): look for ours.
    let list = server.get_json("/api/v1/tickets?status=new&severity=high", &secop.token).await;
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&theirs.ticket_id.as_str()), "{list}");
    assert!(list["items"].as_array().unwrap().iter().all(|t| t["status"] == "new" && t["severity"] == "high"));
    let shown = server.get_json(&format!("/api/v1/tickets/{id}"), &auditor.token).await;
    assert_eq!(shown["event_count"], 10);
    assert_eq!(shown["events"][0]["ledger_index"], 3);
    assert_eq!(shown["history"][0]["action"], "ticket.opened");
    assert!(shown["history"][0]["ledger_index"].is_u64(), "{shown}");

    let (s, t, _) = post(&server, &format!("/api/v1/tickets/{id}/ack"), &secop.token, json!({})).await;
    assert_eq!((s, t["status"].as_str()), (StatusCode::OK, Some("acknowledged")));
    let (s, body, ctype) = post(&server, &format!("/api/v1/tickets/{id}/ack"), &secop.token, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(body["type"], "urn:rampart:problem:illegal-transition");
    let (s, t, _) =
        post(&server, &format!("/api/v1/tickets/{id}/assign"), &secop.token, json!({"assignee": "secop"})).await;
    assert_eq!((s, t["assignee"].as_str()), (StatusCode::OK, Some("secop")));
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/assign"), &secop.token, json!({"assignee": "acme-admin"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "customers do not take tickets");
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/comments"), &secop.token, json!({"body": "blocking"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/comments"), &secop.token, json!({"body": "x", "extra": 1})).await;
    assert!(s.is_client_error(), "unknown fields are refused");
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/status"), &secop.token, json!({"status": "done"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/resolve"), &secop.token, json!({"resolution": ""})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a resolution is required");
    let (s, t, _) =
        post(&server, &format!("/api/v1/tickets/{id}/resolve"), &secop.token, json!({"resolution": "blocked"})).await;
    assert_eq!((s, t["status"].as_str(), t["joinable"].as_bool()), (StatusCode::OK, Some("resolved"), Some(false)));

    // The auditor reads, never writes; the customer sees its own tenant only.
    let (s, _, _) =
        post(&server, &format!("/api/v1/tickets/{id}/comments"), &auditor.token, json!({"body": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let mine = server.get_json("/api/v1/tickets", &customer.token).await;
    let ids: Vec<&str> = mine["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [theirs.ticket_id.as_str()]);
    let resp =
        server.request(Method::GET, &format!("/api/v1/tickets/{id}"), Some(&customer.token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "another tenant's ticket reads as not found");

    let shown = server.get_json(&format!("/api/v1/tickets/{id}"), &secop.token).await;
    let actions: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "ticket.opened",
            "ticket.joined",
            "ticket.acknowledged",
            "ticket.assigned",
            "ticket.commented",
            "ticket.resolved"
        ]
    );
    let events = server.get_json("/api/v1/audit/events?kind=ticket.resolved", &admin.token).await;
    assert_eq!(events["items"][0]["object"], id.as_str());
    assert_eq!(events["items"][0]["actor"], "secop");

    let dead = server.get_json("/api/v1/notifications", &secop.token).await;
    assert_eq!(dead["items"].as_array().unwrap().len(), 0);
    let (s, _, _) =
        post(&server, "/api/v1/notifications/ntf_00000000000000000000000000000000/redrive", &secop.token, json!({}))
            .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let resp = server.request(Method::GET, "/api/v1/tickets?after=zzz", Some(&secop.token)).send().await.unwrap();
    assert!(resp.status().is_client_error());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_to_ticket_stays_under_a_second_at_p99_through_the_real_ledger() {
    let server = TestServer::start().await;
    let sink = server.running.as_ref().unwrap().state.alert_sink();
    // Four detection workers raising at once, 50 alerts each over 20 keys:
    // openings and joins, every one audited in the ledger first.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            for i in 0..50 {
                let started = std::time::Instant::now();
                sink.raise(&alert(&format!("user=u{}", (w * 50 + i) % 20), None)).await.expect("raise");
                took.push(started.elapsed());
            }
            took
        }));
    }
    let mut took = Vec::new();
    for t in tasks {
        took.extend(t.await.expect("task"));
    }
    took.sort();
    let p99 = took[took.len() * 99 / 100 - 1];
    eprintln!(
        "alert-to-ticket over {} alerts: p50 {:?}, p99 {:?}, max {:?}",
        took.len(),
        took[took.len() / 2],
        p99,
        took[took.len() - 1]
    );
    assert!(p99 < std::time::Duration::from_secs(1), "p99 {p99:?}");
    let admin = server.admin_session().await;
    let page = server.get_json("/api/v1/tickets?limit=500", &admin.token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 20, "one ticket per key");
    let total: i64 = page["items"].as_array().unwrap().iter().map(|t| t["event_count"].as_i64().unwrap()).sum();
    assert_eq!(total, 200 * 5, "every alert's events are counted");
    let metrics = server.request(Method::GET, "/metrics", None).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("rampart_alerts_total"), "the desk's counters are exported");
    server.stop().await;
}
