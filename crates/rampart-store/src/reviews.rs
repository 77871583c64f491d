//! Command reviews of the bastion's red lines: a held command line, who
//! asked, and who decided. Decisions are compare-and-set on a pending,
//! unexpired review, so two reviewers (or a reviewer and the expiry) can
//! never both decide one.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

const COLUMNS: &str = "id, session_id, requester_id, requester, target, command, policy, reason, status, \
                       reviewer, comment, created_at, expires_at, decided_at";

/// The states of a review.
pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const EXPIRED: &str = "expired";

/// One held command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRow {
    pub id: Id,
    pub session_id: String,
    pub requester_id: Id,
    pub requester: String,
    pub target: String,
    pub command: String,
    /// The red line that asked for the review.
    pub policy: String,
    pub reason: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    pub reviewer: Option<String>,
    pub comment: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub decided_at: Option<i64>,
}

fn review(row: &AnyRow) -> Result<ReviewRow> {
    Ok(ReviewRow {
        id: Id::from_trusted(row.try_get("id")?),
        session_id: row.try_get("session_id")?,
        requester_id: Id::from_trusted(row.try_get("requester_id")?),
        requester: row.try_get("requester")?,
        target: row.try_get("target")?,
        command: row.try_get("command")?,
        policy: row.try_get("policy")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        reviewer: row.try_get("reviewer")?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

impl Store {
    pub async fn insert_review(&self, r: &ReviewRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bastion_reviews ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(r.id.as_str())
        .bind(&r.session_id)
        .bind(r.requester_id.as_str())
        .bind(&r.requester)
        .bind(&r.target)
        .bind(&r.command)
        .bind(&r.policy)
        .bind(&r.reason)
        .bind(&r.status)
        .bind(r.reviewer.as_deref())
        .bind(&r.comment)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.decided_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_review(&self, id: &str) -> Result<ReviewRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM bastion_reviews WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        review(&row)
    }

    /// Reviews in `status` (all when `None`), newest first, at most `limit`.
    pub async fn list_reviews(&self, status: Option<&str>, limit: usize) -> Result<Vec<ReviewRow>> {
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        let rows = match status {
            Some(s) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM bastion_reviews WHERE status = $1 ORDER BY created_at DESC, id LIMIT $2"
                ))
                .bind(s)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM bastion_reviews ORDER BY created_at DESC, id LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(review).collect()
    }

    /// Decides a pending review that has not expired at `now`: `status` is
    /// `approved`, `denied` or (by the waiting session) `expired`. A review
    /// that is no longer pending, or has expired, is a conflict and nothing
    /// changes.
    pub async fn decide_review(
        &self,
        id: &str,
        status: &str,
        reviewer: Option<&str>,
        comment: &str,
        now: i64,
    ) -> Result<ReviewRow> {
        // Expiry itself may be recorded after the deadline; a decision may not.
        let guard = if status == EXPIRED { "" } else { " AND expires_at > $5" };
        let sql = format!(
            "UPDATE bastion_reviews SET status = $2, reviewer = $3, comment = $4, decided_at = $5 \
             WHERE id = $1 AND status = 'pending'{guard}"
        );
        let done =
            sqlx::query(&sql).bind(id).bind(status).bind(reviewer).bind(comment).bind(now).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            let current = self.find_review(id).await?;
            return Err(StoreError::Conflict(format!("the review is {} already", current.status)));
        }
        self.find_review(id).await
    }
}
