//! The time modifiers' view of a date: extracting minute, hour, day, ISO
//! week, month or year from an ISO-8601-like text (`2025-10-24T23:41:00Z`,
//! `2025-10-24 23:41:00.589`). As the specification says, no time zone or
//! format conversion is attempted.

use crate::compile::modifiers::TimePart;

fn digits(s: &str, at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    if part.bytes().all(|b| b.is_ascii_digit()) { part.parse().ok() } else { None }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// ISO weekday, Monday = 1 … Sunday = 7.
fn weekday(y: i64, m: i64, d: i64) -> i64 {
    // 1970-01-01 was a Thursday (4).
    (days_from_civil(y, m, d) + 3).rem_euclid(7) + 1
}

fn iso_weeks_in_year(y: i64) -> i64 {
    let jan1 = weekday(y, 1, 1);
    if jan1 == 4 || (jan1 == 3 && is_leap(y)) { 53 } else { 52 }
}

/// The ISO-8601 week number of a date.
fn iso_week(y: i64, m: i64, d: i64) -> i64 {
    let doy = days_from_civil(y, m, d) - days_from_civil(y, 1, 1) + 1;
    let week = (doy - weekday(y, m, d) + 10) / 7;
    if week < 1 {
        iso_weeks_in_year(y - 1)
    } else if week > iso_weeks_in_year(y) {
        1
    } else {
        week
    }
}

/// Extracts `part` from a date text, or `None` when the text is no date.
pub fn extract(text: &str, part: TimePart) -> Option<f64> {
    let s = text.trim();
    let (y, m, d) = (digits(s, 0, 4)?, digits(s, 5, 2)?, digits(s, 8, 2)?);
    if s.get(4..5) != Some("-") || s.get(7..8) != Some("-") || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let time = || -> Option<(i64, i64)> {
        if !matches!(s.get(10..11), Some("T" | " " | "t")) || s.get(13..14) != Some(":") {
            return None;
        }
        let (h, min) = (digits(s, 11, 2)?, digits(s, 14, 2)?);
        (h < 24 && min < 60).then_some((h, min))
    };
    let n = match part {
        TimePart::Year => y,
        TimePart::Month => m,
        TimePart::Day => d,
        TimePart::Week => iso_week(y, m, d),
        TimePart::Hour => time()?.0,
        TimePart::Minute => time()?.1,
    };
    Some(n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_common_renderings() {
        let t = "2025-10-24T23:41:00.601559Z";
        assert_eq!(extract(t, TimePart::Year), Some(2025.0));
        assert_eq!(extract(t, TimePart::Month), Some(10.0));
        assert_eq!(extract(t, TimePart::Day), Some(24.0));
        assert_eq!(extract(t, TimePart::Hour), Some(23.0));
        assert_eq!(extract(t, TimePart::Minute), Some(41.0));
        assert_eq!(extract("2025-10-24 07:05:00.589", TimePart::Hour), Some(7.0));
        assert_eq!(extract("2025-10-24", TimePart::Hour), None);
        assert_eq!(extract("not a date", TimePart::Year), None);
        assert_eq!(extract("2025-13-01", TimePart::Year), None);
        assert_eq!(extract("é", TimePart::Year), None);
    }

    #[test]
    fn iso_weeks_at_year_boundaries() {
        assert_eq!(extract("2025-10-24", TimePart::Week), Some(43.0));
        // 2021-01-03 belongs to week 53 of 2020; 2024-12-30 to week 1 of 2025.
        assert_eq!(extract("2021-01-03", TimePart::Week), Some(53.0));
        assert_eq!(extract("2024-12-30", TimePart::Week), Some(1.0));
        assert_eq!(extract("2026-01-01", TimePart::Week), Some(1.0));
    }
}
