//! What every benchmark shares: building the release binary, a `rampart
//! serve` child process in its own data directory (with an optional
//! configuration file and environment), logging in as its bootstrap
//! administrator, and the small statistics and progress-bar helpers.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.join("target")).unwrap_or_else(|| "target".into())
    })
}

/// Builds `target/release/rampart` (a no-op when it is up to date) and
/// returns its path.
pub fn build_release() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo).args(["build", "--release", "-p", "rampart"]).status().context("cargo build")?;
    if !status.success() {
        bail!("release build failed");
    }
    Ok(target_dir().join("release").join("rampart"))
}

/// How to start a node beyond the defaults.
#[derive(Debug, Default)]
pub struct NodeOptions {
    /// A TOML configuration file for `rampart serve --config`.
    pub config: Option<PathBuf>,
    /// Extra environment for the server process.
    pub env: Vec<(OsString, OsString)>,
}

/// A `rampart serve` child process in its own data directory.
#[derive(Debug)]
pub struct Node {
    child: Child,
    pub url: String,
    pub client: reqwest::Client,
    pub data: PathBuf,
    log: PathBuf,
}

impl Node {
    /// Starts a node with the default configuration; returns it with the
    /// time until `/healthz` answered.
    pub async fn start(binary: &Path, work: &Path) -> Result<(Node, Duration)> {
        Self::start_with(binary, work, &NodeOptions::default()).await
    }

    /// Starts a node as `options` say. Its standard error goes to a file in
    /// `work`, whose end is shown if the node does not come up, so that a
    /// configuration mistake reads as itself rather than as a timeout.
    pub async fn start_with(binary: &Path, work: &Path, options: &NodeOptions) -> Result<(Node, Duration)> {
        let data = work.join("rampart-data");
        let log = work.join("rampart-serve.log");
        let _ = std::fs::remove_file(data.join("client.json"));
        let stderr = std::fs::File::create(&log).context("creating the server log")?;
        let started = Instant::now();
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data);
        if let Some(config) = &options.config {
            cmd.arg("--config").arg(config);
        }
        let child = cmd
            .env("RAMPART_LOG__LEVEL", "warn")
            // Every listener on an ephemeral port, beside whatever else runs.
            .env("RAMPART_BASTION__LISTEN", "127.0.0.1:0")
            .env("RAMPART_INGEST__UDP", "127.0.0.1:0")
            .env("RAMPART_INGEST__TCP", "127.0.0.1:0")
            .env("RAMPART_INGEST__TLS", "127.0.0.1:0")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("spawning rampart serve")?;
        let mut node = Node { child, url: String::new(), client: reqwest::Client::new(), data, log };
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                bail!("rampart serve exited ({status}):\n{}", node.log_tail());
            }
            if started.elapsed() > Duration::from_secs(30) {
                let tail = node.log_tail();
                node.stop();
                bail!("rampart serve did not answer within 30 s:\n{tail}");
            }
            if let Some(info) =
                std::fs::read(node.data.join("client.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                node.url = info["url"].as_str().unwrap_or_default().to_owned();
                node.client = reqwest::Client::builder().tls_certs_only([node.ca()?]).build()?;
                if node.client.get(format!("{}/healthz", node.url)).send().await.is_ok_and(|r| r.status() == 200) {
                    return Ok((node, started.elapsed()));
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The node's CA certificate, for clients that must trust it.
    pub fn ca(&self) -> Result<reqwest::Certificate> {
        let pem = std::fs::read(self.data.join("tls/ca.pem")).context("reading the node's CA")?;
        Ok(reqwest::Certificate::from_pem(&pem)?)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The server process's resident memory now, in MB.
    pub fn rss_mb(&self) -> Result<f64> {
        rss_mb(self.child.id())
    }

    /// Logs in as the bootstrap administrator (password and TOTP from the
    /// data directory's bootstrap file) and returns the bearer token.
    pub async fn admin_token(&self) -> Result<String> {
        let boot: Value = serde_json::from_slice(&std::fs::read(self.data.join("bootstrap-admin.json"))?)?;
        let secret = data_encoding::BASE32_NOPAD.decode(boot["totp_secret"].as_str().unwrap_or_default().as_bytes())?;
        let code = rampart_auth::totp::code_at(&secret, unix_now())?;
        let login: Value = self
            .client
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&json!({"username": "admin", "password": boot["password"], "totp_code": secrecy::ExposeSecret::expose_secret(&code)}))
            .send()
            .await?
            .json()
            .await?;
        Ok(login["token"].as_str().with_context(|| format!("admin login: {login}"))?.to_owned())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node with SIGTERM, as an operator would, and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    /// A benchmark that fails part-way must not leave servers running: kill
    /// the node unless [`Node::stop`] has already reaped it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's resident memory now, in MB.
pub fn rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
