//! The bastion's sessions as an administrator or an auditor sees them:
//! listed (live or all), shown, their recording handed out only while it
//! still matches the SHA-256 the ledger holds, and terminated. A
//! termination is a request in the database: the node holding the session
//! sees it within the grant re-check interval and cuts it.

use std::io::Read;
use std::path::PathBuf;

use aws_lc_rs::digest::{Context, SHA256};
use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Outcome, Principal};
use rampart_store::SessionRow;
use serde::Serialize;

use crate::{Bastion, BastionError};

/// A session as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub username: String,
    pub target: String,
    /// `shell`, `exec` or `sftp`.
    pub action: String,
    pub login: String,
    pub command: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// While running: `running`; then `success`, `failure` or `denied`.
    pub outcome: String,
    pub reason: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
    pub has_recording: bool,
    pub terminate_requested_by: Option<String>,
}

impl From<&SessionRow> for SessionInfo {
    fn from(s: &SessionRow) -> Self {
        SessionInfo {
            id: s.id.clone(),
            username: s.username.clone(),
            target: s.target.clone(),
            action: s.action.clone(),
            login: s.login.clone(),
            command: s.command.clone(),
            started_at: rfc3339(s.started_at),
            ended_at: s.ended_at.map(rfc3339),
            outcome: s.outcome.clone().unwrap_or_else(|| "running".into()),
            reason: s.reason.clone(),
            recording_sha256: s.recording_sha256.clone(),
            recording_bytes: s.recording_bytes,
            has_recording: s.recording.is_some(),
            terminate_requested_by: s.terminate_by.clone(),
        }
    }
}

/// SHA-256 of a file, read in chunks (recordings may be large).
fn file_sha256(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut ctx = Context::new(&SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
        total += n as u64;
    }
    Ok((data_encoding::HEXLOWER.encode(ctx.finish().as_ref()), total))
}

impl Bastion {
    pub async fn list_sessions(&self, live: bool, limit: usize) -> Result<Vec<SessionInfo>, BastionError> {
        Ok(self.store().list_bastion_sessions(live, limit).await?.iter().map(SessionInfo::from).collect())
    }

    pub async fn show_session(&self, id: &str) -> Result<SessionInfo, BastionError> {
        Ok(SessionInfo::from(&self.store().find_bastion_session(id).await?))
    }

    /// The recording's path, once it is known to be the one the ledger
    /// describes: an ended session's file must have the SHA-256 and size
    /// recorded at its end (a file changed since is refused as a conflict,
    /// and the refusal is in the ledger); a running session's file is
    /// handed out as it stands.
    pub async fn recording(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<(SessionInfo, PathBuf), BastionError> {
        let row = self.store().find_bastion_session(id).await?;
        let Some(path) = row.recording.clone().map(PathBuf::from) else {
            return Err(BastionError::NotFound);
        };
        let expected = row.recording_sha256.clone();
        let check = path.clone();
        let found = tokio::task::spawn_blocking(move || file_sha256(&check))
            .await
            .map_err(|e| BastionError::Internal(e.to_string()))?
            .map_err(|e| BastionError::Internal(format!("reading the recording: {e}")))?;
        let intact = match (&expected, row.recording_bytes) {
            (Some(sha), Some(bytes)) => *sha == found.0 && u64::try_from(bytes).ok() == Some(found.1),
            // Running, or ended without a usable recording: nothing to compare.
            _ => true,
        };
        let mut event = Event::new("bastion.recording.read", Outcome::Success, &actor.username)
            .object(row.id.as_str())
            .source(source)
            .attr("sha256", found.0.as_str())
            .attr("bytes", found.1);
        if !intact {
            event.outcome = Outcome::Failure;
            event = event.attr("reason", "the file no longer matches the ledger");
        }
        self.audit().record(event).await?;
        if !intact {
            return Err(BastionError::Conflict(format!(
                "the recording of {id} no longer matches the SHA-256 the ledger recorded at its end; it was altered"
            )));
        }
        Ok((SessionInfo::from(&row), path))
    }

    /// Asks for a running session to be cut (by whichever node holds it).
    pub async fn terminate_session(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<SessionInfo, BastionError> {
        let row = self.store().find_bastion_session(id).await?;
        if row.ended_at.is_some() {
            return Err(BastionError::Conflict("the session has ended".into()));
        }
        self.audit()
            .record(
                Event::new("bastion.session.terminate_requested", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("user", row.username.as_str())
                    .attr("target", row.target.as_str()),
            )
            .await?;
        self.store().request_session_termination(id, &actor.username, now_ms()).await?;
        self.show_session(id).await
    }
}
