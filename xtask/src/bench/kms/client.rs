//! The KMS client of the benchmark: one endpoint (Rampart over HTTPS or
//! moto over plain HTTP), its credentials and key, each request signed with
//! SigV4 at the moment it is sent; plus the one-off setup on a Rampart node
//! (a tenant, a `customer_admin` with TOTP, an access key) and the request
//! bodies of the three measured operations.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::super::node::{Node, unix_now};
use super::super::sigv4::{self, Credentials};

/// The region both servers answer for (Rampart's default `kms.region`).
const REGION: &str = "us-east-1";
const JSON_1_1: &str = "application/x-amz-json-1.1";
/// The password of the benchmark's KMS user; it never leaves loopback.
const PASSWORD: &str = "kms benchmark password";

/// The measured operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    GenerateDataKey,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::Encrypt, Op::Decrypt, Op::GenerateDataKey];

    pub fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "Encrypt",
            Op::Decrypt => "Decrypt",
            Op::GenerateDataKey => "GenerateDataKey",
        }
    }
}

/// A KMS endpoint ready for load: where it is, who calls it, which key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL requests are posted to (`https://127.0.0.1:PORT/`).
    url: String,
    /// The `host` header as the HTTP client sends it, which is signed.
    host: String,
    creds: Credentials,
    /// The HTTPS CA to trust, for Rampart; none for plain-HTTP moto.
    ca: Option<reqwest::Certificate>,
    pub key_id: String,
}

impl Endpoint {
    /// An endpoint at `base` (scheme, host and port) with `creds`; the key
    /// is created by [`Endpoint::create_key`].
    pub fn new(base: &str, creds: Credentials, ca: Option<reqwest::Certificate>) -> Result<Endpoint> {
        let host = base.split_once("://").map(|(_, h)| h).context("endpoint URL without scheme")?;
        Ok(Endpoint {
            url: format!("{}/", base.trim_end_matches('/')),
            host: host.trim_end_matches('/').to_owned(),
            creds,
            ca,
            key_id: String::new(),
        })
    }

