//! Log search and tail: the query language of `rampart_ingest::query`
//! over every event (ingested logs and Rampart's own audit events), each
//! result with its ledger index. `search` pages newest first (keyset on the
//! ledger index); `tail` long-polls for events after a cursor, oldest first.
//! `export` streams a time range (of one source, or all) as gzip'd JSON
//! lines, each event with its ledger entry and inclusion proof against a
//! signed checkpoint (`rampart_ledger::export`, `docs/export.md`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use rampart_core::time::{now_ms, rfc3339};
use rampart_ingest::query::{self, Query};
use rampart_store::{LogSearch, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::server::AppState;

/// The most results (or `count by` values) one page holds.
const MAX_LIMIT: usize = 1000;
/// The longest a tail request waits for new events.
const MAX_WAIT_SECS: u64 = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The query, e.g. `host:web01 AND "Failed password" | count by User`.
    pub q: Option<String>,
    /// From this time (inclusive): RFC 3339, or a duration ago (`15m`, `2h`, `7d`).
    pub since: Option<String>,
    /// Until this time (exclusive): RFC 3339, or a duration ago.
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page (search), or the `next` of
    /// the previous answer (tail).
    pub after: Option<String>,
    /// Tail only: seconds to wait for new events, 0 to 20 (default 15; below the request timeout).
    pub wait: Option<u64>,
}

/// One matching event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogEvent {
    /// The event's place in search order: its ledger index (for events
    /// indexed without one, the index table's sequence).
    pub seq: i64,
    /// The event's entry in the tamper-evident ledger (prove it with
    /// `/api/v1/ledger/proof/inclusion?index=…`).
    pub ledger_index: Option<i64>,
    pub id: String,
    pub time: String,
    pub kind: String,
    pub outcome: String,
    pub actor: String,
    pub object: Option<String>,
    pub source_addr: Option<String>,
    pub attrs: serde_json::Value,
}

/// Search results: events, or with `| count by FIELD` the counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchResult {
    pub items: Vec<LogEvent>,
    /// `| count by FIELD`: each value (null: events without the field) and
    /// how many events have it, largest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<CountBucket>>,
    /// Pass as `after` for the next page (search: older events; tail: the
    /// events after these).
    pub next: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountBucket {
    pub value: Option<String>,
    pub count: i64,
}

fn event(stored: StoredEvent) -> LogEvent {
    let e = stored.event;
    LogEvent {
        seq: stored.ledger_index.unwrap_or(stored.seq),
        ledger_index: stored.ledger_index,
        id: e.id.to_string(),
        time: rfc3339(e.time_ms),
        kind: e.kind,
        outcome: e.outcome.as_str().to_owned(),
        actor: e.actor,
        object: e.object,
        source_addr: e.source_addr,
        attrs: e.attrs,
    }
}

fn time_param(name: &str, value: Option<&str>, now: i64) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            query::parse_time(v, now).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid-query",
                    format!("{name} must be an RFC 3339 time or a duration like 15m"),
                )
            })
        })
        .transpose()
}

fn cursor(after: Option<&str>) -> Result<Option<i64>, ApiError> {
    after
        .map(|a| a.parse::<i64>().map_err(|_| ApiError::bad_request("invalid-query", "after must be a cursor")))
        .transpose()
}

/// Parses the request into a search; every mistake is a 400 that says
/// what and where.
fn search_of(q: &SearchQuery, now: i64) -> Result<LogSearch, ApiError> {
    let query: Query = query::parse(q.q.as_deref().unwrap_or_default(), now)
        .map_err(|e| ApiError::bad_request("invalid-query", format!("q: {e}")))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request("invalid-query", format!("limit must be 1 to {MAX_LIMIT}")));
    }
    Ok(LogSearch {
        query,
        since_ms: time_param("since", q.since.as_deref(), now)?,
        until_ms: time_param("until", q.until.as_deref(), now)?,
        before: None,
        limit,
    })
}

