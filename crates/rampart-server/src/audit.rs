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

use std::collections::BTreeMap;
use std::sync::Arc;

use rampart_core::Event;
use rampart_core::audit::{Appended, AppendedMany, AuditError, AuditSink, BoxFuture};
use rampart_ledger::Ledger;
use rampart_store::WaitingLog;
use rampart_store::{IndexRow, SEAL_AFTER, Store};
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
    attrs: Arc<[Box<RawValue>]>,
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
        // Every entry from here on is appended through this sink, so its
        // jobs cover every position from the ledger's size now.
        let from = ledger.head().size;
        tokio::spawn(indexer(store, rx, from));
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
        let job = IndexJob { events, attrs: attrs.into(), first, done };
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
async fn indexer(store: Store, mut rx: mpsc::Receiver<IndexJob>, from: u64) {
    let mut jobs: Vec<IndexJob> = Vec::new();
    let mut in_order = InOrder { next: from, held: BTreeMap::new() };
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
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    finish(&store, in_order).await;
                    return;
                }
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
            None => {
                // Log events waiting for their block are written once the
                // oldest has waited SEAL_AFTER, busy or idle.
                let got = if store.waiting_logs() > 0 || !in_order.held.is_empty() {
                    match tokio::time::timeout(SEAL_AFTER, rx.recv()).await {
                        Ok(got) => got,
                        Err(_) => {
                            let ready = in_order.ready();
                            process(&store, &ready).await;
                            ack(ready);
                            seal(&store, Some(SEAL_AFTER)).await;
                            continue;
                        }
                    }
                } else {
                    rx.recv().await
                };
                match got {
                    Some(job) => job,
                    None => {
                        finish(&store, in_order).await;
                        return;
                    }
                }
            }
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
        for job in jobs.drain(..) {
            in_order.push(job);
        }
        let ready = in_order.ready();
        process(&store, &ready).await;
        ack(ready);
        seal(&store, Some(SEAL_AFTER)).await;
    }
}

/// Longest a job waits for an earlier position's job before the gap is
/// taken for lost (logged; the gap's events, if any, are indexed at the next
/// start only if they are above the highest block).
const GAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Jobs in ledger order. Batches committed together reach the indexer in
/// whatever order their appenders' tasks run; log blocks must be written in
/// ledger order (re-indexing after a crash resumes above the highest
/// block), so a job that arrives before an earlier one waits for it.
struct InOrder {
    /// The first position not yet handed on.
    next: u64,
    held: BTreeMap<u64, (std::time::Instant, IndexJob)>,
}

impl InOrder {
    fn push(&mut self, job: IndexJob) {
        self.held.insert(job.first, (std::time::Instant::now(), job));
    }

    /// The jobs that continue the handed-on prefix, in order.
    fn ready(&mut self) -> Vec<IndexJob> {
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            let first = *entry.key();
            let (since, _) = entry.get();
            if first > self.next && since.elapsed() < GAP_TIMEOUT {
                break;
            }
            if first > self.next {
                tracing::error!(
                    from = self.next,
                    to = first,
                    "no index job came for these ledger positions; \
                    indexing goes on after them"
                );
            }
            let (_, job) = entry.remove();
            self.next = self.next.max(job.first + job.events.len() as u64);
            out.push(job);
        }
        out
    }
}

/// The senders are gone (shutting down): what is held goes in, in order
/// whatever gaps remain, and the waiting log events are written.
async fn finish(store: &Store, in_order: InOrder) {
    let rest: Vec<IndexJob> = in_order.held.into_values().map(|(_, job)| job).collect();
    process(store, &rest).await;
    ack(rest);
    seal(store, None).await;
}

fn ack(jobs: Vec<IndexJob>) {
    for job in jobs {
        let _ = job.done.send(());
    }
}

