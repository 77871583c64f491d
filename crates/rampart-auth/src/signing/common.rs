//! Pieces both signature schemes share: the `Authorization` header grammar,
//! the signed-header list, hashing and key derivation, UTC calendar
//! arithmetic, and the limits that keep hostile input cheap to refuse.
//!
//! AWS SigV4 and Tencent TC3 have the same shape (TC3 was modelled on
//! SigV4), so the parsing lives here once and each scheme maps the neutral
//! errors below onto its own wire error codes.

use aws_lc_rs::{digest, hmac};
use data_encoding::HEXLOWER;
use zeroize::Zeroizing;

/// Longest `Authorization` value accepted. Real clients stay far below it;
/// the bound stops a megabyte header from being split and scanned.
pub(crate) const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Most signed headers accepted. AWS SDKs sign about a dozen at most.
pub(crate) const MAX_SIGNED_HEADERS: usize = 64;
/// Longest canonical value of a single signed header.
pub(crate) const MAX_SIGNED_HEADER_VALUE_LEN: usize = 8 * 1024;
/// Longest access key id passed to the secret lookup.
pub(crate) const MAX_KEY_ID_LEN: usize = 128;

/// The three parameters of a `<ALGORITHM> Credential=..., SignedHeaders=...,
/// Signature=...` header, borrowed and trimmed but otherwise unchecked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthParams<'a> {
    pub credential: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// Why an `Authorization` value could not be read, before any scheme-specific
/// wording is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthSyntax {
    /// The value was longer than [`MAX_AUTHORIZATION_LEN`].
    TooLong,
    /// The first word is not the expected algorithm; carries it, sanitised.
    WrongAlgorithm(String),
    /// A parameter was repeated, unknown, or not of the form `Key=Value`.
    Malformed(&'static str),
    /// These required parameters are absent.
    Missing(Vec<&'static str>),
}

/// Splits an `Authorization` value into its parameters. Whitespace around the
/// commas and around `=` is tolerated because clients and proxies differ in
/// how they lay the header out; anything else unusual is refused.
pub(crate) fn parse_authorization<'a>(value: &'a str, algorithm: &str) -> Result<AuthParams<'a>, AuthSyntax> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(AuthSyntax::TooLong);
    }
    let value = value.trim_matches(is_http_space);
    let (scheme, rest) = value.split_once(is_http_space).unwrap_or((value, ""));
    if scheme != algorithm {
        return Err(AuthSyntax::WrongAlgorithm(shown(scheme)));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_matches(is_http_space);
        let Some((key, val)) = part.split_once('=') else {
            return Err(AuthSyntax::Malformed("every Authorization parameter must be of the form Key=Value"));
        };
        let slot = match key.trim_matches(is_http_space) {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(AuthSyntax::Malformed("the Authorization header has an unknown parameter")),
        };
        if slot.replace(val.trim_matches(is_http_space)).is_some() {
            return Err(AuthSyntax::Malformed("an Authorization parameter is repeated"));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => {
            Ok(AuthParams { credential, signed_headers, signature })
        }
        (c, h, s) => {
            let missing = [(c.is_none(), "Credential"), (h.is_none(), "SignedHeaders"), (s.is_none(), "Signature")];
            Err(AuthSyntax::Missing(missing.iter().filter(|(absent, _)| *absent).map(|(_, name)| *name).collect()))
        }
    }
}

/// Checks a `SignedHeaders` list: lowercase header names, separated by `;`,
/// strictly ascending (which also rules out duplicates), at most
/// [`MAX_SIGNED_HEADERS`]. Every SDK emits exactly this form, and accepting
/// only it means the list in the string to sign is the one we checked.
pub(crate) fn parse_signed_headers(list: &str) -> Result<Vec<&str>, &'static str> {
    let names: Vec<&str> = list.split(';').collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err("too many signed headers");
    }
    for name in &names {
        if name.is_empty() || !name.bytes().all(is_lowercase_token_byte) {
            return Err("SignedHeaders must list lowercase header names separated by ';'");
        }
    }
    if names.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err("SignedHeaders must be sorted and must not repeat a name");
    }
    Ok(names)
}

/// Decodes a signature of exactly 64 lowercase hexadecimal digits.
pub(crate) fn decode_signature(signature: &str) -> Option<Vec<u8>> {
    if signature.len() != 64 {
        return None;
    }
    HEXLOWER.decode(signature.as_bytes()).ok()
}

