//! The log source registry: `/api/v1/sources`. Sources are addressed by id
//! (`src_…`) or by name. Every change is audited before it takes effect
//! (`source.created`, `source.updated`, `source.deleted`,
//! `source.token.rotated`, `source.cert.issued`, `source.cert.revoked`).

use std::str::FromStr;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use http::StatusCode;
use rampart_core::Principal;
use rampart_core::time::{now_ms, rfc3339};
use rampart_ingest::ParserKind;
use rampart_ingest::source::{SourceType, canonical_name};
use rampart_store::{SourceRow, SourceSpec};
use serde::{Deserialize, Serialize};

use crate::api::Listing;
use crate::extract::{ApiJson, ApiQuery, ClientAddr, Paging};
use crate::ingest::registry::{ACTIVE, PENDING, RegistryError};
use crate::problem::ApiError;
use crate::server::AppState;

/// The longest heartbeat: a year.
const MAX_HEARTBEAT_SECS: i64 = 365 * 24 * 3600;
/// The longest retention: a hundred years.
const MAX_RETENTION_DAYS: i64 = 36_500;
/// The longest owner, product, service or category.
const MAX_TEXT: usize = 200;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourceInfo {
    pub id: String,
    /// The host name its syslog header carries (or its address), lower case.
    pub name: String,
    /// `server`, `network_device`, `database` or `application`.
    #[serde(rename = "type")]
    pub source_type: String,
    pub owner: Option<String>,
    /// Sigma logsource of its events.
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    pub parser: String,
    /// Longest expected silence; beyond it `source.silent` is recorded.
    pub heartbeat_secs: Option<i64>,
    /// False for senders registered automatically until someone reviews them.
    pub reviewed: bool,
    /// `active`, or `pending`: held (nothing stored) until reviewed.
    pub status: String,
    pub last_seen: Option<String>,
    /// When its current silence was reported; absent while it speaks.
    pub silent_since: Option<String>,
    /// Days its events stay searchable (the ledger keeps them); absent: kept.
    pub retention_days: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<SourceRow> for SourceInfo {
    fn from(r: SourceRow) -> Self {
        SourceInfo {
            id: r.id.to_string(),
            name: r.name,
            source_type: r.source_type,
            owner: r.owner,
            product: r.product,
            service: r.service,
            category: r.category,
            parser: r.parser,
            heartbeat_secs: r.heartbeat_secs,
            reviewed: r.reviewed,
            status: r.status,
            last_seen: r.last_seen.map(rfc3339),
            silent_since: r.silent_since.map(rfc3339),
            retention_days: r.retention_days,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(d) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", d)
            }
            RegistryError::NotFound => ApiError::not_found(),
            RegistryError::Conflict(d) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", format!("a source named {d} exists"))
            }
            RegistryError::Audit(e) => {
                tracing::error!(error = %e, "action refused: audit record not durable");
                ApiError::unavailable("the audit trail did not confirm the record; the action was not performed")
            }
            RegistryError::Store(e) => ApiError::internal("source registry failed", &e),
            RegistryError::Ca(e) => ApiError::internal("issuing a client certificate", &e),
        }
    }
}