/// Searches the logs, newest first, each result with its ledger index.
#[utoipa::path(get, path = "/api/v1/logs/search", tag = "logs", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 400, body = crate::problem::Problem)))]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    let mut search = search_of(&q, now_ms())?;
    search.before = cursor(q.after.as_deref())?;
    if search.query.count_by.is_some() {
        let buckets =
            state.store.count_logs(&search).await.map_err(|e| ApiError::internal("counting log events", &e))?;
        let counts = buckets.into_iter().map(|b| CountBucket { value: b.value, count: b.count }).collect();
        return Ok(Json(SearchResult { items: Vec::new(), counts: Some(counts), next: None }));
    }
    let page = state.store.search_logs(&search).await.map_err(|e| ApiError::internal("searching log events", &e))?;
    Ok(Json(SearchResult {
        items: page.events.into_iter().map(event).collect(),
        counts: None,
        next: page.next.map(|n| n.to_string()),
    }))
}

/// Events after the cursor (without one: from now), oldest first; waits
/// up to `wait` seconds for the first to arrive (long poll).
#[utoipa::path(get, path = "/api/v1/logs/tail", tag = "logs", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 400, body = crate::problem::Problem)))]
pub async fn tail(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<SearchResult>, ApiError> {
    let search = search_of(&q, now_ms())?;
    if search.query.count_by.is_some() {
        return Err(ApiError::bad_request("invalid-query", "tail does not take '| count by'"));
    }
    let wait = q.wait.unwrap_or(15);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request("invalid-query", format!("wait must be 0 to {MAX_WAIT_SECS}")));
    }
    let after = match cursor(q.after.as_deref())? {
        Some(a) => a,
        None => state.store.last_event_position().await.map_err(|e| ApiError::internal("reading the log", &e))?,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    // New events follow ledger commits: wake on each, poll at least every
    // 500 ms (the index trails the ledger by one indexer batch).
    let mut heads = state.ledger.subscribe();
    loop {
        let events =
            state.store.logs_after(&search, after).await.map_err(|e| ApiError::internal("reading the log", &e))?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            let next = events.last().and_then(|e| e.ledger_index).unwrap_or(after);
            return Ok(Json(SearchResult {
                items: events.into_iter().map(event).collect(),
                counts: None,
                next: Some(next.to_string()),
            }));
        }
        let nap = deadline.saturating_duration_since(tokio::time::Instant::now()).min(Duration::from_millis(500));
        let _ = tokio::time::timeout(nap, heads.changed()).await;
        // Give the indexer a moment to follow the ledger.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// From this time (inclusive): RFC 3339, or a duration ago (`7d`).
    pub since: String,
    /// Until this time (exclusive): RFC 3339, or a duration ago.
    pub until: String,
    /// Only this source's events (its name).
    pub source: Option<String>,
}

/// Index positions read from the store per query while exporting.
const EXPORT_PAGE: i64 = 1000;
/// Compressed bytes buffered before they are sent on.
const EXPORT_CHUNK: usize = 64 * 1024;

/// Exports the events of a time range (and source) that are in the search
/// index, as gzip'd JSON lines: a header with the signed checkpoint, one
/// line per event (ledger index, entry bytes, inclusion proof), a trailer
/// that counts and hashes them. The export covers what was committed when
/// it began; it is recorded (`logs.exported`) before it starts.
#[utoipa::path(get, path = "/api/v1/logs/export", tag = "logs", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, content_type = "application/gzip"), (status = 400, body = crate::problem::Problem),
    (status = 503, body = crate::problem::Problem)))]
