//! The log platform's adapters: syslog listeners (UDP, TCP, TLS) that feed
//! the pure pipeline of `rampart-ingest` and hand every record, as an
//! [`Event`], to the same ledger sink as Rampart's own audit events (one
//! pipeline, one ledger), and the source registry they attribute records
//! to ([`registry`]).
//!
//! A stream connection keeps at most `ingest.max_in_flight` events read but
//! not yet durable (and indexed); at the bound it stops reading, so TCP
//! flow control slows the sender down instead of anything being dropped.
//! UDP cannot be slowed down: datagrams beyond `ingest.udp_queue`, or
//! beyond a quarter of it from one source, are dropped and counted. Every drop, refusal and parse or framing failure is
//! counted on `/metrics` (see [`metrics`]).
//!
//! With `ingest.tls_client_auth` on, a TLS sender may authenticate with a
//! client certificate the node's CA issued to its source ([`certs`]); its
//! events are then that source's, whatever its syslog headers say.
//! Retention per source prunes the search index (never the ledger) on the
//! registry's housekeeping schedule.

pub mod certs;
pub mod kernel;
pub mod listener;
pub mod metrics;
pub mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rampart_core::Event;
use rampart_core::audit::AuditSink;
use rampart_core::config::IngestConfig;
use rampart_ingest::source::{reparse, source_name};
use rampart_ingest::{FramerConfig, Record, SourceConfig, to_event};
use serde_json::Value;

pub use listener::Listeners;
pub use registry::{Admission, Registry};

/// How a message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// `POST /api/v1/ingest`.
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Http => "http",
        }
    }
}

/// The ingest service the listeners share; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    sink: Arc<dyn AuditSink>,
    pub registry: Registry,
    config: Arc<IngestConfig>,
    /// The node's CA, which issues sources' client certificates.
    ca: Option<Arc<crate::tls::TlsPaths>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("registry", &self.registry).field("config", &self.config).finish()
    }
}

/// What becomes of one record.
pub enum Prepared {
    /// Its event, to be stored (with others of the same read) by
    /// [`Ingest::store`].
    Store(Box<Pending>),
    /// Not stored (held or refused source, counted): a stream connection
    /// closes, so the sender keeps the rest queued; a datagram is dropped.
    Refused,
}

/// An admitted record's event and the source it is counted under.
#[derive(Debug)]
pub struct Pending {
    event: Event,
    source: String,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Prepared::Store(_) => "Store",
            Prepared::Refused => "Refused",
        })
    }
}

impl Ingest {
    pub fn new(sink: Arc<dyn AuditSink>, registry: Registry, config: IngestConfig) -> Self {
        Ingest { sink, registry, config: Arc::new(config), ca: None }
    }

    /// The same service, issuing client certificates with the CA at `paths`.
    pub fn with_ca(mut self, paths: crate::tls::TlsPaths) -> Self {
        self.ca = Some(Arc::new(paths));
        self
    }

    /// The CA that issues sources' client certificates, if this node has one.
    pub fn ca(&self) -> Option<&crate::tls::TlsPaths> {
        self.ca.as_deref()
    }

    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// The pure pipeline's settings for a new connection.
    pub fn source_config(&self) -> SourceConfig {
        SourceConfig {
            framing: FramerConfig { max_message: self.config.max_message_bytes, ..FramerConfig::default() },
            ..SourceConfig::default()
        }
    }

    /// Attributes `record` to its source, admits it per the registry and
    /// makes its event.
    pub async fn prepare(&self, record: Record, peer: SocketAddr, transport: Transport, now: i64) -> Prepared {
        let name = source_name(&record, peer.ip());
        self.prepare_as(&name, record, peer, transport, now).await
    }

    /// As [`Ingest::prepare`], for a source already known by name (an HTTP
    /// sender's token says which).
    pub async fn prepare_as(
        &self,
        name: &str,
        record: Record,
        peer: SocketAddr,
        transport: Transport,
        now: i64,
    ) -> Prepared {
        let name = name.to_owned();
        let source = match self.registry.admit(&name, peer.ip(), now).await {
            Ok(Admission::Accept(source)) => source,
            Ok(Admission::Held) => {
                metrics::dropped(&name, "held");
                return Prepared::Refused;
            }
            Ok(Admission::Refused) => {
                metrics::dropped(metrics::UNREGISTERED, "refused");
                return Prepared::Refused;
            }
            Err(e) => {
                tracing::error!(error = %e, source = %name, %peer, "could not register a log source; message not stored");
                metrics::dropped(metrics::UNREGISTERED, "registry");
                return Prepared::Refused;
            }
        };
        self.finish(source, record, peer, transport, now, None)
    }

