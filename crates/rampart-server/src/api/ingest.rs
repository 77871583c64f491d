//! `POST /api/v1/ingest`: log events over HTTPS, authenticated by the
//! source's ingest token (`rampart source token SOURCE`), as NDJSON or one
//! JSON array, optionally gzip-compressed.
//!
//! A request is all or nothing: every element is checked first (an object
//! or a string, at most [`MAX_EVENTS`], the whole body within the server's
//! body limit and, decompressed, within [`MAX_DECOMPRESSED`]); then the
//! events go to the ledger in one request (contiguous indexes) and the
//! answer (200 with the count and the index range) comes only once they
//! are durable and indexed. Anything refused stores nothing.

use std::io::Read;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use http::{HeaderMap, StatusCode, header};
use rampart_core::time::now_ms;
use rampart_ingest::syslog::SyslogRecord;
use serde::Serialize;
use serde_json::Value;

use crate::extract::ClientAddr;
use crate::ingest::{Admission, Prepared, Transport};
use crate::problem::ApiError;
use crate::server::AppState;

/// The most events one request holds: one ledger batch.
pub const MAX_EVENTS: usize = rampart_ledger::service::MAX_BATCH;
/// The most bytes a gzip body may inflate to (bombs are cut off here).
pub const MAX_DECOMPRESSED: usize = 32 * 1024 * 1024;

/// What was stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ingested {
    /// Events stored.
    pub accepted: usize,
    /// Ledger index of the first and last (contiguous).
    pub first_index: u64,
    pub last_index: u64,
    /// The source they were stored under.
    pub source: String,
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        "an ingest token (Authorization: Bearer rit_…, from `rampart source token SOURCE`) is required",
    )
}

fn too_large(detail: String) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large", detail)
}

/// The body, inflated when it says it is gzip; bounded.
fn decoded(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, ApiError> {
    let encoding = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(body.to_vec()),
        Some("gzip" | "x-gzip") => {
            let mut out = Vec::new();
            let limit = u64::try_from(MAX_DECOMPRESSED).unwrap_or(u64::MAX) + 1;
            flate2::read::MultiGzDecoder::new(body.as_ref())
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request("invalid-body", format!("the gzip body does not inflate: {e}")))?;
            if out.len() > MAX_DECOMPRESSED {
                return Err(too_large(format!("the body inflates beyond {MAX_DECOMPRESSED} bytes")));
            }
            Ok(out)
        }
        Some(other) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-encoding",
            "Unsupported content encoding",
            format!("Content-Encoding {other:?} is not supported (gzip or none)"),
        )),
    }
}

/// Each element's raw message: objects as compact JSON, strings as they
/// are. A JSON array body, or NDJSON (one value per non-empty line).
fn elements(body: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let values: Vec<(usize, Value)> = if first == Some(&b'[') {
        let all: Vec<Value> = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request("invalid-body", format!("the JSON array does not parse: {e}")))?;
        all.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect()
    } else {
        let mut out = Vec::new();
        for (n, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if out.len() == MAX_EVENTS {
                return Err(too_large(format!("at most {MAX_EVENTS} events per request")));
            }
            let v: Value = serde_json::from_slice(line)
                .map_err(|e| ApiError::bad_request("invalid-body", format!("line {}: {e}", n + 1)))?;
            out.push((n + 1, v));
        }
        out
    };
    if values.is_empty() {
        return Err(ApiError::bad_request("invalid-body", "no events in the body"));
    }
    if values.len() > MAX_EVENTS {
        return Err(too_large(format!("at most {MAX_EVENTS} events per request")));
    }
    values
        .into_iter()
        .map(|(n, v)| match v {
            Value::String(s) => Ok(s.into_bytes()),
            Value::Object(_) => Ok(serde_json::to_vec(&v).unwrap_or_default()),
            _ => Err(ApiError::bad_request("invalid-body", format!("element {n} must be a JSON object or a string"))),
        })
        .collect()
}

