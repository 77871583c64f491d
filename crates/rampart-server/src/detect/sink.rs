//! Alerts on their way out of the detection stage: [`RecordingAlertSink`]
//! records each one as a `detect.alert` event in the ledger (durable,
//! searchable in the audit trail, never evaluated by the detection stage
//! itself), and [`RecordThenTicket`] does that and then hands the alert to
//! the ticket desk, which opens or joins a ticket. An alert whose ticket
//! could not be raised is retried by the stage, so its `detect.alert` may
//! be recorded more than once; the ticket de-duplicates.

use std::sync::Arc;

use rampart_core::alert::{Alert, AlertError, AlertSink, Raised};
use rampart_core::audit::{AuditSink, BoxFuture};
use rampart_core::{Event, Outcome};

/// The kind of the recorded alert events.
pub const ALERT_KIND: &str = "detect.alert";

/// Records alerts as `detect.alert` ledger events.
#[derive(Debug, Clone)]
pub struct RecordingAlertSink {
    sink: Arc<dyn AuditSink>,
}

impl RecordingAlertSink {
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        RecordingAlertSink { sink }
    }
}

/// The `detect.alert` event of an alert.
pub fn alert_event(alert: &Alert) -> Event {
    let indexes: Vec<u64> = alert.events.iter().map(|e| e.ledger_index).collect();
    Event::new(ALERT_KIND, Outcome::Success, "system")
        .object(alert.rule_id.clone())
        .tenant(alert.tenant_id.clone())
        .attr("rule_id", alert.rule_id.as_str())
        .attr("rule_title", alert.rule_title.as_str())
        .attr("pack", alert.pack.as_str())
        .attr("severity", alert.severity.as_str())
        .attr("group_key", alert.group_key.as_str())
        .attr("event_count", alert.event_count)
        .attr("ledger_indexes", indexes)
        .attr("first_seen_ms", alert.first_seen_ms)
        .attr("last_seen_ms", alert.last_seen_ms)
        .attr("tags", alert.tags.clone())
        .attr("description", alert.description.as_str())
}

impl AlertSink for RecordingAlertSink {
    fn raise<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Raised, AlertError>> {
        Box::pin(async move {
            let event = alert_event(alert);
            self.sink.append(&event).await.map_err(|e| AlertError::Unavailable(e.to_string()))?;
            Ok(Raised { ticket_id: event.id, joined: false })
        })
    }
}

/// Records the alert, then raises it on the ticket desk; the ticket's
/// answer is the stage's.
#[derive(Debug, Clone)]
pub struct RecordThenTicket {
    record: RecordingAlertSink,
    desk: Arc<dyn AlertSink>,
}

impl RecordThenTicket {
    pub fn new(record: RecordingAlertSink, desk: Arc<dyn AlertSink>) -> Self {
        RecordThenTicket { record, desk }
    }
}

impl AlertSink for RecordThenTicket {
    fn raise<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Raised, AlertError>> {
        Box::pin(async move {
            self.record.raise(alert).await?;
            self.desk.raise(alert).await
        })
    }
}
