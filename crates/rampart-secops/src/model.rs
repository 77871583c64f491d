//! The ticket model, pure: kinds, statuses and the one table of legal
//! status transitions, SLA deadlines and escalation. No I/O; the service
//! applies what these functions decide.

use std::fmt;
use std::str::FromStr;

use rampart_core::alert::Severity;
use rampart_core::config::secops::SlaTable;
use serde::{Deserialize, Serialize};

/// What a ticket is about. One model serves the alarm desk now and the
/// vulnerability and incident work to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Opened by a detection rule.
    Alarm,
    Vulnerability,
    Incident,
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    InProgress,
    Resolved,
    FalsePositive,
    Closed,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Alarm, Kind::Vulnerability, Kind::Incident];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alarm => "alarm",
            Kind::Vulnerability => "vulnerability",
            Kind::Incident => "incident",
        }
    }
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Acknowledged,
        Status::InProgress,
        Status::Resolved,
        Status::FalsePositive,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false_positive",
            Status::Closed => "closed",
        }
    }

    /// Open tickets are being worked (or wait for it): alerts may join them
    /// and their deadlines run.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Acknowledged | Status::InProgress)
    }

    /// The statuses a ticket may move to from this one. This table is the
    /// whole of the workflow:
    ///
    /// | from           | to                                                        |
    /// |----------------|-----------------------------------------------------------|
    /// | new            | acknowledged, in_progress, resolved, false_positive, closed |
    /// | acknowledged   | in_progress, resolved, false_positive, closed             |
    /// | in_progress    | resolved, false_positive, closed                          |
    /// | resolved       | in_progress (reopen), closed                              |
    /// | false_positive | in_progress (reopen), closed                              |
    /// | closed         | — (final)                                                 |
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            New => &[Acknowledged, InProgress, Resolved, FalsePositive, Closed],
            Acknowledged => &[InProgress, Resolved, FalsePositive, Closed],
            InProgress => &[Resolved, FalsePositive, Closed],
            Resolved | FalsePositive => &[InProgress, Closed],
            Closed => &[],
        }
    }

    /// Whether moving to `to` is legal.
    pub fn can_move_to(self, to: Status) -> bool {
        self.next().contains(&to)
    }

    /// Moving to these needs a resolution (what was found, what was done).
    pub fn needs_resolution(self) -> bool {
        matches!(self, Status::Resolved | Status::FalsePositive)
    }
}

/// A name that is not one of ours.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {what} {name:?}; expected one of: {expected}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
    expected: String,
}

impl FromStr for Status {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
            what: "status",
            name: s.to_owned(),
            expected: Status::ALL.map(Status::as_str).join(", "),
        })
    }
}

impl FromStr for Kind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownName {
            what: "kind",
            name: s.to_owned(),
            expected: Kind::ALL.map(Kind::as_str).join(", "),
        })
    }
}

/// A severity name, as the API and the CLI accept it.
pub fn parse_severity(s: &str) -> Result<Severity, UnknownName> {
    Severity::parse(s).ok_or_else(|| UnknownName {
        what: "severity",
        name: s.to_owned(),
        expected: Severity::ALL.map(Severity::as_str).join(", "),
    })
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The acknowledge and resolve deadlines of a ticket of `severity` opened
/// at `opened_ms`, from the SLA table.
pub fn deadlines(table: &SlaTable, severity: Severity, opened_ms: i64) -> (Option<i64>, Option<i64>) {
    let sla = table.get(severity);
    let at = |mins: Option<u64>| {
        mins.map(|m| opened_ms.saturating_add(i64::try_from(m.saturating_mul(60_000)).unwrap_or(i64::MAX)))
    };
    (at(sla.ack_mins), at(sla.resolve_mins))
}

/// One level more urgent, up to critical.
pub fn escalated(severity: Severity) -> Severity {
    match severity {
        Severity::Informational => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// Which deadline a ticket missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Acknowledge,
    Resolve,
}

impl Deadline {
    pub fn as_str(self) -> &'static str {
        match self {
            Deadline::Acknowledge => "acknowledge",
            Deadline::Resolve => "resolve",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_is_final_and_every_other_status_can_be_left() {
        assert!(Status::Closed.next().is_empty());
        for s in Status::ALL {
            assert!(!s.can_move_to(s), "{s} -> {s} is no change, so not a transition");
            if s != Status::Closed {
                assert!(s.can_move_to(Status::Closed), "{s} must be closable");
            }
        }
    }

    #[test]
    fn the_transition_table_is_exactly_the_documented_one() {
        use Status::*;
        let legal: Vec<(Status, Status)> = Status::ALL
            .into_iter()
            .flat_map(|a| Status::ALL.into_iter().filter(move |b| a.can_move_to(*b)).map(move |b| (a, b)))
            .collect();
        assert_eq!(legal.len(), 5 + 4 + 3 + 2 + 2);
        for illegal in [(InProgress, New), (Acknowledged, New), (Resolved, Acknowledged), (Closed, InProgress)] {
            assert!(!legal.contains(&illegal), "{illegal:?} must be illegal");
        }
        assert!(Resolved.can_move_to(InProgress) && FalsePositive.can_move_to(InProgress), "reopen");
    }

    #[test]
    fn names_round_trip_and_unknown_ones_say_what_is_expected() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().ok(), Some(s));
        }
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().ok(), Some(k));
        }
        let err = "done".parse::<Status>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("done") && err.contains("false_positive"), "{err}");
        assert!(parse_severity("severe").is_err());
    }

    #[test]
    fn deadlines_follow_the_table_and_informational_has_none() {
        let t = SlaTable::default();
        assert_eq!(deadlines(&t, Severity::Critical, 1000), (Some(1000 + 15 * 60_000), Some(1000 + 24 * 3_600_000)));
        assert_eq!(deadlines(&t, Severity::Informational, 1000), (None, None));
        assert_eq!(escalated(Severity::Low), Severity::Medium);
        assert_eq!(escalated(Severity::Critical), Severity::Critical);
    }
}
