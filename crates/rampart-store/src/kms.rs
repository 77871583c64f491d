//! Storage of the Key Management Service: key metadata, wrapped material
//! versions and aliases. Material is only ever stored wrapped by a
//! keystore; destroying a key overwrites its wrapped material before the
//! rows are removed. Policy (who may use a key, which state permits what)
//! is `rampart-kms`'s, not this module's.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store, StoreError};

mod meta;

pub use meta::{ImportToken, ImportedMaterial};

/// How long a scrub keeps trying to checkpoint SQLite's WAL.
const SCRUB_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

const KEY_COLUMNS: &str = "id, tenant_id, spec, key_usage, state, deletion_at, description, current_material, \
                           rotation_period_days, next_rotation_at, created_at, updated_at, origin, policy, \
                           material_expires_at";

/// One key's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyRow {
    pub id: String,
    pub tenant_id: Option<Id>,
    pub spec: String,
    pub key_usage: String,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `Archived`, `PendingImport`.
    pub state: String,
    pub deletion_at: Option<i64>,
    pub description: String,
    pub current_material: i64,
    pub rotation_period_days: Option<i64>,
    pub next_rotation_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `AWS_KMS` (generated here) or `EXTERNAL` (imported).
    pub origin: String,
    /// The key policy document; `None` means the default policy.
    pub policy: Option<String>,
    /// When imported material expires (and is deleted), if it does.
    pub material_expires_at: Option<i64>,
}

fn key_row(r: &AnyRow) -> Result<KmsKeyRow> {
    Ok(KmsKeyRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get::<Option<String>, _>("tenant_id")?.map(Id::from_trusted),
        spec: r.try_get("spec")?,
        key_usage: r.try_get("key_usage")?,
        state: r.try_get("state")?,
        deletion_at: r.try_get("deletion_at")?,
        description: r.try_get("description")?,
        current_material: r.try_get("current_material")?,
        rotation_period_days: r.try_get("rotation_period_days")?,
        next_rotation_at: r.try_get("next_rotation_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        origin: r.try_get("origin")?,
        policy: r.try_get("policy")?,
        material_expires_at: r.try_get("material_expires_at")?,
    })
}

/// The alias scope of a tenant (aliases are unique per tenant).
fn scope(tenant: Option<&Id>) -> String {
    tenant.map_or_else(|| "operator".to_owned(), |t| t.to_string())
}

