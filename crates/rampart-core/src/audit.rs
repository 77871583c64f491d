//! The audit seam: every state-changing action records an [`Event`] through
//! [`Audit`] before it takes effect, and is refused when the record cannot be
//! made durable within a bound (fail-closed, never hanging).
//!
//! The sink behind it is pluggable so the tamper-evident ledger can replace
//! the plain table without touching any caller.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Event;

/// A boxed future, as returned by [`AuditSink::append`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an event could not be recorded. Either way the action must not happen.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit trail did not confirm the record within {0:?}")]
    Timeout(Duration),
    #[error("the audit trail refused the record: {0}")]
    Failed(String),
}

/// Where audit events are made durable.
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Appends the event and resolves once it is durable.
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>>;

    /// Appends `events` together and resolves once all are durable, with
    /// each one's position in order. A sink that can commit them as one
    /// unit (the ledger: one request, contiguous indexes, all or none)
    /// overrides this; the default appends them one after another, so on
    /// an error the ones before it may be stored. Shared, so a caller can
    /// retry without a copy and the sink can index them without one.
    fn append_many(&self, events: Arc<[Event]>) -> BoxFuture<'_, Result<AppendedMany, AuditError>> {
        Box::pin(async move {
            let mut positions = Vec::with_capacity(events.len());
            let mut pending = Vec::new();
            for event in events.iter() {
                let appended = self.append(event).await?;
                positions.push(appended.position);
                pending.extend(appended.indexed);
            }
            let indexed: Option<BoxFuture<'static, ()>> = if pending.is_empty() {
                None
            } else {
                Some(Box::pin(async move {
                    for p in pending {
                        p.await;
                    }
                }))
            };
            Ok(AppendedMany { positions, indexed })
        })
    }
}

/// Durable audit records appended together: their positions in order, and
/// a future that resolves once all are searchable (see [`Appended`]).
pub struct AppendedMany {
    pub positions: Vec<u64>,
    pub indexed: Option<BoxFuture<'static, ()>>,
}

impl fmt::Debug for AppendedMany {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppendedMany")
            .field("positions", &self.positions)
            .field("indexed", &self.indexed.as_ref().map(|_| "pending"))
            .finish()
    }
}

/// A durable audit record: its position, and, where the sink keeps a
/// derived search index beside the record of truth, a future that resolves
/// once the event is searchable there.
pub struct Appended {
    pub position: u64,
    pub indexed: Option<BoxFuture<'static, ()>>,
}

impl fmt::Debug for Appended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appended")
            .field("position", &self.position)
            .field("indexed", &self.indexed.as_ref().map(|_| "pending"))
            .finish()
    }
}

impl Appended {
    /// A record that is searchable as soon as it is durable.
    pub fn at(position: u64) -> Self {
        Appended { position, indexed: None }
    }
}

/// The audit service every component records through.
#[derive(Clone)]
pub struct Audit {
    sink: Arc<dyn AuditSink>,
    timeout: Duration,
}

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Audit").field("sink", &self.sink).field("timeout", &self.timeout).finish()
    }
}

impl Audit {
    pub fn new(sink: Arc<dyn AuditSink>, timeout: Duration) -> Self {
        Audit { sink, timeout }
    }

    /// Records `event`, or fails within the configured bound.
    ///
    /// The bound covers making the record durable, nothing after it: once
    /// the record of truth holds the event, the action goes ahead even if
    /// the search index is slow, so the trail never shows as done an action
    /// that was refused for want of an index entry. The index is still
    /// awaited (within the same bound, then logged) so that callers read
    /// their own events. What remains is inherent to "record, then act": a
    /// record whose confirmation arrives after the bound describes an
    /// action that was refused — the trail over-reports, never under-reports.
    pub async fn record(&self, event: Event) -> Result<u64, AuditError> {
        let appended = match tokio::time::timeout(self.timeout, self.sink.append(&event)).await {
            Ok(result) => result?,
            Err(_) => return Err(AuditError::Timeout(self.timeout)),
        };
        let pos = appended.position;
        if let Some(indexed) = appended.indexed
            && tokio::time::timeout(self.timeout, indexed).await.is_err()
        {
            tracing::warn!(
                target: "rampart::audit",
                kind = %event.kind,
                seq = pos,
                "the audit index is behind; the event is recorded and will be searchable once it catches up"
            );
        }
        tracing::info!(
            target: "rampart::audit",
            kind = %event.kind,
            outcome = event.outcome.as_str(),
            actor = %event.actor,
            seq = pos,
            "audit"
        );
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[derive(Debug)]
    struct Stuck;
    impl AuditSink for Stuck {
        fn append<'a>(&'a self, _: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>> {
            Box::pin(std::future::pending())
        }
    }

    /// Durable at once, but its index never catches up.
    #[derive(Debug)]
    struct SlowIndex;
    impl AuditSink for SlowIndex {
        fn append<'a>(&'a self, _: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>> {
            Box::pin(async { Ok(Appended { position: 7, indexed: Some(Box::pin(std::future::pending())) }) })
        }
    }

    #[tokio::test]
    async fn a_stuck_sink_fails_within_the_bound_instead_of_hanging() {
        let audit = Audit::new(Arc::new(Stuck), Duration::from_millis(50));
        let started = std::time::Instant::now();
        let result = audit.record(Event::new("test.event", Outcome::Success, "tester")).await;
        assert!(matches!(result, Err(AuditError::Timeout(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_slow_index_does_not_refuse_an_action_whose_record_is_durable() {
        let audit = Audit::new(Arc::new(SlowIndex), Duration::from_millis(50));
        let started = std::time::Instant::now();
        let result = audit.record(Event::new("test.event", Outcome::Success, "tester")).await;
        assert_eq!(result.ok(), Some(7));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
