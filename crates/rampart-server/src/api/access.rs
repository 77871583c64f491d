//! Access to bastion targets beyond standing grants: just-in-time requests
//! (`/api/v1/bastion/requests`: a user asks, an approver who is not the
//! requester approves or denies, an approval is a time-limited grant that
//! can be revoked) and the customer lockbox (`/api/v1/lockbox/…`: requests
//! that a tenant's customer admin decides, and that tenant's access
//! transparency view). The rules live in `rampart-bastion-ssh`
//! (`requests.rs`, `lockbox.rs`); this file maps HTTP onto them.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_bastion_ssh::{AccessInfo, Action, LockboxLabel, NewAccessRequest, NewLockboxRequest, RequestInfo};
use rampart_core::Principal;
use serde::Deserialize;

use crate::extract::{ApiJson, ApiQuery, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessRequest {
    /// The target asked for; or give `label`.
    #[serde(default)]
    pub target: Option<String>,
    /// Every target carrying this label.
    #[serde(default)]
    pub label: Option<String>,
    /// The login; the target's own when absent.
    #[serde(default)]
    pub login: Option<String>,
    pub actions: Vec<Action>,
    /// Why, for the approver and the ledger (1-1024 bytes).
    pub reason: String,
    /// How long the access should last once approved, in seconds (at most
    /// `[bastion] jit_max_duration_secs`).
    pub duration_secs: u64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestFilter {
    /// `pending`, `approved`, `denied`, `expired`, `revoked`, or `all` (default).
    pub status: Option<String>,
}

impl RequestFilter {
    fn status(&self) -> Option<&str> {
        self.status.as_deref().filter(|s| *s != "all")
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why, for the ledger and the requester (at most 1024 bytes).
    #[serde(default)]
    pub comment: String,
}

/// Asks for just-in-time access to a target or label.
#[utoipa::path(post, path = "/api/v1/bastion/requests", tag = "bastion", security(("bearer" = [])),
    request_body = CreateAccessRequest,
    responses((status = 201, body = RequestInfo), (status = 422, body = crate::problem::Problem)))]
pub async fn create_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateAccessRequest>,
) -> Result<(StatusCode, Json<RequestInfo>), ApiError> {
    let new = NewAccessRequest {
        target: body.target,
        label: body.label,
        login: body.login,
        actions: body.actions,
        reason: body.reason,
        duration_secs: body.duration_secs,
    };
    Ok((StatusCode::CREATED, Json(state.bastion.create_access_request(&p, new, client.text()).await?)))
}

/// Just-in-time requests, newest first: an approver sees all, anyone else
/// their own. Pending requests past their deadline are expired first.
#[utoipa::path(get, path = "/api/v1/bastion/requests", tag = "bastion", security(("bearer" = [])),
    params(RequestFilter), responses((status = 200, body = Vec<RequestInfo>)))]
pub async fn list_requests(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(filter): ApiQuery<RequestFilter>,
) -> Result<Json<Vec<RequestInfo>>, ApiError> {
    Ok(Json(state.bastion.list_access_requests(&p, filter.status()).await?))
}

/// One just-in-time request.
#[utoipa::path(get, path = "/api/v1/bastion/requests/{id}", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.show_access_request(&p, &id).await?))
}

/// Approves a request: a grant for its duration, from now. Never one's own.
#[utoipa::path(post, path = "/api/v1/bastion/requests/{id}/approve", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = RequestInfo), (status = 403, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn approve_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.decide_access_request(&p, &id, true, &body.comment, client.text()).await?))
}

/// Denies a request. Never one's own either.
#[utoipa::path(post, path = "/api/v1/bastion/requests/{id}/deny", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = RequestInfo), (status = 403, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn deny_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.decide_access_request(&p, &id, false, &body.comment, client.text()).await?))
}

/// Revokes an approved request (an approver, or the requester): its grant
/// goes and live sessions on it are cut within seconds.
#[utoipa::path(post, path = "/api/v1/bastion/requests/{id}/revoke", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestInfo), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn revoke_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.revoke_access_request(&p, &id, client.text()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLockboxRequest {
    /// A target marked as holding a tenant's data.
    pub target: String,
    /// `customer_support`, `incident`, `maintenance`, `security` or `legal`.
    pub reason_code: String,
    /// Why, in words the customer reads (1-1024 bytes).
    pub reason: String,
    /// The window asked for, in seconds from approval (at most
    /// `[bastion] lockbox_max_duration_secs`).
    pub duration_secs: u64,
}

/// Asks the tenant's customer admin for access to a target holding its data.
#[utoipa::path(post, path = "/api/v1/lockbox/requests", tag = "lockbox", security(("bearer" = [])),
    request_body = CreateLockboxRequest,
    responses((status = 201, body = RequestInfo), (status = 422, body = crate::problem::Problem)))]
