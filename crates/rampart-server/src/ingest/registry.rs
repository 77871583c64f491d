//! The source registry as a node uses it: an in-memory copy of the
//! `log_sources` table for the listeners (reloaded every second, changed at
//! once on the node that changes it), registration of unknown senders per
//! `ingest.unknown_sources`, the API's create/update/delete (each audited
//! before it takes effect), `last_seen` written back once a second, the
//! silence check that records `source.silent`, the sources' client
//! certificates (issued, listed, revoked; the valid ones in memory for the
//! TLS listener, reloaded with the sources) and retention, which prunes
//! each source's events from the search index.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use rampart_core::audit::{Audit, AuditError};
use rampart_core::config::UnknownSources;
use rampart_core::{Event, Id, Outcome};
use rampart_ingest::ParserKind;
use rampart_store::{SourceCertRow, SourceRow, SourceSpec, Store, StoreError};

/// `status` of a source whose messages are taken.
pub const ACTIVE: &str = "active";
/// `status` of a source held until someone reviews it.
pub const PENDING: &str = "pending";

/// A registered source as the listeners see it.
#[derive(Debug, Clone)]
pub struct Source {
    pub row: SourceRow,
    pub parser: ParserKind,
}

impl Source {
    fn from_row(row: SourceRow) -> Self {
        // The API only stores known parser names; anything else (a newer
        // node's parser) falls back to picking per line.
        let parser = row.parser.parse().unwrap_or(ParserKind::Auto);
        Source { row, parser }
    }

    /// The `attrs.source` and `attrs.logsource` of this source's events.
    pub fn attrs(&self) -> (serde_json::Value, serde_json::Value) {
        let r = &self.row;
        let source = serde_json::json!({
            "id": r.id.as_str(), "name": r.name, "type": r.source_type, "reviewed": r.reviewed,
        });
        let mut logsource = serde_json::Map::new();
        for (k, v) in [("product", &r.product), ("service", &r.service), ("category", &r.category)] {
            if let Some(v) = v {
                logsource.insert(k.into(), v.as_str().into());
            }
        }
        (source, serde_json::Value::Object(logsource))
    }
}

/// What becomes of a message from a sender.
#[derive(Debug, Clone)]
pub enum Admission {
    /// Take it, as this source's.
    Accept(Arc<Source>),
    /// The source waits for review (`hold`): do not store its messages.
    Held,
    /// Unknown and not registered (`refuse`, or the registry is full).
    Refused,
}

/// What every ingest token starts with (then 43 base64url characters).
pub const INGEST_TOKEN_PREFIX: &str = "rit_";

/// How an ingest token is stored: its SHA-256, hex (the token is 256-bit
/// random, so no key or stretching is needed).
fn ingest_token_hash(token: &str) -> String {
    rampart_core::secret::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such source")]
    NotFound,
    #[error("a source named {0} exists")]
    Conflict(String),
    /// The node's CA could not issue a certificate (its key unreadable…).
    #[error("the certificate authority failed: {0}")]
    Ca(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => RegistryError::NotFound,
            other => RegistryError::Store(other),
        }
    }
}

/// The registry service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: Audit,
    policy: UnknownSources,
    max_sources: usize,
    by_name: RwLock<HashMap<String, Arc<Source>>>,
    /// Valid client certificates by fingerprint: the source's name and the
    /// certificate's serial.
    certs: RwLock<HashMap<String, (String, String)>>,
    /// When sources were last heard from, not yet written to the table.
    seen: Mutex<HashMap<Id, i64>>,
    /// Serialises registrations of unknown senders on this node.
    registering: tokio::sync::Mutex<()>,
}

impl Registry {
    /// Loads every registered source.
    pub async fn load(store: Store, audit: Audit, policy: UnknownSources, max_sources: usize) -> anyhow::Result<Self> {
        let registry = Registry {
            inner: Arc::new(Inner {
                store,
                audit,
                policy,
                max_sources,
                by_name: RwLock::default(),
                certs: RwLock::default(),
                seen: Mutex::default(),
                registering: tokio::sync::Mutex::new(()),
            }),
        };
        registry.reload().await?;
        Ok(registry)
    }

