//! Access requests of the bastion: just-in-time requests (`kind` `jit`),
//! which an approver turns into a time-limited grant, and lockbox requests
//! (`kind` `lockbox`), which a tenant's customer admin approves for a
//! window. Decisions are compare-and-set on a pending request before its
//! deadline, so two deciders (or a decider and the expiry) never both win;
//! an approved just-in-time request and its grant are one transaction, and
//! so are its revocation and the grant's removal. Also the lockbox
//! accesses: one row per session opened on a tenant's target, listed with
//! the session's recording hash for the tenant's transparency view.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::bastion::grant_insert;
use crate::{GrantRow, Result, Store, StoreError};

const COLUMNS: &str = "id, kind, requester_id, requester, target, label, login, actions, tenant_id, reason_code, \
                       reason, duration_secs, status, decided_by, comment, created_at, expires_at, decided_at, \
                       valid_from, valid_until, grant_id";

/// The kinds of request.
pub const JIT: &str = "jit";
pub const LOCKBOX: &str = "lockbox";

/// The states of a request.
pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const EXPIRED: &str = "expired";
/// The most overdue requests [`Store::overdue_access_requests`] returns at once.
pub const OVERDUE_PAGE: usize = 1000;
pub const REVOKED: &str = "revoked";

/// One access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequestRow {
    pub id: Id,
    /// `jit` or `lockbox`.
    pub kind: String,
    pub requester_id: Id,
    pub requester: String,
    /// The target asked for (by name), or `None` for a label.
    pub target: Option<String>,
    pub label: Option<String>,
    pub login: String,
    /// Comma-separated actions.
    pub actions: String,
    /// The tenant whose customer admin decides (lockbox requests).
    pub tenant_id: Option<Id>,
    /// A reason code from a fixed list (lockbox requests); `''` otherwise.
    pub reason_code: String,
    pub reason: String,
    pub duration_secs: i64,
    pub status: String,
    pub decided_by: Option<String>,
    pub comment: String,
    pub created_at: i64,
    /// A pending request expires here.
    pub expires_at: i64,
    pub decided_at: Option<i64>,
    /// The approved window.
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// The grant an approved just-in-time request made.
    pub grant_id: Option<Id>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter<'a> {
    pub kind: &'a str,
    pub requester: Option<&'a Id>,
    pub tenant: Option<&'a Id>,
    pub status: Option<&'a str>,
}

/// One access to a tenant's data, with what the session index knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockboxAccessRow {
    pub session_id: String,
    pub tenant_id: Id,
    pub request_id: Id,
    pub username: String,
    pub target: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Option<String>,
    pub end_reason: Option<String>,
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
    pub reason_code: String,
    pub reason: String,
    pub approved_by: Option<String>,
}

fn request(row: &AnyRow) -> Result<AccessRequestRow> {
    let id = |name: &str| -> Result<Option<Id>> { Ok(row.try_get::<Option<String>, _>(name)?.map(Id::from_trusted)) };
    Ok(AccessRequestRow {
        id: Id::from_trusted(row.try_get("id")?),
        kind: row.try_get("kind")?,
        requester_id: Id::from_trusted(row.try_get("requester_id")?),
        requester: row.try_get("requester")?,
        target: row.try_get("target")?,
        label: row.try_get("label")?,
        login: row.try_get("login")?,
        actions: row.try_get("actions")?,
        tenant_id: id("tenant_id")?,
        reason_code: row.try_get("reason_code")?,
        reason: row.try_get("reason")?,
        duration_secs: row.try_get("duration_secs")?,
        status: row.try_get("status")?,
        decided_by: row.try_get("decided_by")?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: row.try_get("decided_at")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        grant_id: id("grant_id")?,
    })
}

