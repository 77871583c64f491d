//! The outbox worker: delivers queued notifications, retries failures with
//! exponential back-off, and after the last attempt moves a notification
//! to the dead-letter list (recorded as `notify.dead_lettered`), from where
//! the API re-drives it.
//!
//! A notification is a row written in the transaction of the change it
//! announces, so once a change is acknowledged its notifications survive
//! any restart. Each attempt holds a lease on its row (a compare-and-set),
//! so workers on several nodes never deliver one row at the same time; a
//! node that dies mid-attempt leaves the row to the next worker once the
//! lease runs out. Delivery is at least once: a receiver that got a
//! delivery whose answer was lost sees it again with the same
//! `X-Rampart-Delivery` id.

use std::sync::Arc;
use std::time::Duration;

use rampart_core::audit::Audit;
use rampart_core::config::secops::OutboxConfig;
use rampart_core::{Event, Id, Outcome};
use rampart_store::{NotificationRow, Page, Store, StoreError};

use super::{EMAIL, Notifier, SYSLOG, WEBHOOK};
use crate::clock::Clock;

/// Notifications one pass takes at most.
const BATCH: usize = 32;
/// How often delivered notifications past `keep_delivered_days` are deleted.
const PURGE_EVERY_MS: i64 = 3_600_000;

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Failed; tried again at this time.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Failed for the last time (or cannot succeed): on the dead-letter list.
    Dead {
        error: String,
    },
}

/// Delivers the outbox; cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboxWorker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: Audit,
    notifier: Notifier,
    config: OutboxConfig,
    clock: Arc<dyn Clock>,
}

impl OutboxWorker {
    pub fn new(store: Store, audit: Audit, notifier: Notifier, config: OutboxConfig, clock: Arc<dyn Clock>) -> Self {
        OutboxWorker { inner: Arc::new(Inner { store, audit, notifier, config, clock }) }
    }

    /// The wait before attempt `attempts + 1` after `attempts` failures.
    pub fn backoff_ms(config: &OutboxConfig, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(32);
        config.backoff_initial_ms.saturating_mul(1u64 << shift).min(config.backoff_max_ms)
    }