/// Whether an access key id is one the lookup should be asked about: short
/// and alphanumeric, as every id we issue is. Anything else cannot be ours.
pub(crate) fn plausible_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_KEY_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A header-name byte of RFC 9110's `tchar` set, restricted to lowercase.
fn is_lowercase_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Optional whitespace as HTTP defines it: space and horizontal tab.
pub(crate) fn is_http_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Lowercase hexadecimal SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    HEXLOWER.encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// Derives a signing key by chaining HMAC-SHA256 over `labels`, starting from
/// `prefix` followed by the secret, as both schemes do ("AWS4" or "TC3").
/// The intermediate keys are as sensitive as the secret for the day they
/// cover, so the copies this function makes are wiped on drop.
pub(crate) fn derive_signing_key(prefix: &str, secret: &str, labels: &[&str]) -> hmac::Key {
    let mut material = Zeroizing::new(Vec::with_capacity(prefix.len() + secret.len()));
    material.extend_from_slice(prefix.as_bytes());
    material.extend_from_slice(secret.as_bytes());
    for label in labels {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &material), label.as_bytes());
        material.clear();
        material.extend_from_slice(tag.as_ref());
    }
    hmac::Key::new(hmac::HMAC_SHA256, &material)
}

/// A client-supplied string made safe to put in an error message: printable
/// ASCII only, at most 64 characters. Messages end up in logs and in
/// responses, so they must not carry control characters or unbounded input.
pub(crate) fn shown(s: &str) -> String {
    const LIMIT: usize = 64;
    let mut out: String =
        s.chars().take(LIMIT).map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' }).collect();
    if s.chars().nth(LIMIT).is_some() {
        out.push_str("...");
    }
    out
}

/// A moment in UTC, broken down into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    /// Breaks Unix seconds down into UTC calendar fields.
    pub(crate) fn from_unix(secs: i64) -> UtcTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // `rem` is in 0..86_400, so these fit in u32 without loss.
        let rem = rem.unsigned_abs() as u32;
        UtcTime { year, month, day, hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60 }
    }

    /// Unix seconds of this moment.
    pub(crate) fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// ISO 8601 basic format, as in `X-Amz-Date`: `20150830T123600Z`.
    pub(crate) fn amz(self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// The calendar date as TC3 credentials spell it: `2019-02-25`.
    pub(crate) fn dashed_date(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Parses an `X-Amz-Date` value (`YYYYMMDD'T'HHMMSS'Z'`, nothing else) into
/// Unix seconds, rejecting impossible dates such as 20150230.
pub(crate) fn parse_amz_date(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    let time = UtcTime {
        year: i64::from(number(0, 4)?),
        month: number(4, 6)?,
        day: number(6, 8)?,
        hour: number(9, 11)?,
        minute: number(11, 13)?,
        second: number(13, 15)?,
    };
    let valid = (1..=12).contains(&time.month)
        && time.day >= 1
        && time.day <= days_in_month(time.year, time.month)
        && time.hour < 24
        && time.minute < 60
        && time.second < 60;
    valid.then(|| time.to_unix())
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), so that no date library is needed.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Day and month are within 1..=31 and 1..=12 by construction.
    (year, month.unsigned_abs() as u32, day.unsigned_abs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_known_dates() {
        // 2015-08-30T12:36:00Z is the date of the AWS test suite.
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(UtcTime::from_unix(1_440_938_160).amz(), "20150830T123600Z");
        // 1551113065 is the timestamp of Tencent's documented example.
        assert_eq!(UtcTime::from_unix(1_551_113_065).dashed_date(), "2019-02-25");
        assert_eq!(UtcTime::from_unix(0).amz(), "19700101T000000Z");
        assert_eq!(parse_amz_date("20000229T235959Z"), Some(951_868_799));
        for secs in (-100_000_000_000i64..100_000_000_000).step_by(9_876_543_211) {
            assert_eq!(UtcTime::from_unix(secs).to_unix(), secs);
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            "20150230T000000Z",
            "20190229T000000Z",
            "20151301T000000Z",
            "20150830T240000Z",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "+0150830T123600Z",
            "20150830t123600Z",
            "ሴ0150830T12360Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn extreme_clock_values_do_not_overflow() {
        for secs in [i64::MIN, i64::MAX, i64::MIN / 2, i64::MAX / 2] {
            let _ = UtcTime::from_unix(secs).amz();
        }
    }

    #[test]
    fn shown_strips_control_characters_and_bounds_length() {
        assert_eq!(shown("eu-west-1"), "eu-west-1");
        assert_eq!(shown("a\nb\u{1b}[31m"), "a?b?[31m");
        assert_eq!(shown(&"x".repeat(100)), format!("{}...", "x".repeat(64)));
    }
}
