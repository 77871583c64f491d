//! Notifications: which configured endpoints hear of a ticket change
//! (`Notifier::for_ticket`, called inside the change, so the outbox rows are
//! written in the ticket's own transaction), and the channels that deliver
//! them: `webhook.rs` (JSON signed with HMAC-SHA256), `email.rs` (SMTP with
//! STARTTLS), `syslog.rs` (RFC 5424 over TCP, TLS or UDP). `outbox.rs` is
//! the worker that delivers queued notifications with retries, back-off and
//! a dead-letter list.

pub mod email;
pub mod outbox;
pub mod syslog;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rampart_core::Id;
use rampart_core::alert::{Alert, Severity};
use rampart_core::config::SecopsConfig;
use rampart_core::time::rfc3339;
use rampart_store::{NewNotification, TicketRow};

pub use outbox::{Delivery, OutboxWorker};

/// Why the notification channels could not be set up from configuration.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Config(String),
}

/// `webhook`, `email` or `syslog`.
pub const WEBHOOK: &str = "webhook";
pub const EMAIL: &str = "email";
pub const SYSLOG: &str = "syslog";

/// The configured endpoints, ready to deliver.
#[derive(Default)]
pub struct Channels {
    pub webhooks: BTreeMap<String, webhook::Webhook>,
    pub email: Option<email::Email>,
    pub syslog: Option<syslog::SyslogForward>,
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channels")
            .field("webhooks", &self.webhooks.keys().collect::<Vec<_>>())
            .field("email", &self.email.is_some())
            .field("syslog", &self.syslog.is_some())
            .finish()
    }
}

/// Fans ticket changes out to the channels, and wakes the worker.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    channels: Arc<Channels>,
    wake: Arc<tokio::sync::Notify>,
}

impl Notifier {
    /// No endpoints: changes queue nothing.
    pub fn none() -> Self {
        Notifier::default()
    }

    /// The endpoints of `[secops]`, reading their secret files (which must
    /// be private to the service account).
    pub fn from_config(cfg: &SecopsConfig) -> Result<Self, NotifyError> {
        let mut channels = Channels::default();
        for w in &cfg.webhooks {
            channels.webhooks.insert(w.name.clone(), webhook::Webhook::from_config(w)?);
        }
        if let Some(smtp) = &cfg.smtp {
            channels.email = Some(email::Email::from_config(smtp)?);
        }
        if let Some(s) = &cfg.syslog {
            channels.syslog = Some(syslog::SyslogForward::from_config(s)?);
        }
        Ok(Notifier::with_channels(channels))
    }

    pub fn with_channels(channels: Channels) -> Self {
        Notifier { channels: Arc::new(channels), wake: Arc::default() }
    }

    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// Wakes the outbox worker on this node.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// The notifications announcing `event` on `ticket`: one per webhook
    /// and for email when `announce` (joins are rate-limited), and one for
    /// syslog when the change carries an alert or an escalation; each only
    /// for tickets at or above the endpoint's `min_severity`.
    pub fn for_ticket(
        &self,
        event: &str,
        ticket: &TicketRow,
        alert: Option<&Alert>,
        announce: bool,
        now: i64,
    ) -> Vec<NewNotification> {
        let severity = Severity::parse(&ticket.severity).unwrap_or(Severity::Medium);
        let c = &self.channels;
        let mut targets: Vec<(&str, String)> = Vec::new();
        if announce {
            for (name, w) in &c.webhooks {
                if severity >= w.min_severity {
                    targets.push((WEBHOOK, name.clone()));
                }
            }
            if let Some(e) = &c.email
                && severity >= e.min_severity
            {
                targets.push((EMAIL, "smtp".into()));
            }
        }
        if let Some(s) = &c.syslog
            && severity >= s.min_severity
            && (alert.is_some() || event == "ticket.escalated")
        {
            targets.push((SYSLOG, "siem".into()));
        }
        if targets.is_empty() {
            return Vec::new();
        }
        let payload = payload(event, ticket, alert, now).to_string();
        targets
            .into_iter()
            .map(|(channel, target)| NewNotification {
                id: Id::new("ntf"),
                ticket_id: Some(ticket.id.clone()),
                event: event.into(),
                channel: channel.into(),
                target,
                payload: payload.clone(),
            })
            .collect()
    }
}

/// The JSON document every channel carries (webhooks as the body, email
/// rendered from it, syslog as the message). Names ledger indexes, never
/// event contents.
pub fn payload(event: &str, t: &TicketRow, alert: Option<&Alert>, now: i64) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "type": event,
        "time": rfc3339(now),
        "ticket": {
            "id": t.id.as_str(),
            "kind": t.kind,
            "title": t.title,
            "severity": t.severity,
            "status": t.status,
            "queue": t.queue,
            "assignee": t.assignee,
            "tenant_id": t.tenant_id.as_ref().map(Id::as_str),
            "rule_id": t.rule_id,
            "event_count": t.event_count,
            "first_seen": rfc3339(t.first_seen_ms),
            "last_seen": rfc3339(t.last_seen_ms),
            "resolution": t.resolution,
        },
    });
    if let Some(a) = alert {
        doc["alert"] = serde_json::json!({
            "rule_id": a.rule_id,
            "rule_title": a.rule_title,
            "pack": a.pack,
            "severity": a.severity.as_str(),
            "group_key": a.group_key,
            "event_count": a.event_count,
            "ledger_indexes": a.events.iter().map(|e| e.ledger_index).collect::<Vec<_>>(),
            "tags": a.tags,
        });
    }
    doc
}
