//! A parsed log query evaluated on one event in Rust, with the answers the
//! SQL of [`crate::logsearch`] gives on the same backend. It is what lets a
//! search run over events that are not rows of `audit_events` (the block
//! index of log events planned in `docs/search.md`, events still in
//! memory), and it is tested against the SQL as its oracle on both
//! backends (`tests/suite.rs`, `the_rust_matcher_gives_the_sql_answers`).
//!
//! The semantics are the statement's, spelt out:
//! - a field's value is its text as `CAST(… AS TEXT)` renders it; an
//!   absent field (or a JSON `null`) has none, and a condition on it is
//!   false (so `NOT field:x` matches an event without the field);
//! - `field:value` compares the text exactly; on `time` and `index` the
//!   value must be an integer;
//! - wildcards and free text follow `LIKE` (SQLite: ASCII case folded) or
//!   `ILIKE` (PostgreSQL: Unicode case folded); free text is searched in
//!   the attributes' JSON text, the value escaped as JSON would write it;
//! - a range compares numbers: SQLite reads the longest numeric prefix of
//!   any text holding a digit (`CAST(… AS REAL)`), PostgreSQL only text
//!   that is a number as a whole.
//!
//! A [`Matcher`] is compiled once per query (field targets resolved,
//! patterns split) and then applied to each event without allocating for
//! the common cases.

use std::borrow::Cow;

use rampart_core::Event;
use rampart_ingest::query::{Bound, Expr, Match};
use serde_json::Value;

use crate::Backend;
use crate::logblock::Head;
use crate::logsearch::{Target, json_inner, target};

/// One event as a search sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub event: &'a Event,
    pub ledger_index: Option<i64>,
    /// The attributes as the JSON text stored for the event: what free
    /// text searches.
    pub attrs_json: &'a str,
}

/// A query's filter, ready to test events.
#[derive(Debug, Clone)]
pub struct Matcher {
    root: Option<Node>,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    /// Always false (an exact match on an integer field with a value
    /// that is not an integer).
    Never,
    /// The third part, for an attribute whose value can only be a JSON
    /// string with this text: the text as it appears in the attributes'
    /// JSON, which must then hold it ([`needle`]).
    Equals(Field, String, Option<String>),
    IntEquals(IntField, i64),
    Like(Field, Pattern),
    /// Free text: the pattern is `%…%` over the attributes' JSON text.
    Text(Pattern),
    Range {
        field: Field,
        lo: Option<(f64, bool)>,
        hi: Option<(f64, bool)>,
    },
}

