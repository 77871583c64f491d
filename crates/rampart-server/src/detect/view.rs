//! The Sigma view of a ledger event: which fields a rule sees and which
//! logsource routes it. Pure.
//!
//! * Ingested log events (`log.*`, carrying `attrs.fields`): the parser's
//!   Sigma-named fields, the `message`, and `rampart.kind` /
//!   `rampart.outcome`. The logsource is the source's registered one
//!   (`attrs.logsource`); parts the source leaves unset are inferred from
//!   the parser's event kind (`log.sshd.*` is `linux`/`sshd`, …, see
//!   [`inferred`]).
//! * Rampart's own audit events: logsource product `rampart`, service
//!   `audit`, category the kind's first segment (`auth`, `kms`, …); fields
//!   `kind`, `outcome`, `actor`, `object`, `tenant_id`, `source_addr`, and
//!   every attribute flattened to the top level (nested objects as dotted
//!   names, `spec.owner`), unless it would shadow one of those.
//!
//! The field names are documented in `docs/detection.md`.

use rampart_core::Event;
use rampart_detect::{LogSource, windows_event_logsource};
use serde_json::{Map, Value};

/// The logsource product of Rampart's own audit events.
pub const AUDIT_PRODUCT: &str = "rampart";
/// The logsource service of Rampart's own audit events.
pub const AUDIT_SERVICE: &str = "audit";

/// Deepest attribute nesting flattened; deeper objects stay objects.
const MAX_FLATTEN_DEPTH: usize = 4;

/// Whether the event is an ingested log line rather than Rampart's own.
pub fn is_ingested(event: &Event) -> bool {
    event.kind.starts_with("log.") && event.attrs.get("fields").is_some_and(Value::is_object)
}

/// The fields and logsource the rules see for `event`.
pub fn view(event: &Event) -> (Value, LogSource) {
    if is_ingested(event) { ingested(event) } else { audit(event) }
}

fn ingested(event: &Event) -> (Value, LogSource) {
    let mut fields = event.attrs.get("fields").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(message) = event.attrs.get("message")
        && !fields.contains_key("message")
    {
        fields.insert("message".into(), message.clone());
    }
    let mut own = Map::new();
    own.insert("kind".into(), event.kind.clone().into());
    own.insert("outcome".into(), event.outcome.as_str().into());
    fields.insert("rampart".into(), Value::Object(own));
    let registered = event.attrs.get("logsource");
    let part = |k: &str| registered.and_then(|l| l.get(k)).and_then(Value::as_str).map(str::to_owned);
    let fields = Value::Object(fields);
    let guess = inferred(&event.kind, &fields);
    let mut logsource = LogSource::new(
        part("product").or(guess.product).as_deref(),
        part("category").or(guess.category).as_deref(),
        part("service").or(guess.service).as_deref(),
    );
    // Once anything is known, what is not known is absent: a web server's
    // line must not reach the rules of sshd because its service is unset.
    // An event nothing is known of is offered to every rule.
    let known = [&logsource.product, &logsource.category, &logsource.service].iter().any(|p| p.is_some());
    if known {
        for part in [&mut logsource.product, &mut logsource.category, &mut logsource.service] {
            part.get_or_insert_with(|| ABSENT.to_owned());
        }
    }
    (fields, logsource)
}

/// The value of a logsource part an ingested event is known not to have.
pub const ABSENT: &str = "-";

/// The logsource a parser's event kind implies.
///
/// | kind | product | service | category |
/// |---|---|---|---|
/// | `log.sshd.*` | linux | sshd | |
/// | `log.sudo.*` | linux | sudo | |
/// | `log.su.*`, `log.pam.*` | linux | auth | |
/// | `log.auditd.execve` | linux | auditd | process_creation |
/// | `log.auditd.*` | linux | auditd | |
/// | `log.netfilter.*` | linux | | firewall |
/// | `log.http.*` | | | webserver |
/// | `log.postgresql.*`, `log.mysql.*` | | | database |
/// | `log.cloudtrail.*` | aws | cloudtrail | |
/// | `log.windows.*`, and other JSON shaped as an evtx record | windows | by channel | by event id |
pub fn inferred(kind: &str, fields: &Value) -> LogSource {
    let parser = kind.strip_prefix("log.").and_then(|k| k.split('.').next()).unwrap_or_default();
    let (product, service, category) = match parser {
        "sshd" => (Some("linux"), Some("sshd"), None),
        "sudo" => (Some("linux"), Some("sudo"), None),
        "su" | "pam" => (Some("linux"), Some("auth"), None),
        "auditd" if kind == "log.auditd.execve" => (Some("linux"), Some("auditd"), Some("process_creation")),
        "auditd" => (Some("linux"), Some("auditd"), None),
        "netfilter" => (Some("linux"), None, Some("firewall")),
        "http" => (None, None, Some("webserver")),
        "postgresql" | "mysql" => (None, None, Some("database")),
        "cloudtrail" => (Some("aws"), Some("cloudtrail"), None),
        "windows" => {
            return windows_event_logsource(fields).unwrap_or_else(|| LogSource::new(Some("windows"), None, None));
        }
        // Generic JSON may be a Windows event log record.
        _ => return windows_event_logsource(fields).unwrap_or_default(),
    };
    LogSource::new(product, category, service)
}

