//! Search over log blocks ([`crate::logblock`]): what `logsearch.rs`'s SQL
//! does for rows, done in Rust over the blocks' chunks with
//! [`crate::logmatch::Matcher`], so both give the same answers (tested
//! against each other on both backends in `tests/suite.rs`).
//!
//! A search walks blocks newest first (by ledger position), skipping those
//! outside its time range. The exact matches in the filter's top-level
//! conjunction on a pivot field or an indexed column are its *block terms*:
//! a block whose summary lacks one of them is skipped without reading its
//! body, and in the others only the chunks that hold all of them are
//! decompressed. A page stops as soon as it is full; a count reads every
//! block its terms and time range allow.

use std::collections::BTreeMap;

use rampart_ingest::query::{Expr, Match};

use crate::logblock::{BlockError, BlockEvent, BlockRow, ChunkRead, Head, StoredLog, column_term, encode_at};
use crate::logmatch::{Candidate, Matcher, field_value, head_field_value, is_head_field};
use crate::logsearch::{LogSearch, Target, conjuncts, target};
use crate::{Backend, Result, Store, StoreError, terms};

/// Blocks read per round trip when a walk starts; each round doubles it up
/// to [`WALK_MAX`], so a page found in the newest blocks reads few, and a
/// rare term's walk through every block takes few round trips.
const WALK: usize = 16;
const WALK_MAX: usize = 512;

/// The term keys a block must hold for `filter` to match one of its
/// events: exact matches in the top-level conjunction on a pivot field
/// (with a value that has a term) or on an indexed column.
pub fn block_terms(filter: &Expr) -> Vec<i64> {
    let mut out = Vec::new();
    for e in conjuncts(filter) {
        let Expr::Field(name, Match::Exact(value)) = e else { continue };
        match target(name) {
            Target::Json(path) if terms::is_term_path(&path) && terms::value_has_term(value) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                out.push(terms::term_key(&path, value));
            }
            Target::Column(c) => {
                let column = match c {
                    "tenant_id" => "tenant",
                    other => other,
                };
                if matches!(column, "kind" | "host" | "source" | "actor" | "object" | "source_addr" | "tenant") {
                    out.push(column_term(column, value));
                }
            }
            _ => {}
        }
    }
    out
}

fn corrupt(e: BlockError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// What one search needs while it walks blocks.
struct Walk<'a> {
    search: &'a LogSearch,
    matcher: Matcher,
    terms: Vec<i64>,
    /// Whether a sparse page search reads heads first (see `Walk::new`).
    narrows: bool,
    backend: Backend,
}

impl<'a> Walk<'a> {
    fn new(search: &'a LogSearch, backend: Backend) -> Self {
        let filter = search.query.filter.as_ref();
        let matcher = Matcher::new(filter, backend);
        let terms = filter.map(block_terms).unwrap_or_default();
        // A page search reads the heads of the chunks its terms select
        // first, and then whole only those holding a match, when the heads
        // decide the filter and a selected chunk may hold none (not for no
        // filter, nor for one column value alone, whose chunks all hold
        // it: there the heads would be read twice for nothing).
        let single_term = |f: &Expr| conjuncts(f).len() == 1 && terms.len() == 1;
        let narrows = filter.is_some_and(|f| !matcher.reads_attrs() && !single_term(f));
        Walk { search, matcher, terms, narrows, backend }
    }

    /// Whether the blocks' summaries are worth reading: only terms use them.
    fn summaries(&self) -> bool {
        !self.terms.is_empty()
    }

    /// Whether the records' heads decide the filter: then a count by a
    /// column reads heads only.
    fn heads_decide(&self) -> bool {
        !self.matcher.reads_attrs()
    }

