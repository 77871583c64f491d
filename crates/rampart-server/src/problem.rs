//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every error the API returns goes through [`ApiError`], which carries a
//! stable `type` URI (`urn:rampart:problem:<slug>`) that clients can branch
//! on, a short title and a human-readable detail. Details never contain a
//! secret; internal errors are logged with their cause and answered with a
//! generic message.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use rampart_auth::AuthError;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    retry_after: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, slug, title, detail: detail.into(), retry_after: None }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
            "missing or invalid bearer token",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Permission denied", detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such resource")
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, "Bad request", detail)
    }

    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "the server failed; see its log")
    }

    /// 429 with a `Retry-After` of `retry_after_secs`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests", detail)
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail)
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid credentials",
                "user name, password or second-factor code is wrong",
            ),
            AuthError::Locked { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "locked-out",
                    "Too many failed attempts",
                    format!("try again in {retry_after_secs} s"),
                )
            },
            AuthError::Unauthenticated => ApiError::unauthenticated(),
            AuthError::Forbidden(d) => ApiError::forbidden(d),
            AuthError::NotFound => ApiError::not_found(),
            AuthError::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", d),
            AuthError::Invalid(d) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", d)
            }
            AuthError::AuditUnavailable(e) => {
                tracing::error!(error = %e, "action refused: audit record not durable");
                ApiError::unavailable("the audit trail did not confirm the record; the action was not performed")
            }
            AuthError::Internal(e) => ApiError::internal("identity service failed", &e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:rampart:problem:{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (self.status, bytes).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"rampart\""));
        }
        if let Some(v) = self.retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
