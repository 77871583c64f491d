//! The ticket service: opening tickets from alerts (or joining the open
//! one with the same de-duplication key), working them, and the SLA job.
//!
//! Every change follows the same steps: read the ticket, decide the change
//! with the pure model (an illegal one is refused and changes nothing),
//! record its audit event durably, then write the ticket with a
//! compare-and-set on its version, in one transaction with its history
//! entry (carrying the event's ledger index) and its notifications. Writes
//! on one node are serialised; between nodes the version check and the
//! unique open de-duplication key decide, and the loser retries (an alert)
//! or gets a conflict (a person).

use std::sync::Arc;

use rampart_core::alert::{Alert, AlertError, AlertSink, Raised, Severity};
use rampart_core::audit::{Audit, AuditError, BoxFuture};
use rampart_core::config::SecopsConfig;
use rampart_core::config::secops::queue_name_ok;
use rampart_core::{Event, Id, Outcome};
use rampart_store::{
    CommentRow, HistoryRow, NewNotification, Page, Store, StoreError, TicketEventRow, TicketFilter, TicketRow,
    TicketWrite,
};

use crate::clock::Clock;
use crate::model::{self, Deadline, Kind, Status};
use crate::notify::Notifier;

/// The longest title, rule id, group key, queue or assignee name we store.
const MAX_TEXT: usize = 512;
/// The longest description, comment or resolution.
const MAX_BODY: usize = 16 * 1024;
/// Events one alert may carry.
const MAX_ALERT_EVENTS: usize = 10_000;
/// Attempts of one alert against concurrent writers on other nodes; after
/// a lost compare-and-set the next attempt waits a random few milliseconds
/// (growing with each loss) so that two nodes stop colliding.
const RAISE_ATTEMPTS: u32 = 32;

/// Why a ticket operation failed. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such ticket")]
    NotFound,
    #[error("a ticket that is {from} cannot become {to}; from {from} it can become: {allowed}")]
    IllegalTransition { from: Status, to: Status, allowed: String },
    #[error("the ticket was changed at the same time; read it again and retry")]
    Conflict,
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("ticket storage failed: {0}")]
    Store(StoreError),
}

impl From<StoreError> for TicketError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => TicketError::NotFound,
            StoreError::Conflict(_) => TicketError::Conflict,
            other => TicketError::Store(other),
        }
    }
}

/// Who is acting: a person through the API, or `system` for the jobs.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    /// `Some` confines the actor to one tenant's tickets.
    pub tenant: Option<Id>,
    pub source_addr: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Actor { name: "system".into(), tenant: None, source_addr: None }
    }

    fn may_see(&self, ticket: &TicketRow) -> bool {
        match (&self.tenant, &ticket.tenant_id) {
            (None, _) => true,
            (Some(own), Some(t)) => own == t,
            (Some(_), None) => false,
        }
    }
}

/// A ticket with everything attached to it.
#[derive(Debug, Clone)]
pub struct TicketDetail {
    pub ticket: TicketRow,
    pub events: Vec<TicketEventRow>,
    pub comments: Vec<CommentRow>,
    pub history: Vec<HistoryRow>,
}

/// The desk; cheap to clone.
#[derive(Debug, Clone)]
pub struct TicketService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    audit: Audit,
    config: SecopsConfig,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    /// Serialises this node's writes, so compare-and-set conflicts (and the
    /// extra audit records they would cost) come only from other nodes.
    writing: tokio::sync::Mutex<()>,
}

/// One change to a ticket, decided and ready to record and write.
struct Change {
    kind: &'static str,
    attrs: serde_json::Value,
    ticket: TicketRow,
    events: Vec<TicketEventRow>,
    comment: Option<CommentRow>,
    notifications: Vec<NewNotification>,
}

