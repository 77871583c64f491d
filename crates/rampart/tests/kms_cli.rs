//! `rampart kms`: keys, aliases, policies, signatures and MACs through the
//! native API, and transparent file encryption against the real AWS
//! Encryption SDK CLI
//! (`aws-encryption-cli` from PyPI), unmodified, pointed at Rampart's
//! AWS-compatible KMS endpoint: files `rampart kms encrypt-file` wrote
//! decrypt with the SDK's CLI, files the SDK's CLI wrote decrypt with
//! `rampart kms decrypt-file`, and a tampered or wrongly-keyed file leaves
//! nothing behind.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use rampart_core::Role;
use rampart_testkit::{TestServer, skip_without};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn rampart(server: &TestServer, token: &str, args: &[&str]) -> Output {
    let ca = server.data_dir().join("tls/ca.pem");
    Command::new(BIN)
        .args(["--server", &server.url, "--ca-cert", ca.to_str().unwrap()])
        .args(args)
        .env("RAMPART_TOKEN", token)
        .env("RAMPART_CONFIG_DIR", server.data_dir().join("cli-config"))
        .output()
        .unwrap()
}

/// The SDK's CLI with the AWS SDK for Python aimed at Rampart: the endpoint
/// and CA through botocore's standard variables, the access key as creds.
fn sdk_cli(server: &TestServer, key: &(String, String), args: &[&str]) -> Output {
    Command::new("aws-encryption-cli")
        .args(args)
        .env("AWS_ENDPOINT_URL", &server.url)
        .env("AWS_CA_BUNDLE", server.data_dir().join("tls/ca.pem"))
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap()
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

fn sample(path: &Path, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_between_rampart_and_the_aws_encryption_sdk_cli() {
    let have = Command::new("aws-encryption-cli").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have && skip_without("aws-encryption-cli is missing", "pip install aws-encryption-sdk-cli") {
        return;
    }
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "esdkco").await;
    let cust = server.session_for(&admin, "esdkadmin", Role::CustomerAdmin, Some(&tenant)).await;
    let access = server.access_key(&cust).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_path_buf();
    let token = cust.token.clone();

    let result = tokio::task::spawn_blocking(move || {
        let created = rampart(&server, &token, &["--json", "kms", "create", "--alias", "alias/files"]);
        ok(&created, "create key");
        let key: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        let key_id = key["key_id"].as_str().unwrap().to_owned();
        let arn = key["arn"].as_str().unwrap().to_owned();
        assert!(arn.starts_with("arn:aws:kms:us-east-1:") && arn.ends_with(&key_id), "{arn}");

        // Rampart encrypts (several frames, signed), the SDK's CLI decrypts.
        let plain = dir.join("plain.bin");
        let bytes = sample(&plain, 3 * 4096 + 17);
        let enc = dir.join("plain.bin.encrypted");
        let out = rampart(
            &server,
            &token,
            &[
                "kms",
                "encrypt-file",
                "alias/files",
                "--in",
                plain.to_str().unwrap(),
                "--out",
                enc.to_str().unwrap(),
                "--context",
                "purpose=backup",
            ],
        );
        ok(&out, "rampart encrypt-file");
        let back = dir.join("back.bin");
        let out = sdk_cli(
            &server,
            &access,
            &[
                "--decrypt",
                "-S",
                "--input",
                enc.to_str().unwrap(),
                "--output",
                back.to_str().unwrap(),
                "--wrapping-keys",
                &format!("key={arn}"),
                "--encryption-context",
                "purpose=backup",
                "--commitment-policy",
                "require-encrypt-require-decrypt",
                "--buffer",
            ],
        );
        ok(&out, "aws-encryption-cli --decrypt");
        assert_eq!(std::fs::read(&back).unwrap(), bytes, "the SDK's CLI recovers Rampart's file");

        // The SDK's CLI encrypts, Rampart decrypts.
        let theirs = dir.join("theirs.enc");
        let out = sdk_cli(
            &server,
            &access,
            &[
                "--encrypt",
                "-S",
                "--input",
                plain.to_str().unwrap(),
                "--output",
                theirs.to_str().unwrap(),
                "--wrapping-keys",
                &format!("key={arn}"),
                "--encryption-context",
                "team=ops",
                "--commitment-policy",
                "require-encrypt-require-decrypt",
            ],
        );
        ok(&out, "aws-encryption-cli --encrypt");
        let mine = dir.join("mine.bin");
        let out = rampart(
            &server,
            &token,
            &["kms", "decrypt-file", "--in", theirs.to_str().unwrap(), "--out", mine.to_str().unwrap()],
        );
        ok(&out, "rampart decrypt-file");
        assert_eq!(std::fs::read(&mine).unwrap(), bytes, "Rampart recovers the SDK's file");
        assert!(String::from_utf8_lossy(&out.stderr).contains("team=ops"), "the context is reported");

        // A flipped byte, or a disabled key: an error and no output file.
        let mut tampered = std::fs::read(&enc).unwrap();
        let at = tampered.len() - 200;
        tampered[at] ^= 1;
        let bad = dir.join("tampered.enc");
        std::fs::write(&bad, tampered).unwrap();
        let never = dir.join("never.bin");
        let out = rampart(
            &server,
            &token,
            &["kms", "decrypt-file", "--in", bad.to_str().unwrap(), "--out", never.to_str().unwrap()],
        );
        assert!(!out.status.success(), "a tampered file must not decrypt");
        assert!(!never.exists(), "nothing is written for a file that does not verify");
        ok(&rampart(&server, &token, &["kms", "disable", &key_id]), "disable");
        let out = rampart(
            &server,
            &token,
            &["kms", "decrypt-file", "--in", enc.to_str().unwrap(), "--out", never.to_str().unwrap()],
        );
        assert!(!out.status.success() && !never.exists(), "a disabled key decrypts nothing");
        assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"), "{}", String::from_utf8_lossy(&out.stderr));
        server
    })
    .await;
    result.unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_commands_manage_keys_aliases_policies_and_signatures() {
    let server = TestServer::start().await;
    let admin = server.admin_session().await;
    let tenant = server.create_tenant(&admin, "kmscli").await;
    let cust = server.session_for(&admin, "kmsadmin", Role::CustomerAdmin, Some(&tenant)).await;
    let user = server.session_for(&admin, "kmsuser", Role::CustomerUser, Some(&tenant)).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_path_buf();
    let (token, user_token) = (cust.token.clone(), user.token.clone());

    let result = tokio::task::spawn_blocking(move || {
        let json = |o: &Output| -> serde_json::Value { serde_json::from_slice(&o.stdout).unwrap() };
        // A signing key with an alias; sign, verify, and a tampered message fails.
        let out = rampart(&server, &token, &["--json", "kms", "create", "--spec", "ECC_NIST_P384", "--usage", "SIGN_VERIFY", "--alias", "alias/release"]);
        ok(&out, "create signer");
        assert_eq!(json(&out)["spec"], "ECC_NIST_P384");
        let artefact = dir.join("release.tar");
        sample(&artefact, 2000);
        let out = rampart(&server, &token, &["kms", "sign", "alias/release", "--algorithm", "ECDSA_SHA_384", "--in", artefact.to_str().unwrap()]);
        ok(&out, "sign");
        let sig = dir.join("release.sig");
        std::fs::write(&sig, &out.stdout).unwrap();
        ok(&rampart(&server, &token, &["kms", "verify", "alias/release", "--algorithm", "ECDSA_SHA_384", "--in", artefact.to_str().unwrap(), "--signature", sig.to_str().unwrap()]), "verify");
        let other = dir.join("other.tar");
        sample(&other, 2001);
        let out = rampart(&server, &token, &["kms", "verify", "alias/release", "--algorithm", "ECDSA_SHA_384", "--in", other.to_str().unwrap(), "--signature", sig.to_str().unwrap()]);
        assert!(!out.status.success(), "a signature over another file must not verify");
        let out = rampart(&server, &token, &["kms", "public-key", "alias/release"]);
        ok(&out, "public-key");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN PUBLIC KEY-----"));

        // A symmetric key: encrypt with a context, decrypt, wrong context refused.
        let out = rampart(&server, &token, &["--json", "kms", "create", "--description", "orders"]);
        ok(&out, "create");
        let key = json(&out)["key_id"].as_str().unwrap().to_owned();
        ok(&rampart(&server, &token, &["kms", "alias", "set", "orders", &key]), "alias set");
        // A symmetric key has no public key: refused as AWS refuses it.
        let out = rampart(&server, &token, &["kms", "public-key", "alias/orders"]);
        assert_eq!(out.status.code(), Some(6), "invalid request: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no public key"), "{out:?}");
        let secret = dir.join("secret.txt");
        std::fs::write(&secret, b"card 4111").unwrap();
        let out = rampart(&server, &token, &["kms", "encrypt", "alias/orders", "--in", secret.to_str().unwrap(), "--context", "order=42"]);
        ok(&out, "encrypt");
        let blob = dir.join("secret.blob");
        std::fs::write(&blob, &out.stdout).unwrap();
        let out = rampart(&server, &token, &["kms", "decrypt", "--in", blob.to_str().unwrap(), "--context", "order=42"]);
        ok(&out, "decrypt");
        assert_eq!(out.stdout, b"card 4111");
        let out = rampart(&server, &token, &["kms", "decrypt", "--in", blob.to_str().unwrap(), "--context", "order=43"]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Invalid ciphertext"));

        // A key policy that denies the user decryption; the user may still encrypt.
        let out = rampart(&server, &token, &["--json", "kms", "show", &key]);
        let arn = json(&out)["arn"].as_str().unwrap().to_owned();
        let account = arn.split(':').nth(4).unwrap().to_owned();
        let policy = dir.join("policy.json");
        std::fs::write(&policy, format!(r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{account}:user/kmsuser"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#)).unwrap();
        ok(&rampart(&server, &token, &["kms", "policy", "put", &key, policy.to_str().unwrap()]), "policy put");
        let out = rampart(&server, &token, &["kms", "policy", "get", &key]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("user/kmsuser"));
        ok(&rampart(&server, &user_token, &["kms", "encrypt", &key, "--in", secret.to_str().unwrap()]), "user encrypts");
        let out = rampart(&server, &user_token, &["kms", "decrypt", "--in", blob.to_str().unwrap(), "--context", "order=42"]);
        assert!(!out.status.success(), "the policy denies the user decryption");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Access denied"), "{}", String::from_utf8_lossy(&out.stderr));
        let out = rampart(&server, &user_token, &["kms", "disable", &key]);
        assert!(!out.status.success(), "a customer user may not manage keys");

        // Rotation, listing, deletion scheduling.
        let out = rampart(&server, &token, &["--json", "kms", "rotation", &key, "--period-days", "90"]);
        ok(&out, "rotation");
        assert_eq!(json(&out)["rotation_period_days"], 90);
        ok(&rampart(&server, &token, &["kms", "rotate", &key]), "rotate");
        let out = rampart(&server, &token, &["kms", "list"]);
        ok(&out, "list");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&key));
        let out = rampart(&server, &token, &["--json", "kms", "alias", "list"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("alias/orders"));
        ok(&rampart(&server, &token, &["kms", "disable", &key]), "disable");
        let out = rampart(&server, &token, &["--json", "kms", "schedule-deletion", &key, "--days", "7"]);
        ok(&out, "schedule");
        assert_eq!(json(&out)["state"], "PendingDeletion");
        assert!(json(&out)["deletion_date"].is_string());
        let out = rampart(&server, &token, &["--json", "kms", "cancel-deletion", &key]);
        assert_eq!(json(&out)["state"], "Disabled");
        server
    })
    .await;
    result.unwrap().stop().await;
}
