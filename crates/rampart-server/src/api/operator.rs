//! The KMS seal: `GET /api/v1/operator/seal-status`, `POST
//! /api/v1/operator/unseal` (one Shamir share) and `POST
//! /api/v1/operator/seal`.
//!
//! Unsealing is unauthenticated, as in Vault: the share is the credential,
//! and a sealed node's operators may have no other way in. Each attempt is
//! rate-limited per source address and in total ([`UnsealLimiter`]), so a
//! flood can neither guess (a share is 256 random bits plus a checksum) nor
//! fill the ledger with attempt records; every attempt let through is
//! recorded by the KMS before it counts, without the share. The share
//! travels as a `SecretString` (redacted, zeroized) from the extractor on,
//! and the route accepts at most [`UNSEAL_BODY_LIMIT`] bytes.
//!
//! Sealing needs `system_write` (only the administrator holds it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::{Extension, Json};
use http::StatusCode;
use rampart_core::Principal;
use rampart_core::config::{KeystoreKind, SealKind};
use rampart_kms::keystore::UnsealError;
use rampart_kms::service::SealError;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::extract::{ApiJson, ClientAddr};
use crate::problem::ApiError;
use crate::server::AppState;

/// The largest unseal request body: a share is under 100 characters.
pub const UNSEAL_BODY_LIMIT: usize = 4096;

/// Where the KMS seal stands on this node.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SealStatusView {
    /// How the root key is kept: `shamir`, `key-file` or `pkcs11`.
    pub seal: &'static str,
    /// Whether every KMS operation is refused until unsealed.
    pub sealed: bool,
    /// With `shamir`: shares needed, shares printed, shares entered so far.
    pub threshold: Option<u8>,
    pub shares: Option<u8>,
    pub progress: Option<u8>,
}

fn status_view(state: &AppState) -> SealStatusView {
    let kind = match (state.config.kms.keystore, state.config.kms.seal) {
        (KeystoreKind::Pkcs11, _) => "pkcs11",
        (KeystoreKind::Software, SealKind::KeyFile) => "key-file",
        (KeystoreKind::Software, SealKind::Shamir) => "shamir",
    };
    match state.kms.seal_status() {
        Some(s) => SealStatusView {
            seal: kind,
            sealed: s.sealed,
            threshold: Some(s.threshold),
            shares: Some(s.shares),
            progress: Some(s.progress),
        },
        None => SealStatusView { seal: kind, sealed: false, threshold: None, shares: None, progress: None },
    }
}

/// Whether this node's KMS is sealed, and how far unsealing has come.
#[utoipa::path(get, path = "/api/v1/operator/seal-status", tag = "operator",
    responses((status = 200, body = SealStatusView)))]
pub async fn seal_status(State(state): State<AppState>) -> Json<SealStatusView> {
    Json(status_view(&state))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// One share as `rampart operator init` printed it (`rampart-share-1-…`).
    #[schema(value_type = String)]
    pub share: SecretString,
}

/// Enters one unseal share. Unauthenticated: the share is the credential.
#[utoipa::path(post, path = "/api/v1/operator/unseal", tag = "operator", request_body = UnsealRequest,
    responses((status = 200, body = SealStatusView),
        (status = 400, description = "not a share, or mistyped", body = crate::problem::Problem),
        (status = 409, description = "already entered, already unsealed, or not a Shamir seal", body = crate::problem::Problem),
        (status = 413, body = crate::problem::Problem),
        (status = 422, description = "a share of another root key, or shares that do not combine", body = crate::problem::Problem),
        (status = 429, body = crate::problem::Problem)))]
pub async fn unseal(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<UnsealRequest>,
) -> Result<Json<SealStatusView>, ApiError> {
    if state.kms.seal_status().is_none() {
        return Err(seal_problem(SealError::NotShamir));
    }
    if let Err(refusal) = state.unseal_limiter.admit(client.0, Instant::now()) {
        if refusal.first_in_window {
            // One record per address and window, not one per refused
            // attempt: the limit exists to keep floods out of the ledger.
            if let Err(e) = state.kms.unseal_throttled(client.text()).await {
                tracing::warn!(error = %e, "could not record an unseal throttling");
            }
        }
        return Err(ApiError::too_many_requests(
            "too many unseal attempts; wait before entering another share",
            refusal.retry_after.as_secs().max(1),
        ));
    }
    let taken = state.kms.unseal(client.text(), &body.share).await.map_err(seal_problem)?;
    if !taken.status.sealed {
        tracing::info!("the KMS is unsealed");
    }
    Ok(Json(status_view(&state)))
}

/// Seals the KMS: drops the root key and the unwrap cache; every KMS
/// operation is refused until operators unseal it again.
#[utoipa::path(post, path = "/api/v1/operator/seal", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = SealStatusView), (status = 409, body = crate::problem::Problem)))]
pub async fn seal(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    client: ClientAddr,
) -> Result<Json<SealStatusView>, ApiError> {
    state.kms.seal(&p.username, client.text()).await.map_err(seal_problem)?;
    tracing::warn!(actor = %p.username, "the KMS is sealed; every KMS operation is refused until it is unsealed");
    Ok(Json(status_view(&state)))
}