/// A field resolved once.
#[derive(Debug, Clone)]
enum Field {
    Int(IntField),
    Kind,
    Actor,
    Object,
    Outcome,
    Source,
    Host,
    SourceAddr,
    Id,
    Tenant,
    Json(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
enum IntField {
    Time,
    LedgerIndex,
}

fn field(t: Target) -> Field {
    match t {
        Target::IntColumn("time_ms") => Field::Int(IntField::Time),
        Target::IntColumn(_) => Field::Int(IntField::LedgerIndex),
        Target::Column(c) => match c {
            "kind" => Field::Kind,
            "actor" => Field::Actor,
            "object" => Field::Object,
            "outcome" => Field::Outcome,
            "source" => Field::Source,
            "host" => Field::Host,
            "source_addr" => Field::SourceAddr,
            "tenant_id" => Field::Tenant,
            _ => Field::Id,
        },
        Target::Json(path) => Field::Json(path),
    }
}

impl Matcher {
    /// Compiles `filter` (`None` matches every event) for `backend`'s
    /// semantics.
    pub fn new(filter: Option<&Expr>, backend: Backend) -> Self {
        Matcher { root: filter.map(compile), backend }
    }

    /// Whether the event matches.
    pub fn matches(&self, c: &Candidate<'_>) -> bool {
        self.root.as_ref().is_none_or(|n| eval(n, c, self.backend))
    }

    /// What a stored record's head alone says: `Some` answer when its
    /// columns and the attributes' text decide the filter (the answer
    /// [`Matcher::matches`] gives on the whole event), `None` when a
    /// condition on an attribute leaves it open and the attributes must be
    /// parsed. Most events a search rejects are rejected here.
    pub fn decide(&self, h: &Head<'_>) -> Option<bool> {
        self.root.as_ref().map_or(Some(true), |n| decide(n, h, self.backend))
    }

    /// Whether some condition reads the attributes (free text, or a field
    /// that is not a column): if not, [`Matcher::decide`] answers every
    /// record whose head carries host and source without them.
    pub fn reads_attrs(&self) -> bool {
        self.root.as_ref().is_some_and(reads_attrs)
    }
}

fn reads_attrs(n: &Node) -> bool {
    match n {
        Node::And(a, b) | Node::Or(a, b) => reads_attrs(a) || reads_attrs(b),
        Node::Not(a) => reads_attrs(a),
        Node::Never | Node::IntEquals(..) => false,
        Node::Text(_) => true,
        Node::Equals(f, ..) | Node::Like(f, _) | Node::Range { field: f, .. } => matches!(f, Field::Json(_)),
    }
}

/// Whether a query field is one of a record's head (a column), not an
/// attribute.
pub fn is_head_field(name: &str) -> bool {
    !matches!(field(target(name)), Field::Json(_))
}

/// Three-valued [`eval`] over a record's head: `None` is "unknown".
fn decide(n: &Node, h: &Head<'_>, backend: Backend) -> Option<bool> {
    match n {
        Node::And(a, b) => match decide(a, h, backend) {
            Some(false) => Some(false),
            first => match (first, decide(b, h, backend)) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        },
        Node::Or(a, b) => match decide(a, h, backend) {
            Some(true) => Some(true),
            first => match (first, decide(b, h, backend)) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        },
        Node::Not(a) => decide(a, h, backend).map(|v| !v),
        Node::Never => Some(false),
        Node::Equals(f, want, needle) => match head_value(f, h) {
            Some(v) => Some(v.is_some_and(|v| v == want.as_str())),
            // Absent from the text: the attribute cannot hold it.
            None if needle.as_ref().zip(h.attrs_json).is_some_and(|(n, text)| !text.contains(n.as_str())) => {
                Some(false)
            }
            None => None,
        },
        Node::IntEquals(f, want) => Some(head_int(*f, h) == *want),
        Node::Like(f, p) => head_value(f, h).map(|v| v.is_some_and(|v| p.matches(&v, backend))),
        Node::Text(p) => h.attrs_json.map(|text| p.matches(text, backend)),
        Node::Range { field, lo, hi } => {
            let x = match field {
                Field::Int(i) => Some(head_int(*i, h) as f64),
                f => head_value(f, h)?.and_then(|v| number(&v, backend)),
            };
            let Some(x) = x else { return Some(false) };
            Some(
                lo.is_none_or(|(b, strict)| if strict { x > b } else { x >= b })
                    && hi.is_none_or(|(b, strict)| if strict { x < b } else { x <= b }),
            )
        }
    }
}

/// What the attributes' JSON text must contain for an attribute to be
/// `want`, when only a JSON string can be: a number, a boolean (`1`/`0`
/// on SQLite), an array or an object renders as other text than its JSON,
/// so a `want` any of them could render as gets no needle.
fn needle(want: &str) -> Option<String> {
    let other = want.parse::<f64>().is_ok()
        || matches!(want, "true" | "false")
        || want.starts_with(['[', '{'])
        || want.is_empty();
    (!other).then(|| format!("\"{}\"", json_inner(want)))
}

fn head_int(f: IntField, h: &Head<'_>) -> i64 {
    match f {
        IntField::Time => h.time_ms,
        IntField::LedgerIndex => h.ledger_index,
    }
}

/// A field's value from a record's head, as [`value`] gives it from the
/// event: `Some(None)` when the event has none, `None` when only the
/// attributes know.
fn head_value<'a>(f: &Field, h: &Head<'a>) -> Option<Option<Cow<'a, str>>> {
    let b = |s: Option<&'a str>| Some(s.map(Cow::Borrowed));
    match f {
        Field::Int(i) => Some(Some(Cow::Owned(head_int(*i, h).to_string()))),
        Field::Kind => b(Some(h.kind)),
        Field::Actor => b(Some(h.actor)),
        Field::Object => b(h.object),
        Field::Outcome => b(Some(h.outcome.as_str())),
        Field::Source => b(h.source?),
        Field::Host => b(h.host?),
        Field::SourceAddr => b(h.source_addr),
        Field::Id => b(Some(h.id)),
        Field::Tenant => b(h.tenant),
        Field::Json(_) => None,
    }
}

