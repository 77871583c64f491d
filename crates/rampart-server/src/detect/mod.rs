//! The streaming detection stage (issue 6): a task that follows the ledger
//! from a durable cursor, evaluates every committed event (Rampart's own
//! audit events and ingested logs alike, one pipeline) against the loaded
//! Sigma rule packs, and hands each alert to an [`AlertSink`].
//!
//! * Following: it waits on [`Ledger::subscribe`] and reads the entries
//!   between its cursor and the committed head with [`Ledger::entries`],
//!   at most `detect.batch` at a time.
//! * Using every core: a batch is decoded and matched in parallel on
//!   `detect.threads` threads (matching is stateless), then correlated
//!   and delivered one event at a time in ledger order, so the alerts and
//!   their order are those of a sequential stage.
//! * Nothing is lost: the cursor passes an event only once every alert the
//!   event raised was taken; a sink that refuses is retried with back-off
//!   (the stage waits, it does not skip). The cursor and the correlation
//!   snapshot are saved together, only at such points, every
//!   `detect.snapshot_secs` and at shutdown ([`persist`]); at start the
//!   stage restores them and replays the ledger from the cursor.
//! * No loops: `detect.*` events (its own alert records and rule reloads)
//!   are never evaluated.
//! * Timeliness: the correlation engine orders inputs by event time within
//!   `detect.lateness_ms`, but holds none longer than `detect.max_delay_ms`
//!   by the stage's clock, so an alert follows its event well within a
//!   second.
//!
//! [`view`] maps events to what rules see, [`packs`] loads the rule packs,
//! [`detector`] is the pure step, [`sink`] the alert recorder used until
//! the ticket desk takes alerts, [`metrics`] what `/metrics` shows.

pub mod detector;
pub mod metrics;
pub mod packs;
pub mod persist;
pub mod recent;
pub mod sink;
pub mod view;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rampart_core::alert::{Alert, AlertSink};
use rampart_core::audit::Audit;
use rampart_core::config::DetectConfig;
use rampart_core::time::now_ms;
use rampart_core::{Event, Outcome};
use rampart_detect::{EngineLimits, EngineStats, Rejected};
use rampart_ledger::Ledger;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::detector::Detector;
use self::packs::Catalog;
pub use self::sink::{RecordThenTicket, RecordingAlertSink};

/// How long detection waits for committed events to reach
/// [`recent::RecentEvents`] before it reads them from the ledger instead
/// (entries appended by another path than the audit sink never arrive).
const RECENT_GRACE: Duration = Duration::from_millis(20);

/// The longest wait between two retries of an alert the sink did not take.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest the stage sleeps when nothing happens (it wakes on commits).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// The engine limits `[detect]` configures.
pub fn limits(config: &DetectConfig) -> EngineLimits {
    EngineLimits {
        max_entries_per_group: config.max_entries_per_group,
        max_groups_per_rule: config.max_groups_per_rule,
        max_total_entries: config.max_total_entries,
        max_pending: config.max_pending,
        lateness_ms: config.lateness_ms,
        max_delay_ms: config.max_delay_ms,
    }
}

/// Where the stage keeps its state in the data directory.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("detect").join("state.json")
}