pub async fn export(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<rampart_core::Principal>,
    client: crate::extract::ClientAddr,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    let now = now_ms();
    let since = time_param("since", Some(&q.since), now)?.unwrap_or_default();
    let until = time_param("until", Some(&q.until), now)?.unwrap_or_default();
    if until <= since {
        return Err(ApiError::bad_request("invalid-query", "until must be after since"));
    }
    let source = q.source.as_deref().map(|s| s.trim().to_ascii_lowercase());
    let (note, size) = covering_checkpoint(&state).await?;
    let event = rampart_core::Event::new("logs.exported", rampart_core::Outcome::Success, &p.username)
        .source(client.text())
        .attr("since", rfc3339(since))
        .attr("until", rfc3339(until))
        .attr("source", source.clone())
        .attr("tree_size", size);
    state.auth.audit().record(event).await.map_err(|e| {
        tracing::error!(error = %e, "export refused: audit record not durable");
        ApiError::unavailable("the audit trail did not confirm the record; the export was not started")
    })?;
    let header = rampart_ledger::export::Header {
        origin: state.ledger.origin().to_owned(),
        checkpoint: note,
        tree_size: size,
        since_ms: since,
        until_ms: until,
        source,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::spawn(async move {
        if let Err(e) = write_export(&state, header, &tx).await {
            tracing::warn!(error = %e, "log export failed; the file ends without its trailer");
            let _ = tx.send(Err(std::io::Error::other(e))).await;
        }
    });
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let mut resp = axum::response::IntoResponse::into_response(body);
    let headers = resp.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/gzip"));
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        http::HeaderValue::from_static("attachment; filename=\"rampart-logs.jsonl.gz\""),
    );
    Ok(resp)
}

/// The latest signed checkpoint once it covers everything committed when
/// the export began (the checkpointer signs within a second), and its size.
async fn covering_checkpoint(state: &AppState) -> Result<(String, u64), ApiError> {
    let committed = state.ledger.head().size;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(note) = state.ledger.checkpoint() {
            let opened = rampart_ledger::Checkpoint::open(
                note.as_bytes(),
                state.ledger.origin(),
                std::slice::from_ref(state.ledger.verifier()),
            );
            if let Ok((cp, _)) = opened
                && cp.size >= committed
                && cp.size > 0
            {
                return Ok((note, cp.size));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::unavailable("no checkpoint covering the log has been signed yet; try again"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes the export's lines, gzip'd, into `tx` in chunks.
async fn write_export(
    state: &AppState,
    header: rampart_ledger::export::Header,
    tx: &tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
) -> anyhow::Result<()> {
    use rampart_ledger::export::{Digest, event_line, header_line, trailer_line};
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&header_line(&header))?;
    let mut digest = Digest::default();
    let mut count = 0u64;
    let mut after = -1i64;
    let size = i64::try_from(header.tree_size)?;
    loop {
        let positions = state
            .store
            .export_positions(header.since_ms, header.until_ms, header.source.as_deref(), after, EXPORT_PAGE)
            .await?;
        let Some(&last) = positions.last() else { break };
        // Positions at or beyond the tree size were committed after the
        // export began.
        let wanted: Vec<u64> = positions.iter().filter(|&&i| i < size).filter_map(|&i| u64::try_from(i).ok()).collect();
        let complete = wanted.len() == positions.len();
        for proof in state.ledger.inclusion_many(wanted, header.tree_size).await? {
            let line = event_line(proof.index, &proof.entry, &proof.proof);
            digest.update(&line);
            gz.write_all(&line)?;
            count += 1;
            if gz.get_ref().len() >= EXPORT_CHUNK {
                let chunk = std::mem::take(gz.get_mut());
                tx.send(Ok(chunk)).await.map_err(|_| anyhow::anyhow!("the client went away"))?;
            }
        }
        if !complete {
            break;
        }
        after = last;
    }
    gz.write_all(&trailer_line(count, digest))?;
    let rest = gz.finish()?;
    tx.send(Ok(rest)).await.map_err(|_| anyhow::anyhow!("the client went away"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_refused_before_any_query() {
        let q = |q: &str, limit| SearchQuery {
            q: Some(q.into()),
            since: None,
            until: None,
            limit,
            after: None,
            wait: None,
        };
        assert!(search_of(&q("host:web01", None), 0).is_ok());
        assert!(search_of(&q("(unclosed", None), 0).is_err());
        assert!(search_of(&q("x", Some(0)), 0).is_err());
        assert!(search_of(&q("x", Some(5000)), 0).is_err());
        let mut bad_time = q("x", None);
        bad_time.since = Some("yesterday".into());
        assert!(search_of(&bad_time, 0).is_err());
        assert!(cursor(Some("x")).is_err());
    }
}
