//! Log blocks: the storage format of the block index of log events
//! (`docs/search.md`, "The index, and why"). Up to [`BLOCK_EVENTS`]
//! events become one block, written as a few hundred rows instead of one
//! row per event plus an entry in each of eight indexes: the cost that held
//! ingest to a third of its rate without the index (measured in
//! `docs/benchmarks.md`, session 13).
//!
//! A block is a row of `log_blocks` (its position, time and id ranges) and:
//! - its **summary**: every term key of the block's events (the pivot
//!   fields of [`crate::terms`], and the column values `kind`, `host`,
//!   `source`, `actor`, `object`, `source_addr`, `tenant`), sorted, each
//!   with a mask of the chunks that hold it, so a field query reads only the
//!   chunks that can match; stored cut into [`TERM_SLICES`] slices by the
//!   key's top byte ([`slice_of`], rows of `log_term_slices`), so a search
//!   reads one term's slice of many blocks in one range scan; each slice is
//!   searched in place by binary search;
//! - its **chunks**: the events in chunks of [`CHUNK_EVENTS`], each
//!   compressed with LZ4 on its own and stored as a row of `log_chunks`
//!   (migration 0022), so a query reads and decompresses only the chunks
//!   its terms select. Blocks written before 0022 hold their whole
//!   summary in the row and their chunks in one `body` ([`Body`]), still
//!   read.
//!
//! Within a chunk each event is a record of length-prefixed fields (its
//! ledger position as an offset from the block's first, its time as an
//! offset from the block's earliest, outcome, presence flags, then id,
//! kind, actor, the optional columns, host and source (version 2), and the
//! attributes' JSON text as the ledger entry holds it). Everything before
//! the attributes is a record's [`Head`]: a search decides most events on
//! it alone, without parsing their JSON (`logmatch::Matcher::decide`).
//! Since migration 0023 (version 3) a chunk's heads and its attributes
//! are compressed apart, the heads in `data` and the attributes' texts in
//! `attrs`, in record order: a search whose filter and count the heads
//! decide reads only `data` (60 % of a chunk's compressed bytes for the
//! syslog events of this module's tests, most of it the event ids' random
//! digits) and fetches the attributes of the chunks that hold a match.
//! The layout is written by hand because it is this simple and because a
//! search must be able to skip to a chunk and read it without any schema
//! machinery; every length is checked on the way back, so hostile or
//! damaged bytes give [`BlockError`], never a panic or an allocation
//! beyond the block's own size (fuzzed: `store_logblock`).

use std::collections::HashMap;

use rampart_core::{Event, Id, Outcome};

use crate::Backend;
use crate::terms::{event_terms_cached, term_key};

/// Events per chunk: what a query decompresses at a time.
pub const CHUNK_EVENTS: usize = 128;
/// Chunks per block: one bit each in a term's mask.
pub const BLOCK_CHUNKS: usize = 32;
/// The most events one block holds.
pub const BLOCK_EVENTS: usize = CHUNK_EVENTS * BLOCK_CHUNKS;

const SUMMARY_V1: u8 = 1;
/// A whole block's chunks in one value, records without host and source
/// (written before migration 0022; read only).
const BODY_V1: u8 = 1;
/// One chunk per row of `log_chunks`, records with host and source
/// (written before migration 0023; read only).
const CHUNK_V2: u8 = 2;
/// As version 2, the records' heads in `data` and their attributes' texts
/// compressed apart in `attrs`.
const CHUNK_V3: u8 = 3;
/// Bytes per summary entry: the term key (big-endian, so the bytes sort
/// as the signed keys do once the sign bit is flipped) and the chunk mask.
const ENTRY: usize = 12;

/// Why a block could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("a block holds 1 to {BLOCK_EVENTS} events, not {0}")]
    Size(usize),
    #[error("events of a block must be in ascending ledger order")]
    Order,
    #[error("log block damaged: {0}")]
    Corrupt(&'static str),
    /// A record's attributes were asked of a chunk read without them (a
    /// search that chose to read heads only): a bug, not damage.
    #[error("the attributes of a log chunk were not read")]
    AttrsNotRead,
}

/// One event going into a block.
#[derive(Debug, Clone, Copy)]
pub struct BlockEvent<'a> {
    pub event: &'a Event,
    pub ledger_index: i64,
    /// The attributes' JSON text (as in the ledger entry).
    pub attrs_json: &'a str,
}

/// One event read back from a block.
#[derive(Debug, Clone)]
pub struct StoredLog {
    pub ledger_index: i64,
    pub event: Event,
    pub attrs_json: String,
}

/// A block ready to be stored.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    pub first_index: i64,
    pub last_index: i64,
    pub events: usize,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// The smallest and largest event id (ids sort by creation).
    pub min_id: String,
    pub max_id: String,
    pub summary: Vec<u8>,
    /// The chunks as `log_chunks` rows hold them, chunk `i` at `i`: the
    /// heads (`data`) and the attributes (`attrs`).
    pub chunks: Vec<Vec<u8>>,
    /// Chunk `i`'s attributes at `i` (empty for version 2 chunks).
    pub chunk_attrs: Vec<Vec<u8>>,
    /// The summary cut by term slice ([`slice_of`]), as `log_term_slices`
    /// rows hold it: each a summary of its own, only non-empty slices.
    pub slices: Vec<(usize, Vec<u8>)>,
}

/// Column values that get a term in the block summary, as the pseudo-path
/// `["@column", NAME]` of [`term_key`].
const COLUMNS: [&str; 7] = ["kind", "host", "source", "actor", "object", "source_addr", "tenant"];

/// The term key of a column's value in a block summary.
pub fn column_term(column: &str, value: &str) -> i64 {
    term_key(&["@column", column], value)
}

/// `syslog.hostname`, as the `host` column holds it. (`get` twice, not
/// `pointer`, which parses its path on every call: this runs for every
/// event of every block, twice.)
fn host_of(e: &Event) -> Option<&str> {
    e.attrs.get("syslog")?.get("hostname")?.as_str()
}

/// `source.name`, as the `source` column holds it.
fn source_of(e: &Event) -> Option<&str> {
    e.attrs.get("source")?.get("name")?.as_str()
}

fn column_values(e: &Event) -> [Option<&str>; 7] {
    [
        Some(e.kind.as_str()),
        host_of(e),
        source_of(e),
        Some(e.actor.as_str()),
        e.object.as_deref(),
        e.source_addr.as_deref(),
        e.tenant_id.as_ref().map(Id::as_str),
    ]
}

