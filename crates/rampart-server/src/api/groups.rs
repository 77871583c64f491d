//! User groups (`/api/v1/groups`), gated like user administration: a
//! bastion grant may name a group, and reaches its members as they are at
//! each access check.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::GroupInfo;
use rampart_core::Principal;
use serde::Deserialize;

use crate::extract::{ApiJson, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

/// Every group, with its members.
#[utoipa::path(get, path = "/api/v1/groups", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<GroupInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Vec<GroupInfo>>, ApiError> {
    Ok(Json(state.auth.list_groups(&p).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1-63 lowercase letters, digits, '-', '_' or '.'.
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Creates a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "users", security(("bearer" = [])), request_body = CreateGroup,
    responses((status = 201, body = GroupInfo), (status = 409, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<GroupInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.auth.create_group(&p, &body.name, &body.description, client.text()).await?)))
}

/// One group, with its members.
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "users", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = GroupInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<GroupInfo>, ApiError> {
    Ok(Json(state.auth.get_group(&p, &name).await?))
}

/// Deletes a group, its memberships and the grants that name it.
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "users", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.delete_group(&p, &name, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a user to a group.
#[utoipa::path(put, path = "/api/v1/groups/{name}/members/{username}", tag = "users", security(("bearer" = [])),
    params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = GroupInfo), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path((name, username)): Path<(String, String)>,
) -> Result<Json<GroupInfo>, ApiError> {
    Ok(Json(state.auth.add_group_member(&p, &name, &username, client.text()).await?))
}

/// Removes a user from a group: the group's grants stop reaching them at
/// once, and a live session they hold through one is cut.
#[utoipa::path(delete, path = "/api/v1/groups/{name}/members/{username}", tag = "users", security(("bearer" = [])),
    params(("name" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = GroupInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path((name, username)): Path<(String, String)>,
) -> Result<Json<GroupInfo>, ApiError> {
    Ok(Json(state.auth.remove_group_member(&p, &name, &username, client.text()).await?))
}
