//! What a rule needs from an event before it can match, read off its
//! matcher tree: literals that must occur (lowercased) in a field, or fields
//! that must exist. `rule_needles` picks one disjunctive set to trigger the
//! rule; `rule_expr` keeps the whole and/or structure, checked against the
//! literals found before the rule is evaluated. Both are necessary
//! conditions only, so they never hide a match.

use super::matcher::{Cond, Item, Selection, Target, Test, ValueSet};

/// A literal that must occur in a field, or (`None`) the field must exist.
pub type Needle = (u32, Option<String>);

/// The pseudo-field of keyword searches: every string of the event.
pub const KEYWORDS: u32 = u32::MAX;

/// Literals shorter than this occur in nearly every value; scanning for
/// them costs more than the evaluations they would save.
const MIN_NEEDLE: usize = 2;

fn ascii_lower(s: &str) -> Option<String> {
    (s.len() >= MIN_NEEDLE && s.is_ascii()).then(|| s.to_ascii_lowercase())
}

/// Literals of which one must occur for the set to match a value, or `None`
/// if the set can match without any (null, numbers, regexes …).
fn set_needles(set: &ValueSet) -> Option<Vec<String>> {
    if set.null || set.any_text || !set.regexes.is_empty() || !set.cmps.is_empty() || !set.cidrs.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    // A value equal to an integer N, written as a plain decimal (which is
    // all `FieldVal::number` accepts), contains the digits of |N|.
    for n in &set.numbers {
        if n.fract() != 0.0 || n.abs() >= 1e15 {
            return None;
        }
        out.push(format!("{}", n.abs() as u64));
    }
    let exact = match &set.exact {
        super::matcher::Exact::List(v) => v.iter().collect::<Vec<_>>(),
        super::matcher::Exact::Set(s) => s.iter().collect(),
    };
    let lits = exact.into_iter().chain(&set.prefix).chain(&set.suffix).chain(&set.contains_lits).chain(&set.glob_lits);
    for lit in lits {
        out.push(ascii_lower(lit)?);
    }
    (!out.is_empty()).then_some(out)
}

/// How selective a needle set is: literals beat mere presence, a longer
/// shortest literal is better, then fewer needles.
fn score(needles: &[Needle]) -> (bool, usize, std::cmp::Reverse<usize>) {
    let literal = needles.iter().all(|n| n.1.is_some());
    let shortest = needles.iter().map(|n| n.1.as_ref().map_or(0, String::len)).min().unwrap_or(0);
    (literal, shortest, std::cmp::Reverse(needles.len()))
}

fn best(options: impl Iterator<Item = Vec<Needle>>) -> Option<Vec<Needle>> {
    options.max_by_key(|n| score(n))
}

fn item_needles(item: &Item, contains_sets: &dyn Fn(&ValueSet) -> Option<Vec<String>>) -> Option<Vec<Needle>> {
    if item.negate {
        return None;
    }
    let field = match item.target {
        Target::Field(f) => f,
        Target::Keywords => KEYWORDS,
    };
    let presence = (field != KEYWORDS).then(|| vec![(field, None)]);
    let (sets, all) = match &item.test {
        Test::Values { sets, all } => (sets, *all),
        Test::Exists(true) | Test::FieldRef { .. } | Test::Time { .. } => return presence,
        Test::Exists(false) => return None,
    };
    // A set that accepts a missing field gives no necessary condition.
    if sets.iter().any(|s| s.null) {
        return None;
    }
    let tag = |v: Vec<String>| v.into_iter().map(|n| (field, Some(n))).collect::<Vec<_>>();
    let literal = if all {
        best(sets.iter().filter_map(|s| contains_sets(s).map(tag)))
    } else {
        sets.iter().map(|s| contains_sets(s).map(tag)).collect::<Option<Vec<_>>>().map(|v| v.concat())
    };
    literal.or(presence)
}

fn selection_needles(sel: &Selection) -> Option<Vec<Needle>> {
    let mut out = Vec::new();
    for alt in &sel.alts {
        out.extend(best(alt.iter().filter_map(|i| item_needles(i, &set_needles)))?);
    }
    Some(out)
}

