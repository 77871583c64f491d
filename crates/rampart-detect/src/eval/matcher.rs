//! The compiled matcher tree and its evaluation: value sets that test all
//! the values of one field item at once (hash sets, Aho-Corasick, memchr
//! finders, regexes), items, selections and conditions.

use std::collections::HashSet;
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use memchr::memmem;
use regex::Regex;

use super::event::{EventCtx, FieldVal};
use crate::compile::modifiers::{CmpOp, TimePart};

/// Above this many exact values a hash set beats a linear scan.
const EXACT_SET_MIN: usize = 8;
/// Above this many substrings one Aho-Corasick automaton beats single finders.
const AC_MIN: usize = 4;

/// An IP network for `cidr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    /// IPv4 network and prefix length.
    V4(u32, u8),
    /// IPv6 network and prefix length.
    V6(u128, u8),
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a full-length prefix).
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s.trim(), None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let len = len.unwrap_or(32);
                (len <= 32).then(|| Self::V4(u32::from(a) & mask32(len), len))
            }
            IpAddr::V6(a) => {
                let len = len.unwrap_or(128);
                (len <= 128).then(|| Self::V6(u128::from(a) & mask128(len), len))
            }
        }
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4(net, len), IpAddr::V4(a)) => u32::from(a) & mask32(*len) == *net,
            (Self::V6(net, len), IpAddr::V6(a)) => u128::from(a) & mask128(*len) == *net,
            (Self::V4(net, len), IpAddr::V6(a)) => {
                a.to_ipv4_mapped().is_some_and(|v4| u32::from(v4) & mask32(*len) == *net)
            }
            (Self::V6(..), IpAddr::V4(_)) => false,
        }
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}

fn mask128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) }
}

/// Substring search over several needles.
#[derive(Debug, Clone)]
pub enum Substrings {
    /// No needles.
    None,
    /// A few needles, each with its own finder.
    Finders(Vec<memmem::Finder<'static>>),
    /// Many needles in one automaton.
    Automaton(AhoCorasick),
}

impl Substrings {
    /// Builds the fastest searcher for these needles.
    pub fn new(needles: Vec<String>) -> Result<Self, String> {
        if needles.is_empty() {
            return Ok(Self::None);
        }
        if needles.len() < AC_MIN {
            return Ok(Self::Finders(needles.iter().map(|n| memmem::Finder::new(n.as_bytes()).into_owned()).collect()));
        }
        AhoCorasick::new(&needles).map(Self::Automaton).map_err(|e| e.to_string())
    }

    fn find(&self, hay: &str) -> bool {
        match self {
            Self::None => false,
            Self::Finders(f) => f.iter().any(|f| f.find(hay.as_bytes()).is_some()),
            Self::Automaton(ac) => ac.is_match(hay),
        }
    }
}

/// Exact values, as a list or a set.
#[derive(Debug, Clone)]
pub enum Exact {
    /// A short list.
    List(Vec<String>),
    /// A hash set.
    Set(HashSet<String>),
}

impl Exact {
    /// Builds the better representation for `values`.
    pub fn new(values: Vec<String>) -> Self {
        if values.len() >= EXACT_SET_MIN { Self::Set(values.into_iter().collect()) } else { Self::List(values) }
    }

