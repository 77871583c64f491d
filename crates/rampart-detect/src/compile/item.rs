//! Compiling one `field|modifiers: values` entry into a matcher item:
//! placeholders expanded, values transformed and shaped, grouped into value
//! sets, regexes and networks checked, with a precise error for each value
//! that cannot be matched.

use std::collections::BTreeMap;

use regex::RegexBuilder;

use super::modifiers::{Kind, Modifiers, parse_modifiers};
use super::pattern::{Data, Shape, apply, parse_wildcards, shape, wrap};
use super::{Env, values_text};
use crate::error::CompileError;
use crate::eval::matcher::{Cidr, Exact, Item, RefKind, Substrings, Target, Test, ValueSet};
use crate::parse::{FieldSpec, Scalar};

/// Longest `re` pattern accepted.
pub const MAX_REGEX_LEN: usize = 64 * 1024;
/// Most strings one value may expand into (placeholders, windash, offsets).
pub const MAX_EXPANSION: usize = 10_000;

/// Collects the values of one set before building its searchers.
#[derive(Default)]
struct SetBuilder {
    exact: Vec<String>,
    prefix: Vec<String>,
    suffix: Vec<String>,
    contains: Vec<String>,
    globs: Vec<String>,
    glob_lits: Vec<String>,
    any_text: bool,
    numbers: Vec<f64>,
    null: bool,
}

impl SetBuilder {
    fn add_shape(&mut self, s: Shape) {
        match s {
            Shape::Exact(v) => self.exact.push(v),
            Shape::Prefix(v) => self.prefix.push(v),
            Shape::Suffix(v) => self.suffix.push(v),
            Shape::Contains(v) => self.contains.push(v),
            Shape::AnyText => self.any_text = true,
            Shape::Glob(g) => self.globs.push(g),
        }
    }

    fn build(mut self, ci: bool) -> Result<ValueSet, CompileError> {
        for v in [&mut self.exact, &mut self.prefix, &mut self.suffix, &mut self.contains, &mut self.globs] {
            v.sort();
            v.dedup();
        }
        let mut set = ValueSet::empty(ci);
        set.globs = self
            .globs
            .iter()
            .map(|g| regex::Regex::new(g))
            .collect::<Result<_, _>>()
            .map_err(|e| CompileError::Limit(format!("wildcard pattern too large: {e}")))?;
        set.glob_lits = self.glob_lits;
        set.contains_lits = self.contains.clone();
        set.exact = Exact::new(self.exact);
        set.prefix = self.prefix;
        set.suffix = self.suffix;
        set.contains = Substrings::new(self.contains).map_err(CompileError::Limit)?;
        set.any_text = self.any_text;
        set.numbers = self.numbers;
        set.null = self.null;
        Ok(set)
    }
}

/// Replaces every `%name%` by each of its configured values.
pub fn expand_placeholders(value: &str, table: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, CompileError> {
    let mut out = vec![String::new()];
    let mut rest = value;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else { break };
        let name = &rest[start + 1..start + 1 + len];
        let prefix = &rest[..start];
        let values = table.get(name).ok_or_else(|| CompileError::Placeholder(name.to_string()))?;
        let mut next = Vec::with_capacity(out.len() * values.len());
        for o in &out {
            for v in values {
                next.push(format!("{o}{prefix}{v}"));
            }
        }
        if next.len() > MAX_EXPANSION {
            return Err(CompileError::Limit(format!("placeholders expand to more than {MAX_EXPANSION} values")));
        }
        out = next;
        rest = &rest[start + len + 2..];
    }
    Ok(out.into_iter().map(|o| o + rest).collect())
}

