//! The cross-rule prefilter. Each route numbers its distinct needles (a
//! literal in a field, or a field's presence); a `ScanIndex` built for one
//! set of admitted routes runs a single Aho-Corasick scan per field and
//! marks the needles found in each route. A rule becomes a candidate when one of its
//! trigger needles is found and its whole needle expression holds; rules
//! without needles are always evaluated, so no match is ever hidden.

use std::collections::{BTreeMap, HashMap};

use aho_corasick::AhoCorasick;

use super::event::EventCtx;
use super::needles::{KEYWORDS, Needle, NeedleExpr};

fn bit(bits: &[u64], i: u32) -> bool {
    bits.get(i as usize / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

fn set_bit(bits: &mut [u64], i: u32) {
    if let Some(w) = bits.get_mut(i as usize / 64) {
        *w |= 1 << (i % 64);
    }
}

/// Iterates the set bits of a bitset.
fn ones(bits: &[u64]) -> impl Iterator<Item = u32> + '_ {
    bits.iter().enumerate().flat_map(|(w, word)| {
        let mut word = *word;
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let b = word.trailing_zeros();
                word &= word - 1;
                (w * 64) as u32 + b
            })
        })
    })
}

/// The candidate logic of one route (positions are relative to the route).
#[derive(Debug, Clone, Default)]
pub struct Prefilter {
    rule_count: usize,
    /// The route's needles, by id.
    needles: Vec<Needle>,
    always: Vec<u32>,
    /// Rules each needle triggers.
    triggers: Vec<Vec<u32>>,
    /// Each rule's necessary clauses (ranges into `clauses`); a clause
    /// holds when one of its needles is found.
    rule_clauses: Vec<(u32, u32)>,
    clauses: Vec<(u32, u32)>,
    clause_ids: Vec<u32>,
}

/// Most clauses kept per rule; the rest only cost time.
const MAX_CLAUSES: usize = 8;

/// Conjunctive normal form of a necessary condition (weakened where exact
/// CNF would blow up: an `Or` keeps one clause, the union of one clause of
/// each branch, which every branch implies).
fn cnf(expr: NeedleExpr<u32>) -> Vec<Vec<u32>> {
    match expr {
        NeedleExpr::True => Vec::new(),
        NeedleExpr::Any(ids) => vec![ids],
        NeedleExpr::And(parts) => {
            let mut out: Vec<Vec<u32>> = parts.into_iter().flat_map(cnf).collect();
            out.sort_by_key(Vec::len);
            out.truncate(MAX_CLAUSES);
            out
        }
        NeedleExpr::Or(parts) => {
            let mut union = Vec::new();
            for part in parts {
                match cnf(part).into_iter().min_by_key(Vec::len) {
                    Some(clause) => union.extend(clause),
                    None => return Vec::new(),
                }
            }
            union.sort_unstable();
            union.dedup();
            vec![union]
        }
    }
}

impl Prefilter {
    /// Builds the route's prefilter from each rule's trigger set and expression.
    pub fn new(per_rule: Vec<(Option<Vec<Needle>>, NeedleExpr<Needle>)>) -> Self {
        let rule_count = per_rule.len();
        let mut ids: HashMap<Needle, u32> = HashMap::new();
        let mut needles = Vec::new();
        let mut intern = |n: Needle| {
            *ids.entry(n.clone()).or_insert_with(|| {
                needles.push(n);
                (needles.len() - 1) as u32
            })
        };
        let mut always = Vec::new();
        let mut trigger_lists = Vec::new();
        let (mut rule_clauses, mut clauses, mut clause_ids) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, (trigger, expr)) in per_rule.into_iter().enumerate() {
            let first = clauses.len() as u32;
            for clause in cnf(expr.map(&mut intern)) {
                clauses.push((clause_ids.len() as u32, clause.len() as u32));
                clause_ids.extend(clause);
            }
            rule_clauses.push((first, clauses.len() as u32 - first));
            match trigger {
                None => always.push(pos as u32),
                Some(ns) => trigger_lists.extend(ns.into_iter().map(|n| (intern(n), pos as u32))),
            }
        }
        let mut triggers = vec![Vec::new(); needles.len()];
        for (id, pos) in trigger_lists {
            let list: &mut Vec<u32> = &mut triggers[id as usize];
            if list.last() != Some(&pos) {
                list.push(pos);
            }
        }
        Self { rule_count, needles, always, triggers, rule_clauses, clauses, clause_ids }
    }

    /// How many rules are evaluated on every event of the route.
    pub fn always_count(&self) -> usize {
        self.always.len()
    }

    /// Words of found-needle bits this route needs.
    pub fn found_words(&self) -> usize {
        self.needles.len().div_ceil(64)
    }

    fn clauses_hold(&self, rule: u32, found: &[u64]) -> bool {
        let Some(&(first, n)) = self.rule_clauses.get(rule as usize) else { return true };
        (first..first + n).all(|c| {
            let Some(&(start, len)) = self.clauses.get(c as usize) else { return true };
            self.clause_ids.get(start as usize..(start + len) as usize).unwrap_or(&[]).iter().any(|id| bit(found, *id))
        })
    }

    /// Appends the positions of the rules that may match, given the needles
    /// found; `rules` is a scratch bitset (its contents do not matter).
    pub fn candidates(&self, found: &[u64], rules: &mut Vec<u64>, out: &mut Vec<u32>) {
        rules.clear();
        rules.resize(self.rule_count.div_ceil(64), 0);
        self.always.iter().for_each(|r| set_bit(rules, *r));
        for id in ones(found) {
            self.triggers.get(id as usize).into_iter().flatten().for_each(|r| set_bit(rules, *r));
        }
        out.extend(ones(rules).filter(|r| self.clauses_hold(*r, found)));
    }
}

