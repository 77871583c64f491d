//! Login: password, then TOTP, with per-user and per-source throttling.
//!
//! After `lockout_threshold` failures inside `lockout_window_secs` for a user
//! name or a source address, attempts are refused for 5 s, then 10 s, 20 s,
//! … up to `lockout_max_secs`, even with the right credentials, and an
//! `auth.lockout` event is recorded. Unknown user names are throttled and
//! timed exactly like known ones.

use std::net::IpAddr;

use rampart_core::time::now_ms;
use rampart_core::{Event, Outcome};
use rampart_store::UserRow;
use secrecy::SecretString;

use crate::tokens::{KIND_ENROLLMENT, KIND_SESSION, NewToken};
use crate::{Auth, AuthError, password, totp};

/// First lock duration; each further failure doubles it.
const BASE_LOCK_MS: i64 = 5_000;
/// An enrolment token lives long enough to scan a QR code, no longer.
const ENROLLMENT_TTL_MS: i64 = 10 * 60 * 1000;

#[derive(Debug)]
pub struct LoginRequest {
    pub username: String,
    pub password: SecretString,
    pub totp_code: Option<SecretString>,
    pub source: Option<IpAddr>,
}

#[derive(Debug)]
pub enum LoginOutcome {
    /// Fully logged in.
    Session(NewToken),
    /// Password accepted, but the role needs a second factor that is not
    /// enrolled yet: the token may only enrol one.
    EnrollmentRequired(NewToken),
}

/// Why a login failed, for the audit record only (the caller is told less).
#[derive(Debug, Clone, Copy)]
pub(crate) enum FailReason {
    UnknownUser,
    BadPassword,
    Disabled,
    MissingCode,
    BadCode,
    ReplayedCode,
}

impl FailReason {
    fn as_str(self) -> &'static str {
        match self {
            FailReason::UnknownUser => "unknown_user",
            FailReason::BadPassword => "bad_password",
            FailReason::Disabled => "disabled",
            FailReason::MissingCode => "missing_totp_code",
            FailReason::BadCode => "bad_totp_code",
            FailReason::ReplayedCode => "replayed_totp_code",
        }
    }
}

impl Auth {
    pub async fn login(&self, req: LoginRequest) -> Result<LoginOutcome, AuthError> {
        let now = now_ms();
        let user_key = format!("user:{}", req.username);
        let source = req.source.map(|a| a.to_string());
        let ip_key = source.as_ref().map(|a| format!("ip:{a}"));

        let mut locked_until = self.store().throttle_locked_until(&user_key).await?;
        if let Some(k) = &ip_key {
            locked_until = locked_until.max(self.store().throttle_locked_until(k).await?);
        }
        if locked_until > now {
            let retry_after_secs = u64::try_from((locked_until - now + 999) / 1000).unwrap_or(1);
            return Err(AuthError::Locked { retry_after_secs });
        }

        let user = self.store().find_user_by_name(&req.username).await?;
        let phc = user.as_ref().map_or_else(|| self.inner.dummy_hash.clone(), |u| u.password_hash.clone());
        let password = req.password;
        let password_ok = self.hashing(move || Ok(password::verify(&password, &phc))).await?;

        let checked = match (user, password_ok) {
            (None, _) => Err((None, FailReason::UnknownUser)),
            (Some(u), false) => Err((Some(u), FailReason::BadPassword)),
            (Some(u), true) if u.disabled_at.is_some() => Err((Some(u), FailReason::Disabled)),
            (Some(u), true) => match self.second_factor(&u, req.totp_code.as_ref(), now).await? {
                Ok(()) => Ok(u),
                Err(reason) => Err((Some(u), reason)),
            },
        };
        let user = match checked {
            Ok(u) => u,
            Err((u, reason)) => return self.fail(&req.username, u.as_ref(), &user_key, ip_key, source, reason).await,
        };

        if user.totp_sealed.is_none() && user.role.requires_totp() {
            self.audit()
                .record(
                    Event::new("auth.login.enrollment_required", Outcome::Success, &user.username)
                        .tenant(user.tenant_id.clone())
                        .source(source),
                )
                .await?;
            self.store().throttle_clear(&user_key).await?;
            let token = self.issue_token(&user, KIND_ENROLLMENT, "totp enrolment", &[], ENROLLMENT_TTL_MS).await?;
            return Ok(LoginOutcome::EnrollmentRequired(token));
        }

        self.audit()
            .record(
                Event::new("auth.login.succeeded", Outcome::Success, &user.username)
                    .object(user.username.as_str())
                    .tenant(user.tenant_id.clone())
                    .source(source)
                    .attr("role", user.role.as_str())
                    .attr("second_factor", if user.totp_sealed.is_some() { "totp" } else { "none" }),
            )
            .await?;
        self.store().throttle_clear(&user_key).await?;
        let ttl = i64::try_from(self.inner.config.session_ttl_secs).unwrap_or(i64::MAX / 1000) * 1000;
        let token = self.issue_token(&user, KIND_SESSION, "login", user.role.permissions(), ttl).await?;
        Ok(LoginOutcome::Session(token))
    }