    fn contains(&self, s: &str) -> bool {
        match self {
            Self::List(v) => v.iter().any(|x| x == s),
            Self::Set(set) => set.contains(s),
        }
    }
}

/// All the values of one field item that are ORed, grouped by how they match.
#[derive(Debug, Clone)]
pub struct ValueSet {
    /// Compare lowercased text (literals are lowercase already).
    pub ci: bool,
    /// Whole-value matches.
    pub exact: Exact,
    /// Prefixes.
    pub prefix: Vec<String>,
    /// Suffixes.
    pub suffix: Vec<String>,
    /// Substrings.
    pub contains: Substrings,
    /// The substrings as text (the prefilter reads them).
    pub contains_lits: Vec<String>,
    /// Anchored glob regexes over the (lowercased when `ci`) text.
    pub globs: Vec<Regex>,
    /// For each glob, its longest literal run (which any match contains).
    pub glob_lits: Vec<String>,
    /// `re` regexes over the original text.
    pub regexes: Vec<Regex>,
    /// `*`: any non-null scalar.
    pub any_text: bool,
    /// Numeric equality (rule numbers against event numbers).
    pub numbers: Vec<f64>,
    /// Numeric comparisons.
    pub cmps: Vec<(CmpOp, f64)>,
    /// `cidr` networks.
    pub cidrs: Vec<Cidr>,
    /// `null`: the field is absent or null.
    pub null: bool,
}

impl ValueSet {
    /// An empty set (matches nothing).
    pub fn empty(ci: bool) -> Self {
        Self {
            ci,
            exact: Exact::List(Vec::new()),
            prefix: Vec::new(),
            suffix: Vec::new(),
            contains: Substrings::None,
            contains_lits: Vec::new(),
            globs: Vec::new(),
            glob_lits: Vec::new(),
            regexes: Vec::new(),
            any_text: false,
            numbers: Vec::new(),
            cmps: Vec::new(),
            cidrs: Vec::new(),
            null: false,
        }
    }

    /// Whether one scalar value matches.
    pub fn matches(&self, v: &FieldVal<'_>) -> bool {
        if v.is_null() {
            return self.null;
        }
        let hay: &str = if self.ci { &v.lower } else { &v.text };
        if self.any_text
            || self.exact.contains(hay)
            || self.prefix.iter().any(|p| hay.starts_with(p.as_str()))
            || self.suffix.iter().any(|p| hay.ends_with(p.as_str()))
            || self.contains.find(hay)
            || self.globs.iter().any(|g| g.is_match(hay))
            || self.regexes.iter().any(|r| r.is_match(&v.text))
        {
            return true;
        }
        if (!self.numbers.is_empty() || !self.cmps.is_empty())
            && let Some(n) = v.number()
            && (self.numbers.contains(&n) || self.cmps.iter().any(|(op, r)| op.holds(n, *r)))
        {
            return true;
        }
        if !self.cidrs.is_empty()
            && let Ok(ip) = v.text.trim().parse::<IpAddr>()
        {
            return self.cidrs.iter().any(|c| c.contains(ip));
        }
        false
    }
}

/// How a `fieldref` compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// Equal.
    Eq,
    /// The field contains the other.
    Contains,
    /// The field starts with the other.
    StartsWith,
    /// The field ends with the other.
    EndsWith,
}

/// What the field is tested against.
#[derive(Debug, Clone)]
pub enum Test {
    /// Values: with `all`, every set must match some value; otherwise the one set must.
    Values {
        /// The sets.
        sets: Vec<ValueSet>,
        /// `all` semantics.
        all: bool,
    },
    /// `exists: true|false`.
    Exists(bool),
    /// `fieldref`: compare with other fields (any of them).
    FieldRef {
        /// The referenced fields.
        others: Vec<u32>,
        /// How.
        kind: RefKind,
        /// Case-insensitively.
        ci: bool,
    },
    /// A time part of a date value, compared with numbers.
    Time {
        /// The part.
        part: TimePart,
        /// The comparisons (`numbers` for equality, `cmps` otherwise).
        set: Box<ValueSet>,
    },
}

/// Where an item reads its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A field of the route's table.
    Field(u32),
    /// Every string of the event (keywords).
    Keywords,
}

/// One `field|modifiers: values` test.
#[derive(Debug, Clone)]
pub struct Item {
    /// The key as written.
    pub key: String,
    /// Where values come from.
    pub target: Target,
    /// The test.
    pub test: Test,
    /// `neq`: invert.
    pub negate: bool,
}