    /// One pass: leases the due notifications and delivers them, in
    /// parallel. Returns what became of each.
    pub async fn run_once(&self) -> Result<Vec<(Id, Delivery)>, StoreError> {
        let now = self.inner.clock.now_ms();
        let lease = now.saturating_add(i64::try_from(self.inner.config.lease_ms).unwrap_or(i64::MAX));
        let due = self.inner.store.claim_notifications(now, lease, BATCH).await?;
        let mut set = tokio::task::JoinSet::new();
        for n in due {
            let worker = self.clone();
            set.spawn(async move {
                let id = n.id.clone();
                let outcome = worker.attempt(n).await;
                (id, outcome)
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((id, Ok(d))) => out.push((id, d)),
                Ok((id, Err(e))) => {
                    tracing::error!(notification = %id, error = %e, "recording a delivery attempt failed; the lease runs out and it is retried");
                }
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        Ok(out)
    }

    async fn attempt(&self, n: NotificationRow) -> Result<Delivery, StoreError> {
        let attempts = n.attempts.saturating_add(1);
        let result = self.deliver(&n).await;
        let now = self.inner.clock.now_ms();
        let store = &self.inner.store;
        match result {
            Ok(()) => {
                store.notification_delivered(&n.id, attempts, now).await?;
                note_outcome(&n.channel, "delivered");
                tracing::info!(notification = %n.id, channel = %n.channel, target = %n.target, attempts, "notification delivered");
                Ok(Delivery::Delivered)
            }
            Err(Failure { error, permanent }) => {
                let max = i64::from(self.inner.config.max_attempts);
                if permanent || attempts >= max {
                    // Record before it takes effect; if the record fails the
                    // row stays pending and is tried again after its lease.
                    let event = Event::new("notify.dead_lettered", Outcome::Failure, "system")
                        .object(n.id.as_str())
                        .attr("channel", n.channel.as_str())
                        .attr("target", n.target.as_str())
                        .attr("event", n.event.as_str())
                        .attr("attempts", attempts)
                        .attr("error", error.as_str());
                    if let Err(e) = self.inner.audit.record(event).await {
                        tracing::error!(notification = %n.id, error = %e, "could not record the dead letter; retrying later");
                        return Ok(Delivery::Retry { at_ms: now, error });
                    }
                    store.notification_failed(&n.id, attempts, &error, now, true, now).await?;
                    note_outcome(&n.channel, "dead");
                    tracing::error!(notification = %n.id, channel = %n.channel, target = %n.target, attempts, %error,
                        "notification moved to the dead-letter list");
                    Ok(Delivery::Dead { error })
                } else {
                    let wait = Self::backoff_ms(&self.inner.config, u32::try_from(attempts).unwrap_or(u32::MAX));
                    let at_ms = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                    store.notification_failed(&n.id, attempts, &error, at_ms, false, now).await?;
                    note_outcome(&n.channel, "retry");
                    tracing::warn!(notification = %n.id, channel = %n.channel, target = %n.target, attempts, %error,
                        retry_in_ms = wait, "notification delivery failed; retrying");
                    Ok(Delivery::Retry { at_ms, error })
                }
            }
        }
    }

    async fn deliver(&self, n: &NotificationRow) -> Result<(), Failure> {
        let payload: serde_json::Value = serde_json::from_str(&n.payload)
            .map_err(|e| Failure::permanent(format!("the stored payload is not JSON: {e}")))?;
        let channels = self.inner.notifier.channels();
        let now = self.inner.clock.now_ms();
        let gone = || Failure::permanent(format!("{} endpoint {:?} is no longer configured", n.channel, n.target));
        match n.channel.as_str() {
            WEBHOOK => {
                let w = channels.webhooks.get(&n.target).ok_or_else(gone)?;
                w.deliver(n.id.as_str(), &n.event, &n.payload, now.div_euclid(1000)).await.map_err(Failure::retry)
            }
            EMAIL => {
                let e = channels.email.as_ref().ok_or_else(gone)?;
                e.deliver(n.id.as_str(), &payload).await.map_err(Failure::retry)
            }
            SYSLOG => {
                let s = channels.syslog.as_ref().ok_or_else(gone)?;
                s.deliver(&payload, now).await.map_err(Failure::retry)
            }
            other => Err(Failure::permanent(format!("unknown channel {other:?}"))),
        }
    }

    /// Runs passes until dropped: at once when woken by a change on this
    /// node, otherwise every `poll_ms`.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let worker = self.clone();
        let wake = self.inner.notifier.waker();
        tokio::spawn(async move {
            let poll = Duration::from_millis(worker.inner.config.poll_ms);
            let mut last_purge = i64::MIN;
            loop {
                let now = worker.inner.clock.now_ms();
                if now.saturating_sub(last_purge) >= PURGE_EVERY_MS {
                    last_purge = now;
                    if let Err(e) = worker.purge_delivered().await {
                        tracing::warn!(error = %e, "deleting old delivered notifications failed; trying again later");
                    }
                }
                match worker.run_once().await {
                    // A full batch: there may be more due right away.
                    Ok(done) if done.len() >= BATCH => continue,
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "the notification outbox could not be read; retrying"),
                }
                let _ = tokio::time::timeout(poll, wake.notified()).await;
            }
        })
    }

    /// Deletes notifications delivered more than `keep_delivered_days` ago.
    pub async fn purge_delivered(&self) -> Result<u64, StoreError> {
        let keep = i64::try_from(self.inner.config.keep_delivered_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
        let before = self.inner.clock.now_ms().saturating_sub(keep);
        self.inner.store.purge_delivered_notifications(before).await
    }

    /// Notifications in a status (`pending`, `delivered`, `dead`).
    pub async fn list(
        &self,
        status: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<NotificationRow>, StoreError> {
        self.inner.store.list_notifications(status, after, limit).await
    }

    /// Puts a dead letter back in the queue (audited first as
    /// `notify.redriven`); `NotFound` unless it is a dead letter.
    pub async fn redrive(
        &self,
        actor: &str,
        source_addr: Option<String>,
        id: &str,
    ) -> Result<NotificationRow, RedriveError> {
        let id = Id::parse(id).ok_or(RedriveError::NotFound)?;
        let n = self.inner.store.get_notification(&id).await.map_err(RedriveError::from)?;
        if n.status != "dead" {
            return Err(RedriveError::NotFound);
        }
        let event = Event::new("notify.redriven", Outcome::Success, actor)
            .object(id.as_str())
            .source(source_addr)
            .attr("channel", n.channel.as_str())
            .attr("target", n.target.as_str());
        self.inner.audit.record(event).await?;
        self.inner.store.redrive_notification(&id, self.inner.clock.now_ms()).await.map_err(RedriveError::from)?;
        self.inner.notifier.wake();
        self.inner.store.get_notification(&id).await.map_err(RedriveError::from)
    }
}

/// Why a re-drive failed; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("no such dead letter")]
    NotFound,
    #[error(transparent)]
    Audit(#[from] rampart_core::audit::AuditError),
    #[error("outbox storage failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for RedriveError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => RedriveError::NotFound,
            other => RedriveError::Store(other),
        }
    }
}

struct Failure {
    error: String,
    permanent: bool,
}

impl Failure {
    fn retry(error: String) -> Self {
        Failure { error, permanent: false }
    }
    fn permanent(error: String) -> Self {
        Failure { error, permanent: true }
    }
}

fn note_outcome(channel: &str, outcome: &'static str) {
    metrics::counter!("rampart_notifications_total", "channel" => channel.to_owned(), "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_the_initial_wait_up_to_the_cap() {
        let c = OutboxConfig { backoff_initial_ms: 100, backoff_max_ms: 1000, ..OutboxConfig::default() };
        let waits: Vec<u64> = (1..=6).map(|a| OutboxWorker::backoff_ms(&c, a)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(OutboxWorker::backoff_ms(&c, u32::MAX), 1000, "no overflow");
    }
}