/// Indexes jobs (in ledger order): Rampart's own events become rows; log
/// events go into the block being filled (searchable at once, written as
/// a block when full or after SEAL_AFTER).
async fn process(store: &Store, jobs: &[IndexJob]) {
    if jobs.is_empty() {
        return;
    }
    let mut batch: Vec<IndexRow<'_>> = Vec::new();
    let mut logs: Vec<WaitingLog> = Vec::new();
    for j in jobs {
        for (((i, event), attrs), p) in j.events.iter().enumerate().zip(j.attrs.iter()).zip(j.first..) {
            let ledger_index = i64::try_from(p).ok();
            // Log events are shared with the job, not copied.
            let shared = ledger_index
                .filter(|_| rampart_store::is_log(event))
                .and_then(|at| WaitingLog::shared(&j.events, &j.attrs, i, at));
            match shared {
                Some(log) => logs.push(log),
                None => batch.push(IndexRow { event, ledger_index, attrs_json: Some(attrs.get()) }),
            }
        }
    }
    let mut attempt = 0;
    while !batch.is_empty()
        && let Err(e) = store.append_rows(&batch).await
    {
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
    if let Err(e) = store.index_logs(logs).await {
        tracing::error!(error = %e, "writing a block of log events failed; they stay searchable here and are \
            written with the next block or indexed at the next start");
    }
}

/// Writes the log events waiting for their block (those that waited
/// `older_than`, or all); a failure leaves them waiting and searchable.
async fn seal(store: &Store, older_than: Option<std::time::Duration>) {
    if let Err(e) = store.seal_logs(older_than).await {
        tracing::error!(error = %e, "writing a block of log events failed; they stay searchable here and are \
            retried, or indexed at the next start");
    }
}

/// Indexes the ledger's events that the index does not hold yet: the ones
/// whose indexing was cut short by a crash or a database failure after the
/// ledger had made them durable (rows from the highest indexed row, log
/// events from the highest block; a log event waiting in memory for its
/// block when the node stopped is one of them). Runs before the node
/// serves.
pub async fn reindex(ledger: &Ledger, store: &Store) -> anyhow::Result<u64> {
    let size = ledger.head().size;
    // The indexer hands jobs on in ledger order and commits a job's rows
    // before its log events can reach a block, so every position up to the
    // highest block was indexed: rows resume above it too (rows alone are
    // Rampart's own events, sparse among the logs).
    let rows_max = store.max_indexed_ledger_position().await?.max(store.max_block_position().await?);
    let rows_from = rows_max.map_or(0, |m| u64::try_from(m).unwrap_or(0) + 1);
    let blocks_from = u64::try_from(store.blocks_resume_from().await?).unwrap_or(0);
    let from = rows_from.min(blocks_from);
    let mut indexed = 0;
    let mut at = from;
    while at < size {
        let to = (at + INDEX_BATCH as u64).min(size);
        let entries = ledger.entries(at, to).await?;
        let mut rows: Vec<(Event, Option<i64>)> = Vec::new();
        let mut logs: Vec<WaitingLog> = Vec::new();
        for (bytes, i) in entries.iter().zip(at..) {
            let Some(event) = rampart_ledger::entry::decode_event(bytes) else { continue };
            let position = i64::try_from(i).ok();
            match position {
                Some(p) if rampart_store::is_log(&event) && i >= blocks_from => {
                    let attrs = rampart_ledger::entry::encode_attrs(&event)?;
                    logs.push(WaitingLog::owned(event, attrs, p));
                }
                Some(_) if rampart_store::is_log(&event) => {}
                _ if i >= rows_from => rows.push((event, position)),
                _ => {}
            }
        }
        let batch: Vec<(&Event, Option<i64>)> = rows.iter().map(|(e, i)| (e, *i)).collect();
        store.append_events(&batch).await?;
        indexed += (batch.len() + logs.len()) as u64;
        store.index_logs(logs).await?;
        at = to;
    }
    store.seal_logs(None).await?;
    if indexed > 0 {
        tracing::warn!(events = indexed, from, "indexed events the ledger held but the index had missed");
    }
    Ok(indexed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn job(first: u64, n: usize) -> IndexJob {
        let events: Arc<[Event]> =
            (0..n).map(|_| Event::new("log.kv", rampart_core::Outcome::Success, "t")).collect::<Vec<_>>().into();
        let attrs = (0..n).map(|_| RawValue::from_string("{}".into()).unwrap()).collect::<Vec<_>>().into();
        IndexJob { events, attrs, first, done: oneshot::channel().0 }
    }

    fn firsts(jobs: &[IndexJob]) -> Vec<u64> {
        jobs.iter().map(|j| j.first).collect()
    }

    #[test]
    fn jobs_are_handed_on_in_ledger_order_only() {
        let mut in_order = InOrder { next: 10, held: BTreeMap::new() };
        in_order.push(job(13, 2));
        in_order.push(job(15, 1));
        assert!(in_order.ready().is_empty(), "10..13 has not come yet");
        in_order.push(job(10, 3));
        assert_eq!(firsts(&in_order.ready()), [10, 13, 15]);
        assert_eq!(in_order.next, 16);
        in_order.push(job(16, 1));
        assert_eq!(firsts(&in_order.ready()), [16]);
        // A gap that never fills is given up after GAP_TIMEOUT.
        let mut late = job(30, 1);
        late.first = 30;
        in_order.held.insert(30, (std::time::Instant::now() - GAP_TIMEOUT, late));
        assert_eq!(firsts(&in_order.ready()), [30]);
        assert_eq!(in_order.next, 31);
    }
}
