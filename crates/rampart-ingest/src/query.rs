//! The log search language, parsed into a [`Query`] (pure, bounded,
//! fuzzed; `rampart-store` compiles it to parameterised SQL).
//!
//! ```text
//! query   := expr? ( '|' 'count' 'by' FIELD )?
//! expr    := or
//! or      := and ( 'OR' and )*
//! and     := unary ( 'AND'? unary )*          adjacent terms are ANDed
//! unary   := ( 'NOT' | '-' ) unary | '(' expr ')' | term
//! term    := FIELD ':' value | FIELD ':' range | FIELD ':' cmp | WORD | "PHRASE"
//! value   := WORD | "PHRASE"                  '*' and '?' in a WORD are wildcards
//! range   := '[' BOUND 'TO' BOUND ']'         inclusive; '*' leaves a side open
//! cmp     := ('>' | '>=' | '<' | '<=') BOUND
//! ```
//!
//! A bound is a number, or, for the `time` field, an RFC 3339 time or a
//! relative one (`15m`, `2h`, `7d`: that long before `now`). A bare word or
//! phrase searches the whole event text. Keywords are upper case; `count
//! by` is not. Every malformed input is a [`QueryError`] that says where;
//! the input, its nesting and its number of terms are bounded.

use std::fmt;

/// The longest query accepted, in bytes.
pub const MAX_QUERY: usize = 4096;
/// The most terms one query holds.
pub const MAX_TERMS: usize = 64;
/// The deepest nesting of parentheses and `NOT`.
pub const MAX_DEPTH: usize = 32;

/// A parsed query: an optional filter and an optional aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` matches every event.
    pub filter: Option<Expr>,
    /// `| count by FIELD`.
    pub count_by: Option<String>,
}

/// A boolean filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `FIELD:…`
    Field(String, Match),
    /// A bare word or phrase: anywhere in the event's text.
    Text(Match),
}

/// How a value matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Equal (fields) or contained (free text).
    Exact(String),
    /// A pattern with `*` (any run) and `?` (one character).
    Wildcard(String),
    /// Between two bounds, either open; `lo <= x` and `x <= hi`, or strict
    /// where the comparison said so.
    Range { lo: Option<Bound>, hi: Option<Bound>, lo_strict: bool, hi_strict: bool },
}

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Number(f64),
    /// Unix milliseconds.
    Time(i64),
}

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query is longer than {MAX_QUERY} bytes")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} terms")]
    TooManyTerms,
    #[error("the query nests deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("at byte {at}: {what}")]
    Syntax { at: usize, what: String },
}

fn syntax(at: usize, what: impl Into<String>) -> QueryError {
    QueryError::Syntax { at, what: what.into() }
}

/// Whether `name` is a usable field name: letters, digits, `_`, `.`, `-`,
/// `@`, starting with a letter or `_`, at most 128 bytes.
pub fn valid_field(name: &str) -> bool {
    name.len() <= 128
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Pipe,
    Minus,
    Cmp(&'static str),
    LBracket,
    RBracket,
    Colon,
    /// A bare word (may contain `*`, `?`).
    Word(String),
    /// A quoted phrase (never a wildcard, never a keyword).
    Phrase(String),
}

/// Splits the input into tokens with their byte offsets.
fn lex(input: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '|' | '[' | ']' | ':' => {
                chars.next();
                out.push((
                    at,
                    match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '|' => Tok::Pipe,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        _ => Tok::Colon,
                    },
                ));
            }
            '>' | '<' => {
                chars.next();
                let eq = chars.peek().is_some_and(|&(_, n)| n == '=');
                if eq {
                    chars.next();
                }
                out.push((
                    at,
                    Tok::Cmp(match (c, eq) {
                        ('>', false) => ">",
                        ('>', true) => ">=",
                        ('<', false) => "<",
                        _ => "<=",
                    }),
                ));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => s.push(e),
                            Some((i, e)) => return Err(syntax(i, format!("unknown escape \\{e} in a phrase"))),
                            None => break,
                        },
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(syntax(at, "unterminated quoted phrase"));
                }
                out.push((at, Tok::Phrase(s)));
            }
            '-' if out.last().is_none_or(|(_, t)| !matches!(t, Tok::Colon | Tok::Cmp(_) | Tok::LBracket)) => {
                // A leading '-' negates; inside a value ('-5', '2h-ago')
                // it is part of the word.
                chars.next();
                out.push((at, Tok::Minus));
            }
            _ => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '|' | '"' | '[' | ']' | '<' | '>') {
                        break;
                    }
                    // A colon ends a field name, but a time's colons belong
                    // to the value (after ':' or inside a range).
                    if c == ':'
                        && !out.last().is_some_and(|(_, t)| matches!(t, Tok::Colon | Tok::Cmp(_) | Tok::LBracket))
                        && !in_range(&out)
                    {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push((at, Tok::Word(s)));
            }
        }
    }
    Ok(out)
}

/// Whether the tokens so far leave us inside `[ … ]`.
fn in_range(toks: &[(usize, Tok)]) -> bool {
    for (_, t) in toks.iter().rev() {
        match t {
            Tok::LBracket => return true,
            Tok::RBracket => return false,
            _ => {}
        }
    }
    false
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    terms: usize,
    end: usize,
    now_ms: i64,
    _input: &'a str,
}

