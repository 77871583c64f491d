//! The deployment's TLS certificate authority, client certificates of log
//! sources (mutual TLS on the syslog TLS listener) and the retention that
//! prunes the search index per source.
//!
//! A certificate is valid while its row exists, is not revoked, has not
//! expired and its source is still registered: [`Store::valid_source_certs`]
//! is what the listener's verifier loads. Pruning deletes rows of the
//! derived `audit_events` index only; the ledger keeps every entry.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// The deployment's TLS CA: its certificate and its private key sealed
/// with the root secret (this module never sees the key in the clear).
#[derive(Clone)]
pub struct TlsCaRow {
    pub cert_pem: String,
    pub key_sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for TlsCaRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCaRow").field("created_at", &self.created_at).finish_non_exhaustive()
    }
}

/// One issued client certificate, as stored (never its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCertRow {
    /// The certificate's serial number, lower-case hex.
    pub serial: String,
    pub source_id: Id,
    /// SHA-256 of the certificate's DER encoding, lower-case hex.
    pub fingerprint: String,
    pub issued_at: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
}

const CERT_COLUMNS: &str = "serial, source_id, fingerprint, issued_at, not_after, revoked_at";

fn cert(row: &AnyRow) -> Result<SourceCertRow> {
    Ok(SourceCertRow {
        serial: row.try_get("serial")?,
        source_id: Id::from_trusted(row.try_get("source_id")?),
        fingerprint: row.try_get("fingerprint")?,
        issued_at: row.try_get("issued_at")?,
        not_after: row.try_get("not_after")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Rows one prune statement deletes at most, so a large backlog is removed
/// in short transactions that do not hold up the indexer.
pub const PRUNE_CHUNK: i64 = 5_000;

impl Store {
    /// The deployment's TLS CA, if a node stored one.
    pub async fn tls_ca(&self) -> Result<Option<TlsCaRow>> {
        let row = sqlx::query("SELECT cert_pem, key_sealed, created_at FROM tls_ca WHERE id = 'ca'")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(TlsCaRow {
                cert_pem: r.try_get("cert_pem")?,
                key_sealed: r.try_get("key_sealed")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Stores the deployment's TLS CA unless another node stored one
    /// first; whether this one was stored.
    pub async fn insert_tls_ca(&self, ca: &TlsCaRow) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO tls_ca (id, cert_pem, key_sealed, created_at) VALUES ('ca', $1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ca.cert_pem)
        .bind(ca.key_sealed.clone())
        .bind(ca.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an issued certificate.
    pub async fn add_source_cert(&self, row: &SourceCertRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO log_source_certs (serial, source_id, fingerprint, issued_at, not_after, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&row.serial)
        .bind(row.source_id.as_str())
        .bind(&row.fingerprint)
        .bind(row.issued_at)
        .bind(row.not_after)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A source's certificates, newest first.
    pub async fn source_certs(&self, source_id: &Id) -> Result<Vec<SourceCertRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {CERT_COLUMNS} FROM log_source_certs WHERE source_id = $1 ORDER BY issued_at DESC, serial"
        ))
        .bind(source_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert).collect()
    }

    /// Certificates the listener may accept at `now`: not revoked, not
    /// expired, of a registered source.
    pub async fn valid_source_certs(&self, now: i64) -> Result<Vec<SourceCertRow>> {
        let rows = sqlx::query(
            "SELECT c.serial, c.source_id, c.fingerprint, c.issued_at, c.not_after, c.revoked_at \
             FROM log_source_certs c JOIN log_sources s ON s.id = c.source_id \
             WHERE c.revoked_at IS NULL AND c.not_after > $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert).collect()
    }

    /// Revokes one of the source's certificates (once: revoking again is a
    /// `Conflict`, an unknown serial `NotFound`); returns it as revoked.
    pub async fn revoke_source_cert(&self, source_id: &Id, serial: &str, now: i64) -> Result<SourceCertRow> {
        let done = sqlx::query(
            "UPDATE log_source_certs SET revoked_at = $1 WHERE source_id = $2 AND serial = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(source_id.as_str())
        .bind(serial)
        .execute(&self.pool)
        .await?;
        let row =
            sqlx::query(&format!("SELECT {CERT_COLUMNS} FROM log_source_certs WHERE source_id = $1 AND serial = $2"))
                .bind(source_id.as_str())
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?;
        match (done.rows_affected(), row) {
            (_, None) => Err(StoreError::NotFound),
            (0, Some(_)) => Err(StoreError::Conflict(format!("certificate {serial} is already revoked"))),
            (_, Some(r)) => cert(&r),
        }
    }

    /// Sources with a retention period.
    pub async fn sources_with_retention(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT name, retention_days FROM log_sources WHERE retention_days IS NOT NULL ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("name")?, r.try_get("retention_days")?))).collect()
    }

    /// Whether the index (rows or log blocks) holds any event of `source`
    /// older than `cutoff_ms`.
    pub async fn has_events_before(&self, source: &str, cutoff_ms: i64) -> Result<bool> {
        let row = sqlx::query("SELECT seq FROM audit_events WHERE source = $1 AND time_ms < $2 LIMIT 1")
            .bind(source)
            .bind(cutoff_ms)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some() || self.blocks_have_source_before(source, cutoff_ms).await?)
    }

    /// Deletes up to [`PRUNE_CHUNK`] indexed events of `source` older than
    /// `cutoff_ms` from the search index (never from the ledger) and
    /// returns how many. First raises `pruned_through` to the highest
    /// ledger index the index holds, so re-indexing at start does not
    /// bring pruned events back.
    pub async fn prune_source_events(&self, source: &str, cutoff_ms: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let high: Option<i64> =
            sqlx::query("SELECT MAX(ledger_index) AS m FROM audit_events").fetch_one(&mut *tx).await?.try_get("m")?;
        if let Some(high) = high {
            sqlx::query(
                "INSERT INTO audit_index_state (name, value) VALUES ('pruned_through', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = CASE WHEN excluded.value > audit_index_state.value \
                 THEN excluded.value ELSE audit_index_state.value END",
            )
            .bind(high)
            .execute(&mut *tx)
            .await?;
        }
        let rows = sqlx::query("SELECT seq, attrs FROM audit_events WHERE source = $1 AND time_ms < $2 LIMIT $3")
            .bind(source)
            .bind(cutoff_ms)
            .bind(PRUNE_CHUNK)
            .fetch_all(&mut *tx)
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let seq: i64 = r.try_get("seq")?;
            let attrs: String = r.try_get("attrs")?;
            events.push((seq, serde_json::from_str(&attrs).unwrap_or(serde_json::Value::Null)));
        }
        // The pruned events' term rows go with them, in the same transaction.
        crate::terms::delete_terms(&mut tx, &events, self.backend(), self.term_shift).await?;
        let mut deleted = 0;
        for chunk in events.chunks(256) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(",");
            let sql = format!("DELETE FROM audit_events WHERE seq IN ({list})");
            let mut q = sqlx::query(&sql);
            for (seq, _) in chunk {
                q = q.bind(*seq);
            }
            deleted += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// The ledger indexes of indexed events (rows, log blocks and log
    /// events waiting for their block) in a time window (and of one
    /// source), ascending, after `after` (exclusive), at most `limit`: what
    /// an export covers.
    pub async fn export_positions(
        &self,
        since_ms: i64,
        until_ms: i64,
        source: Option<&str>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let sql = match source {
            Some(_) => {
                "SELECT ledger_index FROM audit_events WHERE ledger_index > $1 AND time_ms >= $2 AND time_ms < $3 \
                 AND source = $5 ORDER BY ledger_index LIMIT $4"
            }
            None => {
                "SELECT ledger_index FROM audit_events WHERE ledger_index > $1 AND time_ms >= $2 AND time_ms < $3 \
                 ORDER BY ledger_index LIMIT $4"
            }
        };
        let mut query = sqlx::query(sql).bind(after).bind(since_ms).bind(until_ms).bind(limit);
        if let Some(s) = source {
            query = query.bind(s);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut out = rows.iter().map(|r| Ok(r.try_get("ledger_index")?)).collect::<Result<Vec<i64>>>()?;
        let limit = usize::try_from(limit).unwrap_or(0);
        out.extend(self.block_positions(since_ms, until_ms, source, after, limit).await?);
        out.sort_unstable();
        out.dedup();
        out.truncate(limit);
        Ok(out)
    }
}
