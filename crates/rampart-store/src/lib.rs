//! Rampart's storage layer: one repository API over two backends, embedded
//! SQLite (WAL mode, inside the data directory) and PostgreSQL (shared by
//! several nodes).
//!
//! Every service reads and writes through [`Store`]; no other crate writes SQL.
//! The SQL here is written once in the portable subset both backends share
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING`, integer milliseconds for
//! time) and runs through sqlx's `Any` driver, so the two backends cannot
//! drift apart. Schema changes are versioned migrations, one file each, in
//! `migrations/sqlite` and `migrations/postgres`. This crate holds no policy:
//! it does not decide who may do what, it only stores and fetches.

pub mod access;
mod access_keys;
mod audit;
mod bastion;
pub mod blocksearch;
mod db;
#[doc(hidden)]
pub mod fuzz_entry;
mod groups;
mod kms;
mod ledger;
pub mod logblock;
mod logindex;
pub mod logmatch;
pub mod logsearch;
pub mod reviews;
mod sessions;
mod source_certs;
mod sources;
mod ssh_certs;
mod tenants;
pub mod terms;
pub mod testing;
mod throttle;
mod tickets;
mod tokens;
mod users;

pub use access::{AccessRequestRow, Decision, LockboxAccessRow, RequestFilter};
pub use access_keys::AccessKeyRow;
pub use audit::{EventFilter, IndexRow, StoredEvent, TableAuditSink};
pub use bastion::{GrantRow, SshKeyRow, TargetRow};
pub use db::{Backend, Store};
pub use groups::GroupRow;
pub use kms::{ImportToken, ImportedMaterial, KmsKeyRow};
pub use ledger::LedgerTx;
pub use logindex::{SEAL_AFTER, WaitingLog, is_log};
pub use logsearch::{Bucket, LogPage, LogSearch};
pub use reviews::ReviewRow;
pub use sessions::{SessionEnd, SessionRow};
pub use source_certs::{PRUNE_CHUNK, SourceCertRow, TlsCaRow};
pub use sources::{SourceRow, SourceSpec};
pub use ssh_certs::{SshCaRow, SshCertRow};
pub use tenants::TenantRow;
pub use throttle::Throttle;
pub use tickets::{
    CommentRow, HistoryRow, NewNotification, NotificationRow, TicketEventRow, TicketFilter, TicketRow, TicketWrite,
};
pub use tokens::TokenRow;
pub use users::{NewUser, UserRow};

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in id order.
    fn from_rows(mut rows: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> Self {
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&id)
        } else {
            None
        };
        Page { items: rows, next }
    }
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Backend(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// The database did not let an operation finish in time (a lock held
    /// too long); nothing it promised has been reported done.
    #[error("database busy: {0}")]
    Busy(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique key").to_owned())
            }
            _ => StoreError::Backend(err),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
