//! PostgreSQL server log lines, from a file (`2024-06-15 12:00:00.123 UTC
//! [1234] alice@app LOG:  …`) or through syslog (`[3-1] user=alice,db=app
//! LOG:  …`): the prefix is read loosely, the level marker (`LOG:  `,
//! `FATAL:  `…) anchors the message.
//!
//! Connections authorised or authenticated and failed authentication are
//! OCSF Authentication (3002); statements (`log_statement`,
//! `log_min_duration_statement`) are Datastore Activity (6005); ERROR, FATAL
//! and PANIC lines otherwise are Application Error (6008).

use rampart_core::Outcome;

use super::common::{kv_pairs, split_ip_port};
use crate::record::{OcsfClass, Parsed, Value};
use crate::text::looks_like_ip;

const LEVELS: [&str; 14] = [
    "LOG",
    "ERROR",
    "FATAL",
    "PANIC",
    "WARNING",
    "NOTICE",
    "INFO",
    "DETAIL",
    "HINT",
    "STATEMENT",
    "CONTEXT",
    "QUERY",
    "LOCATION",
    "DEBUG",
];

/// Parses one PostgreSQL line; `None` without a level marker.
pub fn parse(msg: &str) -> Option<Parsed> {
    let (prefix, level, text) = split_level(msg)?;
    let mut p = message(level, text.trim());
    p.fields.set("level", level);
    read_prefix(&mut p, prefix);
    Some(p)
}

/// Finds `LEVEL:  ` (PostgreSQL puts two spaces after the colon).
fn split_level(msg: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    while let Some(at) = msg.get(from..)?.find(":  ") {
        let colon = from + at;
        let word_start = msg[..colon].rfind(' ').map_or(0, |i| i + 1);
        let word = &msg[word_start..colon];
        let base = word.trim_end_matches(|c: char| c.is_ascii_digit());
        if LEVELS.contains(&base) {
            return Some((&msg[..word_start], word, &msg[colon + 3..]));
        }
        from = colon + 3;
    }
    None
}

fn message(level: &str, text: &str) -> Parsed {
    if let Some(rest) = text.strip_prefix("connection authorized: ") {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.postgresql.connection").with_outcome(Outcome::Success);
        session_kv(&mut p, rest);
        return p;
    }
    if let Some(rest) = text.strip_prefix("connection authenticated: ") {
        let mut p =
            Parsed::new(OcsfClass::Authentication, "log.postgresql.auth_success").with_outcome(Outcome::Success);
        session_kv(&mut p, rest);
        return p;
    }
    if let Some(rest) = text.strip_prefix("connection received: ") {
        let mut p = Parsed::new(OcsfClass::Base, "log.postgresql.connection_received");
        session_kv(&mut p, rest);
        return p;
    }
    if let Some(rest) = text.strip_prefix("disconnection: ") {
        let mut p = Parsed::new(OcsfClass::Base, "log.postgresql.disconnection");
        session_kv(&mut p, rest.split_once(' ').map_or(rest, |(_, r)| r));
        return p;
    }
    if let Some(user) = auth_failure_user(text) {
        let mut p = Parsed::new(OcsfClass::Authentication, "log.postgresql.auth_failed").with_outcome(Outcome::Failure);
        p.set_opt("User", user);
        if let Some((method, _)) = text.split_once(" authentication failed") {
            p.fields.set("auth_method", method.to_ascii_lowercase());
        }
        pg_hba_fields(&mut p, text);
        p.fields.set("error_message", text);
        return p;
    }
    if let Some(query) = statement(text) {
        let mut p =
            Parsed::new(OcsfClass::DatastoreActivity, "log.postgresql.statement").with_outcome(Outcome::Success);
        p.fields.set("query", query);
        if let Some(ms) = text.strip_prefix("duration: ").and_then(|d| d.split(' ').next()).and_then(|d| d.parse().ok())
        {
            p.fields.set("duration_ms", Value::Float(ms));
        }
        return p;
    }
    if level == "STATEMENT" {
        let mut p = Parsed::new(OcsfClass::Base, "log.postgresql.other");
        p.fields.set("query", text);
        return p;
    }
    if matches!(level, "ERROR" | "FATAL" | "PANIC") {
        let mut p = Parsed::new(OcsfClass::ApplicationError, "log.postgresql.error").with_outcome(Outcome::Failure);
        p.fields.set("error_message", text);
        return p;
    }
    Parsed::new(OcsfClass::Base, "log.postgresql.other")
}

/// The user of `password authentication failed for user "alice"` and of
/// `no pg_hba.conf entry for host "…", user "bob", …`.
fn auth_failure_user(text: &str) -> Option<Option<&str>> {
    if let Some((_, rest)) = text.split_once(" authentication failed for user \"") {
        return Some(rest.split('"').next());
    }
    if text.starts_with("no pg_hba.conf entry for ") {
        return Some(text.split_once("user \"").and_then(|(_, r)| r.split('"').next()));
    }
    None
}

