//! The compiled rule set and its evaluation: rules grouped into routes by
//! logsource, each route with its own field table and prefilter; an event
//! meets only the routes its logsource admits, and in each only the rules
//! its prefilter lets through.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::Value;

use crate::compile::FieldTable;
use crate::correlation::CorrelationRule;
use crate::eval::event::{Buffers, EventCtx, FieldPath, FxBuild};
use crate::eval::matcher::{Cond, Selection};
use crate::eval::prefilter::{Prefilter, ScanIndex};
use crate::logsource::LogSource;
use crate::parse::{Level, RuleMeta};

/// A detection rule that matched an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The rule's `id`.
    pub rule_id: Option<String>,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `level`.
    pub level: Option<Level>,
    /// The rule's `name`.
    pub name: Option<String>,
    /// The rule's position in the set (see [`RuleSet::rule`]).
    pub rule_index: usize,
    /// Whether the match should raise an alert on its own: false for rules
    /// that only feed correlations (Sigma's `generate: false`, the default).
    pub generate: bool,
}

/// One compiled detection rule.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    /// Position in `RuleSet::rules`.
    pub index: u32,
    /// The route it belongs to.
    pub route: u32,
    pub selections: Vec<Selection>,
    pub cond: Cond,
}

/// Rules sharing one logsource: their mapping, and their slots.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub logsource: LogSource,
    pub mapping: HashMap<String, String>,
    pub roots: Vec<String>,
    /// The route's rules are `slots[start..end]`.
    pub start: u32,
    pub end: u32,
    /// Candidates among the route's rules (positions relative to `start`).
    pub prefilter: Prefilter,
}

/// What the set knows of each rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleEntry {
    pub meta: Arc<RuleMeta>,
    /// The file (or label) the document came from.
    pub path: std::path::PathBuf,
    /// Its compiled form in `RuleSet::slots`.
    pub slot: u32,
    pub generate: bool,
}

/// Most scan indexes kept, one per distinct set of admitted routes.
const MAX_CACHED_SCANS: usize = 64;
/// Most event logsources remembered with their scan index.
const MAX_CACHED_SOURCES: usize = 256;

/// Scan indexes by admitted-route bitmap. Each distinct logsource gets
/// automata holding only its routes' literals, so an event never pays for
/// the literals of rules it cannot meet. Event logsources are remembered
/// with their index, so an event of a known source costs one lookup
/// instead of testing every route's logsource.
#[derive(Debug, Default)]
pub(crate) struct ScanCache(RwLock<ScanMaps>);

#[derive(Debug, Default)]
struct ScanMaps {
    by_routes: HashMap<Vec<u64>, Arc<ScanIndex>>,
    by_source: HashMap<LogSource, Arc<ScanIndex>, FxBuild>,
}

impl Clone for ScanCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// A compiled set of Sigma rules; immutable but for its cache of scans.
///
/// Compiled rules are stored route by route (`slots`), all reading one
/// field table, so an event resolves and lowercases each field once however
/// many routes admit it; each route's prefilter scans only its own literals.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<RuleEntry>,
    pub(crate) slots: Vec<CompiledRule>,
    pub(crate) routes: Vec<Route>,
    pub(crate) table: FieldTable,
    pub(crate) scans: ScanCache,
    pub(crate) correlations: Vec<CorrelationRule>,
}

/// Counts that describe a rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleSetStats {
    /// Detection rules.
    pub rules: usize,
    /// Correlation rules.
    pub correlations: usize,
    /// Distinct logsources (routes).
    pub routes: usize,
    /// Rules the prefilter cannot narrow, evaluated on every event of their route.
    pub unfiltered_rules: usize,
}

impl RuleSet {
    /// Number of detection rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set has no detection rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The header of rule `index`.
    pub fn rule(&self, index: usize) -> Option<&RuleMeta> {
        self.rules.get(index).map(|r| r.meta.as_ref())
    }

    /// The file (or the label given to `add_yaml`) rule `index` came from.
    pub fn rule_path(&self, index: usize) -> Option<&std::path::Path> {
        self.rules.get(index).map(|r| r.path.as_path())
    }

    /// Whether rule `index` alerts on its own (see [`Match::generate`]).
    pub fn generates(&self, index: usize) -> bool {
        self.rules.get(index).is_some_and(|r| r.generate)
    }

