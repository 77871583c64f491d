//! Timestamp readers: RFC 3339 as RFC 5424 uses it, and the BSD
//! `Mmm dd hh:mm:ss` of RFC 3164 with its real-world variants (fractions, a
//! year, Cisco's leading `*`, a trailing zone name).
//!
//! BSD timestamps carry no year. It is inferred from the receiver's clock: a
//! timestamp that would lie more than a month in the future belongs to the
//! previous year (December lines arriving in January), and one more than
//! eleven months in the past to the next (a sender whose clock runs ahead
//! over New Year).

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::ParseContext;
use crate::text::Cursor;

/// Reads `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`. A missing offset (seen in
/// RFC 3164 messages with ISO dates) takes `default_offset`. The cursor is
/// restored when nothing matches.
pub(crate) fn parse_rfc3339(cur: &mut Cursor<'_>, default_offset: UtcOffset) -> Option<OffsetDateTime> {
    let start = cur.pos;
    let parsed = rfc3339_inner(cur, default_offset);
    if parsed.is_none() {
        cur.pos = start;
    }
    parsed
}

fn rfc3339_inner(cur: &mut Cursor<'_>, default_offset: UtcOffset) -> Option<OffsetDateTime> {
    let year = cur.fixed_digits(4)?;
    let month = (cur.eat(b'-')).then(|| cur.fixed_digits(2)).flatten()?;
    let day = (cur.eat(b'-')).then(|| cur.fixed_digits(2)).flatten()?;
    if !(cur.eat(b'T') || cur.eat(b't')) {
        return None;
    }
    let (hour, minute, second, nanos) = clock(cur)?;
    let offset = match cur.peek() {
        Some(b'Z' | b'z') => {
            cur.advance(1);
            UtcOffset::UTC
        }
        Some(sign @ (b'+' | b'-')) => {
            cur.advance(1);
            let h = cur.fixed_digits(2)?;
            cur.eat(b':');
            let m = cur.fixed_digits(2)?;
            let secs = i32::try_from(h * 3600 + m * 60).ok()?;
            UtcOffset::from_whole_seconds(if sign == b'-' { -secs } else { secs }).ok()?
        }
        _ => default_offset,
    };
    build(i32::try_from(year).ok()?, month, day, (hour, minute, second, nanos), offset)
}

/// Reads `HH:MM:SS[.frac]`; the fraction keeps up to nanosecond precision.
fn clock(cur: &mut Cursor<'_>) -> Option<(u32, u32, u32, u32)> {
    let hour = cur.fixed_digits(2)?;
    let minute = cur.eat(b':').then(|| cur.fixed_digits(2)).flatten()?;
    let second = cur.eat(b':').then(|| cur.fixed_digits(2)).flatten()?;
    let mut nanos = 0;
    if cur.peek() == Some(b'.') && cur.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
        cur.advance(1);
        let mut scale = 100_000_000;
        while let Some(d @ b'0'..=b'9') = cur.peek() {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            cur.advance(1);
        }
    }
    Some((hour, minute, second, nanos))
}

fn build(year: i32, month: u32, day: u32, hms: (u32, u32, u32, u32), offset: UtcOffset) -> Option<OffsetDateTime> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    // A leap second (:60) is folded onto :59 rather than dropping the time.
    let second = hms.2.min(59);
    let time =
        Time::from_hms_nano(u8::try_from(hms.0).ok()?, u8::try_from(hms.1).ok()?, u8::try_from(second).ok()?, hms.3)
            .ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

fn month_from_abbrev(name: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    let lower =
        [name.first()?.to_ascii_lowercase(), name.get(1)?.to_ascii_lowercase(), name.get(2)?.to_ascii_lowercase()];
    NAMES.iter().position(|n| **n == lower).and_then(|i| u32::try_from(i + 1).ok())
}

/// A BSD timestamp as read, before the year is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BsdTime {
    pub at: OffsetDateTime,
    pub year_inferred: bool,
}

/// Reads `Mmm dd hh:mm:ss[.frac]`, `Mmm dd yyyy hh:mm:ss` or
/// `Mmm dd hh:mm:ss yyyy`, optionally preceded by Cisco's `*` or `.` and
/// followed by a zone name such as `UTC`. The cursor is restored on failure.
pub(crate) fn parse_bsd(cur: &mut Cursor<'_>, ctx: &ParseContext) -> Option<BsdTime> {
    let start = cur.pos;
    let parsed = bsd_inner(cur, ctx);
    if parsed.is_none() {
        cur.pos = start;
    }
    parsed
}

fn bsd_inner(cur: &mut Cursor<'_>, ctx: &ParseContext) -> Option<BsdTime> {
    if !cur.eat(b'*') {
        cur.eat(b'.');
    }
    let month = month_from_abbrev(cur.rest())?;
    cur.advance(3);
    if !cur.eat(b' ') {
        return None;
    }
    cur.skip_spaces();
    let day = cur.digits(2)?;
    if !cur.eat(b' ') {
        return None;
    }
    let mut year = None;
    if cur.peek_at(4) == Some(b' ') {
        year = Some(cur.fixed_digits(4)?);
        cur.advance(1);
    }
    let hms = clock(cur)?;
    if year.is_none() && cur.peek() == Some(b' ') && cur.peek_at(5).is_none_or(|b| b == b' ' || b == b':') {
        let mut look = *cur;
        look.advance(1);
        if let Some(y) = look.fixed_digits(4) {
            year = Some(y);
            *cur = look;
        }
    }
    let offset = zone_name(cur).unwrap_or(ctx.zone);
    match year {
        Some(y) => Some(BsdTime { at: build(i32::try_from(y).ok()?, month, day, hms, offset)?, year_inferred: false }),
        None => Some(BsdTime { at: infer_year(month, day, hms, offset, ctx.now)?, year_inferred: true }),
    }
}

