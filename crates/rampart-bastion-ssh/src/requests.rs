//! Just-in-time access: a user asks for access to a target (or every
//! target with a label) as a login, for some actions, with a reason and a
//! duration up to `[bastion] jit_max_duration_secs`. An approver (holder of
//! `bastion_approve`, never the requester) approves or denies it before it
//! expires on its own (`jit_pending_timeout_secs`). Approval makes a grant
//! that ends when the duration does, in the same transaction as the
//! decision; revoking the request removes the grant, and the session
//! watcher cuts any live session resting on it within seconds, as it does
//! when the grant's window ends. Every step is a ledger event recorded
//! before it takes effect (an expiry once, by whoever sees it first).
//!
//! Lockbox requests share the table, the states and the checks here; their
//! own rules are in `lockbox`.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Permission, Principal};
use rampart_store::access::{APPROVED, DENIED, EXPIRED, JIT, LOCKBOX, OVERDUE_PAGE, PENDING, REVOKED};
use rampart_store::{AccessRequestRow, Decision, GrantRow, RequestFilter, StoreError};
use serde::Serialize;

use crate::grants::{Action, join_actions, parse_actions};
use crate::{Bastion, BastionError};

/// The longest reason or comment, in bytes.
pub const MAX_REASON: usize = 1024;

/// A just-in-time or lockbox request as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestInfo {
    pub id: String,
    /// `jit` or `lockbox`.
    pub kind: String,
    pub requester: String,
    pub target: Option<String>,
    pub label: Option<String>,
    pub login: String,
    pub actions: Vec<Action>,
    /// The tenant whose customer admin decides a lockbox request.
    pub tenant_id: Option<String>,
    /// A lockbox request's reason code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason_code: String,
    pub reason: String,
    pub duration_secs: i64,
    /// `pending`, `approved`, `denied`, `expired` or `revoked`.
    pub status: String,
    pub decided_by: Option<String>,
    pub comment: String,
    pub created_at: String,
    /// When a pending request expires.
    pub expires_at: String,
    pub decided_at: Option<String>,
    /// The approved window.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// The grant an approved just-in-time request made.
    pub grant_id: Option<String>,
}

impl From<&AccessRequestRow> for RequestInfo {
    fn from(r: &AccessRequestRow) -> Self {
        RequestInfo {
            id: r.id.to_string(),
            kind: r.kind.clone(),
            requester: r.requester.clone(),
            target: r.target.clone(),
            label: r.label.clone(),
            login: r.login.clone(),
            actions: parse_actions(&r.actions),
            tenant_id: r.tenant_id.as_ref().map(Id::to_string),
            reason_code: r.reason_code.clone(),
            reason: r.reason.clone(),
            duration_secs: r.duration_secs,
            status: r.status.clone(),
            decided_by: r.decided_by.clone(),
            comment: r.comment.clone(),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            decided_at: r.decided_at.map(rfc3339),
            valid_from: r.valid_from.map(rfc3339),
            valid_until: r.valid_until.map(rfc3339),
            grant_id: r.grant_id.as_ref().map(Id::to_string),
        }
    }
}

/// A just-in-time request to make.
#[derive(Debug, Clone)]
pub struct NewAccessRequest {
    /// The one target, or `None` for `label`.
    pub target: Option<String>,
    pub label: Option<String>,
    /// The login; the target's own when `None`.
    pub login: Option<String>,
    pub actions: Vec<Action>,
    pub reason: String,
    pub duration_secs: u64,
}

/// A reason (or comment) a person wrote: bounded, no control characters.
pub(crate) fn check_text(what: &str, text: &str, required: bool) -> Result<(), BastionError> {
    if (required && text.trim().is_empty()) || text.len() > MAX_REASON || text.chars().any(char::is_control) {
        let need = if required { "1" } else { "0" };
        return Err(BastionError::Invalid(format!(
            "{what} must be {need}-{MAX_REASON} bytes without control characters"
        )));
    }
    Ok(())
}

/// A requested duration, between 1 second and `max`.
pub(crate) fn check_duration(secs: u64, max: u64, key: &str) -> Result<i64, BastionError> {
    if secs == 0 || secs > max {
        return Err(BastionError::Invalid(format!("duration_secs must be between 1 and {max} (the [bastion] {key})")));
    }
    i64::try_from(secs).map_err(|_| BastionError::Invalid("duration_secs is too large".into()))
}

pub(crate) fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

