//! Identity for Rampart: tenants, users and their roles, argon2id passwords,
//! TOTP second factors with replay protection, login throttling, session and
//! API tokens, and access key pairs for request signing.
//!
//! [`Auth`] is the one service the API and the protocol front ends call to
//! establish a [`Principal`] and to manage identities. Policy lives here
//! (who may create whom, tenant confinement); storage is `rampart-store`'s.
//! This crate never logs or returns a password, TOTP secret or code, token or
//! access-key secret except in the one response that hands a new one out, and
//! then only as a [`secrecy::SecretString`].

mod access_keys;
mod error;
mod groups;
mod login;
pub mod password;
pub mod signing;
pub mod ssh;
mod tokens;
pub mod totp;
mod users;

use std::sync::Arc;

use rampart_core::audit::Audit;
use rampart_core::config::AuthConfig;
use rampart_core::secret::{RootSecret, Sealer};
use rampart_core::ttl_cache::TtlCache;
use rampart_store::{Store, UserRow};
use secrecy::SecretString;
use tokio::sync::Semaphore;

pub use access_keys::{AccessKeyInfo, NewAccessKey};
pub use error::AuthError;
pub use groups::{GroupInfo, valid_group_name};
pub use login::{LoginOutcome, LoginRequest};
pub use rampart_core::Principal;
pub use ssh::{SshKeyInfo, SshSecondFactor};
pub use tokens::{NewToken, TokenInfo};
pub use users::{Bootstrap, CreateUser, Enrollment, NewUserCreated, TenantInfo, UserInfo};

/// Labels under which keys are derived from the root secret.
const TOTP_SEAL_LABEL: &str = "rampart/totp-seal/v1";
const ACCESS_KEY_SEAL_LABEL: &str = "rampart/access-key-seal/v1";

/// The identity service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: Audit,
    config: AuthConfig,
    totp_sealer: Sealer,
    access_key_sealer: Sealer,
    /// Bounds concurrent argon2 work (19 MiB each) so a login flood cannot
    /// exhaust memory or starve the runtime.
    hashing: Semaphore,
    /// A hash verified when the user does not exist, so response time does
    /// not tell whether a user name is taken.
    dummy_hash: String,
    /// Active access keys with their owner and unsealed secret, for the
    /// signature check on every KMS request, for `auth.access_key_cache_ms`.
    /// Revoking a key or disabling its owner forgets it at once on this
    /// node; the other nodes see it within that bound.
    access_keys: TtlCache<String, (UserRow, SecretString)>,
}

impl Auth {
    pub fn new(store: Store, audit: Audit, root: &RootSecret, config: AuthConfig) -> Result<Auth, AuthError> {
        let access_key_ttl = std::time::Duration::from_millis(config.access_key_cache_ms);
        let dummy_hash = password::hash(&secrecy::SecretString::from("rampart-dummy-password-for-timing"))?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Auth {
            inner: Arc::new(Inner {
                store,
                audit,
                config,
                totp_sealer: root.sealer(TOTP_SEAL_LABEL),
                access_key_sealer: root.sealer(ACCESS_KEY_SEAL_LABEL),
                hashing: Semaphore::new(permits),
                access_keys: TtlCache::new(access_key_ttl, 100_000),
                dummy_hash,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }

    /// Runs a password hash or verification off the async runtime, bounded
    /// by the hashing semaphore.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit =
            self.inner.hashing.acquire().await.map_err(|_| AuthError::Internal("hashing pool closed".into()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| AuthError::Internal(format!("hashing task: {e}")))?
    }
}
