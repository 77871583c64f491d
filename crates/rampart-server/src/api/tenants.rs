//! Tenants: the cloud's customers.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::TenantInfo;
use rampart_core::Principal;
use serde::Deserialize;

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::problem::ApiError;
use crate::server::AppState;

/// Tenants visible to the caller (customers: their own).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Listing<TenantInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Listing<TenantInfo>>, ApiError> {
    Ok(Json(state.auth.list_tenants(&p, paging.after.as_deref(), paging.limit()?).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

/// Creates a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = TenantInfo), (status = 409, body = crate::problem::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantInfo>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.auth.create_tenant(&p, &body.name, client.text()).await?)))
}

/// One tenant; another customer's tenant reads as not found.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = TenantInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TenantInfo>, ApiError> {
    Ok(Json(state.auth.get_tenant(&p, &id).await?))
}
