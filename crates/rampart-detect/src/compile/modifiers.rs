//! The meaning of field modifiers: parsing the `|a|b` chain of one key into
//! a match kind, flags and value transforms, and refusing the combinations
//! that have no defined meaning, with a reason naming the modifier.

use crate::error::CompileError;

/// How a value is compared with the event's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole-value match (wildcards allowed).
    Eq,
    /// Substring.
    Contains,
    /// Prefix.
    StartsWith,
    /// Suffix.
    EndsWith,
    /// Regular expression.
    Re,
    /// IP network membership.
    Cidr,
    /// Numeric comparison.
    Cmp(CmpOp),
    /// Field presence.
    Exists,
}

/// A numeric comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
}

impl CmpOp {
    /// Applies the operator.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Lte => left <= right,
            Self::Gt => left > right,
            Self::Gte => left >= right,
        }
    }
}

/// A value transformation, applied in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `windash`: every `-`/`/` flag prefix in all dash variants.
    Windash,
    /// `base64`.
    Base64,
    /// `base64offset`: the three alignments.
    Base64Offset,
    /// `utf16le` / `wide`.
    Utf16Le,
    /// `utf16be`.
    Utf16Be,
    /// `utf16`: byte order mark and little endian.
    Utf16,
}

/// The part of a date that a time modifier extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    /// 0–59.
    Minute,
    /// 0–23.
    Hour,
    /// 1–31.
    Day,
    /// ISO week, 1–53.
    Week,
    /// 1–12.
    Month,
    /// The year.
    Year,
}

/// Regex flags from `re` sub-modifiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReFlags {
    /// `i`: case-insensitive.
    pub insensitive: bool,
    /// `m`: `^`/`$` at line boundaries.
    pub multi_line: bool,
    /// `s`: `.` matches newlines.
    pub dot_all: bool,
}

/// Everything the modifier chain of one key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modifiers {
    /// The comparison.
    pub kind: Kind,
    /// `all`: every value must match instead of any.
    pub all: bool,
    /// `cased`: compare case-sensitively.
    pub cased: bool,
    /// `neq`: the item holds when the comparison does not.
    pub neq: bool,
    /// `fieldref`: values name another field of the same event.
    pub fieldref: bool,
    /// `expand`: values contain `%placeholders%`.
    pub expand: bool,
    /// Value transforms in order.
    pub transforms: Vec<Transform>,
    /// `re` flags.
    pub re: ReFlags,
    /// A time modifier.
    pub time: Option<TimePart>,
}

/// Parses and validates a modifier chain.
pub fn parse_modifiers(key: &str, mods: &[String]) -> Result<Modifiers, CompileError> {
    let use_err = |message: String| CompileError::ModifierUse { key: key.into(), message };
    let mut m = Modifiers {
        kind: Kind::Eq,
        all: false,
        cased: false,
        neq: false,
        fieldref: false,
        expand: false,
        transforms: Vec::new(),
        re: ReFlags::default(),
        time: None,
    };
    let mut kind_set: Option<&str> = None;
    let mut re_subs = Vec::new();
    for raw in mods {
        let name = raw.as_str();
        let kind = match name {
            "contains" => Some(Kind::Contains),
            "startswith" => Some(Kind::StartsWith),
            "endswith" => Some(Kind::EndsWith),
            "re" => Some(Kind::Re),
            "cidr" => Some(Kind::Cidr),
            "lt" => Some(Kind::Cmp(CmpOp::Lt)),
            "lte" => Some(Kind::Cmp(CmpOp::Lte)),
            "gt" => Some(Kind::Cmp(CmpOp::Gt)),
            "gte" => Some(Kind::Cmp(CmpOp::Gte)),
            "exists" => Some(Kind::Exists),
            _ => None,
        };
        if let Some(kind) = kind {
            if let Some(prev) = kind_set {
                return Err(use_err(format!("`{prev}` and `{name}` cannot be combined")));
            }
            kind_set = Some(name);
            m.kind = kind;
            continue;
        }
        match name {
            "all" => m.all = true,
            "cased" => m.cased = true,
            "neq" => m.neq = true,
            "fieldref" => m.fieldref = true,
            "expand" => m.expand = true,
            "windash" => m.transforms.push(Transform::Windash),
            "base64" => m.transforms.push(Transform::Base64),
            "base64offset" => m.transforms.push(Transform::Base64Offset),
            "utf16le" | "wide" => m.transforms.push(Transform::Utf16Le),
            "utf16be" => m.transforms.push(Transform::Utf16Be),
            "utf16" => m.transforms.push(Transform::Utf16),
            "i" | "m" | "s" => re_subs.push(name),
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                if m.time.is_some() {
                    return Err(use_err("only one time modifier may be used".into()));
                }
                m.time = Some(match name {
                    "minute" => TimePart::Minute,
                    "hour" => TimePart::Hour,
                    "day" => TimePart::Day,
                    "week" => TimePart::Week,
                    "month" => TimePart::Month,
                    _ => TimePart::Year,
                });
            }
            other => {
                return Err(CompileError::UnsupportedModifier { key: key.into(), modifier: other.into() });
            }
        }
    }
    for sub in re_subs {
        if m.kind != Kind::Re {
            return Err(use_err(format!("`{sub}` is a sub-modifier of `re`")));
        }
        match sub {
            "i" => m.re.insensitive = true,
            "m" => m.re.multi_line = true,
            _ => m.re.dot_all = true,
        }
    }
    validate(&m, key)?;
    Ok(m)
}

