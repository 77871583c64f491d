//! The audit pipeline as wired in a node: every event goes first into the
//! tamper-evident ledger (the record of truth: the action waits for its
//! durable index), then into the searchable `audit_events` table with that
//! index. The table is a derived index, written by one indexer task that
//! commits whatever has queued up in one transaction (group commit, as the
//! ledger's sequencer does), so concurrent actions neither contend for the
//! database's write lock nor pay one commit each. If indexing fails the
//! event is still recorded; [`reindex`] fills the gap from the ledger when
//! the node next starts. An event's attributes are serialised once: the
//! JSON text goes into its ledger entry and, as is, into its index row.

use std::sync::Arc;

use rampart_core::Event;
use rampart_core::audit::{Appended, AppendedMany, AuditError, AuditSink, BoxFuture};
use rampart_ledger::Ledger;
use rampart_store::{IndexRow, Store};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use crate::detect::recent::RecentEvents;

/// The most events one index transaction holds (a job is never split).
const INDEX_BATCH: usize = 4096;
/// Jobs (one per append or batch) waiting for the indexer beyond this are
/// handed over by a task that waits for room, never dropped.
const INDEX_QUEUE: usize = 16_384;

/// Events at contiguous ledger positions from `first`, with their
/// attributes as the JSON text their ledger entries hold.
struct IndexJob {
    events: Arc<[Event]>,
    attrs: Vec<Box<RawValue>>,
    first: u64,
    done: oneshot::Sender<()>,
}

#[derive(Debug, Clone)]
pub struct LedgerSink {
    ledger: Ledger,
    index: mpsc::Sender<IndexJob>,
    /// Committed events as appended, for detection to take; `None` when
    /// detection is off (nothing would ever take them).
    recent: Option<Arc<RecentEvents>>,
}

impl LedgerSink {
    /// The sink, and its indexer task writing into `store`; it keeps what
    /// it commits for detection when `keep_recent`. Must be called inside a
    /// tokio runtime.
    pub fn start(ledger: Ledger, store: Store, keep_recent: bool) -> Self {
        let (index, rx) = mpsc::channel(INDEX_QUEUE);
        tokio::spawn(indexer(store, rx));
        LedgerSink { ledger, index, recent: keep_recent.then(Arc::default) }
    }

    /// What this sink committed lately, as appended (see
    /// [`crate::detect::recent`]).
    pub fn recent(&self) -> Option<Arc<RecentEvents>> {
        self.recent.clone()
    }

    fn keep(&self, first: u64, events: &Arc<[Event]>) {
        if let Some(recent) = &self.recent {
            recent.put(first, events.clone());
        }
    }
}

impl LedgerSink {
    /// Hands durable events to the indexer; the future resolves once they
    /// are searchable (at once when the indexer is gone: shutting down, the
    /// next start indexes them from the ledger).
    fn index(&self, events: Arc<[Event]>, attrs: Vec<Box<RawValue>>, first: u64) -> Option<BoxFuture<'static, ()>> {
        let (done, indexed) = oneshot::channel();
        let job = IndexJob { events, attrs, first, done };
        match self.index.try_send(job) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let index = self.index.clone();
                tokio::spawn(async move { index.send(job).await });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return None,
        }
        Some(Box::pin(async move {
            let _ = indexed.await;
        }))
    }
}

/// An event's ledger entry, and its attributes as the JSON text in it (for
/// the index row: serialised once for both).
fn encode(event: &Event) -> Result<(Vec<u8>, Box<RawValue>), AuditError> {
    let failed = |e: serde_json::Error| AuditError::Failed(e.to_string());
    let attrs = rampart_ledger::entry::encode_attrs(event).map_err(failed)?;
    let entry = rampart_ledger::entry::encode_event_with(event, &attrs).map_err(failed)?;
    Ok((entry, attrs))
}

impl AuditSink for LedgerSink {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>> {
        Box::pin(async move {
            let (entry, attrs) = encode(event)?;
            let position = self.ledger.append(entry).await.map_err(|e| AuditError::Failed(e.to_string()))?;
            let events: Arc<[Event]> = Arc::from([event.clone()]);
            self.keep(position, &events);
            Ok(Appended { position, indexed: self.index(events, vec![attrs], position) })
        })
    }

