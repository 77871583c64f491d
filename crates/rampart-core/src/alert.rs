//! The seam between detection and the ticket desk: the detection stage
//! turns rule matches into [`Alert`]s and hands them to an [`AlertSink`];
//! the security operations service behind the sink opens a ticket or joins
//! the open one with the same de-duplication key.
//!
//! An alert names the ledger indexes of the events that raised it, never
//! their contents: the ledger is the record of truth and the ticket links to
//! it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Id;
use crate::audit::BoxFuture;

/// How urgent an alert or ticket is: the Sigma rule level, with
/// `informational` kept so that nothing a rule says is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Informational, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event that contributed to an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// The event's index in the ledger (its inclusion proof is served there).
    pub ledger_index: u64,
    /// The event's own time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The event's kind (`auth.login.failed`, `syslog.sshd`, …).
    pub kind: String,
}

/// A detection: a rule matched one event, or a correlation rule's threshold
/// was reached by a group of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The rule's id (the Sigma `id`, or `name` for correlations).
    pub rule_id: String,
    pub rule_title: String,
    /// The rule pack it came from (`sigmahq`, `rampart-redline`, …).
    pub pack: String,
    pub severity: Severity,
    /// The group-by values of a correlation, rendered `field=value,…` in the
    /// rule's group-by order; empty for a single-event rule. With `rule_id`
    /// it is the de-duplication key: alerts with the same pair inside the
    /// de-duplication window join one open ticket.
    pub group_key: String,
    /// The tenant the events belong to, when they all belong to one.
    pub tenant_id: Option<Id>,
    /// The contributing events, oldest first, at most a bounded number
    /// (the detection stage keeps the first and the latest ones).
    pub events: Vec<AlertEvent>,
    /// How many events contributed in all (may exceed `events.len()`).
    pub event_count: u64,
    /// Event time of the first and the last contributing event.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The rule's tags (`attack.t1110`, …), for routing and reports.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The rule's description, and why it matched when the engine can say.
    #[serde(default)]
    pub description: String,
}

impl Alert {
    /// The key under which alerts join one open ticket.
    pub fn dedup_key(&self) -> String {
        if self.group_key.is_empty() { self.rule_id.clone() } else { format!("{}|{}", self.rule_id, self.group_key) }
    }
}

/// What became of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    /// The ticket that now holds the alert.
    pub ticket_id: Id,
    /// `true` when the alert joined an open ticket instead of opening one.
    pub joined: bool,
}

/// Why an alert could not be taken. The detection stage retries and does
/// not advance past an alert that was not taken, so nothing acknowledged
/// is lost.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("the alert was refused: {0}")]
    Refused(String),
    #[error("the ticket desk is unavailable: {0}")]
    Unavailable(String),
}

/// Where alerts go.
pub trait AlertSink: Send + Sync + fmt::Debug {
    fn raise<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Raised, AlertError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_their_own_names_and_order_by_urgency() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
            assert_eq!(Severity::parse(&s.as_str().to_uppercase()), Some(s));
        }
        assert_eq!(Severity::parse("urgent"), None);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Informational);
    }

    #[test]
    fn the_dedup_key_separates_groups_of_one_rule() {
        let mut a = Alert {
            rule_id: "r1".into(),
            rule_title: "t".into(),
            pack: "p".into(),
            severity: Severity::High,
            group_key: String::new(),
            tenant_id: None,
            events: vec![],
            event_count: 0,
            first_seen_ms: 0,
            last_seen_ms: 0,
            tags: vec![],
            description: String::new(),
        };
        assert_eq!(a.dedup_key(), "r1");
        a.group_key = "user=alice".into();
        let alice = a.dedup_key();
        a.group_key = "user=bob".into();
        assert_ne!(alice, a.dedup_key());
    }
}
