//! Starting and stopping a node: data directory, storage, services, router,
//! and the HTTPS listener with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use http::StatusCode;
use hyper_util::rt::TokioTimer;
use metrics_exporter_prometheus::PrometheusHandle;
use rampart_auth::{Auth, Bootstrap};
use rampart_core::audit::Audit;
use rampart_core::config::Config;
use rampart_ledger::Ledger;
use rampart_ledger::dblog::{DbLog, DbRead};
use rampart_ledger::reader::TileReader;
use rampart_store::{Backend, Store};

use crate::audit::LedgerSink;
use tokio::task::JoinHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::datadir::DataDir;
use crate::problem::ApiError;
use crate::routes::RouteSpec;

/// What every handler can reach: one `Arc`, so that the copy each request
/// takes (axum's `State`) costs one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub auth: Auth,
    pub store: Store,
    pub ledger: Ledger,
    pub kms: rampart_kms::service::Kms,
    /// The SSH bastion's targets and grants.
    pub bastion: rampart_bastion_ssh::Bastion,
    pub config: Arc<Config>,
    pub started: Instant,
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, rendered once at start.
    pub openapi: Arc<String>,
    /// Limits on unauthenticated unseal attempts.
    pub unseal_limiter: Arc<crate::api::operator::UnsealLimiter>,
    /// The log platform: source registry and what the listeners share.
    pub ingest: crate::ingest::Ingest,
    /// Detection (issue 6): the stage that evaluates Sigma rules over the ledger.
    pub detect: crate::detect::Detection,
    /// The ticket desk (`rampart-secops`). It is also the detection stage's
    /// `AlertSink`: see [`AppState::alert_sink`].
    pub tickets: rampart_secops::TicketService,
    /// The notification outbox (dead letters, re-drive).
    pub outbox: rampart_secops::notify::OutboxWorker,
    /// The SLA job and the outbox worker, stopped before storage closes.
    pub secops_jobs: Arc<[tokio::task::AbortHandle]>,
}

impl AppState {
    /// The ticket desk as an `AlertSink` (the detection stage gets it,
    /// behind the `detect.alert` record, in `build`).
    pub fn alert_sink(&self) -> Arc<dyn rampart_core::alert::AlertSink> {
        Arc::new(self.tickets.clone())
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).finish_non_exhaustive()
    }
}

