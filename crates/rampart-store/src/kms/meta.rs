//! Storage of a key's metadata beyond its state: description, key policy,
//! tags, alias retargeting, the list of material versions, and the one-time
//! import wrapping keys, and imported material (its import, deletion and
//! expiry). Nothing here interprets a policy or a tag.

use rampart_core::Id;
use sqlx::Row;

use super::{KEY_COLUMNS, KmsKeyRow, key_row, scope};
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
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

    /// The fingerprint of the material first imported into a key, if any
    /// was: later imports must match it.
    pub async fn kms_material_fingerprint(&self, id: &str) -> Result<Option<String>> {
        let r = sqlx::query("SELECT material_fingerprint FROM kms_keys WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("material_fingerprint")?)
    }

    /// Installs imported material as version 1 of a key (its first import,
    /// or the same material again after it expired or was deleted, or to
    /// change its expiry), consumes the import token and moves the key from
    /// `from` to `to`, in one transaction. Compare-and-set on the state and
    /// on the fingerprint: a key whose state moved on, or that another
    /// import gave other material meanwhile, is a conflict and nothing
    /// changes.
    pub async fn kms_import_material(
        &self,
        id: &str,
        from: &str,
        to: &str,
        material: &ImportedMaterial<'_>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE kms_keys SET state = $1, current_material = 1, material_expires_at = $2, \
             material_fingerprint = $3, updated_at = $4 \
             WHERE id = $5 AND state = $6 AND origin = 'EXTERNAL' \
             AND (material_fingerprint IS NULL OR material_fingerprint = $3)",
        )
        .bind(to)
        .bind(material.expires_at)
        .bind(material.fingerprint)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the key changed while its material was imported".into()));
        }
        sqlx::query("DELETE FROM kms_materials WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO kms_materials (key_id, material_id, keystore, wrapped, created_at) VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(id)
        .bind(material.keystore)
        .bind(material.wrapped.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM kms_import_tokens WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes imported material: the key goes back to awaiting import. Its
    /// fingerprint stays, so only the same material can come back.
    pub async fn kms_delete_imported_material(&self, id: &str, now: i64) -> Result<()> {
        let guard = "origin = 'EXTERNAL' AND state IN ('Enabled', 'Disabled')";
        self.kms_drop_imported(id, now, guard, None, "the key has no imported material to delete").await
    }

    /// Keys whose imported material has expired at `now` and is still there.
    pub async fn kms_due_for_material_expiry(&self, now: i64, limit: usize) -> Result<Vec<KmsKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys WHERE origin = 'EXTERNAL' AND material_expires_at <= $1 \
             AND state IN {HOLDS_MATERIAL} ORDER BY material_expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_row).collect()
    }

    /// Deletes expired imported material: the key goes to `PendingImport`.
    /// Compare-and-set on the expiry that was due, so a node that finds the
    /// material already expired by another node, or re-imported with a new
    /// expiry meanwhile, gets a conflict and changes nothing.
    pub async fn kms_expire_material(&self, id: &str, expires_at: i64, now: i64) -> Result<()> {
        let guard = format!("material_expires_at = $3 AND state IN {HOLDS_MATERIAL}");
        let conflict = "the key's material no longer expires at that time";
        self.kms_drop_imported(id, now, &guard, Some(expires_at), conflict).await
    }

    /// Moves a key to `PendingImport` and deletes its material, if `guard`
    /// (a fixed SQL condition; `$3` is `expires_at` when given) holds;
    /// otherwise a conflict carrying `conflict`, and nothing changes.
    async fn kms_drop_imported(
        &self,
        id: &str,
        now: i64,
        guard: &str,
        expires_at: Option<i64>,
        conflict: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE kms_keys SET state = 'PendingImport', material_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND {guard}"
        );
        let mut update = sqlx::query(&sql).bind(now).bind(id);
        if let Some(at) = expires_at {
            update = update.bind(at);
        }
        if update.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::Conflict(conflict.into()));
        }
        sqlx::query("DELETE FROM kms_materials WHERE key_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.kms_scrub().await
    }
}

/// The states of a key for imported material in which it holds material.
const HOLDS_MATERIAL: &str = "('Enabled', 'Disabled', 'Archived')";

/// Imported material as the store keeps it: wrapped by a keystore, with the
/// fingerprint of the plaintext material and its expiry.
#[derive(Debug, Clone, Copy)]
pub struct ImportedMaterial<'a> {
    pub keystore: &'a str,
    pub wrapped: &'a [u8],
    pub fingerprint: &'a str,
    pub expires_at: Option<i64>,
}
