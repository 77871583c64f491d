//! The audit pipeline as wired in a node: every event goes first into the
//! tamper-evident ledger (the record of truth: the action waits for its
//! durable index), then into the searchable `audit_events` table with that
//! index. The table is a derived index; if writing it fails the event is
//! still recorded, and the failure is logged.

use rampart_core::Event;
use rampart_core::audit::{AuditError, AuditSink, BoxFuture};
use rampart_ledger::Ledger;
use rampart_store::Store;

#[derive(Debug, Clone)]
pub struct LedgerSink {
    pub ledger: Ledger,
    pub store: Store,
}

impl AuditSink for LedgerSink {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<u64, AuditError>> {
        Box::pin(async move {
            let entry = rampart_ledger::entry::encode_event(event).map_err(|e| AuditError::Failed(e.to_string()))?;
            let index = self.ledger.append(entry).await.map_err(|e| AuditError::Failed(e.to_string()))?;
            if let Err(e) = self.store.append_event(event, i64::try_from(index).ok()).await {
                tracing::error!(error = %e, ledger.index = index, event.id = %event.id, "indexing an audit event failed");
            }
            Ok(index)
        })
    }
}
