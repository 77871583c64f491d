//! The log index as search sees it, in three parts merged by ledger
//! position (the cursor of every page and tail):
//! - rows of `audit_events`: Rampart's own audit events, and log events
//!   indexed before log blocks existed (`blocks_from`);
//! - log blocks ([`crate::logblock`], searched by [`crate::blocksearch`]):
//!   every log event (`log.*`) since;
//! - the block being filled, in this node's memory: log events handed to
//!   [`Store::index_logs`] are searchable here at once, and written as a
//!   block when [`BLOCK_EVENTS`] wait or the oldest has waited
//!   [`SEAL_AFTER`] ([`Store::seal_logs`]). Another node sharing the
//!   database sees them once written; a crash loses only this copy (the
//!   ledger holds them, and re-indexing at start writes them again).
//!
//! Why the split: a row per log event with eight indexes and its term rows
//! held ingest to a third of its rate; a block row per 4,096 events costs
//! an eighth of the CPU and a sixteenth of the disk (`docs/search.md`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_core::Event;
use rampart_ingest::query::Query;
use serde_json::value::RawValue;

use crate::audit::StoredEvent;
use crate::logblock::{BLOCK_EVENTS, BlockEvent, ChunkRead, StoredLog, column_term, encode};
use crate::logmatch::{Candidate, Matcher, field_value};
use crate::logsearch::{Bucket, LogPage, LogSearch};
use crate::{Result, Store, StoreError};

/// The longest a log event waits in memory before its block is written.
pub const SEAL_AFTER: Duration = Duration::from_secs(1);

/// Values one `count by` gathers from rows before merging with blocks.
const ROW_COUNT_VALUES: usize = 100_000;

/// Whether `event` goes into log blocks (an ingested log event) rather
/// than a row (Rampart's own audit events).
pub fn is_log(event: &Event) -> bool {
    event.kind.starts_with("log.")
}

/// A log event handed to the index without copying it: the batch it came
/// in (shared with whoever else holds it, such as detection) and its
/// place there. Cloning one costs two reference counts, where cloning the
/// event cost a deep copy of its attributes (6.7 % of ingest's CPU in
/// session 13's profile).
#[derive(Debug, Clone)]
pub struct WaitingLog {
    events: Arc<[Event]>,
    attrs: Arc<[Box<RawValue>]>,
    at: usize,
    pub ledger_index: i64,
}

impl WaitingLog {
    /// Event `at` of a batch, with its attributes' JSON text (as the
    /// ledger entry holds it) at the same place in `attrs`; `None` when
    /// either has no such place.
    pub fn shared(events: &Arc<[Event]>, attrs: &Arc<[Box<RawValue>]>, at: usize, ledger_index: i64) -> Option<Self> {
        (at < events.len() && at < attrs.len()).then(|| WaitingLog {
            events: events.clone(),
            attrs: attrs.clone(),
            at,
            ledger_index,
        })
    }

    /// One event of its own (re-indexing from the ledger).
    pub fn owned(event: Event, attrs: Box<RawValue>, ledger_index: i64) -> Self {
        WaitingLog { events: Arc::from(vec![event]), attrs: Arc::from(vec![attrs]), at: 0, ledger_index }
    }

    pub fn event(&self) -> &Event {
        &self.events[self.at]
    }

    pub fn attrs_json(&self) -> &str {
        self.attrs[self.at].get()
    }

    fn stored(&self) -> StoredLog {
        StoredLog {
            ledger_index: self.ledger_index,
            event: self.event().clone(),
            attrs_json: self.attrs_json().to_owned(),
        }
    }
}

/// The log events of the block being filled.
#[derive(Debug, Default)]
pub(crate) struct OpenBlock {
    events: Vec<WaitingLog>,
    /// When the oldest waiting event arrived.
    since: Option<Instant>,
    /// Events taken for the block being written: still searched here until
    /// it is committed.
    sealing: Option<Arc<Vec<WaitingLog>>>,
}

pub(crate) type Open = Arc<Mutex<OpenBlock>>;

fn stored(e: StoredLog) -> StoredEvent {
    StoredEvent { seq: e.ledger_index, ledger_index: Some(e.ledger_index), event: e.event }
}

/// A row's position in the merged order (rows without a ledger position,
/// written without a ledger, sort last).
fn position(e: &StoredEvent) -> i64 {
    e.ledger_index.unwrap_or(-1)
}

