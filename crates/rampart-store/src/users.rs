//! Users, their password hashes and their sealed TOTP secrets.

use rampart_core::{Id, Role};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store, StoreError};

const COLUMNS: &str = "id, username, role, tenant_id, password_hash, totp_sealed, totp_pending_sealed, \
                       totp_last_step, disabled_at, created_at, updated_at";

#[derive(Clone)]
pub struct UserRow {
    pub id: Id,
    pub username: String,
    pub role: Role,
    pub tenant_id: Option<Id>,
    /// PHC string (argon2id); never leaves the auth service.
    pub password_hash: String,
    /// The active TOTP secret, sealed under the root secret.
    pub totp_sealed: Option<Vec<u8>>,
    /// A secret being enrolled, not yet confirmed with a code.
    pub totp_pending_sealed: Option<Vec<u8>>,
    /// The last TOTP time step accepted, for replay protection.
    pub totp_last_step: i64,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("tenant_id", &self.tenant_id)
            .field("totp_enrolled", &self.totp_sealed.is_some())
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// What a new user is created with.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub role: Role,
    pub tenant_id: Option<&'a Id>,
    pub password_hash: &'a str,
}

fn user(row: &AnyRow) -> Result<UserRow> {
    let role: String = row.try_get("role")?;
    Ok(UserRow {
        id: Id::from_trusted(row.try_get("id")?),
        username: row.try_get("username")?,
        role: role.parse().map_err(|e| StoreError::Corrupt(format!("users.role: {e}")))?,
        tenant_id: row.try_get::<Option<String>, _>("tenant_id")?.map(Id::from_trusted),
        password_hash: row.try_get("password_hash")?,
        totp_sealed: row.try_get("totp_sealed")?,
        totp_pending_sealed: row.try_get("totp_pending_sealed")?,
        totp_last_step: row.try_get("totp_last_step")?,
        disabled_at: row.try_get("disabled_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn create_user(&self, new: NewUser<'_>, now: i64) -> Result<UserRow> {
        let id = Id::new("usr");
        sqlx::query(
            "INSERT INTO users (id, username, role, tenant_id, password_hash, totp_last_step, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
        )
        .bind(id.as_str())
        .bind(new.username)
        .bind(new.role.as_str())
        .bind(new.tenant_id.map(|t| t.as_str().to_owned()))
        .bind(new.password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.get_user(&id).await
    }

    pub async fn get_user(&self, id: &Id) -> Result<UserRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        user(&row)
    }

    pub async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user).transpose()
    }

    pub async fn count_users(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Users in creation order after the cursor; `tenant` confines the
    /// listing to one tenant.
    pub async fn list_users(&self, tenant: Option<&Id>, after: Option<&str>, limit: usize) -> Result<Page<UserRow>> {
        let after = after.unwrap_or("");
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(t.as_str())
                .bind(after)
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(after)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let rows = rows.iter().map(user).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |u| u.id.to_string()))
    }

    /// Disables a user and revokes every token they hold, in one transaction.
    pub async fn disable_user(&self, id: &Id, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $1 WHERE id = $2 AND disabled_at IS NULL")
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            // Either no such user or already disabled: tell them apart.
            let exists =
                sqlx::query("SELECT id FROM users WHERE id = $1").bind(id.as_str()).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE access_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a user's second factor (active and pending); they enrol again
    /// at their next login. Revokes their sessions so the reset takes effect.
    pub async fn reset_totp(&self, id: &Id, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_sealed = NULL, totp_pending_sealed = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND kind = 'session' AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a TOTP secret awaiting confirmation.
    pub async fn set_totp_pending(&self, id: &Id, sealed: &[u8], now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE users SET totp_pending_sealed = $1, updated_at = $2 WHERE id = $3")
            .bind(sealed.to_vec())
            .bind(now)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Makes the pending secret the active one, recording the step of the
    /// code that confirmed it so that code cannot be replayed at login.
    pub async fn activate_totp(&self, id: &Id, step: i64, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, \
             totp_last_step = $1, updated_at = $2 WHERE id = $3 AND totp_pending_sealed IS NOT NULL",
        )
        .bind(step)
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Claims a TOTP time step for a user: succeeds only if no code of this
    /// or a later step was accepted before. The compare-and-set happens in
    /// one statement, so two nodes racing on the same code cannot both win.
    pub async fn claim_totp_step(&self, id: &Id, step: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
