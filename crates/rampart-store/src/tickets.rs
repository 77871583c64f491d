//! Tickets of the security operations desk, their events, comments and
//! history, and the notification outbox written beside them.
//!
//! Every change is one transaction that checks the ticket's `version`
//! (compare-and-set) and writes the ticket, its new events, its history
//! entry and the notifications announcing it together: a change is either
//! wholly there, with its notifications queued, or not at all. The unique
//! `dedup_open` column keeps one joinable ticket per de-duplication key.
//! What a ticket means (statuses, transitions, SLA) is `rampart-secops`'s
//! business; this module only stores and fetches.

use rampart_core::Id;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Page, Result, Store, StoreError};

const COLUMNS: &str = "id, kind, title, severity, status, queue, assignee, tenant_id, rule_id, pack, dedup_key, \
     dedup_open, description, tags, event_count, first_seen_ms, last_seen_ms, ack_due_ms, resolve_due_ms, \
     ack_missed_ms, resolve_missed_ms, acknowledged_at, resolved_at, resolution, last_notified_ms, version, \
     created_at, updated_at";

/// One ticket, as stored. Enumerations (kind, severity, status) are their
/// snake_case names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRow {
    pub id: Id,
    pub kind: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub queue: String,
    pub assignee: Option<String>,
    pub tenant_id: Option<Id>,
    pub rule_id: Option<String>,
    pub pack: Option<String>,
    pub dedup_key: Option<String>,
    /// The key under which alerts still join this ticket, or `None`.
    pub dedup_open: Option<String>,
    pub description: String,
    /// JSON array of tags.
    pub tags: String,
    pub event_count: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub ack_due_ms: Option<i64>,
    pub resolve_due_ms: Option<i64>,
    pub ack_missed_ms: Option<i64>,
    pub resolve_missed_ms: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
    /// When the last rate-limited notification (a join) went out.
    pub last_notified_ms: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One event of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEventRow {
    pub ledger_index: i64,
    pub time_ms: i64,
    pub kind: String,
}

/// One comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRow {
    pub id: Id,
    pub ticket_id: Id,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

/// One entry of a ticket's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub time_ms: i64,
    pub actor: String,
    /// The audit event kind, e.g. `ticket.acknowledged`.
    pub action: String,
    pub detail: serde_json::Value,
    /// The ledger index of the audit event that recorded the change.
    pub ledger_index: Option<i64>,
}

/// A notification to queue with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub id: Id,
    pub ticket_id: Option<Id>,
    /// What it announces, e.g. `ticket.opened`.
    pub event: String,
    /// `webhook`, `email` or `syslog`.
    pub channel: String,
    /// The endpoint's configured name.
    pub target: String,
    pub payload: String,
}

/// A queued notification, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub id: Id,
    pub ticket_id: Option<Id>,
    pub event: String,
    pub channel: String,
    pub target: String,
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

/// Everything one ticket change writes besides the ticket itself.
#[derive(Debug, Clone, Default)]
pub struct TicketWrite<'a> {
    pub events: &'a [TicketEventRow],
    /// Keep the first and the latest this many events.
    pub keep_events: usize,
    pub history: Option<&'a HistoryRow>,
    pub comment: Option<&'a CommentRow>,
    pub notifications: &'a [NewNotification],
}

/// Which tickets to list; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub queue: Option<String>,
    pub assignee: Option<String>,
    pub kind: Option<String>,
    /// Only this tenant's tickets (the confinement of customer roles).
    pub tenant_id: Option<Id>,
}