/// Where found needles are reported: bit positions in the found buffer.
type Targets = Vec<u32>;

#[derive(Debug, Clone)]
struct Scan {
    field: u32,
    automaton: Option<AhoCorasick>,
    /// For each automaton pattern, the bits it sets.
    targets: Vec<Targets>,
}

/// The field scans for one set of admitted routes: each field is scanned
/// once, with one automaton holding the literals of all those routes.
#[derive(Debug, Clone, Default)]
pub struct ScanIndex {
    presence: Vec<(u32, Targets)>,
    scans: Vec<Scan>,
    /// Per admitted route: (route, first word of its bits, words).
    pub(crate) layout: Vec<(u32, usize, usize)>,
    words: usize,
}

impl ScanIndex {
    /// Builds the scans for the admitted routes, listed as (route, prefilter).
    pub fn new(routes: &[(u32, &Prefilter)]) -> Self {
        let mut presence: BTreeMap<u32, Targets> = BTreeMap::new();
        let mut literals: BTreeMap<u32, BTreeMap<String, Targets>> = BTreeMap::new();
        let mut layout = Vec::with_capacity(routes.len());
        let mut words = 0;
        for (route, p) in routes {
            let base = (words * 64) as u32;
            for (id, (field, lit)) in p.needles.iter().enumerate() {
                let target = base + id as u32;
                match lit {
                    Some(l) => literals.entry(*field).or_default().entry(l.clone()).or_default().push(target),
                    None => presence.entry(*field).or_default().push(target),
                }
            }
            layout.push((*route, words, p.found_words()));
            words += p.found_words();
        }
        let scans = literals
            .into_iter()
            .map(|(field, lits)| {
                let (lits, targets): (Vec<String>, Vec<Targets>) = lits.into_iter().unzip();
                // Should an automaton be refused (it cannot be at these
                // sizes), its needles are treated as always found.
                Scan { field, automaton: AhoCorasick::new(&lits).ok(), targets }
            })
            .collect();
        Self { presence: presence.into_iter().collect(), scans, layout, words }
    }

    /// Marks the needles present in the event in `found`, as bits laid
    /// out per `layout` (its previous contents do not matter).
    pub fn scan(&self, ctx: &mut EventCtx<'_>, found: &mut Vec<u64>) {
        found.clear();
        found.resize(self.words, 0);
        let found = found.as_mut_slice();
        for (field, targets) in &self.presence {
            if ctx.present(*field) {
                targets.iter().for_each(|t| set_bit(found, *t));
            }
        }
        for scan in &self.scans {
            let Some(automaton) = &scan.automaton else {
                scan.targets.iter().flatten().for_each(|t| set_bit(found, *t));
                continue;
            };
            let values = if scan.field == KEYWORDS {
                ctx.resolve_keywords();
                ctx.keywords()
            } else {
                ctx.resolve(scan.field);
                ctx.values(scan.field)
            };
            for v in values {
                for m in automaton.find_overlapping_iter(v.lower.as_ref()) {
                    if let Some(t) = scan.targets.get(m.pattern().as_usize()) {
                        t.iter().for_each(|t| set_bit(found, *t));
                    }
                }
            }
        }
    }
}
