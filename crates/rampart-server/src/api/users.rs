//! User administration.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::{CreateUser, UserInfo};
use rampart_core::Principal;
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::problem::ApiError;
use crate::server::AppState;

/// Users visible to the caller (customer admins: their tenant's).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Listing<UserInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Listing<UserInfo>>, ApiError> {
    Ok(Json(state.auth.list_users(&p, paging.after.as_deref(), paging.limit()?).await?.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub user: UserInfo,
    /// Present when the server generated the password: shown only now.
    pub initial_password: Option<String>,
}

/// Creates a user. Customer admins create customer users in their tenant.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = CreatedUser), (status = 409, body = crate::problem::Problem),
        (status = 422, body = crate::problem::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let created = state.auth.create_user(&p, body, client.text()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: created.user,
            initial_password: created.initial_password.map(|s| s.expose_secret().to_owned()),
        }),
    ))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = UserInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<UserInfo>, ApiError> {
    Ok(Json(state.auth.get_user(&p, &id).await?))
}

/// Disables a user and revokes their tokens and access keys.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn disable(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.disable_user(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user's second factor; they enrol again at next login.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-totp", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn reset_totp(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.reset_totp(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}
