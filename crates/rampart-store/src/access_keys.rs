//! Access key pairs for request signing (SigV4, TC3); secrets stored sealed.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store, StoreError};

const COLUMNS: &str = "id, user_id, description, secret_sealed, created_at, revoked_at, last_used_at";

#[derive(Clone)]
pub struct AccessKeyRow {
    /// The public access key id, e.g. `RKAI…`.
    pub id: String,
    pub user_id: Id,
    pub description: String,
    /// The secret access key, sealed under the root secret with the id as AAD.
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

fn access_key(row: &AnyRow) -> Result<AccessKeyRow> {
    Ok(AccessKeyRow {
        id: row.try_get("id")?,
        user_id: Id::from_trusted(row.try_get("user_id")?),
        description: row.try_get("description")?,
        secret_sealed: row.try_get("secret_sealed")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn insert_access_key(&self, k: &AccessKeyRow) -> Result<()> {
        sqlx::query(&format!("INSERT INTO access_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&k.id)
            .bind(k.user_id.as_str())
            .bind(&k.description)
            .bind(k.secret_sealed.clone())
            .bind(k.created_at)
            .bind(k.revoked_at)
            .bind(k.last_used_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get_access_key(&self, id: &str) -> Result<AccessKeyRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM access_keys WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        access_key(&row)
    }

    pub async fn list_access_keys(&self, user: &Id, after: Option<&str>, limit: usize) -> Result<Page<AccessKeyRow>> {
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_keys WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(user.as_str())
        .bind(after.unwrap_or(""))
        .bind(fetch)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(access_key).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |k| k.id.clone()))
    }

    pub async fn revoke_access_key(&self, user: &Id, id: &str, now: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE access_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3")
                .bind(now)
                .bind(id)
                .bind(user.as_str())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
