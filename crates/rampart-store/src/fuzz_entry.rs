//! Entry points for the `store_*` cargo-fuzz targets (see `fuzz/`): the
//! readers of bytes the database hands back, which a damaged disk or a
//! hand-edited database may have changed. Each asserts what search relies
//! on, not only that nothing panics.

use crate::Backend;
use crate::logblock::{BLOCK_CHUNKS, BlockEvent, Body, CHUNK_EVENTS, Summary, encode};

/// A log block's summary and body as a search reads them: the input is
/// tried as both. A summary that parses answers every lookup with a mask
/// of real chunks; a body that parses has at most [`BLOCK_CHUNKS`] chunks,
/// each decoding to at most [`CHUNK_EVENTS`] events or an error; and the
/// events of a chunk that decodes, stored again, decode to the same
/// events.
pub fn logblock(data: &[u8]) {
    if let Ok(summary) = Summary::parse(data) {
        for key in [0, -1, i64::MIN, i64::MAX, 42] {
            let _ = summary.chunks_with(key);
        }
        assert!(summary.len() * 12 + 5 == data.len());
    }
    let Ok(body) = Body::parse(data, 1_000, 1_700_000_000_000) else { return };
    assert!(body.chunk_count() <= BLOCK_CHUNKS);
    for c in 0..body.chunk_count() {
        let Ok(events) = body.chunk(c) else { continue };
        assert!(events.len() <= CHUNK_EVENTS);
        let ascending = events.windows(2).all(|w| w[0].ledger_index < w[1].ledger_index);
        if events.is_empty() || !ascending {
            continue;
        }
        let input: Vec<BlockEvent<'_>> = events
            .iter()
            .map(|e| BlockEvent { event: &e.event, ledger_index: e.ledger_index, attrs_json: &e.attrs_json })
            .collect();
        let again = encode(&input, Backend::Sqlite);
        assert!(again.is_ok(), "decoded events encode again: {again:?}");
        let Ok(again) = again else { return };
        let body = Body::parse(&again.body, again.first_index, again.min_time_ms).ok();
        let back = body.and_then(|b| b.chunk(0).ok()).unwrap_or_default();
        assert_eq!(back.len(), events.len());
        for (a, b) in back.iter().zip(&events) {
            assert_eq!(
                (a.ledger_index, &a.attrs_json, a.event.time_ms),
                (b.ledger_index, &b.attrs_json, b.event.time_ms)
            );
            assert_eq!((&a.event.id, &a.event.kind, &a.event.actor), (&b.event.id, &b.event.kind, &b.event.actor));
        }
    }
}