    /// One ledger request for all of them (contiguous indexes, all or
    /// none), then one indexer job.
    fn append_many(&self, events: Arc<[Event]>) -> BoxFuture<'_, Result<AppendedMany, AuditError>> {
        Box::pin(async move {
            if events.is_empty() {
                return Ok(AppendedMany { positions: Vec::new(), indexed: None });
            }
            let (entries, attrs): (Vec<_>, Vec<_>) =
                events.iter().map(encode).collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
            let first = self.ledger.append_many(entries).await.map_err(|e| AuditError::Failed(e.to_string()))?;
            self.keep(first, &events);
            let positions = (first..first + events.len() as u64).collect();
            Ok(AppendedMany { positions, indexed: self.index(events, attrs, first) })
        })
    }
}

/// Commits queued events in batches until every sender is gone.
async fn indexer(store: Store, mut rx: mpsc::Receiver<IndexJob>) {
    let mut jobs: Vec<IndexJob> = Vec::new();
    let mut next: Option<IndexJob> = None;
    // Events stored before the search term index existed get their terms
    // here, one step at a time while no new events wait (rampart-store
    // terms.rs); searches read the events until it is done.
    let mut backfilling = true;
    loop {
        // The first job, then whatever else is queued up to the batch size.
        let first = match next.take() {
            Some(job) => job,
            None if backfilling => match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match store.backfill_terms().await {
                        Ok(1) => backfilling = false,
                        Ok(from) => tracing::debug!(terms_from = from, "search terms backfilled down to this event"),
                        Err(e) => {
                            tracing::warn!(error = %e, "backfilling search terms failed; searches read the events \
                                until the next start retries");
                            backfilling = false;
                        }
                    }
                    continue;
                }
            },
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut count = first.events.len();
        jobs.push(first);
        while count < INDEX_BATCH {
            match rx.try_recv() {
                Ok(job) if count + job.events.len() > INDEX_BATCH => {
                    next = Some(job);
                    break;
                }
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let batch: Vec<IndexRow<'_>> = jobs
            .iter()
            .flat_map(|j| {
                j.events.iter().zip(&j.attrs).zip(j.first..).map(|((event, attrs), p)| IndexRow {
                    event,
                    ledger_index: i64::try_from(p).ok(),
                    attrs_json: Some(attrs.get()),
                })
            })
            .collect();
        let mut attempt = 0;
        while let Err(e) = store.append_rows(&batch).await {
            attempt += 1;
            if attempt == 3 {
                tracing::error!(
                    error = %e,
                    events = batch.len(),
                    first = jobs.first().map(|j| j.first),
                    "indexing audit events failed; they are in the ledger and are indexed at the next start"
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        drop(batch);
        for job in jobs.drain(..) {
            let _ = job.done.send(());
        }
    }
}

/// Indexes the ledger's audit events that the table does not hold yet: the
/// ones whose indexing was cut short by a crash or a database failure after
/// the ledger had made them durable. Runs before the node serves.
pub async fn reindex(ledger: &Ledger, store: &Store) -> anyhow::Result<u64> {
    let size = ledger.head().size;
    let from = store.max_indexed_ledger_position().await?.map_or(0, |m| u64::try_from(m).unwrap_or(0) + 1);
    let mut indexed = 0;
    let mut at = from;
    while at < size {
        let to = (at + INDEX_BATCH as u64).min(size);
        let entries = ledger.entries(at, to).await?;
        let events: Vec<(Event, Option<i64>)> = entries
            .iter()
            .zip(at..)
            .filter_map(|(bytes, i)| Some((rampart_ledger::entry::decode_event(bytes)?, i64::try_from(i).ok())))
            .collect();
        let batch: Vec<(&Event, Option<i64>)> = events.iter().map(|(e, i)| (e, *i)).collect();
        store.append_events(&batch).await?;
        indexed += batch.len() as u64;
        at = to;
    }
    if indexed > 0 {
        tracing::warn!(events = indexed, from, "indexed audit events the ledger held but the index had missed");
    }
    Ok(indexed)
}
