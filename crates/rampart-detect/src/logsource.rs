//! Log sources: the `logsource` of a rule, the source an event comes from,
//! and the compatibility test that routes each event only to the rules of
//! its product, service and category. Also the classifier for Windows event
//! logs rendered as JSON (evtx `Event.System` shape, or flattened).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A product/category/service triple, lowercase.
///
/// On a rule, an absent part means "any". On an event, an absent part means
/// "unknown": the event is offered to rules whatever they say for that part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogSource {
    /// The product, such as `windows` or `linux`.
    pub product: Option<String>,
    /// The category, such as `process_creation`.
    pub category: Option<String>,
    /// The service, such as `security` or `sysmon`.
    pub service: Option<String>,
}

/// Categories that are special cases of a broader category: an event of the
/// first is also an event of the second (Sysmon registry events all belong
/// to `registry_event`).
const CATEGORY_PARENTS: &[(&str, &str)] = &[
    ("registry_add", "registry_event"),
    ("registry_delete", "registry_event"),
    ("registry_set", "registry_event"),
    ("registry_rename", "registry_event"),
];

impl LogSource {
    /// A source with every part unknown: every rule applies.
    pub fn any() -> Self {
        Self::default()
    }

    /// Builds a source from optional parts, lowercasing them.
    pub fn new(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Self {
        let norm = |s: Option<&str>| s.map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty());
        Self { product: norm(product), category: norm(category), service: norm(service) }
    }

    /// Whether a rule with this logsource applies to an event from `event`.
    pub fn admits(&self, event: &LogSource) -> bool {
        part_admits(self.product.as_deref(), event.product.as_deref())
            && part_admits(self.service.as_deref(), event.service.as_deref())
            && match (self.category.as_deref(), event.category.as_deref()) {
                (Some(rule), Some(ev)) => {
                    rule == ev || CATEGORY_PARENTS.iter().any(|(child, parent)| *child == ev && *parent == rule)
                }
                _ => true,
            }
    }

    /// Whether `self` (a filter's logsource) constrains nothing that `rule`
    /// does not also say: every part the filter names, the rule names alike.
    pub fn covers(&self, rule: &LogSource) -> bool {
        let part = |f: &Option<String>, r: &Option<String>| f.is_none() || f == r;
        part(&self.product, &rule.product) && part(&self.category, &rule.category) && part(&self.service, &rule.service)
    }
}

fn part_admits(rule: Option<&str>, event: Option<&str>) -> bool {
    match (rule, event) {
        (Some(r), Some(e)) => r == e,
        _ => true,
    }
}

/// Sysmon event ids and the Sigma category each belongs to.
fn sysmon_category(event_id: i64, event_type: Option<&str>) -> Option<&'static str> {
    Some(match event_id {
        1 => "process_creation",
        2 => "file_change",
        3 => "network_connection",
        4 | 16 => "sysmon_status",
        5 => "process_termination",
        6 => "driver_load",
        7 => "image_load",
        8 => "create_remote_thread",
        9 => "raw_access_thread",
        10 => "process_access",
        11 => "file_event",
        12 => match event_type {
            Some(t) if t.starts_with("Delete") => "registry_delete",
            _ => "registry_add",
        },
        13 => "registry_set",
        14 => "registry_rename",
        15 => "create_stream_hash",
        17 | 18 => "pipe_created",
        19..=21 => "wmi_event",
        22 => "dns_query",
        23 | 26 => "file_delete",
        24 => "clipboard_capture",
        25 => "process_tampering",
        27..=29 => "file_block",
        255 => "sysmon_error",
        _ => return None,
    })
}

