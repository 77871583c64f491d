//! Reading the audit trail.

use axum::extract::State;
use axum::{Extension, Json};
use rampart_core::Principal;
use rampart_core::time::rfc3339;
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events of this kind, e.g. `auth.login.failed`.
    pub kind: Option<String>,
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
    pub tenant_id: Option<String>,
    pub source_addr: Option<String>,
    pub attrs: serde_json::Value,
}

/// Audit events in order; customer roles never hold this permission.
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
    let page = state
        .store
        .list_events(q.kind.as_deref(), after, limit)
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
                tenant_id: e.tenant_id.map(|t| t.to_string()),
                source_addr: e.source_addr,
                attrs: e.attrs,
            })
            .collect(),
        next: page.next,
    }))
}
