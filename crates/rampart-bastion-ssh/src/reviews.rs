//! Command reviews: a line whose red-line verdict is `review` is held, the
//! session pauses, and a reviewer other than the requester approves or
//! denies it through the API before its deadline; otherwise it expires and
//! is refused. Each request, decision and expiry is a ledger event recorded
//! before it takes effect. Reviews live in the database, so a reviewer may
//! answer through any node; the waiting session polls its row.

use std::time::Duration;

use rampart_core::time::{now_ms, rfc3339};
use rampart_core::{Event, Id, Outcome, Principal};
use rampart_store::reviews::{APPROVED, DENIED, EXPIRED, PENDING};
use rampart_store::{ReviewRow, StoreError};
use serde::Serialize;

use crate::{Bastion, BastionError};

/// How often a waiting session looks for the decision.
pub const POLL: Duration = Duration::from_millis(250);
/// Longest comment a reviewer may leave, in bytes.
const MAX_COMMENT: usize = 1024;

/// A review as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewInfo {
    pub id: String,
    pub session_id: String,
    pub requester: String,
    pub target: String,
    pub command: String,
    pub policy: String,
    pub reason: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    pub reviewer: Option<String>,
    pub comment: String,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
}

impl From<&ReviewRow> for ReviewInfo {
    fn from(r: &ReviewRow) -> Self {
        ReviewInfo {
            id: r.id.to_string(),
            session_id: r.session_id.clone(),
            requester: r.requester.clone(),
            target: r.target.clone(),
            command: r.command.clone(),
            policy: r.policy.clone(),
            reason: r.reason.clone(),
            status: r.status.clone(),
            reviewer: r.reviewer.clone(),
            comment: r.comment.clone(),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            decided_at: r.decided_at.map(rfc3339),
        }
    }
}

/// What a held line asks for.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub session_id: String,
    pub requester_id: Id,
    pub requester: String,
    pub target: String,
    pub command: String,
    pub policy: String,
    pub reason: String,
    pub timeout: Duration,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    Approved { reviewer: String },
    Denied { reviewer: String, comment: String },
    Expired,
}

impl Bastion {
    /// Opens a review for a held line; its id.
    pub(crate) async fn open_review(&self, req: ReviewRequest) -> Result<Id, BastionError> {
        let now = now_ms();
        let timeout_ms = i64::try_from(req.timeout.as_millis()).unwrap_or(i64::MAX);
        let row = ReviewRow {
            id: Id::new("rvw"),
            session_id: req.session_id,
            requester_id: req.requester_id,
            requester: req.requester,
            target: req.target,
            command: req.command,
            policy: req.policy,
            reason: req.reason,
            status: PENDING.into(),
            reviewer: None,
            comment: String::new(),
            created_at: now,
            expires_at: now.saturating_add(timeout_ms),
            decided_at: None,
        };
        self.audit()
            .record(
                Event::new("bastion.review.requested", Outcome::Success, &row.requester)
                    .object(row.id.as_str())
                    .attr("session", row.session_id.as_str())
                    .attr("target", row.target.as_str())
                    .attr("command", row.command.as_str())
                    .attr("policy", row.policy.as_str())
                    .attr("expires_at", rfc3339(row.expires_at)),
            )
            .await?;
        self.store().insert_review(&row).await?;
        Ok(row.id)
    }

    /// Waits until the review is decided or its deadline passes; an expiry
    /// is recorded (once, whichever node sees it first).
    pub(crate) async fn await_review(&self, id: &Id) -> Result<ReviewOutcome, BastionError> {
        loop {
            let row = self.store().find_review(id.as_str()).await?;
            match row.status.as_str() {
                APPROVED => return Ok(ReviewOutcome::Approved { reviewer: row.reviewer.unwrap_or_default() }),
                DENIED => {
                    return Ok(ReviewOutcome::Denied {
                        reviewer: row.reviewer.unwrap_or_default(),
                        comment: row.comment,
                    });
                }
                EXPIRED => return Ok(ReviewOutcome::Expired),
                _ if now_ms() >= row.expires_at => {
                    match self.store().decide_review(id.as_str(), EXPIRED, None, "", now_ms()).await {
                        Ok(_) => {
                            let event = Event::new("bastion.review.expired", Outcome::Denied, "system")
                                .object(id.as_str())
                                .attr("session", row.session_id.as_str())
                                .attr("requester", row.requester.as_str());
                            if let Err(e) = self.audit().record(event).await {
                                tracing::error!(error = %e, review = %id, "recording a review's expiry failed");
                            }
                            return Ok(ReviewOutcome::Expired);
                        }
                        // Decided meanwhile: read it again.
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    pub async fn list_reviews(&self, status: Option<&str>) -> Result<Vec<ReviewInfo>, BastionError> {
        if let Some(s) = status
            && ![PENDING, APPROVED, DENIED, EXPIRED].contains(&s)
        {
            return Err(BastionError::Invalid("status must be pending, approved, denied or expired".into()));
        }
        Ok(self.store().list_reviews(status, 500).await?.iter().map(ReviewInfo::from).collect())
    }

    /// A reviewer's decision. The requester cannot decide their own line;
    /// a review that is no longer pending, or past its deadline, is a
    /// conflict and nothing changes.
    pub async fn decide_review(
        &self,
        reviewer: &Principal,
        id: &str,
        approve: bool,
        comment: &str,
        source: Option<String>,
    ) -> Result<ReviewInfo, BastionError> {
        if comment.len() > MAX_COMMENT || comment.chars().any(char::is_control) {
            return Err(BastionError::Invalid(format!(
                "a comment has at most {MAX_COMMENT} bytes and no control characters"
            )));
        }
        let row = self.store().find_review(id).await?;
        if row.requester_id == reviewer.user_id {
            return Err(BastionError::Forbidden(
                "a command cannot be approved or denied by the one who typed it".into(),
            ));
        }
        let now = now_ms();
        if row.status != PENDING || now >= row.expires_at {
            let state = if row.status == PENDING { EXPIRED } else { row.status.as_str() };
            return Err(BastionError::Conflict(format!("the review is {state} already")));
        }
        let (status, kind, outcome) = if approve {
            (APPROVED, "bastion.review.approved", Outcome::Success)
        } else {
            (DENIED, "bastion.review.denied", Outcome::Denied)
        };
        self.audit()
            .record(
                Event::new(kind, outcome, &reviewer.username)
                    .object(row.id.as_str())
                    .source(source)
                    .attr("session", row.session_id.as_str())
                    .attr("requester", row.requester.as_str())
                    .attr("command", row.command.as_str())
                    .attr("comment", comment),
            )
            .await?;
        let decided = self.store().decide_review(id, status, Some(&reviewer.username), comment, now).await?;
        Ok(ReviewInfo::from(&decided))
    }
}
