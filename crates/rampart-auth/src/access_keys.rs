//! Access key pairs for signing KMS requests (AWS SigV4, Tencent TC3).
//!
//! Request signing needs the secret itself on the server side (HMAC keys,
//! not passwords), so it cannot be hashed: it is sealed under a key derived
//! from the root secret, with the access key id as associated data, and is
//! shown to its owner exactly once.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Outcome, Principal};
use rampart_store::{AccessKeyRow, Page, UserRow};
use secrecy::SecretString;
use serde::Serialize;

use crate::{Auth, AuthError};

/// An access key as listed: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub description: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl From<&AccessKeyRow> for AccessKeyInfo {
    fn from(k: &AccessKeyRow) -> Self {
        AccessKeyInfo {
            access_key_id: k.id.clone(),
            description: k.description.clone(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}

/// A new key pair; the secret exists in clear only in this value.
#[derive(Debug)]
pub struct NewAccessKey {
    pub info: AccessKeyInfo,
    pub secret_access_key: SecretString,
}

/// `RKAI` and 16 base32 characters: 20 characters like AWS key ids, so
/// clients that check the length accept them.
fn new_key_id() -> Result<String, AuthError> {
    let bytes = rampart_core::secret::random_bytes::<10>().map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(format!("RKAI{}", data_encoding::BASE32_NOPAD.encode(bytes.as_ref())))
}

impl Auth {
    pub async fn create_access_key(
        &self,
        actor: &Principal,
        description: &str,
        source: Option<String>,
    ) -> Result<NewAccessKey, AuthError> {
        if description.len() > 256 {
            return Err(AuthError::Invalid("description must be at most 256 bytes".into()));
        }
        let id = new_key_id()?;
        let secret_bytes =
            rampart_core::secret::random_bytes::<30>().map_err(|e| AuthError::Internal(e.to_string()))?;
        let secret = data_encoding::BASE64.encode(secret_bytes.as_ref());
        let sealed = self
            .inner
            .access_key_sealer
            .seal(id.as_bytes(), secret.as_bytes())
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let row = AccessKeyRow {
            id: id.clone(),
            user_id: actor.user_id.clone(),
            description: description.to_owned(),
            secret_sealed: sealed,
            created_at: now_ms(),
            revoked_at: None,
            last_used_at: None,
        };
        self.audit()
            .record(
                Event::new("access_key.created", Outcome::Success, &actor.username)
                    .object(id.as_str())
                    .tenant(actor.tenant_id.clone())
                    .source(source)
                    .attr("access_key_id", id.as_str()),
            )
            .await?;
        self.store().insert_access_key(&row).await?;
        Ok(NewAccessKey { info: AccessKeyInfo::from(&row), secret_access_key: SecretString::from(secret) })
    }

    pub async fn list_access_keys(
        &self,
        actor: &Principal,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<AccessKeyInfo>, AuthError> {
        let page = self.store().list_access_keys(&actor.user_id, after, limit).await?;
        Ok(Page { items: page.items.iter().map(AccessKeyInfo::from).collect(), next: page.next })
    }

    pub async fn revoke_access_key(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<(), AuthError> {
        let key = self.store().get_access_key(id).await?;
        if key.user_id != actor.user_id {
            return Err(AuthError::NotFound);
        }
        self.audit()
            .record(
                Event::new("access_key.revoked", Outcome::Success, &actor.username)
                    .object(id)
                    .tenant(actor.tenant_id.clone())
                    .source(source)
                    .attr("access_key_id", id),
            )
            .await?;
        self.store().revoke_access_key(&actor.user_id, id, now_ms()).await?;
        self.inner.access_keys.forget(&id.to_owned());
        Ok(())
    }

    /// The owner and unsealed secret of an active access key, for verifying
    /// a request signature. Revoked keys and disabled owners are refused.
    pub async fn access_key_secret(&self, id: &str) -> Result<(UserRow, SecretString), AuthError> {
        if let Some(hit) = self.inner.access_keys.get(&id.to_owned()) {
            return Ok(hit);
        }
        let generation = self.inner.access_keys.generation();
        let found = self.access_key_secret_uncached(id).await?;
        self.inner.access_keys.insert_fetched(id.to_owned(), found.clone(), generation);
        Ok(found)
    }

    async fn access_key_secret_uncached(&self, id: &str) -> Result<(UserRow, SecretString), AuthError> {
        let key = self.store().get_access_key(id).await.map_err(|_| AuthError::Unauthenticated)?;
        if key.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated);
        }
        let user = self.store().get_user(&key.user_id).await?;
        if user.disabled_at.is_some() {
            return Err(AuthError::Unauthenticated);
        }
        let secret = self
            .inner
            .access_key_sealer
            .open(key.id.as_bytes(), &key.secret_sealed)
            .map_err(|e| AuthError::Internal(format!("access key {}: {e}", key.id)))?;
        let text = String::from_utf8(secret.to_vec())
            .map_err(|_| AuthError::Internal("access key secret is not UTF-8".into()))?;
        Ok((user, SecretString::from(text)))
    }
}