/// The needles a rule requires, or `None` if it must always be evaluated.
/// The needle set that triggers a rule, or `None` if it must always run.
pub fn rule_needles(cond: &Cond, sels: &[Selection]) -> Option<Vec<Needle>> {
    match cond {
        Cond::Sel(i) => selection_needles(sels.get(*i as usize)?),
        Cond::Not(_) => None,
        Cond::And(cs) => best(cs.iter().filter_map(|c| rule_needles(c, sels))),
        Cond::Or(cs) | Cond::AtLeast(_, cs) => {
            let mut out = Vec::new();
            for c in cs {
                out.extend(rule_needles(c, sels)?);
            }
            Some(out)
        }
    }
}

/// A necessary condition over needles, mirroring the rule's and/or shape.
#[derive(Debug, Clone, PartialEq)]
pub enum NeedleExpr<N> {
    /// Nothing is known.
    True,
    /// One of these needles must be found.
    Any(Vec<N>),
    /// Every part must hold.
    And(Vec<NeedleExpr<N>>),
    /// Some part must hold.
    Or(Vec<NeedleExpr<N>>),
}

impl<N: PartialEq> NeedleExpr<N> {
    fn and(parts: Vec<Self>) -> Self {
        let mut parts: Vec<Self> = parts.into_iter().filter(|p| *p != Self::True).collect();
        match parts.len() {
            0 => Self::True,
            1 => parts.remove(0),
            _ => Self::And(parts),
        }
    }

    fn or(parts: Vec<Self>) -> Self {
        if parts.is_empty() || parts.iter().any(|p| *p == Self::True) {
            return Self::True;
        }
        Self::Or(parts)
    }
}

impl<N> NeedleExpr<N> {
    /// Maps needles (to ids).
    pub fn map<M>(self, f: &mut impl FnMut(N) -> M) -> NeedleExpr<M> {
        match self {
            Self::True => NeedleExpr::True,
            Self::Any(v) => NeedleExpr::Any(v.into_iter().map(&mut *f).collect()),
            Self::And(v) => NeedleExpr::And(v.into_iter().map(|e| e.map(f)).collect()),
            Self::Or(v) => NeedleExpr::Or(v.into_iter().map(|e| e.map(f)).collect()),
        }
    }
}

fn item_expr(item: &Item) -> NeedleExpr<Needle> {
    if item.negate {
        return NeedleExpr::True;
    }
    let field = match item.target {
        Target::Field(f) => f,
        Target::Keywords => KEYWORDS,
    };
    let presence = || if field == KEYWORDS { NeedleExpr::True } else { NeedleExpr::Any(vec![(field, None)]) };
    let (sets, all) = match &item.test {
        Test::Values { sets, all } => (sets, *all),
        Test::Exists(true) | Test::FieldRef { .. } | Test::Time { .. } => return presence(),
        Test::Exists(false) => return NeedleExpr::True,
    };
    if sets.iter().any(|s| s.null) {
        return NeedleExpr::True;
    }
    let set_expr = |s: &ValueSet| match set_needles(s) {
        Some(lits) => NeedleExpr::Any(lits.into_iter().map(|l| (field, Some(l))).collect()),
        None => presence(),
    };
    if all {
        NeedleExpr::and(sets.iter().map(set_expr).collect())
    } else {
        match sets.iter().map(set_needles).collect::<Option<Vec<_>>>() {
            Some(all_lits) => NeedleExpr::Any(all_lits.concat().into_iter().map(|l| (field, Some(l))).collect()),
            None => presence(),
        }
    }
}

fn selection_expr(sel: &Selection) -> NeedleExpr<Needle> {
    NeedleExpr::or(sel.alts.iter().map(|alt| NeedleExpr::and(alt.iter().map(item_expr).collect())).collect())
}

/// The whole necessary condition of a rule.
pub fn rule_expr(cond: &Cond, sels: &[Selection]) -> NeedleExpr<Needle> {
    match cond {
        Cond::Sel(i) => sels.get(*i as usize).map_or(NeedleExpr::True, selection_expr),
        Cond::Not(_) => NeedleExpr::True,
        Cond::And(cs) => NeedleExpr::and(cs.iter().map(|c| rule_expr(c, sels)).collect()),
        Cond::Or(cs) | Cond::AtLeast(_, cs) => NeedleExpr::or(cs.iter().map(|c| rule_expr(c, sels)).collect()),
    }
}
