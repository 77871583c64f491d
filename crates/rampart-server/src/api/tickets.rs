//! The ticket desk: `/api/v1/tickets` (list with filters and keyset
//! pagination, show with events, comments and history, acknowledge,
//! assign, status changes, resolve, comment) and the notification outbox's
//! dead-letter list under `/api/v1/notifications`. Every change is audited
//! before it takes effect by `rampart-secops`; customer roles see only
//! their tenant's tickets, others' read as not found.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_core::Principal;
use rampart_core::time::rfc3339;
use rampart_secops::notify::outbox::RedriveError;
use rampart_secops::{Actor, Status, TicketError};
use rampart_store::{CommentRow, HistoryRow, NotificationRow, TicketEventRow, TicketFilter, TicketRow};
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::problem::ApiError;
use crate::server::AppState;

impl From<TicketError> for ApiError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Invalid(d) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", d)
            }
            TicketError::NotFound => ApiError::not_found(),
            e @ TicketError::IllegalTransition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "illegal-transition", "Illegal status change", e.to_string())
            }
            e @ TicketError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", e.to_string()),
            TicketError::Audit(e) => {
                tracing::error!(error = %e, "action refused: audit record not durable");
                ApiError::unavailable("the audit trail did not confirm the record; the action was not performed")
            }
            TicketError::Store(e) => ApiError::internal("ticket storage failed", &e),
        }
    }
}

impl From<RedriveError> for ApiError {
    fn from(e: RedriveError) -> Self {
        match e {
            RedriveError::NotFound => ApiError::not_found(),
            RedriveError::Audit(e) => {
                tracing::error!(error = %e, "action refused: audit record not durable");
                ApiError::unavailable("the audit trail did not confirm the record; the action was not performed")
            }
            RedriveError::Store(e) => ApiError::internal("outbox storage failed", &e),
        }
    }
}

fn actor(p: &Principal, client: &ClientAddr) -> Actor {
    Actor { name: p.username.clone(), tenant: p.tenant_id.clone(), source_addr: client.text() }
}

fn viewer(p: &Principal) -> Actor {
    Actor { name: p.username.clone(), tenant: p.tenant_id.clone(), source_addr: None }
}