/// Adds one string value (after expansion) to a set.
fn add_string(
    b: &mut SetBuilder,
    text: &str,
    wildcards: bool,
    m: &Modifiers,
    kind: Kind,
    ci: bool,
) -> Result<(), String> {
    let toks = if wildcards { parse_wildcards(text) } else { super::pattern::literal(text) };
    let mut variants = vec![Data::Text(toks)];
    for t in &m.transforms {
        variants = apply(variants, *t)?;
        if variants.len() > MAX_EXPANSION {
            return Err(format!("value expands to more than {MAX_EXPANSION} variants"));
        }
    }
    for v in variants {
        match v {
            Data::Text(toks) => {
                let toks = wrap(toks, kind);
                let shaped = shape(&toks, ci);
                if matches!(shaped, Shape::Glob(_)) {
                    let lit = super::pattern::longest_literal(&toks);
                    b.glob_lits.push(if ci { lit.to_lowercase() } else { lit });
                }
                b.add_shape(shaped);
            }
            Data::Bytes(_) => return Err("encoded bytes need base64".into()),
        }
    }
    Ok(())
}

fn string_set(
    spec: &FieldSpec,
    selection: &str,
    values: &[Scalar],
    m: &Modifiers,
    kind: Kind,
    env: &Env<'_>,
) -> Result<ValueSet, CompileError> {
    let ci = !m.cased;
    let invalid =
        |message: String| CompileError::InvalidValue { selection: selection.into(), key: spec.key.clone(), message };
    let mut b = SetBuilder::default();
    for value in values {
        match value {
            Scalar::Null => b.null = true,
            Scalar::Str(s) => {
                let texts = if m.expand { expand_placeholders(s, env.placeholders)? } else { vec![s.clone()] };
                for t in texts {
                    add_string(&mut b, &t, true, m, kind, ci).map_err(invalid)?;
                }
            }
            other => {
                let text = other.text().unwrap_or_default();
                if kind == Kind::Eq
                    && m.transforms.is_empty()
                    && let Some(n) = other.number()
                {
                    b.numbers.push(n);
                }
                add_string(&mut b, &text, false, m, kind, ci).map_err(invalid)?;
            }
        }
    }
    b.build(ci)
}

fn regex_set(spec: &FieldSpec, selection: &str, values: &[Scalar], m: &Modifiers) -> Result<ValueSet, CompileError> {
    let err =
        |message: String| CompileError::InvalidRegex { selection: selection.into(), key: spec.key.clone(), message };
    let mut set = ValueSet::empty(false);
    for value in values {
        let Some(pattern) = value.text().filter(|_| !matches!(value, Scalar::Null)) else {
            return Err(err("null is not a regex".into()));
        };
        if pattern.len() > MAX_REGEX_LEN {
            return Err(err(format!("pattern longer than {MAX_REGEX_LEN} bytes")));
        }
        let re = RegexBuilder::new(&pattern)
            .case_insensitive(m.re.insensitive)
            .multi_line(m.re.multi_line)
            .dot_matches_new_line(m.re.dot_all)
            .build()
            .map_err(|e| err(format!("`{pattern}`: {e}")))?;
        set.regexes.push(re);
    }
    Ok(set)
}

fn numeric_set(spec: &FieldSpec, selection: &str, values: &[Scalar], m: &Modifiers) -> Result<ValueSet, CompileError> {
    let mut set = ValueSet::empty(false);
    for value in values {
        let n = value.number().filter(|n| n.is_finite()).ok_or_else(|| CompileError::InvalidValue {
            selection: selection.into(),
            key: spec.key.clone(),
            message: format!("`{}` is not a number", value.text().unwrap_or_else(|| "null".into())),
        })?;
        match m.kind {
            Kind::Cmp(op) => set.cmps.push((op, n)),
            _ => set.numbers.push(n),
        }
    }
    Ok(set)
}

fn cidr_set(spec: &FieldSpec, selection: &str, values: &[Scalar]) -> Result<ValueSet, CompileError> {
    let mut set = ValueSet::empty(false);
    for value in values {
        let text = value.text().unwrap_or_default();
        let net = Cidr::parse(&text).ok_or_else(|| CompileError::InvalidValue {
            selection: selection.into(),
            key: spec.key.clone(),
            message: format!("`{text}` is not a CIDR network"),
        })?;
        set.cidrs.push(net);
    }
    Ok(set)
}