const KNOWN_ZONES: [&[u8]; 24] = [
    b"UTC", b"GMT", b"UT", b"CET", b"CEST", b"EET", b"EEST", b"WET", b"WEST", b"EST", b"EDT", b"CST", b"CDT", b"MST",
    b"MDT", b"PST", b"PDT", b"JST", b"IST", b"AEST", b"AEDT", b"BST", b"MSK", b"HKT",
];

/// Consumes a trailing zone abbreviation (` UTC`, ` GMT`, ` CET`…). Only UTC
/// names carry an offset; others are ambiguous and fall back to the
/// configured zone.
fn zone_name(cur: &mut Cursor<'_>) -> Option<UtcOffset> {
    let mut look = *cur;
    if !look.eat(b' ') {
        return None;
    }
    let name = look.rest().iter().take_while(|b| b.is_ascii_uppercase()).count();
    let end = look.peek_at(name);
    let word = look.rest().get(..name).unwrap_or_default();
    // An uppercase word followed by a space may be a hostname, so only known
    // zone names are taken there; before a colon (Cisco) any name is a zone.
    let known = KNOWN_ZONES.contains(&word) && (end.is_none() || end == Some(b' '));
    if !(2..=5).contains(&name) || !(known || end == Some(b':')) {
        return None;
    }
    look.advance(name);
    *cur = look;
    matches!(word, b"UTC" | b"GMT" | b"Z" | b"UT").then_some(UtcOffset::UTC)
}

/// Picks the year that puts the timestamp nearest to `now`.
fn infer_year(
    month: u32,
    day: u32,
    hms: (u32, u32, u32, u32),
    offset: UtcOffset,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let year = now.year();
    let candidate = build(year, month, day, hms, offset)
        // 29 February outside a leap year can only be last leap year's.
        .or_else(|| (1..=4).find_map(|back| build(year - back, month, day, hms, offset)))?;
    if candidate > now + Duration::days(31) {
        return build(candidate.year() - 1, month, day, hms, offset).or(Some(candidate));
    }
    if candidate < now - Duration::days(335) {
        return build(candidate.year() + 1, month, day, hms, offset).or(Some(candidate));
    }
    Some(candidate)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn ctx(now: OffsetDateTime) -> ParseContext {
        ParseContext::new(now, UtcOffset::UTC)
    }

    fn bsd(s: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
        parse_bsd(&mut Cursor::new(s.as_bytes()), &ctx(now)).map(|t| t.at)
    }

    #[test]
    fn rfc3339_reads_fractions_and_offsets() {
        let mut c = Cursor::new(b"2003-10-11T22:14:15.003Z x");
        assert_eq!(parse_rfc3339(&mut c, UtcOffset::UTC), Some(datetime!(2003-10-11 22:14:15.003 UTC)));
        assert_eq!(c.rest(), b" x");
        let mut c = Cursor::new(b"2003-08-24T05:14:15.000003-07:00");
        assert_eq!(parse_rfc3339(&mut c, UtcOffset::UTC), Some(datetime!(2003-08-24 05:14:15.000003 -7)));
        let mut c = Cursor::new(b"2003-13-24T05:14:15Z");
        assert_eq!(parse_rfc3339(&mut c, UtcOffset::UTC), None);
        assert_eq!(c.pos, 0, "a failed parse must not move the cursor");
    }

    #[test]
    fn december_lines_arriving_in_january_belong_to_last_year() {
        let now = datetime!(2025-01-01 00:00:10 UTC);
        assert_eq!(bsd("Dec 31 23:59:58 host", now), Some(datetime!(2024-12-31 23:59:58 UTC)));
        assert_eq!(bsd("Jan  1 00:00:05 host", now), Some(datetime!(2025-01-01 00:00:05 UTC)));
    }

    #[test]
    fn a_sender_ahead_over_new_year_gets_next_year() {
        let now = datetime!(2024-12-31 23:59:50 UTC);
        assert_eq!(bsd("Jan  1 00:00:05", now), Some(datetime!(2025-01-01 00:00:05 UTC)));
    }

    #[test]
    fn bsd_variants_with_year_fraction_and_zone() {
        let now = datetime!(2024-06-01 00:00:00 UTC);
        assert_eq!(bsd("*Mar  1 18:46:11.123 UTC: %SYS", now), Some(datetime!(2024-03-01 18:46:11.123 UTC)));
        assert_eq!(bsd("Jan 05 2023 12:00:00: %ASA", now), Some(datetime!(2023-01-05 12:00:00 UTC)));
        assert_eq!(bsd("Jan  5 12:00:00 2022 host", now), Some(datetime!(2022-01-05 12:00:00 UTC)));
        assert_eq!(bsd("Feb 29 12:00:00", now), Some(datetime!(2024-02-29 12:00:00 UTC)));
        assert_eq!(bsd("Foo  5 12:00:00", now), None);
    }

    #[test]
    fn the_configured_zone_applies_to_bsd_times() {
        let now = datetime!(2024-06-01 00:00:00 UTC);
        let ctx = ParseContext::new(now, UtcOffset::from_hms(2, 0, 0).unwrap_or(UtcOffset::UTC));
        let got = parse_bsd(&mut Cursor::new(b"May 31 12:00:00"), &ctx).map(|t| t.at);
        assert_eq!(got, Some(datetime!(2024-05-31 10:00:00 UTC)));
    }
}