fn ticket(r: &AnyRow) -> Result<TicketRow> {
    Ok(TicketRow {
        id: Id::from_trusted(r.try_get("id")?),
        kind: r.try_get("kind")?,
        title: r.try_get("title")?,
        severity: r.try_get("severity")?,
        status: r.try_get("status")?,
        queue: r.try_get("queue")?,
        assignee: r.try_get("assignee")?,
        tenant_id: r.try_get::<Option<String>, _>("tenant_id")?.map(Id::from_trusted),
        rule_id: r.try_get("rule_id")?,
        pack: r.try_get("pack")?,
        dedup_key: r.try_get("dedup_key")?,
        dedup_open: r.try_get("dedup_open")?,
        description: r.try_get("description")?,
        tags: r.try_get("tags")?,
        event_count: r.try_get("event_count")?,
        first_seen_ms: r.try_get("first_seen_ms")?,
        last_seen_ms: r.try_get("last_seen_ms")?,
        ack_due_ms: r.try_get("ack_due_ms")?,
        resolve_due_ms: r.try_get("resolve_due_ms")?,
        ack_missed_ms: r.try_get("ack_missed_ms")?,
        resolve_missed_ms: r.try_get("resolve_missed_ms")?,
        acknowledged_at: r.try_get("acknowledged_at")?,
        resolved_at: r.try_get("resolved_at")?,
        resolution: r.try_get("resolution")?,
        last_notified_ms: r.try_get("last_notified_ms")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const NOTIFICATION_COLUMNS: &str = "id, ticket_id, event, channel, target, payload, status, attempts, \
     next_attempt_ms, last_error, created_at, updated_at, delivered_at";

fn notification(r: &AnyRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        id: Id::from_trusted(r.try_get("id")?),
        ticket_id: r.try_get::<Option<String>, _>("ticket_id")?.map(Id::from_trusted),
        event: r.try_get("event")?,
        channel: r.try_get("channel")?,
        target: r.try_get("target")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_ms: r.try_get("next_attempt_ms")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

impl Store {
    /// Inserts a new ticket with what comes with it. When `supersede` names
    /// an older ticket (one whose de-duplication window has passed), its
    /// `dedup_open` is cleared in the same transaction, if it still holds
    /// the key. A second joinable ticket for one key is a `Conflict`.
    pub async fn insert_ticket(&self, t: &TicketRow, w: &TicketWrite<'_>, supersede: Option<&Id>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let (Some(old), Some(key)) = (supersede, &t.dedup_open) {
            sqlx::query("UPDATE tickets SET dedup_open = NULL WHERE id = $1 AND dedup_open = $2")
                .bind(old.as_str())
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(&format!(
            "INSERT INTO tickets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
        ))
        .bind(t.id.as_str())
        .bind(&t.kind)
        .bind(&t.title)
        .bind(&t.severity)
        .bind(&t.status)
        .bind(&t.queue)
        .bind(t.assignee.clone())
        .bind(t.tenant_id.as_ref().map(|i| i.as_str().to_owned()))
        .bind(t.rule_id.clone())
        .bind(t.pack.clone())
        .bind(t.dedup_key.clone())
        .bind(t.dedup_open.clone())
        .bind(&t.description)
        .bind(&t.tags)
        .bind(t.event_count)
        .bind(t.first_seen_ms)
        .bind(t.last_seen_ms)
        .bind(t.ack_due_ms)
        .bind(t.resolve_due_ms)
        .bind(t.ack_missed_ms)
        .bind(t.resolve_missed_ms)
        .bind(t.acknowledged_at)
        .bind(t.resolved_at)
        .bind(t.resolution.clone())
        .bind(t.last_notified_ms)
        .bind(t.version)
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(&mut *tx)
        .await?;
        write_extras(&mut tx, &t.id, w, t.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the mutable fields of a ticket with `t`'s if its stored
    /// version is still `expected_version` (`t.version` is the new one),
    /// with what comes with the change. A ticket changed in between is a
    /// `Conflict` and nothing is written; a missing one `NotFound`.
    pub async fn update_ticket(&self, t: &TicketRow, expected_version: i64, w: &TicketWrite<'_>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tickets SET title = $1, severity = $2, status = $3, queue = $4, assignee = $5, dedup_open = $6, \
             event_count = $7, first_seen_ms = $8, last_seen_ms = $9, ack_missed_ms = $10, resolve_missed_ms = $11, \
             acknowledged_at = $12, resolved_at = $13, resolution = $14, last_notified_ms = $15, version = $16, \
             updated_at = $17, description = $18 WHERE id = $19 AND version = $20",
        )
        .bind(&t.title)
        .bind(&t.severity)
        .bind(&t.status)
        .bind(&t.queue)
        .bind(t.assignee.clone())
        .bind(t.dedup_open.clone())
        .bind(t.event_count)
        .bind(t.first_seen_ms)
        .bind(t.last_seen_ms)
        .bind(t.ack_missed_ms)
        .bind(t.resolve_missed_ms)
        .bind(t.acknowledged_at)
        .bind(t.resolved_at)
        .bind(t.resolution.clone())
        .bind(t.last_notified_ms)
        .bind(t.version)
        .bind(t.updated_at)
        .bind(&t.description)
        .bind(t.id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 AS one FROM tickets WHERE id = $1")
                .bind(t.id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            return Err(if exists { StoreError::Conflict("ticket version".into()) } else { StoreError::NotFound });
        }
        write_extras(&mut tx, &t.id, w, t.updated_at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn get_ticket(&self, id: &Id) -> Result<TicketRow> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        ticket(&row)
    }

    /// The ticket that alerts with this (tenant-qualified) key join, if any.
    pub async fn find_joinable_ticket(&self, dedup_open: &str) -> Result<Option<TicketRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tickets WHERE dedup_open = $1"))
            .bind(dedup_open)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket).transpose()
    }

    /// Tickets matching `filter`, newest first, after the cursor (the last
    /// id of the previous page). Each filter walks its own index.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketRow>> {
        // Fixed fragments only; every value is a bound parameter.
        let mut sql = format!("SELECT {COLUMNS} FROM tickets WHERE 1 = 1");
        let mut values: Vec<String> = Vec::new();
        let tenant = filter.tenant_id.as_ref().map(|t| t.as_str().to_owned());
        for (column, value) in [
            ("status", &filter.status),
            ("severity", &filter.severity),
            ("queue", &filter.queue),
            ("assignee", &filter.assignee),
            ("kind", &filter.kind),
            ("tenant_id", &tenant),
        ] {
            if let Some(v) = value {
                values.push(v.clone());
                sql.push_str(&format!(" AND {column} = ${}", values.len()));
            }
        }
        if let Some(a) = after {
            values.push(a.to_owned());
            sql.push_str(&format!(" AND id < ${}", values.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", values.len() + 1));
        let mut query = sqlx::query(&sql);
        for v in &values {
            query = query.bind(v.as_str());
        }
        let rows = query.bind(i64::try_from(limit + 1).unwrap_or(i64::MAX)).fetch_all(&self.pool).await?;
        let rows = rows.iter().map(ticket).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |t| t.id.to_string()))
    }

    /// A ticket's kept events, oldest first.
    pub async fn ticket_events(&self, id: &Id) -> Result<Vec<TicketEventRow>> {
        let rows = sqlx::query(
            "SELECT ledger_index, time_ms, kind FROM ticket_events WHERE ticket_id = $1 ORDER BY seq LIMIT 100000",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketEventRow {
                    ledger_index: r.try_get("ledger_index")?,
                    time_ms: r.try_get("time_ms")?,
                    kind: r.try_get("kind")?,
                })
            })
            .collect()
    }

    /// A ticket's comments, oldest first.
    pub async fn ticket_comments(&self, id: &Id) -> Result<Vec<CommentRow>> {
        let rows = sqlx::query(
            "SELECT id, ticket_id, author, body, created_at FROM ticket_comments WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CommentRow {
                    id: Id::from_trusted(r.try_get("id")?),
                    ticket_id: Id::from_trusted(r.try_get("ticket_id")?),
                    author: r.try_get("author")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// A ticket's history, oldest first.
    pub async fn ticket_history(&self, id: &Id) -> Result<Vec<HistoryRow>> {
        let rows = sqlx::query(
            "SELECT time_ms, actor, action, detail, ledger_index FROM ticket_history WHERE ticket_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(HistoryRow {
                    time_ms: r.try_get("time_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    ledger_index: r.try_get("ledger_index")?,
                })
            })
            .collect()
    }

    /// Open tickets whose acknowledge deadline passed before `now` without
    /// an acknowledgement and whose miss is not recorded yet.
    pub async fn tickets_missing_ack(&self, now: i64, limit: usize) -> Result<Vec<TicketRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tickets WHERE ack_due_ms < $1 AND ack_missed_ms IS NULL \
             AND acknowledged_at IS NULL AND status = 'new' ORDER BY ack_due_ms LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket).collect()
    }

    /// Unresolved tickets whose resolve deadline passed before `now` and
    /// whose miss is not recorded yet.
    pub async fn tickets_missing_resolve(&self, now: i64, limit: usize) -> Result<Vec<TicketRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tickets WHERE resolve_due_ms < $1 AND resolve_missed_ms IS NULL \
             AND status IN ('new', 'acknowledged', 'in_progress') ORDER BY resolve_due_ms LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ticket).collect()
    }

    pub async fn count_tickets(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tickets").fetch_one(&self.pool).await?.try_get("n")?)
    }

    // ---- the notification outbox ----

    /// Queues notifications on their own (not tied to a ticket change).
    pub async fn enqueue_notifications(&self, notes: &[NewNotification], now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_notifications(&mut tx, notes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Leases up to `limit` pending notifications that are due at `now` to
    /// this caller until `lease_until`: a compare-and-set per row, so two
    /// workers (on two nodes) never hold one notification at once.
    pub async fn claim_notifications(&self, now: i64, lease_until: i64, limit: usize) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE status = 'pending' AND next_attempt_ms <= $1 \
             AND (lease_until IS NULL OR lease_until <= $1) ORDER BY next_attempt_ms, id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for r in rows.iter().map(notification) {
            let n = r?;
            let done = sqlx::query(
                "UPDATE notifications SET lease_until = $1 WHERE id = $2 AND status = 'pending' \
                 AND (lease_until IS NULL OR lease_until <= $3)",
            )
            .bind(lease_until)
            .bind(n.id.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(n);
            }
        }
        Ok(claimed)
    }

    /// Marks a notification delivered.
    pub async fn notification_delivered(&self, id: &Id, attempts: i64, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE notifications SET status = 'delivered', attempts = $1, lease_until = NULL, last_error = NULL, \
             delivered_at = $2, updated_at = $2 WHERE id = $3 AND status = 'pending'",
        )
        .bind(attempts)
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `next_attempt_ms`, or, with
    /// `dead`, moved to the dead-letter list.
    pub async fn notification_failed(
        &self,
        id: &Id,
        attempts: i64,
        error: &str,
        next_attempt_ms: i64,
        dead: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE notifications SET status = $1, attempts = $2, last_error = $3, next_attempt_ms = $4, \
             lease_until = NULL, updated_at = $5 WHERE id = $6 AND status = 'pending'",
        )
        .bind(if dead { "dead" } else { "pending" })
        .bind(attempts)
        .bind(error)
        .bind(next_attempt_ms)
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Puts a dead letter back in the queue, due now, with its attempts
    /// reset. `NotFound` unless it is on the dead-letter list.
    pub async fn redrive_notification(&self, id: &Id, now: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_ms = $1, lease_until = NULL, \
             updated_at = $1 WHERE id = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes notifications delivered before `before`; returns how many.
    pub async fn purge_delivered_notifications(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM notifications WHERE status = 'delivered' AND delivered_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn get_notification(&self, id: &Id) -> Result<NotificationRow> {
        let row = sqlx::query(&format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1"))
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        notification(&row)
    }

    /// Notifications in one status (`pending`, `delivered`, `dead`), newest
    /// first, after the cursor.
    pub async fn list_notifications(
        &self,
        status: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<NotificationRow>> {
        let cursor = if after.is_some() { " AND id < $3" } else { "" };
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE status = $1{cursor} ORDER BY id DESC LIMIT $2"
        );
        let mut query = sqlx::query(&sql).bind(status).bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        if let Some(a) = after {
            query = query.bind(a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let rows = rows.iter().map(notification).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(rows, limit, |n| n.id.to_string()))
    }
}

async fn write_extras(tx: &mut Tx<'_>, id: &Id, w: &TicketWrite<'_>, now: i64) -> Result<()> {
    for e in w.events {
        sqlx::query(
            "INSERT INTO ticket_events (ticket_id, ledger_index, time_ms, kind) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(e.ledger_index)
        .bind(e.time_ms)
        .bind(&e.kind)
        .execute(&mut **tx)
        .await?;
    }
    if !w.events.is_empty() {
        // Keep the first and the latest `keep_events`; the count on the
        // ticket says how many there were in all.
        let keep = i64::try_from(w.keep_events.max(1)).unwrap_or(i64::MAX);
        sqlx::query(
            "DELETE FROM ticket_events WHERE ticket_id = $1 \
             AND seq NOT IN (SELECT seq FROM ticket_events WHERE ticket_id = $1 ORDER BY seq LIMIT $2) \
             AND seq NOT IN (SELECT seq FROM ticket_events WHERE ticket_id = $1 ORDER BY seq DESC LIMIT $2)",
        )
        .bind(id.as_str())
        .bind(keep)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(h) = w.history {
        let detail = serde_json::to_string(&h.detail).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO ticket_history (ticket_id, time_ms, actor, action, detail, ledger_index) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(h.time_ms)
        .bind(&h.actor)
        .bind(&h.action)
        .bind(detail)
        .bind(h.ledger_index)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(c) = w.comment {
        sqlx::query(
            "INSERT INTO ticket_comments (id, ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id.as_str())
        .bind(id.as_str())
        .bind(&c.author)
        .bind(&c.body)
        .bind(c.created_at)
        .execute(&mut **tx)
        .await?;
    }
    insert_notifications(tx, w.notifications, now).await
}

async fn insert_notifications(tx: &mut Tx<'_>, notes: &[NewNotification], now: i64) -> Result<()> {
    for n in notes {
        sqlx::query(&format!(
            "INSERT INTO notifications ({NOTIFICATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, $7, $7, NULL)"
        ))
        .bind(n.id.as_str())
        .bind(n.ticket_id.as_ref().map(|t| t.as_str().to_owned()))
        .bind(&n.event)
        .bind(&n.channel)
        .bind(&n.target)
        .bind(&n.payload)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