    /// Every rule's header, by index.
    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| r.meta.as_ref())
    }

    /// The index of the rule with this `id` or `name`.
    pub fn find(&self, id_or_name: &str) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.meta.id.as_deref() == Some(id_or_name) || r.meta.name.as_deref() == Some(id_or_name))
    }

    /// The correlation rules.
    pub fn correlations(&self) -> &[CorrelationRule] {
        &self.correlations
    }

    /// Sizes and prefilter coverage.
    pub fn stats(&self) -> RuleSetStats {
        RuleSetStats {
            rules: self.rules.len(),
            correlations: self.correlations.len(),
            routes: self.routes.len(),
            unfiltered_rules: self.routes.iter().map(|r| r.prefilter.always_count()).sum(),
        }
    }

    fn to_match(&self, index: u32) -> Option<Match> {
        let entry = self.rules.get(index as usize)?;
        Some(Match {
            rule_id: entry.meta.id.clone(),
            title: entry.meta.title.clone(),
            level: entry.meta.level,
            name: entry.meta.name.clone(),
            rule_index: index as usize,
            generate: entry.generate,
        })
    }

    /// The shared scans for this set of admitted routes, built on first use.
    fn scans_for(&self, admitted: &[bool]) -> Arc<ScanIndex> {
        let key: Vec<u64> =
            admitted.chunks(64).map(|c| c.iter().rev().fold(0, |w, b| (w << 1) | u64::from(*b))).collect();
        if let Ok(cache) = self.scans.0.read()
            && let Some(index) = cache.by_routes.get(&key)
        {
            return Arc::clone(index);
        }
        let routes: Vec<(u32, &Prefilter)> = self
            .routes
            .iter()
            .enumerate()
            .filter(|(i, _)| admitted.get(*i).copied().unwrap_or(false))
            .map(|(i, r)| (i as u32, &r.prefilter))
            .collect();
        let index = Arc::new(ScanIndex::new(&routes));
        if let Ok(mut cache) = self.scans.0.write() {
            // Distinct logsources are few; the bound only guards against a
            // caller inventing a new one per event.
            if cache.by_routes.len() >= MAX_CACHED_SCANS {
                cache.by_routes.clear();
            }
            cache.by_routes.insert(key, Arc::clone(&index));
        }
        index
    }

    /// The scans for an event of `logsource`: remembered per source, else
    /// found through the routes it admits.
    fn scans_for_source(&self, logsource: &LogSource) -> Arc<ScanIndex> {
        if let Ok(cache) = self.scans.0.read()
            && let Some(index) = cache.by_source.get(logsource)
        {
            return Arc::clone(index);
        }
        let admitted: Vec<bool> = self.routes.iter().map(|r| r.logsource.admits(logsource)).collect();
        let index = self.scans_for(&admitted);
        if let Ok(mut cache) = self.scans.0.write() {
            if cache.by_source.len() >= MAX_CACHED_SOURCES {
                cache.by_source.clear();
            }
            cache.by_source.insert(logsource.clone(), Arc::clone(&index));
        }
        index
    }

    /// The candidate rules of every admitted route, as slots, into
    /// `scratch.candidates`.
    fn candidates(&self, ctx: &mut EventCtx<'_>, index: &ScanIndex, scratch: &mut Scratch) {
        index.scan(ctx, &mut scratch.found);
        scratch.candidates.clear();
        for &(r, first, words) in &index.layout {
            let Some(route) = self.routes.get(r as usize) else { continue };
            scratch.positions.clear();
            let found = scratch.found.get(first..first + words).unwrap_or(&[]);
            route.prefilter.candidates(found, &mut scratch.rule_bits, &mut scratch.positions);
            scratch.candidates.extend(scratch.positions.iter().map(|p| route.start + p));
        }
    }

    /// The matching rules' indexes, in rule order, using `scratch`'s buffers.
    fn matching_rules_in(&self, event: &Value, index: &ScanIndex, scratch: &mut Scratch) -> Vec<u32> {
        let mut ctx = EventCtx::with_buffers(event, &self.table.index, std::mem::take(&mut scratch.ctx));
        self.candidates(&mut ctx, index, scratch);
        let mut hits = Vec::new();
        for &slot in &scratch.candidates {
            if let Some(rule) = self.slots.get(slot as usize)
                && rule.cond.eval(&rule.selections, &mut ctx)
            {
                hits.push(rule.index);
            }
        }
        scratch.ctx = ctx.into_buffers();
        hits.sort_unstable();
        hits
    }

    /// The rules that match `event`, which came from `logsource` (parts
    /// left `None` are unknown and admit every rule), in rule order.
    pub fn matches(&self, event: &Value, logsource: &LogSource) -> Vec<Match> {
        self.matcher().matches(event, logsource)
    }

    /// Like [`RuleSet::matches`], but only the matching rules' indexes (see
    /// [`RuleSet::rule`]), in rule order: for counting, without copying
    /// each rule's header.
    pub fn matching_rules(&self, event: &Value, logsource: &LogSource) -> Vec<u32> {
        self.matcher().matching_rules(event, logsource)
    }

    /// The [`Match`] of rule `index`, as [`RuleSet::matches`] reports it.
    pub fn match_of(&self, index: u32) -> Option<Match> {
        self.to_match(index)
    }

    /// A matcher over this set that keeps its buffers from one event to
    /// the next: for evaluating many events on one thread.
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher { set: self, sources: HashMap::default(), scratch: Scratch::default() }
    }

    /// Evaluates a batch on up to `threads` threads (0: one per available
    /// core) and returns `f`'s results in input order. `f` gets a
    /// [`Matcher`] of its thread, the input's position and the input; it
    /// typically parses the input, builds the fields and logsource the
    /// rules see, and matches them. Matching is stateless, so the results
    /// are exactly those of a sequential loop; anything stateful
    /// (correlation) belongs in a sequential pass over the results.
    pub fn evaluate_batch<I, O, F>(&self, inputs: &[I], threads: usize, f: F) -> Vec<O>
    where
        I: Sync,
        O: Send,
        F: Fn(&mut Matcher<'_>, usize, &I) -> O + Sync,
    {
        crate::parallel::map_ordered(inputs, threads, || self.matcher(), f)
    }

    /// Like [`RuleSet::matches`] but evaluates every admitted rule, without
    /// the prefilter: the reference the prefilter is tested against.
    pub fn matches_exhaustive(&self, event: &Value, logsource: &LogSource) -> Vec<Match> {
        let mut ctx = EventCtx::new(event, &self.table.index);
        let mut hits = Vec::new();
        for route in self.routes.iter().filter(|r| r.logsource.admits(logsource)) {
            for rule in self.slots.get(route.start as usize..route.end as usize).unwrap_or(&[]) {
                if rule.cond.eval(&rule.selections, &mut ctx) {
                    hits.push(rule.index);
                }
            }
        }
        hits.sort_unstable();
        hits.into_iter().filter_map(|i| self.to_match(i)).collect()
    }

    /// Reads one field of `event` the way rule `index` sees it (mapping and
    /// roots of its logsource applied); used for correlation group-by values.
    pub fn field_value<'e>(&self, index: usize, field: &str, event: &'e Value) -> Option<&'e Value> {
        let entry = self.rules.get(index)?;
        let rule = self.slots.get(entry.slot as usize)?;
        let route = self.routes.get(rule.route as usize)?;
        let name = route.mapping.get(field).map_or(field, String::as_str);
        FieldPath::new(name, &route.roots).resolve(event)
    }
}