/// The value of `field` (a query field name) from a record's head, as
/// [`field_value`] gives it from the whole event; `None` when only the
/// attributes know.
pub fn head_field_value<'a>(name: &str, h: &Head<'a>) -> Option<Option<Cow<'a, str>>> {
    head_value(&field(target(name)), h)
}

fn compile(e: &Expr) -> Node {
    match e {
        Expr::And(a, b) => Node::And(Box::new(compile(a)), Box::new(compile(b))),
        Expr::Or(a, b) => Node::Or(Box::new(compile(a)), Box::new(compile(b))),
        Expr::Not(a) => Node::Not(Box::new(compile(a))),
        Expr::Text(m) => match m {
            Match::Exact(s) => Node::Text(Pattern::contains_literal(&json_inner(s))),
            Match::Wildcard(s) => Node::Text(Pattern::contains_wildcard(&json_inner(s))),
            // The parser gives ranges to fields only; the SQL matches all.
            Match::Range { .. } => Node::Text(Pattern::contains_literal("")),
        },
        Expr::Field(name, m) => {
            let f = field(target(name));
            match m {
                Match::Exact(s) => match f {
                    Field::Int(i) => s.parse::<i64>().map_or(Node::Never, |n| Node::IntEquals(i, n)),
                    f => {
                        let needle = matches!(f, Field::Json(_)).then(|| needle(s)).flatten();
                        Node::Equals(f, s.clone(), needle)
                    }
                },
                Match::Wildcard(s) => Node::Like(f, Pattern::whole_wildcard(s)),
                Match::Range { lo, hi, lo_strict, hi_strict } => {
                    let bound = |b: &Option<Bound>, strict: bool| {
                        b.map(|b| {
                            let x = match b {
                                Bound::Number(n) => n,
                                Bound::Time(t) => t as f64,
                            };
                            (x, strict)
                        })
                    };
                    Node::Range { field: f, lo: bound(lo, *lo_strict), hi: bound(hi, *hi_strict) }
                }
            }
        }
    }
}

fn eval(n: &Node, c: &Candidate<'_>, backend: Backend) -> bool {
    match n {
        Node::And(a, b) => eval(a, c, backend) && eval(b, c, backend),
        Node::Or(a, b) => eval(a, c, backend) || eval(b, c, backend),
        // SQL's NOT COALESCE(x, FALSE): with every absent value false,
        // two-valued logic gives the same answers.
        Node::Not(a) => !eval(a, c, backend),
        Node::Never => false,
        Node::Equals(f, want, _) => value(f, c, backend).is_some_and(|v| v == want.as_str()),
        Node::IntEquals(f, want) => int(*f, c) == Some(*want),
        Node::Like(f, p) => value(f, c, backend).is_some_and(|v| p.matches(&v, backend)),
        Node::Text(p) => p.matches(c.attrs_json, backend),
        Node::Range { field, lo, hi } => {
            let x = match field {
                // Integer columns compare as integers; an f64 holds every
                // time and position exactly.
                Field::Int(i) => int(*i, c).map(|n| n as f64),
                f => value(f, c, backend).and_then(|v| number(&v, backend)),
            };
            let Some(x) = x else { return false };
            lo.is_none_or(|(b, strict)| if strict { x > b } else { x >= b })
                && hi.is_none_or(|(b, strict)| if strict { x < b } else { x <= b })
        }
    }
}

fn int(f: IntField, c: &Candidate<'_>) -> Option<i64> {
    match f {
        IntField::Time => Some(c.event.time_ms),
        IntField::LedgerIndex => c.ledger_index,
    }
}

