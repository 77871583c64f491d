//! The KMS endpoint's request authentication and authorisation, with
//! requests signed here by a small independent SigV4 signer: replays after
//! the signature's window, expired signatures, wrong region and unknown keys are refused with AWS's
//! error names; tenants cannot touch each other's keys; roles without the
//! KMS permissions are denied.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use aws_lc_rs::{digest, hmac};
use rampart_auth::signing::{SignedRequest, sigv4};
use rampart_core::Role;
use rampart_testkit::{Session, TestServer};
use serde_json::Value;

struct Key {
    id: String,
    secret: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes()).as_ref().to_vec()
}

/// Signs a KMS JSON request the way AWS SDKs do; returns the headers.
fn sign(host: &str, target: &str, body: &str, key: &Key, region: &str, unix: i64) -> Vec<(String, String)> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    let amz_date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let date = &amz_date[..8];
    let mut headers = vec![
        ("content-type".to_owned(), "application/x-amz-json-1.1".to_owned()),
        ("host".to_owned(), host.to_owned()),
        ("x-amz-date".to_owned(), amz_date.clone()),
        ("x-amz-target".to_owned(), format!("TrentService.{target}")),
    ];
    let signed = "content-type;host;x-amz-date;x-amz-target";
    let req = SignedRequest { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
    let canonical = sigv4::canonical_request(&req, signed).unwrap();
    let scope = format!("{date}/{region}/kms/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let k = hmac(format!("AWS4{}", key.secret).as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, "kms");
    let k = hmac(&k, "aws4_request");
    let signature = hex(&hmac(&k, &to_sign));
    headers.push((
        "authorization".to_owned(),
        format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}", key.id),
    ));
    headers
}

async fn call(server: &TestServer, headers: &[(String, String)], body: &str) -> (u16, Value) {
    let mut rb = server.client.post(format!("{}/", server.url)).body(body.to_owned());
    for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
        rb = rb.header(k, v);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn access_key(server: &TestServer, session: &Session) -> Key {
    let (id, secret) = server.access_key(session).await;
    Key { id, secret }
}

fn now() -> i64 {
    rampart_core::time::now_ms() / 1000
}

#[tokio::test]
async fn signatures_are_checked_replays_refused_and_tenants_isolated() {
    let server = TestServer::start().await;
    let host = server.url.trim_start_matches("https://").to_owned();
    let admin = server.admin_session().await;
    let a = server.create_tenant(&admin, "tenant-a").await;
    let b = server.create_tenant(&admin, "tenant-b").await;
    let a_admin =
        access_key(&server, &server.session_for(&admin, "a-admin", Role::CustomerAdmin, Some(&a)).await).await;
    let a_user = access_key(&server, &server.session_for(&admin, "a-user", Role::CustomerUser, Some(&a)).await).await;
    let b_admin =
        access_key(&server, &server.session_for(&admin, "b-admin", Role::CustomerAdmin, Some(&b)).await).await;
    let operator = access_key(&server, &server.session_for(&admin, "secop", Role::SecurityOperator, None).await).await;

    let create = r#"{"Description":"a's key"}"#;
    let (status, created) =
        call(&server, &sign(&host, "CreateKey", create, &a_admin, "us-east-1", now()), create).await;
    assert_eq!(status, 200, "{created}");
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();

    // A signed request is good within its five-minute window (identical
    // requests are legitimate), and a captured one replayed later is refused.
    let list = "{}";
    let captured_at = now() - 301;
    let signed = sign(&host, "ListKeys", list, &a_admin, "us-east-1", now());
    assert_eq!(call(&server, &signed, list).await.0, 200);
    assert_eq!(call(&server, &signed, list).await.0, 200, "the same request twice within its window");
    let stale = sign(&host, "ListKeys", list, &a_admin, "us-east-1", captured_at);
    let (status, replay) = call(&server, &stale, list).await;
    assert_eq!((status, replay["__type"].as_str()), (400, Some("InvalidSignatureException")), "{replay}");

    for (headers, want) in [
        (sign(&host, "ListKeys", list, &a_admin, "us-east-1", now() - 600), "InvalidSignatureException"),
        (sign(&host, "ListKeys", list, &a_admin, "us-east-1", now() + 600), "InvalidSignatureException"),
        (sign(&host, "ListKeys", list, &a_admin, "eu-west-1", now()), "InvalidSignatureException"),
        (
            sign(
                &host,
                "ListKeys",
                list,
                &Key { id: "RKAIAAAAAAAAAAAAAAAA".into(), secret: "x".into() },
                "us-east-1",
                now(),
            ),
            "UnrecognizedClientException",
        ),
        (
            sign(&host, "ListKeys", list, &Key { id: a_admin.id.clone(), secret: "wrong".into() }, "us-east-1", now()),
            "InvalidSignatureException",
        ),
    ] {
        let (status, body) = call(&server, &headers, list).await;
        assert_eq!((status, body["__type"].as_str()), (400, Some(want)), "{body}");
    }
    // A tampered body no longer matches its signature.
    let signed = sign(&host, "ListKeys", list, &a_admin, "us-east-1", now());
    assert_eq!(call(&server, &signed, r#"{"Limit":1}"#).await.1["__type"], "InvalidSignatureException");

    // Roles: a customer user uses keys but cannot create them; a security operator neither.
    let enc = format!(r#"{{"KeyId":"{key_id}","Plaintext":"aGVsbG8="}}"#);
    let (status, encrypted) = call(&server, &sign(&host, "Encrypt", &enc, &a_user, "us-east-1", now()), &enc).await;
    assert_eq!(status, 200, "{encrypted}");
    let (_, denied) = call(&server, &sign(&host, "CreateKey", create, &a_user, "us-east-1", now()), create).await;
    assert_eq!(denied["__type"], "AccessDeniedException");
    let (_, denied) = call(&server, &sign(&host, "ListKeys", list, &operator, "us-east-1", now()), list).await;
    assert_eq!(denied["__type"], "AccessDeniedException");

    // Tenant B can neither see A's key nor decrypt A's ciphertext.
    let describe = format!(r#"{{"KeyId":"{key_id}"}}"#);
    let (_, hidden) =
        call(&server, &sign(&host, "DescribeKey", &describe, &b_admin, "us-east-1", now()), &describe).await;
    assert_eq!(hidden["__type"], "NotFoundException");
    let dec = format!(r#"{{"CiphertextBlob":"{}"}}"#, encrypted["CiphertextBlob"].as_str().unwrap());
    let (_, refused) = call(&server, &sign(&host, "Decrypt", &dec, &b_admin, "us-east-1", now()), &dec).await;
    assert_eq!(refused["__type"], "InvalidCiphertextException");
    let (_, listed) = call(&server, &sign(&host, "ListKeys", list, &b_admin, "us-east-1", now()), list).await;
    assert_eq!(listed["Keys"].as_array().map(Vec::len), Some(0));
    let (status, plain) = call(&server, &sign(&host, "Decrypt", &dec, &a_admin, "us-east-1", now()), &dec).await;
    assert_eq!((status, plain["Plaintext"].as_str()), (200, Some("aGVsbG8=")));
    server.stop().await;
}
