//! The bastion's SSH user CA: its public key (`/api/v1/bastion/ssh-ca`),
//! certificates a user asks for their own public key, and the list and
//! revocation an administrator manages (`/api/v1/bastion/ssh-certs`). The
//! CA's private key never leaves the bastion service.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_bastion_ssh::{IssuedSshCert, NewSshCert, SshCertInfo};
use rampart_core::Principal;
use serde::{Deserialize, Serialize};

use crate::extract::{ApiJson, ApiQuery, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SshCa {
    /// The user CA's public key in OpenSSH form, for `TrustedUserCAKeys`.
    pub public_key: String,
}

/// The bastion's SSH user CA public key (created on first use).
#[utoipa::path(get, path = "/api/v1/bastion/ssh-ca", tag = "bastion", security(("bearer" = [])),
    responses((status = 200, body = SshCa)))]
pub async fn ssh_ca(State(state): State<AppState>) -> Result<Json<SshCa>, ApiError> {
    Ok(Json(SshCa { public_key: state.bastion.ssh_ca_public_key().await? }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueSshCert {
    /// The OpenSSH public key line to certify (Ed25519 or ECDSA).
    pub public_key: String,
    /// How long the certificate is valid, in seconds (60 up to
    /// `bastion.ssh_cert_max_secs`, which is also the default).
    #[serde(default)]
    pub valid_for_secs: Option<u64>,
    /// The user to certify: only the caller may be named.
    #[serde(default)]
    pub username: Option<String>,
}

/// Issues an OpenSSH user certificate for one of the caller's public keys.
#[utoipa::path(post, path = "/api/v1/bastion/ssh-certs", tag = "bastion", security(("bearer" = [])),
    request_body = IssueSshCert, responses((status = 201, body = IssuedSshCert),
        (status = 403, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn issue(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<IssueSshCert>,
) -> Result<(StatusCode, Json<IssuedSshCert>), ApiError> {
    let new = NewSshCert { public_key: body.public_key, valid_for_secs: body.valid_for_secs, username: body.username };
    Ok((StatusCode::CREATED, Json(state.bastion.issue_ssh_cert(&p, new, client.text()).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CertFilter {
    /// Also certificates that have expired.
    #[serde(default)]
    pub all: bool,
}

/// Issued certificates, newest first (unexpired ones unless `all`).
#[utoipa::path(get, path = "/api/v1/bastion/ssh-certs", tag = "bastion", security(("bearer" = [])),
    params(CertFilter), responses((status = 200, body = Vec<SshCertInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<CertFilter>,
) -> Result<Json<Vec<SshCertInfo>>, ApiError> {
    Ok(Json(state.bastion.list_ssh_certs(filter.all).await?))
}

/// Revokes a certificate: refused at the next login, and a live session
/// that logged in with it is cut.
#[utoipa::path(post, path = "/api/v1/bastion/ssh-certs/{serial}/revoke", tag = "bastion",
    security(("bearer" = [])), params(("serial" = String, Path)),
    responses((status = 200, body = SshCertInfo), (status = 404, body = crate::problem::Problem),
        (status = 409, body = crate::problem::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(serial): Path<String>,
) -> Result<Json<SshCertInfo>, ApiError> {
    Ok(Json(state.bastion.revoke_ssh_cert(&p, &serial, client.text()).await?))
}
