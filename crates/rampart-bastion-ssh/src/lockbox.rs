//! The customer lockbox: a target marked as holding a tenant's data
//! (`lockbox_tenant`, or a label marked for the tenant that the target
//! carries; two tenants' marks on one target refuse every access) is
//! reached only with a grant *and* an approval by that tenant's customer
//! admin. The operator's engineer asks (target,
//! reason code, reason, duration up to `[bastion] lockbox_max_duration_secs`);
//! the request waits, and expires on its own after
//! `lockbox_pending_timeout_secs` (12 h by default); only a customer admin
//! of that very tenant approves or denies it (another tenant's admin reads
//! it as not found, the operator's own administrators are refused). An
//! approval opens a window from the moment of approval: sessions start only
//! inside it, and the session watcher cuts a live session when it ends or
//! is revoked. Every session opened on such a target is a `lockbox.access`
//! ledger event for the tenant and a row in the access transparency view,
//! which lists who, when, why, the session and its recording's SHA-256 and
//! size. Requests, approvals, denials, expiries and revocations are ledger
//! events too, recorded before they take effect.

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Permission, Principal, Role};
use rampart_store::access::{APPROVED, DENIED, EXPIRED, LOCKBOX, PENDING};
use rampart_store::{AccessRequestRow, Decision, LockboxAccessRow, RequestFilter, TargetRow, UserRow};
use serde::Serialize;

use crate::requests::{RequestInfo, check_duration, check_status, check_text, secs_to_ms};
use crate::{Bastion, BastionError};

/// Why the operator needs to touch a tenant's data, as the customer sees it.
pub const REASON_CODES: [&str; 5] = ["customer_support", "incident", "maintenance", "security", "legal"];

/// A lockbox request to make.
#[derive(Debug, Clone)]
pub struct NewLockboxRequest {
    pub target: String,
    /// One of [`REASON_CODES`].
    pub reason_code: String,
    pub reason: String,
    pub duration_secs: u64,
}

/// One access to a tenant's data, as the tenant's transparency view shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessInfo {
    pub session_id: String,
    pub tenant_id: String,
    /// Who.
    pub username: String,
    pub target: String,
    /// When.
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `running`, or how the session ended.
    pub outcome: String,
    /// Why it ended, when it was cut (`grant_ended`, `terminated`…).
    pub end_reason: Option<String>,
    /// Why: the approved request, its reason code and reason, and who approved it.
    pub request_id: String,
    pub reason_code: String,
    pub reason: String,
    pub approved_by: Option<String>,
    /// The recording's SHA-256 and size as the ledger recorded them at the
    /// session's end.
    pub recording_sha256: Option<String>,
    pub recording_bytes: Option<i64>,
}

impl From<&LockboxAccessRow> for AccessInfo {
    fn from(a: &LockboxAccessRow) -> Self {
        AccessInfo {
            session_id: a.session_id.clone(),
            tenant_id: a.tenant_id.to_string(),
            username: a.username.clone(),
            target: a.target.clone(),
            started_at: rfc3339(a.started_at),
            ended_at: a.ended_at.map(rfc3339),
            outcome: a.outcome.clone().unwrap_or_else(|| "running".into()),
            end_reason: a.end_reason.clone(),
            request_id: a.request_id.to_string(),
            reason_code: a.reason_code.clone(),
            reason: a.reason.clone(),
            approved_by: a.approved_by.clone(),
            recording_sha256: a.recording_sha256.clone(),
            recording_bytes: a.recording_bytes,
        }
    }
}

/// Whether `actor` is a customer admin of `tenant`.
fn is_tenant_admin(actor: &Principal, tenant: Option<&Id>) -> bool {
    actor.role == Role::CustomerAdmin
        && actor.can(Permission::LockboxApprove)
        && actor.tenant_id.is_some()
        && actor.tenant_id.as_ref() == tenant
}

/// Whether `actor` may see `row`: its tenant's customer admin, the
/// requester, or an operator approver. Another tenant's reads as not found.
fn may_see(actor: &Principal, row: &AccessRequestRow) -> bool {
    match &actor.tenant_id {
        Some(_) => is_tenant_admin(actor, row.tenant_id.as_ref()),
        None => row.requester_id == actor.user_id || actor.can(Permission::BastionApprove),
    }
}