    /// As [`Ingest::prepare`], for a connection authenticated by the client
    /// certificate `serial` of `source`: the record is that source's, whatever
    /// host name its header carries.
    pub fn prepare_certified(
        &self,
        source: Arc<registry::Source>,
        serial: &str,
        record: Record,
        peer: SocketAddr,
        transport: Transport,
        now: i64,
    ) -> Prepared {
        let name = source.row.name.clone();
        match Registry::admission(source) {
            Admission::Accept(source) => self.finish(source, record, peer, transport, now, Some(serial)),
            Admission::Held => {
                metrics::dropped(&name, "held");
                Prepared::Refused
            }
            Admission::Refused => Prepared::Refused,
        }
    }

    fn finish(
        &self,
        source: Arc<registry::Source>,
        record: Record,
        peer: SocketAddr,
        transport: Transport,
        now: i64,
        cert_serial: Option<&str>,
    ) -> Prepared {
        let record = reparse(record, source.parser, time::UtcOffset::UTC);
        metrics::received(&source.row.name, transport, &record);
        self.registry.seen(&source, now);
        let mut event = to_event(&record, now);
        let (source_attrs, logsource) = source.attrs();
        if let Value::Object(attrs) = &mut event.attrs {
            attrs.insert("source".into(), source_attrs);
            attrs.insert("logsource".into(), logsource);
            let mut receiver = serde_json::json!({ "transport": transport.as_str(), "peer": peer.to_string() });
            if let (Some(serial), Value::Object(r)) = (cert_serial, &mut receiver) {
                r.insert("client_cert".into(), serial.into());
            }
            attrs.insert("receiver".into(), receiver);
        }
        Prepared::Store(Box::new(Pending { event, source: source.row.name.clone() }))
    }

    /// Appends `batch` as one unit: durable in the ledger (one request,
    /// contiguous indexes, all or none), then indexed, with a few retries;
    /// a failure after them is logged and counted as drops. Resolves with
    /// the ledger index range, `None` if nothing was stored.
    pub fn store(&self, batch: Vec<Pending>) -> BoxFuture<'static, Option<std::ops::Range<u64>>> {
        let sink = self.sink.clone();
        let mut per_source: Vec<(String, u64)> = Vec::new();
        let events: Arc<[Event]> = batch
            .into_iter()
            .map(|p| {
                // A batch is mostly one source's: a short list, not a map.
                match per_source.iter_mut().find(|(s, _)| *s == p.source) {
                    Some((_, n)) => *n += 1,
                    None => per_source.push((p.source, 1)),
                }
                p.event
            })
            .collect();
        let queued = metrics::SourceQueue::enter(per_source);
        Box::pin(async move {
            if events.is_empty() {
                return Some(0..0);
            }
            let mut attempt = 0u32;
            loop {
                match sink.append_many(events.clone()).await {
                    Ok(appended) => {
                        // Waiting for the index too keeps the indexer's
                        // queue bounded by the same back-pressure.
                        if let Some(indexed) = appended.indexed {
                            indexed.await;
                        }
                        let first = appended.positions.first().copied().unwrap_or_default();
                        let last = appended.positions.last().copied().unwrap_or_default();
                        return Some(first..last + 1);
                    }
                    Err(e) if attempt < 4 => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, events = events.len(),
                            "ledger append of ingested events failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, events = events.len(),
                            "ledger refused ingested events; they are not stored");
                        for (source, n) in queued.sources() {
                            metrics::dropped_n(source, "ledger", *n);
                        }
                        return None;
                    }
                }
            }
        })
    }

    /// The registry's housekeeping, every `silence_check_secs` (and the
    /// `last_seen` flush and reload every second) until the node stops.
    pub fn spawn_jobs(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.registry.clone();
        let every = self.config.silence_check_secs;
        let prune_every = self.config.retention_check_secs;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                if let Err(e) = registry.flush_seen().await {
                    tracing::warn!(error = %e, "recording when log sources were last seen failed; retrying");
                }
                if let Err(e) = registry.reload().await {
                    tracing::warn!(error = %e, "reloading the log source registry failed");
                }
                if n == 1 || n.is_multiple_of(prune_every) {
                    match registry.prune(rampart_core::time::now_ms()).await {
                        Ok(0) => {}
                        Ok(k) => tracing::info!(events = k, "pruned the search index to the sources' retention"),
                        Err(e) => tracing::error!(error = %e, "pruning log events beyond retention failed"),
                    }
                }
                if n.is_multiple_of(every) {
                    match registry.report_silent(rampart_core::time::now_ms()).await {
                        Ok(0) => {}
                        Ok(k) => tracing::info!(sources = k, "reported silent log sources"),
                        Err(e) => tracing::error!(error = %e, "checking log sources for silence failed"),
                    }
                }
            }
        })
    }
}