struct Shared {
    config: DetectConfig,
    detector: Mutex<Detector>,
    /// The next ledger index to evaluate.
    cursor: AtomicU64,
    last_saved_ms: AtomicI64,
    ledger: Ledger,
    /// Committed events as appended, where the audit sink keeps them.
    recent: Option<Arc<recent::RecentEvents>>,
    audit: Audit,
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl Shared {
    fn detector(&self) -> MutexGuard<'_, Detector> {
        // A panic while evaluating cannot leave the detector half-updated in
        // a way that matters more than stopping detection would.
        self.detector.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The detection stage of a node; cheap to clone.
#[derive(Clone)]
pub struct Detection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Detection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detection")
            .field("enabled", &self.shared.config.enabled)
            .field("cursor", &self.shared.cursor.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What `GET /api/v1/detect/status` shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub enabled: bool,
    /// The next ledger index to evaluate.
    pub cursor: u64,
    /// The committed ledger size.
    pub head: u64,
    /// Committed entries not yet evaluated.
    pub lag: u64,
    pub rules: usize,
    pub correlations: usize,
    pub rejected: usize,
    /// Correlation groups and window entries held, and inputs waiting for reordering.
    pub groups: usize,
    pub entries: usize,
    pub pending: usize,
    #[schema(value_type = Object)]
    pub stats: EngineStats,
    #[schema(value_type = Object)]
    pub limits: EngineLimits,
    /// When the cursor and state were last saved (ms since the epoch).
    pub last_saved_ms: Option<i64>,
}

/// A reload that was refused: the rules it would newly reject.
#[derive(Debug)]
pub enum ReloadError {
    Broken(Vec<Rejected>),
    Audit(rampart_core::audit::AuditError),
    Disabled,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub rules: usize,
    pub correlations: usize,
    pub rejected: usize,
    /// Correlation groups carried over from the previous rule set.
    pub groups_kept: usize,
}

impl Detection {
    /// Loads the rule packs, restores the saved cursor and state, and starts
    /// following the ledger (unless `detect.enabled` is off), taking the
    /// events `recent` holds instead of reading them back where it can.
    pub async fn start(
        config: &DetectConfig,
        ledger: Ledger,
        recent: Option<Arc<recent::RecentEvents>>,
        audit: Audit,
        sink: Arc<dyn AlertSink>,
        data_dir: &Path,
    ) -> anyhow::Result<Detection> {
        let path = state_path(data_dir);
        let limits = limits(config);
        let catalog = if config.enabled {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Catalog::load(&config)).await?
        } else {
            Catalog::new(Default::default(), Vec::new(), Vec::new())
        };
        report_catalog(&catalog);
        let (detector, cursor) = match restore(&path, ledger.origin(), ledger.head().size)? {
            Some(saved) => (Detector::restore(catalog, limits, saved.engine), saved.cursor),
            None => (Detector::new(catalog, limits), 0),
        };
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config: config.clone(),
            detector: Mutex::new(detector),
            cursor: AtomicU64::new(cursor),
            last_saved_ms: AtomicI64::new(0),
            ledger,
            recent,
            audit,
            path,
            stop,
            task: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
        });
        if config.enabled {
            tracing::info!(cursor, "detection follows the ledger");
            let task = tokio::spawn(run(shared.clone(), sink, stop_rx));
            *shared.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        }
        Ok(Detection { shared })
    }

    /// Stops the stage and saves its state (unless an alert was still
    /// waiting for the sink: then the last save, before it, stands).
    pub async fn shutdown(&self) {
        let _ = self.shared.stop.send(true);
        let task = self.shared.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    pub fn enabled(&self) -> bool {
        self.shared.config.enabled
    }

    /// The loaded rules and rejections.
    pub fn catalog(&self) -> Catalog {
        self.shared.detector().catalog().clone()
    }

    pub fn status(&self) -> Status {
        let head = self.shared.ledger.head().size;
        let cursor = self.shared.cursor.load(Ordering::Acquire);
        let d = self.shared.detector();
        let (groups, entries) = d.engine().sizes();
        let catalog = d.catalog();
        let saved = self.shared.last_saved_ms.load(Ordering::Relaxed);
        Status {
            enabled: self.shared.config.enabled,
            cursor,
            head,
            lag: head.saturating_sub(cursor),
            rules: catalog.rules.len(),
            correlations: catalog.rules.correlations().len(),
            rejected: catalog.rejected.len(),
            groups,
            entries,
            pending: d.engine().pending(),
            stats: d.engine().stats(),
            limits: d.engine().limits(),
            last_saved_ms: (saved > 0).then_some(saved),
        }
    }

    /// Recompiles the configured packs and swaps them in, keeping the
    /// correlation state of the rules that remain. Refused, changing
    /// nothing, when the new tree rejects a document the current one does
    /// not (a broken rule); recorded (`detect.rules.reloaded`) before the swap.
    pub async fn reload(&self, actor: &str, source: Option<String>) -> Result<Reloaded, ReloadError> {
        if !self.enabled() {
            return Err(ReloadError::Disabled);
        }
        let _one = self.shared.reloading.lock().await;
        let config = self.shared.config.clone();
        let catalog = tokio::task::spawn_blocking(move || Catalog::load(&config))
            .await
            .map_err(|e| ReloadError::Broken(vec![io_rejection(&e.to_string())]))?;
        let known: HashSet<String> = self.catalog().rejected.iter().map(rejection_key).collect();
        let broken: Vec<Rejected> =
            catalog.rejected.iter().filter(|r| !known.contains(&rejection_key(r))).cloned().collect();
        if !broken.is_empty() {
            return Err(ReloadError::Broken(broken));
        }
        let outcome = Reloaded {
            rules: catalog.rules.len(),
            correlations: catalog.rules.correlations().len(),
            rejected: catalog.rejected.len(),
            groups_kept: 0,
        };
        self.shared
            .audit
            .record(
                Event::new("detect.rules.reloaded", Outcome::Success, actor)
                    .source(source)
                    .attr("rules", outcome.rules)
                    .attr("correlations", outcome.correlations)
                    .attr("rejected", outcome.rejected),
            )
            .await
            .map_err(ReloadError::Audit)?;
        report_catalog(&catalog);
        let mut d = self.shared.detector();
        d.reload(catalog);
        Ok(Reloaded { groups_kept: d.engine().sizes().0, ..outcome })
    }
}