impl Store {
    /// Creates a key with its first material version, in one transaction;
    /// a key awaiting imported material (`wrapped` is `None`) has none yet.
    pub async fn kms_create_key(&self, key: &KmsKeyRow, keystore: &str, wrapped: Option<&[u8]>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO kms_keys ({KEY_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&key.id)
        .bind(key.tenant_id.as_ref().map(|t| t.to_string()))
        .bind(&key.spec)
        .bind(&key.key_usage)
        .bind(&key.state)
        .bind(key.deletion_at)
        .bind(&key.description)
        .bind(key.current_material)
        .bind(key.rotation_period_days)
        .bind(key.next_rotation_at)
        .bind(key.created_at)
        .bind(key.updated_at)
        .bind(&key.origin)
        .bind(&key.policy)
        .bind(key.material_expires_at)
        .execute(&mut *tx)
        .await?;
        let Some(wrapped) = wrapped else {
            tx.commit().await?;
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO kms_materials (key_id, material_id, keystore, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(key.current_material)
        .bind(keystore)
        .bind(wrapped.to_vec())
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn kms_get_key(&self, id: &str) -> Result<KmsKeyRow> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM kms_keys WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        key_row(&row)
    }

    /// A tenant's keys (the operator's with `None`), in id order.
    pub async fn kms_list_keys(
        &self,
        tenant: Option<&Id>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<KmsKeyRow>> {
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!(
                    "SELECT {KEY_COLUMNS} FROM kms_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ))
                .bind(t.as_str())
                .bind(after.unwrap_or(""))
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {KEY_COLUMNS} FROM kms_keys WHERE tenant_id IS NULL AND id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(fetch)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let rows = rows.iter().map(key_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |k| k.id.clone()))
    }

    /// Moves a key from state `from` to `to` (compare-and-set, so two nodes
    /// cannot both apply conflicting transitions); not found if the key is
    /// gone or no longer in `from`.
    pub async fn kms_set_state(
        &self,
        id: &str,
        from: &str,
        to: &str,
        deletion_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE kms_keys SET state = $1, deletion_at = $2, updated_at = $3 WHERE id = $4 AND state = $5",
        )
        .bind(to)
        .bind(deletion_at)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Adds a material version and makes it current, if the current one is
    /// still `expected_current` (so concurrent rotations cannot collide).
    pub async fn kms_add_material(
        &self,
        id: &str,
        expected_current: i64,
        keystore: &str,
        wrapped: &[u8],
        next_rotation_at: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let next = expected_current + 1;
        let done = sqlx::query(
            "UPDATE kms_keys SET current_material = $1, next_rotation_at = $2, updated_at = $3 \
             WHERE id = $4 AND current_material = $5",
        )
        .bind(next)
        .bind(next_rotation_at)
        .bind(now)
        .bind(id)
        .bind(expected_current)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the key was rotated concurrently".into()));
        }
        sqlx::query(
            "INSERT INTO kms_materials (key_id, material_id, keystore, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(next)
        .bind(keystore)
        .bind(wrapped.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Sets or clears automatic rotation.
    pub async fn kms_set_rotation(
        &self,
        id: &str,
        period_days: Option<i64>,
        next_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE kms_keys SET rotation_period_days = $1, next_rotation_at = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(period_days)
        .bind(next_at)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The wrapped material of one version: (keystore name, wrapped bytes).
    pub async fn kms_material(&self, id: &str, material_id: i64) -> Result<(String, Vec<u8>)> {
        let row = sqlx::query("SELECT keystore, wrapped FROM kms_materials WHERE key_id = $1 AND material_id = $2")
            .bind(id)
            .bind(material_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("keystore")?, row.try_get("wrapped")?))
    }

    /// Keys due for destruction at `now`.
    pub async fn kms_due_for_deletion(&self, now: i64, limit: usize) -> Result<Vec<KmsKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys WHERE state = 'PendingDeletion' AND deletion_at <= $1 ORDER BY deletion_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_row).collect()
    }

    /// Keys whose automatic rotation is due at `now`.
    pub async fn kms_due_for_rotation(&self, now: i64, limit: usize) -> Result<Vec<KmsKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM kms_keys WHERE state = 'Enabled' AND next_rotation_at <= $1 ORDER BY next_rotation_at LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_row).collect()
    }

    /// Destroys a key for good: its materials, aliases and the key are
    /// deleted in one transaction, then the freed storage is scrubbed so no
    /// copy of the wrapped material survives in the database files: SQLite
    /// runs with `secure_delete` (deleted content is overwritten with zeros)
    /// and its WAL is checkpointed and truncated; PostgreSQL vacuums the
    /// table, removing the dead row versions. Only a key still pending
    /// deletion is destroyed.
    pub async fn kms_destroy_key(&self, id: &str) -> Result<()> {
        self.kms_delete_key(id).await?;
        self.kms_scrub().await
    }

    /// The first half of [`Store::kms_destroy_key`]: deletes the key's rows
    /// in one transaction, leaving the scrub of the freed storage to a
    /// [`Store::kms_scrub`] that may cover several keys.
    pub async fn kms_delete_key(&self, id: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let pending = sqlx::query("SELECT id FROM kms_keys WHERE id = $1 AND state = 'PendingDeletion'")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if pending.is_none() {
            return Err(StoreError::NotFound);
        }
        for sql in [
            "DELETE FROM kms_materials WHERE key_id = $1",
            "DELETE FROM kms_tags WHERE key_id = $1",
            "DELETE FROM kms_import_tokens WHERE key_id = $1",
            "DELETE FROM kms_aliases WHERE key_id = $1",
            "DELETE FROM kms_keys WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Scrubs the storage freed by deleted material, so no copy of it
    /// survives in the database files (see `kms_destroy_key`).
    pub async fn kms_scrub(&self) -> Result<()> {
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("VACUUM kms_materials").execute(&self.pool).await?;
            return Ok(());
        }
        // A checkpoint that meets another one (the background checkpointer
        // runs every 100 ms) does not wait for it: it answers busy = 1 at
        // once and leaves the WAL, with the material's old frames, in
        // place. Only busy = 0 means the WAL was copied back and truncated.
        let deadline = std::time::Instant::now() + SCRUB_WITHIN;
        loop {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.pool).await?;
            let busy: i64 = row.try_get(0)?;
            if busy == 0 {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(StoreError::Busy(format!(
                    "the WAL could not be checkpointed within {SCRUB_WITHIN:?} to scrub destroyed key material \
                     (a reader holds it); the material's rows are gone, its old page images are not yet"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn kms_create_alias(&self, tenant: Option<&Id>, alias: &str, key_id: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO kms_aliases (scope, alias, key_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(scope(tenant))
            .bind(alias)
            .bind(key_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The key an alias names, within a tenant.
    pub async fn kms_resolve_alias(&self, tenant: Option<&Id>, alias: &str) -> Result<String> {
        let row = sqlx::query("SELECT key_id FROM kms_aliases WHERE scope = $1 AND alias = $2")
            .bind(scope(tenant))
            .bind(alias)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("key_id")?)
    }

    pub async fn kms_delete_alias(&self, tenant: Option<&Id>, alias: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM kms_aliases WHERE scope = $1 AND alias = $2")
            .bind(scope(tenant))
            .bind(alias)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every alias of a tenant, with the key each names.
    pub async fn kms_list_aliases(&self, tenant: Option<&Id>) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT alias, key_id FROM kms_aliases WHERE scope = $1 ORDER BY alias")
            .bind(scope(tenant))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("alias")?, r.try_get("key_id")?))).collect()
    }
}