    /// `wanted` narrowed to the chunks holding a record that is in the
    /// window and that the heads do not rule out, from their heads alone.
    async fn narrowed<'b>(
        &self,
        store: &Store,
        wanted: &[(&'b BlockRow, u32)],
        floor: Option<i64>,
    ) -> Result<Vec<(&'b BlockRow, u32)>> {
        let heads = store.blocks_stored_chunks(wanted, ChunkRead::Heads).await?;
        let mut out = Vec::with_capacity(wanted.len());
        for ((block, _), chunks) in wanted.iter().zip(heads) {
            let mut mask = 0u32;
            for chunk in chunks {
                let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                let heads = records.heads().map_err(corrupt)?;
                if heads.iter().any(|h| self.keep(h, floor) && self.matcher.decide(h) != Some(false)) {
                    mask |= 1 << chunk.index;
                }
            }
            out.push((*block, mask));
        }
        Ok(out)
    }

    /// Whether a record is in the search's window, below its cursor and
    /// above `floor`: what is worth looking at.
    fn keep(&self, h: &Head<'_>, floor: Option<i64>) -> bool {
        self.search.before.is_none_or(|b| h.ledger_index < b)
            && floor.is_none_or(|f| h.ledger_index > f)
            && self.search.since_ms.is_none_or(|s| h.time_ms >= s)
            && self.search.until_ms.is_none_or(|u| h.time_ms < u)
    }

    /// The event of a record that matches, parsed; `None` for one that
    /// does not (most are decided on the head, without parsing).
    fn take(&self, h: &Head<'_>) -> Result<Option<StoredLog>> {
        self.take_decided(h, self.matcher.decide(h))
    }

    /// [`Walk::take`] with the head's decision already made.
    fn take_decided(&self, h: &Head<'_>, decided: Option<bool>) -> Result<Option<StoredLog>> {
        match decided {
            Some(false) => Ok(None),
            Some(true) => Ok(Some(h.stored().map_err(corrupt)?)),
            None => {
                let e = h.stored().map_err(corrupt)?;
                let c = Candidate { event: &e.event, ledger_index: Some(e.ledger_index), attrs_json: &e.attrs_json };
                Ok(self.matcher.matches(&c).then_some(e))
            }
        }
    }

    /// The `count by` value of a matching record, or `None` when it does
    /// not match; the attributes are parsed only when the head cannot
    /// answer.
    fn counted(&self, h: &Head<'_>, field: &str) -> Result<Option<Option<String>>> {
        let decided = self.matcher.decide(h);
        if decided == Some(true)
            && let Some(v) = head_field_value(field, h)
        {
            return Ok(Some(v.map(|v| v.into_owned())));
        }
        let Some(e) = self.take_decided(h, decided)? else { return Ok(None) };
        let c = Candidate { event: &e.event, ledger_index: Some(e.ledger_index), attrs_json: &e.attrs_json };
        Ok(Some(field_value(field, &c, self.backend).map(|v| v.into_owned())))
    }
}

/// Chunks a page search fetches per statement, at most (a block that
/// alone selects more is fetched alone).
const WINDOW_CHUNKS: u32 = 64;

/// `wanted` cut into runs of blocks selecting at most [`WINDOW_CHUNKS`]
/// chunks together.
fn windows<'w, 'b>(wanted: &'w [(&'b BlockRow, u32)]) -> Vec<&'w [(&'b BlockRow, u32)]> {
    let mut out = Vec::new();
    let (mut start, mut chunks) = (0, 0u32);
    for (i, (_, mask)) in wanted.iter().enumerate() {
        if i > start && chunks + mask.count_ones() > WINDOW_CHUNKS {
            out.push(&wanted[start..i]);
            (start, chunks) = (i, 0);
        }
        chunks += mask.count_ones();
    }
    if start < wanted.len() {
        out.push(&wanted[start..]);
    }
    out
}

impl Store {
    /// The chunks `mask` selects of the block, decoded, in ledger order,
    /// with only the events whose position and time `keep` accepts.
    pub(crate) async fn block_chunks(
        &self,
        block: &BlockRow,
        mask: u32,
        keep: impl Fn(i64, i64) -> bool,
    ) -> Result<Vec<Vec<StoredLog>>> {
        self.block_stored_chunks(block, mask, ChunkRead::Whole)
            .await?
            .iter()
            .map(|c| {
                c.decode(block.first_index, block.min_time_ms).and_then(|r| r.events_where(&keep)).map_err(corrupt)
            })
            .collect()
    }