/// Takes log events for the source the bearer token belongs to.
#[utoipa::path(post, path = "/api/v1/ingest", tag = "logs",
    request_body(content = String, description = "NDJSON or a JSON array of objects or strings; optionally Content-Encoding: gzip"),
    responses((status = 200, body = Ingested), (status = 400, body = crate::problem::Problem),
        (status = 401, body = crate::problem::Problem), (status = 413, body = crate::problem::Problem),
        (status = 503, body = crate::problem::Problem)))]
pub async fn ingest(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Ingested>, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthenticated)?;
    let ingest = &state.ingest;
    let row = ingest
        .registry
        .by_ingest_token(token.trim())
        .await
        .map_err(|e| ApiError::internal("looking up an ingest token", &e))?
        .ok_or_else(unauthenticated)?;
    let raw = elements(&decoded(&headers, &body)?)?;
    let peer = SocketAddr::new(client.0.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])), 0);
    let now = now_ms();
    // Held or refused sources store nothing.
    match ingest.registry.admit(&row.name, peer.ip(), now).await {
        Ok(Admission::Accept(_)) => {}
        Ok(Admission::Held) => {
            return Err(ApiError::forbidden(format!("source {} is held for review; nothing was stored", row.name)));
        }
        Ok(Admission::Refused) => return Err(ApiError::forbidden("the source is not accepted; nothing was stored")),
        Err(e) => return Err(ApiError::from(e)),
    }
    let max = ingest.config().max_message_bytes;
    let mut batch = Vec::with_capacity(raw.len());
    for mut bytes in raw {
        let truncated = bytes.len() > max;
        bytes.truncate(max);
        let mut record = rampart_ingest::normalise(
            SyslogRecord::bare(bytes),
            rampart_ingest::ParserKind::Auto,
            time::UtcOffset::UTC,
        );
        record.syslog.flags.truncated |= truncated;
        match ingest.prepare_as(&row.name, record, peer, Transport::Http, now).await {
            Prepared::Store(p) => batch.push(*p),
            Prepared::Refused => {
                return Err(ApiError::forbidden("the source is not accepted; nothing was stored"));
            }
        }
    }
    let accepted = batch.len();
    let range = ingest
        .store(batch)
        .await
        .ok_or_else(|| ApiError::unavailable("the ledger did not make the events durable; nothing was stored"))?;
    Ok(Json(Ingested { accepted, first_index: range.start, last_index: range.end.saturating_sub(1), source: row.name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_split_or_refused_whole() {
        assert_eq!(elements(br#"[{"a":1},"line two"]"#).map(|v| v.len()).ok(), Some(2));
        assert_eq!(elements(b"{\"a\":1}\n\n\"two\"\n").map(|v| v.len()).ok(), Some(2));
        assert!(elements(b"").is_err());
        assert!(elements(b"{\"a\":1}\n{broken\n").is_err(), "one bad line refuses the request");
        assert!(elements(b"[1, 2]").is_err(), "numbers are not events");
        assert!(elements(b"[{\"a\":1}").is_err());
        let many = "\"x\"\n".repeat(MAX_EVENTS + 1);
        assert!(elements(many.as_bytes()).is_err());
    }

    #[test]
    fn gzip_bombs_are_cut_off() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b' '; 1024 * 1024];
        for _ in 0..(MAX_DECOMPRESSED / zeros.len() + 2) {
            gz.write_all(&zeros).unwrap_or_default();
        }
        let bomb = Bytes::from(gz.finish().unwrap_or_default());
        assert!(bomb.len() < 200 * 1024, "a small body: {}", bomb.len());
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        assert!(decoded(&headers, &bomb).is_err());
        assert!(decoded(&headers, &Bytes::from_static(b"not gzip")).is_err());
        headers.insert(header::CONTENT_ENCODING, http::HeaderValue::from_static("br"));
        assert!(decoded(&headers, &Bytes::from_static(b"x")).is_err());
    }
}