impl TicketService {
    pub fn new(store: Store, audit: Audit, config: SecopsConfig, notifier: Notifier, clock: Arc<dyn Clock>) -> Self {
        TicketService {
            inner: Arc::new(Inner { store, audit, config, notifier, clock, writing: tokio::sync::Mutex::new(()) }),
        }
    }

    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    pub fn config(&self) -> &SecopsConfig {
        &self.inner.config
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Opens a ticket for `alert`, or adds it to the open ticket with the
    /// same de-duplication key (and tenant) opened within the window.
    pub async fn raise_alert(&self, alert: &Alert) -> Result<Raised, TicketError> {
        let started = std::time::Instant::now();
        let raised = self.raise_inner(alert).await;
        if let Ok(r) = &raised {
            metrics::counter!("rampart_alerts_total", "outcome" => if r.joined { "joined" } else { "opened" })
                .increment(1);
            metrics::histogram!("rampart_alert_to_ticket_seconds").record(started.elapsed().as_secs_f64());
        }
        raised
    }

    async fn raise_inner(&self, alert: &Alert) -> Result<Raised, TicketError> {
        check_alert(alert)?;
        let key = joinable_key(alert);
        let _writing = self.inner.writing.lock().await;
        for attempt in 0..RAISE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(jitter(attempt)).await;
            }
            let now = self.now();
            let window = i64::try_from(self.inner.config.dedup_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            let open = self.inner.store.find_joinable_ticket(&key).await?;
            let result = match open {
                Some(t) if now.saturating_sub(t.created_at) < window => self.join(t, alert, now).await,
                stale => self.open(alert, &key, stale.map(|t| t.id), now).await,
            };
            match result {
                Err(TicketError::Conflict) => continue,
                other => return other,
            }
        }
        Err(TicketError::Conflict)
    }

