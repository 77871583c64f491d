//! Turns a normalised [`Record`] into the shared audit [`Event`], so ingested
//! logs travel the same path (ledger, search, detection) as Rampart's own
//! actions.
//!
//! The event's `attrs` hold `ocsf.class_uid`, `ocsf.class_name`, the parsed
//! fields under `fields`, the syslog envelope under `syslog`, the message
//! text, and the raw bytes in base64 when they were not UTF-8 (otherwise the
//! message text and header already are the raw line).
//!
//! # Event kinds
//!
//! | kind | OCSF class |
//! |---|---|
//! | `log.sshd.auth_success`, `log.sshd.auth_failed`, `log.sshd.invalid_user`, `log.sshd.max_auth_exceeded` | 3002 Authentication |
//! | `log.sshd.connection`, `log.sshd.disconnect`, `log.sshd.connection_closed` | 4007 SSH Activity |
//! | `log.sudo.command` | 1007 Process Activity |
//! | `log.sudo.auth_failed` | 3002 Authentication |
//! | `log.sudo.denied` | 3003 Authorize Session |
//! | `log.su.success`, `log.su.failed` | 3002 Authentication |
//! | `log.pam.auth_failed`, `log.pam.session_opened`, `log.pam.session_closed`, `log.pam.other` | 3002 Authentication |
//! | `log.auditd.execve`, `log.auditd.user_cmd` | 1007 Process Activity |
//! | `log.auditd.user_auth`, `log.auditd.user_login`, `log.auditd.user_logout`, `log.auditd.user_session` | 3002 Authentication |
//! | `log.auditd.account_change` | 3001 Account Change |
//! | `log.auditd.syscall` | 1001 File System Activity (with PATH records) or 0 |
//! | `log.auditd.config_change`, `log.auditd.other` | 0 Base Event |
//! | `log.netfilter.packet` | 4001 Network Activity |
//! | `log.http.access` | 4002 HTTP Activity |
//! | `log.http.error` | 6008 Application Error |
//! | `log.postgresql.connection`, `log.postgresql.auth_success`, `log.postgresql.auth_failed` | 3002 Authentication |
//! | `log.postgresql.statement` | 6005 Datastore Activity |
//! | `log.postgresql.error` | 6008 Application Error |
//! | `log.postgresql.connection_received`, `log.postgresql.disconnection` | 0 Base Event |
//! | `log.mysql.connection`, `log.mysql.auth_failed` | 3002 Authentication |
//! | `log.mysql.statement` | 6005 Datastore Activity |
//! | `log.mysql.error` | 6008 Application Error |
//! | `log.windows.logon_success`, `log.windows.logon_failed`, `log.windows.logoff` | 3002 Authentication |
//! | `log.windows.process_creation` | 1007 Process Activity |
//! | `log.windows.account_change` | 3001 Account Change |
//! | `log.windows.network_connection` | 4001 Network Activity |
//! | `log.windows.file_event` | 1001 File System Activity |
//! | `log.windows.dns_query` | 4003 DNS Activity |
//! | `log.cloudtrail.api_call` | 6003 API Activity |
//! | `log.windows.event`, `log.json`, `log.kv`, `log.unknown`, `log.<parser>.other` | 0 Base Event |

use rampart_core::{Event, Outcome};
use serde_json::{Map, Value as Json};

use crate::record::Record;

/// Builds the event of one record. `received_ms` (the receiver's clock)
/// stands in when neither the message nor its header says when it happened.
/// A record without an outcome (most informational lines) is recorded as a
/// success: the core `Outcome` has no "unknown", and nothing failed.
pub fn to_event(record: &Record, received_ms: i64) -> Event {
    let actor = actor(record);
    let mut event = Event::new(record.kind, record.outcome.unwrap_or(Outcome::Success), actor);
    event.time_ms = record.time_ms().unwrap_or(received_ms);
    event.source_addr = ["src_ip", "c-ip", "IpAddress", "SourceIp"]
        .iter()
        .find_map(|k| record.fields.str(k))
        .filter(|ip| !ip.is_empty() && *ip != "-")
        .map(str::to_owned);
    event.object = ["TargetUser", "TargetUserName", "database", "c-uri", "dst_ip"]
        .iter()
        .find_map(|k| record.fields.str(k))
        .map(str::to_owned);

    let mut attrs = Map::new();
    attrs.insert("ocsf.class_uid".into(), record.class.uid().into());
    attrs.insert("ocsf.class_name".into(), record.class.name().into());
    attrs.insert("fields".into(), Json::Object(record.fields.to_json()));
    attrs.insert("syslog".into(), Json::Object(syslog_attrs(record)));
    attrs.insert("message".into(), record.syslog.message.as_str().into());
    if record.syslog.flags.invalid_utf8 {
        attrs.insert("raw_base64".into(), data_encoding::BASE64.encode(&record.syslog.raw).into());
    }
    event.attrs = Json::Object(attrs);
    event
}

/// Who acted: the user the parser found, else `app@host`, else `unknown`.
fn actor(record: &Record) -> String {
    let user = ["User", "TargetUserName", "SubjectUserName", "cs-username", "userIdentity.arn"]
        .iter()
        .find_map(|k| record.fields.str(k))
        .filter(|u| !u.is_empty() && *u != "-");
    if let Some(user) = user {
        return user.to_owned();
    }
    match (&record.syslog.app_name, &record.syslog.hostname) {
        (Some(app), Some(host)) => format!("{app}@{host}"),
        (Some(app), None) => app.clone(),
        (None, Some(host)) => host.clone(),
        (None, None) => "unknown".to_owned(),
    }
}

fn syslog_attrs(record: &Record) -> Map<String, Json> {
    let s = &record.syslog;
    let mut m = Map::new();
    m.insert("format".into(), s.format.as_str().into());
    if let Some(pri) = s.priority {
        m.insert("facility".into(), pri.facility.into());
        m.insert("severity".into(), pri.severity.into());
    }
    let text = [("hostname", &s.hostname), ("app_name", &s.app_name), ("proc_id", &s.proc_id), ("msg_id", &s.msg_id)];
    for (key, value) in text {
        if let Some(v) = value {
            m.insert(key.into(), v.as_str().into());
        }
    }
    if !s.structured_data.is_empty() {
        let sd: Map<String, Json> = s
            .structured_data
            .iter()
            .map(|e| {
                (e.id.clone(), Json::Object(e.params.iter().map(|(k, v)| (k.clone(), v.as_str().into())).collect()))
            })
            .collect();
        m.insert("structured_data".into(), Json::Object(sd));
    }
    let f = s.flags;
    let flags: Vec<Json> = [
        ("truncated", f.truncated),
        ("invalid_utf8", f.invalid_utf8),
        ("bom", f.bom),
        ("no_pri", f.no_pri),
        ("no_timestamp", f.no_timestamp),
        ("year_inferred", f.year_inferred),
        ("malformed_header", f.malformed_header),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| name.into())
    .collect();
    if !flags.is_empty() {
        m.insert("flags".into(), Json::Array(flags));
    }
    m
}