/// A ticket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketInfo {
    pub id: String,
    /// `alarm`, `vulnerability` or `incident`.
    pub kind: String,
    pub title: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `new`, `acknowledged`, `in_progress`, `resolved`, `false_positive` or `closed`.
    pub status: String,
    pub queue: String,
    pub assignee: Option<String>,
    pub tenant_id: Option<String>,
    /// The detection rule that opened it.
    pub rule_id: Option<String>,
    pub pack: Option<String>,
    /// Rule and group-by values: alerts with the same key join this ticket.
    pub dedup_key: Option<String>,
    /// Whether alerts still join it.
    pub joinable: bool,
    pub description: String,
    pub tags: Vec<String>,
    /// Every event that contributed, kept or not.
    pub event_count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub ack_due: Option<String>,
    pub resolve_due: Option<String>,
    /// When a missed deadline was recorded (and escalated).
    pub ack_missed: Option<String>,
    pub resolve_missed: Option<String>,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    pub resolution: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TicketRow> for TicketInfo {
    fn from(t: TicketRow) -> Self {
        TicketInfo {
            id: t.id.to_string(),
            kind: t.kind,
            title: t.title,
            severity: t.severity,
            status: t.status,
            queue: t.queue,
            assignee: t.assignee,
            tenant_id: t.tenant_id.map(|i| i.to_string()),
            rule_id: t.rule_id,
            pack: t.pack,
            dedup_key: t.dedup_key,
            joinable: t.dedup_open.is_some(),
            description: t.description,
            tags: serde_json::from_str(&t.tags).unwrap_or_default(),
            event_count: t.event_count,
            first_seen: rfc3339(t.first_seen_ms),
            last_seen: rfc3339(t.last_seen_ms),
            ack_due: t.ack_due_ms.map(rfc3339),
            resolve_due: t.resolve_due_ms.map(rfc3339),
            ack_missed: t.ack_missed_ms.map(rfc3339),
            resolve_missed: t.resolve_missed_ms.map(rfc3339),
            acknowledged_at: t.acknowledged_at.map(rfc3339),
            resolved_at: t.resolved_at.map(rfc3339),
            resolution: t.resolution,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

/// One event of a ticket; its contents are in the ledger at `ledger_index`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketEventInfo {
    pub ledger_index: i64,
    pub time: String,
    pub kind: String,
}

impl From<TicketEventRow> for TicketEventInfo {
    fn from(e: TicketEventRow) -> Self {
        TicketEventInfo { ledger_index: e.ledger_index, time: rfc3339(e.time_ms), kind: e.kind }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommentInfo {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

impl From<CommentRow> for CommentInfo {
    fn from(c: CommentRow) -> Self {
        CommentInfo { id: c.id.to_string(), author: c.author, body: c.body, created_at: rfc3339(c.created_at) }
    }
}

/// One change, with the ledger index of its audit event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryInfo {
    pub time: String,
    pub actor: String,
    /// The audit event kind, e.g. `ticket.acknowledged`.
    pub action: String,
    pub detail: serde_json::Value,
    pub ledger_index: Option<i64>,
}

impl From<HistoryRow> for HistoryInfo {
    fn from(h: HistoryRow) -> Self {
        HistoryInfo {
            time: rfc3339(h.time_ms),
            actor: h.actor,
            action: h.action,
            detail: h.detail,
            ledger_index: h.ledger_index,
        }
    }
}

/// A ticket with its events, comments and history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketDetailInfo {
    #[serde(flatten)]
    pub ticket: TicketInfo,
    /// The first and the latest `secops.keep_events` events.
    pub events: Vec<TicketEventInfo>,
    pub comments: Vec<CommentInfo>,
    pub history: Vec<HistoryInfo>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub queue: Option<String>,
    pub assignee: Option<String>,
    /// `alarm`, `vulnerability` or `incident`.
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// Tickets, newest first, filtered; customer roles see their tenant's only.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = [])), params(TicketQuery),
    responses((status = 200, body = Listing<TicketInfo>), (status = 422, body = crate::problem::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<Json<Listing<TicketInfo>>, ApiError> {
    let limit = Paging { limit: q.limit, after: None }.limit()?;
    let filter = TicketFilter {
        status: q.status,
        severity: q.severity,
        queue: q.queue,
        assignee: q.assignee,
        kind: q.kind,
        tenant_id: None,
    };
    let page = state.tickets.list(&viewer(&p), filter, q.after.as_deref(), limit).await?;
    Ok(Json(Listing { items: page.items.into_iter().map(TicketInfo::from).collect(), next: page.next }))
}

/// One ticket with its events, comments and history.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")),
    responses((status = 200, body = TicketDetailInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TicketDetailInfo>, ApiError> {
    let d = state.tickets.detail(&viewer(&p), &id).await?;
    Ok(Json(TicketDetailInfo {
        ticket: d.ticket.into(),
        events: d.events.into_iter().map(Into::into).collect(),
        comments: d.comments.into_iter().map(Into::into).collect(),
        history: d.history.into_iter().map(Into::into).collect(),
    }))
}

/// Acknowledges a new ticket (stops its acknowledge deadline).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/ack", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")),
    responses((status = 200, body = TicketInfo), (status = 404, body = crate::problem::Problem),
    (status = 409, body = crate::problem::Problem)))]
pub async fn ack(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<TicketInfo>, ApiError> {
    Ok(Json(state.tickets.acknowledge(&actor(&p, &client), &id).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A user name; `null` unassigns.
    pub assignee: Option<String>,
    /// Also move the ticket to this queue.
    pub queue: Option<String>,
}

/// Assigns (or unassigns) a ticket, optionally to another queue.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")), request_body = AssignBody,
    responses((status = 200, body = TicketInfo), (status = 404, body = crate::problem::Problem),
    (status = 422, body = crate::problem::Problem)))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Json<TicketInfo>, ApiError> {
    Ok(Json(state.tickets.assign(&actor(&p, &client), &id, body.assignee, body.queue).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// The new status; it must be reachable from the current one.
    pub status: String,
    /// Required for `resolved` and `false_positive`.
    pub resolution: Option<String>,
}

/// Changes a ticket's status along the transition table
/// (`docs/tickets.md`); an illegal change is a 409 and changes nothing.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/status", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")), request_body = StatusBody,
    responses((status = 200, body = TicketInfo), (status = 404, body = crate::problem::Problem),
    (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn status(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<TicketInfo>, ApiError> {
    let to: Status = body.status.parse().map_err(|e: rampart_secops::model::UnknownName| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", e.to_string())
    })?;
    Ok(Json(state.tickets.set_status(&actor(&p, &client), &id, to, body.resolution).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// What was found and what was done.
    pub resolution: String,
}

/// Resolves a ticket with its resolution.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resolve", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")), request_body = ResolveBody,
    responses((status = 200, body = TicketInfo), (status = 404, body = crate::problem::Problem),
    (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn resolve(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<TicketInfo>, ApiError> {
    Ok(Json(state.tickets.resolve(&actor(&p, &client), &id, body.resolution).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// Up to 16 KiB of text.
    pub body: String,
}

/// Adds a comment.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "ticket id")), request_body = CommentBody,
    responses((status = 201, body = CommentInfo), (status = 404, body = crate::problem::Problem),
    (status = 422, body = crate::problem::Problem)))]
pub async fn comment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommentBody>,
) -> Result<(StatusCode, Json<CommentInfo>), ApiError> {
    let c = state.tickets.comment(&actor(&p, &client), &id, &body.body).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// A queued, delivered or dead notification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationInfo {
    pub id: String,
    pub ticket_id: Option<String>,
    /// What it announces, e.g. `ticket.opened`.
    pub event: String,
    /// `webhook`, `email` or `syslog`.
    pub channel: String,
    /// The endpoint's configured name.
    pub target: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<NotificationRow> for NotificationInfo {
    fn from(n: NotificationRow) -> Self {
        NotificationInfo {
            id: n.id.to_string(),
            ticket_id: n.ticket_id.map(|t| t.to_string()),
            event: n.event,
            channel: n.channel,
            target: n.target,
            status: n.status,
            attempts: n.attempts,
            next_attempt: rfc3339(n.next_attempt_ms),
            last_error: n.last_error,
            created_at: rfc3339(n.created_at),
            delivered_at: n.delivered_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// `dead` (default: the dead-letter list), `pending` or `delivered`.
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub after: Option<String>,
}

/// The notification outbox by status; by default its dead-letter list.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "tickets", security(("bearer" = [])),
    params(NotificationQuery), responses((status = 200, body = Listing<NotificationInfo>),
    (status = 400, body = crate::problem::Problem)))]
pub async fn notifications(
    State(state): State<AppState>,
    Extension(_p): Extension<Principal>,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> Result<Json<Listing<NotificationInfo>>, ApiError> {
    let limit = Paging { limit: q.limit, after: None }.limit()?;
    let status = q.status.as_deref().unwrap_or("dead");
    if !matches!(status, "dead" | "pending" | "delivered") {
        return Err(ApiError::bad_request("invalid-query", "status must be dead, pending or delivered"));
    }
    if q.after.as_deref().is_some_and(|a| rampart_core::Id::parse(a).is_none()) {
        return Err(ApiError::bad_request("invalid-query", "after must be a cursor"));
    }
    let page = state
        .outbox
        .list(status, q.after.as_deref(), limit)
        .await
        .map_err(|e| ApiError::internal("listing notifications", &e))?;
    Ok(Json(Listing { items: page.items.into_iter().map(NotificationInfo::from).collect(), next: page.next }))
}

/// Puts a dead letter back in the queue, due now, with its attempts reset.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/redrive", tag = "tickets", security(("bearer" = [])),
    params(("id" = String, Path, description = "notification id")),
    responses((status = 200, body = NotificationInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn redrive(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<NotificationInfo>, ApiError> {
    Ok(Json(state.outbox.redrive(&p.username, client.text(), &id).await?.into()))
}