impl Store {
    pub async fn insert_access_request(&self, r: &AccessRequestRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO bastion_access_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ))
        .bind(r.id.as_str())
        .bind(&r.kind)
        .bind(r.requester_id.as_str())
        .bind(&r.requester)
        .bind(r.target.as_deref())
        .bind(r.label.as_deref())
        .bind(&r.login)
        .bind(&r.actions)
        .bind(r.tenant_id.as_ref().map(Id::as_str))
        .bind(&r.reason_code)
        .bind(&r.reason)
        .bind(r.duration_secs)
        .bind(&r.status)
        .bind(r.decided_by.as_deref())
        .bind(&r.comment)
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.decided_at)
        .bind(r.valid_from)
        .bind(r.valid_until)
        .bind(r.grant_id.as_ref().map(Id::as_str))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One request of `kind`; another kind reads as not found.
    pub async fn find_access_request(&self, kind: &str, id: &str) -> Result<AccessRequestRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM bastion_access_requests WHERE id = $1 AND kind = $2"))
            .bind(id)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        request(&row)
    }

    /// Requests matching `filter`, newest first, at most `limit` (≤ 1000).
    pub async fn list_access_requests(
        &self,
        filter: &RequestFilter<'_>,
        limit: usize,
    ) -> Result<Vec<AccessRequestRow>> {
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        // Absent filters bind NULL and match everything.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bastion_access_requests WHERE kind = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR requester_id = $2) AND (CAST($3 AS TEXT) IS NULL OR tenant_id = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR status = $4) ORDER BY created_at DESC, id DESC LIMIT $5"
        ))
        .bind(filter.kind)
        .bind(filter.requester.map(Id::as_str))
        .bind(filter.tenant.map(Id::as_str))
        .bind(filter.status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request).collect()
    }

    /// Pending requests of `kind` whose deadline has passed at `now`.
    pub async fn overdue_access_requests(&self, kind: &str, now: i64) -> Result<Vec<AccessRequestRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bastion_access_requests WHERE kind = $1 AND status = 'pending' \
             AND expires_at <= $2 ORDER BY id LIMIT $3"
        ))
        .bind(kind)
        .bind(now)
        .bind(OVERDUE_PAGE as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request).collect()
    }

    /// Decides a pending request: `denied` or `expired`, or `approved` with
    /// its window and (for a just-in-time request) the grant it makes, which
    /// is stored in the same transaction. Approval and denial must come
    /// before the deadline, expiry after it; otherwise, or when the request
    /// is no longer pending, it is a conflict and nothing changes.
    pub async fn decide_access_request(
        &self,
        id: &str,
        decision: &Decision<'_>,
        grant: Option<&GrantRow>,
    ) -> Result<AccessRequestRow> {
        let guard = if decision.status == EXPIRED { "expires_at <= $4" } else { "expires_at > $4" };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "UPDATE bastion_access_requests SET status = $2, decided_by = $3, decided_at = $4, comment = $5, \
             valid_from = $6, valid_until = $7, grant_id = $8 WHERE id = $1 AND status = 'pending' AND {guard}"
        ))
        .bind(id)
        .bind(decision.status)
        .bind(decision.by)
        .bind(decision.at)
        .bind(decision.comment)
        .bind(decision.window.map(|w| w.0))
        .bind(decision.window.map(|w| w.1))
        .bind(grant.map(|g| g.id.as_str()))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            let current = self.find_access_request_any(id).await?;
            let state = if current.status == PENDING { "past its deadline" } else { current.status.as_str() };
            return Err(StoreError::Conflict(format!("the request is {state}")));
        }
        if let Some(g) = grant {
            grant_insert(g).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.find_access_request_any(id).await
    }

    /// Revokes an approved request: its window ends at `now` and its grant
    /// (if any) goes, in one transaction. Not approved: a conflict.
    pub async fn revoke_access_request(&self, id: &str, by: &str, now: i64) -> Result<AccessRequestRow> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE bastion_access_requests SET status = 'revoked', decided_by = $2, decided_at = $3, \
             valid_until = CASE WHEN valid_until > $3 THEN $3 ELSE valid_until END \
             WHERE id = $1 AND status = 'approved'",
        )
        .bind(id)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            let current = self.find_access_request_any(id).await?;
            return Err(StoreError::Conflict(format!(
                "only an approved request can be revoked; it is {}",
                current.status
            )));
        }
        sqlx::query("DELETE FROM bastion_grants WHERE request_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        self.find_access_request_any(id).await
    }

    async fn find_access_request_any(&self, id: &str) -> Result<AccessRequestRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM bastion_access_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        request(&row)
    }

    /// The approved lockbox request whose window holds `now` for this user,
    /// target and tenant (an approval never carries over to a target that
    /// holds another tenant's data), the one that lasts longest if several do.
    pub async fn lockbox_approval(
        &self,
        requester: &Id,
        target: &str,
        tenant: &Id,
        now: i64,
    ) -> Result<Option<AccessRequestRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM bastion_access_requests WHERE kind = 'lockbox' AND status = 'approved' \
             AND requester_id = $1 AND target = $2 AND tenant_id = $3 AND valid_from <= $4 AND valid_until > $4 \
             ORDER BY valid_until DESC, id LIMIT 1"
        ))
        .bind(requester.as_str())
        .bind(target)
        .bind(tenant.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request).transpose()
    }

    pub async fn insert_lockbox_access(
        &self,
        session_id: &str,
        tenant: &Id,
        request: &Id,
        username: &str,
        target: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO lockbox_accesses (session_id, tenant_id, request_id, username, target, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session_id)
        .bind(tenant.as_str())
        .bind(request.as_str())
        .bind(username)
        .bind(target)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Accesses to one tenant's data (every tenant's when `None`), newest
    /// first, with the session's end and recording hash and the request's
    /// reason and approver.
    pub async fn list_lockbox_accesses(&self, tenant: Option<&Id>, limit: usize) -> Result<Vec<LockboxAccessRow>> {
        let limit = i64::try_from(limit.min(1000)).unwrap_or(1000);
        let rows = sqlx::query(
            "SELECT a.session_id, a.tenant_id, a.request_id, a.username, a.target, a.started_at, s.ended_at, \
             s.outcome, s.reason AS end_reason, s.recording_sha256, s.recording_bytes, r.reason_code, r.reason, \
             r.decided_by FROM lockbox_accesses a \
             LEFT JOIN bastion_sessions s ON s.id = a.session_id \
             LEFT JOIN bastion_access_requests r ON r.id = a.request_id \
             WHERE (CAST($1 AS TEXT) IS NULL OR a.tenant_id = $1) ORDER BY a.started_at DESC, a.session_id DESC LIMIT $2",
        )
        .bind(tenant.map(Id::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LockboxAccessRow {
                    session_id: row.try_get("session_id")?,
                    tenant_id: Id::from_trusted(row.try_get("tenant_id")?),
                    request_id: Id::from_trusted(row.try_get("request_id")?),
                    username: row.try_get("username")?,
                    target: row.try_get("target")?,
                    started_at: row.try_get("started_at")?,
                    ended_at: row.try_get("ended_at")?,
                    outcome: row.try_get("outcome")?,
                    end_reason: row.try_get("end_reason")?,
                    recording_sha256: row.try_get("recording_sha256")?,
                    recording_bytes: row.try_get("recording_bytes")?,
                    reason_code: row.try_get::<Option<String>, _>("reason_code")?.unwrap_or_default(),
                    reason: row.try_get::<Option<String>, _>("reason")?.unwrap_or_default(),
                    approved_by: row.try_get("decided_by")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Marks `label` as holding `tenant`'s data (replacing an earlier mark).
    pub async fn set_lockbox_label(&self, label: &str, tenant: &Id, by: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO bastion_lockbox_labels (label, tenant_id, created_by, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (label) DO UPDATE SET tenant_id = $2, created_by = $3, created_at = $4",
        )
        .bind(label)
        .bind(tenant.as_str())
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_lockbox_label(&self, label: &str) -> Result<()> {
        let done =
            sqlx::query("DELETE FROM bastion_lockbox_labels WHERE label = $1").bind(label).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Every marked label and its tenant, by label.
    pub async fn list_lockbox_labels(&self) -> Result<Vec<(String, Id)>> {
        let rows = sqlx::query("SELECT label, tenant_id FROM bastion_lockbox_labels ORDER BY label LIMIT 10000")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("label")?, Id::from_trusted(r.try_get("tenant_id")?)))).collect()
    }
}

/// A decision on a pending request.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// `approved`, `denied` or `expired`.
    pub status: &'a str,
    pub by: Option<&'a str>,
    pub comment: &'a str,
    pub at: i64,
    /// The approved window, `[from, until)`.
    pub window: Option<(i64, i64)>,
}
