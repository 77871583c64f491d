//! The normalised record every parser produces: an OCSF class, a stable kind
//! name, an outcome and fields named the way Sigma rules expect them.
//!
//! Fields are an ordered list rather than a map: records carry a dozen or two
//! fields, for which a linear scan beats hashing, and the order parsers add
//! them in makes snapshots readable. A field may hold several values (auditd
//! events assembled from several records); Sigma semantics then match when
//! any value matches, as with arrays in most Sigma backends.

use std::borrow::Cow;
use std::fmt;

use rampart_core::Outcome;

use crate::syslog::SyslogRecord;

/// The OCSF event class of a record (`class_uid` from the OCSF schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OcsfClass {
    /// 0: nothing more specific is known.
    Base,
    /// 1001: file reads, writes and attribute changes (auditd PATH events).
    FileSystemActivity,
    /// 1007: process launches (sudo commands, auditd EXECVE, Sysmon 1).
    ProcessActivity,
    /// 3001: accounts created, changed or deleted.
    AccountChange,
    /// 3002: logons, logoffs and failed authentication.
    Authentication,
    /// 3003: privilege decisions for a session (sudo refusals).
    AuthorizeSession,
    /// 4001: network connections and packets (firewall logs).
    NetworkActivity,
    /// 4002: HTTP requests (web server access logs).
    HttpActivity,
    /// 4003: DNS queries and answers.
    DnsActivity,
    /// 4007: SSH connection life cycle (disconnects without a logon).
    SshActivity,
    /// 6003: cloud and application API calls.
    ApiActivity,
    /// 6005: queries and statements against a database.
    DatastoreActivity,
    /// 6008: errors reported by an application (web and database error logs).
    ApplicationError,
}

impl OcsfClass {
    pub fn uid(self) -> u32 {
        match self {
            OcsfClass::Base => 0,
            OcsfClass::FileSystemActivity => 1001,
            OcsfClass::ProcessActivity => 1007,
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::AuthorizeSession => 3003,
            OcsfClass::NetworkActivity => 4001,
            OcsfClass::HttpActivity => 4002,
            OcsfClass::DnsActivity => 4003,
            OcsfClass::SshActivity => 4007,
            OcsfClass::ApiActivity => 6003,
            OcsfClass::DatastoreActivity => 6005,
            OcsfClass::ApplicationError => 6008,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OcsfClass::Base => "Base Event",
            OcsfClass::FileSystemActivity => "File System Activity",
            OcsfClass::ProcessActivity => "Process Activity",
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::AuthorizeSession => "Authorize Session",
            OcsfClass::NetworkActivity => "Network Activity",
            OcsfClass::HttpActivity => "HTTP Activity",
            OcsfClass::DnsActivity => "DNS Activity",
            OcsfClass::SshActivity => "SSH Activity",
            OcsfClass::ApiActivity => "API Activity",
            OcsfClass::DatastoreActivity => "Datastore Activity",
            OcsfClass::ApplicationError => "Application Error",
        }
    }
}

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// Several values for one name; a Sigma match on any of them matches.
    List(Vec<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::from(s.as_str()),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Bool(b) => serde_json::Value::from(*b),
            Value::Null => serde_json::Value::Null,
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// Named values in the order they were added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Cow<'static, str>, Value)>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    /// Sets `key`, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Adds a value to `key`, turning it into a list when it already has a
    /// different value. Repeated equal values are kept once.
    pub fn add(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) else {
            self.0.push((key, value));
            return;
        };
        match &mut slot.1 {
            Value::List(items) => {
                if !items.contains(&value) {
                    items.push(value);
                }
            }
            existing if *existing == value => {}
            existing => {
                let first = std::mem::replace(existing, Value::Null);
                *existing = Value::List(vec![first, value]);
            }
        }
    }

    /// Appends without looking for an existing key; for producers whose
    /// keys are unique by construction (flattened JSON).
    pub fn push(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.0.push((key.into(), value.into()));
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` if it is a single string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()
    }
}

/// What a message parser recognised in one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub class: OcsfClass,
    /// Stable dotted name; the list is in [`crate::event`].
    pub kind: &'static str,
    pub outcome: Option<Outcome>,
    /// When the message itself says when it happened (auditd, access logs,
    /// JSON timestamps), in Unix milliseconds; it beats the syslog header.
    pub time_ms: Option<i64>,
    /// `time_ms` was read from a clock without a zone (nginx and Apache
    /// error logs, PostgreSQL without `%z`) as if it were UTC; the
    /// dispatcher shifts it by the source's configured offset.
    pub time_is_local: bool,
    pub fields: Fields,
}

impl Parsed {
    pub fn new(class: OcsfClass, kind: &'static str) -> Self {
        Parsed { class, kind, outcome: None, time_ms: None, time_is_local: false, fields: Fields::new() }
    }

    /// Turns a zone-less local time into a Unix time using `zone`.
    pub fn resolve_local_time(&mut self, zone: time::UtcOffset) {
        if self.time_is_local {
            self.time_ms = self.time_ms.map(|ms| ms - i64::from(zone.whole_seconds()) * 1000);
            self.time_is_local = false;
        }
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Sets a field when the value is present; parsers chain many optional
    /// fields, and skipping the `None`s here keeps them short.
    pub fn set_opt(&mut self, key: &'static str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.fields.set(key, v);
        }
    }
}

/// A message normalised: what the parser found plus the syslog envelope
/// (header fields, raw bytes, message text) it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub class: OcsfClass,
    pub kind: &'static str,
    pub outcome: Option<Outcome>,
    /// The time the message states, if any; see [`Record::time_ms`].
    pub event_time_ms: Option<i64>,
    pub fields: Fields,
    pub syslog: SyslogRecord,
}

impl Record {
    pub fn new(parsed: Parsed, syslog: SyslogRecord) -> Self {
        Record {
            class: parsed.class,
            kind: parsed.kind,
            outcome: parsed.outcome,
            event_time_ms: parsed.time_ms,
            fields: parsed.fields,
            syslog,
        }
    }

    /// When it happened: the message's own time, else the syslog header's.
    pub fn time_ms(&self) -> Option<i64> {
        self.event_time_ms.or_else(|| {
            let nanos = self.syslog.timestamp?.unix_timestamp_nanos() / 1_000_000;
            i64::try_from(nanos).ok()
        })
    }

    /// A compact, deterministic rendering for logs and snapshot tests.
    pub fn summary(&self) -> String {
        let mut out =
            format!("{} class={} outcome={}", self.kind, self.class.uid(), self.outcome.map_or("-", |o| o.as_str()));
        for (k, v) in self.fields.iter() {
            out.push_str(&format!("\n  {k}={v}"));
        }
        out
    }
}