/// Builds the block of `events` (ascending ledger positions, at most
/// [`BLOCK_EVENTS`]); the term keys follow `backend`'s rendering of
/// values, as the term index does.
pub fn encode(events: &[BlockEvent<'_>], backend: Backend) -> Result<EncodedBlock, BlockError> {
    let first = events.first().map_or(0, |e| e.ledger_index);
    encode_at(events, first, backend)
}

/// [`encode`] for a block keyed at position `base` (at most its first
/// event's): a block rewritten without some of its events keeps its key
/// and the range it covers.
pub fn encode_at(events: &[BlockEvent<'_>], base: i64, backend: Backend) -> Result<EncodedBlock, BlockError> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else { return Err(BlockError::Size(0)) };
    if base > first.ledger_index {
        return Err(BlockError::Order);
    }
    if events.len() > BLOCK_EVENTS {
        return Err(BlockError::Size(events.len()));
    }
    if events.windows(2).any(|w| w[0].ledger_index >= w[1].ledger_index) {
        return Err(BlockError::Order);
    }
    let min_time_ms = events.iter().map(|e| e.event.time_ms).min().unwrap_or(0);
    let max_time_ms = events.iter().map(|e| e.event.time_ms).max().unwrap_or(0);
    let min_id = events.iter().map(|e| e.event.id.as_str()).min().unwrap_or_default().to_owned();
    let max_id = events.iter().map(|e| e.event.id.as_str()).max().unwrap_or_default().to_owned();

    // Terms: pivot fields per event; column values once per distinct value.
    let mut masks: HashMap<i64, u32> = HashMap::new();
    let mut columns: HashMap<(usize, &str), u32> = HashMap::new();
    let mut keys = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let bit = 1u32 << (i / CHUNK_EVENTS);
        for key in event_terms_cached(&e.event.attrs, backend, &mut keys) {
            *masks.entry(key).or_default() |= bit;
        }
        for (c, v) in column_values(e.event).into_iter().enumerate() {
            if let Some(v) = v {
                *columns.entry((c, v)).or_default() |= bit;
            }
        }
    }
    for ((c, v), mask) in columns {
        *masks.entry(column_term(COLUMNS[c], v)).or_default() |= mask;
    }
    let mut entries: Vec<(i64, u32)> = masks.into_iter().collect();
    entries.sort_unstable_by_key(|(k, _)| sortable(*k));
    let summary = summary_of(&entries);
    let slices = entries
        .chunk_by(|a, b| slice_of(a.0) == slice_of(b.0))
        .map(|part| (slice_of(part[0].0), summary_of(part)))
        .collect();

    let (chunks, chunk_attrs): (Vec<Vec<u8>>, Vec<Vec<u8>>) = events
        .chunks(CHUNK_EVENTS)
        .map(|chunk| {
            let mut heads = vec![CHUNK_V3];
            heads.extend_from_slice(&compressed_records(chunk, base, min_time_ms, CHUNK_V3));
            (heads, compressed_attrs(chunk))
        })
        .unzip();
    Ok(EncodedBlock {
        first_index: base,
        last_index: last.ledger_index,
        events: events.len(),
        min_time_ms,
        max_time_ms,
        min_id,
        max_id,
        summary,
        chunks,
        chunk_attrs,
        slices,
    })
}

/// Blocks whose chunks one statement fetches.
const FETCH_BLOCKS: usize = 64;

/// Slices of the term space: a block's summary is stored cut into these,
/// so a search for one term reads 1/256 of each block's summary, and the
/// same slice of many blocks in one range scan.
pub const TERM_SLICES: usize = 256;

/// The slice a term key falls in: the top byte of its sortable form, so a
/// slice is a contiguous, sorted part of the summary.
pub fn slice_of(term: i64) -> usize {
    (sortable(term) >> 56) as usize
}

/// Sorted `(term, chunk mask)` entries as a summary's bytes.
fn summary_of(entries: &[(i64, u32)]) -> Vec<u8> {
    let mut summary = Vec::with_capacity(5 + entries.len() * ENTRY);
    summary.push(SUMMARY_V1);
    summary.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for (k, mask) in entries {
        summary.extend_from_slice(&sortable(*k).to_be_bytes());
        summary.extend_from_slice(&mask.to_le_bytes());
    }
    summary
}

/// The records of `chunk` (from version 3 without their attributes),
/// LZ4-compressed with their size in front.
fn compressed_records(chunk: &[BlockEvent<'_>], base: i64, min_time_ms: i64, version: u8) -> Vec<u8> {
    let inline = if version == CHUNK_V3 { 0 } else { 1 };
    let mut raw = Vec::with_capacity(chunk.iter().map(|e| inline * e.attrs_json.len() + 160).sum());
    for e in chunk {
        write_record(&mut raw, e, base, min_time_ms, version);
    }
    lz4_flex::block::compress_prepend_size(&raw)
}

/// The attributes' texts of `chunk`, each length-prefixed, in record
/// order, LZ4-compressed with their size in front (version 3's `attrs`).
fn compressed_attrs(chunk: &[BlockEvent<'_>]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(chunk.iter().map(|e| e.attrs_json.len() + 3).sum());
    for e in chunk {
        put_varint(&mut raw, e.attrs_json.len() as u64);
        raw.extend_from_slice(e.attrs_json.as_bytes());
    }
    lz4_flex::block::compress_prepend_size(&raw)
}

/// A version 1 body of `events` (one value holding every chunk), as
/// blocks were stored before migration 0022: what tests of the reader of
/// such blocks store.
pub fn legacy_body(events: &[BlockEvent<'_>], base: i64, min_time_ms: i64) -> Vec<u8> {
    let chunks: Vec<Vec<u8>> =
        events.chunks(CHUNK_EVENTS).map(|c| compressed_records(c, base, min_time_ms, BODY_V1)).collect();
    let mut body = Vec::with_capacity(5 + chunks.len() * 4 + chunks.iter().map(Vec::len).sum::<usize>());
    body.push(BODY_V1);
    body.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    for c in &chunks {
        body.extend_from_slice(&(c.len() as u32).to_le_bytes());
    }
    for c in &chunks {
        body.extend_from_slice(c);
    }
    body
}

/// The chunks of `events` as version 2 rows held them (attributes
/// inline): what tests of the reader of such rows store.
pub fn v2_chunks(events: &[BlockEvent<'_>], base: i64, min_time_ms: i64) -> Vec<Vec<u8>> {
    events
        .chunks(CHUNK_EVENTS)
        .map(|chunk| {
            let mut out = vec![CHUNK_V2];
            out.extend_from_slice(&compressed_records(chunk, base, min_time_ms, CHUNK_V2));
            out
        })
        .collect()
}

/// A term key with its sign bit flipped: unsigned order of these is the
/// signed order of the keys.
fn sortable(k: i64) -> u64 {
    (k as u64) ^ (1 << 63)
}

const HAS_OBJECT: u8 = 1;
const HAS_TENANT: u8 = 2;
const HAS_SOURCE_ADDR: u8 = 4;
const HAS_HOST: u8 = 8;
const HAS_SOURCE: u8 = 16;

fn write_record(out: &mut Vec<u8>, e: &BlockEvent<'_>, first_index: i64, min_time_ms: i64, version: u8) {
    let ev = e.event;
    let (host, source) = if version == BODY_V1 { (None, None) } else { (host_of(ev), source_of(ev)) };
    put_varint(out, (e.ledger_index - first_index) as u64);
    put_varint(out, (ev.time_ms - min_time_ms) as u64);
    out.push(match ev.outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Denied => 2,
    });
    let mut flags = 0;
    if ev.object.is_some() {
        flags |= HAS_OBJECT;
    }
    if ev.tenant_id.is_some() {
        flags |= HAS_TENANT;
    }
    if ev.source_addr.is_some() {
        flags |= HAS_SOURCE_ADDR;
    }
    if host.is_some() {
        flags |= HAS_HOST;
    }
    if source.is_some() {
        flags |= HAS_SOURCE;
    }
    out.push(flags);
    for s in [Some(ev.id.as_str()), Some(ev.kind.as_str()), Some(ev.actor.as_str())]
        .into_iter()
        .chain([ev.object.as_deref(), ev.tenant_id.as_ref().map(Id::as_str), ev.source_addr.as_deref(), host, source])
        .flatten()
        .chain((version != CHUNK_V3).then_some(e.attrs_json))
    {
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A summary, read in place.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    entries: &'a [u8],
}

impl<'a> Summary<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlockError> {
        let corrupt = BlockError::Corrupt;
        let (&version, rest) = bytes.split_first().ok_or(corrupt("empty summary"))?;
        if version != SUMMARY_V1 {
            return Err(corrupt("unknown summary version"));
        }
        let (n, entries) = rest.split_first_chunk::<4>().ok_or(corrupt("summary too short"))?;
        let n = u32::from_le_bytes(*n) as usize;
        if n.checked_mul(ENTRY) != Some(entries.len()) {
            return Err(corrupt("summary length disagrees with its count"));
        }
        Ok(Summary { entries })
    }

    /// How many distinct terms the block has.
    pub fn len(&self) -> usize {
        self.entries.len() / ENTRY
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The chunks (one bit each) whose events may have `term`: 0 when none
    /// has (a hash collision can only add chunks, never drop one).
    pub fn chunks_with(&self, term: i64) -> u32 {
        let want = sortable(term);
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let at = mid * ENTRY;
            let mut key = [0u8; 8];
            key.copy_from_slice(&self.entries[at..at + 8]);
            match u64::from_be_bytes(key).cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let mut mask = [0u8; 4];
                    mask.copy_from_slice(&self.entries[at + 8..at + ENTRY]);
                    return u32::from_le_bytes(mask);
                }
            }
        }
        0
    }
}

/// A version 1 body (blocks stored before migration 0022), read in place.
#[derive(Debug, Clone)]
pub struct Body<'a> {
    chunks: Vec<&'a [u8]>,
}

