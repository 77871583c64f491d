//! Entry points for the `store_*` cargo-fuzz targets (see `fuzz/`): the
//! readers of bytes the database hands back, which a damaged disk or a
//! hand-edited database may have changed. Each asserts what search relies
//! on, not only that nothing panics.

use crate::Backend;
use crate::logblock::{BLOCK_CHUNKS, BlockEvent, Body, CHUNK_EVENTS, StoredChunk, Summary, encode};

/// A log block's stored bytes as a search reads them: the input is tried
/// as a summary, as a version 1 body and as a row of `log_chunks`: whole
/// as `data` alone, and, its last two bytes read as a length (little
/// endian), as that much `data` and the rest as `attrs`. A
/// summary that parses answers every lookup with a mask of real chunks; a
/// body that parses has at most [`BLOCK_CHUNKS`] chunks; a chunk decodes
/// to at most [`CHUNK_EVENTS`] records or an error; and the events of a
/// chunk that decodes, stored again, decode to the same events.
pub fn logblock(data: &[u8]) {
    if let Ok(summary) = Summary::parse(data) {
        for key in [0, -1, i64::MIN, i64::MAX, 42] {
            let _ = summary.chunks_with(key);
        }
        assert!(summary.len() * 12 + 5 == data.len());
    }
    if let Ok(body) = Body::parse(data) {
        assert!(body.chunk_count() <= BLOCK_CHUNKS);
        for chunk in body.chunks(u32::MAX) {
            chunk_round_trips(&chunk);
        }
    }
    if let Ok(chunk) = StoredChunk::from_row(0, data.to_vec(), None) {
        chunk_round_trips(&chunk);
    }
    if let Some((row, cut)) = data.split_last_chunk::<2>() {
        let (heads, attrs) = row.split_at((u16::from_le_bytes(*cut) as usize).min(row.len()));
        if let Ok(chunk) = StoredChunk::from_row(0, heads.to_vec(), Some(attrs.to_vec())) {
            chunk_round_trips(&chunk);
        }
    }
}

fn chunk_round_trips(chunk: &StoredChunk) {
    let Ok(records) = chunk.decode(1_000, 1_700_000_000_000) else { return };
    let Ok(heads) = records.heads() else { return };
    assert!(heads.len() <= CHUNK_EVENTS);
    let Ok(events) = heads.iter().map(|h| h.stored()).collect::<Result<Vec<_>, _>>() else { return };
    let ascending = events.windows(2).all(|w| w[0].ledger_index < w[1].ledger_index);
    if events.is_empty() || !ascending {
        return;
    }
    let input: Vec<BlockEvent<'_>> = events
        .iter()
        .map(|e| BlockEvent { event: &e.event, ledger_index: e.ledger_index, attrs_json: &e.attrs_json })
        .collect();
    let again = encode(&input, Backend::Sqlite);
    assert!(again.is_ok(), "decoded events encode again: {again:?}");
    let Ok(again) = again else { return };
    let back = StoredChunk::from_row(0, again.chunks[0].clone(), Some(again.chunk_attrs[0].clone()))
        .and_then(|c| c.decode(again.first_index, again.min_time_ms))
        .and_then(|r| r.events_where(|_, _| true))
        .unwrap_or_default();
    assert_eq!(back.len(), events.len());
    for (a, b) in back.iter().zip(&events) {
        assert_eq!((a.ledger_index, &a.attrs_json, a.event.time_ms), (b.ledger_index, &b.attrs_json, b.event.time_ms));
        assert_eq!((&a.event.id, &a.event.kind, &a.event.actor), (&b.event.id, &b.event.kind, &b.event.actor));
    }
}
