//! Health, readiness, metrics, the OpenAPI document and platform info.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Serialize;

use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: storage is reachable.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Status), (status = 503, body = crate::problem::Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Status { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe: storage unreachable");
            Err(ApiError::unavailable("storage is unreachable"))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}

/// This OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses((status = 200, content_type = "application/json")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    let mut resp = state.openapi.as_ref().clone().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemInfo {
    pub version: &'static str,
    pub storage: &'static str,
    pub uptime_secs: u64,
}

/// Version, storage backend and uptime.
#[utoipa::path(get, path = "/api/v1/system", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = SystemInfo)))]
pub async fn info(State(state): State<AppState>) -> Json<SystemInfo> {
    Json(SystemInfo {
        version: env!("CARGO_PKG_VERSION"),
        storage: match state.store.backend() {
            rampart_store::Backend::Sqlite => "sqlite",
            rampart_store::Backend::Postgres => "postgres",
        },
        uptime_secs: state.started.elapsed().as_secs(),
    })
}
