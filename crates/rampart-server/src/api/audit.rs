//! Reading the audit trail.

use axum::extract::State;
use axum::{Extension, Json};
use rampart_core::Principal;
use rampart_core::time::rfc3339;
use rampart_store::EventFilter;
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this action, e.g. `auth.login.failed`.
    pub kind: Option<String>,
    /// Only events by this actor (a user name, or `system`).
    pub actor: Option<String>,
    /// Only events done to this object (a user name, tenant, token or key id).
    pub object: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    /// The event's entry in the tamper-evident ledger.
    pub ledger_index: Option<i64>,
    pub id: String,
    pub time: String,
    pub kind: String,
    pub outcome: String,
    pub actor: String,
    pub object: Option<String>,
    pub tenant_id: Option<String>,
    pub source_addr: Option<String>,
    pub attrs: serde_json::Value,
}

fn parse_time(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::bad_request("invalid-query", format!("{name} must be an RFC 3339 time")))?;
    Ok(Some(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)))
}

/// Rampart's own audit events matching the filters, in order, each with
/// its ledger index (ingested log events are searched with
/// `/api/v1/logs/search`); customer roles never hold this permission.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, body = Listing<AuditEvent>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(_p): Extension<Principal>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<Listing<AuditEvent>>, ApiError> {
    let limit = crate::extract::Paging { limit: q.limit, after: None }.limit()?;
    let after = match q.after.as_deref() {
        None => 0,
        Some(a) => a.parse::<i64>().map_err(|_| ApiError::bad_request("invalid-query", "after must be a cursor"))?,
    };
    if let Some(o) = q.outcome.as_deref()
        && !matches!(o, "success" | "failure" | "denied")
    {
        return Err(ApiError::bad_request("invalid-query", "outcome must be success, failure or denied"));
    }
    let filter = EventFilter {
        kind: q.kind,
        actor: q.actor,
        object: q.object,
        outcome: q.outcome,
        since_ms: parse_time("since", q.since.as_deref())?,
        until_ms: parse_time("until", q.until.as_deref())?,
    };
    let page = state
        .store
        .list_events(&filter, after, limit)
        .await
        .map_err(|e| ApiError::internal("listing audit events", &e))?;
    Ok(Json(Listing {
        items: page
            .items
            .into_iter()
            .map(|stored| (stored.seq, stored.ledger_index, stored.event))
            .map(|(seq, ledger_index, e)| AuditEvent {
                seq,
                ledger_index,
                id: e.id.to_string(),
                time: rfc3339(e.time_ms),
                kind: e.kind,
                outcome: e.outcome.as_str().to_owned(),
                actor: e.actor,
                object: e.object,
                tenant_id: e.tenant_id.map(|t| t.to_string()),
                source_addr: e.source_addr,
                attrs: e.attrs,
            })
            .collect(),
        next: page.next,
    }))
}
