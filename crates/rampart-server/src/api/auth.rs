//! Login, logout, the caller's identity, TOTP enrolment, and the role list.

use axum::extract::State;
use axum::{Extension, Json};
use http::StatusCode;
use rampart_auth::{LoginOutcome, LoginRequest, NewToken};
use rampart_core::{Permission, Principal, Role};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::extract::{ApiJson, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// Six digits from the authenticator; required once TOTP is enrolled.
    #[schema(value_type = Option<String>)]
    pub totp_code: Option<SecretString>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub token_type: &'static str,
    pub expires_at: String,
    /// When true the token may only enrol a second factor
    /// (`POST /api/v1/auth/totp/enroll`, then `/confirm`), then log in again.
    pub enrollment_required: bool,
}

fn login_response(t: NewToken, enrollment_required: bool) -> LoginResponse {
    LoginResponse {
        token: t.token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_at: t.info.expires_at,
        enrollment_required,
    }
}

/// Exchanges user name, password and TOTP code for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse),
        (status = 401, description = "invalid credentials", body = crate::problem::Problem),
        (status = 429, description = "locked out after repeated failures", body = crate::problem::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Json<LoginResponse>, ApiError> {
    if body.username.is_empty() || body.username.len() > 256 {
        return Err(ApiError::from(rampart_auth::AuthError::InvalidCredentials));
    }
    let req =
        LoginRequest { username: body.username, password: body.password, totp_code: body.totp_code, source: client.0 };
    match state.auth.login(req).await? {
        LoginOutcome::Session(t) => Ok(Json(login_response(t, false))),
        LoginOutcome::EnrollmentRequired(t) => Ok(Json(login_response(t, true))),
    }
}

/// Ends the current session (revokes the token used for this call).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&p, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub permissions: Vec<Permission>,
    pub enrollment_only: bool,
}

/// The caller's identity and effective permissions.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI)))]
pub async fn whoami(Extension(p): Extension<Principal>) -> Json<WhoAmI> {
    Json(WhoAmI {
        user_id: p.user_id.to_string(),
        username: p.username,
        role: p.role,
        tenant_id: p.tenant_id.map(|t| t.to_string()),
        permissions: p.permissions,
        enrollment_only: p.enrollment_only,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrollmentResponse {
    /// Scan as a QR code, or paste into an authenticator.
    pub otpauth_uri: String,
    /// The same secret in RFC 4648 base32.
    pub secret: String,
}

/// Starts TOTP enrolment for the caller, who has none yet.
#[utoipa::path(post, path = "/api/v1/auth/totp/enroll", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EnrollmentResponse), (status = 409, body = crate::problem::Problem)))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<EnrollmentResponse>, ApiError> {
    let e = state.auth.begin_enrollment(&p).await?;
    Ok(Json(EnrollmentResponse {
        otpauth_uri: e.otpauth_uri.expose_secret().to_owned(),
        secret: e.secret.expose_secret().to_owned(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    #[schema(value_type = String)]
    pub code: SecretString,
}

/// Confirms enrolment with a code from the new authenticator.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", security(("bearer" = [])),
    request_body = ConfirmBody, responses((status = 204), (status = 422, body = crate::problem::Problem)))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<StatusCode, ApiError> {
    state.auth.confirm_enrollment(&p, &body.code, client.text()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleInfo {
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub requires_totp: bool,
    pub tenant_scoped: bool,
}

/// The roles and the permissions each grants.
#[utoipa::path(get, path = "/api/v1/roles", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<RoleInfo>)))]
pub async fn roles() -> Json<Vec<RoleInfo>> {
    Json(
        Role::ALL
            .iter()
            .map(|r| RoleInfo {
                role: *r,
                permissions: r.permissions().to_vec(),
                requires_totp: r.requires_totp(),
                tenant_scoped: r.is_customer(),
            })
            .collect(),
    )
}