impl<'a> Body<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlockError> {
        let corrupt = BlockError::Corrupt;
        let (&version, rest) = bytes.split_first().ok_or(corrupt("empty body"))?;
        if version != BODY_V1 {
            return Err(corrupt("unknown body version"));
        }
        let (n, mut rest) = rest.split_first_chunk::<4>().ok_or(corrupt("body too short"))?;
        let n = u32::from_le_bytes(*n) as usize;
        if n > BLOCK_CHUNKS {
            return Err(corrupt("more chunks than a block holds"));
        }
        let mut lens = Vec::with_capacity(n);
        for _ in 0..n {
            let (len, r) = rest.split_first_chunk::<4>().ok_or(corrupt("chunk table cut short"))?;
            lens.push(u32::from_le_bytes(*len) as usize);
            rest = r;
        }
        let mut chunks = Vec::with_capacity(n);
        for len in lens {
            let (chunk, r) = rest.split_at_checked(len).ok_or(corrupt("chunk cut short"))?;
            chunks.push(chunk);
            rest = r;
        }
        if !rest.is_empty() {
            return Err(corrupt("bytes after the last chunk"));
        }
        Ok(Body { chunks })
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The chunks `mask` selects, as rows of `log_chunks` would hold them.
    pub fn chunks(&self, mask: u32) -> Vec<StoredChunk> {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(index, bytes)| StoredChunk { index, version: BODY_V1, compressed: bytes.to_vec(), attrs: None })
            .collect()
    }
}

/// One chunk's compressed records as stored, with the version of their
/// layout.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    /// Which of its block's chunks (its bit in a summary mask).
    pub index: usize,
    version: u8,
    compressed: Vec<u8>,
    /// Version 3's attributes, compressed apart; `None` where they were
    /// not read (and in older versions, whose records hold them).
    attrs: Option<Vec<u8>>,
}

impl StoredChunk {
    /// A row of `log_chunks`: its `data`, and its `attrs` where they were
    /// read (version 3; `NULL` in older rows).
    pub fn from_row(index: usize, data: Vec<u8>, attrs: Option<Vec<u8>>) -> Result<Self, BlockError> {
        let corrupt = BlockError::Corrupt;
        if index >= BLOCK_CHUNKS {
            return Err(corrupt("chunk number beyond a block"));
        }
        match data.split_first() {
            Some((&CHUNK_V2, _)) if attrs.is_some() => Err(corrupt("attributes beside a version 2 chunk")),
            Some((&version @ (CHUNK_V2 | CHUNK_V3), rest)) => {
                Ok(StoredChunk { index, version, compressed: rest.to_vec(), attrs })
            }
            Some(_) => Err(corrupt("unknown chunk version")),
            None => Err(corrupt("empty chunk")),
        }
    }

    /// Decompresses the records; `first_index` and `min_time_ms` are the
    /// block's (its row's columns).
    pub fn decode(&self, first_index: i64, min_time_ms: i64) -> Result<Records, BlockError> {
        let raw = decompress(&self.compressed)?;
        let attrs = self.attrs.as_deref().map(decompress).transpose()?;
        Ok(Records { raw, attrs, version: self.version, first_index, min_time_ms })
    }
}

/// LZ4 with the size in front, the size bounded before allocating (it is
/// the writer's word).
fn decompress(compressed: &[u8]) -> Result<Vec<u8>, BlockError> {
    let corrupt = BlockError::Corrupt;
    let (size, _) = compressed.split_first_chunk::<4>().ok_or(corrupt("chunk too short"))?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > compressed.len().saturating_mul(256) {
        return Err(corrupt("chunk claims an impossible size"));
    }
    lz4_flex::block::decompress_size_prepended(compressed).map_err(|_| corrupt("chunk does not decompress"))
}

/// A chunk's records, decompressed.
#[derive(Debug, Clone)]
pub struct Records {
    raw: Vec<u8>,
    /// Version 3's attributes' texts, where they were read.
    attrs: Option<Vec<u8>>,
    version: u8,
    first_index: i64,
    min_time_ms: i64,
}

/// A record before its attributes are parsed: every column of the event,
/// and the attributes as JSON text.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub ledger_index: i64,
    pub time_ms: i64,
    pub outcome: Outcome,
    pub id: &'a str,
    pub kind: &'a str,
    pub actor: &'a str,
    pub object: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub source_addr: Option<&'a str>,
    /// `syslog.hostname` and `source.name`; the outer `None` where the
    /// record does not carry them (version 1: only the attributes know).
    pub host: Option<Option<&'a str>>,
    pub source: Option<Option<&'a str>>,
    /// `None` where the chunk was read without its attributes.
    pub attrs_json: Option<&'a str>,
}