    async fn open(&self, alert: &Alert, key: &str, supersede: Option<Id>, now: i64) -> Result<Raised, TicketError> {
        let cfg = &self.inner.config;
        let (ack_due, resolve_due) = model::deadlines(&cfg.sla, alert.severity, now);
        let t = TicketRow {
            id: Id::new("tkt"),
            kind: Kind::Alarm.as_str().into(),
            title: alert.rule_title.clone(),
            severity: alert.severity.as_str().into(),
            status: Status::New.as_str().into(),
            queue: cfg.default_queue.clone(),
            assignee: None,
            tenant_id: alert.tenant_id.clone(),
            rule_id: Some(alert.rule_id.clone()),
            pack: Some(alert.pack.clone()),
            dedup_key: Some(alert.dedup_key()),
            dedup_open: Some(key.to_owned()),
            description: alert.description.clone(),
            tags: serde_json::to_string(&alert.tags).unwrap_or_else(|_| "[]".into()),
            event_count: alert_count(alert),
            first_seen_ms: alert.first_seen_ms,
            last_seen_ms: alert.last_seen_ms,
            ack_due_ms: ack_due,
            resolve_due_ms: resolve_due,
            ack_missed_ms: None,
            resolve_missed_ms: None,
            acknowledged_at: None,
            resolved_at: None,
            resolution: None,
            last_notified_ms: Some(now),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let attrs = serde_json::json!({
            "rule_id": alert.rule_id, "pack": alert.pack, "group_key": alert.group_key,
            "severity": alert.severity.as_str(), "event_count": t.event_count,
            "ledger_indexes": alert.events.iter().map(|e| e.ledger_index).collect::<Vec<_>>(),
            "superseded": supersede.as_ref().map(Id::as_str),
        });
        let notifications = self.inner.notifier.for_ticket("ticket.opened", &t, Some(alert), true, now);
        let change = Change {
            kind: "ticket.opened",
            attrs,
            ticket: t,
            events: alert_events(alert),
            comment: None,
            notifications,
        };
        let id = change.ticket.id.clone();
        self.apply(&Actor::system(), change, None, supersede.as_ref()).await?;
        Ok(Raised { ticket_id: id, joined: false })
    }

    async fn join(&self, old: TicketRow, alert: &Alert, now: i64) -> Result<Raised, TicketError> {
        let mut t = old.clone();
        t.event_count = t.event_count.saturating_add(alert_count(alert));
        t.first_seen_ms = t.first_seen_ms.min(alert.first_seen_ms);
        t.last_seen_ms = t.last_seen_ms.max(alert.last_seen_ms);
        let severity = severity_of(&t).max(alert.severity);
        t.severity = severity.as_str().into();
        // Joins are announced at most once per interval; syslog forwarding
        // carries every alert.
        let interval = i64::try_from(self.inner.config.join_notify_interval_secs.saturating_mul(1000)).unwrap_or(0);
        let announce = t.last_notified_ms.is_none_or(|last| now.saturating_sub(last) >= interval);
        if announce {
            t.last_notified_ms = Some(now);
        }
        let notifications = self.inner.notifier.for_ticket("ticket.joined", &t, Some(alert), announce, now);
        let attrs = serde_json::json!({
            "rule_id": alert.rule_id, "group_key": alert.group_key, "added": alert_count(alert),
            "event_count": t.event_count,
            "ledger_indexes": alert.events.iter().map(|e| e.ledger_index).collect::<Vec<_>>(),
        });
        let change = Change {
            kind: "ticket.joined",
            attrs,
            ticket: t,
            events: alert_events(alert),
            comment: None,
            notifications,
        };
        let id = old.id.clone();
        self.apply(&Actor::system(), change, Some(&old), None).await?;
        Ok(Raised { ticket_id: id, joined: true })
    }

    /// Records the change's event, then writes it (insert when `old` is
    /// `None`), and wakes the notification worker.
    async fn apply(
        &self,
        actor: &Actor,
        change: Change,
        old: Option<&TicketRow>,
        supersede: Option<&Id>,
    ) -> Result<TicketRow, TicketError> {
        let mut t = change.ticket;
        let now = self.now();
        let event = Event::new(change.kind, Outcome::Success, actor.name.clone())
            .object(t.id.as_str())
            .tenant(t.tenant_id.clone())
            .source(actor.source_addr.clone())
            .attr("ticket", change.attrs);
        let position = self.inner.audit.record(event).await?;
        let history = HistoryRow {
            time_ms: now,
            actor: actor.name.clone(),
            action: change.kind.into(),
            detail: history_detail(old, &t, change.kind),
            ledger_index: i64::try_from(position).ok(),
        };
        let write = TicketWrite {
            events: &change.events,
            keep_events: self.inner.config.keep_events,
            history: Some(&history),
            comment: change.comment.as_ref(),
            notifications: &change.notifications,
        };
        match old {
            None => self.inner.store.insert_ticket(&t, &write, supersede).await?,
            Some(old) => {
                t.version = old.version + 1;
                t.updated_at = now;
                self.inner.store.update_ticket(&t, old.version, &write).await?;
            }
        }
        if !change.notifications.is_empty() {
            self.inner.notifier.wake();
        }
        Ok(t)
    }

    /// A ticket the actor may see (others read as not found).
    pub async fn get(&self, actor: &Actor, id: &str) -> Result<TicketRow, TicketError> {
        let id = Id::parse(id).ok_or(TicketError::NotFound)?;
        let t = self.inner.store.get_ticket(&id).await?;
        if !actor.may_see(&t) {
            return Err(TicketError::NotFound);
        }
        Ok(t)
    }

    pub async fn detail(&self, actor: &Actor, id: &str) -> Result<TicketDetail, TicketError> {
        let ticket = self.get(actor, id).await?;
        let store = &self.inner.store;
        Ok(TicketDetail {
            events: store.ticket_events(&ticket.id).await?,
            comments: store.ticket_comments(&ticket.id).await?,
            history: store.ticket_history(&ticket.id).await?,
            ticket,
        })
    }

    /// Tickets matching `filter` that the actor may see, newest first.
    pub async fn list(
        &self,
        actor: &Actor,
        mut filter: TicketFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketRow>, TicketError> {
        if let Some(s) = &filter.status {
            s.parse::<Status>().map_err(|e| TicketError::Invalid(e.to_string()))?;
        }
        if let Some(s) = &filter.severity {
            model::parse_severity(s).map_err(|e| TicketError::Invalid(e.to_string()))?;
        }
        if let Some(k) = &filter.kind {
            k.parse::<Kind>().map_err(|e| TicketError::Invalid(e.to_string()))?;
        }
        if let Some(a) = after
            && Id::parse(a).is_none()
        {
            return Err(TicketError::Invalid("after must be the next cursor of a previous page".into()));
        }
        if let Some(own) = &actor.tenant {
            filter.tenant_id = Some(own.clone());
        }
        Ok(self.inner.store.list_tickets(&filter, after, limit).await?)
    }

    /// Moves a ticket to `to`, which must be legal from where it is.
    /// Resolving or marking a false positive needs a resolution.
    pub async fn set_status(
        &self,
        actor: &Actor,
        id: &str,
        to: Status,
        resolution: Option<String>,
    ) -> Result<TicketRow, TicketError> {
        let resolution = resolution.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if let Some(r) = &resolution {
            check_body("resolution", r)?;
        }
        if to.needs_resolution() && resolution.is_none() {
            return Err(TicketError::Invalid(format!("a ticket becomes {to} only with a resolution")));
        }
        let _writing = self.inner.writing.lock().await;
        let old = self.get(actor, id).await?;
        let from = status_of(&old)?;
        if !from.can_move_to(to) {
            let allowed = from.next().iter().map(|s| s.as_str()).collect::<Vec<_>>();
            let allowed = if allowed.is_empty() { "nothing (final)".to_owned() } else { allowed.join(", ") };
            return Err(TicketError::IllegalTransition { from, to, allowed });
        }
        let now = self.now();
        let mut t = old.clone();
        t.status = to.as_str().into();
        match to {
            Status::Acknowledged | Status::InProgress => {
                t.acknowledged_at = t.acknowledged_at.or(Some(now));
                if from == Status::Resolved || from == Status::FalsePositive {
                    t.resolved_at = None;
                    t.resolution = None;
                }
            }
            Status::Resolved | Status::FalsePositive => {
                t.acknowledged_at = t.acknowledged_at.or(Some(now));
                t.resolved_at = Some(now);
                t.resolution = resolution.clone();
                t.dedup_open = None;
            }
            Status::Closed => {
                t.resolved_at = t.resolved_at.or(Some(now));
                if resolution.is_some() {
                    t.resolution = resolution.clone();
                }
                t.dedup_open = None;
            }
            Status::New => {}
        }
        let kind = match to {
            Status::Acknowledged => "ticket.acknowledged",
            Status::Resolved => "ticket.resolved",
            _ => "ticket.status_changed",
        };
        let notifications = self.inner.notifier.for_ticket(kind, &t, None, true, now);
        let attrs = serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "resolution": resolution });
        let change = Change { kind, attrs, ticket: t, events: vec![], comment: None, notifications };
        self.apply(actor, change, Some(&old), None).await
    }

