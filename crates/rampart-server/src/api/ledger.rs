//! The ledger's public read side: the signed checkpoint, the verifier key,
//! C2SP tiles and entry bundles, and inclusion and consistency proofs. All of
//! it is public by design: entries hold no secret, and anyone holding the
//! verifier key can check what they are served.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use rampart_ledger::LedgerError;
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::server::AppState;

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::NotFound => ApiError::not_found(),
        LedgerError::BadRequest(d) => ApiError::bad_request("invalid-proof-request", d),
        other => ApiError::unavailable(other.to_string()),
    }
}

fn text(body: String, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The latest signed checkpoint (C2SP tlog-checkpoint in a signed note).
#[utoipa::path(get, path = "/ledger/checkpoint", tag = "ledger",
    responses((status = 200, content_type = "text/plain"), (status = 503, body = crate::problem::Problem)))]
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let note = state.ledger.checkpoint().ok_or_else(|| ApiError::unavailable("no checkpoint has been signed yet"))?;
    let mut resp = text(note, "text/plain; charset=utf-8");
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The checkpoint verifier key, in C2SP vkey form.
#[utoipa::path(get, path = "/ledger/key", tag = "ledger", responses((status = 200, content_type = "text/plain")))]
pub async fn key(State(state): State<AppState>) -> Response {
    text(format!("{}\n", state.ledger.verifier_key()), "text/plain; charset=utf-8")
}

/// A hash tile or entry bundle (C2SP tlog-tiles), e.g. `/ledger/tile/0/x001/234.p/17`.
#[utoipa::path(get, path = "/ledger/tile/{*path}", tag = "ledger", params(("path" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = crate::problem::Problem)))]
pub async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Result<Response, ApiError> {
    let bytes = state.ledger.tile(&path).await.map_err(ledger_error)?;
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    // Full tiles never change; partial ones are named by their width, so
    // a given path always holds the same bytes once served.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry's index; or give `event_id`.
    pub index: Option<u64>,
    /// An audit event's id, instead of `index`.
    pub event_id: Option<String>,
    /// Tree size to prove against (default: the latest committed).
    pub size: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionResponse {
    pub index: u64,
    pub tree_size: u64,
    /// The entry bytes, base64.
    pub entry: String,
    pub leaf_hash: String,
    /// Sibling hashes from the leaf up, base64.
    pub proof: Vec<String>,
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Inclusion proof of one entry, by index or by audit event id.
#[utoipa::path(get, path = "/api/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery),
    responses((status = 200, body = InclusionResponse), (status = 404, body = crate::problem::Problem)))]
pub async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionResponse>, ApiError> {
    let index = match (q.index, q.event_id.as_deref()) {
        (Some(i), None) => i,
        (None, Some(id)) => {
            let stored = state
                .store
                .find_event(id)
                .await
                .map_err(|e| ApiError::internal("finding an event", &e))?
                .ok_or_else(ApiError::not_found)?;
            stored.ledger_index.and_then(|i| u64::try_from(i).ok()).ok_or_else(ApiError::not_found)?
        }
        _ => return Err(ApiError::bad_request("invalid-query", "give exactly one of index and event_id")),
    };
    let p = state.ledger.inclusion(index, q.size).await.map_err(ledger_error)?;
    Ok(Json(InclusionResponse {
        index: p.index,
        tree_size: p.size,
        entry: b64(&p.entry),
        leaf_hash: b64(&p.leaf_hash),
        proof: p.proof.iter().map(|h| b64(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree size.
    pub first: u64,
    /// The larger tree size (default: the latest committed).
    pub second: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyResponse {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<String>,
}

/// Consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyResponse), (status = 400, body = crate::problem::Problem)))]
pub async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyResponse>, ApiError> {
    let second = q.second.unwrap_or_else(|| state.ledger.head().size);
    let proof = state.ledger.consistency(q.first, Some(second)).await.map_err(ledger_error)?;
    Ok(Json(ConsistencyResponse { first: q.first, second, proof: proof.iter().map(|h| b64(h)).collect() }))
}