impl Bastion {
    /// Asks a tenant's customer admin for access to a target holding the
    /// tenant's data.
    pub async fn create_lockbox_request(
        &self,
        actor: &Principal,
        new: NewLockboxRequest,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        if !REASON_CODES.contains(&new.reason_code.as_str()) {
            return Err(BastionError::Invalid(format!("reason_code must be one of {}", REASON_CODES.join(", "))));
        }
        check_text("reason", &new.reason, true)?;
        let config = self.config();
        let duration =
            check_duration(new.duration_secs, config.lockbox_max_duration_secs, "lockbox_max_duration_secs")?;
        let Some(target) = self.store().find_target(&new.target).await? else {
            return Err(BastionError::Invalid(format!("no target named {:?}", new.target)));
        };
        let Some(tenant) = self.effective_lockbox_tenant(&target).await? else {
            return Err(BastionError::Invalid(format!(
                "target {:?} holds no tenant's data; it needs no lockbox approval",
                target.name
            )));
        };
        let now = now_ms();
        let row = AccessRequestRow {
            id: Id::new("lbx"),
            kind: LOCKBOX.into(),
            requester_id: actor.user_id.clone(),
            requester: actor.username.clone(),
            target: Some(target.name.clone()),
            label: None,
            login: target.login.clone(),
            actions: String::new(),
            tenant_id: Some(tenant.clone()),
            reason_code: new.reason_code,
            reason: new.reason,
            duration_secs: duration,
            status: PENDING.into(),
            decided_by: None,
            comment: String::new(),
            created_at: now,
            expires_at: now.saturating_add(secs_to_ms(config.lockbox_pending_timeout_secs)),
            decided_at: None,
            valid_from: None,
            valid_until: None,
            grant_id: None,
        };
        self.audit()
            .record(
                Event::new("lockbox.requested", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .tenant(Some(tenant))
                    .source(source)
                    .attr("target", target.name.as_str())
                    .attr("reason_code", row.reason_code.as_str())
                    .attr("reason", row.reason.as_str())
                    .attr("duration_secs", row.duration_secs)
                    .attr("expires_at", rfc3339(row.expires_at)),
            )
            .await?;
        self.store().insert_access_request(&row).await?;
        Ok(RequestInfo::from(&row))
    }

    /// Lockbox requests: a customer admin sees their tenant's, an operator
    /// approver every tenant's, anyone else their own.
    pub async fn list_lockbox_requests(
        &self,
        actor: &Principal,
        status: Option<&str>,
    ) -> Result<Vec<RequestInfo>, BastionError> {
        check_status(status)?;
        self.expire_overdue(LOCKBOX).await?;
        let filter = match &actor.tenant_id {
            Some(t) if is_tenant_admin(actor, Some(t)) => {
                RequestFilter { kind: LOCKBOX, requester: None, tenant: Some(t), status }
            }
            Some(_) => return Err(BastionError::Forbidden("only the tenant's customer admin sees its lockbox".into())),
            None if actor.can(Permission::BastionApprove) => {
                RequestFilter { kind: LOCKBOX, requester: None, tenant: None, status }
            }
            None => RequestFilter { kind: LOCKBOX, requester: Some(&actor.user_id), tenant: None, status },
        };
        Ok(self.store().list_access_requests(&filter, 500).await?.iter().map(RequestInfo::from).collect())
    }

    pub async fn show_lockbox_request(&self, actor: &Principal, id: &str) -> Result<RequestInfo, BastionError> {
        self.expire_overdue(LOCKBOX).await?;
        let row = self.store().find_access_request(LOCKBOX, id).await?;
        if !may_see(actor, &row) {
            return Err(BastionError::NotFound);
        }
        Ok(RequestInfo::from(&row))
    }

    /// The tenant's customer admin approves (opening the window from now)
    /// or denies. Another tenant's admin finds nothing; the operator's
    /// roles are refused; a request no longer pending or past its deadline
    /// is a conflict and nothing changes.
    pub async fn decide_lockbox_request(
        &self,
        actor: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        check_text("comment", comment, false)?;
        self.expire_overdue(LOCKBOX).await?;
        let row = self.store().find_access_request(LOCKBOX, id).await?;
        if actor.tenant_id.is_some() && actor.tenant_id != row.tenant_id {
            return Err(BastionError::NotFound);
        }
        if !is_tenant_admin(actor, row.tenant_id.as_ref()) {
            return Err(BastionError::Forbidden(
                "only a customer admin of the tenant whose data it is decides a lockbox request".into(),
            ));
        }
        if row.requester_id == actor.user_id {
            return Err(BastionError::Forbidden("a lockbox request cannot be decided by the one who made it".into()));
        }
        let now = now_ms();
        if row.status != PENDING || now >= row.expires_at {
            let state = if row.status == PENDING { EXPIRED } else { row.status.as_str() };
            return Err(BastionError::Conflict(format!("the request is {state} already")));
        }
        let until = now.saturating_add(row.duration_secs.saturating_mul(1000));
        let (status, kind, outcome) = if approve {
            (APPROVED, "lockbox.approved", Outcome::Success)
        } else {
            (DENIED, "lockbox.denied", Outcome::Denied)
        };
        let mut event = Event::new(kind, outcome, &actor.username)
            .object(row.id.as_str())
            .tenant(row.tenant_id.clone())
            .source(source)
            .attr("requester", row.requester.as_str())
            .attr("target", row.target.as_deref().unwrap_or(""))
            .attr("reason_code", row.reason_code.as_str())
            .attr("comment", comment);
        if approve {
            event = event.attr("valid_from", rfc3339(now)).attr("valid_until", rfc3339(until));
        }
        self.audit().record(event).await?;
        let decision =
            Decision { status, by: Some(&actor.username), comment, at: now, window: approve.then_some((now, until)) };
        let decided = self.store().decide_access_request(id, &decision, None).await?;
        Ok(RequestInfo::from(&decided))
    }

    /// Ends an approved window early: the tenant's customer admin
    /// withdrawing consent, or the requester giving it back. Live sessions
    /// resting on it are cut by their watcher.
    pub async fn revoke_lockbox_request(
        &self,
        actor: &Principal,
        id: &str,
        source: Option<String>,
    ) -> Result<RequestInfo, BastionError> {
        let row = self.store().find_access_request(LOCKBOX, id).await?;
        if !may_see(actor, &row) {
            return Err(BastionError::NotFound);
        }
        if !is_tenant_admin(actor, row.tenant_id.as_ref()) && row.requester_id != actor.user_id {
            return Err(BastionError::Forbidden("only the tenant's customer admin or the requester revokes".into()));
        }
        if row.status != APPROVED {
            return Err(BastionError::Conflict(format!(
                "only an approved request can be revoked; it is {}",
                row.status
            )));
        }
        self.audit()
            .record(
                Event::new("lockbox.revoked", Outcome::Success, &actor.username)
                    .object(row.id.as_str())
                    .tenant(row.tenant_id.clone())
                    .source(source)
                    .attr("requester", row.requester.as_str())
                    .attr("target", row.target.as_deref().unwrap_or("")),
            )
            .await?;
        let revoked = self.store().revoke_access_request(id, &actor.username, now_ms()).await?;
        Ok(RequestInfo::from(&revoked))
    }

    /// The access transparency view: every session on the tenant's lockbox
    /// targets. A customer admin sees their own tenant's only (naming
    /// another reads as not found); the operator's administrator may name
    /// any tenant or see all.
    pub async fn lockbox_accesses(
        &self,
        actor: &Principal,
        tenant: Option<&str>,
    ) -> Result<Vec<AccessInfo>, BastionError> {
        let wanted = match tenant {
            Some(t) => Some(Id::parse(t).ok_or(BastionError::NotFound)?),
            None => None,
        };
        let scope = match &actor.tenant_id {
            Some(own) => {
                if !is_tenant_admin(actor, Some(own)) {
                    return Err(BastionError::Forbidden("only the tenant's customer admin sees its accesses".into()));
                }
                if wanted.as_ref().is_some_and(|w| w != own) {
                    return Err(BastionError::NotFound);
                }
                Some(own.clone())
            }
            None => wanted,
        };
        Ok(self.store().list_lockbox_accesses(scope.as_ref(), 500).await?.iter().map(AccessInfo::from).collect())
    }

    /// Records a session opened on a lockbox target: the `lockbox.access`
    /// event (for the tenant) and the transparency row, before the target
    /// sees the session. `Err` when it cannot be recorded, or the approval
    /// is no longer in force; the session must then not go ahead.
    pub(crate) async fn record_lockbox_access(
        &self,
        session_id: &str,
        user: &UserRow,
        target: &TargetRow,
    ) -> Result<(), BastionError> {
        let Some(tenant) = self.effective_lockbox_tenant(target).await? else { return Ok(()) };
        let tenant = &tenant;
        let now = now_ms();
        let Some(approval) = self.store().lockbox_approval(&user.id, &target.name, tenant, now).await? else {
            return Err(BastionError::Forbidden("no lockbox approval is in force".into()));
        };
        self.audit()
            .record(
                Event::new("lockbox.access", Outcome::Success, &user.username)
                    .object(session_id)
                    .tenant(Some(tenant.clone()))
                    .attr("session", session_id)
                    .attr("target", target.name.as_str())
                    .attr("request", approval.id.as_str())
                    .attr("reason_code", approval.reason_code.as_str())
                    .attr("approved_by", approval.decided_by.as_deref().unwrap_or(""))
                    .attr("valid_until", approval.valid_until.map(rfc3339).unwrap_or_default()),
            )
            .await?;
        self.store().insert_lockbox_access(session_id, tenant, &approval.id, &user.username, &target.name, now).await?;
        Ok(())
    }
}
