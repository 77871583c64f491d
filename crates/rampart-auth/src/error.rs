//! What can go wrong in the identity service, in terms the API maps to
//! problem responses. Messages never contain a secret.

use rampart_core::audit::AuditError;
use rampart_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name, password or code; deliberately not more specific.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failures; try again after this many seconds.
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The audit record could not be made durable: the action did not happen.
    #[error("audit trail unavailable: {0}")]
    AuditUnavailable(#[from] AuditError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AuthError::NotFound,
            StoreError::Conflict(what) => AuthError::Conflict(format!("already exists ({what})")),
            other => AuthError::Internal(other.to_string()),
        }
    }
}