    /// Log events in blocks matching `search`, newest first: at most
    /// `search.limit + 1` (one more shows there is a next page), at
    /// positions below `search.before` (a ledger position) and above
    /// `floor` (a caller that already holds a full page of newer events
    /// from elsewhere passes the oldest of them: nothing at or below it
    /// could make the page).
    pub async fn search_blocks(&self, search: &LogSearch, floor: Option<i64>) -> Result<Vec<StoredLog>> {
        let walk = Walk::new(search, self.backend());
        let want = search.limit.saturating_add(1);
        let mut out = Vec::new();
        let mut before = search.before;
        let mut step = WALK;
        // Heads first only once a window showed most of its chunks hold no
        // match: a page found in the first chunks reads them once.
        let mut narrow = false;
        'walk: loop {
            let blocks = self.blocks_before(before, search.since_ms, search.until_ms, step, walk.summaries()).await?;
            let Some(last) = blocks.last() else { break };
            before = Some(last.first_index);
            step = (step * 2).min(WALK_MAX);
            let masks = self.block_masks(&blocks, &walk.terms).await?;
            let mut wanted: Vec<(&BlockRow, u32)> = Vec::new();
            for (block, mask) in blocks.iter().zip(masks) {
                if floor.is_some_and(|f| block.last_index <= f) {
                    break;
                }
                wanted.push((block, mask));
            }
            let below_floor = wanted.len() < blocks.len();
            // Fetched a window at a time: enough chunks to save round
            // trips, few enough that a page filled early read little more.
            for window in windows(&wanted) {
                let narrowed;
                let window = if narrow {
                    narrowed = walk.narrowed(self, window, floor).await?;
                    narrowed.as_slice()
                } else {
                    window
                };
                let (mut read, mut matched) = (0usize, 0usize);
                for ((block, _), chunks) in
                    window.iter().zip(self.blocks_stored_chunks(window, ChunkRead::Whole).await?)
                {
                    for chunk in chunks.iter().rev() {
                        read += 1;
                        let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                        let mut any = false;
                        for h in records.heads().map_err(corrupt)?.iter().rev() {
                            if !walk.keep(h, floor) {
                                continue;
                            }
                            if let Some(e) = walk.take(h)? {
                                any = true;
                                out.push(e);
                                if out.len() == want {
                                    break 'walk;
                                }
                            }
                        }
                        matched += usize::from(any);
                    }
                }
                narrow = narrow || (walk.narrows && matched * 2 < read);
            }
            if below_floor {
                break;
            }
        }
        Ok(out)
    }

    /// `| count by FIELD` over the events in blocks: counts per value
    /// (`None` for events without the field), every value.
    pub async fn count_blocks(&self, search: &LogSearch) -> Result<BTreeMap<Option<String>, i64>> {
        Ok(self.count_blocks_walked(search).await?.0)
    }

    /// [`Store::count_blocks`], and the highest position of the blocks it
    /// walked.
    pub(crate) async fn count_blocks_walked(
        &self,
        search: &LogSearch,
    ) -> Result<(BTreeMap<Option<String>, i64>, Option<i64>)> {
        let walk = Walk::new(search, self.backend());
        let mut walked: Option<i64> = None;
        let field = search.query.count_by.as_deref().unwrap_or("kind");
        // A count by a column under a filter on columns reads heads only.
        let read = if walk.heads_decide() && is_head_field(field) { ChunkRead::Heads } else { ChunkRead::Whole };
        let mut counts: BTreeMap<Option<String>, i64> = BTreeMap::new();
        let mut before = search.before;
        let mut step = WALK;
        loop {
            let blocks = self.blocks_before(before, search.since_ms, search.until_ms, step, walk.summaries()).await?;
            let Some(last) = blocks.last() else { break };
            before = Some(last.first_index);
            step = (step * 2).min(WALK_MAX);
            let masks = self.block_masks(&blocks, &walk.terms).await?;
            let wanted: Vec<(&BlockRow, u32)> = blocks.iter().zip(masks).collect();
            for ((block, _), chunks) in wanted.iter().zip(self.blocks_stored_chunks(&wanted, read).await?) {
                walked = walked.max(Some(block.last_index));
                for chunk in chunks {
                    let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                    for h in records.heads().map_err(corrupt)? {
                        if walk.keep(&h, None)
                            && let Some(value) = walk.counted(&h, field)?
                        {
                            *counts.entry(value).or_default() += 1;
                        }
                    }
                }
            }
        }
        Ok((counts, walked))
    }

    /// Log events in blocks after position `after` matching `search`,
    /// oldest first, at most `search.limit`: what a tail follows.
    pub async fn block_logs_after(&self, search: &LogSearch, after: i64) -> Result<Vec<StoredLog>> {
        let walk = Walk::new(search, self.backend());
        let mut out = Vec::new();
        let mut from = after;
        let mut step = WALK;
        'walk: loop {
            let blocks = self.blocks_after(from, search.since_ms, search.until_ms, step, walk.summaries()).await?;
            let Some(last) = blocks.last() else { break };
            from = last.last_index;
            step = (step * 2).min(WALK_MAX);
            let masks = self.block_masks(&blocks, &walk.terms).await?;
            for (block, mask) in blocks.iter().zip(masks) {
                for chunk in self.block_stored_chunks(block, mask, ChunkRead::Whole).await? {
                    let records = chunk.decode(block.first_index, block.min_time_ms).map_err(corrupt)?;
                    for h in records.heads().map_err(corrupt)? {
                        if h.ledger_index <= after || !walk.keep(&h, None) {
                            continue;
                        }
                        if let Some(e) = walk.take(&h)? {
                            out.push(e);
                            if out.len() == search.limit {
                                break 'walk;
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    async fn block_logs_in(&self, block: &BlockRow, mask: u32) -> Result<Vec<StoredLog>> {
        Ok(self.block_chunks(block, mask, |_, _| true).await?.into_iter().flatten().collect())
    }

    /// Removes the events of `source` older than `cutoff_ms` from up to
    /// `max_blocks` blocks (oldest first), rewriting each block without
    /// them in one transaction (a block left empty is deleted); returns how
    /// many events went. The ledger keeps them, with their proofs.
    pub async fn prune_source_blocks(&self, source: &str, cutoff_ms: i64, max_blocks: usize) -> Result<u64> {
        let term = column_term("source", source);
        let mut pruned = 0u64;
        let mut rewritten = 0;
        let mut from = i64::MIN;
        loop {
            let blocks = self.blocks_after(from, None, Some(cutoff_ms), WALK, true).await?;
            let Some(last) = blocks.last() else { break };
            from = last.last_index;
            let masks = self.block_masks(&blocks, &[term]).await?;
            for (block, mask) in blocks.iter().zip(masks) {
                if rewritten == max_blocks {
                    return Ok(pruned);
                }
                if mask == 0 {
                    continue;
                }
                let all = self.block_logs_in(block, u32::MAX).await?;
                let doomed = |e: &StoredLog| {
                    e.event.time_ms < cutoff_ms
                        && e.event.attrs.pointer("/source/name").and_then(|v| v.as_str()) == Some(source)
                };
                let before = all.len();
                let kept: Vec<&StoredLog> = all.iter().filter(|e| !doomed(e)).collect();
                if kept.len() == before {
                    continue;
                }
                let mut tx = self.begin_write().await?;
                // Re-indexing at start resumes above the highest position
                // indexed, pruned ones included (as for rows).
                sqlx::query(
                    "INSERT INTO audit_index_state (name, value) VALUES ('blocks_pruned_through', $1) \
                     ON CONFLICT (name) DO UPDATE SET value = CASE WHEN excluded.value > audit_index_state.value \
                     THEN excluded.value ELSE audit_index_state.value END",
                )
                .bind(block.last_index)
                .execute(&mut *tx)
                .await?;
                crate::logblock::delete_block(&mut tx, block.first_index).await?;
                if !kept.is_empty() {
                    let input: Vec<BlockEvent<'_>> = kept
                        .iter()
                        .map(|e| BlockEvent {
                            event: &e.event,
                            ledger_index: e.ledger_index,
                            attrs_json: &e.attrs_json,
                        })
                        .collect();
                    // Same key and range: the block still covers them.
                    let mut again = encode_at(&input, block.first_index, self.backend()).map_err(corrupt)?;
                    again.last_index = block.last_index;
                    crate::logblock::insert_block(&mut tx, &again).await?;
                }
                tx.commit().await?;
                pruned += (before - kept.len()) as u64;
                rewritten += 1;
            }
        }
        Ok(pruned)
    }
}