impl Records {
    /// Every record's head, in ledger order.
    pub fn heads(&self) -> Result<Vec<Head<'_>>, BlockError> {
        let mut r = Reader { bytes: &self.raw };
        let mut attrs = self.attrs.as_deref().map(|bytes| Reader { bytes });
        let mut out = Vec::with_capacity(CHUNK_EVENTS);
        while !r.bytes.is_empty() {
            if out.len() == CHUNK_EVENTS {
                return Err(BlockError::Corrupt("more events in a chunk than it holds"));
            }
            let mut head = self.head(&mut r)?;
            if let Some(a) = &mut attrs {
                head.attrs_json = Some(a.text()?);
            }
            out.push(head);
        }
        if attrs.is_some_and(|a| !a.bytes.is_empty()) {
            return Err(BlockError::Corrupt("more attributes than records in a chunk"));
        }
        Ok(out)
    }

    /// Whether the records' attributes were read (always, before
    /// version 3).
    pub fn has_attrs(&self) -> bool {
        self.version != CHUNK_V3 || self.attrs.is_some()
    }

    /// The events whose position and time `keep` accepts, in ledger order.
    pub fn events_where(&self, keep: impl Fn(i64, i64) -> bool) -> Result<Vec<StoredLog>, BlockError> {
        self.heads()?.iter().filter(|h| keep(h.ledger_index, h.time_ms)).map(Head::stored).collect()
    }

    fn head<'a>(&self, r: &mut Reader<'a>) -> Result<Head<'a>, BlockError> {
        let corrupt = BlockError::Corrupt;
        let offset = i64::try_from(r.varint()?).map_err(|_| corrupt("position out of range"))?;
        let ledger_index = self.first_index.checked_add(offset).ok_or(corrupt("position out of range"))?;
        let dt = i64::try_from(r.varint()?).map_err(|_| corrupt("time out of range"))?;
        let time_ms = self.min_time_ms.checked_add(dt).ok_or(corrupt("time out of range"))?;
        let outcome = match r.byte()? {
            0 => Outcome::Success,
            1 => Outcome::Failure,
            2 => Outcome::Denied,
            _ => return Err(corrupt("unknown outcome")),
        };
        let flags = r.byte()?;
        let known = match self.version {
            BODY_V1 => HAS_OBJECT | HAS_TENANT | HAS_SOURCE_ADDR,
            _ => HAS_OBJECT | HAS_TENANT | HAS_SOURCE_ADDR | HAS_HOST | HAS_SOURCE,
        };
        if flags & !known != 0 {
            return Err(corrupt("unknown flags"));
        }
        let (id, kind, actor) = (r.text()?, r.text()?, r.text()?);
        let mut optional = |flag: u8| if flags & flag != 0 { r.text().map(Some) } else { Ok(None) };
        let (object, tenant, source_addr) = (optional(HAS_OBJECT)?, optional(HAS_TENANT)?, optional(HAS_SOURCE_ADDR)?);
        let (host, source) = (optional(HAS_HOST)?, optional(HAS_SOURCE)?);
        let attrs_json = if self.version == CHUNK_V3 { None } else { Some(r.text()?) };
        let v2 = self.version != BODY_V1;
        Ok(Head {
            ledger_index,
            time_ms,
            outcome,
            id,
            kind,
            actor,
            object,
            tenant,
            source_addr,
            host: v2.then_some(host),
            source: v2.then_some(source),
            attrs_json,
        })
    }
}

impl Head<'_> {
    /// The whole event, its attributes parsed.
    pub fn stored(&self) -> Result<StoredLog, BlockError> {
        let attrs_json = self.attrs_json.ok_or(BlockError::AttrsNotRead)?;
        let attrs = serde_json::from_str(attrs_json).map_err(|_| BlockError::Corrupt("attributes are not JSON"))?;
        Ok(StoredLog {
            ledger_index: self.ledger_index,
            event: Event {
                id: Id::from_trusted(self.id.to_owned()),
                time_ms: self.time_ms,
                kind: self.kind.to_owned(),
                outcome: self.outcome,
                actor: self.actor.to_owned(),
                object: self.object.map(str::to_owned),
                tenant_id: self.tenant.map(|t| Id::from_trusted(t.to_owned())),
                source_addr: self.source_addr.map(str::to_owned),
                attrs,
            },
            attrs_json: attrs_json.to_owned(),
        })
    }
}

/// A stored block's row without its chunks (what a search walks).
#[derive(Debug, Clone)]
pub struct BlockRow {
    pub first_index: i64,
    pub last_index: i64,
    pub events: i64,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// The whole summary of a block stored before migration 0022 (later
    /// ones store theirs in slices: [`Store::block_masks`]); empty where
    /// the walk that read the row did not ask for it.
    pub summary: Vec<u8>,
    /// Whether the chunks are in the row's `body` (stored before
    /// migration 0022) rather than in `log_chunks`.
    pub legacy_body: bool,
}

impl BlockRow {
    pub fn summary(&self) -> Result<Summary<'_>, BlockError> {
        Summary::parse(&self.summary)
    }
}

fn head_columns(summary: bool) -> &'static str {
    if summary {
        "first_index, last_index, events, min_time_ms, max_time_ms, length(body) AS body_len, summary"
    } else {
        "first_index, last_index, events, min_time_ms, max_time_ms, length(body) AS body_len"
    }
}

fn block_row(r: &sqlx::any::AnyRow, summary: bool) -> crate::Result<BlockRow> {
    use sqlx::Row;
    Ok(BlockRow {
        first_index: r.try_get("first_index")?,
        last_index: r.try_get("last_index")?,
        events: r.try_get("events")?,
        min_time_ms: r.try_get("min_time_ms")?,
        max_time_ms: r.try_get("max_time_ms")?,
        summary: if summary { r.try_get("summary")? } else { Vec::new() },
        legacy_body: r.try_get::<i64, _>("body_len")? > 0,
    })
}