/// `host "10.0.0.9", user "bob", database "app"` of a pg_hba refusal.
fn pg_hba_fields(p: &mut Parsed, text: &str) {
    let quoted_after = |marker: &str| text.split_once(marker).and_then(|(_, r)| r.split('"').next());
    if let Some(host) = quoted_after("host \"") {
        p.fields.set(if looks_like_ip(host) { "src_ip" } else { "src_host" }, host);
    }
    p.set_opt("database", quoted_after("database \""));
}

/// The SQL of `statement: …`, `duration: 1.2 ms  statement: …` and
/// `execute <name>: …`.
fn statement(text: &str) -> Option<&str> {
    let rest = match text.strip_prefix("duration: ") {
        Some(r) => r.split_once("  ").map(|(_, r)| r)?,
        None => text,
    };
    if let Some(q) = rest.strip_prefix("statement: ") {
        return Some(q);
    }
    let (verb, q) = rest.split_once(": ")?;
    (verb.starts_with("execute ") || verb.starts_with("parse ") || verb.starts_with("bind ")).then_some(q)
}

/// `user=alice database=app host=10.0.0.5 port=5432 application_name=psql`.
fn session_kv(p: &mut Parsed, text: &str) {
    kv_pairs(
        text,
        ' ',
        |_| {},
        |pair| {
            let v = pair.value.as_ref();
            match pair.key {
                "user" => p.fields.set("User", v),
                "identity" => p.fields.set("identity", v),
                "database" => p.fields.set("database", v),
                "application_name" => p.fields.set("application_name", v),
                "method" => p.fields.set("auth_method", v),
                "host" if looks_like_ip(v) => p.fields.set("src_ip", v),
                "host" => p.fields.set("src_host", v),
                "port" => p.set_opt("src_port", v.parse::<i64>().ok()),
                _ => {}
            }
        },
    );
}

/// The loosely structured `log_line_prefix`: a timestamp, `[pid]`, the
/// syslog sequence `[3-1]`, `user@db` or `user=…,db=…,client=…` words.
fn read_prefix(p: &mut Parsed, prefix: &str) {
    let mut rest = prefix.trim();
    if let Some((ms, local, used)) = prefix_time(rest) {
        p.time_ms = Some(ms);
        p.time_is_local = local;
        rest = rest.get(used..).unwrap_or("").trim_start();
    }
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            if let Ok(pid) = inner.parse::<i64>() {
                p.fields.set("pid", pid);
            }
        } else if word.contains('=') {
            for part in word.trim_end_matches([',', ':']).split(',') {
                match part.split_once('=') {
                    Some(("user", u)) if !u.is_empty() && p.fields.get("User").is_none() => p.fields.set("User", u),
                    Some(("db", d)) if !d.is_empty() && p.fields.get("database").is_none() => {
                        p.fields.set("database", d)
                    }
                    Some(("app", a)) if !a.is_empty() => p.fields.set("application_name", a),
                    Some(("client" | "host", c)) if p.fields.get("src_ip").is_none() => {
                        let ip = split_ip_port(c).map_or(c, |(_, ip, _, _)| ip);
                        if looks_like_ip(ip) {
                            p.fields.set("src_ip", ip);
                        }
                    }
                    _ => {}
                }
            }
        } else if let Some((user, db)) = word.split_once('@') {
            if !user.is_empty() && p.fields.get("User").is_none() {
                p.fields.set("User", user);
            }
            if !db.is_empty() && p.fields.get("database").is_none() {
                p.fields.set("database", db);
            }
        }
    }
}

/// `2024-06-15 12:00:00.123 UTC` → (Unix ms, zone unknown?, bytes used).
fn prefix_time(s: &str) -> Option<(i64, bool, usize)> {
    use time::{Date, Month, PrimitiveDateTime, Time};
    let b = s.as_bytes();
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let mut used = 19;
    let mut millis = 0;
    if b.get(19) == Some(&b'.') {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        millis = format!("{:0<3}", s.get(20..20 + digits)?).get(..3)?.parse().ok()?;
        used = 20 + digits;
    }
    let hms = |r| u8::try_from(num(r)?).ok();
    let time = Time::from_hms_milli(hms(11..13)?, hms(14..16)?, hms(17..19)?, millis).ok()?;
    let ms = i64::try_from(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp_nanos() / 1_000_000).ok()?;
    // A zone name follows; only UTC and GMT say what the offset is.
    let zone = s.get(used..).unwrap_or("").trim_start().split(' ').next().unwrap_or("");
    let utc = matches!(zone, "UTC" | "GMT" | "+00" | "Z");
    let zone_len =
        if zone.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-') { zone.len() + 1 } else { 0 };
    Some((ms, !utc, used + zone_len))
}
