//! Web server error logs: nginx (`2024/06/15 12:00:00 [error] 12#12: *5
//! message, client: …, server: …, request: "…", host: "…"`) and Apache 2.2
//! and 2.4 (`[Sat Jun 15 12:00:00.123456 2024] [core:error] [pid 12:tid 34]
//! [client 1.2.3.4:5678] AH00126: message`).
//!
//! OCSF Application Error (6008), with the request's webserver fields when
//! the line names them, so Sigma webserver rules can still look at it.
//! Their timestamps carry no zone; the source's configured offset applies.

use time::{Date, Month, PrimitiveDateTime, Time};

use super::web::{quoted, request_fields};
use crate::record::{OcsfClass, Parsed};

/// Parses one error-log line; `None` when it is neither shape.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim();
    if msg.starts_with('[') { apache(msg) } else { nginx(msg) }
}

fn nginx(msg: &str) -> Option<Parsed> {
    // Via syslog nginx omits the date; from a file it starts the line.
    let rest = match msg.get(..20) {
        Some(date) if date.as_bytes().get(4) == Some(&b'/') && date.ends_with(' ') => &msg[20..],
        _ => msg,
    };
    let (level, rest) = rest.strip_prefix('[')?.split_once("] ")?;
    if level.is_empty() || !level.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut p = Parsed::new(OcsfClass::ApplicationError, "log.http.error");
    p.fields.set("server_software", "nginx");
    p.fields.set("level", level);
    p.time_ms = msg.get(..19).and_then(nginx_time_ms);
    p.time_is_local = true;
    let (pid, rest) = rest.split_once('#').map_or((None, rest), |(pid, r)| (Some(pid), r));
    p.set_opt("pid", pid.and_then(|p| p.parse::<i64>().ok()));
    let rest = rest.split_once(": ").map_or(rest, |(_, r)| r);
    // The connection number `*5` leads the text.
    let text = match rest.strip_prefix('*').and_then(|r| r.split_once(' ')) {
        Some((_, text)) => text,
        None => rest,
    };
    let (message, context) = text.split_once(", client: ").map_or((text, ""), |(m, c)| (m, c));
    p.fields.set("error_message", message);
    if !context.is_empty() {
        let (client, rest) = context.split_once(", ").unwrap_or((context, ""));
        p.fields.set("c-ip", client);
        nginx_context(&mut p, rest);
    }
    Some(p)
}

/// `server: x, request: "GET / HTTP/1.1", upstream: "…", host: "x"`.
fn nginx_context(p: &mut Parsed, mut rest: &str) {
    while let Some((key, after)) = rest.split_once(": ") {
        let (value, tail) = match after.strip_prefix('"') {
            Some(q) => quoted(q).unwrap_or((q, "")),
            None => after.split_once(", ").map_or((after, ""), |(v, t)| (v, t)),
        };
        match key.trim_start_matches(", ") {
            "server" => p.fields.set("server_name", value),
            "request" => request_fields(p, value),
            "host" => p.fields.set("cs-host", value),
            "upstream" => p.fields.set("upstream", value),
            "referrer" => p.fields.set("cs-referer", value),
            _ => {}
        }
        rest = tail.trim_start_matches(", ");
    }
}

fn apache(msg: &str) -> Option<Parsed> {
    let mut p = Parsed::new(OcsfClass::ApplicationError, "log.http.error");
    p.fields.set("server_software", "apache");
    let mut rest = msg;
    let mut first = true;
    while let Some(inner) = rest.strip_prefix('[') {
        let (item, tail) = inner.split_once(']')?;
        rest = tail.trim_start();
        if first {
            p.time_ms = apache_time_ms(item);
            p.time_is_local = true;
            first = false;
        } else if let Some(pid) = item.strip_prefix("pid ") {
            p.set_opt("pid", pid.split(':').next().and_then(|n| n.parse::<i64>().ok()));
        } else if let Some(client) = item.strip_prefix("client ").or_else(|| item.strip_prefix("remote ")) {
            // `1.2.3.4:5678`, `[::1]:5678` or (2.2) a bare address.
            let ip = match client.rsplit_once(':') {
                Some((ip, port)) if ip.contains('.') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
                _ => client,
            };
            p.fields.set("c-ip", ip.trim_matches(['[', ']']));
        } else if !item.contains(' ') {
            // `core:error` (2.4) or `error` (2.2).
            let (module, level) = item.split_once(':').map_or((None, item), |(m, l)| (Some(m), l));
            p.fields.set("level", level);
            p.set_opt("module", module);
        }
    }
    if first {
        return None;
    }
    let (code, text) = match rest.split_once(": ") {
        Some((code, text)) if code.starts_with("AH") && code.len() == 7 => (Some(code), text),
        _ => (None, rest),
    };
    p.set_opt("error_code", code);
    p.fields.set("error_message", text);
    Some(p)
}

fn nginx_time_ms(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    to_ms(num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?, 0)
}

/// `Sat Jun 15 12:00:00.123456 2024` (the fraction is 2.4 only).
fn apache_time_ms(s: &str) -> Option<i64> {
    let mut words = s.split_whitespace().skip(1);
    let name = words.next()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == name)?;
    let day = words.next()?.parse().ok()?;
    let clock = words.next()?;
    let year = words.next()?.parse().ok()?;
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
    let mut hms = hms.split(':').map(|n| n.parse::<u32>().ok());
    let micros = format!("{frac:0<6}").get(..6)?.parse::<u32>().ok()?;
    to_ms(year, u32::try_from(month + 1).ok()?, day, hms.next()??, hms.next()??, hms.next()??, micros)
}

fn to_ms(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32, micros: u32) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time =
        Time::from_hms_micro(u8::try_from(h).ok()?, u8::try_from(m).ok()?, u8::try_from(s).ok()?, micros).ok()?;
    i64::try_from(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp_nanos() / 1_000_000).ok()
}