/// Channels and the Sigma service that names them.
fn channel_service(channel: &str) -> Option<&'static str> {
    Some(match channel.to_ascii_lowercase().as_str() {
        "security" => "security",
        "system" => "system",
        "application" => "application",
        "microsoft-windows-sysmon/operational" => "sysmon",
        "microsoft-windows-powershell/operational" => "powershell",
        "windows powershell" => "powershell-classic",
        "microsoft-windows-windows defender/operational" => "windefend",
        "microsoft-windows-taskscheduler/operational" => "taskscheduler",
        "microsoft-windows-wmi-activity/operational" => "wmi",
        "microsoft-windows-bits-client/operational" => "bits-client",
        "microsoft-windows-dns-client/operational" => "dns-client",
        "microsoft-windows-codeintegrity/operational" => "codeintegrity-operational",
        "microsoft-windows-applocker/exe and dll" => "applocker",
        "microsoft-windows-windows firewall with advanced security/firewall" => "firewall-as",
        "microsoft-windows-terminalservices-localsessionmanager/operational" => "terminalservices-localsessionmanager",
        _ => return None,
    })
}

/// Reads a member by a path of keys.
fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
}

fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Classifies a Windows event rendered as JSON.
///
/// Understands the evtx shape (`Event.System.Channel`, `Event.System.EventID`,
/// `Event.EventData.*`) and a flattened one (`Channel`, `EventID`,
/// `EventType` at top level). Returns `None` when the event is not a
/// Windows event log record.
pub fn windows_event_logsource(event: &Value) -> Option<LogSource> {
    let system = path(event, &["Event", "System"]);
    let data = path(event, &["Event", "EventData"]);
    let get = |key: &str| system.and_then(|s| s.get(key)).or_else(|| event.get(key));
    let channel = get("Channel").and_then(Value::as_str)?;
    let event_id = get("EventID").and_then(|v| as_i64(v).or_else(|| v.get("#text").and_then(as_i64)));
    let event_type = data.and_then(|d| d.get("EventType")).or_else(|| event.get("EventType")).and_then(Value::as_str);
    let service = channel_service(channel);
    let category = match (service, event_id) {
        (Some("sysmon"), Some(id)) => sysmon_category(id, event_type),
        (Some("security"), Some(4688)) => Some("process_creation"),
        (Some("powershell"), Some(4104)) => Some("ps_script"),
        (Some("powershell"), Some(4103)) => Some("ps_module"),
        (Some("powershell-classic"), Some(400)) => Some("ps_classic_start"),
        (Some("powershell-classic"), Some(600)) => Some("ps_classic_provider_start"),
        (Some("powershell-classic"), Some(800)) => Some("ps_classic_script"),
        _ => None,
    };
    Some(LogSource::new(Some("windows"), category, service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_event_parts_admit_every_rule() {
        let rule = LogSource::new(Some("windows"), Some("process_creation"), None);
        assert!(rule.admits(&LogSource::any()));
        assert!(rule.admits(&LogSource::new(Some("windows"), None, Some("sysmon"))));
        assert!(!rule.admits(&LogSource::new(Some("linux"), None, None)));
        assert!(!rule.admits(&LogSource::new(Some("windows"), Some("file_event"), None)));
    }

    #[test]
    fn registry_set_events_reach_registry_event_rules() {
        let rule = LogSource::new(Some("windows"), Some("registry_event"), None);
        assert!(rule.admits(&LogSource::new(Some("windows"), Some("registry_set"), Some("sysmon"))));
        let set_rule = LogSource::new(Some("windows"), Some("registry_set"), None);
        assert!(!set_rule.admits(&LogSource::new(Some("windows"), Some("registry_event"), None)));
    }

    #[test]
    fn sysmon_evtx_events_are_classified() {
        let ev = json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 12},
            "EventData": {"EventType": "DeleteKey"}}});
        let ls = windows_event_logsource(&ev);
        assert_eq!(ls, Some(LogSource::new(Some("windows"), Some("registry_delete"), Some("sysmon"))));
        let flat = json!({"Channel": "Security", "EventID": "4688"});
        let ls = windows_event_logsource(&flat);
        assert_eq!(ls, Some(LogSource::new(Some("windows"), Some("process_creation"), Some("security"))));
        assert_eq!(windows_event_logsource(&json!({"message": "x"})), None);
    }

    #[test]
    fn filter_covers_only_rules_with_the_same_named_parts() {
        let filter = LogSource::new(Some("windows"), None, None);
        assert!(filter.covers(&LogSource::new(Some("windows"), Some("process_creation"), None)));
        assert!(!filter.covers(&LogSource::new(Some("linux"), None, None)));
    }
}