fn rejection_key(r: &Rejected) -> String {
    format!("{}#{}:{}", r.path.display(), r.document, r.reason)
}

fn io_rejection(message: &str) -> Rejected {
    Rejected {
        path: PathBuf::new(),
        document: 0,
        rule_id: None,
        title: None,
        reason: rampart_detect::CompileError::Io(message.to_owned()),
    }
}

fn report_catalog(catalog: &Catalog) {
    let mut by_pack: Vec<(&'static str, usize)> =
        [packs::REDLINE, packs::SIGMAHQ, packs::CUSTOM].iter().map(|p| (*p, 0)).collect();
    for p in catalog.rule_packs.iter().chain(&catalog.correlation_packs) {
        if let Some(e) = by_pack.iter_mut().find(|(q, _)| q == p) {
            e.1 += 1;
        }
    }
    metrics::rules(&by_pack, catalog.rejected.len());
    for r in &catalog.rejected {
        tracing::debug!(rule = %r, "detection rule rejected");
    }
    if !catalog.rejected.is_empty() {
        tracing::warn!(
            rejected = catalog.rejected.len(),
            "some detection rules were rejected; GET /api/v1/detect/rules lists each with its reason"
        );
    }
    if catalog.has_sigmahq() {
        tracing::info!(credit = packs::DRL_CREDIT, "SigmaHQ rules loaded");
    }
}

/// The saved state, if it belongs to this ledger. A state file that does
/// not parse is moved aside (and said so): the stage then replays the whole
/// ledger, which can repeat alerts but loses none.
fn restore(path: &Path, origin: &str, size: u64) -> anyhow::Result<Option<persist::Saved>> {
    match persist::load(path) {
        Ok(Some(saved)) if saved.origin == origin && saved.cursor <= size => Ok(Some(saved)),
        Ok(Some(saved)) => {
            tracing::warn!(path = %path.display(), saved_origin = %saved.origin, cursor = saved.cursor, size,
                "the detection state belongs to another ledger; evaluating this ledger from its start");
            Ok(None)
        }
        Ok(None) => Ok(None),
        Err(persist::LoadError::Format { path, message }) => {
            let aside = path.with_extension(format!("json.unreadable-{}", now_ms()));
            std::fs::rename(&path, &aside)?;
            tracing::warn!(path = %path.display(), moved_to = %aside.display(), error = %message,
                "the detection state did not parse; moved aside, evaluating the ledger from its start");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Hands every alert to the sink, retrying each until it is taken; `false`
/// when the stage was told to stop first.
async fn deliver(sink: &dyn AlertSink, alerts: Vec<Alert>, stop: &mut watch::Receiver<bool>) -> bool {
    for alert in alerts {
        let mut backoff = Duration::from_millis(50);
        loop {
            match sink.raise(&alert).await {
                Ok(_) => {
                    let latency = (now_ms() - alert.last_seen_ms) as f64 / 1000.0;
                    metrics::alert(&alert.pack, alert.severity.as_str(), latency);
                    break;
                }
                Err(e) => {
                    metrics::alert_failed();
                    tracing::warn!(error = %e, rule = %alert.rule_id, retry_in_ms = backoff.as_millis() as u64,
                        "the alert sink did not take an alert; detection waits and retries");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return false,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
    true
}

/// Saves the cursor and the correlation snapshot (the caller guarantees
/// every alert so far was taken).
async fn save(shared: &Shared) {
    let saved = {
        let d = shared.detector();
        persist::Saved {
            version: persist::VERSION,
            origin: shared.ledger.origin().to_owned(),
            cursor: shared.cursor.load(Ordering::Acquire),
            saved_ms: now_ms(),
            engine: d.snapshot().clone(),
        }
    };
    let path = shared.path.clone();
    let at = saved.saved_ms;
    match tokio::task::spawn_blocking(move || persist::save(&path, &saved)).await {
        Ok(Ok(())) => shared.last_saved_ms.store(at, Ordering::Relaxed),
        Ok(Err(e)) => tracing::error!(error = %e, path = %shared.path.display(), "saving the detection state failed"),
        Err(e) => tracing::error!(error = %e, "saving the detection state failed"),
    }
}

/// What the stage evaluates next: events taken as appended, or entries
/// read back from the ledger.
enum Input {
    Taken(Vec<recent::Taken>),
    Read(Vec<Vec<u8>>),
}

/// The stage: follow, evaluate, deliver, save.
async fn run(shared: Arc<Shared>, sink: Arc<dyn AlertSink>, mut stop: watch::Receiver<bool>) {
    let mut heads = shared.ledger.subscribe();
    let batch = shared.config.batch as u64;
    let every = Duration::from_secs(shared.config.snapshot_secs);
    let mut last_save = Instant::now();
    let mut read_backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            break;
        }
        let size = shared.ledger.head().size;
        let from = shared.cursor.load(Ordering::Acquire);
        // (When the cursor is at the head this only forgets what was taken.)
        let held = match &shared.recent {
            Some(recent) => recent.take_arriving(from, size.min(from + batch), RECENT_GRACE).await,
            None => Vec::new(),
        };
        let input = if !held.is_empty() {
            Some(Input::Taken(held))
        } else if from < size {
            match shared.ledger.entries(from, size.min(from + batch)).await {
                Ok(entries) => {
                    read_backoff = Duration::from_millis(50);
                    Some(Input::Read(entries))
                }
                Err(e) => {
                    tracing::warn!(error = %e, from, "detection could not read the ledger; retrying");
                    tokio::time::sleep(read_backoff).await;
                    read_backoff = (read_backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        } else {
            None
        };
        if let Some(input) = input {
            // Matching is stateless: the whole batch is decoded (if read)
            // and matched on every core, off the async workers; correlation
            // then follows, event by event in ledger order, under the
            // detector.
            let rules = shared.detector().catalog().rules.clone();
            let threads = shared.config.threads;
            let prepared = match tokio::task::spawn_blocking(move || match input {
                Input::Taken(held) => Detector::prepare_shared(rules, &held, threads),
                Input::Read(entries) => Detector::prepare_batch(rules, &entries, threads),
            })
            .await
            {
                Ok(prepared) => prepared,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down.
                Err(_) => return,
            };
            if !apply_batch(&shared, sink.as_ref(), from, &prepared, &mut stop).await {
                return;
            }
        }
        let alerts = shared.detector().tick(now_ms());
        if !deliver(sink.as_ref(), alerts, &mut stop).await {
            return;
        }
        publish(&shared);
        if last_save.elapsed() >= every {
            save(&shared).await;
            last_save = Instant::now();
        }
        if shared.cursor.load(Ordering::Acquire) >= shared.ledger.head().size {
            let pending = shared.detector().engine().pending();
            let wait = if pending > 0 {
                Duration::from_millis((shared.config.max_delay_ms.max(0) as u64 / 2).clamp(5, 100))
            } else {
                IDLE_WAIT
            };
            tokio::select! {
                changed = heads.changed() => {
                    // The ledger is closing: do not spin on a closed channel.
                    if changed.is_err() {
                        tokio::time::sleep(wait).await;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }
    save(&shared).await;
    tracing::info!(cursor = shared.cursor.load(Ordering::Acquire), "detection stopped; state saved");
}

/// Correlates a matched batch in ledger order from `from`, delivering
/// alerts and moving the cursor; false when the stage is stopping.
async fn apply_batch(
    shared: &Shared,
    sink: &dyn AlertSink,
    from: u64,
    prepared: &detector::PreparedBatch,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut at = from;
    for event in &prepared.events {
        let alerts = match event {
            Some(event) => shared.detector().apply_prepared(at, prepared, event, now_ms()),
            None => Vec::new(),
        };
        if !deliver(sink, alerts, stop).await {
            return false;
        }
        at += 1;
        shared.cursor.store(at, Ordering::Release);
    }
    metrics::evaluated(at - from);
    true
}

fn publish(shared: &Shared) {
    let head = shared.ledger.head().size;
    let cursor = shared.cursor.load(Ordering::Acquire);
    let d = shared.detector();
    let (groups, entries) = d.engine().sizes();
    metrics::state(head.saturating_sub(cursor), groups, entries, d.engine().pending(), &d.engine().stats());
}
