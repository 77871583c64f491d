//! The ledger in the database, for deployments where several nodes share
//! one PostgreSQL: the same tile files as the embedded log, stored by path,
//! and the commit point, written in one transaction per batch under the
//! sequencer's advisory lock. A node whose cached edge is behind (another
//! node appended since) reloads it inside that transaction, so every batch
//! extends the latest committed log whichever node writes it.
//!
//! The sequencer thread is not an async task, so calls into the async store
//! go through the runtime handle captured at start.

use std::collections::HashMap;

use rampart_store::Store;
use tokio::runtime::Handle;

use crate::batch::{LogError, TileState};
use crate::merkle::{Hash, empty_root};
use crate::reader::{LogWriter, RawRead};

fn backend(e: rampart_store::StoreError) -> LogError {
    LogError::Backend(e.to_string())
}

fn decode_state(row: Option<(i64, Vec<u8>)>) -> Result<(u64, Hash), LogError> {
    match row {
        None => Ok((0, empty_root())),
        Some((size, root)) => {
            let size = u64::try_from(size)
                .map_err(|_| LogError::Corrupt { path: "ledger_state".into(), what: "negative size".into() })?;
            let root = Hash::try_from(root.as_slice())
                .map_err(|_| LogError::Corrupt { path: "ledger_state".into(), what: "root is not 32 bytes".into() })?;
            Ok((size, root))
        }
    }
}

/// The database-backed writer.
#[derive(Debug)]
pub struct DbLog {
    store: Store,
    rt: Handle,
    state: TileState,
}

impl DbLog {
    /// Opens the log stored in `store`. Must run inside a tokio runtime.
    pub async fn open(store: Store) -> Result<DbLog, LogError> {
        let (size, root) = decode_state(store.ledger_state().await.map_err(backend)?)?;
        let mut files = HashMap::new();
        for path in TileState::partial_paths(size) {
            let data =
                store.ledger_file(&path).await.map_err(backend)?.ok_or_else(|| LogError::Missing(path.clone()))?;
            files.insert(path, data);
        }
        let state = TileState::restore(size, &root, &files)?;
        Ok(DbLog { store, rt: Handle::current(), state })
    }

    async fn append_async(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        let mut tx = self.store.ledger_begin().await.map_err(backend)?;
        let (size, root) = decode_state(tx.state().await.map_err(backend)?)?;
        if (size, root) != (self.state.size(), self.state.root()) {
            // Another node appended: start from what it committed.
            let mut files = HashMap::new();
            for path in TileState::partial_paths(size) {
                let data = tx.file(&path).await.map_err(backend)?.ok_or_else(|| LogError::Missing(path.clone()))?;
                files.insert(path, data);
            }
            self.state = TileState::restore(size, &root, &files)?;
        }
        let (next, batch) = self.state.apply(entries)?;
        for (path, data) in &batch.files {
            tx.put(path, data).await.map_err(backend)?;
        }
        for path in &batch.superseded {
            tx.delete(path).await.map_err(backend)?;
        }
        let size = i64::try_from(batch.size).map_err(|_| LogError::Backend("log too large".into()))?;
        tx.set_state(size, &batch.root).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.state = next;
        Ok(batch.first)
    }
}

impl LogWriter for DbLog {
    fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        let rt = self.rt.clone();
        rt.block_on(self.append_async(entries))
    }
    fn size(&self) -> u64 {
        self.state.size()
    }
    fn root(&self) -> Hash {
        self.state.root()
    }
}

/// Raw reads of the database-backed log (from blocking threads).
#[derive(Debug, Clone)]
pub struct DbRead {
    store: Store,
    rt: Handle,
}

impl DbRead {
    /// Must be created inside a tokio runtime.
    pub fn new(store: Store) -> Self {
        DbRead { store, rt: Handle::current() }
    }
}

impl RawRead for DbRead {
    fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError> {
        self.rt
            .block_on(self.store.ledger_file(rel))
            .map_err(backend)?
            .ok_or_else(|| LogError::Io { path: rel.to_owned(), source: std::io::ErrorKind::NotFound.into() })
    }

    fn state(&self) -> Result<(u64, Hash), LogError> {
        decode_state(self.rt.block_on(self.store.ledger_state()).map_err(backend)?)
    }
}
