//! The HTTPS client the CLI commands share: where the server is, which CA
//! to trust, the stored session token, and how API errors become messages
//! and exit codes.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{Global, exit};

/// An error answer from the API, with its problem document.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub problem: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let title = self.problem["title"].as_str().unwrap_or_else(|| self.status.canonical_reason().unwrap_or("error"));
        match self.problem["detail"].as_str() {
            Some(detail) => write!(f, "{title} ({}): {detail}", self.status.as_u16()),
            None => write!(f, "{title} ({})", self.status.as_u16()),
        }
    }
}

impl std::error::Error for ApiFailure {}

/// An error that carries its own exit code (offline commands: usage,
/// invalid input).
#[derive(Debug)]
pub struct CliExit {
    pub code: u8,
    pub message: String,
}

impl CliExit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliExit { code, message: message.into() }
    }
}

impl std::fmt::Display for CliExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliExit {}

/// The exit code for an error, by its kind.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(e) = err.downcast_ref::<CliExit>() {
        return e.code;
    }
    if let Some(f) = err.downcast_ref::<ApiFailure>() {
        return match f.status.as_u16() {
            401 | 403 | 429 => exit::DENIED,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            400 | 413 | 415 | 422 => exit::INVALID,
            s if s >= 500 => exit::UNAVAILABLE,
            _ => exit::FAILURE,
        };
    }
    if err.chain().any(|e| e.downcast_ref::<reqwest::Error>().is_some_and(|r| r.is_connect() || r.is_timeout())) {
        return exit::UNAVAILABLE;
    }
    exit::FAILURE
}

/// Where the CLI keeps session tokens: `$RAMPART_CONFIG_DIR` or the user's
/// config directory, `rampart/credentials.json`, mode 0600.
pub fn credentials_path() -> Result<PathBuf> {
    let dir = match std::env::var_os("RAMPART_CONFIG_DIR") {
        Some(d) => PathBuf::from(d),
        None => dirs::config_dir().context("no configuration directory for this user")?.join("rampart"),
    };
    Ok(dir.join("credentials.json"))
}

fn read_credentials() -> Value {
    credentials_path()
        .ok()
        .and_then(|p| fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({ "servers": {} }))
}

/// Stores (or with `None`, forgets) the session token for `server`.
pub fn store_token(server: &str, entry: Option<Value>) -> Result<()> {
    let path = credentials_path()?;
    let mut all = read_credentials();
    match entry {
        Some(e) => all["servers"][server] = e,
        None => {
            if let Some(map) = all["servers"].as_object_mut() {
                map.remove(server);
            }
        }
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec_pretty(&all)?);
    rampart_core::secret::write_private_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A connection to one Rampart server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    pub base: String,
    token: Option<String>,
}

fn data_dir(global: &Global) -> PathBuf {
    global.data_dir.clone().unwrap_or_else(|| PathBuf::from("./rampart-data"))
}

fn local_client_info(dir: &Path) -> Option<Value> {
    serde_json::from_slice(&fs::read(dir.join("client.json")).ok()?).ok()
}

impl ApiClient {
    /// Resolves server, CA and token from flags, environment, the local data
    /// directory and the credentials file, in that order.
    pub fn new(global: &Global) -> Result<ApiClient> {
        let dir = data_dir(global);
        let local = local_client_info(&dir);
        let base = global
            .server
            .clone()
            .or_else(|| local.as_ref().and_then(|l| l["url"].as_str().map(str::to_owned)))
            .unwrap_or_else(|| "https://127.0.0.1:8443".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let ca = global
            .ca_cert
            .clone()
            .or_else(|| local.as_ref().and_then(|l| l["ca_cert"].as_str().map(PathBuf::from)))
            .or_else(|| Some(dir.join("tls/ca.pem")).filter(|p| p.exists()));
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        if let Some(path) = ca {
            let pem = fs::read(&path).with_context(|| format!("reading CA certificate {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).context("parsing the CA certificate")?;
            builder = builder.tls_certs_only([cert]);
        }
        let token = std::env::var("RAMPART_TOKEN")
            .ok()
            .or_else(|| read_credentials()["servers"][&base]["token"].as_str().map(str::to_owned));
        Ok(ApiClient { http: builder.build().context("building the HTTPS client")?, base, token })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Sends a request; answers 2xx bodies as JSON (`Null` when empty) and
    /// turns anything else into an [`ApiFailure`].
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the response")?;
        if status.is_success() {
            return Ok(if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? });
        }
        let problem = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED && self.token.is_none() && path != "/api/v1/auth/login" {
            return Err(anyhow!(ApiFailure { status, problem })).context("not logged in: run `rampart login` first");
        }
        Err(anyhow!(ApiFailure { status, problem }))
    }

    /// A raw (non-JSON) body, for ledger tiles, keys and checkpoints, and
    /// session recordings (which need the token).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the response")?;
        if !status.is_success() {
            let problem = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(anyhow!(ApiFailure { status, problem }));
        }
        Ok(bytes.to_vec())
    }

    /// A GET whose body is read as a stream, bounded by `timeout` instead
    /// of the client's 60 seconds; a status other than success is the
    /// server's problem as an error.
    async fn open_stream(&self, path: &str, timeout: std::time::Duration) -> Result<reqwest::Response> {
        let mut rb = self.http.get(format!("{}{path}", self.base)).timeout(timeout);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let resp = rb.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.context("reading the response")?;
            let problem = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(anyhow!(ApiFailure { status, problem }));
        }
        Ok(resp)
    }

    /// Streams a (possibly large, slow) body into `file`, without the
    /// client's 60-second bound on the whole request; returns its length.
    pub async fn download(&self, path: &str, file: &Path) -> Result<u64> {
        use std::io::Write as _;
        let mut resp = self.open_stream(path, std::time::Duration::from_secs(24 * 3600)).await?;
        let mut out =
            std::io::BufWriter::new(fs::File::create(file).with_context(|| format!("creating {}", file.display()))?);
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await.context("reading the response")? {
            out.write_all(&chunk).with_context(|| format!("writing {}", file.display()))?;
            written += chunk.len() as u64;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(written)
    }

    /// Follows a body that streams for as long as the server keeps it open
    /// (a live session view), handing each chunk to `each` as it arrives.
    pub async fn follow(&self, path: &str, mut each: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut resp = self.open_stream(path, std::time::Duration::from_secs(7 * 24 * 3600)).await?;
        while let Some(chunk) = resp.chunk().await.context("the stream broke off")? {
            each(&chunk)?;
        }
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(Method::DELETE, path, None).await
    }

    /// The same client with another token (after login).
    pub fn with_token(self, token: String) -> ApiClient {
        ApiClient { token: Some(token), ..self }
    }
}