/// A field's value as text, as the statement reads it: the text `count
/// by` groups on, and the text conditions compare.
fn value<'a>(f: &Field, c: &Candidate<'a>, backend: Backend) -> Option<Cow<'a, str>> {
    let e = c.event;
    let s = |s: &'a str| Some(Cow::Borrowed(s));
    match f {
        Field::Int(i) => int(*i, c).map(|n| Cow::Owned(n.to_string())),
        Field::Kind => s(&e.kind),
        Field::Actor => s(&e.actor),
        Field::Object => e.object.as_deref().and_then(s),
        Field::Outcome => s(e.outcome.as_str()),
        // As the columns are filled (audit.rs `bind_columns`).
        Field::Source => e.attrs.pointer("/source/name").and_then(Value::as_str).and_then(s),
        Field::Host => e.attrs.pointer("/syslog/hostname").and_then(Value::as_str).and_then(s),
        Field::SourceAddr => e.source_addr.as_deref().and_then(s),
        Field::Id => s(e.id.as_str()),
        Field::Tenant => e.tenant_id.as_ref().map(|t| t.as_str()).and_then(s),
        Field::Json(path) => {
            let mut v = &e.attrs;
            for key in path {
                v = v.as_object()?.get(key)?;
            }
            rendered(v, backend)
        }
    }
}

/// The value of `field` (a query field name) in the event, as `count by`
/// groups it; `None` when the event has none.
pub fn field_value<'a>(name: &str, c: &Candidate<'a>, backend: Backend) -> Option<Cow<'a, str>> {
    value(&field(target(name)), c, backend)
}

/// How the backend renders a JSON value as text.
fn rendered(v: &Value, backend: Backend) -> Option<Cow<'_, str>> {
    match (v, backend) {
        (Value::Null, _) => None,
        (Value::String(s), _) => Some(Cow::Borrowed(s)),
        // SQLite's json_extract gives booleans as integers.
        (Value::Bool(b), Backend::Sqlite) => Some(Cow::Borrowed(if *b { "1" } else { "0" })),
        (Value::Bool(b), Backend::Postgres) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        (Value::Number(n), Backend::Sqlite) if n.is_f64() => Some(Cow::Owned(sqlite_real(n.as_f64()?))),
        (Value::Number(n), _) => Some(Cow::Owned(n.to_string())),
        (Value::Array(_) | Value::Object(_), Backend::Sqlite) => serde_json::to_string(v).ok().map(Cow::Owned),
        (Value::Array(_) | Value::Object(_), Backend::Postgres) => {
            let mut out = String::new();
            jsonb_text(v, &mut out);
            Some(Cow::Owned(out))
        }
    }
}