/// Builds the sets: one for "any of", one per value for `all`.
fn sets_for(
    spec: &FieldSpec,
    selection: &str,
    m: &Modifiers,
    kind: Kind,
    env: &Env<'_>,
) -> Result<Vec<ValueSet>, CompileError> {
    let groups: Vec<&[Scalar]> =
        if m.all { spec.values.iter().map(std::slice::from_ref).collect() } else { vec![&spec.values[..]] };
    groups
        .into_iter()
        .map(|vals| match kind {
            Kind::Re => regex_set(spec, selection, vals, m),
            Kind::Cmp(_) => numeric_set(spec, selection, vals, m),
            Kind::Cidr => cidr_set(spec, selection, vals),
            _ => string_set(spec, selection, vals, m, kind, env),
        })
        .collect()
}

/// Compiles one field item.
pub fn compile_item(spec: &FieldSpec, selection: &str, env: &mut Env<'_>) -> Result<Item, CompileError> {
    let m = parse_modifiers(&spec.key, &spec.modifiers)?;
    let use_err = |message: &str| CompileError::ModifierUse { key: spec.key.clone(), message: message.into() };
    let target = match &spec.field {
        Some(f) => Target::Field(env.intern(f)),
        None => {
            if m.fieldref || m.time.is_some() || matches!(m.kind, Kind::Exists | Kind::Cmp(_)) {
                return Err(use_err("this modifier needs a field name"));
            }
            Target::Keywords
        }
    };
    // Keywords are searched anywhere in the event's strings.
    let kind = if target == Target::Keywords && m.kind == Kind::Eq { Kind::Contains } else { m.kind };
    let test = if kind == Kind::Exists {
        match spec.values.as_slice() {
            [Scalar::Bool(b)] => Test::Exists(*b),
            [Scalar::Str(s)] if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                Test::Exists(s.eq_ignore_ascii_case("true"))
            }
            _ => return Err(use_err("`exists` takes a single true or false")),
        }
    } else if m.fieldref {
        if m.all {
            return Err(use_err("`fieldref` with `all` is not supported"));
        }
        let names = values_text(&spec.values).ok_or_else(|| use_err("`fieldref` values must be field names"))?;
        let others = names.iter().map(|n| env.intern(n)).collect();
        let kind = match kind {
            Kind::Contains => RefKind::Contains,
            Kind::StartsWith => RefKind::StartsWith,
            Kind::EndsWith => RefKind::EndsWith,
            _ => RefKind::Eq,
        };
        Test::FieldRef { others, kind, ci: !m.cased }
    } else if let Some(part) = m.time {
        let mut set = ValueSet::empty(false);
        for value in &spec.values {
            let n = value.number().ok_or_else(|| CompileError::InvalidValue {
                selection: selection.into(),
                key: spec.key.clone(),
                message: "time modifiers compare with numbers".into(),
            })?;
            match m.kind {
                Kind::Cmp(op) => set.cmps.push((op, n)),
                _ => set.numbers.push(n),
            }
        }
        Test::Time { part, set: Box::new(set) }
    } else {
        Test::Values { sets: sets_for(spec, selection, &m, kind, env)?, all: m.all }
    };
    Ok(Item { key: spec.key.clone(), target, test, negate: m.neq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_as_a_product() {
        let mut t = BTreeMap::new();
        t.insert("a".to_string(), vec!["1".to_string(), "2".to_string()]);
        t.insert("b".to_string(), vec!["x".to_string()]);
        assert_eq!(expand_placeholders("pre%a%-%b%post", &t).unwrap(), vec!["pre1-xpost", "pre2-xpost"]);
        assert_eq!(expand_placeholders("100%", &t).unwrap(), vec!["100%"]);
        assert_eq!(expand_placeholders("%c%", &t).err(), Some(CompileError::Placeholder("c".into())));
    }
}
