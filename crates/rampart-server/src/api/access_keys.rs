//! The caller's access key pairs, for signing KMS API requests.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::AccessKeyInfo;
use rampart_core::Principal;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::problem::ApiError;
use crate::server::AppState;

/// The caller's access keys (never the secrets).
#[utoipa::path(get, path = "/api/v1/access-keys", tag = "access-keys", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Listing<AccessKeyInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Listing<AccessKeyInfo>>, ApiError> {
    Ok(Json(state.auth.list_access_keys(&p, paging.after.as_deref(), paging.limit()?).await?.into()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessKey {
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedAccessKey {
    pub access_key_id: String,
    /// Shown only now; Rampart keeps it sealed.
    pub secret_access_key: String,
    pub info: AccessKeyInfo,
}

/// Creates an access key pair for the caller.
#[utoipa::path(post, path = "/api/v1/access-keys", tag = "access-keys", security(("bearer" = [])),
    request_body = CreateAccessKey, responses((status = 201, body = CreatedAccessKey)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateAccessKey>,
) -> Result<(StatusCode, Json<CreatedAccessKey>), ApiError> {
    let k = state.auth.create_access_key(&p, &body.description, client.text()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccessKey {
            access_key_id: k.info.access_key_id.clone(),
            secret_access_key: k.secret_access_key.expose_secret().to_owned(),
            info: k.info,
        }),
    ))
}

/// Revokes one of the caller's access keys.
#[utoipa::path(delete, path = "/api/v1/access-keys/{id}", tag = "access-keys", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_access_key(&p, &id, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}
