//! No secret (password, TOTP secret or code, token, access-key secret) ever
//! reaches a log line, at any level: this binary captures every log line of
//! the process at TRACE while a full login / enrolment / token / key flow
//! runs (on a node whose KMS is sealed by Shamir shares, which are entered,
//! one of them twice, and sealed again), then searches the capture for
//! each secret it handled.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use rampart_core::Role;
use rampart_testkit::{LogCapture, TestServer, totp_code};
use reqwest::Method;
use serde_json::{Value, json};

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer
/// run of letters or digits), so six-digit codes are not found inside ids.
fn occurs(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[tokio::test]
async fn no_secret_reaches_any_log_line() {
    let logs = LogCapture::install();
    let shares = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = shares.clone();
    let server = TestServer::start_with(move |config| {
        config.kms.seal = rampart_core::config::SealKind::Shamir;
        let secrets = config.data_dir.join("secrets");
        std::fs::create_dir_all(&secrets).expect("secrets dir");
        let (_, split) =
            rampart_kms::keystore::sealed::initialise(&secrets.join("kms-seal.json"), 2, 3, 0).expect("init");
        *keep.lock().expect("lock") = split;
    })
    .await;
    let shares: Vec<String> =
        shares.lock().expect("lock").iter().map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned()).collect();
    let mut secrets: Vec<(String, String)> = vec![
        ("admin password".into(), server.admin.password.clone()),
        (
            "admin TOTP secret".into(),
            data_encoding::BASE32_NOPAD.encode(server.admin.totp_secret.as_deref().expect("secret")),
        ),
    ];
    let code = totp_code(server.admin.totp_secret.as_deref().expect("secret"), 0);
    secrets.push(("admin TOTP code".into(), code.clone()));
    let admin = server.admin_session().await;
    secrets.push(("admin session token".into(), admin.token.clone()));
    // A failed login with a wrong password and a bogus code.
    let wrong = server.login(&server.admin.username, "wrong-password-xyz-123", Some("654321")).await;
    assert_eq!(wrong.status(), 401);
    secrets.push(("wrong password".into(), "wrong-password-xyz-123".into()));
    secrets.push(("wrong code".into(), "654321".into()));

    // A user who enrols TOTP: the enrolment secret and URI, the codes.
    let ops = server.session_for(&admin, "opsuser", Role::OperationsEngineer, None).await;
    let ops_secret = ops.creds.totp_secret.clone().expect("enrolled");
    secrets.push(("ops password".into(), ops.creds.password.clone()));
    secrets.push(("ops TOTP secret".into(), data_encoding::BASE32_NOPAD.encode(&ops_secret)));
    secrets.push(("ops session token".into(), ops.token.clone()));

    // A generated initial password.
    let created: Value = server
        .request(Method::POST, "/api/v1/users", Some(&admin.token))
        .json(&json!({"username": "generated", "role": "auditor"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    secrets.push(("generated password".into(), created["initial_password"].as_str().expect("pw").to_owned()));

    let token: Value = server
        .request(Method::POST, "/api/v1/tokens", Some(&admin.token))
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    secrets.push(("API token".into(), token["token"].as_str().expect("token").to_owned()));
    let used = server
        .request(Method::GET, "/api/v1/users", Some(token["token"].as_str().expect("t")))
        .send()
        .await
        .expect("use");
    assert_eq!(used.status(), 200);

    let key: Value = server
        .request(Method::POST, "/api/v1/access-keys", Some(&admin.token))
        .json(&json!({}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    secrets.push(("access key secret".into(), key["secret_access_key"].as_str().expect("secret").to_owned()));
    // Unsealing: a share twice (refused), then the threshold; then sealed again.
    for share in [&shares[0], &shares[0], &shares[2]] {
        server
            .request(Method::POST, "/api/v1/operator/unseal", None)
            .json(&json!({ "share": share }))
            .send()
            .await
            .expect("unseal");
    }
    let status: Value = server
        .request(Method::GET, "/api/v1/operator/seal-status", None)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["sealed"], false, "{status}");
    let sealed = server.request(Method::POST, "/api/v1/operator/seal", Some(&admin.token)).send().await.expect("seal");
    assert_eq!(sealed.status(), 200);
    for (i, share) in shares.iter().enumerate() {
        // The share's random part; its prefix and index are not secret.
        secrets.push((format!("unseal share {i}"), share.rsplit('-').next().expect("body").to_owned()));
    }

    let logout = server.request(Method::POST, "/api/v1/auth/logout", Some(&admin.token)).send().await.expect("logout");
    assert_eq!(logout.status(), 204);
    server.stop().await;

    let captured = logs.contents();
    // The capture works: it holds the audit lines of this very flow.
    for expected in [
        "auth.login.succeeded",
        "auth.login.failed",
        "token.created",
        "access_key.created",
        "user.created",
        "kms.unseal.share_rejected",
        "kms.unsealed",
        "kms.sealed",
    ] {
        assert!(captured.contains(expected), "the log capture should contain {expected}");
    }
    assert!(captured.lines().count() > 50, "TRACE capture is suspiciously small");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 6, "{what} is a real value");
        assert!(!occurs(&captured, secret), "{what} appears in the logs");
    }
}