#[cfg(test)]
mod tests;

impl RuleSet {
    /// How many rules the prefilter lets through for this event (for tuning).
    pub fn candidate_count(&self, event: &Value, logsource: &LogSource) -> usize {
        let mut ctx = EventCtx::new(event, &self.table.index);
        let mut scratch = Scratch::default();
        self.candidates(&mut ctx, &self.scans_for_source(logsource), &mut scratch);
        scratch.candidates.len()
    }
}

/// Buffers one event's evaluation needs, kept for the next event.
#[derive(Debug, Default)]
struct Scratch {
    /// The buffers of `EventCtx`.
    ctx: Buffers,
    /// Found-needle bits of the prefilter scan.
    found: Vec<u64>,
    /// One route's candidate bits.
    rule_bits: Vec<u64>,
    /// One route's candidate positions.
    positions: Vec<u32>,
    /// Every candidate, as a slot.
    candidates: Vec<u32>,
}

/// Matches events against one rule set, reusing its buffers from event
/// to event; one per thread (see [`RuleSet::evaluate_batch`]).
#[derive(Debug)]
pub struct Matcher<'s> {
    set: &'s RuleSet,
    /// The set's scan index per event logsource, held by this thread, so
    /// that an event of a known source takes no lock and touches no
    /// count shared with the other threads.
    sources: HashMap<LogSource, Arc<ScanIndex>, FxBuild>,
    scratch: Scratch,
}

impl<'s> Matcher<'s> {
    /// The rule set it matches against.
    pub fn rules(&self) -> &'s RuleSet {
        self.set
    }

    /// As [`RuleSet::matching_rules`].
    pub fn matching_rules(&mut self, event: &Value, logsource: &LogSource) -> Vec<u32> {
        if !self.sources.contains_key(logsource) {
            if self.sources.len() >= MAX_CACHED_SOURCES {
                self.sources.clear();
            }
            self.sources.insert(logsource.clone(), self.set.scans_for_source(logsource));
        }
        match self.sources.get(logsource) {
            Some(index) => self.set.matching_rules_in(event, index, &mut self.scratch),
            None => Vec::new(),
        }
    }

    /// As [`RuleSet::matches`].
    pub fn matches(&mut self, event: &Value, logsource: &LogSource) -> Vec<Match> {
        let set = self.set;
        self.matching_rules(event, logsource).into_iter().filter_map(|i| set.to_match(i)).collect()
    }
}