impl crate::Store {
    /// Stores `block` in one relaxed commit (as the row index: derived
    /// from the ledger, which re-fills it). A block already stored at the
    /// same first position is kept as it is (re-indexing after a crash
    /// writes the same block again).
    pub async fn append_block(&self, block: &EncodedBlock) -> crate::Result<()> {
        let mut tx = self.begin_relaxed_write().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
        }
        insert_block(&mut tx, block).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `events` as a block was stored before migration 0022: its
    /// chunks in the row's `body` (version 1). For tests of the reader of
    /// such blocks; nothing writes them any more.
    #[doc(hidden)]
    pub async fn append_legacy_block_for_tests(&self, events: &[BlockEvent<'_>]) -> crate::Result<()> {
        let block = encode(events, self.backend()).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        let body = legacy_body(events, block.first_index, block.min_time_ms);
        let mut tx = self.begin_write().await?;
        insert_row(&mut tx, &block, &block.summary, &body).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `events` as a block was stored between migrations 0022 and
    /// 0023: chunk rows of version 2, the attributes inline. For tests of
    /// the reader of such chunks; nothing writes them any more.
    #[doc(hidden)]
    pub async fn append_v2_block_for_tests(&self, events: &[BlockEvent<'_>]) -> crate::Result<()> {
        let mut block = encode(events, self.backend()).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        block.chunks = v2_chunks(events, block.first_index, block.min_time_ms);
        block.chunk_attrs.clear();
        self.append_block(&block).await
    }

    /// Up to `limit` blocks that start before `before` (all when `None`),
    /// newest first, skipping those wholly outside `[since_ms, until_ms)`.
    /// With `summary` false the rows' summaries are not read (a walk
    /// without terms).
    pub async fn blocks_before(
        &self,
        before: Option<i64>,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
        summary: bool,
    ) -> crate::Result<Vec<BlockRow>> {
        let sql =
            "WHERE first_index < $1 AND max_time_ms >= $2 AND min_time_ms < $3 ORDER BY first_index DESC LIMIT $4";
        self.block_heads(sql, before.unwrap_or(i64::MAX), since_ms, until_ms, limit, summary).await
    }

    /// Up to `limit` blocks holding events after position `after`, oldest
    /// first, skipping those wholly outside `[since_ms, until_ms)`.
    /// `summary` as for [`Store::blocks_before`].
    pub async fn blocks_after(
        &self,
        after: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
        summary: bool,
    ) -> crate::Result<Vec<BlockRow>> {
        let sql = "WHERE last_index > $1 AND max_time_ms >= $2 AND min_time_ms < $3 ORDER BY first_index LIMIT $4";
        self.block_heads(sql, after, since_ms, until_ms, limit, summary).await
    }

    /// Block heads selected by `filter` (a fixed clause binding a position,
    /// the time window's two ends and the limit, in that order).
    async fn block_heads(
        &self,
        filter: &str,
        position: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
        summary: bool,
    ) -> crate::Result<Vec<BlockRow>> {
        let rows = sqlx::query(&format!("SELECT {} FROM log_blocks {filter}", head_columns(summary)))
            .bind(position)
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(until_ms.unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| block_row(r, summary)).collect()
    }

    /// The chunk masks of `blocks` (one each) for the conjunction of
    /// `terms`: the chunks that may hold an event with all of them
    /// (`u32::MAX` each when there are no terms). One range scan per term
    /// reads that term's slice of every block in the batch; a block stored
    /// before migration 0022 answers from its whole summary (read with the
    /// row).
    pub async fn block_masks(&self, blocks: &[BlockRow], terms: &[i64]) -> crate::Result<Vec<u32>> {
        use sqlx::Row;
        let corrupt = |e: BlockError| crate::StoreError::Corrupt(e.to_string());
        let mut masks = vec![u32::MAX; blocks.len()];
        let (Some(lo), Some(hi)) =
            (blocks.iter().map(|b| b.first_index).min(), blocks.iter().map(|b| b.first_index).max())
        else {
            return Ok(masks);
        };
        for &term in terms {
            if masks.iter().all(|m| *m == 0) {
                break;
            }
            let rows = sqlx::query(
                "SELECT first_index, entries FROM log_term_slices \
                 WHERE slice = $1 AND first_index >= $2 AND first_index <= $3",
            )
            .bind(slice_of(term) as i64)
            .bind(lo)
            .bind(hi)
            .fetch_all(&self.pool)
            .await?;
            let mut found = std::collections::HashMap::with_capacity(rows.len());
            for r in &rows {
                let entries: Vec<u8> = r.try_get("entries")?;
                found.insert(
                    r.try_get::<i64, _>("first_index")?,
                    Summary::parse(&entries).map_err(corrupt)?.chunks_with(term),
                );
            }
            for (b, mask) in blocks.iter().zip(&mut masks) {
                // (A pre-0022 block read without its summary fails here,
                // rather than being skipped as if it held nothing.)
                *mask &= if b.legacy_body {
                    b.summary().map_err(corrupt)?.chunks_with(term)
                } else {
                    found.get(&b.first_index).copied().unwrap_or(0)
                };
            }
        }
        Ok(masks)
    }

    /// The chunks `mask` selects of `block`, as stored, in chunk order
    /// (none when the block is gone: pruned or merged since it was read);
    /// with their attributes unless `read` says heads only (which older
    /// chunks, holding them inline, have anyway).
    pub async fn block_stored_chunks(
        &self,
        block: &BlockRow,
        mask: u32,
        read: ChunkRead,
    ) -> crate::Result<Vec<StoredChunk>> {
        Ok(self.blocks_stored_chunks(&[(block, mask)], read).await?.pop().unwrap_or_default())
    }

    /// The chunks `mask` selects of a block stored before migration 0022,
    /// from its row's `body` (none when the block is gone).
    async fn legacy_chunks(&self, block: &BlockRow, mask: u32) -> crate::Result<Vec<StoredChunk>> {
        use sqlx::Row;
        let row = sqlx::query("SELECT body FROM log_blocks WHERE first_index = $1")
            .bind(block.first_index)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(Vec::new()) };
        let bytes: Vec<u8> = row.try_get("body")?;
        Ok(Body::parse(&bytes).map_err(|e| crate::StoreError::Corrupt(e.to_string()))?.chunks(mask))
    }

    /// [`Store::block_stored_chunks`] for several blocks at once: the
    /// chunks `mask` selects of each, in the order given, fetched with one
    /// statement per [`FETCH_BLOCKS`] blocks instead of one per block (the
    /// round trip cost more than decoding the one chunk a rare term selects).
    pub async fn blocks_stored_chunks(
        &self,
        wanted: &[(&BlockRow, u32)],
        read: ChunkRead,
    ) -> crate::Result<Vec<Vec<StoredChunk>>> {
        use sqlx::Row;
        let mut out: Vec<Vec<StoredChunk>> = vec![Vec::new(); wanted.len()];
        let mut current: Vec<(usize, i64, u32)> = Vec::new();
        for (i, (block, mask)) in wanted.iter().enumerate() {
            if *mask == 0 {
                continue;
            }
            if block.legacy_body {
                out[i] = self.legacy_chunks(block, *mask).await?;
            } else {
                current.push((i, block.first_index, *mask));
            }
        }
        for part in current.chunks(FETCH_BLOCKS) {
            // Block keys and chunk numbers are integers the database gave
            // (or below 32): written into the statement, so its shape
            // needs no parameters of either backend's types.
            let terms: Vec<String> = part
                .iter()
                .map(|(_, first, mask)| {
                    let chunks: Vec<String> =
                        (0..BLOCK_CHUNKS).filter(|c| mask & (1 << c) != 0).map(|c| c.to_string()).collect();
                    format!("(first_index = {first} AND chunk IN ({}))", chunks.join(","))
                })
                .collect();
            // No ORDER BY: sorting would pass every chunk's bytes through
            // the database's sorter; the few per block are sorted here.
            let sql =
                format!("SELECT first_index, chunk, {} FROM log_chunks WHERE {}", read.columns(), terms.join(" OR "));
            let at: HashMap<i64, usize> = part.iter().map(|(i, first, _)| (*first, *i)).collect();
            for r in sqlx::query(&sql).fetch_all(&self.pool).await? {
                let first: i64 = r.try_get("first_index")?;
                if let Some(&i) = at.get(&first) {
                    out[i].push(chunk_row(&r, read)?);
                }
            }
        }
        for chunks in &mut out {
            chunks.sort_unstable_by_key(|c| c.index);
        }
        Ok(out)
    }

    /// The blocks whose id span holds `id` (ids are ordered by creation,
    /// so one or two), without summaries.
    pub(crate) async fn blocks_spanning_id(&self, id: &str) -> crate::Result<Vec<BlockRow>> {
        let sql = format!(
            "SELECT {} FROM log_blocks WHERE max_id >= $1 AND min_id <= $1 ORDER BY max_id LIMIT 8",
            head_columns(false)
        );
        let rows = sqlx::query(&sql).bind(id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| block_row(r, false)).collect()
    }

    /// The highest ledger position a stored block holds.
    pub async fn max_block_position(&self) -> crate::Result<Option<i64>> {
        use sqlx::Row;
        let row = sqlx::query("SELECT MAX(last_index) AS m FROM log_blocks").fetch_one(&self.pool).await?;
        Ok(row.try_get("m")?)
    }
}

/// What of a chunk a search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkRead {
    /// The records' heads (`data`): what decides a filter on columns and
    /// counts by one.
    Heads,
    /// Heads and attributes: whole events.
    Whole,
}

impl ChunkRead {
    fn columns(self) -> &'static str {
        match self {
            ChunkRead::Heads => "data",
            ChunkRead::Whole => "data, attrs",
        }
    }
}

