//! An independent TOTP implementation (`oathtool`, Debian package
//! `oathtool`) produces codes that log in: our RFC 6238 is the standard one.

// Tests fail by panicking; helpers outside #[test] functions do too.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

use rampart_testkit::{TestServer, skip_without};

fn oathtool(secret_b32: &str) -> Option<String> {
    let out = Command::new("oathtool").args(["--totp", "-b", secret_b32]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn oathtool_codes_log_in_and_cannot_be_replayed() {
    let server = TestServer::start().await;
    let secret = data_encoding::BASE32_NOPAD.encode(server.admin.totp_secret.as_deref().expect("secret"));
    let Some(code) = oathtool(&secret) else {
        skip_without("oathtool is missing", "apt-get install oathtool");
        return;
    };
    assert_eq!(code.len(), 6);
    let first = server.login(&server.admin.username, &server.admin.password, Some(&code)).await;
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap_or_default());
    let replay = server.login(&server.admin.username, &server.admin.password, Some(&code)).await;
    assert_eq!(replay.status(), 401, "the same code twice is refused");
    server.stop().await;
}
