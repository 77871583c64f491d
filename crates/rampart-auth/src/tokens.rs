//! Bearer tokens. A token is `rpt_` followed by 43 base64url characters
//! (256 random bits); only its SHA-256 is stored, so a database dump yields
//! no usable token. Session tokens come from login, enrolment tokens from a
//! login that still has to set up its second factor, API tokens from
//! `POST /api/v1/tokens` with scopes and an expiry.

use aws_lc_rs::digest;
use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Permission, Principal};
use rampart_store::{Page, TokenRow, UserRow};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::{Auth, AuthError};

const PREFIX: &str = "rpt_";
const BODY_LEN: usize = 43;

pub(crate) const KIND_SESSION: &str = "session";
pub(crate) const KIND_ENROLLMENT: &str = "enrollment";
pub(crate) const KIND_API: &str = "api";

/// A token as listed (never the token itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub scopes: Vec<Permission>,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// A freshly issued token: the only time its text exists outside the caller.
#[derive(Debug)]
pub struct NewToken {
    pub info: TokenInfo,
    pub token: SecretString,
}

impl From<&TokenRow> for TokenInfo {
    fn from(t: &TokenRow) -> Self {
        TokenInfo {
            id: t.id.to_string(),
            name: t.name.clone(),
            kind: t.kind.clone(),
            scopes: parse_scopes(&t.scopes),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            revoked_at: t.revoked_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
        }
    }
}

fn parse_scopes(s: &str) -> Vec<Permission> {
    s.split(',').filter_map(|p| p.parse().ok()).collect()
}

fn hash_token(token: &str) -> String {
    rampart_core::secret::hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

/// Whether `text` has the shape of one of our tokens; checked before any
/// database work so garbage never reaches a query.
fn well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX)
        .is_some_and(|b| b.len() == BODY_LEN && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
}

