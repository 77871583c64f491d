//! MySQL and MariaDB logs: the error log (`2024-06-15T12:00:00.123456Z 8
//! [Note] [MY-010926] [Server] Access denied for user 'bob'@'10.0.0.9' (using
//! password: YES)`, also without the 8.0 brackets) and the general query log
//! (`2024-06-15T12:00:00.123456Z   12 Connect   alice@10.0.0.5 on app using
//! TCP/IP`, `… 12 Query  SELECT 1`).
//!
//! Connections and refusals are OCSF Authentication (3002), queries
//! Datastore Activity (6005), `[ERROR]` lines Application Error (6008).

use rampart_core::Outcome;

use crate::record::{OcsfClass, Parsed};
use crate::syslog::timestamp::parse_rfc3339;
use crate::text::{Cursor, looks_like_ip};

/// General-log commands that carry SQL.
const QUERY_COMMANDS: [&str; 4] = ["Query", "Execute", "Prepare", "Init DB"];

/// Parses one MySQL line; `None` when it is neither log's shape.
pub fn parse(msg: &str) -> Option<Parsed> {
    let mut rest = msg.trim();
    let mut time_ms = None;
    let mut cur = Cursor::new(rest.as_bytes());
    if let Some(t) = parse_rfc3339(&mut cur, time::UtcOffset::UTC) {
        time_ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
        rest = rest.get(cur.pos..).unwrap_or("").trim_start();
    }
    let (thread, after) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let thread = thread.parse::<i64>().ok();
    if thread.is_some() {
        rest = after.trim_start();
    }
    let mut p = if rest.starts_with('[') { error_log(rest)? } else { general_log(rest)? };
    p.time_ms = time_ms;
    p.set_opt("thread_id", thread);
    Some(p)
}

/// `[Note] [MY-010926] [Server] text` or `[Warning] text`.
fn error_log(mut rest: &str) -> Option<Parsed> {
    let mut level = None;
    let mut code = None;
    while let Some(inner) = rest.strip_prefix('[') {
        let (item, tail) = inner.split_once(']')?;
        if level.is_none() {
            level = Some(item);
        } else if item.starts_with("MY-") {
            code = Some(item);
        }
        rest = tail.trim_start();
    }
    let level = level?;
    let mut p = if let Some(denied) = rest.strip_prefix("Access denied for user ") {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.mysql.auth_failed").with_outcome(Outcome::Failure);
        user_at_host(&mut p, denied);
        p
    } else if level.eq_ignore_ascii_case("error") {
        Parsed::new(OcsfClass::ApplicationError, "log.mysql.error").with_outcome(Outcome::Failure)
    } else {
        Parsed::new(OcsfClass::Base, "log.mysql.other")
    };
    p.fields.set("level", level);
    p.set_opt("error_code", code);
    p.fields.set("error_message", rest);
    Some(p)
}

/// `Connect alice@10.0.0.5 on app using TCP/IP`, `Query SELECT 1`.
fn general_log(rest: &str) -> Option<Parsed> {
    let command = ["Connect", "Quit", "Query", "Execute", "Prepare", "Init DB", "Close stmt", "Field List"]
        .into_iter()
        .find(|c| rest.strip_prefix(c).is_some_and(|tail| tail.is_empty() || tail.starts_with([' ', '\t'])))?;
    let arg = rest[command.len()..].trim();
    let mut p = match command {
        "Connect" if arg.starts_with("Access denied for user ") => {
            let mut p = Parsed::new(OcsfClass::Authentication, "log.mysql.auth_failed").with_outcome(Outcome::Failure);
            user_at_host(&mut p, arg.trim_start_matches("Access denied for user "));
            p.fields.set("error_message", arg);
            p
        }
        "Connect" => {
            let mut p = Parsed::new(OcsfClass::Authentication, "log.mysql.connection").with_outcome(Outcome::Success);
            let (who, rest) = arg.split_once(' ').unwrap_or((arg, ""));
            let (user, host) = who.split_once('@').unwrap_or((who, ""));
            p.fields.set("User", user);
            set_host(&mut p, host);
            if let Some(db) = rest.strip_prefix("on ").and_then(|r| r.split(' ').next()).filter(|d| !d.is_empty()) {
                p.fields.set("database", db);
            }
            p
        }
        c if QUERY_COMMANDS.contains(&c) => {
            let mut p = Parsed::new(OcsfClass::DatastoreActivity, "log.mysql.statement").with_outcome(Outcome::Success);
            p.fields.set("query", arg);
            p
        }
        _ => Parsed::new(OcsfClass::Base, "log.mysql.other"),
    };
    p.fields.set("command", command);
    Some(p)
}

/// `'bob'@'10.0.0.9' (using password: YES)`.
fn user_at_host(p: &mut Parsed, text: &str) {
    let mut parts = text.split('\'');
    let user = parts.nth(1);
    let host = parts.nth(1);
    p.set_opt("User", user);
    if let Some(host) = host {
        set_host(p, host);
    }
    p.set_opt("password_used", text.split_once("using password: ").map(|(_, r)| r.starts_with("YES")));
}

fn set_host(p: &mut Parsed, host: &str) {
    if host.is_empty() {
        return;
    }
    p.fields.set(if looks_like_ip(host) { "src_ip" } else { "src_host" }, host);
}