    /// Acknowledges a new ticket.
    pub async fn acknowledge(&self, actor: &Actor, id: &str) -> Result<TicketRow, TicketError> {
        self.set_status(actor, id, Status::Acknowledged, None).await
    }

    /// Resolves a ticket with what was found and done.
    pub async fn resolve(&self, actor: &Actor, id: &str, resolution: String) -> Result<TicketRow, TicketError> {
        self.set_status(actor, id, Status::Resolved, Some(resolution)).await
    }

    /// Assigns a ticket to a user (who must exist and be enabled), or
    /// unassigns it with `None`; optionally moves it to another queue.
    pub async fn assign(
        &self,
        actor: &Actor,
        id: &str,
        assignee: Option<String>,
        queue: Option<String>,
    ) -> Result<TicketRow, TicketError> {
        if let Some(name) = &assignee {
            match self.inner.store.find_user_by_name(name).await? {
                Some(u) if u.disabled_at.is_none() && !u.role.is_customer() => {}
                _ => return Err(TicketError::Invalid(format!("no operator user named {name:?} can take tickets"))),
            }
        }
        if let Some(q) = &queue
            && !queue_name_ok(q)
        {
            return Err(TicketError::Invalid("queue must be 1 to 64 of a-z 0-9 - _ .".into()));
        }
        let _writing = self.inner.writing.lock().await;
        let old = self.get(actor, id).await?;
        if status_of(&old)? == Status::Closed {
            return Err(TicketError::Invalid("a closed ticket is final; it cannot be reassigned".into()));
        }
        let mut t = old.clone();
        t.assignee = assignee.clone();
        if let Some(q) = &queue {
            t.queue = q.clone();
        }
        if t == old {
            return Ok(old);
        }
        let now = self.now();
        let notifications = self.inner.notifier.for_ticket("ticket.assigned", &t, None, true, now);
        let attrs = serde_json::json!({
            "from": old.assignee, "to": assignee, "queue_from": old.queue, "queue": t.queue,
        });
        let change = Change { kind: "ticket.assigned", attrs, ticket: t, events: vec![], comment: None, notifications };
        self.apply(actor, change, Some(&old), None).await
    }

