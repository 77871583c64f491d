//! The caller's own API tokens.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::TokenInfo;
use rampart_core::{Permission, Principal};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::problem::ApiError;
use crate::server::AppState;

/// The caller's API tokens (never the token text).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Listing<TokenInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Listing<TokenInfo>>, ApiError> {
    Ok(Json(state.auth.list_api_tokens(&p, paging.after.as_deref(), paging.limit()?).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Defaults to all of the caller's permissions; may not exceed them.
    pub scopes: Option<Vec<Permission>>,
    /// Defaults to 90 days.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The bearer token: shown only now, stored only as a hash.
    pub token: String,
    pub info: TokenInfo,
}

/// Creates an API token for the caller.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::problem::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let t = state.auth.create_api_token(&p, &body.name, body.scopes, body.expires_in_days, client.text()).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: t.token.expose_secret().to_owned(), info: t.info })))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_token(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}
