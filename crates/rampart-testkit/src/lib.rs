//! Test support: [`TestServer`] boots a whole Rampart node on `127.0.0.1:0`
//! with a temporary data directory (embedded SQLite, or PostgreSQL on a
//! throw-away database) and hands out HTTPS clients that trust its CA, plus
//! helpers to log in as any role. Used by every crate's integration tests
//! and by the benchmarks; never by production code.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_core::Role;
use rampart_core::config::Config;
use rampart_server::Running;
use rampart_store::testing::TestPostgres;
use reqwest::{Client, Method, RequestBuilder, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// A running node and what tests need to talk to it.
#[derive(Debug)]
pub struct TestServer {
    pub running: Option<Running>,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub client: Client,
    pub admin: Credentials,
    pub ca_pem: Vec<u8>,
    dir: tempfile::TempDir,
    postgres: Option<TestPostgres>,
}

/// A user's credentials as a test knows them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// Raw TOTP secret, when enrolled.
    pub totp_secret: Option<Vec<u8>>,
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub creds: Credentials,
    pub token: String,
    pub tenant_id: Option<String>,
}

/// Skips a test that needs a tool the machine lacks: prints a loud notice
/// and returns `true`, unless `RAMPART_REQUIRE_TOOLS` is set (as in CI), in
/// which case the missing tool fails the test.
pub fn skip_without(missing: &str, install_hint: &str) -> bool {
    assert!(
        std::env::var_os("RAMPART_REQUIRE_TOOLS").is_none(),
        "RAMPART_REQUIRE_TOOLS is set but {missing} ({install_hint})"
    );
    eprintln!("\n*** SKIPPED: {missing} ({install_hint}; `cargo xtask test` installs it)\n");
    true
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The TOTP code for `secret`, `steps` 30-second steps from now.
pub fn totp_code(secret: &[u8], steps: i64) -> String {
    let t = unix_now().saturating_add_signed(steps * 30);
    rampart_auth::totp::code_at(secret, t).expect("totp").expose_secret().to_owned()
}

/// `rampart serve` for a test that runs the binary as a child process
/// (`bin` is the test's `env!("CARGO_BIN_EXE_rampart")`): the HTTPS API, the
/// syslog listeners and the SSH bastion all on ephemeral loopback ports, so
/// test nodes run side by side and never contend for 8443, 5514, 6514 or
/// 2222. The caller adds `--data-dir`, its own environment and its stdio.
pub fn serve_command(bin: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("RAMPART_BASTION__LISTEN", "127.0.0.1:0")
        .env("RAMPART_INGEST__UDP", "127.0.0.1:0")
        .env("RAMPART_INGEST__TCP", "127.0.0.1:0")
        .env("RAMPART_INGEST__TLS", "127.0.0.1:0");
    cmd
}

/// Waits until the `rampart serve` child whose data directory is `data`
/// answers `/healthz` over HTTPS, for at most 30 seconds. Returns its
/// `client.json` (the URL, the syslog addresses) and a client that trusts
/// the node's CA.
pub async fn wait_until_serving(data: &std::path::Path) -> (Value, Client) {
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "node did not start");
        if let Some(info) =
            std::fs::read(data.join("client.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            let client = client_for(&std::fs::read(data.join("tls/ca.pem")).expect("the node's CA"));
            let url = info["url"].as_str().unwrap_or_default().to_owned();
            if client.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                return (info, client);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A `rampart serve` child process on ephemeral ports (see
/// [`serve_command`]), killed and waited for when dropped.
#[derive(Debug)]
pub struct ServedNode {
    pub child: std::process::Child,
    /// The HTTPS API's base URL.
    pub url: String,
    /// The bound syslog listeners from `client.json` (`udp`, `tcp`, `tls`).
    pub syslog: Value,
    /// A client that trusts the node's CA.
    pub client: Client,
}

impl Drop for ServedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServedNode {
    /// `GET path` with `token`, as JSON; panics when that fails (test support).
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let resp = self.client.get(format!("{}{path}", self.url)).bearer_auth(token).send().await.expect("GET");
        resp.json().await.expect("a JSON body")
    }

    /// Starts `bin` (the test's `env!("CARGO_BIN_EXE_rampart")`) on the data
    /// directory `data`, logging warnings only, and waits until it serves.
    // The child is killed and waited for by the drop, not here.
    #[allow(clippy::zombie_processes)]
    pub async fn start(bin: &str, data: &std::path::Path) -> ServedNode {
        let child = serve_command(bin)
            .arg("--data-dir")
            .arg(data)
            .env("RAMPART_LOG__LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn rampart serve");
        let (info, client) = wait_until_serving(data).await;
        let url = info["url"].as_str().expect("url in client.json").to_owned();
        ServedNode { child, url, syslog: info["syslog"].clone(), client }
    }
}

/// Logs in as the bootstrap administrator of the `rampart serve` child
/// whose data directory is `data` (its `bootstrap-admin.json`, with the
/// TOTP code of this moment) and returns the session token.
pub async fn bootstrap_admin_token(client: &Client, url: &str, data: &std::path::Path) -> String {
    let boot: Value =
        serde_json::from_slice(&std::fs::read(data.join("bootstrap-admin.json")).expect("bootstrap-admin.json"))
            .expect("bootstrap-admin.json is JSON");
    let secret = data_encoding::BASE32_NOPAD
        .decode(boot["totp_secret"].as_str().unwrap_or_default().as_bytes())
        .expect("the bootstrap TOTP secret");
    let body = json!({"username": boot["username"], "password": boot["password"], "totp_code": totp_code(&secret, 0)});
    let resp: Value = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    resp["token"].as_str().unwrap_or_else(|| panic!("admin login: {resp}")).to_owned()
}

/// An API token named `name` of the bootstrap administrator (see
/// [`bootstrap_admin_token`]). Unlike a login, it survives the node's
/// restarts, which crash tests need.
pub async fn bootstrap_api_token(client: &Client, url: &str, data: &std::path::Path, name: &str) -> String {
    let session = bootstrap_admin_token(client, url, data).await;
    let created: Value = client
        .post(format!("{url}/api/v1/tokens"))
        .bearer_auth(&session)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("create token")
        .json()
        .await
        .expect("token answer");
    created["token"].as_str().unwrap_or_else(|| panic!("token: {created}")).to_owned()
}

/// A default test configuration rooted in `dir`, listening on an ephemeral port.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config { data_dir: dir.join("data"), ..Config::default() };
    config.server.listen = "127.0.0.1:0".parse().expect("addr");
    config.bastion.listen = "127.0.0.1:0".parse().expect("addr");
    config.server.shutdown_grace_secs = 5;
    // Syslog on ephemeral ports too, so test nodes never contend for 5514.
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    config.ingest.udp = rampart_core::config::Listen::On(any);
    config.ingest.tcp = rampart_core::config::Listen::On(any);
    config.ingest.tls = rampart_core::config::Listen::On(any);
    config
}

/// An HTTPS client that trusts only `ca_pem`.
pub fn client_for(ca_pem: &[u8]) -> Client {
    let ca = reqwest::Certificate::from_pem(ca_pem).expect("CA certificate");
    Client::builder().tls_certs_only([ca]).timeout(std::time::Duration::from_secs(30)).build().expect("client")
}

impl TestServer {
    /// A node on embedded SQLite.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A node on embedded SQLite, with the configuration adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        Self::boot(dir, config, None).await
    }

    /// A node on a throw-away PostgreSQL database, or `None` (skipped loudly)
    /// where no PostgreSQL server is reachable.
    pub async fn start_postgres() -> Option<TestServer> {
        Self::start_postgres_with(|_| {}).await
    }

    /// [`TestServer::start_postgres`] with the configuration adjusted first.
    pub async fn start_postgres_with(adjust: impl FnOnce(&mut Config)) -> Option<TestServer> {
        let pg = TestPostgres::create().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        config.database.url = Some(pg.url().to_owned());
        adjust(&mut config);
        Some(Self::boot(dir, config, Some(pg)).await)
    }

    /// The PostgreSQL database this node owns, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.postgres.as_ref().map(TestPostgres::url)
    }

    /// Another node of this node's deployment, started as an operator adds
    /// one: its own data directory holding a copy of this node's `secrets/`
    /// (and, for the test, its bootstrap credentials), on the same
    /// PostgreSQL database, which this node drops when it stops.
    pub async fn join(&self, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let url = self.database_url().expect("only a node on PostgreSQL has others join it").to_owned();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        config.database.url = Some(url);
        adjust(&mut config);
        let (from, to) = (self.data_dir(), config.data_dir.clone());
        let secrets = to.join("secrets");
        std::fs::create_dir_all(&secrets).expect("secrets dir");
        for entry in std::fs::read_dir(from.join("secrets")).expect("secrets") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), secrets.join(entry.file_name())).expect("copy a secret");
        }
        let bootstrap = self.running.as_ref().expect("a running node").data_dir.bootstrap_path();
        let name = bootstrap.file_name().expect("a file name");
        std::fs::copy(&bootstrap, to.join(name)).expect("copy the bootstrap credentials");
        Self::boot(dir, config, None).await
    }

    async fn boot(dir: tempfile::TempDir, config: Config, postgres: Option<TestPostgres>) -> TestServer {
        let running = rampart_server::start(config).await.expect("server start");
        let url = format!("https://{}", running.addr);
        let ca_pem = std::fs::read(running.data_dir.tls().ca_cert).expect("ca.pem");
        let client = client_for(&ca_pem);
        let boot: Value =
            serde_json::from_slice(&std::fs::read(running.data_dir.bootstrap_path()).expect("bootstrap file"))
                .expect("bootstrap json");
        let secret =
            data_encoding::BASE32_NOPAD.decode(boot["totp_secret"].as_str().expect("secret").as_bytes()).expect("b32");
        let admin = Credentials {
            username: boot["username"].as_str().expect("username").to_owned(),
            password: boot["password"].as_str().expect("password").to_owned(),
            totp_secret: Some(secret),
        };
        TestServer { running: Some(running), url, client, admin, ca_pem, dir, postgres }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A request to `path` with an optional bearer token.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.url));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// `POST /api/v1/auth/login`.
    /// `GET path` with a bearer token, answered with JSON (any status).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.request(Method::GET, path, Some(token)).send().await.expect("request").json().await.expect("a JSON answer")
    }

    pub async fn login(&self, username: &str, password: &str, code: Option<&str>) -> Response {
        let mut body = json!({ "username": username, "password": password });
        if let Some(c) = code {
            body["totp_code"] = json!(c);
        }
        self.request(Method::POST, "/api/v1/auth/login", None).json(&body).send().await.expect("login request")
    }

    /// Logs in as the bootstrap admin with the code of the step `steps` from now.
    pub async fn admin_session_at(&self, steps: i64) -> Session {
        let secret = self.admin.totp_secret.as_deref().expect("admin totp");
        let resp = self.login(&self.admin.username, &self.admin.password, Some(&totp_code(secret, steps))).await;
        assert_eq!(resp.status(), 200, "admin login: {}", resp.text().await.unwrap_or_default());
        let body: Value = resp.json().await.expect("json");
        let token = body["token"].as_str().expect("token").to_owned();
        let me: Value = self
            .request(Method::GET, "/api/v1/auth/whoami", Some(&token))
            .send()
            .await
            .expect("whoami")
            .json()
            .await
            .expect("json");
        Session {
            id: me["user_id"].as_str().expect("id").to_owned(),
            creds: self.admin.clone(),
            token,
            tenant_id: None,
        }
    }

    /// Logs in as the bootstrap admin (uses the current step's code once).
    pub async fn admin_session(&self) -> Session {
        self.admin_session_at(0).await
    }

    /// Creates a tenant and returns its id.
    pub async fn create_tenant(&self, admin: &Session, name: &str) -> String {
        let resp = self
            .request(Method::POST, "/api/v1/tenants", Some(&admin.token))
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("create tenant");
        assert_eq!(resp.status(), 201, "create tenant: {}", resp.text().await.unwrap_or_default());
        resp.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned()
    }

    /// Creates a user with `role` (in `tenant` for customer roles), enrols
    /// TOTP where the role needs it, and logs them in.
    pub async fn session_for(&self, admin: &Session, username: &str, role: Role, tenant: Option<&str>) -> Session {
        let password = format!("pw-{username}-long-enough");
        let resp = self
            .request(Method::POST, "/api/v1/users", Some(&admin.token))
            .json(&json!({ "username": username, "role": role, "tenant_id": tenant, "password": password }))
            .send()
            .await
            .expect("create user");
        assert_eq!(resp.status(), 201, "create {username}: {}", resp.text().await.unwrap_or_default());
        let id = resp.json::<Value>().await.expect("json")["user"]["id"].as_str().expect("id").to_owned();
        let mut creds = Credentials { username: username.to_owned(), password, totp_secret: None };
        let first: Value = self.login(username, &creds.password, None).await.json().await.expect("json");
        let mut token = first["token"].as_str().unwrap_or_else(|| panic!("login {username}: {first}")).to_owned();
        if first["enrollment_required"] == json!(true) {
            let e: Value = self
                .request(Method::POST, "/api/v1/auth/totp/enroll", Some(&token))
                .send()
                .await
                .expect("enroll")
                .json()
                .await
                .expect("json");
            let secret =
                data_encoding::BASE32_NOPAD.decode(e["secret"].as_str().expect("secret").as_bytes()).expect("b32");
            let resp = self
                .request(Method::POST, "/api/v1/auth/totp/confirm", Some(&token))
                .json(&json!({ "code": totp_code(&secret, 0) }))
                .send()
                .await
                .expect("confirm");
            assert_eq!(resp.status(), 204, "confirm: {}", resp.text().await.unwrap_or_default());
            // The confirming code's step is spent; the next step's code is
            // within the accepted skew.
            let resp = self.login(username, &creds.password, Some(&totp_code(&secret, 1))).await;
            assert_eq!(resp.status(), 200, "login after enrolment: {}", resp.text().await.unwrap_or_default());
            token = resp.json::<Value>().await.expect("json")["token"].as_str().expect("token").to_owned();
            creds.totp_secret = Some(secret);
        }
        Session { id, creds, token, tenant_id: tenant.map(str::to_owned) }
    }

    /// Creates an access key pair for `session`'s user: (id, secret).
    pub async fn access_key(&self, session: &Session) -> (String, String) {
        let k: Value = self
            .request(Method::POST, "/api/v1/access-keys", Some(&session.token))
            .json(&json!({}))
            .send()
            .await
            .expect("create access key")
            .json()
            .await
            .expect("json");
        let field = |name: &str| k[name].as_str().unwrap_or_else(|| panic!("access key: {k}")).to_owned();
        (field("access_key_id"), field("secret_access_key"))
    }

    /// Stops the node gracefully and drops its PostgreSQL database, if any.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("shutdown");
        }
        if let Some(pg) = self.postgres.take() {
            pg.drop_db().await;
        }
    }
}

/// Captured log output of the whole process (every target, TRACE level).
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capturing subscriber for this process. Call once, first,
    /// in a test binary of its own.
    pub fn install() -> LogCapture {
        let capture = LogCapture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_ansi(false)
            // Timestamps' microsecond fractions would look like TOTP codes.
            .without_time()
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
