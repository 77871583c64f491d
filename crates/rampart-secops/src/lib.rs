//! Rampart's security operations desk: one ticket model for alarm,
//! vulnerability and incident work, the service that opens tickets from
//! detection alerts (de-duplicated) and lets people work them, the SLA job
//! that escalates missed deadlines, and notifications through a durable
//! outbox (signed webhooks, email over SMTP, RFC 5424 syslog forwarding).
//!
//! `model.rs` is the pure core (statuses and their transition table,
//! deadlines, escalation); `service.rs` applies it: every change is
//! recorded through [`rampart_core::audit::Audit`] before it takes effect,
//! then written with a compare-and-set on the ticket's version together
//! with its history entry and its notifications. `notify/` turns queued
//! notifications into deliveries.

pub mod clock;
pub mod model;
pub mod notify;
pub mod service;

pub use clock::{Clock, ManualClock, SystemClock};
pub use model::{Deadline, Kind, Status};
pub use notify::Notifier;
pub use service::{Actor, TicketDetail, TicketError, TicketService};

/// Describes the desk's metrics on `/metrics`: alerts taken (opened or
/// joined a ticket) and how long that took, and notification attempts by
/// channel and outcome (`delivered`, `retry`, `dead`).
pub fn describe_metrics() {
    metrics::describe_counter!("rampart_alerts_total", "Alerts taken by the ticket desk, by outcome (opened, joined)");
    metrics::describe_histogram!("rampart_alert_to_ticket_seconds", "Time from an alert to its ticket being durable");
    metrics::describe_counter!("rampart_notifications_total", "Notification attempts by channel and outcome");
}