    /// A client with its own keep-alive connection, as one worker of an
    /// application would hold. HTTP/1.1 only, like the AWS SDKs and like
    /// moto, so that both servers see the same shape of traffic.
    pub fn client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(600))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = &self.ca {
            builder = builder.tls_certs_only([ca.clone()]);
        }
        Ok(builder.build()?)
    }

    /// Sends one KMS call, signed now, and returns the response body; a
    /// status other than 200 is an error carrying the server's answer.
    pub async fn call(&self, client: &reqwest::Client, op: &str, body: &str) -> Result<Vec<u8>> {
        let date = sigv4::amz_date(i64::try_from(unix_now()).unwrap_or(0));
        let target = format!("TrentService.{op}");
        let headers =
            [("content-type", JSON_1_1), ("host", &self.host), ("x-amz-date", &date), ("x-amz-target", &target)];
        let request = sigv4::Request { method: "POST", path: "/", headers: &headers, body: body.as_bytes() };
        let authorization = sigv4::authorization(&request, &date, REGION, "kms", &self.creds);
        let resp = client
            .post(&self.url)
            .header("content-type", JSON_1_1)
            .header("x-amz-date", &date)
            .header("x-amz-target", &target)
            .header("authorization", authorization)
            .body(body.to_owned())
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if status != reqwest::StatusCode::OK {
            bail!("{op} answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(bytes.to_vec())
    }

    async fn call_json(&self, client: &reqwest::Client, op: &str, body: &Value) -> Result<Value> {
        let bytes = self.call(client, op, &body.to_string()).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Creates the symmetric key the workload uses.
    pub async fn create_key(&mut self) -> Result<()> {
        let client = self.client()?;
        let created = self
            .call_json(&client, "CreateKey", &json!({"Description": "xtask bench kms", "KeyUsage": "ENCRYPT_DECRYPT"}))
            .await?;
        self.key_id = created["KeyMetadata"]["KeyId"].as_str().with_context(|| format!("CreateKey: {created}"))?.into();
        Ok(())
    }

    /// The request bodies of `op`: one for Encrypt and GenerateDataKey, and
    /// for Decrypt one per ciphertext of `blobs` distinct ones, made here by
    /// real Encrypt calls. Each body is checked once against its answer
    /// (the round trip gives the plaintext back, a data key has 32 bytes),
    /// so the timed loop can trust a 200.
    pub async fn bodies(&self, op: Op, blobs: usize) -> Result<Vec<String>> {
        let client = self.client()?;
        let plaintext = data_encoding::BASE64.encode(&plaintext());
        let encrypt = json!({"KeyId": self.key_id, "Plaintext": plaintext, "EncryptionContext": context()});
        match op {
            Op::Encrypt => Ok(vec![encrypt.to_string()]),
            Op::GenerateDataKey => {
                let body = json!({"KeyId": self.key_id, "KeySpec": "AES_256", "EncryptionContext": context()});
                let answer = self.call_json(&client, op.name(), &body).await?;
                let key = data_encoding::BASE64.decode(answer["Plaintext"].as_str().unwrap_or_default().as_bytes())?;
                if key.len() != 32 || answer["CiphertextBlob"].as_str().is_none() {
                    bail!("GenerateDataKey gave a {}-byte key: {answer}", key.len());
                }
                Ok(vec![body.to_string()])
            }
            Op::Decrypt => {
                let mut bodies = Vec::with_capacity(blobs);
                for _ in 0..blobs.max(1) {
                    let sealed = self.call_json(&client, "Encrypt", &encrypt).await?;
                    let blob = sealed["CiphertextBlob"].as_str().with_context(|| format!("Encrypt: {sealed}"))?;
                    let body = json!({"CiphertextBlob": blob, "EncryptionContext": context()});
                    let opened = self.call_json(&client, "Decrypt", &body).await?;
                    if opened["Plaintext"].as_str() != Some(plaintext.as_str()) {
                        bail!("Decrypt did not give the plaintext back: {opened}");
                    }
                    bodies.push(body.to_string());
                }
                Ok(bodies)
            }
        }
    }
}

/// The 256-byte plaintext: arbitrary, fixed so runs compare.
fn plaintext() -> Vec<u8> {
    (0..=255u8).collect()
}

/// A realistic encryption context: what envelope-encrypting services send.
fn context() -> Value {
    json!({"tenant": "bench", "purpose": "xtask-bench-kms", "object": "s3://bench/objects/0001"})
}

/// On a fresh node: a tenant, a `customer_admin` in it (enrolled in TOTP,
/// as the role requires) and an access key for that user.
pub async fn rampart_credentials(node: &Node) -> Result<Credentials> {
    let admin = node.admin_token().await?;
    let post =
        |path: &'static str, token: Option<&str>, body: Value| post_json(node, path, token.map(str::to_owned), body);
    let tenant = post("/api/v1/tenants", Some(&admin), json!({"name": "kms-bench"})).await?;
    let user =
        json!({"username": "kms-bench", "role": "customer_admin", "tenant_id": tenant["id"], "password": PASSWORD});
    post("/api/v1/users", Some(&admin), user).await?;
    let login = |code: Option<String>| {
        let mut body = json!({"username": "kms-bench", "password": PASSWORD});
        if let Some(code) = code {
            body["totp_code"] = json!(code);
        }
        post("/api/v1/auth/login", None, body)
    };
    let first = login(None).await?;
    let mut token = first["token"].as_str().with_context(|| format!("login: {first}"))?.to_owned();
    if first["enrollment_required"] == json!(true) {
        let enrolled = post("/api/v1/auth/totp/enroll", Some(&token), json!({})).await?;
        let secret = data_encoding::BASE32_NOPAD
            .decode(enrolled["secret"].as_str().with_context(|| format!("enroll: {enrolled}"))?.as_bytes())?;
        let code = |at: u64| {
            rampart_auth::totp::code_at(&secret, at).map(|c| secrecy::ExposeSecret::expose_secret(&c).to_owned())
        };
        post("/api/v1/auth/totp/confirm", Some(&token), json!({"code": code(unix_now())?})).await?;
        // The confirming code's step is spent; the next step's code is
        // within the skew the server accepts.
        let second = login(Some(code(unix_now() + 30)?)).await?;
        token = second["token"].as_str().with_context(|| format!("login after enrolment: {second}"))?.to_owned();
    }
    let key = post("/api/v1/access-keys", Some(&token), json!({})).await?;
    let field = |name: &str| key[name].as_str().map(str::to_owned).with_context(|| format!("access key: {key}"));
    Ok(Credentials { id: field("access_key_id")?, secret: SecretString::from(field("secret_access_key")?) })
}

/// Posts JSON to a node's API, with a bearer token if given; any status but
/// 2xx is an error carrying the answer.
async fn post_json(node: &Node, path: &str, token: Option<String>, body: Value) -> Result<Value> {
    let mut rb = node.client.post(format!("{}{path}", node.url)).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{path} answered {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}
