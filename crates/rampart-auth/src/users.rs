//! Tenants, users, bootstrap, and TOTP enrolment, with the policy of who may
//! manage whom: operator admins manage everyone; a customer admin manages
//! only customer users of their own tenant; objects of another tenant are
//! reported as not found rather than forbidden, so ids do not leak.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal, Role};
use rampart_store::{NewUser, Page, TenantRow, UserRow};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::{Auth, AuthError, password, totp};

/// A user as shown by the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub totp_enrolled: bool,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&UserRow> for UserInfo {
    fn from(u: &UserRow) -> Self {
        UserInfo {
            id: u.id.to_string(),
            username: u.username.clone(),
            role: u.role,
            tenant_id: u.tenant_id.as_ref().map(Id::to_string),
            totp_enrolled: u.totp_sealed.is_some(),
            disabled: u.disabled_at.is_some(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// A tenant as shown by the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&TenantRow> for TenantInfo {
    fn from(t: &TenantRow) -> Self {
        TenantInfo { id: t.id.to_string(), name: t.name.clone(), created_at: rfc3339(t.created_at) }
    }
}

/// A request to create a user.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub role: Role,
    /// Required for customer roles; must be absent for operator roles.
    pub tenant_id: Option<String>,
    /// Generated (and returned once) when absent.
    #[schema(value_type = Option<String>)]
    pub password: Option<SecretString>,
}

/// A created user, with the generated password if one was generated.
#[derive(Debug)]
pub struct NewUserCreated {
    pub user: UserInfo,
    pub initial_password: Option<SecretString>,
}

/// The first administrator's credentials, written to `bootstrap-admin.json`.
#[derive(Debug)]
pub struct Bootstrap {
    pub username: String,
    pub password: SecretString,
    pub totp_secret: SecretString,
}

/// A TOTP enrolment in progress: shown once to the user.
#[derive(Debug)]
pub struct Enrollment {
    pub otpauth_uri: SecretString,
    pub secret: SecretString,
}

/// User names: lowercase, 1–64 characters, starting with a letter or digit,
/// then letters, digits, `.`, `_`, `-` or `@`. No `:`, which separates user
/// and target in bastion logins, and no look-alike Unicode.
pub fn valid_username(name: &str) -> bool {
    let mut bytes = name.bytes();
    (1..=64).contains(&name.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn valid_tenant_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    (1..=64).contains(&name.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn random_password() -> Result<SecretString, AuthError> {
    let bytes = rampart_core::secret::random_bytes::<18>().map_err(|e| AuthError::Internal(e.to_string()))?;
    Ok(SecretString::from(data_encoding::BASE64URL_NOPAD.encode(bytes.as_ref())))
}

impl Auth {
    /// Creates the first administrator when there are no users at all.
    pub async fn bootstrap_admin(&self) -> Result<Option<Bootstrap>, AuthError> {
        if self.store().count_users().await? > 0 {
            return Ok(None);
        }
        let password = random_password()?;
        let pw = password.clone();
        let phc = self.hashing(move || password::hash(&pw)).await?;
        let secret = totp::generate_secret()?;
        let username = "admin";
        self.audit()
            .record(
                Event::new("user.bootstrap", Outcome::Success, "system")
                    .object(username)
                    .attr("username", username)
                    .attr("role", "admin"),
            )
            .await?;
        // The seal's AAD is the user id, which exists only after insert: create,
        // then attach the sealed secret as an active factor.
        let user = self
            .store()
            .create_user(NewUser { username, role: Role::Admin, tenant_id: None, password_hash: &phc }, now_ms())
            .await?;
        let sealed = self.seal_totp(&user.id, secret.as_ref())?;
        self.store().set_totp_pending(&user.id, &sealed, now_ms()).await?;
        self.store().activate_totp(&user.id, 0, now_ms()).await?;
        Ok(Some(Bootstrap { username: username.to_owned(), password, totp_secret: totp::base32(secret.as_ref()) }))
    }

    fn seal_totp(&self, user: &Id, secret: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.inner.totp_sealer.seal(user.as_str().as_bytes(), secret).map_err(|e| AuthError::Internal(e.to_string()))
    }

    pub async fn create_user(
        &self,
        actor: &Principal,
        req: CreateUser,
        source: Option<String>,
    ) -> Result<NewUserCreated, AuthError> {
        if !valid_username(&req.username) {
            return Err(AuthError::Invalid(
                "username must be 1-64 lowercase letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
                    .into(),
            ));
        }
        let tenant = match (&actor.tenant_id, req.role.is_customer()) {
            // A customer admin creates customer users in their own tenant only.
            (Some(own), true) => {
                if req.tenant_id.as_deref().is_some_and(|t| t != own.as_str()) {
                    return Err(AuthError::Forbidden(
                        "customer admins can only create users in their own tenant".into(),
                    ));
                }
                Some(own.clone())
            }
            (Some(_), false) => {
                return Err(AuthError::Forbidden("customer admins can only create customer users".into()));
            }
            (None, true) => {
                let id = req
                    .tenant_id
                    .as_deref()
                    .ok_or_else(|| AuthError::Invalid(format!("tenant_id is required for role {}", req.role)))?;
                let id = Id::parse(id).ok_or_else(|| AuthError::Invalid("tenant_id is not a tenant id".into()))?;
                self.store().get_tenant(&id).await.map_err(|_| AuthError::Invalid("no such tenant".into()))?;
                Some(id)
            }
            (None, false) => {
                if req.tenant_id.is_some() {
                    return Err(AuthError::Invalid(format!("role {} belongs to the operator, not a tenant", req.role)));
                }
                None
            }
        };
        let (password, generated) = match req.password {
            Some(p) => (p, false),
            None => (random_password()?, true),
        };
        password::check_policy(&password)?;
        if self.store().find_user_by_name(&req.username).await?.is_some() {
            return Err(AuthError::Conflict(format!("user {} already exists", req.username)));
        }
        let pw = password.clone();
        let phc = self.hashing(move || password::hash(&pw)).await?;
        self.audit()
            .record(
                Event::new("user.created", Outcome::Success, &actor.username)
                    .object(req.username.as_str())
                    .tenant(tenant.clone())
                    .source(source)
                    .attr("username", req.username.as_str())
                    .attr("role", req.role.as_str()),
            )
            .await?;
        let user = self
            .store()
            .create_user(
                NewUser { username: &req.username, role: req.role, tenant_id: tenant.as_ref(), password_hash: &phc },
                now_ms(),
            )
            .await?;
        Ok(NewUserCreated { user: UserInfo::from(&user), initial_password: generated.then_some(password) })
    }

    /// Fetches a user the caller may see; others' tenants read as not found.
    async fn visible_user(&self, actor: &Principal, id: &str) -> Result<UserRow, AuthError> {
        let id = Id::parse(id).ok_or(AuthError::NotFound)?;
        let user = self.store().get_user(&id).await?;
        if !actor.may_see_tenant(user.tenant_id.as_ref()) {
            return Err(AuthError::NotFound);
        }
        Ok(user)
    }

    pub async fn get_user(&self, actor: &Principal, id: &str) -> Result<UserInfo, AuthError> {
        Ok(UserInfo::from(&self.visible_user(actor, id).await?))
    }

    pub async fn list_users(
        &self,
        actor: &Principal,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<UserInfo>, AuthError> {
        let page = self.store().list_users(actor.tenant_id.as_ref(), after, limit).await?;
        Ok(Page { items: page.items.iter().map(UserInfo::from).collect(), next: page.next })
    }

    /// Checks that `actor` may change `target`: not themselves, and a
    /// customer admin only customer users of their tenant.
    fn may_manage(actor: &Principal, target: &UserRow) -> Result<(), AuthError> {
        if target.id == actor.user_id {
            return Err(AuthError::Forbidden("you cannot do this to your own account".into()));
        }
        if actor.tenant_id.is_some() && !target.role.is_customer() {
            return Err(AuthError::Forbidden("customer admins can only manage customer users".into()));
        }
        Ok(())
    }

    pub async fn disable_user(&self, actor: &Principal, id: &str, source: Option<String>) -> Result<(), AuthError> {
        let target = self.visible_user(actor, id).await?;
        Self::may_manage(actor, &target)?;
        self.audit()
            .record(
                Event::new("user.disabled", Outcome::Success, &actor.username)
                    .object(target.username.as_str())
                    .tenant(target.tenant_id.clone())
                    .source(source)
                    .attr("user_id", target.id.as_str())
                    .attr("username", target.username.as_str()),
            )
            .await?;
        self.store().disable_user(&target.id, now_ms()).await?;
        self.inner.access_keys.forget_where(|(owner, _)| owner.id == target.id);
        Ok(())
    }

    /// Removes a user's second factor; they enrol a new one at next login.
    pub async fn reset_totp(&self, actor: &Principal, id: &str, source: Option<String>) -> Result<(), AuthError> {
        let target = self.visible_user(actor, id).await?;
        Self::may_manage(actor, &target)?;
        self.audit()
            .record(
                Event::new("user.totp.reset", Outcome::Success, &actor.username)
                    .object(target.username.as_str())
                    .tenant(target.tenant_id.clone())
                    .source(source)
                    .attr("user_id", target.id.as_str())
                    .attr("username", target.username.as_str()),
            )
            .await?;
        self.store().reset_totp(&target.id, now_ms()).await?;
        Ok(())
    }

    /// Starts TOTP enrolment for the caller, who must not have one yet
    /// (replacing an active factor goes through an admin's reset, so a stolen
    /// session cannot swap the second factor).
    pub async fn begin_enrollment(&self, actor: &Principal) -> Result<Enrollment, AuthError> {
        let user = self.store().get_user(&actor.user_id).await?;
        if user.totp_sealed.is_some() {
            return Err(AuthError::Conflict("a second factor is already enrolled; ask an admin to reset it".into()));
        }
        let secret = totp::generate_secret()?;
        let sealed = self.seal_totp(&user.id, secret.as_ref())?;
        self.store().set_totp_pending(&user.id, &sealed, now_ms()).await?;
        Ok(Enrollment {
            otpauth_uri: totp::otpauth_uri(secret.as_ref(), &user.username)?,
            secret: totp::base32(secret.as_ref()),
        })
    }

    /// Confirms enrolment with a code from the new authenticator. The
    /// enrolment token is revoked; the user logs in again with the code.
    pub async fn confirm_enrollment(
        &self,
        actor: &Principal,
        code: &SecretString,
        source: Option<String>,
    ) -> Result<(), AuthError> {
        let user = self.store().get_user(&actor.user_id).await?;
        let sealed = user
            .totp_pending_sealed
            .as_ref()
            .ok_or_else(|| AuthError::Conflict("no enrolment in progress; start one first".into()))?;
        let secret = self
            .inner
            .totp_sealer
            .open(user.id.as_str().as_bytes(), sealed)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let unix = u64::try_from(now_ms() / 1000).unwrap_or(0);
        let step = totp::matching_step(&secret, &user.username, code, unix)
            .ok_or_else(|| AuthError::Invalid("the code does not match the new secret".into()))?;
        self.audit()
            .record(
                Event::new("auth.totp.enrolled", Outcome::Success, &user.username)
                    .object(user.username.as_str())
                    .tenant(user.tenant_id.clone())
                    .source(source),
            )
            .await?;
        self.store().activate_totp(&user.id, i64::try_from(step).unwrap_or(i64::MAX), now_ms()).await?;
        if actor.enrollment_only {
            self.store().revoke_token(&actor.user_id, &actor.token_id, now_ms()).await?;
        }
        Ok(())
    }

    pub async fn create_tenant(
        &self,
        actor: &Principal,
        name: &str,
        source: Option<String>,
    ) -> Result<TenantInfo, AuthError> {
        if !valid_tenant_name(name) {
            return Err(AuthError::Invalid(
                "tenant name must be 1-64 lowercase letters, digits or '-', starting with a letter or digit".into(),
            ));
        }
        self.audit()
            .record(
                Event::new("tenant.created", Outcome::Success, &actor.username)
                    .object(name)
                    .source(source)
                    .attr("name", name),
            )
            .await?;
        let row = self.store().create_tenant(name, now_ms()).await?;
        Ok(TenantInfo::from(&row))
    }

    pub async fn get_tenant(&self, actor: &Principal, id: &str) -> Result<TenantInfo, AuthError> {
        let id = Id::parse(id).ok_or(AuthError::NotFound)?;
        if !actor.may_see_tenant(Some(&id)) {
            return Err(AuthError::NotFound);
        }
        Ok(TenantInfo::from(&self.store().get_tenant(&id).await?))
    }

    pub async fn list_tenants(
        &self,
        actor: &Principal,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TenantInfo>, AuthError> {
        let page = self.store().list_tenants(actor.tenant_id.as_ref(), after, limit).await?;
        Ok(Page { items: page.items.iter().map(TenantInfo::from).collect(), next: page.next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_restricted_to_a_safe_alphabet() {
        for ok in ["alice", "a", "ops.bob", "c_d-e@example.com", "0day"] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in ["", "Alice", "al:ice", "al ice", "-x", ".x", "ålice", &"a".repeat(65)] {
            assert!(!valid_username(bad), "{bad:?}");
        }
    }
}