pub async fn create_lockbox_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateLockboxRequest>,
) -> Result<(StatusCode, Json<RequestInfo>), ApiError> {
    let new = NewLockboxRequest {
        target: body.target,
        reason_code: body.reason_code,
        reason: body.reason,
        duration_secs: body.duration_secs,
    };
    Ok((StatusCode::CREATED, Json(state.bastion.create_lockbox_request(&p, new, client.text()).await?)))
}

/// Lockbox requests: a customer admin sees their tenant's, an operator
/// approver all, anyone else their own.
#[utoipa::path(get, path = "/api/v1/lockbox/requests", tag = "lockbox", security(("bearer" = [])),
    params(RequestFilter), responses((status = 200, body = Vec<RequestInfo>)))]
pub async fn list_lockbox_requests(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(filter): ApiQuery<RequestFilter>,
) -> Result<Json<Vec<RequestInfo>>, ApiError> {
    Ok(Json(state.bastion.list_lockbox_requests(&p, filter.status()).await?))
}

/// One lockbox request (another tenant's reads as not found).
#[utoipa::path(get, path = "/api/v1/lockbox/requests/{id}", tag = "lockbox", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show_lockbox_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.show_lockbox_request(&p, &id).await?))
}

/// The tenant's customer admin approves: access for the window asked, from now.
#[utoipa::path(post, path = "/api/v1/lockbox/requests/{id}/approve", tag = "lockbox", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = RequestInfo), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem)))]
pub async fn approve_lockbox_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.decide_lockbox_request(&p, &id, true, &body.comment, client.text()).await?))
}

/// The tenant's customer admin denies.
#[utoipa::path(post, path = "/api/v1/lockbox/requests/{id}/deny", tag = "lockbox", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = RequestInfo), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem)))]
pub async fn deny_lockbox_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.decide_lockbox_request(&p, &id, false, &body.comment, client.text()).await?))
}

/// Ends an approved window now (the customer admin withdrawing consent, or
/// the requester); live sessions on it are cut within seconds.
#[utoipa::path(post, path = "/api/v1/lockbox/requests/{id}/revoke", tag = "lockbox", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = RequestInfo), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn revoke_lockbox_request(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<RequestInfo>, ApiError> {
    Ok(Json(state.bastion.revoke_lockbox_request(&p, &id, client.text()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessFilter {
    /// A tenant id (the operator's administrator; a customer admin sees
    /// only their own tenant).
    pub tenant: Option<String>,
}

/// The access transparency view: every session on the tenant's lockbox
/// targets — who, when, why, the session and its recording's SHA-256 and
/// size — newest first.
#[utoipa::path(get, path = "/api/v1/lockbox/accesses", tag = "lockbox", security(("bearer" = [])),
    params(AccessFilter), responses((status = 200, body = Vec<AccessInfo>)))]
pub async fn list_accesses(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(filter): ApiQuery<AccessFilter>,
) -> Result<Json<Vec<AccessInfo>>, ApiError> {
    Ok(Json(state.bastion.lockbox_accesses(&p, filter.tenant.as_deref()).await?))
}

/// Labels marked as holding a tenant's data.
#[utoipa::path(get, path = "/api/v1/lockbox/labels", tag = "lockbox", security(("bearer" = [])),
    responses((status = 200, body = Vec<LockboxLabel>)))]
pub async fn list_labels(State(state): State<AppState>) -> Result<Json<Vec<LockboxLabel>>, ApiError> {
    Ok(Json(state.bastion.lockbox_labels().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkLabel {
    /// The tenant whose data every target carrying the label holds.
    pub tenant_id: String,
}

/// Marks a label (`/` as `%2F`): every target carrying it, now and later,
/// also needs that tenant's lockbox approval.
#[utoipa::path(put, path = "/api/v1/lockbox/labels/{label}", tag = "lockbox", security(("bearer" = [])),
    params(("label" = String, Path)), request_body = MarkLabel,
    responses((status = 204), (status = 422, body = crate::problem::Problem)))]
pub async fn mark_label(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(label): Path<String>,
    ApiJson(body): ApiJson<MarkLabel>,
) -> Result<StatusCode, ApiError> {
    state.bastion.mark_lockbox_label(&p, &label, &body.tenant_id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a label's lockbox mark.
#[utoipa::path(delete, path = "/api/v1/lockbox/labels/{label}", tag = "lockbox", security(("bearer" = [])),
    params(("label" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn unmark_label(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(label): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.bastion.unmark_lockbox_label(&p, &label, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}
