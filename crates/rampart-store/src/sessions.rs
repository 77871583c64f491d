//! The bastion's sessions: one row per shell, exec or sftp channel, from
//! its start to its end, and the termination an administrator may ask for.
//! The ledger is the record of truth; this is the index that lists them
//! and the mailbox through which any node asks the node holding a session
//! to cut it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

const COLUMNS: &str = "id, connection_id, user_id, username, target, action, login, command, recording, \
                       started_at, ended_at, outcome, reason, recording_sha256, recording_bytes, terminate_by, \
                       terminate_at, recording_expired_at";

/// One bastion session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub connection_id: String,
    pub user_id: String,
    pub username: String,
    pub target: String,
    /// `shell`, `exec` or `sftp`.
    pub action: String,
    pub login: String,
    pub command: Option<String>,
    /// The recording's path, for shell and exec sessions.
    pub recording: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
    pub terminate_by: Option<String>,
    pub terminate_at: Option<i64>,
    /// When retention removed the recording file (the hash stays).
    pub recording_expired_at: Option<i64>,
}

/// How a session ended.
#[derive(Debug, Clone, Default)]
pub struct SessionEnd {
    pub outcome: String,
    pub reason: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
}

fn session(row: &AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        id: row.try_get("id")?,
        connection_id: row.try_get("connection_id")?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        target: row.try_get("target")?,
        action: row.try_get("action")?,
        login: row.try_get("login")?,
        command: row.try_get("command")?,
        recording: row.try_get("recording")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        outcome: row.try_get("outcome")?,
        reason: row.try_get("reason")?,
        recording_sha256: row.try_get("recording_sha256")?,
        recording_bytes: row.try_get("recording_bytes")?,
        terminate_by: row.try_get("terminate_by")?,
        terminate_at: row.try_get("terminate_at")?,
        recording_expired_at: row.try_get("recording_expired_at")?,
    })
}

impl Store {
    pub async fn insert_bastion_session(&self, s: &SessionRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bastion_sessions ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&s.id)
        .bind(&s.connection_id)
        .bind(&s.user_id)
        .bind(&s.username)
        .bind(&s.target)
        .bind(&s.action)
        .bind(&s.login)
        .bind(s.command.as_deref())
        .bind(s.recording.as_deref())
        .bind(s.started_at)
        .bind(s.ended_at)
        .bind(s.outcome.as_deref())
        .bind(s.reason.as_deref())
        .bind(s.recording_sha256.as_deref())
        .bind(s.recording_bytes)
        .bind(s.terminate_by.as_deref())
        .bind(s.terminate_at)
        .bind(s.recording_expired_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a session's end, once.
    pub async fn end_bastion_session(&self, id: &str, end: &SessionEnd, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE bastion_sessions SET ended_at = $2, outcome = $3, reason = $4, recording_sha256 = $5, \
             recording_bytes = $6 WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(&end.outcome)
        .bind(end.reason.as_deref())
        .bind(end.recording_sha256.as_deref())
        .bind(end.recording_bytes)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the session has ended already or does not exist".into()));
        }
        Ok(())
    }

    pub async fn find_bastion_session(&self, id: &str) -> Result<SessionRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM bastion_sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        session(&row)
    }

    /// Sessions newest first: only those still running when `live`.
    pub async fn list_bastion_sessions(&self, live: bool, limit: usize) -> Result<Vec<SessionRow>> {
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        let filter = if live { "WHERE ended_at IS NULL " } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bastion_sessions {filter}ORDER BY started_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session).collect()
    }

    /// Asks for a running session to be cut; a conflict if it has ended or
    /// a termination was asked for already.
    pub async fn request_session_termination(&self, id: &str, by: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE bastion_sessions SET terminate_by = $2, terminate_at = $3 \
             WHERE id = $1 AND ended_at IS NULL AND terminate_at IS NULL",
        )
        .bind(id)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            let current = self.find_bastion_session(id).await?;
            let why = if current.ended_at.is_some() { "has ended" } else { "is being terminated already" };
            return Err(StoreError::Conflict(format!("the session {why}")));
        }
        Ok(())
    }

    /// Ended sessions whose recording is still on disk and ended before
    /// `before`, oldest first: what retention removes next.
    pub async fn recordings_past_retention(&self, before: i64, limit: usize) -> Result<Vec<SessionRow>> {
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bastion_sessions WHERE ended_at IS NOT NULL AND ended_at < $1 \
             AND recording IS NOT NULL AND recording_expired_at IS NULL ORDER BY ended_at, id LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session).collect()
    }

    /// Marks an ended session's recording as removed by retention, once.
    pub async fn mark_recording_expired(&self, id: &str, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE bastion_sessions SET recording_expired_at = $2 \
             WHERE id = $1 AND ended_at IS NOT NULL AND recording_expired_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the session is running, or its recording has expired already".into()));
        }
        Ok(())
    }
}