/// Parses `input`; relative times count back from `now_ms`.
pub fn parse(input: &str, now_ms: i64) -> Result<Query, QueryError> {
    if input.len() > MAX_QUERY {
        return Err(QueryError::TooLong);
    }
    let toks = lex(input)?;
    let mut p = Parser { toks, pos: 0, terms: 0, end: input.len(), now_ms, _input: input };
    let filter = if p.peek().is_none() || p.peek() == Some(&Tok::Pipe) { None } else { Some(p.or(0)?) };
    let count_by = if p.peek() == Some(&Tok::Pipe) {
        p.pos += 1;
        let at = p.at();
        for word in ["count", "by"] {
            match p.next() {
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word) => {}
                _ => return Err(syntax(at, "after '|' expected 'count by FIELD'")),
            }
        }
        let at = p.at();
        match p.next() {
            Some(Tok::Word(f)) if valid_field(&f) => Some(f),
            _ => return Err(syntax(at, "'count by' needs a field name")),
        }
    } else {
        None
    };
    if p.peek().is_some() {
        let at = p.at();
        return Err(syntax(at, "unexpected input (an unmatched ')'?)"));
    }
    Ok(Query { filter, count_by })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == k)
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.and(depth)?;
        while self.keyword("OR") {
            self.pos += 1;
            let right = self.and(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut left = self.unary(depth)?;
        loop {
            if self.keyword("AND") {
                self.pos += 1;
            } else if self.peek().is_none()
                || matches!(self.peek(), Some(Tok::RParen | Tok::Pipe))
                || self.keyword("OR")
            {
                return Ok(left);
            }
            let right = self.unary(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        if depth >= MAX_DEPTH {
            return Err(QueryError::TooDeep);
        }
        let at = self.at();
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::Word(w)) if w == "NOT" => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                if self.next() != Some(Tok::RParen) {
                    return Err(syntax(at, "unclosed '('"));
                }
                Ok(inner)
            }
            Some(Tok::Word(w)) if w == "AND" || w == "OR" => Err(syntax(at, format!("{w} needs a term before it"))),
            Some(_) => self.term(),
            None => Err(syntax(at, "expected a term")),
        }
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(QueryError::TooManyTerms);
        }
        let at = self.at();
        match self.next() {
            Some(Tok::Phrase(p)) => Ok(Expr::Text(Match::Exact(p))),
            Some(Tok::Word(w)) if self.peek() == Some(&Tok::Colon) => {
                if !valid_field(&w) {
                    return Err(syntax(at, format!("{w:?} is not a field name")));
                }
                self.pos += 1;
                let m = self.value(&w)?;
                Ok(Expr::Field(w, m))
            }
            Some(Tok::Word(w)) => Ok(Expr::Text(word(w))),
            _ => Err(syntax(at, "expected a word, a \"phrase\" or FIELD:VALUE")),
        }
    }

    fn value(&mut self, field: &str) -> Result<Match, QueryError> {
        let at = self.at();
        match self.next() {
            Some(Tok::Phrase(p)) => Ok(Match::Exact(p)),
            Some(Tok::Word(w)) => Ok(word(w)),
            Some(Tok::Cmp(op)) => {
                let b = self.bound(field, false)?.ok_or_else(|| syntax(at, "a comparison needs a value, not '*'"))?;
                Ok(match op {
                    ">" => Match::Range { lo: Some(b), hi: None, lo_strict: true, hi_strict: false },
                    ">=" => Match::Range { lo: Some(b), hi: None, lo_strict: false, hi_strict: false },
                    "<" => Match::Range { lo: None, hi: Some(b), lo_strict: false, hi_strict: true },
                    _ => Match::Range { lo: None, hi: Some(b), lo_strict: false, hi_strict: false },
                })
            }
            Some(Tok::LBracket) => {
                let lo = self.bound(field, true)?;
                if !self.keyword("TO") {
                    let at = self.at();
                    return Err(syntax(at, "a range is [LOW TO HIGH]"));
                }
                self.pos += 1;
                let hi = self.bound(field, true)?;
                if self.next() != Some(Tok::RBracket) {
                    return Err(syntax(at, "unclosed '['"));
                }
                Ok(Match::Range { lo, hi, lo_strict: false, hi_strict: false })
            }
            _ => Err(syntax(at, format!("{field}: needs a value"))),
        }
    }

    /// A bound: `*` (open, where allowed), a number, or for `time` a time.
    fn bound(&mut self, field: &str, open_ok: bool) -> Result<Option<Bound>, QueryError> {
        let at = self.at();
        let text = match self.next() {
            Some(Tok::Word(w) | Tok::Phrase(w)) => w,
            _ => return Err(syntax(at, "expected a number or a time")),
        };
        if text == "*" && open_ok {
            return Ok(None);
        }
        if field == "time" {
            return parse_time(&text, self.now_ms)
                .map(|t| Some(Bound::Time(t)))
                .ok_or_else(|| syntax(at, format!("{text:?} is not a time (RFC 3339, or 15m, 2h, 7d ago)")));
        }
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(Bound::Number(n))),
            _ => Err(syntax(at, format!("{text:?} is not a number"))),
        }
    }
}

/// A bare word: a wildcard if it holds `*` or `?`.
fn word(w: String) -> Match {
    if w.contains(['*', '?']) { Match::Wildcard(w) } else { Match::Exact(w) }
}

/// An RFC 3339 time, or a duration (`30s`, `15m`, `2h`, `7d`, `1w`) before
/// `now_ms`, as Unix milliseconds.
pub fn parse_time(text: &str, now_ms: i64) -> Option<i64> {
    if let Some(ago) = parse_duration_ms(text) {
        return Some(now_ms.saturating_sub(ago));
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `30s`, `15m`, `2h`, `7d`, `1w` in milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let n: i64 = text.get(..text.len() - unit.len_utf8())?.parse().ok()?;
    if n < 0 {
        return None;
    }
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 604_800_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Number(n) => write!(f, "{n}"),
            Bound::Time(t) => write!(f, "{t}ms"),
        }
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