/// A started node.
#[derive(Debug)]
pub struct Running {
    /// The address the HTTPS listener is bound to.
    pub addr: SocketAddr,
    /// The SSH bastion's listener, unless `bastion.enabled` is off.
    pub bastion: Option<rampart_bastion_ssh::Listening>,
    pub data_dir: DataDir,
    /// Every declared route, for tests and tooling.
    pub specs: Vec<RouteSpec>,
    /// The first administrator, when this start created one.
    pub bootstrap: Option<Bootstrap>,
    pub state: AppState,
    /// The syslog listeners and the addresses they are bound to.
    pub syslog: crate::ingest::Listeners,
    handle: Handle,
    task: JoinHandle<std::io::Result<()>>,
    grace: Duration,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish (up to
    /// the configured grace period), then closes storage.
    pub async fn shutdown(self) -> Result<()> {
        // Syslog first: what was read becomes durable while storage is open.
        self.syslog.shutdown(self.grace).await;
        if let Some(ssh) = &self.bastion {
            ssh.stop();
        }
        self.handle.graceful_shutdown(Some(self.grace));
        let served = self.task.await.context("server task")?;
        // Detection (issue 6): saves its cursor and state while the ledger is open.
        self.state.detect.shutdown().await;
        // A delivery cut here is leased, not lost: another worker (or
        // this node after a restart) takes it once the lease runs out.
        for job in self.state.secops_jobs.iter() {
            job.abort();
        }
        // Background jobs may still hold handles: closing commits what is
        // queued and lets the embedded log flush and release its lock.
        self.state.ledger.close().await;
        self.state.store.close().await;
        served.context("server")?;
        Ok(())
    }
}

/// Opens storage and builds the services and router, without listening.
pub async fn build(config: Config) -> Result<(Router, AppState, DataDir, Vec<RouteSpec>, Option<Bootstrap>)> {
    let data_dir = DataDir::prepare(&config.data_dir)?;
    crate::tls::ensure(&data_dir.tls(), &config.server.names).context("preparing TLS material")?;
    let root = data_dir.root_secret().context("loading the root secret")?;
    let store = match &config.database.url {
        Some(url) => Store::open_postgres(url, config.database.max_connections).await.context("opening PostgreSQL")?,
        None => Store::open_sqlite(&data_dir.sqlite_path(), config.database.max_connections)
            .await
            .context("opening the embedded database")?,
    };
    crate::tls::share_ca(&store, &root, &data_dir.tls(), &config.server.names)
        .await
        .context("sharing the deployment's certificate authority")?;
    let origin = match &config.ledger.origin {
        Some(o) => o.clone(),
        None => default_origin(&root),
    };
    let signer = data_dir.ledger_signer(&origin)?;
    let ledger = match store.backend() {
        // The embedded default: tiles in the data directory.
        Backend::Sqlite => Ledger::start(&data_dir.ledger_dir(), signer, &origin),
        // A shared database: every node appends to the one log in it.
        Backend::Postgres => {
            let log = DbLog::open(store.clone()).await.context("opening the ledger in the database")?;
            let reader = TileReader::from_raw(Arc::new(DbRead::new(store.clone())));
            Ledger::start_with(Box::new(log), reader, &data_dir.ledger_dir(), signer, &origin)
        }
    }
    .context("opening the ledger")?;
    crate::witness::spawn(ledger.clone(), &config.ledger.witnesses)?;
    crate::audit::reindex(&ledger, &store).await.context("indexing audit events from the ledger")?;
    let sink = Arc::new(LedgerSink::start(ledger.clone(), store.clone(), config.detect.enabled));
    let audit = Audit::new(sink.clone(), Duration::from_millis(config.audit.timeout_ms));
    let registry = crate::ingest::Registry::load(
        store.clone(),
        audit.clone(),
        config.ingest.unknown_sources,
        config.ingest.max_sources,
    )
    .await
    .context("loading the log source registry")?;
    // One pipeline, one ledger: ingested logs take the audit events' sink.
    // Detection (issue 6): every alert is recorded as a `detect.alert` ledger
    // event, then opens or joins a ticket on the desk.
    let (tickets, outbox, secops_jobs) = build_secops(&config, &store, &audit)?;
    let alert_sink: Arc<dyn rampart_core::alert::AlertSink> = Arc::new(crate::detect::RecordThenTicket::new(
        crate::detect::RecordingAlertSink::new(sink.clone()),
        Arc::new(tickets.clone()),
    ));
    let detect = crate::detect::Detection::start(
        &config.detect,
        ledger.clone(),
        sink.recent(),
        audit.clone(),
        alert_sink,
        &data_dir.root,
    )
    .await
    .context("starting detection")?;
    let ingest = crate::ingest::Ingest::new(sink, registry, config.ingest.clone()).with_ca(data_dir.tls());
    let auth = Auth::new(store.clone(), audit.clone(), &root, config.auth.clone())?;
    let cache = rampart_kms::keystore::UnwrapCache::new(
        config.kms.cache_entries,
        Duration::from_secs(config.kms.cache_ttl_secs),
    );
    let context_hasher = root.keyed_hasher("rampart/kms-context/v1");
    let kms = match open_keystore(&config.kms, &data_dir).await? {
        Opened::Open(keystore) => rampart_kms::service::Kms::new(store.clone(), audit, keystore, cache, context_hasher),
        Opened::Sealed(sealed) => {
            rampart_kms::service::Kms::new_sealed(store.clone(), audit, sealed, cache, context_hasher)
        }
    }
    .with_metadata_cache(Duration::from_millis(config.kms.metadata_cache_ms));
    spawn_kms_jobs(kms.clone());
    let bastion = rampart_bastion_ssh::Bastion::new(
        store.clone(),
        auth.clone(),
        kms.clone(),
        config.bastion.clone(),
        &config.kms.region,
        data_dir.bastion(),
    )
    .map_err(anyhow::Error::msg)?;
    spawn_recording_sweep(bastion.clone());
    spawn_request_expiry(bastion.clone());
    let bootstrap = auth.bootstrap_admin().await?;
    if let Some(b) = &bootstrap {
        data_dir.write_bootstrap(b)?;
        tracing::info!(path = %data_dir.bootstrap_path().display(), "created the first administrator; credentials written");
    }
    let routes = crate::api::routes();
    let openapi = crate::openapi::document(routes.specs());
    let state = AppState(Arc::new(Shared {
        auth,
        store,
        ledger,
        kms,
        bastion,
        config: Arc::new(config),
        started: Instant::now(),
        metrics: crate::metrics::handle(),
        openapi: Arc::new(serde_json::to_string(&openapi)?),
        unseal_limiter: Arc::default(),
        ingest,
        tickets,
        outbox,
        secops_jobs,
        detect,
    }));
    let (router, specs) = routes.into_router(state.clone());
    let router = layered(router, &state.config);
    Ok((router, state, data_dir, specs, bootstrap))
}

/// Adds the cross-cutting layers: request ids, limits, timeouts, tracing.
fn layered(router: Router, config: &Config) -> Router {
    let limit = config.server.body_limit_bytes;
    router
        .fallback(|| async { ApiError::not_found().into_response() })
        // Enforced while the body streams in, answered as a 413 problem by
        // the JSON extractor (see `extract::ApiJson`).
        .layer(DefaultBodyLimit::max(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.server.request_timeout_secs),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Starts a node and returns once it listens.
pub async fn start(config: Config) -> Result<Running> {
    let listen = config.server.listen;
    let header_timeout = Duration::from_secs(config.server.header_read_timeout_secs);
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (router, state, data_dir, specs, bootstrap) = build(config).await?;
    let bastion = if state.config.bastion.enabled {
        Some(rampart_bastion_ssh::server::start(state.bastion.clone()).await.map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let tls_config = crate::tls::server_config(&data_dir.tls())?;
    let tls = RustlsConfig::from_config(tls_config);

    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let mut server = axum_server::from_tcp_rustls(listener, tls).handle(handle.clone());
    server.http_builder().http1().timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    server.http_builder().http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let syslog_tls =
        crate::ingest::certs::syslog_tls(&data_dir.tls(), state.config.ingest.tls_client_auth, &state.ingest.registry)?;
    let syslog = crate::ingest::Listeners::start(state.ingest.clone(), &state.config.ingest, syslog_tls).await?;
    let task = tokio::spawn(async move { server.serve(service).await });

    let url = format!("https://{}", url_host(addr));
    data_dir.write_client_info(&url, &syslog)?;
    tracing::info!(%url, "listening");
    Ok(Running { addr, bastion, data_dir, specs, bootstrap, state, syslog, handle, task, grace })
}

/// The ticket desk and its notification outbox, with their background
/// jobs: the SLA check (every `secops.sla_check_secs`) and the outbox
/// worker. Several nodes may run both: missed deadlines and deliveries are
/// claimed with compare-and-set.
fn build_secops(
    config: &Config,
    store: &Store,
    audit: &Audit,
) -> Result<(rampart_secops::TicketService, rampart_secops::notify::OutboxWorker, Arc<[tokio::task::AbortHandle]>)> {
    let clock: Arc<dyn rampart_secops::Clock> = Arc::new(rampart_secops::SystemClock);
    let notifier =
        rampart_secops::Notifier::from_config(&config.secops).context("setting up [secops] notifications")?;
    tracing::info!(channels = ?notifier.channels(), "ticket notifications");
    let outbox = rampart_secops::notify::OutboxWorker::new(
        store.clone(),
        audit.clone(),
        notifier.clone(),
        config.secops.outbox.clone(),
        clock.clone(),
    );
    let tickets =
        rampart_secops::TicketService::new(store.clone(), audit.clone(), config.secops.clone(), notifier, clock);
    let jobs: Arc<[tokio::task::AbortHandle]> =
        Arc::new([tickets.spawn_sla_job().abort_handle(), outbox.spawn().abort_handle()]);
    Ok((tickets, outbox, jobs))
}

/// A keystore ready to use, or one sealed by Shamir shares.
enum Opened {
    Open(Arc<dyn rampart_kms::keystore::Keystore>),
    Sealed(Arc<rampart_kms::keystore::SealedKeystore>),
}

/// The configured keystore: the software key file (the embedded default,
/// created on first start, and said so), the software root key sealed by
/// Shamir shares (the node starts sealed), or the root key inside a PKCS#11
/// token, opened off the async threads since the HSM may be slow.
///
/// A data directory initialised for one seal is refused under the other:
/// opening a Shamir-sealed directory with the key-file seal would create a
/// fresh key file that unwraps nothing stored.
async fn open_keystore(config: &rampart_core::config::KmsConfig, data_dir: &DataDir) -> anyhow::Result<Opened> {
    use rampart_core::config::{KeystoreKind, SealKind};
    use rampart_kms::keystore::{Pkcs11Config, Pkcs11Keystore, SealRecord, SealedKeystore, SoftwareKeystore};
    let seal_path = data_dir.kms_seal_path();
    match (config.keystore, config.seal) {
        (KeystoreKind::Software, SealKind::Shamir) => {
            if !seal_path.exists() {
                anyhow::bail!(
                    "kms.seal = \"shamir\" but {} does not exist: run `rampart operator init` first",
                    seal_path.display()
                );
            }
            let record = SealRecord::load(&seal_path).context("reading the KMS seal record")?;
            if (record.threshold, record.shares) != (config.shamir.threshold, config.shamir.shares) {
                tracing::warn!(
                    threshold = record.threshold,
                    shares = record.shares,
                    "kms.shamir differs from the split `rampart operator init` made; the split's values apply"
                );
            }
            tracing::warn!(threshold = record.threshold, shares = record.shares, fingerprint = %record.fingerprint,
                "the KMS is sealed: every KMS operation is refused until operators enter enough shares \
                with `rampart operator unseal`");
            Ok(Opened::Sealed(Arc::new(SealedKeystore::new(record).context("opening the KMS seal")?)))
        }
        (KeystoreKind::Software, SealKind::KeyFile) => {
            if seal_path.exists() {
                anyhow::bail!(
                    "{} exists: this data directory's KMS root key is sealed by Shamir shares; \
                     set kms.seal = \"shamir\"",
                    seal_path.display()
                );
            }
            let path = data_dir.kms_key_path();
            let fresh = !path.exists();
            let keystore = SoftwareKeystore::from_key_file(&path, true).context("opening the KMS keystore")?;
            if fresh {
                tracing::warn!(path = %path.display(), "created the KMS root key file; back it up, and consider \
                    kms.keystore = \"pkcs11\" to keep the root key in an HSM, or kms.seal = \"shamir\" (for a new \
                    data directory) to split it among operators");
            }
            Ok(Opened::Open(Arc::new(keystore)))
        }
        (KeystoreKind::Pkcs11, _) => {
            let settings = config.pkcs11.clone();
            let Some(pin_file) = settings.pin_file.clone() else {
                anyhow::bail!("kms.pkcs11.pin_file is required for the pkcs11 keystore");
            };
            rampart_core::secret::check_private(&pin_file)
                .with_context(|| format!("the PIN file {}", pin_file.display()))?;
            let pin = std::fs::read_to_string(&pin_file)
                .with_context(|| format!("reading the PIN file {}", pin_file.display()))?;
            let pin = secrecy::SecretString::from(pin.trim_end_matches(['\r', '\n']).to_owned());
            let keystore = tokio::task::spawn_blocking(move || {
                Pkcs11Keystore::open(Pkcs11Config {
                    module: settings.module,
                    token_label: settings.token_label,
                    key_label: settings.key_label,
                    pin,
                    create_key_if_missing: settings.create_key_if_missing,
                })
            })
            .await
            .context("opening the PKCS#11 keystore")?
            .context("opening the PKCS#11 keystore")?;
            tracing::info!(module = %config.pkcs11.module.display(), token = %config.pkcs11.token_label,
                "KMS root key is inside the PKCS#11 token");
            Ok(Opened::Open(Arc::new(keystore)))
        }
    }
}

/// The KMS's periodic jobs, once a minute: destroying keys whose deletion
/// date has passed, deleting imported material that expired, and rotating
/// keys whose automatic rotation is due. Several nodes may run them:
/// destruction is a compare-and-set on PendingDeletion, expiry one on the
/// expiry that was due, and rotation one on the current material version,
/// so each happens once whoever gets there first. (An expired material is
/// already unusable from its expiry on; the job makes that durable.)
///
/// While the KMS is sealed the jobs skip, saying so once per sealed spell:
/// a node that cannot unwrap cannot rotate, and destroying keys while
/// nobody can use them would surprise the operators unsealing it.
fn spawn_kms_jobs(kms: rampart_kms::service::Kms) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut said_sealed = false;
        loop {
            tick.tick().await;
            if kms.is_sealed() {
                if !said_sealed {
                    tracing::info!("the KMS is sealed: key rotation and deletion jobs wait until it is unsealed");
                    said_sealed = true;
                }
                continue;
            }
            said_sealed = false;
            let now = rampart_core::time::now_ms();
            match kms.purge_due(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "destroyed keys whose deletion date passed"),
                Err(e) => tracing::error!(error = %e, "destroying due keys failed"),
            }
            match kms.expire_due_material(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "deleted imported key material that expired"),
                Err(e) => tracing::error!(error = %e, "deleting expired imported key material failed"),
            }
            match kms.rotate_due(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "rotated keys whose automatic rotation was due"),
                Err(e) => tracing::error!(error = %e, "rotating due keys failed"),
            }
        }
    });
}