    /// Adds a comment.
    pub async fn comment(&self, actor: &Actor, id: &str, body: &str) -> Result<CommentRow, TicketError> {
        let body = body.trim();
        if body.is_empty() {
            return Err(TicketError::Invalid("a comment needs a body".into()));
        }
        check_body("comment", body)?;
        let _writing = self.inner.writing.lock().await;
        let old = self.get(actor, id).await?;
        let now = self.now();
        let comment = CommentRow {
            id: Id::new("cmt"),
            ticket_id: old.id.clone(),
            author: actor.name.clone(),
            body: body.into(),
            created_at: now,
        };
        let attrs = serde_json::json!({ "comment_id": comment.id.as_str(), "bytes": body.len() });
        let change = Change {
            kind: "ticket.commented",
            attrs,
            ticket: old.clone(),
            events: vec![],
            comment: Some(comment.clone()),
            notifications: vec![],
        };
        self.apply(actor, change, Some(&old), None).await?;
        Ok(comment)
    }

    /// Finds missed acknowledge and resolve deadlines and records each
    /// once (`ticket.sla_missed`), escalating per configuration and
    /// notifying. Returns how many deadlines it recorded.
    pub async fn check_sla(&self) -> Result<usize, TicketError> {
        let now = self.now();
        let mut done = 0;
        let acks = self.inner.store.tickets_missing_ack(now, 500).await?;
        for t in acks {
            done += usize::from(self.missed(t, Deadline::Acknowledge, now).await?);
        }
        let resolves = self.inner.store.tickets_missing_resolve(now, 500).await?;
        for t in resolves {
            done += usize::from(self.missed(t, Deadline::Resolve, now).await?);
        }
        Ok(done)
    }

    async fn missed(&self, seen: TicketRow, deadline: Deadline, now: i64) -> Result<bool, TicketError> {
        let _writing = self.inner.writing.lock().await;
        // Read again under the lock: a person may have acknowledged it.
        let old = self.inner.store.get_ticket(&seen.id).await?;
        let status = status_of(&old)?;
        let still_missed = match deadline {
            Deadline::Acknowledge => {
                old.ack_missed_ms.is_none() && old.acknowledged_at.is_none() && status == Status::New
            }
            Deadline::Resolve => old.resolve_missed_ms.is_none() && status.is_open(),
        };
        if !still_missed {
            return Ok(false);
        }
        let cfg = &self.inner.config;
        let mut t = old.clone();
        let due = match deadline {
            Deadline::Acknowledge => {
                t.ack_missed_ms = Some(now);
                old.ack_due_ms
            }
            Deadline::Resolve => {
                t.resolve_missed_ms = Some(now);
                old.resolve_due_ms
            }
        };
        let from = severity_of(&old);
        if cfg.escalate_severity {
            t.severity = model::escalated(from).as_str().into();
        }
        if let Some(q) = &cfg.escalation_queue {
            t.queue = q.clone();
        }
        let notifications = self.inner.notifier.for_ticket("ticket.escalated", &t, None, true, now);
        let attrs = serde_json::json!({
            "deadline": deadline.as_str(), "due": due, "severity_from": from.as_str(), "severity": t.severity,
            "queue_from": old.queue, "queue": t.queue,
        });
        let change =
            Change { kind: "ticket.sla_missed", attrs, ticket: t, events: vec![], comment: None, notifications };
        match self.apply(&Actor::system(), change, Some(&old), None).await {
            Ok(_) => Ok(true),
            // Another node recorded it first.
            Err(TicketError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs [`Self::check_sla`] every `secops.sla_check_secs` until the
    /// task is dropped.
    pub fn spawn_sla_job(&self) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let every = std::time::Duration::from_secs(service.inner.config.sla_check_secs);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match service.check_sla().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(deadlines = n, "tickets missed their SLA deadline and were escalated"),
                    Err(e) => tracing::error!(error = %e, "the SLA check failed; it runs again"),
                }
            }
        })
    }
}

/// The service takes alerts from the detection stage.
impl AlertSink for TicketService {
    fn raise<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Raised, AlertError>> {
        Box::pin(async move {
            self.raise_alert(alert).await.map_err(|e| match e {
                TicketError::Invalid(m) => AlertError::Refused(m),
                other => AlertError::Unavailable(other.to_string()),
            })
        })
    }
}

