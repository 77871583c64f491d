//! Storage of a key's metadata beyond its state: description, key policy,
//! tags, alias retargeting, the list of material versions, and the one-time
//! import wrapping keys. Nothing here interprets a policy or a tag.

use rampart_core::Id;
use sqlx::Row;

use super::scope;
use crate::{Result, Store, StoreError};

/// A pending import: the token handed to the customer, the wrapped private
/// half of the wrapping key pair, its algorithm and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportToken {
    pub key_id: String,
    pub token: String,
    pub wrapped: Vec<u8>,
    pub algorithm: String,
    pub expires_at: i64,
}

fn affected(done: sqlx::any::AnyQueryResult) -> Result<()> {
    if done.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

impl Store {
    pub async fn kms_set_description(&self, id: &str, description: &str, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE kms_keys SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        affected(done)
    }

    /// Replaces the key policy (`None`: back to the default policy).
    pub async fn kms_set_policy(&self, id: &str, policy: Option<&str>, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE kms_keys SET policy = $1, updated_at = $2 WHERE id = $3")
            .bind(policy)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        affected(done)
    }

    /// Points an existing alias of a tenant at another key.
    pub async fn kms_update_alias(&self, tenant: Option<&Id>, alias: &str, key_id: &str) -> Result<()> {
        let done = sqlx::query("UPDATE kms_aliases SET key_id = $1 WHERE scope = $2 AND alias = $3")
            .bind(key_id)
            .bind(scope(tenant))
            .bind(alias)
            .execute(&self.pool)
            .await?;
        affected(done)
    }

    /// A key's tags, sorted by tag key.
    pub async fn kms_tags(&self, id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT tag_key, tag_value FROM kms_tags WHERE key_id = $1 ORDER BY tag_key")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("tag_key")?, r.try_get("tag_value")?))).collect()
    }

    /// Sets tags (replacing the values of existing tag keys), in one transaction.
    pub async fn kms_tag(&self, id: &str, tags: &[(String, String)]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (k, v) in tags {
            sqlx::query("DELETE FROM kms_tags WHERE key_id = $1 AND tag_key = $2")
                .bind(id)
                .bind(k)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO kms_tags (key_id, tag_key, tag_value) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn kms_untag(&self, id: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for k in keys {
            sqlx::query("DELETE FROM kms_tags WHERE key_id = $1 AND tag_key = $2")
                .bind(id)
                .bind(k)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every material version of a key with its creation time, oldest first.
    pub async fn kms_list_materials(&self, id: &str) -> Result<Vec<(i64, i64)>> {
        let rows =
            sqlx::query("SELECT material_id, created_at FROM kms_materials WHERE key_id = $1 ORDER BY material_id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("material_id")?, r.try_get("created_at")?))).collect()
    }

    /// Stores a key's import token, replacing any earlier one.
    pub async fn kms_put_import_token(&self, t: &ImportToken) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM kms_import_tokens WHERE key_id = $1").bind(&t.key_id).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO kms_import_tokens (key_id, token, wrapped, algorithm, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.key_id)
        .bind(&t.token)
        .bind(t.wrapped.clone())
        .bind(&t.algorithm)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn kms_import_token(&self, key_id: &str) -> Result<ImportToken> {
        let r = sqlx::query(
            "SELECT key_id, token, wrapped, algorithm, expires_at FROM kms_import_tokens WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ImportToken {
            key_id: r.try_get("key_id")?,
            token: r.try_get("token")?,
            wrapped: r.try_get("wrapped")?,
            algorithm: r.try_get("algorithm")?,
            expires_at: r.try_get("expires_at")?,
        })
    }

    /// Installs imported material as version 1 of a key awaiting it (or
    /// re-imports the same material after it was deleted), consumes the
    /// import token and enables the key, in one transaction.
    pub async fn kms_import_material(
        &self,
        id: &str,
        keystore: &str,
        wrapped: &[u8],
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE kms_keys SET state = 'Enabled', current_material = 1, material_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'PendingImport'",
        )
        .bind(expires_at)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the key is not awaiting imported material".into()));
        }
        sqlx::query("DELETE FROM kms_materials WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO kms_materials (key_id, material_id, keystore, wrapped, created_at) VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(id)
        .bind(keystore)
        .bind(wrapped.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM kms_import_tokens WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes imported material: the key goes back to awaiting import.
    pub async fn kms_delete_imported_material(&self, id: &str, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE kms_keys SET state = 'PendingImport', material_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND origin = 'EXTERNAL' AND state IN ('Enabled', 'Disabled')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the key has no imported material to delete".into()));
        }
        sqlx::query("DELETE FROM kms_materials WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