fn validate(m: &Modifiers, key: &str) -> Result<(), CompileError> {
    let use_err = |message: &str| Err(CompileError::ModifierUse { key: key.into(), message: message.into() });
    let stringish = matches!(m.kind, Kind::Eq | Kind::Contains | Kind::StartsWith | Kind::EndsWith);
    if !m.transforms.is_empty() && !stringish {
        return use_err("encoding modifiers apply to string matches only");
    }
    // UTF-16 yields bytes, which only a following base64 turns back into text.
    let mut pending_bytes = false;
    for t in &m.transforms {
        match t {
            Transform::Utf16 | Transform::Utf16Le | Transform::Utf16Be => pending_bytes = true,
            Transform::Base64 | Transform::Base64Offset => pending_bytes = false,
            Transform::Windash if pending_bytes => return use_err("`windash` after a UTF-16 encoding"),
            Transform::Windash => {}
        }
    }
    if pending_bytes {
        return use_err("a UTF-16 encoding must be followed by `base64` or `base64offset`");
    }
    if m.kind == Kind::Exists && (m.all || m.neq || m.fieldref || m.expand || m.cased || m.time.is_some()) {
        return use_err("`exists` takes no other modifier");
    }
    if m.fieldref && !(stringish && m.transforms.is_empty() && !m.expand && m.time.is_none()) {
        return use_err("`fieldref` combines only with contains/startswith/endswith/cased/neq");
    }
    if m.time.is_some() && !matches!(m.kind, Kind::Eq | Kind::Cmp(_)) {
        return use_err("time modifiers combine only with equality or lt/lte/gt/gte");
    }
    if m.cased && !stringish {
        return use_err("`cased` applies to string matches only");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(mods: &[&str]) -> Result<Modifiers, CompileError> {
        let owned: Vec<String> = mods.iter().map(|s| s.to_string()).collect();
        parse_modifiers("F", &owned)
    }

    #[test]
    fn common_chains_parse() {
        let m = p(&["contains", "all", "windash"]).unwrap();
        assert_eq!((m.kind, m.all, m.transforms.clone()), (Kind::Contains, true, vec![Transform::Windash]));
        let m = p(&["wide", "base64offset", "contains"]).unwrap();
        assert_eq!(m.transforms, vec![Transform::Utf16Le, Transform::Base64Offset]);
        let m = p(&["re", "i", "m", "s"]).unwrap();
        assert_eq!(m.re, ReFlags { insensitive: true, multi_line: true, dot_all: true });
        assert_eq!(p(&["hour", "gte"]).unwrap().time, Some(TimePart::Hour));
        assert!(p(&["fieldref", "neq"]).unwrap().fieldref);
    }

    #[test]
    fn unknown_modifiers_are_named() {
        assert_eq!(
            p(&["contains", "frobnicate"]).err(),
            Some(CompileError::UnsupportedModifier { key: "F".into(), modifier: "frobnicate".into() })
        );
    }

    #[test]
    fn meaningless_combinations_are_refused() {
        for bad in [
            &["contains", "endswith"][..],
            &["i"],
            &["wide"],
            &["re", "base64"],
            &["exists", "neq"],
            &["cidr", "cased"],
            &["hour", "contains"],
            &["fieldref", "base64"],
            &["hour", "minute"],
        ] {
            assert!(matches!(p(bad), Err(CompileError::ModifierUse { .. })), "{bad:?}");
        }
    }
}
