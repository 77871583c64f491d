//! The log source registry: who sends logs, what they are, and when each
//! was last heard from. Silence detection is a compare-and-set on
//! `silent_since`, so several nodes report one silence once.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store};

const COLUMNS: &str = "id, name, source_type, owner, product, service, category, parser, heartbeat_secs, \
                       reviewed, status, last_seen, silent_since, created_at, updated_at, retention_days";

/// One registered source, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub id: Id,
    /// The host name it reports in its syslog header (or its address).
    pub name: String,
    /// `server`, `network_device`, `database` or `application`.
    pub source_type: String,
    pub owner: Option<String>,
    /// The Sigma logsource its events carry.
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    /// The parser its lines go through (`auto` picks per line).
    pub parser: String,
    /// Longest expected gap between two messages; `None`: no expectation.
    pub heartbeat_secs: Option<i64>,
    /// Someone has looked at it (auto-registered sources start unreviewed).
    pub reviewed: bool,
    /// `active`, or `pending` (held until reviewed).
    pub status: String,
    pub last_seen: Option<i64>,
    /// When its current silence was reported, if it is silent.
    pub silent_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Days its events stay searchable; `None`: kept.
    pub retention_days: Option<i64>,
}

/// What a source is registered or updated with (everything but its
/// identity and the times the registry keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub source_type: String,
    pub owner: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
    pub parser: String,
    pub heartbeat_secs: Option<i64>,
    pub reviewed: bool,
    pub status: String,
    /// Days its events stay searchable; `None`: kept.
    pub retention_days: Option<i64>,
}

fn source(row: &AnyRow) -> Result<SourceRow> {
    Ok(SourceRow {
        id: Id::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        source_type: row.try_get("source_type")?,
        owner: row.try_get("owner")?,
        product: row.try_get("product")?,
        service: row.try_get("service")?,
        category: row.try_get("category")?,
        parser: row.try_get("parser")?,
        heartbeat_secs: row.try_get("heartbeat_secs")?,
        reviewed: row.try_get::<i64, _>("reviewed")? != 0,
        status: row.try_get("status")?,
        last_seen: row.try_get("last_seen")?,
        silent_since: row.try_get("silent_since")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        retention_days: row.try_get("retention_days")?,
    })
}

impl Store {
    /// Registers a source; a taken name is a `Conflict`.
    pub async fn create_source(&self, id: &Id, name: &str, spec: &SourceSpec, now: i64) -> Result<SourceRow> {
        sqlx::query(
            "INSERT INTO log_sources (id, name, source_type, owner, product, service, category, parser, \
             heartbeat_secs, reviewed, status, created_at, updated_at, retention_days) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(&spec.source_type)
        .bind(spec.owner.clone())
        .bind(spec.product.clone())
        .bind(spec.service.clone())
        .bind(spec.category.clone())
        .bind(&spec.parser)
        .bind(spec.heartbeat_secs)
        .bind(i64::from(spec.reviewed))
        .bind(&spec.status)
        .bind(now)
        .bind(spec.retention_days)
        .execute(&self.pool)
        .await?;
        self.get_source(id).await
    }

    pub async fn get_source(&self, id: &Id) -> Result<SourceRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM log_sources WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        source(&row)
    }

    /// Sets (replaces) the source's ingest token hash.
    pub async fn set_source_ingest_token(&self, id: &Id, token_hash: &str, now: i64) -> Result<()> {
        let done = sqlx::query("UPDATE log_sources SET ingest_token_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(token_hash)
            .bind(now)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound);
        }
        Ok(())
    }

    /// The source whose ingest token hashes to `token_hash`.
    pub async fn find_source_by_ingest_token(&self, token_hash: &str) -> Result<Option<SourceRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM log_sources WHERE ingest_token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source).transpose()
    }

    pub async fn find_source_by_name(&self, name: &str) -> Result<Option<SourceRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM log_sources WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(source).transpose()
    }

    /// Sources in id (registration) order after the cursor.
    pub async fn list_sources(&self, after: Option<&str>, limit: usize) -> Result<Page<SourceRow>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM log_sources WHERE id > $1 ORDER BY id LIMIT $2"))
            .bind(after.unwrap_or(""))
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(source).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |s| s.id.to_string()))
    }

    /// Every source, for the listeners' in-memory registry.
    pub async fn all_sources(&self) -> Result<Vec<SourceRow>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM log_sources ORDER BY id")).fetch_all(&self.pool).await?;
        rows.iter().map(source).collect()
    }

    pub async fn count_sources(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM log_sources").fetch_one(&self.pool).await?.try_get("n")?)
    }

    /// Replaces what a source is registered with; `NotFound` if it is gone.
    pub async fn update_source(&self, id: &Id, spec: &SourceSpec, now: i64) -> Result<SourceRow> {
        let done = sqlx::query(
            "UPDATE log_sources SET source_type = $1, owner = $2, product = $3, service = $4, category = $5, \
             parser = $6, heartbeat_secs = $7, reviewed = $8, status = $9, updated_at = $10, retention_days = $12 \
             WHERE id = $11",
        )
        .bind(&spec.source_type)
        .bind(spec.owner.clone())
        .bind(spec.product.clone())
        .bind(spec.service.clone())
        .bind(spec.category.clone())
        .bind(&spec.parser)
        .bind(spec.heartbeat_secs)
        .bind(i64::from(spec.reviewed))
        .bind(&spec.status)
        .bind(now)
        .bind(id.as_str())
        .bind(spec.retention_days)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound);
        }
        self.get_source(id).await
    }

    /// Removes a source; `NotFound` if there was none.
    pub async fn delete_source(&self, id: &Id) -> Result<()> {
        let done = sqlx::query("DELETE FROM log_sources WHERE id = $1").bind(id.as_str()).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound);
        }
        Ok(())
    }

    /// Records when sources were last heard from, in one transaction. Only
    /// moves `last_seen` forward; a source heard from is no longer silent,
    /// so its next silence is reported again.
    pub async fn touch_sources(&self, seen: &[(Id, i64)]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (id, at) in seen {
            sqlx::query(
                "UPDATE log_sources SET last_seen = $1, silent_since = NULL \
                 WHERE id = $2 AND (last_seen IS NULL OR last_seen < $1)",
            )
            .bind(*at)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Active sources with a heartbeat that have not been heard from (or,
    /// never heard, not since they were registered) for longer than it at
    /// `now`, and whose silence is not reported yet.
    pub async fn silent_sources(&self, now: i64) -> Result<Vec<SourceRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM log_sources WHERE heartbeat_secs IS NOT NULL AND silent_since IS NULL \
             AND status = 'active' AND COALESCE(last_seen, created_at) + heartbeat_secs * 1000 < $1 ORDER BY id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source).collect()
    }

    /// Claims the report of a source's silence at `now`: true for exactly
    /// one caller per silence, false if it was claimed already or the
    /// source spoke in the meantime.
    pub async fn claim_silence(&self, id: &Id, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE log_sources SET silent_since = $1 WHERE id = $2 AND silent_since IS NULL \
             AND status = 'active' AND heartbeat_secs IS NOT NULL \
             AND COALESCE(last_seen, created_at) + heartbeat_secs * 1000 < $1",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claim back (its report could not be recorded), so the next
    /// check tries again.
    pub async fn release_silence(&self, id: &Id, claimed_at: i64) -> Result<()> {
        sqlx::query("UPDATE log_sources SET silent_since = NULL WHERE id = $1 AND silent_since = $2")
            .bind(id.as_str())
            .bind(claimed_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
