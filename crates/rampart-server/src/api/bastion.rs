//! The SSH bastion's resources: the caller's SSH public keys
//! (`/api/v1/ssh-keys`), and the targets (with labels and a lockbox
//! tenant) and grants (on a target or a label) an administrator manages
//! (`/api/v1/bastion/…`). A target's credential goes in once and never
//! comes out. Just-in-time requests and the lockbox are in `access.rs`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::SshKeyInfo;
use rampart_bastion_ssh::{
    Action, BastionError, Credential, GrantInfo, NewGrant, NewTarget, ReviewInfo, SessionInfo, TargetInfo, TargetUpdate,
};
use rampart_core::Principal;
use secrecy::SecretString;
use serde::Deserialize;

use crate::extract::{ApiJson, ApiQuery, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

impl From<BastionError> for ApiError {
    fn from(err: BastionError) -> Self {
        match err {
            BastionError::Invalid(d) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", d)
            }
            BastionError::NotFound => ApiError::not_found(),
            BastionError::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", d),
            BastionError::Gone(d) => ApiError::new(StatusCode::GONE, "gone", "Gone", d),
            // The service's own refusal (deciding one's own request,
            // another tenant's lockbox), apart from the route gate's `forbidden`.
            BastionError::Forbidden(d) => ApiError::new(StatusCode::FORBIDDEN, "not-permitted", "Not permitted", d),
            BastionError::AuditUnavailable(e) => {
                tracing::error!(error = %e, "action refused: audit record not durable");
                ApiError::unavailable("the audit trail did not confirm the record; the action was not performed")
            }
            BastionError::Kms(e) => {
                tracing::error!(error = %e, "the KMS could not seal or open a bastion credential or recording key");
                ApiError::unavailable(
                    "the KMS could not seal or open the credential or recording key (is it sealed?); nothing was changed",
                )
            }
            BastionError::Internal(e) => ApiError::internal("bastion service failed", &e),
        }
    }
}

/// The caller's registered SSH public keys.
#[utoipa::path(get, path = "/api/v1/ssh-keys", tag = "bastion", security(("bearer" = [])),
    responses((status = 200, body = Vec<SshKeyInfo>)))]
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Vec<SshKeyInfo>>, ApiError> {
    Ok(Json(state.auth.list_ssh_keys(&p).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSshKey {
    /// An OpenSSH public key line: `ssh-ed25519 AAAA… comment`.
    pub public_key: String,
}

/// Registers an SSH public key for the caller, to log in to the bastion.
#[utoipa::path(post, path = "/api/v1/ssh-keys", tag = "bastion", security(("bearer" = [])),
    request_body = AddSshKey, responses((status = 201, body = SshKeyInfo)))]
pub async fn add_key(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<AddSshKey>,
) -> Result<(StatusCode, Json<SshKeyInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.auth.add_ssh_key(&p, &body.public_key, client.text()).await?)))
}

/// Removes one of the caller's SSH public keys.
#[utoipa::path(delete, path = "/api/v1/ssh-keys/{id}", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn remove_key(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.remove_ssh_key(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every bastion target (never a credential).
#[utoipa::path(get, path = "/api/v1/bastion/targets", tag = "bastion", security(("bearer" = [])),
    responses((status = 200, body = Vec<TargetInfo>)))]