/// A `log_chunks` row read with [`ChunkRead::columns`].
fn chunk_row(r: &sqlx::any::AnyRow, read: ChunkRead) -> crate::Result<StoredChunk> {
    use sqlx::Row;
    let corrupt = |e: BlockError| crate::StoreError::Corrupt(e.to_string());
    let index: i64 = r.try_get("chunk")?;
    let index = usize::try_from(index).map_err(|_| corrupt(BlockError::Corrupt("negative chunk number")))?;
    let attrs: Option<Vec<u8>> = match read {
        ChunkRead::Heads => None,
        ChunkRead::Whole => r.try_get("attrs")?,
    };
    StoredChunk::from_row(index, r.try_get("data")?, attrs).map_err(corrupt)
}

pub(crate) async fn insert_block(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    block: &EncodedBlock,
) -> crate::Result<()> {
    insert_row(tx, block, &[], &[]).await?;
    // A block stored again after a crash: its chunks and slices are the
    // same. Several rows per statement (32 chunks, up to 256 slices).
    let values = |rows: usize, per_row: usize| -> String {
        (0..rows)
            .map(|i| {
                let params: Vec<String> = (1..=per_row).map(|k| format!("${}", per_row * i + k)).collect();
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // (`chunk_attrs` is empty for the version 2 chunks tests store.)
    let numbers: Vec<usize> = (0..block.chunks.len()).collect();
    for part in numbers.chunks(32) {
        let sql = format!(
            "INSERT INTO log_chunks (first_index, chunk, data, attrs) VALUES {} ON CONFLICT DO NOTHING",
            values(part.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for &k in part {
            q = q
                .bind(block.first_index)
                .bind(k as i64)
                .bind(block.chunks[k].as_slice())
                .bind(block.chunk_attrs.get(k).map(Vec::as_slice));
        }
        q.execute(&mut **tx).await?;
    }
    let slices: Vec<(i64, &[u8])> = block.slices.iter().map(|(i, s)| (*i as i64, s.as_slice())).collect();
    for part in slices.chunks(64) {
        let sql = format!(
            "INSERT INTO log_term_slices (first_index, slice, entries) VALUES {} ON CONFLICT DO NOTHING",
            values(part.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (k, bytes) in part {
            q = q.bind(block.first_index).bind(*k).bind(*bytes);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The block's row, with `summary` and `body` (both empty for a block
/// whose slices and chunks are rows of their own).
async fn insert_row(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    block: &EncodedBlock,
    summary: &[u8],
    body: &[u8],
) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO log_blocks (first_index, last_index, events, min_time_ms, max_time_ms, min_id, max_id, summary, \
         body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (first_index) DO NOTHING",
    )
    .bind(block.first_index)
    .bind(block.last_index)
    .bind(block.events as i64)
    .bind(block.min_time_ms)
    .bind(block.max_time_ms)
    .bind(block.min_id.as_str())
    .bind(block.max_id.as_str())
    .bind(summary)
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the block starting at `first_index` with its chunks.
pub(crate) async fn delete_block(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    first_index: i64,
) -> crate::Result<()> {
    // The slices' key leads with the slice (a search scans one slice of
    // many blocks): name every slice so the key finds them.
    let slices: Vec<String> = (0..TERM_SLICES).map(|s| s.to_string()).collect();
    let by_slice = format!("DELETE FROM log_term_slices WHERE first_index = $1 AND slice IN ({})", slices.join(","));
    for sql in [
        "DELETE FROM log_chunks WHERE first_index = $1",
        by_slice.as_str(),
        "DELETE FROM log_blocks WHERE first_index = $1",
    ] {
        sqlx::query(sql).bind(first_index).execute(&mut **tx).await?;
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, BlockError> {
        let (&b, rest) = self.bytes.split_first().ok_or(BlockError::Corrupt("record cut short"))?;
        self.bytes = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, BlockError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BlockError::Corrupt("varint too long"))
    }

    fn text(&mut self) -> Result<&'a str, BlockError> {
        let len = usize::try_from(self.varint()?).map_err(|_| BlockError::Corrupt("length out of range"))?;
        let (s, rest) = self.bytes.split_at_checked(len).ok_or(BlockError::Corrupt("text cut short"))?;
        self.bytes = rest;
        std::str::from_utf8(s).map_err(|_| BlockError::Corrupt("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn event(i: usize) -> Event {
        let mut e = Event::new("log.sshd.auth_failed", Outcome::Failure, format!("user{}", i % 7));
        e.time_ms = 1_700_000_000_000 + (i as i64 * 37) % 5_000;
        e.attrs = serde_json::json!({
            "syslog": { "hostname": format!("host-{}", i % 5), "app_name": "sshd" },
            "source": { "name": format!("host-{}", i % 5) },
            "fields": { "User": format!("user{}", i % 7), "src_ip": format!("10.0.{}.{}", i / 256, i % 256) },
            "message": format!("Failed password for user{} from 10.0.0.{i} — ünï", i % 7),
        });
        if i.is_multiple_of(3) {
            e.object = Some("carol".into());
            e.source_addr = Some("192.0.2.1".into());
        }
        if i.is_multiple_of(4) {
            e.tenant_id = Some(Id::from_trusted("ten_1".into()));
        }
        e
    }

    fn block(n: usize) -> (Vec<Event>, Vec<String>, EncodedBlock) {
        let events: Vec<Event> = (0..n).map(event).collect();
        let texts: Vec<String> = events.iter().map(|e| serde_json::to_string(&e.attrs).unwrap()).collect();
        let encoded = encode(&inputs(&events, &texts), Backend::Sqlite).unwrap();
        (events, texts, encoded)
    }

    /// The events as a block takes them, at positions 1000, 1002, …
    fn inputs<'a>(events: &'a [Event], texts: &'a [String]) -> Vec<BlockEvent<'a>> {
        events
            .iter()
            .zip(texts)
            .enumerate()
            .map(|(i, (event, attrs_json))| BlockEvent { event, ledger_index: 1000 + 2 * i as i64, attrs_json })
            .collect()
    }

    fn decoded(chunks: &[StoredChunk], b: &EncodedBlock) -> Vec<StoredLog> {
        chunks
            .iter()
            .flat_map(|c| c.decode(b.first_index, b.min_time_ms).unwrap().events_where(|_, _| true).unwrap())
            .collect()
    }

    fn rows(b: &EncodedBlock) -> Vec<StoredChunk> {
        b.chunks
            .iter()
            .zip(&b.chunk_attrs)
            .enumerate()
            .map(|(i, (c, a))| StoredChunk::from_row(i, c.clone(), Some(a.clone())).unwrap())
            .collect()
    }

    /// The rows as a search that reads heads only gets them.
    fn head_rows(b: &EncodedBlock) -> Vec<StoredChunk> {
        b.chunks.iter().enumerate().map(|(i, c)| StoredChunk::from_row(i, c.clone(), None).unwrap()).collect()
    }

    fn same_events(back: &[StoredLog], events: &[Event], texts: &[String]) {
        assert_eq!(back.len(), events.len());
        for (i, (got, (want, text))) in back.iter().zip(events.iter().zip(texts)).enumerate() {
            assert_eq!(got.ledger_index, 1000 + 2 * i as i64);
            assert_eq!(&got.attrs_json, text);
            assert_eq!(serde_json::to_value(&got.event).unwrap(), serde_json::to_value(want).unwrap());
        }
    }

    #[test]
    fn every_event_comes_back_from_its_chunk() {
        let (events, texts, b) = block(BLOCK_EVENTS);
        assert_eq!((b.first_index, b.last_index, b.events), (1000, 1000 + 2 * (BLOCK_EVENTS as i64 - 1), BLOCK_EVENTS));
        assert_eq!(b.chunks.len(), BLOCK_CHUNKS);
        same_events(&decoded(&rows(&b), &b), &events, &texts);
        let stored: usize = b.chunks.iter().chain(&b.chunk_attrs).map(Vec::len).sum();
        assert!(stored * 3 < texts.iter().map(String::len).sum::<usize>(), "chunks are compressed");
        // The heads hold no attribute text: a search on columns reads and
        // decompresses none of it.
        let heads: usize = b.chunks.iter().map(Vec::len).sum();
        assert!(heads < stored, "heads {heads} of {stored} bytes");
        let bare = head_rows(&b)[0].decode(b.first_index, b.min_time_ms).unwrap();
        assert!(!String::from_utf8_lossy(&bare.raw).contains("Failed password"));
        assert!(String::from_utf8_lossy(&bare.raw).contains(events[0].id.as_str()));
        // One chunk alone, as a search that selects it reads it.
        let third = decoded(&rows(&b)[2..3], &b);
        assert_eq!(third.first().map(|e| e.ledger_index), Some(1000 + 2 * 2 * CHUNK_EVENTS as i64));
        assert_eq!(third.len(), CHUNK_EVENTS);
    }

    #[test]
    fn heads_carry_every_column_and_host_and_source() {
        let (events, texts, b) = block(300);
        let records = rows(&b)[1].decode(b.first_index, b.min_time_ms).unwrap();
        let heads = records.heads().unwrap();
        assert_eq!(heads.len(), CHUNK_EVENTS);
        for (h, (e, text)) in heads.iter().zip(events.iter().zip(&texts).skip(CHUNK_EVENTS)) {
            assert_eq!(
                (h.id, h.kind, h.actor, h.time_ms),
                (e.id.as_str(), e.kind.as_str(), e.actor.as_str(), e.time_ms)
            );
            assert_eq!((h.object, h.source_addr), (e.object.as_deref(), e.source_addr.as_deref()));
            assert_eq!(h.tenant, e.tenant_id.as_ref().map(Id::as_str));
            assert_eq!(h.host, Some(e.attrs["syslog"]["hostname"].as_str()));
            assert_eq!(h.source, Some(e.attrs["source"]["name"].as_str()));
            assert_eq!(h.attrs_json, Some(text.as_str()));
        }
        // Read without the attributes: the same heads, the attributes
        // unknown, and the event refused rather than made up.
        let records = head_rows(&b)[1].decode(b.first_index, b.min_time_ms).unwrap();
        assert!(!records.has_attrs());
        let bare_heads = records.heads().unwrap();
        assert_eq!(bare_heads.len(), heads.len());
        for (a, h) in bare_heads.iter().zip(&heads) {
            assert_eq!(
                (a.ledger_index, a.time_ms, a.id, a.kind, a.host),
                (h.ledger_index, h.time_ms, h.id, h.kind, h.host)
            );
            assert_eq!(a.attrs_json, None);
            assert_eq!(a.stored().unwrap_err(), BlockError::AttrsNotRead);
        }
        // An event without them says so (known absent, not unknown).
        let mut bare = event(0);
        bare.attrs = serde_json::json!({"message": "x"});
        let one =
            encode(&[BlockEvent { event: &bare, ledger_index: 7, attrs_json: "{\"message\":\"x\"}" }], Backend::Sqlite)
                .unwrap();
        let records = rows(&one)[0].decode(one.first_index, one.min_time_ms).unwrap();
        let heads = records.heads().unwrap();
        assert_eq!((heads[0].host, heads[0].source), (Some(None), Some(None)));
    }

    #[test]
    fn chunk_rows_stored_before_attrs_were_apart_still_read() {
        let (events, texts, b) = block(300);
        let v2 = v2_chunks(&inputs(&events, &texts), b.first_index, b.min_time_ms);
        assert_eq!(v2.len(), 3);
        let chunks: Vec<StoredChunk> =
            v2.iter().enumerate().map(|(i, c)| StoredChunk::from_row(i, c.clone(), None).unwrap()).collect();
        same_events(&decoded(&chunks, &b), &events, &texts);
        let records = chunks[0].decode(b.first_index, b.min_time_ms).unwrap();
        assert!(records.has_attrs(), "inline");
        // Attributes beside a version 2 row are damage.
        assert_eq!(
            StoredChunk::from_row(0, v2[0].clone(), Some(b.chunk_attrs[0].clone())).unwrap_err(),
            BlockError::Corrupt("attributes beside a version 2 chunk")
        );
    }

    #[test]
    fn blocks_stored_before_chunk_rows_still_read() {
        let (events, texts, b) = block(300);
        let legacy = legacy_body(&inputs(&events, &texts), b.first_index, b.min_time_ms);
        let body = Body::parse(&legacy).unwrap();
        assert_eq!(body.chunk_count(), 3);
        same_events(&decoded(&body.chunks(u32::MAX), &b), &events, &texts);
        assert_eq!(body.chunks(0b100).iter().map(|c| c.index).collect::<Vec<_>>(), [2]);
        // Their records do not carry host and source: the head says it
        // does not know, so a search parses the attributes.
        let records = body.chunks(1)[0].decode(b.first_index, b.min_time_ms).unwrap();
        assert!(records.heads().unwrap().iter().all(|h| h.host.is_none() && h.source.is_none()));
    }

    #[test]
    fn the_summary_names_exactly_the_chunks_holding_a_term() {
        let (events, _, b) = block(1000);
        let summary = Summary::parse(&b.summary).unwrap();
        let want = |pred: &dyn Fn(&Event) -> bool| {
            events.iter().enumerate().filter(|(_, e)| pred(e)).fold(0u32, |m, (i, _)| m | 1 << (i / CHUNK_EVENTS))
        };
        let user3 = term_key(&["fields", "User"], "user3");
        assert_eq!(summary.chunks_with(user3), want(&|e| e.actor == "user3"));
        let ip = term_key(&["fields", "src_ip"], "10.0.2.7");
        assert_eq!(summary.chunks_with(ip), 1 << ((2 * 256 + 7) / CHUNK_EVENTS));
        assert_eq!(
            summary.chunks_with(column_term("host", "host-2")),
            want(&|e| e.attrs["syslog"]["hostname"] == "host-2")
        );
        assert_eq!(summary.chunks_with(column_term("tenant", "ten_1")), want(&|e| e.tenant_id.is_some()));
        assert_eq!(summary.chunks_with(column_term("object", "carol")), want(&|e| e.object.is_some()));
        assert_eq!(summary.chunks_with(column_term("host", "host-9")), 0);
        assert_eq!(summary.chunks_with(term_key(&["fields", "User"], "nobody")), 0);
        // 1000 addresses, 7 users, 5 hosts and sources, 1 kind, app, object,
        // address and tenant: every one once.
        assert_eq!(summary.len(), 1000 + 7 + 7 + 5 + 5 + 1 + 1 + 1 + 1 + 1);
    }

    #[test]
    fn slices_cut_the_summary_by_the_terms_top_byte() {
        let (_, _, b) = block(BLOCK_EVENTS);
        let whole = Summary::parse(&b.summary).unwrap();
        assert!(b.slices.len() > 200, "4,096 addresses spread over the slices: {}", b.slices.len());
        assert!(b.slices.windows(2).all(|w| w[0].0 < w[1].0), "ascending, each slice once");
        let mut total = 0;
        for (slice, bytes) in &b.slices {
            let part = Summary::parse(bytes).unwrap();
            assert!(!part.is_empty(), "no empty slice is stored");
            for i in 0..part.len() {
                let at = i * ENTRY;
                let key = (u64::from_be_bytes(part.entries[at..at + 8].try_into().unwrap()) ^ (1 << 63)) as i64;
                assert_eq!(slice_of(key), *slice);
                assert_eq!(part.chunks_with(key), whole.chunks_with(key));
            }
            total += part.len();
        }
        assert_eq!(total, whole.len(), "every term in exactly one slice");
    }

    #[test]
    fn bad_input_is_refused() {
        let e = event(1);
        let one = BlockEvent { event: &e, ledger_index: 5, attrs_json: "{}" };
        assert_eq!(encode(&[], Backend::Sqlite).unwrap_err(), BlockError::Size(0));
        assert_eq!(encode(&[one, one], Backend::Sqlite).unwrap_err(), BlockError::Order);
        let many = vec![one; BLOCK_EVENTS + 1];
        assert_eq!(encode(&many, Backend::Sqlite).unwrap_err(), BlockError::Size(BLOCK_EVENTS + 1));
    }

    #[test]
    fn damaged_bytes_give_errors_not_panics() {
        let (events, texts, b) = block(300);
        // Every truncation of the summary, of a chunk row and of a
        // version 1 body, and a flipped byte at every position of them.
        for cut in 0..b.summary.len().min(64) {
            assert!(Summary::parse(&b.summary[..cut]).is_err(), "summary cut at {cut}");
        }
        let (chunk, attrs) = (&b.chunks[0], &b.chunk_attrs[0]);
        let read = |heads: &[u8], attrs: &[u8]| {
            StoredChunk::from_row(0, heads.to_vec(), Some(attrs.to_vec()))
                .and_then(|c| c.decode(b.first_index, b.min_time_ms))
                .and_then(|r| r.events_where(|_, _| true))
        };
        assert_eq!(read(chunk, attrs).unwrap().len(), CHUNK_EVENTS);
        for cut in 0..chunk.len() {
            assert!(read(&chunk[..cut], attrs).is_err(), "heads cut at {cut} decoded");
        }
        for cut in 0..attrs.len() {
            assert!(read(chunk, &attrs[..cut]).is_err(), "attributes cut at {cut} decoded");
        }
        // Another chunk's attributes: more or fewer than the records.
        let other = encode(&inputs(&events[..5], &texts[..5]), Backend::Sqlite).unwrap();
        assert_eq!(read(chunk, &other.chunk_attrs[0]).unwrap_err(), BlockError::Corrupt("record cut short"));
        assert_eq!(
            read(&other.chunks[0], attrs).unwrap_err(),
            BlockError::Corrupt("more attributes than records in a chunk")
        );
        let legacy = legacy_body(&inputs(&events, &texts), b.first_index, b.min_time_ms);
        for cut in 0..legacy.len() {
            if let Ok(body) = Body::parse(&legacy[..cut]) {
                panic!("body cut at {cut} parsed with {} chunks", body.chunk_count());
            }
        }
        // The fuzz target's checks (what decodes re-encodes to the same
        // events) on each form, and on a flipped byte everywhere in the
        // first 2,000 of each.
        // (A row of heads and attributes, as the target reads one: both,
        // then the heads' length in two bytes.)
        let mut row = [chunk.as_slice(), attrs.as_slice()].concat();
        row.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        for bytes in [&b.summary, chunk, &legacy, &row] {
            crate::fuzz_entry::logblock(bytes);
            for at in 0..bytes.len().min(2_000) {
                let mut bad = bytes.clone();
                bad[at] ^= 0x5a;
                crate::fuzz_entry::logblock(&bad);
            }
        }
        // A chunk whose size prefix claims far more than it could hold,
        // one of an unknown version, one numbered beyond a block.
        let mut huge = vec![CHUNK_V2];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        let err = StoredChunk::from_row(0, huge, None).unwrap().decode(0, 0).unwrap_err();
        assert_eq!(err, BlockError::Corrupt("chunk claims an impossible size"));
        assert_eq!(
            StoredChunk::from_row(0, vec![9, 0], None).unwrap_err(),
            BlockError::Corrupt("unknown chunk version")
        );
        assert_eq!(StoredChunk::from_row(0, Vec::new(), None).unwrap_err(), BlockError::Corrupt("empty chunk"));
        assert_eq!(
            StoredChunk::from_row(BLOCK_CHUNKS, chunk.clone(), None).unwrap_err(),
            BlockError::Corrupt("chunk number beyond a block")
        );
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader { bytes: &out }.varint().unwrap(), v);
        }
        assert!(Reader { bytes: &[0xff; 11] }.varint().is_err());
    }
}
