//! The KMS root key sealed by Shamir shares, end to end with the real
//! binary: `rampart operator init` prints the shares once, `rampart serve`
//! starts sealed (health, login and the ledger work; every KMS call is
//! refused with the documented 503), `rampart operator unseal` with the
//! threshold of shares opens it, `rampart operator seal` closes it again,
//! and after a restart the node is sealed and the same shares decrypt what
//! was encrypted before. Hostile input to the unseal endpoint (garbage,
//! oversized bodies, shares of another init, floods) changes nothing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rampart_testkit::{client_for, totp_code};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A `rampart serve` child process, stopped when dropped.
struct Node {
    child: Child,
    url: String,
    client: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// SIGTERM, then wait: a graceful stop, as an operator would do it.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut rb = self.client.post(format!("{}{path}", self.url)).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut rb = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

async fn start(data: &Path) -> Node {
    let _ = std::fs::remove_file(data.join("client.json"));
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let child = rampart_testkit::serve_command(BIN)
        .arg("--data-dir")
        .arg(data)
        .env("RAMPART_KMS__SEAL", "shamir")
        .env("RAMPART_LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let mut node = Node { child, url: String::new(), client: reqwest::Client::new() };
    let started = Instant::now();
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
            panic!("the node exited ({status}):\n{log}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "node did not start");
        if let Some(info) =
            std::fs::read(data.join("client.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            node.client = client_for(&std::fs::read(data.join("tls/ca.pem")).unwrap());
            node.url = info["url"].as_str().unwrap().to_owned();
            if node.client.get(format!("{}/healthz", node.url)).send().await.is_ok_and(|r| r.status() == 200) {
                return node;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the CLI against `data` with `stdin` piped in.
fn cli(data: &Path, token: Option<&str>, seal: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RAMPART_CONFIG_DIR", data.with_extension("cli"))
        .env_remove("RAMPART_TOKEN")
        .env_remove("RAMPART_KMS__SEAL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("RAMPART_TOKEN", t);
    }
    if let Some(s) = seal {
        cmd.env("RAMPART_KMS__SEAL", s);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(o: &Output, what: &str) -> Value {
    assert!(o.status.success(), "{what}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

fn init(data: &Path) -> Vec<String> {
    let out = cli(data, None, Some("shamir"), &["--json", "operator", "init", "--shares", "3", "--threshold", "2"], "");
    let init = ok(&out, "operator init");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shown this once"), "the init warns");
    init["shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// An API token of the bootstrap administrator (it survives restarts).
async fn admin_token(node: &Node, data: &Path) -> String {
    let boot: Value = serde_json::from_slice(&std::fs::read(data.join("bootstrap-admin.json")).unwrap()).unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(boot["totp_secret"].as_str().unwrap().as_bytes()).unwrap();
    let login = json!({"username": "admin", "password": boot["password"], "totp_code": totp_code(&secret, 0)});
    let (status, session) = node.post("/api/v1/auth/login", None, &login).await;
    assert_eq!(status, 200, "login while sealed: {session}");
    let (status, created) = node.post("/api/v1/tokens", session["token"].as_str(), &json!({"name": "seal-e2e"})).await;
    assert_eq!(status, 201, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

fn assert_sealed_problem(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(body["type"], "urn:rampart:problem:kms-sealed", "{what}: {body}");
    assert!(body["detail"].as_str().unwrap().contains("rampart operator unseal"), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_serve_sealed_unseal_seal_restart_and_decrypt_again() {
    let work = tempfile::tempdir().unwrap();
    let data: PathBuf = work.path().join("data");

    // Init is refused unless the configuration asks for the Shamir seal.
    let refused = cli(&data, None, None, &["operator", "init"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("kms.seal"), "{refused:?}");
    let refused = cli(&data, None, Some("shamir"), &["operator", "init", "--threshold", "1"], "");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("threshold"), "{refused:?}");

    let shares = init(&data);
    assert_eq!(shares.len(), 3);
    let record = std::fs::read_to_string(data.join("secrets/kms-seal.json")).unwrap();
    for share in &shares {
        assert!(!record.contains(share.rsplit('-').next().unwrap()), "no share on disk");
    }
    let again = cli(&data, None, Some("shamir"), &["operator", "init"], "");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"), "{again:?}");
    let foreign = init(&work.path().join("other"));

    // A Shamir-sealed directory is not opened with the key-file seal.
    let wrong = rampart_testkit::serve_command(BIN)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("RAMPART_KMS__SEAL")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("kms.seal = \"shamir\""), "{wrong:?}");
    assert!(!data.join("secrets/kms-root.key").exists(), "no key file was created");

    // Sealed: everything else works, every KMS call is refused.
    let node = start(&data).await;
    let token = admin_token(&node, &data).await;
    let status = ok(&cli(&data, None, None, &["--json", "operator", "seal-status"], ""), "seal-status");
    assert_eq!(status, json!({"seal": "shamir", "sealed": true, "threshold": 2, "shares": 3, "progress": 0}));
    assert_eq!(node.get("/ledger/checkpoint", None).await.0, 200);
    let (s, body) = node.post("/api/v1/kms/keys", Some(&token), &json!({"description": "x"})).await;
    assert_sealed_problem(s, &body, "create while sealed");
    let (s, body) = node.get("/api/v1/kms/keys", Some(&token)).await;
    assert_sealed_problem(s, &body, "list while sealed");

    // Hostile input: nothing is counted.
    let (s, body) = node.post("/api/v1/operator/unseal", None, &json!({"share": "not a share"})).await;
    assert_eq!((s, body["type"].as_str()), (400, Some("urn:rampart:problem:invalid-share")), "{body}");
    let (s, _) = node.post("/api/v1/operator/unseal", None, &json!({"share": "A".repeat(8000)})).await;
    assert_eq!(s, 413, "oversized body");
    let (s, body) = node.post("/api/v1/operator/unseal", None, &json!({"share": foreign[0]})).await;
    assert_eq!((s, body["type"].as_str()), (422, Some("urn:rampart:problem:foreign-share")), "{body}");
    let (s, _) = node.post("/api/v1/operator/unseal", None, &json!({"share": shares[0], "extra": 1})).await;
    assert_eq!(s, 422, "unknown fields");
    assert_eq!(node.get("/api/v1/operator/seal-status", None).await.1["progress"], 0);

    // Unseal through the CLI, the share on standard input.
    let first = ok(&cli(&data, None, None, &["--json", "operator", "unseal"], &format!("{}\n", shares[0])), "unseal 1");
    assert_eq!((first["sealed"].clone(), first["progress"].clone()), (json!(true), json!(1)));
    let dup = cli(&data, None, None, &["operator", "unseal"], &format!("{}\n", shares[0]));
    assert_eq!(dup.status.code(), Some(5), "a duplicate share is a conflict: {dup:?}");
    assert!(String::from_utf8_lossy(&dup.stderr).contains("not counted twice"));
    let done = ok(&cli(&data, None, None, &["--json", "operator", "unseal"], &shares[2]), "unseal 2");
    assert_eq!(done["sealed"], false);

    // Unsealed: encrypt and decrypt.
    let (s, key) = node.post("/api/v1/kms/keys", Some(&token), &json!({"description": "sealed e2e"})).await;
    assert_eq!(s, 201, "{key}");
    let key_id = key["key_id"].as_str().unwrap();
    let (s, enc) = node
        .post(&format!("/api/v1/kms/keys/{key_id}/crypto/encrypt"), Some(&token), &json!({"data": b64(b"hello")}))
        .await;
    assert_eq!(s, 200, "{enc}");
    let decrypt = json!({"ciphertext": enc["ciphertext"]});
    let (s, dec) = node.post("/api/v1/kms/decrypt", Some(&token), &decrypt).await;
    assert_eq!((s, dec["plaintext"].as_str()), (200, Some(b64(b"hello").as_str())), "{dec}");

    // Seal: only with a token of an administrator; then refused again.
    let anonymous = cli(&data, None, None, &["operator", "seal"], "");
    assert_eq!(anonymous.status.code(), Some(3), "{anonymous:?}");
    let sealed = ok(&cli(&data, Some(&token), None, &["--json", "operator", "seal"], ""), "seal");
    assert_eq!(sealed["sealed"], true);
    let (s, body) = node.post("/api/v1/kms/decrypt", Some(&token), &decrypt).await;
    assert_sealed_problem(s, &body, "decrypt after seal");

    // Restart: sealed again; the other shares reopen the same root key.
    node.stop();
    let node = start(&data).await;
    assert_eq!(node.get("/api/v1/operator/seal-status", None).await.1["sealed"], true);
    let (s, body) = node.post("/api/v1/kms/decrypt", Some(&token), &decrypt).await;
    assert_sealed_problem(s, &body, "decrypt after restart");
    ok(&cli(&data, None, None, &["--json", "operator", "unseal"], &shares[1]), "unseal after restart 1");
    ok(&cli(&data, None, None, &["--json", "operator", "unseal"], &shares[2]), "unseal after restart 2");
    let (s, dec) = node.post("/api/v1/kms/decrypt", Some(&token), &decrypt).await;
    assert_eq!((s, dec["plaintext"].as_str()), (200, Some(b64(b"hello").as_str())), "{dec}");

    // A flood of attempts is cut off with 429 and Retry-After.
    let mut limited = None;
    for _ in 0..12 {
        let resp = node
            .client
            .post(format!("{}/api/v1/operator/unseal", node.url))
            .json(&json!({"share": "junk"}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            break;
        }
    }
    assert!(limited.is_some_and(|secs| secs.parse::<u64>().unwrap() > 0), "the flood was not limited");

    // Every attempt is in the audit trail, without any share text.
    let (s, events) = node.get("/api/v1/audit/events?limit=500", Some(&token)).await;
    assert_eq!(s, 200, "{events}");
    let text = events.to_string();
    for kind in ["kms.unseal.share_rejected", "kms.unseal.share_accepted", "kms.unsealed", "kms.sealed"] {
        assert!(text.contains(kind), "{kind} is recorded");
    }
    for share in shares.iter().chain(&foreign) {
        assert!(!text.contains(share.rsplit('-').next().unwrap()), "no share text in the audit trail");
    }
    node.stop();
}