pub async fn list_targets(State(state): State<AppState>) -> Result<Json<Vec<TargetInfo>>, ApiError> {
    Ok(Json(state.bastion.list_targets().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTarget {
    /// What users name after the colon: `ssh -p 2222 USER:NAME@bastion`.
    pub name: String,
    pub address: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// The target's host key, pinned: `ssh-ed25519 AAAA…` (e.g. from
    /// `ssh-keyscan -t ed25519`). A target presenting another key is refused.
    pub host_key: String,
    /// The account Rampart logs in as.
    pub login: String,
    /// An unencrypted OpenSSH private key (Ed25519 or ECDSA) for `login`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub private_key: Option<SecretString>,
    /// Or a password for `login`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
    /// Labels, `key=value` or plain names (at most 32), that grants and
    /// red lines may name instead of the target.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The id of the tenant whose data the target holds: access then also
    /// needs that tenant's customer admin's lockbox approval.
    #[serde(default)]
    pub lockbox_tenant: Option<String>,
}

fn default_port() -> u16 {
    22
}

/// Registers a target; its credential is sealed with the KMS and never shown again.
#[utoipa::path(post, path = "/api/v1/bastion/targets", tag = "bastion", security(("bearer" = [])),
    request_body = CreateTarget, responses((status = 201, body = TargetInfo)))]
pub async fn create_target(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateTarget>,
) -> Result<(StatusCode, Json<TargetInfo>), ApiError> {
    let credential = match (body.private_key, body.password) {
        (Some(k), None) => Credential::PrivateKey(k),
        (None, Some(p)) => Credential::Password(p),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
                "give exactly one of private_key and password",
            ));
        }
    };
    let new = NewTarget {
        name: body.name,
        address: body.address,
        port: body.port,
        host_key: body.host_key,
        login: body.login,
        credential,
        labels: body.labels,
        lockbox_tenant: body.lockbox_tenant,
    };
    Ok((StatusCode::CREATED, Json(state.bastion.create_target(&p, new, client.text()).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTarget {
    /// The target's labels, replacing the present ones.
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// A tenant id to mark the target as holding that tenant's data, or
    /// `""` to unmark it.
    #[serde(default)]
    pub lockbox_tenant: Option<String>,
}

/// Changes a target's labels or lockbox tenant; live sessions no grant (or
/// lockbox approval) covers any more are cut within seconds.
#[utoipa::path(patch, path = "/api/v1/bastion/targets/{name}", tag = "bastion", security(("bearer" = [])),
    params(("name" = String, Path)), request_body = UpdateTarget,
    responses((status = 200, body = TargetInfo), (status = 404, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn update_target(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<UpdateTarget>,
) -> Result<Json<TargetInfo>, ApiError> {
    let update = TargetUpdate { labels: body.labels, lockbox_tenant: body.lockbox_tenant };
    Ok(Json(state.bastion.update_target(&p, &name, update, client.text()).await?))
}

/// Deletes a target and its grants.
#[utoipa::path(delete, path = "/api/v1/bastion/targets/{name}", tag = "bastion", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn delete_target(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.bastion.delete_target(&p, &name, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every grant.
#[utoipa::path(get, path = "/api/v1/bastion/grants", tag = "bastion", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantInfo>)))]
pub async fn list_grants(State(state): State<AppState>) -> Result<Json<Vec<GrantInfo>>, ApiError> {
    Ok(Json(state.bastion.list_grants().await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    /// The one user; or give `group`.
    #[serde(default)]
    pub username: Option<String>,
    /// A group: the grant reaches its members as they are at each check.
    #[serde(default)]
    pub group: Option<String>,
    /// The one target; or give `label`.
    #[serde(default)]
    pub target: Option<String>,
    /// A label (`key=value` or a name): the grant covers every target
    /// carrying it, now and later.
    #[serde(default)]
    pub label: Option<String>,
    /// The login on the target; the target's own when absent (on a label:
    /// each target's own).
    #[serde(default)]
    pub login: Option<String>,
    pub actions: Vec<Action>,
    /// How long the grant holds from now, in seconds (at most 90 days).
    pub valid_for_secs: u64,
}

/// Lets a user reach a target, for some actions, for a while.
#[utoipa::path(post, path = "/api/v1/bastion/grants", tag = "bastion", security(("bearer" = [])),
    request_body = CreateGrant, responses((status = 201, body = GrantInfo)))]
pub async fn create_grant(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateGrant>,
) -> Result<(StatusCode, Json<GrantInfo>), ApiError> {
    let new = NewGrant {
        username: body.username,
        group: body.group,
        target: body.target,
        label: body.label,
        login: body.login,
        actions: body.actions,
        not_before: None,
        valid_for_secs: body.valid_for_secs,
    };
    Ok((StatusCode::CREATED, Json(state.bastion.create_grant(&p, new, client.text()).await?)))
}

/// Revokes a grant.
#[utoipa::path(delete, path = "/api/v1/bastion/grants/{id}", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn delete_grant(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.bastion.delete_grant(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewFilter {
    /// `pending` (default), `approved`, `denied`, `expired` or `all`.
    pub status: Option<String>,
}

/// Commands held by a `review` red line, newest first.
#[utoipa::path(get, path = "/api/v1/bastion/reviews", tag = "bastion", security(("bearer" = [])),
    params(ReviewFilter), responses((status = 200, body = Vec<ReviewInfo>)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<ReviewFilter>,
) -> Result<Json<Vec<ReviewInfo>>, ApiError> {
    let status = match filter.status.as_deref() {
        None => Some("pending"),
        Some("all") => None,
        Some(s) => Some(s),
    };
    Ok(Json(state.bastion.list_reviews(status).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// Why, for the ledger and the requester (at most 1024 bytes).
    #[serde(default)]
    pub comment: String,
}

/// Lets a held command run. The one who typed it cannot approve it.
#[utoipa::path(post, path = "/api/v1/bastion/reviews/{id}/approve", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReviewDecision,
    responses((status = 200, body = ReviewInfo), (status = 403, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn approve_review(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewDecision>,
) -> Result<Json<ReviewInfo>, ApiError> {
    Ok(Json(state.bastion.decide_review(&p, &id, true, &body.comment, client.text()).await?))
}

/// Refuses a held command. The one who typed it cannot deny it either.
#[utoipa::path(post, path = "/api/v1/bastion/reviews/{id}/deny", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReviewDecision,
    responses((status = 200, body = ReviewInfo), (status = 403, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn deny_review(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewDecision>,
) -> Result<Json<ReviewInfo>, ApiError> {
    Ok(Json(state.bastion.decide_review(&p, &id, false, &body.comment, client.text()).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    /// Only sessions still running.
    #[serde(default)]
    pub live: bool,
    /// At most this many (1 to 1000; 500 when absent).
    pub limit: Option<usize>,
}

/// Bastion sessions, newest first (at most `limit`, 500 by default).
#[utoipa::path(get, path = "/api/v1/bastion/sessions", tag = "bastion", security(("bearer" = [])),
    params(SessionFilter), responses((status = 200, body = Vec<SessionInfo>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<SessionFilter>,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let limit = filter.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("invalid-query", "limit must be between 1 and 1000"));
    }
    Ok(Json(state.bastion.list_sessions(filter.live, limit).await?))
}

/// One bastion session.
#[utoipa::path(get, path = "/api/v1/bastion/sessions/{id}", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = SessionInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    Ok(Json(state.bastion.show_session(&id).await?))
}

/// A session's asciicast v2 recording, streamed as plaintext (the node
/// decrypts a recording encrypted at rest); refused (409) when it no longer
/// matches the SHA-256 the ledger recorded at the session's end or does not
/// authenticate, gone (410) once retention removed it or its KMS key was
/// deleted. Every read is a ledger event.
#[utoipa::path(get, path = "/api/v1/bastion/sessions/{id}/recording", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "application/x-asciicast", body = String),
        (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem),
        (status = 410, body = crate::problem::Problem)))]
pub async fn session_recording(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let (info, file) = state.bastion.recording(&p, &id, client.text()).await?;
    // Checked above; read again to stream it, and checked again as it
    // streams: a file changed in between ends the download with an error
    // instead of a silently different recording.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let expected = info.recording_sha256.clone().filter(|_| info.ended_at.is_some());
    let allow_unfinished = expected.is_none();
    tokio::task::spawn_blocking(move || {
        let sent = file.read_plain(allow_unfinished, &mut |piece| {
            tx.blocking_send(Ok(bytes::Bytes::copy_from_slice(piece)))
                .map_err(|_| rampart_bastion_ssh::sessions::ReadError::Closed)
        });
        let failure = match (sent, expected) {
            (Ok((sha, _)), Some(want)) if sha != want => Some("the recording changed while it was read".to_owned()),
            (Ok(_), _) | (Err(rampart_bastion_ssh::sessions::ReadError::Closed), _) => None,
            (Err(e), _) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            tracing::error!(error = %why, "a recording download was cut");
            let _ = tx.blocking_send(Err(std::io::Error::other(why)));
        }
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(receiver_stream(rx)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-asciicast"));
    if let Some(sha) = info.recording_sha256.as_deref().and_then(|s| http::HeaderValue::from_str(s).ok()) {
        headers.insert("x-recording-sha256", sha);
    }
    Ok(response)
}

fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// Watches a session live: the recording so far (asciicast v2, header
/// first), then each event as it is recorded, until the session ends and
/// the stream with it. For reviewers and administrators; every watch is a
/// `bastion.session.watched` event. An ended session's recording is sent
/// whole, and the stream ends.
#[utoipa::path(get, path = "/api/v1/bastion/sessions/{id}/live", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "application/x-asciicast", body = String),
        (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem),
        (status = 410, body = crate::problem::Problem)))]
pub async fn session_live(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let (_, file) = state.bastion.watch_session(&p, &id, client.text()).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    let bastion = state.bastion.clone();
    tokio::spawn(async move {
        let send = |plain: Vec<u8>| {
            let tx = tx.clone();
            async move { tx.send(Ok(bytes::Bytes::from(plain))).await.is_ok() }
        };
        let watcher = tx.clone();
        match bastion.follow_recording(&id, file, send, || watcher.is_closed()).await {
            Ok(()) | Err(rampart_bastion_ssh::sessions::ReadError::Closed) => {}
            Err(e) => {
                tracing::error!(error = %e, session = %id, "a live view was cut");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    let mut response = axum::response::Response::new(axum::body::Body::from_stream(receiver_stream(rx)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-asciicast"));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Cuts a running session (within seconds, on whichever node holds it).
#[utoipa::path(post, path = "/api/v1/bastion/sessions/{id}/terminate", tag = "bastion", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, body = SessionInfo), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn terminate_session(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.bastion.terminate_session(&p, &id, client.text()).await?)))
}
