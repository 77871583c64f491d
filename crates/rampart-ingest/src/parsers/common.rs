//! Pieces several message parsers share: the `IP port N` tails of OpenSSH
//! and friends, `[preauth]` markers, and `key=value` lists.
//!
//! Field names used across parsers (a convention, documented here once):
//! `User` is the account that authenticates or acts, `TargetUser` the one it
//! becomes; `src_ip`/`src_port`/`dst_ip`/`dst_port` follow Sigma's firewall
//! rules; process fields (`Image`, `CommandLine`, `CurrentDirectory`) follow
//! Sigma's process_creation taxonomy.

use crate::record::{Parsed, Value};
use crate::text::looks_like_ip;

/// Strips a trailing ` [preauth]` (OpenSSH's marker for messages from before
/// authentication) and reports whether it was there.
pub(crate) fn strip_preauth(s: &str) -> (&str, bool) {
    match s.strip_suffix(" [preauth]") {
        Some(head) => (head, true),
        None => (s, false),
    }
}

/// Splits `HEAD IP port PORT[...]` from the right, as in
/// `Disconnected from user alice 192.0.2.1 port 2222`. Anything after the
/// port (`:11: Bye`, ` ssh2`) is returned as the tail.
pub(crate) fn split_ip_port(s: &str) -> Option<(&str, &str, u16, &str)> {
    let at = s.rfind(" port ")?;
    let (before, after) = (&s[..at], &s[at + 6..]);
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    let port = after.get(..digits)?.parse().ok()?;
    let tail = after.get(digits..).unwrap_or("");
    let (head, ip) = before.rsplit_once(' ').unwrap_or(("", before));
    looks_like_ip(ip).then_some((head, ip, port, tail))
}

/// Sets `src_ip` and `src_port` from `IP port PORT` text.
pub(crate) fn set_source(parsed: &mut Parsed, ip: &str, port: Option<u16>) {
    if !ip.is_empty() {
        parsed.fields.set("src_ip", ip);
    }
    if let Some(port) = port {
        parsed.fields.set("src_port", i64::from(port));
    }
}

/// The user named after OpenSSH's qualifiers (`user alice`,
/// `authenticating user root`, `invalid user admin`), with whether it was
/// flagged invalid.
pub(crate) fn qualified_user(head: &str) -> Option<(&str, bool)> {
    if let Some(u) = head.strip_prefix("invalid user ") {
        return Some((u, true));
    }
    let user = head.strip_prefix("authenticating user ").or_else(|| head.strip_prefix("user "))?;
    Some((user, false))
}

/// One `key=value` pair from a whitespace-separated list. Values may be
/// double- or single-quoted; quotes are removed, backslash escapes inside
/// double quotes are honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: std::borrow::Cow<'a, str>,
    pub quoted: bool,
}

/// Splits `a=1 b="two words" c='x'` into pairs; words without `=` are
/// passed to `bare` (netfilter's `DF`, `SYN`). `extra_sep` adds a separator
/// besides spaces and tabs (auditd's enrichment separator 0x1D).
pub(crate) fn kv_pairs<'a>(s: &'a str, extra_sep: char, mut bare: impl FnMut(&'a str), mut out: impl FnMut(Pair<'a>)) {
    let is_sep = |c: char| c == ' ' || c == '\t' || c == extra_sep;
    let mut rest = s.trim_start_matches(is_sep);
    while !rest.is_empty() {
        let word_end = rest.find(is_sep).unwrap_or(rest.len());
        let Some(eq) = rest[..word_end].find('=') else {
            bare(&rest[..word_end]);
            rest = rest[word_end..].trim_start_matches(is_sep);
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, quoted, used) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => quoted_value(&after[1..], q),
            _ => {
                let end = after.find(is_sep).unwrap_or(after.len());
                (std::borrow::Cow::Borrowed(&after[..end]), false, end)
            }
        };
        if !key.is_empty() {
            out(Pair { key, value, quoted });
        }
        rest = after.get(used..).unwrap_or("").trim_start_matches(is_sep);
    }
}

/// Reads a quoted value after its opening quote; returns the value, `true`,
/// and the bytes used including both quotes. An unterminated quote takes the
/// rest of the line.
fn quoted_value(s: &str, quote: char) -> (std::borrow::Cow<'_, str>, bool, usize) {
    let mut end = None;
    let mut escaped = false;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && quote == '"' {
            escaped = true;
            chars.next();
        } else if c == quote {
            end = Some(i);
            break;
        }
    }
    let (inner, used) = match end {
        Some(i) => (&s[..i], i + 2),
        None => (s, s.len() + 1),
    };
    let value = if escaped { std::borrow::Cow::Owned(unescape(inner)) } else { std::borrow::Cow::Borrowed(inner) };
    (value, true, used)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as a number when it is one, so `sc-status: 200` matches either way.
pub(crate) fn num_or_str(s: &str) -> Value {
    match s.parse::<i64>() {
        // `+1` and `007` are codes, not numbers; turning them into 1 and 7
        // would lose what was sent.
        Ok(i) if !(s.starts_with('+') || s.len() > 1 && s.starts_with('0')) => Value::Int(i),
        _ => Value::Str(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_port_tails_split_from_the_right() {
        assert_eq!(
            split_ip_port("user alice 192.0.2.1 port 2222:11: bye"),
            Some(("user alice", "192.0.2.1", 2222, ":11: bye"))
        );
        assert_eq!(split_ip_port("2001:db8::1 port 22"), Some(("", "2001:db8::1", 22, "")));
        assert_eq!(split_ip_port("no address port 22"), None);
        assert_eq!(split_ip_port("10.0.0.1 port x"), None);
    }

    #[test]
    fn kv_pairs_handle_quotes_escapes_and_bare_words() {
        let mut pairs = Vec::new();
        let mut bares = Vec::new();
        kv_pairs(
            r#"a=1 b="two \"words\"" DF c='x y' d= e="open"#,
            '\u{1d}',
            |b| bares.push(b),
            |p| pairs.push((p.key, p.value.into_owned(), p.quoted)),
        );
        assert_eq!(bares, ["DF"]);
        assert_eq!(
            pairs,
            [
                ("a", "1".to_owned(), false),
                ("b", "two \"words\"".to_owned(), true),
                ("c", "x y".to_owned(), true),
                ("d", String::new(), false),
                ("e", "open".to_owned(), true),
            ]
        );
    }

    #[test]
    fn numbers_become_integers_but_zero_padded_codes_stay_text() {
        assert_eq!(num_or_str("200"), Value::Int(200));
        assert_eq!(num_or_str("0"), Value::Int(0));
        assert_eq!(num_or_str("007"), Value::Str("007".into()));
        assert_eq!(num_or_str("-"), Value::Str("-".into()));
    }
}
