//! Windows event log records rendered to JSON the way evtx tools render them
//! (`{"Event":{"System":{…},"EventData":{…}}}`, XML attributes under
//! `#attributes`), as in SigmaHQ's regression data, and the flat shape
//! (`EventID`, `Channel`, event data at the top) that nxlog and
//! winlogbeat-style shippers send.
//!
//! Sigma's Windows rules name fields without a path, so event data moves to
//! the top (`CommandLine`, `Image`, `TargetUserName`) and System fields keep
//! their names (`EventID`, `Channel`, `Computer`), with attributes joined by
//! an underscore (`Provider_Name`, `TimeCreated_SystemTime`). Where event
//! data and System share a name, event data wins. Anything else under
//! `Event` stays dotted.
//!
//! Classes: logon, logoff and failed logon (4624, 4625, 4634, 4647, 4648)
//! are Authentication (3002); process creation (4688, Sysmon 1) Process
//! Activity (1007); account changes (4720–4767, group membership) Account
//! Change (3001); Sysmon network connections (3) Network Activity (4001),
//! file events (11, 23, 26) File System Activity (1001), DNS queries (22)
//! DNS Activity (4003); others a Base Event (0).

use rampart_core::Outcome;
use serde_json::{Map, Value as Json};

use super::json::{flatten_into, flatten_value, scalar, time_ms};
use crate::record::{Fields, OcsfClass, Parsed};

/// Parses an object that is a Windows event; `None` for any other JSON.
pub fn parse(obj: &Map<String, Json>) -> Option<Parsed> {
    let mut fields = Fields::new();
    if let Some(Json::Object(event)) = obj.get("Event")
        && let Some(Json::Object(system)) = event.get("System")
    {
        system_fields(&mut fields, system);
        for (key, value) in event {
            match (key.as_str(), value) {
                ("System", _) => {}
                ("EventData" | "UserData", Json::Object(data)) => data_fields(&mut fields, data),
                ("EventData" | "UserData", Json::Null) => {}
                _ => flatten_value(&mut fields, format!("Event.{key}"), value),
            }
        }
    } else if obj.contains_key("EventID") && (obj.contains_key("Channel") || obj.contains_key("ProviderName")) {
        flatten_into(&mut fields, "", obj);
    } else {
        return None;
    }
    let mut p = classify(&fields);
    p.time_ms = ["TimeCreated_SystemTime", "EventTime", "TimeCreated"]
        .iter()
        .find_map(|k| fields.get(k))
        .and_then(|v| time_ms(&v.to_json()));
    p.fields = fields;
    Some(p)
}

/// System's children: scalars by name, `#attributes` as `Parent_Attr`.
fn system_fields(fields: &mut Fields, system: &Map<String, Json>) {
    for (key, value) in system {
        match value {
            Json::Object(inner) => {
                let attrs = match inner.get("#attributes") {
                    Some(Json::Object(a)) => a,
                    _ => inner,
                };
                for (attr, v) in attrs {
                    fields.set(format!("{key}_{attr}"), scalar(v));
                }
                if let Some(text) = inner.get("#text") {
                    fields.set(key.clone(), scalar(text));
                }
            }
            Json::Null => {}
            other => fields.set(key.clone(), scalar(other)),
        }
    }
}

/// EventData or UserData children at the top; a UserData wrapper element
/// (`{"LogFileCleared":{…}}`) is looked through.
fn data_fields(fields: &mut Fields, data: &Map<String, Json>) {
    if data.len() == 1
        && let Some((_, Json::Object(inner))) = data.iter().next()
    {
        return data_fields(fields, inner);
    }
    for (key, value) in data {
        match value {
            Json::Object(inner) => flatten_into(fields, key, inner),
            Json::Array(_) => flatten_value(fields, key.clone(), value),
            other => fields.set(key.clone(), scalar(other)),
        }
    }
}

fn classify(fields: &Fields) -> Parsed {
    let id = fields.get("EventID").and_then(|v| v.as_i64()).unwrap_or(-1);
    let provider = fields.str("Provider_Name").or_else(|| fields.str("ProviderName")).unwrap_or("");
    let sysmon = provider.eq_ignore_ascii_case("Microsoft-Windows-Sysmon");
    use OcsfClass as C;
    let (class, kind, outcome) = match id {
        1 if sysmon => (C::ProcessActivity, "log.windows.process_creation", Some(Outcome::Success)),
        3 if sysmon => (C::NetworkActivity, "log.windows.network_connection", None),
        11 | 23 | 26 if sysmon => (C::FileSystemActivity, "log.windows.file_event", None),
        22 if sysmon => (C::DnsActivity, "log.windows.dns_query", None),
        _ if sysmon => (C::Base, "log.windows.event", None),
        4624 | 4648 => (C::Authentication, "log.windows.logon_success", Some(Outcome::Success)),
        4625 => (C::Authentication, "log.windows.logon_failed", Some(Outcome::Failure)),
        4634 | 4647 => (C::Authentication, "log.windows.logoff", Some(Outcome::Success)),
        4688 => (C::ProcessActivity, "log.windows.process_creation", Some(Outcome::Success)),
        4720..=4767 => (C::AccountChange, "log.windows.account_change", Some(Outcome::Success)),
        _ => (C::Base, "log.windows.event", None),
    };
    let mut p = Parsed::new(class, kind);
    p.outcome = outcome;
    p
}
