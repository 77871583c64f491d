//! Bearer tokens: login sessions and API tokens, stored only as hashes.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store, StoreError};

const COLUMNS: &str = "id, token_hash, user_id, kind, name, scopes, created_at, expires_at, revoked_at, last_used_at";

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: Id,
    /// SHA-256 of the token text; the token itself is never stored.
    pub token_hash: String,
    pub user_id: Id,
    /// `session`, `enrollment` or `api`.
    pub kind: String,
    pub name: String,
    /// Comma-separated permission names.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

fn token(row: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: Id::from_trusted(row.try_get("id")?),
        token_hash: row.try_get("token_hash")?,
        user_id: Id::from_trusted(row.try_get("user_id")?),
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    pub async fn insert_token(&self, t: &TokenRow) -> Result<()> {
        sqlx::query(&format!("INSERT INTO tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(t.id.as_str())
            .bind(&t.token_hash)
            .bind(t.user_id.as_str())
            .bind(&t.kind)
            .bind(&t.name)
            .bind(&t.scopes)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.revoked_at)
            .bind(t.last_used_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn find_token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tokens WHERE token_hash = $1"))
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token).transpose()
    }

    /// A user's API tokens (not their login sessions), newest last.
    pub async fn list_api_tokens(&self, user: &Id, after: Option<&str>, limit: usize) -> Result<Page<TokenRow>> {
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tokens WHERE user_id = $1 AND kind = 'api' AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(user.as_str())
        .bind(after.unwrap_or(""))
        .bind(fetch)
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(token).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |t| t.id.to_string()))
    }

    /// Revokes one of `user`'s tokens. Not found if it is not theirs.
    pub async fn revoke_token(&self, user: &Id, id: &Id, now: i64) -> Result<()> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3")
                .bind(now)
                .bind(id.as_str())
                .bind(user.as_str())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records use of a token at most once a minute, to keep reads cheap.
    pub async fn touch_token(&self, id: &Id, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(now - 60_000)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
