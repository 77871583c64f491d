//! Web server access logs in the NCSA combined format that nginx and Apache
//! share (`IP - user [time] "request" status bytes "referer" "agent"`, with
//! Apache's optional `vhost:port` in front and nginx's extra fields after).
//!
//! OCSF HTTP Activity (4002) with Sigma's webserver field names: `c-ip`,
//! `cs-username`, `cs-method`, `c-uri` (the request target, query included),
//! `cs-uri-stem`, `cs-uri-query`, `c-uri-extension`, `cs-version`,
//! `sc-status`, `sc-bytes`, `cs-referer`, `c-useragent`, `cs-host`. Sigma
//! rules spell a few of these two ways; both spellings are set.

use rampart_core::Outcome;

use crate::record::{OcsfClass, Parsed};
use crate::text::looks_like_ip;

/// Parses one access-log line; `None` when it is not in combined format.
pub fn parse(msg: &str) -> Option<Parsed> {
    let msg = msg.trim();
    let (first, rest) = msg.split_once(' ')?;
    // Apache's vhost_combined puts `host:port` before the client address.
    let (vhost, client, rest) = match rest.split_once(' ') {
        Some((second, tail)) if !looks_like_ip(first) && looks_like_ip(second) => (Some(first), second, tail),
        _ => (None, first, rest),
    };
    let (_ident, rest) = rest.split_once(' ')?;
    let (user, rest) = rest.split_once(" [")?;
    let (time, rest) = rest.split_once("] \"")?;
    let (request, rest) = quoted(rest)?;
    let mut words = rest.trim_start().splitn(3, ' ');
    let status = words.next()?.parse::<i64>().ok()?;
    let bytes = words.next().unwrap_or("-");
    let rest = words.next().unwrap_or("");

    let mut p = Parsed::new(OcsfClass::HttpActivity, "log.http.access");
    p.time_ms = clf_time_ms(time);
    p.fields.set("c-ip", client);
    if user != "-" {
        p.fields.set("cs-username", user);
    }
    request_fields(&mut p, request);
    p.fields.set("sc-status", status);
    p.set_opt("sc-bytes", bytes.parse::<i64>().ok());
    if let Some((referer, rest)) = rest.strip_prefix('"').and_then(quoted) {
        if referer != "-" {
            p.fields.set("cs-referer", referer);
        }
        if let Some((agent, _)) = rest.trim_start().strip_prefix('"').and_then(quoted) {
            p.fields.set("c-useragent", agent);
            p.fields.set("cs-user-agent", agent);
        }
    }
    if let Some(vhost) = vhost {
        p.fields.set("cs-host", vhost.rsplit_once(':').map_or(vhost, |(h, _)| h));
    }
    p.outcome = Some(if status < 400 { Outcome::Success } else { Outcome::Failure });
    Some(p)
}

/// The text up to the next unescaped `"`, and what follows it.
pub(crate) fn quoted(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// `GET /path?query HTTP/1.1` into method, URI parts and version.
pub(crate) fn request_fields(p: &mut Parsed, request: &str) {
    let mut parts = request.splitn(3, ' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        if !request.is_empty() && request != "-" {
            p.fields.set("request", request);
        }
        return;
    };
    p.fields.set("cs-method", method);
    p.fields.set("c-uri", target);
    let (stem, query) = target.split_once('?').unwrap_or((target, ""));
    p.fields.set("cs-uri-stem", stem);
    if !query.is_empty() {
        p.fields.set("cs-uri-query", query);
        p.fields.set("c-uri-query", query);
    }
    let last = stem.rsplit('/').next().unwrap_or(stem);
    if let Some((_, ext)) = last.rsplit_once('.')
        && !ext.is_empty()
    {
        p.fields.set("c-uri-extension", ext);
    }
    p.set_opt("cs-version", parts.next());
}

/// `10/Oct/2000:13:55:36 -0700` to Unix milliseconds.
fn clf_time_ms(s: &str) -> Option<i64> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
    let b = s.as_bytes();
    if b.len() < 26 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i32>().ok();
    let month = match s.get(3..6)? {
        "Jan" => Month::January,
        "Feb" => Month::February,
        "Mar" => Month::March,
        "Apr" => Month::April,
        "May" => Month::May,
        "Jun" => Month::June,
        "Jul" => Month::July,
        "Aug" => Month::August,
        "Sep" => Month::September,
        "Oct" => Month::October,
        "Nov" => Month::November,
        "Dec" => Month::December,
        _ => return None,
    };
    let date = Date::from_calendar_date(num(7..11)?, month, u8::try_from(num(0..2)?).ok()?).ok()?;
    let time = Time::from_hms(
        u8::try_from(num(12..14)?).ok()?,
        u8::try_from(num(15..17)?).ok()?,
        u8::try_from(num(18..20)?).ok()?,
    )
    .ok()?;
    let sign = if b.get(21) == Some(&b'-') { -1 } else { 1 };
    let offset =
        UtcOffset::from_hms(i8::try_from(sign * num(22..24)?).ok()?, i8::try_from(sign * num(24..26)?).ok()?, 0)
            .ok()?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}