impl Store {
    fn open(&self) -> std::sync::MutexGuard<'_, OpenBlock> {
        // A panic while holding the lock leaves plain data behind: use it.
        self.open_logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes log events (ascending ledger positions, after any taken
    /// before) into the block being filled: searchable at once on this
    /// node, written as a block once [`BLOCK_EVENTS`] wait.
    pub async fn index_logs(&self, events: Vec<WaitingLog>) -> Result<()> {
        let waiting = {
            let mut open = self.open();
            if open.since.is_none() && !events.is_empty() {
                open.since = Some(Instant::now());
            }
            open.events.extend(events);
            open.events.len()
        };
        if waiting >= BLOCK_EVENTS {
            while self.open().events.len() >= BLOCK_EVENTS {
                self.seal(BLOCK_EVENTS).await?;
            }
        }
        Ok(())
    }

    /// Writes the waiting log events as blocks: all of them when
    /// `older_than` is `None`, else only if the oldest has waited that
    /// long. Returns how many were written.
    pub async fn seal_logs(&self, older_than: Option<Duration>) -> Result<usize> {
        let due = {
            let open = self.open();
            match (older_than, open.since) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(age), Some(since)) => since.elapsed() >= age,
            }
        };
        let mut written = 0;
        if due {
            loop {
                let n = self.open().events.len().min(BLOCK_EVENTS);
                if n == 0 {
                    break;
                }
                written += self.seal(n).await?;
            }
        }
        Ok(written)
    }

    /// How many log events wait in memory.
    pub fn waiting_logs(&self) -> usize {
        let open = self.open();
        open.events.len() + open.sealing.as_ref().map_or(0, |s| s.len())
    }

    /// Writes the first `n` waiting events as one block. One seal at a
    /// time: blocks are committed in ledger order, so re-indexing after a
    /// crash, which resumes above the highest block, misses none.
    async fn seal(&self, n: usize) -> Result<usize> {
        let _one = self.sealer.lock().await;
        let batch = {
            let mut open = self.open();
            let n = n.min(open.events.len());
            let mut batch: Vec<WaitingLog> = open.events.drain(..n).collect();
            // One indexer appends in ledger order; this only guards the
            // block's invariant should that ever change.
            batch.sort_by_key(|e| e.ledger_index);
            batch.dedup_by_key(|e| e.ledger_index);
            let batch = Arc::new(batch);
            open.sealing = Some(batch.clone());
            // Those left arrived after the oldest taken: their wait is
            // bounded by the same start, so a seal is never put off.
            if open.events.is_empty() {
                open.since = None;
            }
            batch
        };
        let written = async {
            let input: Vec<BlockEvent<'_>> = batch
                .iter()
                .map(|e| BlockEvent { event: e.event(), ledger_index: e.ledger_index, attrs_json: e.attrs_json() })
                .collect();
            if input.is_empty() {
                return Ok(());
            }
            let block = encode(&input, self.backend()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.append_block(&block).await
        }
        .await;
        let mut open = self.open();
        open.sealing = None;
        if let Err(e) = written {
            // Back to the front: searchable still, written by a later seal
            // (or re-indexed from the ledger after a restart).
            let events = Arc::try_unwrap(batch).unwrap_or_else(|b| (*b).clone());
            open.events.splice(0..0, events);
            open.since.get_or_insert_with(Instant::now);
            return Err(e);
        }
        Ok(batch.len())
    }

    /// Clones of the waiting log events that `keep` accepts, in ledger
    /// order.
    fn waiting_where(&self, keep: impl Fn(&WaitingLog) -> bool) -> Vec<StoredLog> {
        let open = self.open();
        let sealing = open.sealing.as_deref().map(Vec::as_slice).unwrap_or_default();
        sealing.iter().chain(&open.events).filter(|e| keep(e)).map(WaitingLog::stored).collect()
    }

    fn waiting_matching(&self, search: &LogSearch) -> Vec<StoredLog> {
        let matcher = Matcher::new(search.query.filter.as_ref(), self.backend());
        self.waiting_where(|e| {
            search.since_ms.is_none_or(|s| e.event().time_ms >= s)
                && search.until_ms.is_none_or(|u| e.event().time_ms < u)
                && matcher.matches(&Candidate {
                    event: e.event(),
                    ledger_index: Some(e.ledger_index),
                    attrs_json: e.attrs_json(),
                })
        })
    }

    /// Events matching `search`, newest first; `search.before` and the
    /// page's `next` are ledger positions.
    pub async fn search_logs(&self, search: &LogSearch) -> Result<LogPage> {
        let search = LogSearch { query: Query { count_by: None, ..search.query.clone() }, ..search.clone() };
        let want = search.limit.saturating_add(1);
        let rows_search = match search.before {
            Some(p) => match self.seq_from_position(p).await? {
                Some(seq) => LogSearch { before: Some(seq), ..search.clone() },
                None => LogSearch { before: None, ..search.clone() },
            },
            None => search.clone(),
        };
        let mut found = self.search_rows(&rows_search).await?;
        found.extend(
            self.waiting_matching(&search)
                .into_iter()
                .rev()
                .filter(|e| search.before.is_none_or(|b| e.ledger_index < b))
                .take(want)
                .map(stored),
        );
        found.sort_by_key(|e| std::cmp::Reverse(position(e)));
        // With a full page already, only blocks above its last can change it.
        let floor = found.get(want - 1).map(position);
        found.extend(self.search_blocks(&search, floor).await?.into_iter().map(stored));
        found.sort_by_key(|e| std::cmp::Reverse(position(e)));
        found.dedup_by_key(|e| position(e));
        found.truncate(want);
        let next = if found.len() > search.limit {
            found.truncate(search.limit);
            found.last().map(position)
        } else {
            None
        };
        Ok(LogPage { events: found, next })
    }

    /// `| count by FIELD`: counts per value over rows, blocks and the
    /// waiting events, largest first, at most `search.limit` values.
    pub async fn count_logs(&self, search: &LogSearch) -> Result<Vec<Bucket>> {
        // The waiting events before the blocks: a block written meanwhile
        // is either walked (and its events skipped here) or not (and they
        // are counted here), never both, never neither.
        let waiting = self.waiting_matching(search);
        let (mut counts, walked) = self.count_blocks_walked(search).await?;
        let rows = self.count_rows(&LogSearch { limit: ROW_COUNT_VALUES, ..search.clone() }).await?;
        for b in rows {
            *counts.entry(b.value).or_default() += b.count;
        }
        let field = search.query.count_by.as_deref().unwrap_or("kind");
        for e in waiting {
            if search.before.is_some_and(|b| e.ledger_index >= b) || walked.is_some_and(|w| e.ledger_index <= w) {
                continue;
            }
            let c = Candidate { event: &e.event, ledger_index: Some(e.ledger_index), attrs_json: &e.attrs_json };
            *counts.entry(field_value(field, &c, self.backend()).map(|v| v.into_owned())).or_default() += 1;
        }
        let mut out: Vec<Bucket> = counts.into_iter().map(|(value, count)| Bucket { value, count }).collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        out.truncate(search.limit);
        Ok(out)
    }

    /// Events after ledger position `after` matching `search`, oldest
    /// first, at most `search.limit`: what `logs tail` follows.
    pub async fn logs_after(&self, search: &LogSearch, after: i64) -> Result<Vec<StoredEvent>> {
        // The waiting events first: a block written meanwhile is then found
        // in one place or the other (duplicates go below), so a tail never
        // steps over it.
        let waiting = self.waiting_matching(search);
        let after_seq = self.seq_through_position(after).await?;
        let mut found = self.rows_after(search, after_seq).await?;
        found.retain(|e| e.ledger_index.is_none_or(|p| p > after));
        found.extend(self.block_logs_after(search, after).await?.into_iter().map(stored));
        found.extend(waiting.into_iter().filter(|e| e.ledger_index > after).take(search.limit).map(stored));
        found.sort_by_key(position);
        found.dedup_by_key(|e| position(e));
        found.truncate(search.limit);
        Ok(found)
    }

    /// The newest event's ledger position (-1 when there is none): where a
    /// tail starts.
    pub async fn last_event_position(&self) -> Result<i64> {
        let rows = self.max_indexed_ledger_position().await?;
        let blocks = self.max_block_position().await?;
        let waiting = {
            let open = self.open();
            open.events.last().or(open.sealing.as_ref().and_then(|s| s.last())).map(|e| e.ledger_index)
        };
        Ok(rows.max(blocks).max(waiting).unwrap_or(-1))
    }

    /// The ledger position from which log events go into blocks at start:
    /// above every block (and every block pruned away) and at least
    /// `blocks_from` (older log events are rows).
    pub async fn blocks_resume_from(&self) -> Result<i64> {
        use sqlx::Row;
        let state = |name: &'static str| async move {
            let row = sqlx::query("SELECT value FROM audit_index_state WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            Ok::<_, StoreError>(row.map(|r| r.try_get::<i64, _>("value")).transpose()?)
        };
        let from = state("blocks_from").await?.unwrap_or(0);
        let pruned = state("blocks_pruned_through").await?.map(|p| p + 1);
        let blocks = self.max_block_position().await?.map(|p| p + 1);
        Ok(Some(from).max(pruned).max(blocks).unwrap_or(0))
    }

    /// Whether blocks hold any event of `source` older than `cutoff_ms`.
    pub(crate) async fn blocks_have_source_before(&self, source: &str, cutoff_ms: i64) -> Result<bool> {
        let term = column_term("source", source);
        let mut from = i64::MIN;
        loop {
            let blocks = self.blocks_after(from, None, Some(cutoff_ms), 16, true).await?;
            let Some(last) = blocks.last() else { return Ok(false) };
            from = last.last_index;
            let masks = self.block_masks(&blocks, &[term]).await?;
            for (block, mask) in blocks.iter().zip(masks) {
                if mask == 0 {
                    continue;
                }
                let old = |_: i64, time_ms: i64| time_ms < cutoff_ms;
                for events in self.block_chunks(block, mask, old).await? {
                    if events
                        .iter()
                        .any(|e| e.event.attrs.pointer("/source/name").and_then(|v| v.as_str()) == Some(source))
                    {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// The ledger positions of log events in blocks and waiting, in a
    /// time window (and of one source), ascending, after `after`, at most
    /// `limit`.
    pub(crate) async fn block_positions(
        &self,
        since_ms: i64,
        until_ms: i64,
        source: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<i64>> {
        let term = source.map(|s| column_term("source", s));
        let keep = |ledger_index: i64, e: &Event| {
            ledger_index > after
                && e.time_ms >= since_ms
                && e.time_ms < until_ms
                && source.is_none_or(|s| e.attrs.pointer("/source/name").and_then(|v| v.as_str()) == Some(s))
        };
        // The waiting events first (see `logs_after`).
        let waiting: Vec<i64> =
            self.waiting_where(|e| keep(e.ledger_index, e.event())).iter().map(|e| e.ledger_index).collect();
        let mut out = Vec::new();
        let mut from = after;
        'walk: loop {
            let blocks = self.blocks_after(from, Some(since_ms), Some(until_ms), 16, term.is_some()).await?;
            let Some(last) = blocks.last() else { break };
            from = last.last_index;
            let masks = self.block_masks(&blocks, term.as_slice()).await?;
            for (block, mask) in blocks.iter().zip(masks) {
                if mask == 0 {
                    continue;
                }
                let corrupt = |e: crate::logblock::BlockError| StoreError::Corrupt(e.to_string());
                // Heads only: they name the source (older chunks, whose
                // heads may not, hold their attributes inline).
                for chunk in self.block_stored_chunks(block, mask, ChunkRead::Heads).await? {
                    let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                    for h in records.heads().map_err(corrupt)? {
                        let near = h.ledger_index > after && h.time_ms >= since_ms && h.time_ms < until_ms;
                        // The head names the source (records before migration
                        // 0022 do not: then the attributes are read).
                        let kept = near
                            && match (source, h.source) {
                                (None, _) => true,
                                (Some(s), Some(known)) => known == Some(s),
                                (Some(_), None) => keep(h.ledger_index, &h.stored().map_err(corrupt)?.event),
                            };
                        if kept {
                            out.push(h.ledger_index);
                            if out.len() == limit {
                                break 'walk;
                            }
                        }
                    }
                }
            }
        }
        out.extend(waiting);
        out.sort_unstable();
        out.dedup();
        out.truncate(limit);
        Ok(out)
    }

    /// A log event in blocks or waiting, by its id.
    pub(crate) async fn find_log(&self, id: &str) -> Result<Option<StoredEvent>> {
        if let Some(e) = self.waiting_where(|e| e.event().id.as_str() == id).pop() {
            return Ok(Some(stored(e)));
        }
        let corrupt = |e: crate::logblock::BlockError| StoreError::Corrupt(e.to_string());
        for block in self.blocks_spanning_id(id).await? {
            for chunk in self.block_stored_chunks(&block, u32::MAX, ChunkRead::Whole).await? {
                let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                if let Some(h) = records.heads().map_err(corrupt)?.iter().find(|h| h.id == id) {
                    return Ok(Some(stored(h.stored().map_err(corrupt)?)));
                }
            }
        }
        Ok(None)
    }
}
