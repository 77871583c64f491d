//! The audit [`Event`]: one record of something that happened, shared by
//! Rampart's own actions and, later, by ingested logs.
//!
//! Event kinds are stable dotted names (`auth.login.failed`); the full list is
//! in `docs/events.md`. An event never carries a secret: attributes that would
//! be sensitive are recorded as keyed hashes by the caller.

use serde::{Deserialize, Serialize};

use crate::Id;

/// Whether the recorded action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: Id,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Stable dotted name, e.g. `auth.login.failed`.
    pub kind: String,
    pub outcome: Outcome,
    /// The acting user's name, or a description such as `anonymous`.
    pub actor: String,
    /// What the action was done to (a user, tenant, token or key), for search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    pub tenant_id: Option<Id>,
    /// Network source of the action, when known.
    pub source_addr: Option<String>,
    /// Further, non-secret attributes.
    pub attrs: serde_json::Value,
}

impl Event {
    pub fn new(kind: &str, outcome: Outcome, actor: impl Into<String>) -> Self {
        Event {
            id: Id::new("evt"),
            time_ms: crate::time::now_ms(),
            kind: kind.to_owned(),
            outcome,
            actor: actor.into(),
            object: None,
            tenant_id: None,
            source_addr: None,
            attrs: serde_json::Value::Object(Default::default()),
        }
    }

    /// Names what the action was done to.
    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn tenant(mut self, tenant: Option<Id>) -> Self {
        self.tenant_id = tenant;
        self
    }

    pub fn source(mut self, addr: Option<String>) -> Self {
        self.source_addr = addr;
        self
    }

    /// Adds a non-secret attribute.
    pub fn attr(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.attrs {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}
