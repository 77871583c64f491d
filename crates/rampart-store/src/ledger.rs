//! Storage for the ledger when it lives in the database: tile files by
//! path and the commit point, written in one transaction per batch. On
//! PostgreSQL each transaction first takes an advisory lock, so however
//! many nodes append, one batch commits at a time and each starts from the
//! previous one's state.

use sqlx::{Any, Row, Transaction};

use crate::{Backend, Result, Store};

/// The advisory lock key of the ledger sequencer ("rampart-ledger" folded
/// into 63 bits; any constant unique to this purpose would do).
const LEDGER_LOCK: i64 = 0x7261_6d70_6c65_6467;

/// One batch's transaction, holding the sequencer lock.
#[derive(Debug)]
pub struct LedgerTx {
    tx: Transaction<'static, Any>,
}

impl Store {
    /// Begins a ledger batch: a transaction that, on PostgreSQL, holds the
    /// sequencer's advisory lock until it ends.
    pub async fn ledger_begin(&self) -> Result<LedgerTx> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)::text AS locked")
                .bind(LEDGER_LOCK)
                .fetch_one(&mut *tx)
                .await?;
        }
        Ok(LedgerTx { tx })
    }

    /// The committed size and root, if anything was ever committed.
    pub async fn ledger_state(&self) -> Result<Option<(i64, Vec<u8>)>> {
        let row = sqlx::query("SELECT size, root FROM ledger_state WHERE id = 1").fetch_optional(&self.pool).await?;
        row.map(|r| Ok((r.try_get("size")?, r.try_get("root")?))).transpose()
    }

    /// A committed file's bytes.
    pub async fn ledger_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let row =
            sqlx::query("SELECT data FROM ledger_files WHERE path = $1").bind(path).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(r.try_get("data")?)).transpose()
    }
}

impl LedgerTx {
    pub async fn state(&mut self) -> Result<Option<(i64, Vec<u8>)>> {
        let row = sqlx::query("SELECT size, root FROM ledger_state WHERE id = 1").fetch_optional(&mut *self.tx).await?;
        row.map(|r| Ok((r.try_get("size")?, r.try_get("root")?))).transpose()
    }

    pub async fn file(&mut self, path: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT data FROM ledger_files WHERE path = $1")
            .bind(path)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok(r.try_get("data")?)).transpose()
    }

    pub async fn put(&mut self, path: &str, data: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO ledger_files (path, data) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET data = $2")
            .bind(path)
            .bind(data.to_vec())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn delete(&mut self, path: &str) -> Result<()> {
        sqlx::query("DELETE FROM ledger_files WHERE path = $1").bind(path).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Moves the commit point (takes effect at [`LedgerTx::commit`]).
    pub async fn set_state(&mut self, size: i64, root: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO ledger_state (id, size, root) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET size = $1, root = $2",
        )
        .bind(size)
        .bind(root.to_vec())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}