fn seal_problem(err: SealError) -> ApiError {
    let detail = err.to_string();
    match err {
        SealError::NotShamir => ApiError::new(StatusCode::CONFLICT, "kms-not-shamir", "Not sealed by shares", detail),
        SealError::Share(UnsealError::Malformed(_)) => ApiError::bad_request("invalid-share", detail),
        SealError::Share(UnsealError::Foreign) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "foreign-share", "Share of another root key", detail)
        }
        SealError::Share(UnsealError::Duplicate(_)) => {
            ApiError::new(StatusCode::CONFLICT, "duplicate-share", "Share already entered", detail)
        }
        SealError::Share(UnsealError::Mismatch(_)) => {
            tracing::warn!("unsealing failed: the shares entered do not reconstruct the root key");
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unseal-failed", "Unsealing failed", detail)
        }
        SealError::Share(UnsealError::AlreadyUnsealed) => {
            ApiError::new(StatusCode::CONFLICT, "already-unsealed", "Already unsealed", detail)
        }
        SealError::Audit(e) => {
            tracing::error!(error = %e, "seal or unseal refused: audit record not durable");
            ApiError::unavailable("the audit trail did not confirm the record; the attempt was not taken")
        }
    }
}

/// Fixed-window limits on unseal attempts: at most `per_source` per
/// address and `total` overall in each `window`. Pure bookkeeping with the
/// time passed in, so tests need no sleeping.
#[derive(Debug)]
pub struct UnsealLimiter {
    per_source: u32,
    total: u32,
    window: Duration,
    inner: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    sources: HashMap<Option<IpAddr>, (Instant, u32)>,
    all: Option<(Instant, u32)>,
}

/// An attempt over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    /// The first refusal for this address in its window.
    pub first_in_window: bool,
}

/// How many addresses are tracked before expired windows are swept.
const TRACKED_SOURCES: usize = 4096;

impl Default for UnsealLimiter {
    /// Ten attempts per address and a hundred in all per minute: a
    /// threshold of operators entering shares never comes near either.
    fn default() -> Self {
        UnsealLimiter::new(10, 100, Duration::from_secs(60))
    }
}

impl UnsealLimiter {
    pub fn new(per_source: u32, total: u32, window: Duration) -> Self {
        UnsealLimiter { per_source, total, window, inner: Mutex::new(Windows::default()) }
    }

    /// Counts an attempt from `source` at `now`, or refuses it.
    pub fn admit(&self, source: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let mut w = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.window;
        let fresh = |start: Instant| now.saturating_duration_since(start) >= window;
        if w.sources.len() >= TRACKED_SOURCES {
            w.sources.retain(|_, (start, _)| !fresh(*start));
        }
        let all = match w.all {
            Some((start, n)) if !fresh(start) => (start, n),
            _ => (now, 0),
        };
        let mine = match w.sources.get(&source) {
            Some(&(start, n)) if !fresh(start) => (start, n),
            _ => (now, 0),
        };
        let retry = |start: Instant| window.saturating_sub(now.saturating_duration_since(start));
        if mine.1 >= self.per_source {
            w.sources.insert(source, (mine.0, mine.1.saturating_add(1)));
            return Err(Refusal { retry_after: retry(mine.0), first_in_window: mine.1 == self.per_source });
        }
        if all.1 >= self.total || w.sources.len() >= TRACKED_SOURCES {
            return Err(Refusal { retry_after: retry(all.0), first_in_window: false });
        }
        w.all = Some((all.0, all.1 + 1));
        w.sources.insert(source, (mine.0, mine.1 + 1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_over_the_per_source_limit_are_refused_until_the_window_passes() {
        let limiter = UnsealLimiter::new(3, 100, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            limiter.admit(a, t0).unwrap();
        }
        let refused = limiter.admit(a, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(refused, Refusal { retry_after: Duration::from_secs(50), first_in_window: true });
        assert!(!limiter.admit(a, t0 + Duration::from_secs(11)).unwrap_err().first_in_window);
        limiter.admit(b, t0 + Duration::from_secs(11)).unwrap();
        limiter.admit(a, t0 + Duration::from_secs(60)).unwrap();
    }

    #[test]
    fn the_total_limit_holds_across_addresses() {
        let limiter = UnsealLimiter::new(10, 5, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..5u8 {
            limiter.admit(Some(IpAddr::from([10, 0, 0, i])), t0).unwrap();
        }
        assert!(limiter.admit(Some(IpAddr::from([10, 0, 1, 1])), t0).is_err());
        limiter.admit(Some(IpAddr::from([10, 0, 1, 1])), t0 + Duration::from_secs(61)).unwrap();
    }
}
