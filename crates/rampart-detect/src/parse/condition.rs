//! The condition language: `and`, `or`, `not`, parentheses, `1 of x*`,
//! `all of x*`, `N of them`. A recursive-descent parser with a depth bound,
//! so hostile nesting gives an error instead of a stack overflow.

use crate::error::CompileError;

/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 64;
/// Longest condition text accepted.
pub const MAX_CONDITION_LEN: usize = 64 * 1024;

/// How many of the targets of an `of` must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantifier {
    /// `all of`.
    All,
    /// `N of` (normally `1 of`): at least N.
    AtLeast(usize),
}

/// The searches an `of` ranges over.
#[derive(Debug, Clone, PartialEq)]
pub enum OfTarget {
    /// `them`: every search not starting with `_`.
    Them,
    /// A name pattern with `*` wildcards.
    Pattern(String),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum CondExpr {
    /// A search by name.
    Ident(String),
    /// Negation.
    Not(Box<CondExpr>),
    /// Conjunction.
    And(Vec<CondExpr>),
    /// Disjunction.
    Or(Vec<CondExpr>),
    /// `N of target` / `all of target`.
    Of(Quantifier, OfTarget),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Tok)>, CompileError> {
    let err = |offset: usize, message: &str| CompileError::Condition {
        condition: text.into(),
        offset,
        message: message.into(),
    };
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                out.push((i, Tok::Open));
                chars.next();
            }
            ')' => {
                out.push((i, Tok::Close));
                chars.next();
            }
            '|' => {
                return Err(err(i, "aggregation expressions (`| count()` …) are deprecated; use a correlation rule"));
            }
            _ => {
                let start = i;
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || d == '(' || d == ')' || d == '|' {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                out.push((start, Tok::Word(text[start..end].to_string())));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> CompileError {
        let offset = self.toks.get(self.pos).map_or(self.text.len(), |t| t.0);
        CompileError::Condition { condition: self.text.into(), offset, message: message.into() }
    }

    fn peek_word(&self) -> Option<String> {
        match self.toks.get(self.pos) {
            Some((_, Tok::Word(w))) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self, depth: usize) -> Result<CondExpr, CompileError> {
        let mut terms = vec![self.and(depth)?];
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            terms.push(self.and(depth)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { CondExpr::Or(terms) })
    }

    fn and(&mut self, depth: usize) -> Result<CondExpr, CompileError> {
        let mut terms = vec![self.unary(depth)?];
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            terms.push(self.unary(depth)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { CondExpr::And(terms) })
    }

    fn unary(&mut self, depth: usize) -> Result<CondExpr, CompileError> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH}")));
        }
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(CondExpr::Not(Box::new(self.unary(depth + 1)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<CondExpr, CompileError> {
        match self.toks.get(self.pos).cloned() {
            None => Err(self.err("unexpected end of condition")),
            Some((_, Tok::Close)) => Err(self.err("unexpected `)`")),
            Some((_, Tok::Open)) => {
                self.pos += 1;
                let inner = self.or(depth + 1)?;
                match self.toks.get(self.pos) {
                    Some((_, Tok::Close)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.err("missing `)`")),
                }
            }
            Some((_, Tok::Word(w))) => {
                let lower = w.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or" | "of" | "them") {
                    return Err(self.err(format!("unexpected `{w}`")));
                }
                let is_of =
                    matches!(self.toks.get(self.pos + 1), Some((_, Tok::Word(n))) if n.eq_ignore_ascii_case("of"));
                if !is_of {
                    self.pos += 1;
                    return Ok(CondExpr::Ident(w));
                }
                let quantifier = if lower == "all" {
                    Quantifier::All
                } else {
                    match lower.parse::<usize>() {
                        Ok(n) if n >= 1 => Quantifier::AtLeast(n),
                        _ => return Err(self.err(format!("`{w} of`: expected a positive number or `all`"))),
                    }
                };
                self.pos += 2;
                let target = match self.toks.get(self.pos) {
                    Some((_, Tok::Word(t))) if t.eq_ignore_ascii_case("them") => OfTarget::Them,
                    Some((_, Tok::Word(t))) => OfTarget::Pattern(t.clone()),
                    _ => return Err(self.err("`of` needs `them` or a search name pattern")),
                };
                self.pos += 1;
                Ok(CondExpr::Of(quantifier, target))
            }
        }
    }
}

/// Parses one condition string.
pub fn parse_condition(text: &str) -> Result<CondExpr, CompileError> {
    if text.len() > MAX_CONDITION_LEN {
        return Err(CompileError::Limit(format!("condition longer than {MAX_CONDITION_LEN} bytes")));
    }
    let toks = tokenize(text)?;
    let mut parser = Parser { text, toks, pos: 0 };
    let expr = parser.or(0)?;
    if parser.pos != parser.toks.len() {
        return Err(parser.err("unexpected trailing input"));
    }
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CondExpr {
        CondExpr::Ident(s.into())
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let e = parse_condition("a or not b and c").unwrap();
        assert_eq!(e, CondExpr::Or(vec![id("a"), CondExpr::And(vec![CondExpr::Not(Box::new(id("b"))), id("c")])]));
    }

    #[test]
    fn parentheses_and_quantifiers_parse() {
        let e = parse_condition("(sel_* or x) and all of filter_* and not 1 of them").unwrap();
        let CondExpr::And(terms) = e else { panic!("and") };
        assert_eq!(terms[1], CondExpr::Of(Quantifier::All, OfTarget::Pattern("filter_*".into())));
        assert_eq!(terms[2], CondExpr::Not(Box::new(CondExpr::Of(Quantifier::AtLeast(1), OfTarget::Them))));
        assert_eq!(
            parse_condition("2 of sel*").unwrap(),
            CondExpr::Of(Quantifier::AtLeast(2), OfTarget::Pattern("sel*".into()))
        );
    }

    #[test]
    fn malformed_conditions_are_located_errors() {
        for bad in ["a and", "(a or b", "a b", "and a", "0 of them", "a )", "", "1 of", "sel | count() > 5"] {
            assert!(matches!(parse_condition(bad), Err(CompileError::Condition { .. })), "{bad}");
        }
    }

    #[test]
    fn hostile_nesting_is_refused_without_overflow() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse_condition(&deep), Err(CompileError::Condition { .. })));
        let nots = format!("{}a", "not ".repeat(10_000));
        assert!(parse_condition(&nots).is_err());
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        assert!(parse_condition(&ok).is_ok());
    }

    #[test]
    fn long_flat_chains_are_fine() {
        let chain = (0..5_000).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" or ");
        assert!(matches!(parse_condition(&chain), Ok(CondExpr::Or(v)) if v.len() == 5_000));
    }
}