/// Removes session recordings past `[bastion] recording_retention_days`,
/// hourly (and once at start); nothing to do when retention is 0.
fn spawn_recording_sweep(bastion: rampart_bastion_ssh::Bastion) {
    if bastion.config().recording_retention_days == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match bastion.sweep_recordings(rampart_core::time::now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(recordings = n, "removed session recordings past their retention"),
                Err(e) => tracing::error!(error = %e, "removing expired session recordings failed"),
            }
        }
    });
}

/// How often each node expires overdue access requests: an expiry reaches
/// the ledger at most this long after its deadline. One indexed query per
/// request kind when nothing is due.
const REQUEST_EXPIRY_EVERY: Duration = Duration::from_secs(5);

/// Expires pending just-in-time and lockbox requests at their deadline, so
/// the ledger records it then, whether or not anyone looks at them.
fn spawn_request_expiry(bastion: rampart_bastion_ssh::Bastion) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REQUEST_EXPIRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match bastion.expire_pending_requests().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(requests = n, "expired access requests left unanswered past their deadline"),
                Err(e) => tracing::error!(error = %e, "expiring overdue access requests failed"),
            }
        }
    });
}

/// `rampart/` and 16 hex digits derived from the root secret: unique per
/// data directory, stable across restarts, revealing nothing of the secret.
fn default_origin(root: &rampart_core::secret::RootSecret) -> String {
    let id = root.keyed_hasher("rampart/deployment-id/v1").hash(b"");
    let hex = id.trim_start_matches("hmac-sha256:");
    format!("rampart/{}", &hex[..16.min(hex.len())])
}

/// `127.0.0.1:8443` or `[::1]:8443`, and `localhost` for an unspecified address.
fn url_host(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() { format!("localhost:{}", addr.port()) } else { addr.to_string() }
}