fn audit(event: &Event) -> (Value, LogSource) {
    let mut fields = Map::new();
    fields.insert("kind".into(), event.kind.clone().into());
    fields.insert("outcome".into(), event.outcome.as_str().into());
    fields.insert("actor".into(), event.actor.clone().into());
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    fields.insert("object".into(), opt(&event.object));
    fields.insert("tenant_id".into(), event.tenant_id.as_ref().map_or(Value::Null, |t| t.to_string().into()));
    fields.insert("source_addr".into(), opt(&event.source_addr));
    if let Value::Object(attrs) = &event.attrs {
        flatten(&mut fields, "", attrs, 0);
    }
    let category = event.kind.split('.').next();
    (Value::Object(fields), LogSource::new(Some(AUDIT_PRODUCT), category, Some(AUDIT_SERVICE)))
}

fn flatten(out: &mut Map<String, Value>, prefix: &str, attrs: &Map<String, Value>, depth: usize) {
    for (k, v) in attrs {
        let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) if depth < MAX_FLATTEN_DEPTH => flatten(out, &name, inner, depth + 1),
            // The event's own fields win: an attribute cannot pose as the actor.
            _ if out.contains_key(&name) => {}
            _ => {
                out.insert(name, v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::Outcome;
    use serde_json::json;

    #[test]
    fn audit_events_are_flat_with_their_own_logsource() {
        let ev = Event::new("auth.login.failed", Outcome::Failure, "mallory")
            .object("mallory")
            .source(Some("203.0.113.9".into()))
            .attr("reason", "bad_password")
            .attr("spec", json!({"owner": "ops", "logsource": {"product": "linux"}}))
            .attr("actor", "forged");
        let (fields, ls) = view(&ev);
        assert_eq!(ls, LogSource::new(Some("rampart"), Some("auth"), Some("audit")));
        assert_eq!(fields["kind"], "auth.login.failed");
        assert_eq!(fields["outcome"], "failure");
        assert_eq!(fields["actor"], "mallory", "an attribute cannot replace the actor");
        assert_eq!(fields["source_addr"], "203.0.113.9");
        assert_eq!(fields["reason"], "bad_password");
        assert_eq!(fields["spec.owner"], "ops");
        assert_eq!(fields["spec.logsource.product"], "linux");
        assert_eq!(fields["tenant_id"], Value::Null);
    }

    #[test]
    fn ingested_events_show_their_fields_and_routed_logsource() {
        let mut ev = Event::new("log.sshd.auth_failed", Outcome::Failure, "root");
        ev.attrs = json!({
            "fields": {"User": "root", "src_ip": "198.51.100.7", "auth_method": "password"},
            "message": "Failed password for root from 198.51.100.7 port 4711 ssh2",
            "logsource": {"product": "linux"},
            "source": {"name": "web1"},
        });
        let (fields, ls) = view(&ev);
        assert_eq!(ls, LogSource::new(Some("linux"), Some(ABSENT), Some("sshd")));
        assert_eq!(fields["User"], "root");
        assert_eq!(fields["rampart"]["kind"], "log.sshd.auth_failed");
        assert!(fields["message"].as_str().is_some_and(|m| m.starts_with("Failed password")));
        assert!(fields.get("source").is_none(), "registry attributes are not rule fields");
        // A source registered with its own service keeps it.
        ev.attrs["logsource"] = json!({"product": "linux", "service": "syslog"});
        assert_eq!(view(&ev).1.service.as_deref(), Some("syslog"));
        // A web server's line is known not to be sshd's; a line nothing is
        // known of is offered to every rule.
        ev.kind = "log.http.error".into();
        ev.attrs["logsource"] = json!({});
        assert_eq!(view(&ev).1, LogSource::new(Some(ABSENT), Some("webserver"), Some(ABSENT)));
        ev.kind = "log.unknown".into();
        assert_eq!(view(&ev).1, LogSource::any());
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        let mut deep = json!("x");
        for _ in 0..50 {
            deep = json!({ "a": deep });
        }
        let ev = Event::new("user.created", Outcome::Success, "admin").attr("deep", deep);
        let (fields, _) = view(&ev);
        assert!(fields.as_object().is_some_and(|m| m.keys().any(|k| k == "deep.a.a.a.a")));
    }
}
