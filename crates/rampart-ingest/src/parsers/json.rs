//! JSON payloads (optionally behind rsyslog's `@cee:` cookie), flattened
//! into dotted keys: `{"a":{"b":1}}` becomes `a.b = 1`; arrays of scalars
//! become lists, arrays of objects are indexed (`a.0.b`).
//!
//! Windows events shaped like `{"Event":{"System":…,"EventData":…}}` (how
//! evtx files render to JSON, as in SigmaHQ's regression data) go to
//! [`super::windows`]; AWS CloudTrail records (`eventSource`, `eventName`)
//! are OCSF API Activity (6003); anything else is a Base Event (0).

use rampart_core::Outcome;
use serde_json::{Map, Value as Json};

use super::windows;
use crate::record::{Fields, OcsfClass, Parsed, Value};

/// Parses a JSON object; `None` when the message is not one.
pub fn parse(msg: &str) -> Option<Parsed> {
    let body = msg.trim_start();
    let body = body.strip_prefix("@cee:").unwrap_or(body).trim();
    if !body.starts_with('{') {
        return None;
    }
    let Json::Object(obj) = serde_json::from_str::<Json>(body).ok()? else { return None };
    if let Some(p) = windows::parse(&obj) {
        return Some(p);
    }
    let mut p = if let (Some(source), Some(name)) = (str_of(&obj, "eventSource"), str_of(&obj, "eventName")) {
        let failed = obj.get("errorCode").is_some_and(|e| !e.is_null());
        let mut p = Parsed::new(OcsfClass::ApiActivity, "log.cloudtrail.api_call").with_outcome(if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        });
        p.fields.set("api_operation", format!("{source}:{name}"));
        p.set_opt("src_ip", str_of(&obj, "sourceIPAddress"));
        p
    } else {
        Parsed::new(OcsfClass::Base, "log.json")
    };
    p.time_ms =
        ["@timestamp", "timestamp", "time", "eventTime", "ts"].iter().find_map(|k| obj.get(*k)).and_then(time_ms);
    flatten_into(&mut p.fields, "", &obj);
    Some(p)
}

fn str_of<'a>(obj: &'a Map<String, Json>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Json::as_str)
}

/// An RFC 3339 string or a Unix time in seconds or milliseconds.
pub(crate) fn time_ms(v: &Json) -> Option<i64> {
    match v {
        Json::String(s) => {
            let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
        }
        Json::Number(n) => {
            let f = n.as_f64()?;
            // Before 2001-09-09 in milliseconds is 1e12; seconds stay below it.
            let ms = if f.abs() < 1e12 { f * 1000.0 } else { f };
            ms.is_finite().then_some(ms as i64)
        }
        _ => None,
    }
}

/// Adds every leaf of `obj` under `prefix.key` names.
pub(crate) fn flatten_into(fields: &mut Fields, prefix: &str, obj: &Map<String, Json>) {
    for (key, value) in obj {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        flatten_value(fields, name, value);
    }
}

pub(crate) fn flatten_value(fields: &mut Fields, name: String, value: &Json) {
    match value {
        Json::Object(inner) => flatten_into(fields, &name, inner),
        Json::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            fields.push(name, Value::List(items.iter().map(scalar).collect()));
        }
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_value(fields, format!("{name}.{i}"), item);
            }
        }
        other => fields.push(name, scalar(other)),
    }
}

/// A JSON scalar as a field value (nested values, unreachable here, as text).
pub(crate) fn scalar(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or_else(|| Value::Str(n.to_string()), Value::Float),
        },
        Json::String(s) => Value::Str(s.clone()),
        other => Value::Str(other.to_string()),
    }
}