impl Auth {
    /// Issues a token of `kind` for `user`, stored hashed.
    pub(crate) async fn issue_token(
        &self,
        user: &UserRow,
        kind: &str,
        name: &str,
        scopes: &[Permission],
        ttl_ms: i64,
    ) -> Result<NewToken, AuthError> {
        let random = rampart_core::secret::random_bytes::<32>().map_err(|e| AuthError::Internal(e.to_string()))?;
        let token = SecretString::from(format!("{PREFIX}{}", data_encoding::BASE64URL_NOPAD.encode(random.as_ref())));
        let now = now_ms();
        let row = TokenRow {
            id: Id::new("tok"),
            token_hash: hash_token(token.expose_secret()),
            user_id: user.id.clone(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            scopes: scopes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
            created_at: now,
            expires_at: now.saturating_add(ttl_ms),
            revoked_at: None,
            last_used_at: None,
        };
        self.store().insert_token(&row).await?;
        Ok(NewToken { info: TokenInfo::from(&row), token })
    }

    /// Resolves a bearer token to the caller, or `Unauthenticated`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if !well_formed(bearer) {
            return Err(AuthError::Unauthenticated);
        }
        let Some(token) = self.store().find_token_by_hash(&hash_token(bearer)).await? else {
            return Err(AuthError::Unauthenticated);
        };
        let now = now_ms();
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Err(AuthError::Unauthenticated);
        }
        let user = self.store().get_user(&token.user_id).await?;
        if user.disabled_at.is_some() {
            return Err(AuthError::Unauthenticated);
        }
        if token.last_used_at.is_none_or(|t| t < now - 60_000) {
            self.store().touch_token(&token.id, now).await?;
        }
        let scopes = parse_scopes(&token.scopes);
        let permissions = user.role.permissions().iter().copied().filter(|p| scopes.contains(p)).collect();
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
            tenant_id: user.tenant_id,
            token_id: token.id,
            permissions,
            enrollment_only: token.kind == KIND_ENROLLMENT,
        })
    }

    /// Creates an API token for the caller. Scopes default to the caller's
    /// current permissions and may never exceed them.
    pub async fn create_api_token(
        &self,
        actor: &Principal,
        name: &str,
        scopes: Option<Vec<Permission>>,
        expires_in_days: Option<u32>,
        source: Option<String>,
    ) -> Result<NewToken, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AuthError::Invalid("name must be 1 to 100 characters".into()));
        }
        let max = self.inner.config.max_token_ttl_days;
        let days = expires_in_days.unwrap_or(90.min(max));
        if days == 0 || days > max {
            return Err(AuthError::Invalid(format!("expires_in_days must be between 1 and {max}")));
        }
        let scopes = scopes.unwrap_or_else(|| actor.permissions.clone());
        if let Some(p) = scopes.iter().find(|p| !actor.can(**p)) {
            return Err(AuthError::Forbidden(format!("cannot grant scope {p} that you do not hold")));
        }
        let user = self.store().get_user(&actor.user_id).await?;
        self.audit()
            .record(
                Event::new("token.created", Outcome::Success, &actor.username)
                    .object(name)
                    .tenant(actor.tenant_id.clone())
                    .source(source)
                    .attr("name", name)
                    .attr("scopes", scopes.iter().map(|p| p.as_str()).collect::<Vec<_>>())
                    .attr("expires_in_days", days),
            )
            .await?;
        self.issue_token(&user, KIND_API, name, &scopes, i64::from(days) * 86_400_000).await
    }

    pub async fn list_api_tokens(
        &self,
        actor: &Principal,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TokenInfo>, AuthError> {
        let page = self.store().list_api_tokens(&actor.user_id, after, limit).await?;
        Ok(Page { items: page.items.iter().map(TokenInfo::from).collect(), next: page.next })
    }

    /// Revokes one of the caller's own tokens.
    pub async fn revoke_token(&self, actor: &Principal, id: &str, source: Option<String>) -> Result<(), AuthError> {
        let id = Id::parse(id).ok_or(AuthError::NotFound)?;
        self.audit()
            .record(
                Event::new("token.revoked", Outcome::Success, &actor.username)
                    .object(id.as_str())
                    .tenant(actor.tenant_id.clone())
                    .source(source)
                    .attr("token_id", id.as_str()),
            )
            .await?;
        self.store().revoke_token(&actor.user_id, &id, now_ms()).await?;
        Ok(())
    }

    /// Ends the caller's current session.
    pub async fn logout(&self, actor: &Principal, source: Option<String>) -> Result<(), AuthError> {
        self.audit()
            .record(
                Event::new("auth.logout", Outcome::Success, &actor.username)
                    .tenant(actor.tenant_id.clone())
                    .source(source),
            )
            .await?;
        self.store().revoke_token(&actor.user_id, &actor.token_id, now_ms()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_is_checked_before_lookup() {
        let good = format!("{PREFIX}{}", "A".repeat(BODY_LEN));
        assert!(well_formed(&good));
        assert!(!well_formed(""));
        assert!(!well_formed(&good[1..]));
        assert!(!well_formed(&format!("{good}A")));
        assert!(!well_formed(&format!("{PREFIX}{}", "é".repeat(BODY_LEN))));
    }

    #[tokio::test]
    async fn expired_and_revoked_tokens_do_not_authenticate() {
        use std::sync::Arc;
        use std::time::Duration;

        use rampart_core::Role;
        use rampart_core::audit::Audit;
        use rampart_core::config::AuthConfig;
        use rampart_core::secret::RootSecret;
        use rampart_store::{NewUser, Store, TableAuditSink};

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).await.unwrap();
        let audit = Audit::new(Arc::new(TableAuditSink(store.clone())), Duration::from_secs(2));
        let auth = Auth::new(store.clone(), audit, &RootSecret::from_bytes([3; 32]), AuthConfig::default()).unwrap();
        let user = store
            .create_user(NewUser { username: "u", role: Role::Auditor, tenant_id: None, password_hash: "x" }, now_ms())
            .await
            .unwrap();

        let live = auth.issue_token(&user, KIND_API, "live", &[Permission::UserRead], 60_000).await.unwrap();
        let p = auth.authenticate(live.token.expose_secret()).await.unwrap();
        assert_eq!(p.permissions, vec![Permission::UserRead], "scopes narrow the role's permissions");

        let expired = auth.issue_token(&user, KIND_API, "old", &[Permission::UserRead], -1).await.unwrap();
        assert!(matches!(auth.authenticate(expired.token.expose_secret()).await, Err(AuthError::Unauthenticated)));

        store.revoke_token(&user.id, &Id::parse(&live.info.id).unwrap(), now_ms()).await.unwrap();
        assert!(matches!(auth.authenticate(live.token.expose_secret()).await, Err(AuthError::Unauthenticated)));

        let enrol = auth.issue_token(&user, KIND_ENROLLMENT, "enrol", &[], 60_000).await.unwrap();
        let p = auth.authenticate(enrol.token.expose_secret()).await.unwrap();
        assert!(p.enrollment_only && !p.can(Permission::TokenSelf), "an enrolment token grants nothing else");
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