impl Bastion {
    /// Records the expiry of every pending request of `kind` past its
    /// deadline: the compare-and-set lets one node win, and only the
    /// winner writes the ledger event.
    pub(crate) async fn expire_overdue(&self, kind: &str) -> Result<usize, BastionError> {
        let now = now_ms();
        let overdue = self.store().overdue_access_requests(kind, now).await?;
        let found = overdue.len();
        for r in overdue {
            let decision = Decision { status: EXPIRED, by: None, comment: "", at: now, window: None };
            match self.store().decide_access_request(r.id.as_str(), &decision, None).await {
                Ok(_) => {
                    let event_kind = if kind == JIT { "bastion.request.expired" } else { "lockbox.expired" };
                    let event = Event::new(event_kind, Outcome::Denied, "system")
                        .object(r.id.as_str())
                        .tenant(r.tenant_id.clone())
                        .attr("requester", r.requester.as_str())
                        .attr("target", r.target.as_deref().or(r.label.as_deref()).unwrap_or(""));
                    if let Err(e) = self.audit().record(event).await {
                        tracing::error!(error = %e, request = %r.id, "recording a request's expiry failed");
                    }
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(found)
    }

    /// Expires every pending just-in-time and lockbox request past its
    /// deadline, so each expiry reaches the ledger when it happens rather
    /// than when someone next lists or decides requests (which expire
    /// overdue ones too). The server runs it every few seconds on every
    /// node; the compare-and-set in [`Bastion::expire_overdue`] keeps one
    /// event per request. Returns how many requests it found overdue.
    pub async fn expire_pending_requests(&self) -> Result<usize, BastionError> {
        let mut total = 0;
        for kind in [JIT, LOCKBOX] {
            // A page of at most 1000 at a time, until a short page.
            loop {
                let n = self.expire_overdue(kind).await?;
                total += n;
                if n < OVERDUE_PAGE {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Asks for just-in-time access.
    pub async fn create_access_request(
        &self,
        actor: &Principal,
        new: NewAccessRequest,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        check_text("reason", &new.reason, true)?;
        let config = self.config();
        let duration = check_duration(new.duration_secs, config.jit_max_duration_secs, "jit_max_duration_secs")?;
        if new.actions.is_empty() {
            return Err(BastionError::Invalid(
                "ask for at least one action: shell, exec, sftp-read, sftp-write or port-forward".into(),
            ));
        }
        let (target, login) = self.grant_scope(new.target.as_deref(), new.label.as_deref(), new.login).await?;
        let now = now_ms();
        let row = AccessRequestRow {
            id: Id::new("req"),
            kind: JIT.into(),
            requester_id: actor.user_id.clone(),
            requester: actor.username.clone(),
            target: target.as_ref().map(|t| t.name.clone()),
            label: new.label.filter(|_| target.is_none()),
            login,
            actions: join_actions(&new.actions),
            tenant_id: None,
            reason_code: String::new(),
            reason: new.reason,
            duration_secs: duration,
            status: PENDING.into(),
            decided_by: None,
            comment: String::new(),
            created_at: now,
            expires_at: now.saturating_add(secs_to_ms(config.jit_pending_timeout_secs)),
            decided_at: None,
            valid_from: None,
            valid_until: None,
            grant_id: None,
        };
        self.audit()
            .record(
                Event::new("bastion.request.created", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("target", row.target.as_deref().unwrap_or(""))
                    .attr("label", row.label.as_deref().unwrap_or(""))
                    .attr("login", row.login.as_str())
                    .attr("actions", row.actions.as_str())
                    .attr("reason", row.reason.as_str())
                    .attr("duration_secs", row.duration_secs)
                    .attr("expires_at", rfc3339(row.expires_at)),
            )
            .await?;
        self.store().insert_access_request(&row).await?;
        Ok(RequestInfo::from(&row))
    }

    /// Requests an approver sees all of; anyone else only their own.
    pub async fn list_access_requests(
        &self,
        actor: &Principal,
        status: Option<&str>,
    ) -> Result<Vec<RequestInfo>, BastionError> {
        check_status(status)?;
        self.expire_overdue(JIT).await?;
        let approver = actor.can(Permission::BastionApprove);
        let filter =
            RequestFilter { kind: JIT, requester: (!approver).then_some(&actor.user_id), tenant: None, status };
        Ok(self.store().list_access_requests(&filter, 500).await?.iter().map(RequestInfo::from).collect())
    }

    /// One request; another's reads as not found unless one is an approver.
    pub async fn show_access_request(&self, actor: &Principal, id: &str) -> Result<RequestInfo, BastionError> {
        self.expire_overdue(JIT).await?;
        let row = self.store().find_access_request(JIT, id).await?;
        if row.requester_id != actor.user_id && !actor.can(Permission::BastionApprove) {
            return Err(BastionError::NotFound);
        }
        Ok(RequestInfo::from(&row))
    }

    /// An approver's decision. The requester cannot decide their own
    /// request; a request no longer pending, or past its deadline, is a
    /// conflict and nothing changes.
    pub async fn decide_access_request(
        &self,
        actor: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        check_text("comment", comment, false)?;
        self.expire_overdue(JIT).await?;
        let row = self.store().find_access_request(JIT, id).await?;
        if row.requester_id == actor.user_id {
            return Err(BastionError::Forbidden("an access request cannot be decided by the one who made it".into()));
        }
        let now = now_ms();
        if row.status != PENDING || now >= row.expires_at {
            let state = if row.status == PENDING { EXPIRED } else { row.status.as_str() };
            return Err(BastionError::Conflict(format!("the request is {state} already")));
        }
        let until = now.saturating_add(row.duration_secs.saturating_mul(1000));
        let grant = if approve { Some(self.grant_for_request(&row, &actor.username, now, until).await?) } else { None };
        let (status, kind, outcome) = if approve {
            (APPROVED, "bastion.request.approved", Outcome::Success)
        } else {
            (DENIED, "bastion.request.denied", Outcome::Denied)
        };
        let mut event = Event::new(kind, outcome, &actor.username)
            .object(row.id.as_str())
            .source(source)
            .attr("requester", row.requester.as_str())
            .attr("target", row.target.as_deref().unwrap_or(""))
            .attr("label", row.label.as_deref().unwrap_or(""))
            .attr("comment", comment);
        if let Some(g) = &grant {
            event = event
                .attr("grant", g.id.as_str())
                .attr("valid_from", rfc3339(g.not_before))
                .attr("valid_until", rfc3339(g.not_after));
        }
        self.audit().record(event).await?;
        let decision =
            Decision { status, by: Some(&actor.username), comment, at: now, window: approve.then_some((now, until)) };
        let decided = self.store().decide_access_request(id, &decision, grant.as_ref()).await?;
        Ok(RequestInfo::from(&decided))
    }

    /// The grant an approved request makes, checked against the target as
    /// it is now (it may have been deleted or re-registered meanwhile).
    async fn grant_for_request(
        &self,
        row: &AccessRequestRow,
        approver: &str,
        now: i64,
        until: i64,
    ) -> Result<GrantRow, BastionError> {
        let login = Some(row.login.clone());
        let (target, login) = self
            .grant_scope(row.target.as_deref(), row.label.as_deref(), login)
            .await
            .map_err(|e| BastionError::Conflict(format!("the request no longer applies: {e}")))?;
        Ok(GrantRow {
            id: Id::new("grt"),
            user_id: Some(row.requester_id.clone()),
            group_id: None,
            target_id: target.map(|t| t.id),
            label: row.label.clone(),
            login,
            actions: row.actions.clone(),
            not_before: now,
            not_after: until,
            created_by: approver.to_owned(),
            created_at: now,
            request_id: Some(row.id.clone()),
        })
    }

    /// Revokes an approved request (an approver, or the requester giving
    /// it back): its grant goes, and live sessions on it are cut.
    pub async fn revoke_access_request(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        let row = self.store().find_access_request(JIT, id).await?;
        let approver = actor.can(Permission::BastionApprove);
        if row.requester_id != actor.user_id && !approver {
            return Err(BastionError::NotFound);
        }
        if row.status != APPROVED {
            return Err(BastionError::Conflict(format!(
                "only an approved request can be revoked; it is {}",
                row.status
            )));
        }
        self.audit()
            .record(
                Event::new("bastion.request.revoked", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("requester", row.requester.as_str())
                    .attr("grant", row.grant_id.as_ref().map_or("", Id::as_str)),
            )
            .await?;
        let revoked = self.store().revoke_access_request(id, &actor.username, now_ms()).await?;
        Ok(RequestInfo::from(&revoked))
    }
}

/// A status filter, if given, must be a known state.
pub(crate) fn check_status(status: Option<&str>) -> Result<(), BastionError> {
    if let Some(s) = status
        && ![PENDING, APPROVED, DENIED, EXPIRED, REVOKED].contains(&s)
    {
        return Err(BastionError::Invalid("status must be pending, approved, denied, expired, revoked or all".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_durations_are_bounded() {
        assert!(check_text("reason", "fix the disk", true).is_ok());
        assert!(check_text("reason", "", true).is_err(), "a reason is required");
        assert!(check_text("reason", "   ", true).is_err(), "blank is not a reason");
        assert!(check_text("comment", "", false).is_ok());
        assert!(check_text("reason", &"x".repeat(MAX_REASON + 1), true).is_err());
        assert!(check_text("reason", "line\nbreak", true).is_err(), "no control characters (log forging)");
        assert_eq!(check_duration(60, 3600, "k").ok(), Some(60));
        assert!(check_duration(0, 3600, "k").is_err());
        assert!(check_duration(3601, 3600, "k").is_err());
        assert!(check_duration(u64::MAX, u64::MAX, "k").is_err());
    }
}