/// Registered log sources, in registration order.
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", security(("bearer" = [])), params(Paging),
    responses((status = 200, body = Listing<SourceInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(_p): Extension<Principal>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Listing<SourceInfo>>, ApiError> {
    let page = state
        .ingest
        .registry
        .list(paging.after.as_deref(), paging.limit()?)
        .await
        .map_err(|e| ApiError::internal("listing sources", &e))?;
    Ok(Json(Listing { items: page.items.into_iter().map(SourceInfo::from).collect(), next: page.next }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    /// The host name the source's syslog header carries, or its address.
    pub name: String,
    /// `server`, `network_device`, `database` or `application`.
    #[serde(rename = "type")]
    pub source_type: String,
    pub owner: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    /// `auto` (default), or a fixed parser: sshd, sudo, su, pam, auditd,
    /// netfilter, nginx, apache, postgresql, mysql, json, kv, raw.
    pub parser: Option<String>,
    /// Expected longest silence in seconds (1 to a year); absent: none.
    pub heartbeat_secs: Option<i64>,
    /// Days its events stay searchable (1 to 36500); absent: kept.
    pub retention_days: Option<i64>,
}

/// Registers a source (reviewed: a person registered it).
#[utoipa::path(post, path = "/api/v1/sources", tag = "sources", security(("bearer" = [])),
    request_body = CreateSource, responses((status = 201, body = SourceInfo),
    (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    ApiJson(body): ApiJson<CreateSource>,
) -> Result<(StatusCode, Json<SourceInfo>), ApiError> {
    let name = canonical_name(body.name.trim()).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let spec = SourceSpec {
        source_type: source_type(&body.source_type)?,
        owner: text("owner", body.owner)?,
        product: text("product", body.product)?,
        service: text("service", body.service)?,
        category: text("category", body.category)?,
        parser: parser(body.parser.as_deref().unwrap_or("auto"))?,
        heartbeat_secs: heartbeat(body.heartbeat_secs)?,
        reviewed: true,
        status: ACTIVE.into(),
        retention_days: retention(body.retention_days)?,
    };
    let row = state.ingest.registry.create(&p.username, client.text(), &name, &spec, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// One source, by id or name.
#[utoipa::path(get, path = "/api/v1/sources/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")),
    responses((status = 200, body = SourceInfo), (status = 404, body = crate::problem::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(_p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<SourceInfo>, ApiError> {
    Ok(Json(state.ingest.registry.get(&id).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSource {
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    /// An empty string clears owner, product, service or category.
    pub owner: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    pub parser: Option<String>,
    /// 0 removes the heartbeat expectation.
    pub heartbeat_secs: Option<i64>,
    /// `true` marks the source reviewed, and releases a held (pending) one.
    pub reviewed: Option<bool>,
    /// Days its events stay searchable; 0 keeps them for good.
    pub retention_days: Option<i64>,
}

/// Changes a source; absent fields stay as they are.
#[utoipa::path(patch, path = "/api/v1/sources/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")), request_body = UpdateSource,
    responses((status = 200, body = SourceInfo), (status = 404, body = crate::problem::Problem),
    (status = 422, body = crate::problem::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSource>,
) -> Result<Json<SourceInfo>, ApiError> {
    let row = state.ingest.registry.get(&id).await?;
    let keep = |new: Option<String>, old: &Option<String>, what: &str| match new {
        None => Ok(old.clone()),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => text(what, Some(v)),
    };
    let reviewed = body.reviewed.unwrap_or(row.reviewed);
    let spec = SourceSpec {
        source_type: match body.source_type {
            Some(t) => source_type(&t)?,
            None => row.source_type.clone(),
        },
        owner: keep(body.owner, &row.owner, "owner")?,
        product: keep(body.product, &row.product, "product")?,
        service: keep(body.service, &row.service, "service")?,
        category: keep(body.category, &row.category, "category")?,
        parser: match body.parser {
            Some(p) => parser(&p)?,
            None => row.parser.clone(),
        },
        heartbeat_secs: match body.heartbeat_secs {
            Some(0) => None,
            Some(h) => heartbeat(Some(h))?,
            None => row.heartbeat_secs,
        },
        reviewed,
        retention_days: match body.retention_days {
            Some(0) => None,
            Some(d) => retention(Some(d))?,
            None => row.retention_days,
        },
        status: if body.reviewed == Some(true) && row.status == PENDING { ACTIVE.into() } else { row.status.clone() },
    };
    Ok(Json(state.ingest.registry.update(&p.username, client.text(), &row, &spec, now_ms()).await?.into()))
}

/// Removes a source from the registry (its stored events stay in the ledger).
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")),
    responses((status = 204), (status = 404, body = crate::problem::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let row = state.ingest.registry.get(&id).await?;
    state.ingest.registry.delete(&p.username, client.text(), &row).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn source_type(text: &str) -> Result<String, RegistryError> {
    SourceType::from_str(text).map(|t| t.name().to_owned()).map_err(|e| RegistryError::Invalid(e.to_string()))
}

fn parser(text: &str) -> Result<String, RegistryError> {
    ParserKind::from_str(text).map(|p| p.name().to_owned()).map_err(|e| RegistryError::Invalid(e.to_string()))
}

fn heartbeat(secs: Option<i64>) -> Result<Option<i64>, RegistryError> {
    match secs {
        Some(s) if !(1..=MAX_HEARTBEAT_SECS).contains(&s) => {
            Err(RegistryError::Invalid(format!("heartbeat_secs must be between 1 and {MAX_HEARTBEAT_SECS}")))
        }
        other => Ok(other),
    }
}

fn retention(days: Option<i64>) -> Result<Option<i64>, RegistryError> {
    match days {
        Some(d) if !(1..=MAX_RETENTION_DAYS).contains(&d) => {
            Err(RegistryError::Invalid(format!("retention_days must be between 1 and {MAX_RETENTION_DAYS}")))
        }
        other => Ok(other),
    }
}

fn text(what: &str, value: Option<String>) -> Result<Option<String>, RegistryError> {
    match value {
        Some(v) if v.len() > MAX_TEXT || v.chars().any(char::is_control) => {
            Err(RegistryError::Invalid(format!("{what} must be at most {MAX_TEXT} bytes without control characters")))
        }
        Some(v) if v.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A new ingest token for the source (replacing any earlier one), shown
/// this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestToken {
    pub source: String,
    /// `Authorization: Bearer …` for `POST /api/v1/ingest`.
    pub token: String,
}

/// Creates or rotates the source's ingest token; the old one stops working.
#[utoipa::path(post, path = "/api/v1/sources/{id}/token", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")),
    responses((status = 200, body = IngestToken), (status = 404, body = crate::problem::Problem)))]
pub async fn token(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<IngestToken>, ApiError> {
    let row = state.ingest.registry.get(&id).await?;
    let token = state.ingest.registry.rotate_token(&p.username, client.text(), &row, now_ms()).await?;
    Ok(Json(IngestToken { source: row.name, token: secrecy::ExposeSecret::expose_secret(&token).to_owned() }))
}

/// A client certificate of a source (never its key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertInfo {
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the certificate (DER), hex.
    pub fingerprint: String,
    pub issued_at: String,
    pub not_after: String,
    /// When it was revoked; absent while it is valid.
    pub revoked_at: Option<String>,
}

impl From<rampart_store::SourceCertRow> for CertInfo {
    fn from(c: rampart_store::SourceCertRow) -> Self {
        CertInfo {
            serial: c.serial,
            fingerprint: c.fingerprint,
            issued_at: rfc3339(c.issued_at),
            not_after: rfc3339(c.not_after),
            revoked_at: c.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCert {
    /// A PKCS#10 certificate signing request (PEM) made by the sender: the
    /// certificate is for its public key (ECDSA P-256/P-384, Ed25519 or
    /// RSA 2048–8192), whose private key never reaches Rampart. Its subject
    /// is not used: the certificate names the source.
    pub csr: String,
    /// Validity in days, 1 to 3650 (default 365).
    pub days: Option<u32>,
}

/// A new client certificate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedCert {
    pub source: String,
    pub source_id: String,
    pub serial: String,
    pub fingerprint: String,
    /// SHA-256 of the certified public key (SubjectPublicKeyInfo, DER), hex.
    pub public_key_sha256: String,
    pub not_after: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The deployment's CA (PEM): the issuer of this certificate and of
    /// the syslog listener's, for the sender to trust.
    pub ca: String,
}

/// Issues a client certificate for mutual TLS on the syslog TLS listener to
/// the key of a certificate signing request, signed by the deployment's
/// CA; its events are then attributed to this source.
#[utoipa::path(post, path = "/api/v1/sources/{id}/certs", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")), request_body = IssueCert,
    responses((status = 201, body = IssuedCert), (status = 404, body = crate::problem::Problem),
    (status = 422, body = crate::problem::Problem)))]
pub async fn issue_cert(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IssueCert>,
) -> Result<(StatusCode, Json<IssuedCert>), ApiError> {
    let days = body.days.unwrap_or(crate::ingest::certs::DEFAULT_DAYS);
    if !(1..=crate::ingest::certs::MAX_DAYS).contains(&days) {
        return Err(
            RegistryError::Invalid(format!("days must be between 1 and {}", crate::ingest::certs::MAX_DAYS)).into()
        );
    }
    let key = crate::ingest::certs::CsrKey::from_pem(&body.csr).map_err(RegistryError::Invalid)?;
    let row = state.ingest.registry.get(&id).await?;
    let ca = state.ingest.ca().ok_or_else(|| ApiError::unavailable("this node has no certificate authority"))?;
    let ca_pem = std::fs::read_to_string(&ca.ca_cert).map_err(|e| ApiError::internal("reading the CA", &e))?;
    let issued = state.ingest.registry.issue_cert(&p.username, client.text(), &row, ca, &key, days, now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedCert {
            source: row.name,
            source_id: row.id.to_string(),
            serial: issued.serial,
            fingerprint: issued.fingerprint,
            public_key_sha256: issued.public_key_sha256,
            not_after: rfc3339(issued.not_after),
            certificate: issued.cert_pem,
            ca: ca_pem,
        }),
    ))
}

/// The source's client certificates, newest first.
#[utoipa::path(get, path = "/api/v1/sources/{id}/certs", tag = "sources", security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name")),
    responses((status = 200, body = Listing<CertInfo>), (status = 404, body = crate::problem::Problem)))]
pub async fn list_certs(
    State(state): State<AppState>,
    Extension(_p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Listing<CertInfo>>, ApiError> {
    let row = state.ingest.registry.get(&id).await?;
    let certs = state.ingest.registry.certs(&row).await?;
    Ok(Json(Listing { items: certs.into_iter().map(CertInfo::from).collect(), next: None }))
}

/// Revokes one of the source's client certificates: handshakes with it are
/// refused, and connections using it are closed within a second.
#[utoipa::path(post, path = "/api/v1/sources/{id}/certs/{serial}/revoke", tag = "sources",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "source id or name"), ("serial" = String, Path)),
    responses((status = 200, body = CertInfo), (status = 404, body = crate::problem::Problem),
    (status = 409, body = crate::problem::Problem)))]
pub async fn revoke_cert(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
    Path((id, serial)): Path<(String, String)>,
) -> Result<Json<CertInfo>, ApiError> {
    let row = state.ingest.registry.get(&id).await?;
    let revoked = state.ingest.registry.revoke_cert(&p.username, client.text(), &row, &serial, now_ms()).await?;
    Ok(Json(revoked.into()))
}