fn fieldref_holds(kind: RefKind, ci: bool, a: &FieldVal<'_>, b: &FieldVal<'_>) -> bool {
    let (x, y): (&str, &str) = if ci { (&a.lower, &b.lower) } else { (&a.text, &b.text) };
    match kind {
        RefKind::Eq => x == y,
        RefKind::Contains => x.contains(y),
        RefKind::StartsWith => x.starts_with(y),
        RefKind::EndsWith => x.ends_with(y),
    }
}

impl Item {
    /// Resolves the fields this item reads.
    pub fn prepare(&self, ctx: &mut EventCtx<'_>) {
        match self.target {
            Target::Field(id) => ctx.resolve(id),
            Target::Keywords => ctx.resolve_keywords(),
        }
        if let Test::FieldRef { others, .. } = &self.test {
            others.iter().for_each(|o| ctx.resolve(*o));
        }
    }

    /// Evaluates the item.
    pub fn eval(&self, ctx: &mut EventCtx<'_>) -> bool {
        self.prepare(ctx);
        let (vals, present) = match self.target {
            Target::Field(id) => (ctx.values(id), ctx.present(id)),
            Target::Keywords => (ctx.keywords(), true),
        };
        let hit = match &self.test {
            Test::Exists(want) => present == *want,
            Test::Values { sets, all } => {
                if vals.is_empty() {
                    if *all { sets.iter().all(|s| s.null) } else { sets.iter().any(|s| s.null) }
                } else if *all {
                    sets.iter().all(|s| vals.iter().any(|v| s.matches(v)))
                } else {
                    sets.iter().any(|s| vals.iter().any(|v| s.matches(v)))
                }
            }
            Test::FieldRef { others, kind, ci } => others.iter().any(|o| {
                let refs = ctx.values(*o);
                vals.iter()
                    .any(|a| !a.is_null() && refs.iter().any(|b| !b.is_null() && fieldref_holds(*kind, *ci, a, b)))
            }),
            Test::Time { part, set } => vals.iter().any(|v| {
                super::time::extract(&v.text, *part)
                    .is_some_and(|n| set.numbers.contains(&n) || set.cmps.iter().any(|(op, r)| op.holds(n, *r)))
            }),
        };
        hit != self.negate
    }
}

/// A named search: alternatives ORed, each an AND of items.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The search's name.
    pub name: String,
    /// The alternatives.
    pub alts: Vec<Vec<Item>>,
}

impl Selection {
    /// Evaluates the search.
    pub fn eval(&self, ctx: &mut EventCtx<'_>) -> bool {
        self.alts.iter().any(|alt| alt.iter().all(|item| item.eval(ctx)))
    }
}

/// A compiled condition over selection indices.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A selection.
    Sel(u32),
    /// Negation.
    Not(Box<Cond>),
    /// All hold.
    And(Vec<Cond>),
    /// Any holds.
    Or(Vec<Cond>),
    /// At least N hold.
    AtLeast(usize, Vec<Cond>),
}

impl Cond {
    /// Evaluates the condition with short-circuiting.
    pub fn eval(&self, sels: &[Selection], ctx: &mut EventCtx<'_>) -> bool {
        match self {
            Self::Sel(i) => sels.get(*i as usize).is_some_and(|s| s.eval(ctx)),
            Self::Not(c) => !c.eval(sels, ctx),
            Self::And(cs) => cs.iter().all(|c| c.eval(sels, ctx)),
            Self::Or(cs) => cs.iter().any(|c| c.eval(sels, ctx)),
            Self::AtLeast(n, cs) => {
                let mut hits = 0;
                for c in cs {
                    if c.eval(sels, ctx) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_v4_v6_and_mapped_addresses() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()));
        let v6 = Cidr::parse("fe80::/10").unwrap();
        assert!(v6.contains("fe80::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::parse("1.2.3.4/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
        assert_eq!(Cidr::parse("1.2.3.4"), Some(Cidr::V4(0x0102_0304, 32)));
    }
}