/// A random wait of up to `2 × attempt` milliseconds (at most 50).
fn jitter(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let bound = (2 * attempt).clamp(1, 50);
    std::time::Duration::from_millis(u64::from(nanos % bound + 1))
}

/// The key open tickets are found by: the tenant, then the alert's own key.
fn joinable_key(alert: &Alert) -> String {
    format!("{}|{}", alert.tenant_id.as_ref().map_or("-", Id::as_str), alert.dedup_key())
}

fn alert_count(alert: &Alert) -> i64 {
    let n = alert.event_count.max(alert.events.len() as u64).max(1);
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn alert_events(alert: &Alert) -> Vec<TicketEventRow> {
    alert
        .events
        .iter()
        .filter_map(|e| {
            Some(TicketEventRow {
                ledger_index: i64::try_from(e.ledger_index).ok()?,
                time_ms: e.time_ms,
                kind: e.kind.clone(),
            })
        })
        .collect()
}

/// Bad alerts are refused whole, with the reason.
fn check_alert(alert: &Alert) -> Result<(), TicketError> {
    let bad = |m: &str| Err(TicketError::Invalid(format!("alert refused: {m}")));
    if alert.rule_id.trim().is_empty() || alert.rule_title.trim().is_empty() {
        return bad("rule_id and rule_title are required");
    }
    for (what, v) in [
        ("rule_id", &alert.rule_id),
        ("rule_title", &alert.rule_title),
        ("pack", &alert.pack),
        ("group_key", &alert.group_key),
    ] {
        if v.len() > MAX_TEXT || v.chars().any(char::is_control) {
            return bad(&format!("{what} must be at most {MAX_TEXT} bytes without control characters"));
        }
    }
    if alert.description.len() > MAX_BODY || alert.tags.len() > 256 || alert.tags.iter().any(|t| t.len() > MAX_TEXT) {
        return bad("description, tags too long");
    }
    if alert.events.len() > MAX_ALERT_EVENTS {
        return bad(&format!("at most {MAX_ALERT_EVENTS} events per alert"));
    }
    if alert.first_seen_ms > alert.last_seen_ms {
        return bad("first_seen_ms is after last_seen_ms");
    }
    Ok(())
}

fn check_body(what: &str, text: &str) -> Result<(), TicketError> {
    if text.len() > MAX_BODY {
        return Err(TicketError::Invalid(format!("{what} must be at most {MAX_BODY} bytes")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(TicketError::Invalid(format!("{what} must not contain control characters")));
    }
    Ok(())
}

fn status_of(t: &TicketRow) -> Result<Status, TicketError> {
    t.status.parse().map_err(|_| TicketError::Store(StoreError::Corrupt(format!("tickets.status {:?}", t.status))))
}

/// A stored severity; an unknown one (a newer node's) reads as medium.
pub fn severity_of(t: &TicketRow) -> Severity {
    Severity::parse(&t.severity).unwrap_or(Severity::Medium)
}

/// What the history shows of a change: the fields that changed.
fn history_detail(old: Option<&TicketRow>, new: &TicketRow, kind: &str) -> serde_json::Value {
    let Some(old) = old else {
        return serde_json::json!({ "status": new.status, "severity": new.severity, "queue": new.queue,
            "event_count": new.event_count });
    };
    let mut d = serde_json::Map::new();
    let mut diff = |name: &str, a: serde_json::Value, b: serde_json::Value| {
        if a != b {
            d.insert(name.into(), serde_json::json!({ "from": a, "to": b }));
        }
    };
    diff("status", old.status.clone().into(), new.status.clone().into());
    diff("severity", old.severity.clone().into(), new.severity.clone().into());
    diff("queue", old.queue.clone().into(), new.queue.clone().into());
    diff("assignee", old.assignee.clone().into(), new.assignee.clone().into());
    diff("event_count", old.event_count.into(), new.event_count.into());
    diff("resolution", old.resolution.clone().into(), new.resolution.clone().into());
    if kind == "ticket.sla_missed" {
        d.insert("escalated".into(), true.into());
    }
    serde_json::Value::Object(d)
}