/// SQLite's text of a REAL (`%!.15g`): a whole number keeps `.0`, fifteen
/// significant digits, an exponent from 1e15 on.
fn sqlite_real(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x != 0.0 && (x.abs() >= 1e15 || x.abs() < 1e-4) {
        let s = format!("{x:.14e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0');
        let mantissa = if mantissa.ends_with('.') { format!("{mantissa}0") } else { mantissa.to_owned() };
        let exp: i32 = exp.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    // Fifteen significant digits, trailing zeros dropped, `.0` kept.
    let digits = 15 - 1 - x.abs().log10().floor() as i32;
    let s = format!("{x:.*}", digits.max(0) as usize);
    let s = if s.contains('.') { s.trim_end_matches('0').to_owned() } else { s };
    if s.ends_with('.') { format!("{s}0") } else { s }
}

/// PostgreSQL's text of a `jsonb` container: keys shorter first, then by
/// bytes; `", "` and `": "` between items.
fn jsonb_text(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                jsonb_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                if let Some(item) = map.get(k) {
                    jsonb_text(item, out);
                }
            }
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// The number a range compares, if the text gives one.
fn number(s: &str, backend: Backend) -> Option<f64> {
    match backend {
        // CASE WHEN v GLOB '*[0-9]*' THEN CAST(v AS REAL) END
        Backend::Sqlite => s.bytes().any(|b| b.is_ascii_digit()).then(|| numeric_prefix(s)),
        // CASE WHEN v ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$' …
        Backend::Postgres => {
            let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
            let body = t.strip_prefix('-').unwrap_or(t);
            let (mantissa, exp) = match body.find(['e', 'E']) {
                Some(at) => (&body[..at], Some(&body[at + 1..])),
                None => (body, None),
            };
            let (int, frac) = match mantissa.split_once('.') {
                Some((i, f)) => (i, Some(f)),
                None => (mantissa, None),
            };
            let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
            let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
            (digits(int) && frac.is_none_or(digits) && exp_ok).then(|| t.parse().ok()).flatten()
        }
    }
}

/// SQLite's `CAST(text AS REAL)`: the longest prefix (after leading
/// spaces) that is a number, else 0.
fn numeric_prefix(s: &str) -> f64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']).as_bytes();
    let mut at = 0;
    if matches!(t.first(), Some(b'+' | b'-')) {
        at += 1;
    }
    let digits_from = |mut i: usize| {
        while t.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let int_end = digits_from(at);
    let mut end = int_end;
    let mut any = int_end > at;
    if t.get(end) == Some(&b'.') {
        let frac_end = digits_from(end + 1);
        any |= frac_end > end + 1;
        end = frac_end;
    }
    if !any {
        return 0.0;
    }
    if matches!(t.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(t.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_end = digits_from(e);
        if exp_end > e {
            end = exp_end;
        }
    }
    std::str::from_utf8(&t[..end]).ok().and_then(|p| p.parse().ok()).unwrap_or(0.0)
}

/// A `LIKE` pattern: literal runs separated by `%` (any run) with `_`
/// (one character) kept inside the pieces.
#[derive(Debug, Clone)]
struct Pattern {
    /// The pattern's characters; `None` is `_`.
    pieces: Vec<Vec<Option<char>>>,
    /// Whether the pattern starts and ends with `%`.
    open_start: bool,
    open_end: bool,
    /// A lone literal piece in `%…%` of ASCII: searched with a byte scan.
    ascii_needle: Option<Vec<u8>>,
}

impl Pattern {
    /// `%literal%`.
    fn contains_literal(s: &str) -> Self {
        Self::build(s.chars().map(Tok::Char), true)
    }

    /// `%pattern%` with `*`/`?` as wildcards.
    fn contains_wildcard(s: &str) -> Self {
        Self::build(s.chars().map(wild), true)
    }

    /// The whole value against `*`/`?` wildcards.
    fn whole_wildcard(s: &str) -> Self {
        Self::build(s.chars().map(wild), false)
    }

    fn build(toks: impl Iterator<Item = Tok>, contains: bool) -> Self {
        let mut all: Vec<Tok> = Vec::new();
        if contains {
            all.push(Tok::Run);
        }
        all.extend(toks);
        if contains {
            all.push(Tok::Run);
        }
        let open_start = matches!(all.first(), Some(Tok::Run));
        let open_end = matches!(all.last(), Some(Tok::Run));
        let mut pieces = Vec::new();
        let mut piece = Vec::new();
        for t in all {
            match t {
                Tok::Run if piece.is_empty() => {}
                Tok::Run => pieces.push(std::mem::take(&mut piece)),
                Tok::One => piece.push(None),
                Tok::Char(c) => piece.push(Some(c)),
            }
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
        let ascii_needle = match pieces.as_slice() {
            [only] if open_start && open_end && only.iter().all(|c| c.is_some_and(|c| c.is_ascii())) => {
                Some(only.iter().filter_map(|c| c.map(|c| c.to_ascii_lowercase() as u8)).collect())
            }
            _ => None,
        };
        Pattern { pieces, open_start, open_end, ascii_needle }
    }

    fn matches(&self, text: &str, backend: Backend) -> bool {
        if let Some(needle) = &self.ascii_needle {
            // An ASCII needle: folding ASCII letters is what both backends
            // do to them (PostgreSQL's folding of a few non-ASCII letters
            // to ASCII ones, such as the Kelvin sign, is not followed).
            return contains_ascii_folded(text.as_bytes(), needle);
        }
        let text: Vec<char> = text.chars().collect();
        let fold = |c: char| -> char {
            match backend {
                Backend::Sqlite => c.to_ascii_lowercase(),
                Backend::Postgres => c.to_lowercase().next().unwrap_or(c),
            }
        };
        let piece_at = |piece: &[Option<char>], at: usize| {
            at + piece.len() <= text.len()
                && piece.iter().zip(&text[at..]).all(|(p, t)| p.is_none_or(|p| fold(p) == fold(*t)))
        };
        let n = self.pieces.len();
        if n == 0 {
            // Only `%`s match anything; an empty pattern only the empty text.
            return self.open_start || text.is_empty();
        }
        let mut at = 0;
        for (i, piece) in self.pieces.iter().enumerate() {
            let anchored_start = i == 0 && !self.open_start;
            let anchored_end = i == n - 1 && !self.open_end;
            if anchored_start && anchored_end {
                return text.len() == piece.len() && piece_at(piece, 0);
            }
            if anchored_start {
                if !piece_at(piece, 0) {
                    return false;
                }
                at = piece.len();
            } else if anchored_end {
                let Some(from) = text.len().checked_sub(piece.len()) else { return false };
                return from >= at && piece_at(piece, from);
            } else {
                // The leftmost occurrence: taking it never loses a match
                // that a later one would give.
                match (at..=text.len().saturating_sub(piece.len())).find(|&k| piece_at(piece, k)) {
                    Some(k) => at = k + piece.len(),
                    None => return false,
                }
            }
        }
        true
    }
}

enum Tok {
    Char(char),
    One,
    Run,
}

fn wild(c: char) -> Tok {
    match c {
        '*' => Tok::Run,
        '?' => Tok::One,
        c => Tok::Char(c),
    }
}

fn contains_ascii_folded(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    hay.windows(needle.len()).any(|w| w.iter().zip(needle).all(|(h, n)| h.to_ascii_lowercase() == *n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_anchor_and_fold_as_the_backends_do() {
        let whole = |p: &str, t: &str, b| Pattern::whole_wildcard(p).matches(t, b);
        for b in [Backend::Sqlite, Backend::Postgres] {
            assert!(whole("web-*", "WEB-01", b));
            assert!(!whole("web-*", "xweb-01", b));
            assert!(whole("*-01", "web-01", b));
            assert!(!whole("*-01", "web-012", b));
            assert!(whole("h?st", "host", b));
            assert!(!whole("h?st", "hst", b));
            assert!(whole("a*b*c", "aXXbYYc", b));
            assert!(!whole("a*b*c", "aXXbYYcd", b));
            assert!(whole("*", "", b));
            assert!(whole("a*a", "aa", b));
            assert!(!whole("a*a", "a", b));
            assert!(whole("?", "é", b), "one character, not one byte");
            assert!(Pattern::contains_literal("Failed").matches("x failed y", b));
            assert!(!Pattern::contains_literal("50%_off").matches("50x_off", b), "LIKE's wildcards are literal");
            assert!(Pattern::contains_wildcard("us?r=*4").matches("a user=alice4 b", b));
        }
        assert!(!whole("É", "é", Backend::Sqlite), "SQLite folds ASCII only");
        assert!(whole("É", "é", Backend::Postgres), "ILIKE folds Unicode");
    }

    #[test]
    fn numbers_are_read_as_each_backend_casts_them() {
        assert_eq!(number("12abc", Backend::Sqlite), Some(12.0));
        assert_eq!(number("abc1", Backend::Sqlite), Some(0.0), "CAST of a text that starts otherwise is 0");
        assert_eq!(number("abc", Backend::Sqlite), None, "no digit: NULL");
        assert_eq!(number(" -1.5e3x", Backend::Sqlite), Some(-1500.0));
        assert_eq!(number("1e", Backend::Sqlite), Some(1.0));
        assert_eq!(number("12abc", Backend::Postgres), None);
        assert_eq!(number(" -1.5e3 ", Backend::Postgres), Some(-1500.0));
        assert_eq!(number("+1", Backend::Postgres), None);
        assert_eq!(number("1.", Backend::Postgres), None);
    }

    #[test]
    fn reals_render_as_sqlite_prints_them() {
        assert_eq!(sqlite_real(1.5), "1.5");
        assert_eq!(sqlite_real(100.0), "100.0");
        assert_eq!(sqlite_real(-0.25), "-0.25");
        assert_eq!(sqlite_real(0.1), "0.1");
        assert_eq!(sqlite_real(1e20), "1.0e+20");
        assert_eq!(sqlite_real(1.25e-7), "1.25e-07");
    }
}