    /// Replaces the in-memory copy with the table: how changes made on
    /// other nodes arrive (within a second).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let rows = self.inner.store.all_sources().await?;
        let names: HashMap<Id, String> = rows.iter().map(|r| (r.id.clone(), r.name.clone())).collect();
        let certs = self.inner.store.valid_source_certs(rampart_core::time::now_ms()).await?;
        let map = rows.into_iter().map(|r| (r.name.clone(), Arc::new(Source::from_row(r)))).collect();
        let certs = certs
            .into_iter()
            .filter_map(|c| Some((c.fingerprint, (names.get(&c.source_id)?.clone(), c.serial))))
            .collect();
        if let Ok(mut by_name) = self.inner.by_name.write() {
            *by_name = map;
        }
        if let Ok(mut by_fp) = self.inner.certs.write() {
            *by_fp = certs;
        }
        Ok(())
    }

    /// The source a valid client certificate (by fingerprint) was issued
    /// to, and the certificate's serial; `None` for a revoked, expired or
    /// unknown certificate, or one whose source is gone.
    pub fn by_cert(&self, fingerprint: &str) -> Option<(Arc<Source>, String)> {
        let (name, serial) = self.inner.certs.read().ok()?.get(fingerprint).cloned()?;
        Some((self.cached(&name)?, serial))
    }

    /// Whether `name` (canonical) is a registered source.
    pub fn is_registered(&self, name: &str) -> bool {
        self.cached(name).is_some()
    }

    fn cached(&self, name: &str) -> Option<Arc<Source>> {
        self.inner.by_name.read().ok().and_then(|m| m.get(name).cloned())
    }

    fn remember(&self, row: SourceRow) -> Arc<Source> {
        let source = Arc::new(Source::from_row(row));
        if let Ok(mut m) = self.inner.by_name.write() {
            m.insert(source.row.name.clone(), source.clone());
        }
        source
    }

    fn forget(&self, name: &str) {
        if let Ok(mut m) = self.inner.by_name.write() {
            m.remove(name);
        }
    }

    /// What becomes of a message of the registered `source`.
    pub fn admission(source: Arc<Source>) -> Admission {
        if source.row.status == PENDING { Admission::Held } else { Admission::Accept(source) }
    }

    /// Decides about a message attributed to `name` (canonical), sent from
    /// `peer`: a known source's status decides, an unknown one is handled
    /// per `ingest.unknown_sources`. Registering is audited first; an error
    /// means the sender could not be registered and nothing was stored.
    pub async fn admit(&self, name: &str, peer: IpAddr, now: i64) -> Result<Admission, RegistryError> {
        if let Some(source) = self.cached(name) {
            return Ok(Self::admission(source));
        }
        if self.inner.policy == UnknownSources::Refuse {
            return Ok(Admission::Refused);
        }
        let _one_at_a_time = self.inner.registering.lock().await;
        if let Some(source) = self.cached(name) {
            return Ok(Self::admission(source));
        }
        // Another node may have registered it since the last reload.
        if let Some(row) = self.inner.store.find_source_by_name(name).await? {
            return Ok(Self::admission(self.remember(row)));
        }
        let full = self.inner.by_name.read().map(|m| m.len() >= self.inner.max_sources).unwrap_or(true);
        if full {
            return Ok(Admission::Refused);
        }
        let status = if self.inner.policy == UnknownSources::Hold { PENDING } else { ACTIVE };
        let spec = SourceSpec {
            source_type: "server".into(),
            owner: None,
            product: None,
            service: None,
            category: None,
            parser: ParserKind::Auto.name().into(),
            heartbeat_secs: None,
            reviewed: false,
            status: status.into(),
            retention_days: None,
        };
        let id = Id::new("src");
        let event = Event::new("source.registered", Outcome::Success, "system")
            .object(id.as_str())
            .source(Some(peer.to_string()))
            .attr("name", name)
            .attr("status", status);
        self.inner.audit.record(event).await?;
        let row = match self.inner.store.create_source(&id, name, &spec, now).await {
            Ok(row) => row,
            // Registered by another node in the meantime.
            Err(StoreError::Conflict(_)) => {
                self.inner.store.find_source_by_name(name).await?.ok_or(RegistryError::NotFound)?
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(source = %name, %peer, status, "registered an unknown log source");
        Ok(Self::admission(self.remember(row)))
    }

    /// Notes that `source` was heard from at `now`.
    pub fn seen(&self, source: &Source, now: i64) {
        if let Ok(mut seen) = self.inner.seen.lock() {
            let at = seen.entry(source.row.id.clone()).or_insert(now);
            *at = (*at).max(now);
        }
    }

    /// Writes the noted `last_seen` times to the table.
    pub async fn flush_seen(&self) -> Result<(), StoreError> {
        let batch: Vec<(Id, i64)> = match self.inner.seen.lock() {
            Ok(mut seen) => seen.drain().collect(),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.inner.store.touch_sources(&batch).await {
            // Put them back so the next flush tries again.
            if let Ok(mut seen) = self.inner.seen.lock() {
                for (id, at) in batch {
                    let slot = seen.entry(id).or_insert(at);
                    *slot = (*slot).max(at);
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Records `source.silent` for every source silent beyond its heartbeat
    /// at `now` whose silence is not reported yet, once per silence (also
    /// across nodes: the report is claimed in the table first, and given
    /// back if its event cannot be recorded). Returns how many it reported.
    pub async fn report_silent(&self, now: i64) -> Result<usize, RegistryError> {
        self.flush_seen().await?;
        let mut reported = 0;
        for row in self.inner.store.silent_sources(now).await? {
            if !self.inner.store.claim_silence(&row.id, now).await? {
                continue;
            }
            let last = row.last_seen.unwrap_or(row.created_at);
            let event = Event::new("source.silent", Outcome::Failure, "system")
                .object(row.id.as_str())
                .attr("name", row.name.as_str())
                .attr("heartbeat_secs", row.heartbeat_secs.unwrap_or_default())
                .attr("last_seen", row.last_seen.map(rampart_core::time::rfc3339))
                .attr("silent_for_secs", (now - last) / 1000);
            if let Err(e) = self.inner.audit.record(event).await {
                self.inner.store.release_silence(&row.id, now).await?;
                return Err(e.into());
            }
            tracing::warn!(source = %row.name, silent_for_secs = (now - last) / 1000, "log source is silent");
            reported += 1;
        }
        Ok(reported)
    }

    // The API's operations. Validation is the caller's (`api::sources`).

    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<rampart_store::Page<SourceRow>, StoreError> {
        self.inner.store.list_sources(after, limit).await
    }

    /// A source by id (`src_…`) or by name.
    pub async fn get(&self, key: &str) -> Result<SourceRow, RegistryError> {
        let found = match Id::parse(key).filter(|id| id.as_str().starts_with("src_")) {
            Some(id) => match self.inner.store.get_source(&id).await {
                Err(StoreError::NotFound) => None,
                other => Some(other?),
            },
            None => self.inner.store.find_source_by_name(&key.to_ascii_lowercase()).await?,
        };
        found.ok_or(RegistryError::NotFound)
    }

    /// Creates or replaces the source's ingest token (recorded before it
    /// takes effect); the token is returned once and stored only hashed.
    pub async fn rotate_token(
        &self,
        actor: &str,
        client: Option<String>,
        row: &SourceRow,
        now: i64,
    ) -> Result<secrecy::SecretString, RegistryError> {
        let bytes = rampart_core::secret::random_bytes::<32>().map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let token = format!("{INGEST_TOKEN_PREFIX}{}", data_encoding::BASE64URL_NOPAD.encode(bytes.as_ref()));
        let event = Event::new("source.token.rotated", Outcome::Success, actor)
            .object(row.id.as_str())
            .source(client)
            .attr("name", row.name.as_str());
        self.inner.audit.record(event).await?;
        self.inner.store.set_source_ingest_token(&row.id, &ingest_token_hash(&token), now).await?;
        Ok(secrecy::SecretString::from(token))
    }

    /// The source an ingest token belongs to; `None` for a token of the
    /// wrong shape (never looked up) or an unknown one.
    pub async fn by_ingest_token(&self, token: &str) -> Result<Option<SourceRow>, RegistryError> {
        let shaped = token
            .strip_prefix(INGEST_TOKEN_PREFIX)
            .is_some_and(|b| b.len() == 43 && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        if !shaped {
            return Ok(None);
        }
        Ok(self.inner.store.find_source_by_ingest_token(&ingest_token_hash(token)).await?)
    }

    pub async fn create(
        &self,
        actor: &str,
        client: Option<String>,
        name: &str,
        spec: &SourceSpec,
        now: i64,
    ) -> Result<SourceRow, RegistryError> {
        if self.inner.store.find_source_by_name(name).await?.is_some() {
            return Err(RegistryError::Conflict(name.to_owned()));
        }
        let id = Id::new("src");
        let event = Event::new("source.created", Outcome::Success, actor)
            .object(id.as_str())
            .source(client)
            .attr("name", name)
            .attr("spec", spec_attrs(spec));
        self.inner.audit.record(event).await?;
        let row = match self.inner.store.create_source(&id, name, spec, now).await {
            Err(StoreError::Conflict(_)) => return Err(RegistryError::Conflict(name.to_owned())),
            other => other?,
        };
        self.remember(row.clone());
        Ok(row)
    }

    pub async fn update(
        &self,
        actor: &str,
        client: Option<String>,
        row: &SourceRow,
        spec: &SourceSpec,
        now: i64,
    ) -> Result<SourceRow, RegistryError> {
        let event = Event::new("source.updated", Outcome::Success, actor)
            .object(row.id.as_str())
            .source(client)
            .attr("name", row.name.as_str())
            .attr("spec", spec_attrs(spec));
        self.inner.audit.record(event).await?;
        let updated = self.inner.store.update_source(&row.id, spec, now).await?;
        self.remember(updated.clone());
        Ok(updated)
    }

    pub async fn delete(&self, actor: &str, client: Option<String>, row: &SourceRow) -> Result<(), RegistryError> {
        let event = Event::new("source.deleted", Outcome::Success, actor)
            .object(row.id.as_str())
            .source(client)
            .attr("name", row.name.as_str());
        self.inner.audit.record(event).await?;
        self.inner.store.delete_source(&row.id).await?;
        self.forget(&row.name);
        // Its certificates stop working with it.
        if let Ok(mut certs) = self.inner.certs.write() {
            certs.retain(|_, (name, _)| *name != row.name);
        }
        Ok(())
    }

    /// The source's client certificates, newest first.
    pub async fn certs(&self, row: &SourceRow) -> Result<Vec<SourceCertRow>, RegistryError> {
        Ok(self.inner.store.source_certs(&row.id).await?)
    }

    /// Issues a client certificate for mutual TLS to the source for the key
    /// of a verified certificate signing request, signed by the
    /// deployment's CA (`ca`), valid for `days`; recorded before it is
    /// stored (from then on the listener accepts it).
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_cert(
        &self,
        actor: &str,
        client: Option<String>,
        row: &SourceRow,
        ca: &crate::tls::TlsPaths,
        key: &super::certs::CsrKey,
        days: u32,
        now: i64,
    ) -> Result<super::certs::Issued, RegistryError> {
        let issued = super::certs::issue(ca, row.id.as_str(), &row.name, key, days, now)
            .map_err(|e| RegistryError::Ca(format!("{e:#}")))?;
        let event = Event::new("source.cert.issued", Outcome::Success, actor)
            .object(row.id.as_str())
            .source(client)
            .attr("name", row.name.as_str())
            .attr("serial", issued.serial.as_str())
            .attr("fingerprint", issued.fingerprint.as_str())
            .attr("public_key_sha256", issued.public_key_sha256.as_str())
            .attr("not_after", rampart_core::time::rfc3339(issued.not_after));
        self.inner.audit.record(event).await?;
        let cert = SourceCertRow {
            serial: issued.serial.clone(),
            source_id: row.id.clone(),
            fingerprint: issued.fingerprint.clone(),
            issued_at: now,
            not_after: issued.not_after,
            revoked_at: None,
        };
        self.inner.store.add_source_cert(&cert).await?;
        if let Ok(mut certs) = self.inner.certs.write() {
            certs.insert(cert.fingerprint, (row.name.clone(), cert.serial));
        }
        Ok(issued)
    }

    /// Revokes the source's certificate `serial` (recorded first): new
    /// handshakes with it are refused at once on this node and within a
    /// second on the others, and connections using it are closed.
    pub async fn revoke_cert(
        &self,
        actor: &str,
        client: Option<String>,
        row: &SourceRow,
        serial: &str,
        now: i64,
    ) -> Result<SourceCertRow, RegistryError> {
        let serial = serial.trim().to_ascii_lowercase().replace(':', "");
        let known = self.inner.store.source_certs(&row.id).await?;
        match known.iter().find(|c| c.serial == serial) {
            None => return Err(RegistryError::NotFound),
            Some(c) if c.revoked_at.is_some() => {
                return Err(RegistryError::Conflict(format!("certificate {serial} is already revoked")));
            }
            Some(_) => {}
        }
        let event = Event::new("source.cert.revoked", Outcome::Success, actor)
            .object(row.id.as_str())
            .source(client)
            .attr("name", row.name.as_str())
            .attr("serial", serial.as_str());
        self.inner.audit.record(event).await?;
        let revoked = match self.inner.store.revoke_source_cert(&row.id, &serial, now).await {
            Err(StoreError::Conflict(d)) => return Err(RegistryError::Conflict(d)),
            other => other?,
        };
        if let Ok(mut certs) = self.inner.certs.write() {
            certs.remove(&revoked.fingerprint);
        }
        Ok(revoked)
    }

    /// Prunes from the search index the events of every source with a
    /// retention period that are older than it at `now` (the ledger keeps
    /// them: their inclusion proofs still verify). Each source's pruning is
    /// recorded (`logs.pruned`) before it happens. Returns how many rows
    /// were removed.
    pub async fn prune(&self, now: i64) -> Result<u64, RegistryError> {
        // Log events waiting in memory for their block are written first,
        // so retention sees them where it prunes.
        self.inner.store.seal_logs(None).await?;
        let mut total = 0;
        for (name, days) in self.inner.store.sources_with_retention().await? {
            let cutoff = now.saturating_sub(days.saturating_mul(86_400_000));
            if !self.inner.store.has_events_before(&name, cutoff).await? {
                continue;
            }
            let event = Event::new("logs.pruned", Outcome::Success, "system")
                .attr("source", name.as_str())
                .attr("retention_days", days)
                .attr("before", rampart_core::time::rfc3339(cutoff));
            self.inner.audit.record(event).await?;
            let mut removed = 0;
            loop {
                let n = self.inner.store.prune_source_events(&name, cutoff).await?;
                removed += n;
                if n < rampart_store::PRUNE_CHUNK.unsigned_abs() {
                    break;
                }
            }
            // Log blocks: each holding old events of the source is
            // rewritten without them, a bounded number per step.
            loop {
                let n = self.inner.store.prune_source_blocks(&name, cutoff, 64).await?;
                removed += n;
                if n == 0 {
                    break;
                }
            }
            tracing::info!(source = %name, removed, retention_days = days, "pruned log events beyond retention from the search index");
            total += removed;
        }
        Ok(total)
    }
}

fn spec_attrs(spec: &SourceSpec) -> serde_json::Value {
    serde_json::json!({
        "type": spec.source_type, "owner": spec.owner, "product": spec.product, "service": spec.service,
        "category": spec.category, "parser": spec.parser, "heartbeat_secs": spec.heartbeat_secs,
        "reviewed": spec.reviewed, "status": spec.status, "retention_days": spec.retention_days,
    })
}