    /// Checks the user's enrolled second factor, if any. TOTP is the only
    /// kind today; WebAuthn slots in here as another enrolled factor with
    /// its own verification, leaving the rest of login untouched.
    pub(crate) async fn second_factor(
        &self,
        user: &UserRow,
        code: Option<&SecretString>,
        now: i64,
    ) -> Result<Result<(), FailReason>, AuthError> {
        let Some(sealed) = &user.totp_sealed else { return Ok(Ok(())) };
        let Some(code) = code else { return Ok(Err(FailReason::MissingCode)) };
        let secret = self
            .inner
            .totp_sealer
            .open(user.id.as_str().as_bytes(), sealed)
            .map_err(|e| AuthError::Internal(format!("totp secret of {}: {e}", user.id)))?;
        let unix = u64::try_from(now / 1000).unwrap_or(0);
        let Some(step) = totp::matching_step(&secret, &user.username, code, unix) else {
            return Ok(Err(FailReason::BadCode));
        };
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if !self.store().claim_totp_step(&user.id, step).await? {
            return Ok(Err(FailReason::ReplayedCode));
        }
        Ok(Ok(()))
    }

    /// Counts a failure against the user name and the source, records it,
    /// and answers with the deliberately vague `InvalidCredentials`.
    pub(crate) async fn fail(
        &self,
        username: &str,
        user: Option<&UserRow>,
        user_key: &str,
        ip_key: Option<String>,
        source: Option<String>,
        reason: FailReason,
    ) -> Result<LoginOutcome, AuthError> {
        let cfg = &self.inner.config;
        let now = now_ms();
        let window = i64::try_from(cfg.lockout_window_secs).unwrap_or(i64::MAX / 1000) * 1000;
        let threshold = i64::from(cfg.lockout_threshold);
        let max_ms = i64::try_from(cfg.lockout_max_secs).unwrap_or(i64::MAX / 1000) * 1000;
        let backoff = |failures: i64| {
            if failures < threshold {
                return 0;
            }
            let doublings = u32::try_from(failures - threshold).unwrap_or(u32::MAX).min(30);
            BASE_LOCK_MS.saturating_mul(1 << doublings).min(max_ms)
        };
        let tenant = user.and_then(|u| u.tenant_id.clone());
        // Count first, so a failure is throttled even if it cannot be recorded.
        let mut keys = vec![user_key.to_owned()];
        keys.extend(ip_key);
        let mut locks = Vec::new();
        for key in keys {
            let t = self.store().throttle_fail(&key, now, window, backoff).await?;
            if t.locked_until > 0 {
                tracing::warn!(throttle.key = %key, failures = t.failures, "login locked out");
                locks.push((key, t));
            }
        }
        self.audit()
            .record(
                Event::new("auth.login.failed", Outcome::Failure, username)
                    .object(username)
                    .tenant(tenant.clone())
                    .source(source.clone())
                    .attr("reason", reason.as_str()),
            )
            .await?;
        for (key, t) in locks {
            self.audit()
                .record(
                    Event::new("auth.lockout", Outcome::Denied, username)
                        .object(key.as_str())
                        .tenant(tenant.clone())
                        .source(source.clone())
                        .attr("key", key.as_str())
                        .attr("failures", t.failures)
                        .attr("locked_for_ms", t.locked_until - now),
                )
                .await?;
        }
        Err(AuthError::InvalidCredentials)
    }
}
