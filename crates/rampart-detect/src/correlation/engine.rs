//! The streaming correlation engine: a pure state machine fed detection
//! matches with their event time. Inputs wait in a bounded reorder buffer
//! until the watermark (latest time seen minus the allowed lateness) passes
//! them, then are applied in event-time order, so the result equals a batch
//! evaluation of the same inputs sorted by time. Windows slide per group;
//! a group that fires is reset. Memory is bounded per group, per rule and
//! in total, with every eviction counted, and the whole state serialises.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::window::{Entry, aggregate};
use super::{CorrelationRule, Source};
use crate::parse::{Level, RuleMeta};
use crate::ruleset::{Match, RuleSet};

/// Version of the serialised [`EngineState`].
pub const STATE_VERSION: u32 = 1;

/// Bounds on the engine's memory and reordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineLimits {
    /// Entries kept per group window; the oldest are evicted beyond it.
    pub max_entries_per_group: usize,
    /// Groups kept per correlation; the least recently updated are evicted.
    pub max_groups_per_rule: usize,
    /// Entries kept over all correlations.
    pub max_total_entries: usize,
    /// Inputs waiting for the watermark; beyond it the oldest is applied early.
    pub max_pending: usize,
    /// How late (in event time) an input may arrive and still be ordered.
    pub lateness_ms: i64,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_entries_per_group: 10_000,
            max_groups_per_rule: 10_000,
            max_total_entries: 1_000_000,
            max_pending: 100_000,
            lateness_ms: 60_000,
        }
    }
}

/// Counters of what the limits cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Inputs applied.
    pub applied: u64,
    /// Inputs dropped because they arrived behind the watermark.
    pub late_dropped: u64,
    /// Inputs applied before the watermark because the buffer was full.
    pub forced: u64,
    /// Entries evicted from full groups or by the total bound.
    pub evicted_entries: u64,
    /// Groups evicted from full correlations.
    pub evicted_groups: u64,
    /// Alerts raised.
    pub alerts: u64,
}

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationAlert {
    /// Index in [`RuleSet::correlations`].
    pub correlation_index: usize,
    /// The correlation's `id`.
    pub rule_id: Option<String>,
    /// The correlation's `title`.
    pub title: String,
    /// The correlation's `level`.
    pub level: Option<Level>,
    /// The group-by names and this group's values.
    pub group: Vec<(String, Option<String>)>,
    /// Event time of the input that made it fire.
    pub time_ms: i64,
    /// Event time of the oldest input in the window.
    pub first_time_ms: i64,
    /// The aggregate that met the condition.
    pub value: f64,
}

/// An input waiting for the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    t: i64,
    seq: u64,
    correlation: usize,
    source: u16,
    key: Vec<Option<String>>,
    value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Group {
    key: Vec<Option<String>>,
    entries: VecDeque<Entry>,
    last_t: i64,
}

/// Everything the engine remembers; serialise it to snapshot the engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Each correlation's id (or title), to refuse restoring into other rules.
    pub correlations: Vec<String>,
    groups: Vec<BTreeMap<String, Group>>,
    pending: Vec<Pending>,
    max_seen: i64,
    watermark: i64,
    seq: u64,
    total_entries: usize,
    /// Counters.
    pub stats: EngineStats,
}

/// Why a snapshot cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Written by another version.
    #[error("state version {0} is not {STATE_VERSION}")]
    Version(u32),
    /// Written for other correlation rules.
    #[error("state was taken with other correlation rules")]
    Rules,
}

/// The streaming correlation engine.
#[derive(Debug, Clone)]
pub struct CorrelationEngine {
    corrs: Vec<CorrelationRule>,
    /// Which (correlation, source position) each source feeds.
    feeds: HashMap<Source, Vec<(usize, u16)>>,
    limits: EngineLimits,
    state: EngineState,
}

fn fingerprint(meta: &RuleMeta) -> String {
    meta.id.clone().unwrap_or_else(|| meta.title.clone())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl CorrelationEngine {
    /// An engine for the correlations of `rules`.
    pub fn new(rules: &RuleSet, limits: EngineLimits) -> Self {
        let corrs = rules.correlations().to_vec();
        let mut feeds: HashMap<Source, Vec<(usize, u16)>> = HashMap::new();
        for (c, corr) in corrs.iter().enumerate() {
            for (pos, source) in corr.sources.iter().enumerate() {
                feeds.entry(*source).or_default().push((c, pos as u16));
            }
        }
        let state = EngineState {
            version: STATE_VERSION,
            correlations: corrs.iter().map(|c| fingerprint(&c.meta)).collect(),
            groups: vec![BTreeMap::new(); corrs.len()],
            max_seen: i64::MIN,
            watermark: i64::MIN,
            ..EngineState::default()
        };
        Self { corrs, feeds, limits, state }
    }

    /// Restores an engine from a snapshot taken with the same correlations.
    pub fn restore(rules: &RuleSet, limits: EngineLimits, state: EngineState) -> Result<Self, RestoreError> {
        let mut engine = Self::new(rules, limits);
        if state.version != STATE_VERSION {
            return Err(RestoreError::Version(state.version));
        }
        if state.correlations != engine.state.correlations || state.groups.len() != engine.corrs.len() {
            return Err(RestoreError::Rules);
        }
        engine.state = state;
        Ok(engine)
    }

    /// The state, for a snapshot.
    pub fn snapshot(&self) -> &EngineState {
        &self.state
    }

    /// The counters.
    pub fn stats(&self) -> EngineStats {
        self.state.stats
    }

    /// Feeds every match of one event (its group-by and aggregated fields
    /// read from `event` the way each rule sees it).
    pub fn on_event(
        &mut self,
        rules: &RuleSet,
        event_time_ms: i64,
        event: &Value,
        matches: &[Match],
    ) -> Vec<CorrelationAlert> {
        let mut out = Vec::new();
        for m in matches {
            let field = |name: &str| rules.field_value(m.rule_index, name, event).and_then(text);
            out.extend(self.on_match(event_time_ms, m.rule_index, &field));
        }
        out
    }

    /// Detection rule `rule_index` matched an event at `event_time_ms`;
    /// `field` reads the event's fields by name. Returns the alerts of
    /// every input the watermark now releases.
    pub fn on_match(
        &mut self,
        event_time_ms: i64,
        rule_index: usize,
        field: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<CorrelationAlert> {
        let targets = self.feeds.get(&Source::Rule(rule_index)).cloned().unwrap_or_default();
        if targets.is_empty() {
            return Vec::new();
        }
        if event_time_ms < self.state.watermark {
            self.state.stats.late_dropped += targets.len() as u64;
            return Vec::new();
        }
        for (c, pos) in targets {
            let Some(corr) = self.corrs.get(c) else { continue };
            let key =
                corr.group_fields.get(pos as usize).map(|fs| fs.iter().map(|f| field(f)).collect()).unwrap_or_default();
            let value = corr.field.as_deref().and_then(field);
            self.state.seq += 1;
            let seq = self.state.seq;
            self.state.pending.push(Pending { t: event_time_ms, seq, correlation: c, source: pos, key, value });
        }
        self.state.max_seen = self.state.max_seen.max(event_time_ms);
        self.state.watermark = self.state.watermark.max(self.state.max_seen.saturating_sub(self.limits.lateness_ms));
        self.release(false)
    }

    /// Applies every waiting input (end of stream, or before a snapshot
    /// that must not carry a reorder buffer).
    pub fn flush(&mut self) -> Vec<CorrelationAlert> {
        self.release(true)
    }

    /// Applies the inputs the watermark has passed (all, with `all`), oldest first.
    fn release(&mut self, all: bool) -> Vec<CorrelationAlert> {
        let mut pending = std::mem::take(&mut self.state.pending);
        pending.sort_by_key(|p| (p.t, p.seq));
        let due = if all { pending.len() } else { pending.iter().take_while(|p| p.t <= self.state.watermark).count() };
        // A full buffer releases its oldest inputs before their time.
        let forced = (pending.len() - due).saturating_sub(self.limits.max_pending);
        self.state.stats.forced += forced as u64;
        let rest = pending.split_off(due + forced);
        self.state.pending = rest;
        let mut alerts = Vec::new();
        for p in pending {
            // Inputs applied early move the watermark, so later stragglers stay ordered.
            self.state.watermark = self.state.watermark.max(p.t);
            self.apply(p, 0, &mut alerts);
        }
        alerts
    }

    fn apply(&mut self, p: Pending, depth: usize, alerts: &mut Vec<CorrelationAlert>) {
        let Some(corr) = self.corrs.get(p.correlation) else { return };
        let (span, kind, threshold, pct) = (corr.timespan_ms, corr.kind, corr.threshold, corr.percentile);
        let (meta, group_by) = (Arc::clone(&corr.meta), corr.group_by.clone());
        self.state.stats.applied += 1;
        let group_id = serde_json::to_string(&p.key).unwrap_or_default();
        self.make_room(p.correlation, &group_id, p.t);
        let Some(groups) = self.state.groups.get_mut(p.correlation) else { return };
        let group = groups.entry(group_id.clone()).or_insert_with(|| Group { key: p.key.clone(), ..Group::default() });
        let before = group.entries.len();
        group.entries.retain(|e| e.t >= p.t.saturating_sub(span));
        group.entries.push_back(Entry { t: p.t, source: p.source, value: p.value });
        group.last_t = group.last_t.max(p.t);
        let mut evicted = 0;
        while group.entries.len() > self.limits.max_entries_per_group {
            group.entries.pop_front();
            evicted += 1;
        }
        let after = group.entries.len();
        self.state.stats.evicted_entries += evicted;
        self.state.total_entries = (self.state.total_entries + after).saturating_sub(before);
        let Some(value) = aggregate(kind, &group.entries, pct).filter(|v| threshold.holds(*v)) else { return };
        let first_time_ms = group.entries.front().map_or(p.t, |e| e.t);
        // A group that fired starts afresh, so one burst raises one alert.
        self.state.total_entries = self.state.total_entries.saturating_sub(group.entries.len());
        group.entries.clear();
        let alert = CorrelationAlert {
            correlation_index: p.correlation,
            rule_id: meta.id.clone(),
            title: meta.title.clone(),
            level: meta.level,
            group: group_by.into_iter().zip(p.key.iter().cloned()).collect(),
            time_ms: p.t,
            first_time_ms,
            value,
        };
        self.state.stats.alerts += 1;
        let chained = self.chained_inputs(&alert, depth);
        alerts.push(alert);
        for input in chained {
            self.apply(input, depth + 1, alerts);
        }
    }

    /// The inputs an alert makes for the correlations that refer to its
    /// correlation; group values are read from the alert's group by name.
    fn chained_inputs(&mut self, alert: &CorrelationAlert, depth: usize) -> Vec<Pending> {
        if depth >= super::build::MAX_CHAIN_DEPTH {
            return Vec::new();
        }
        let targets = self.feeds.get(&Source::Correlation(alert.correlation_index)).cloned().unwrap_or_default();
        let lookup = |name: &str| alert.group.iter().find(|(g, _)| g == name).and_then(|(_, v)| v.clone());
        let mut out = Vec::new();
        for (c, pos) in targets {
            let Some(corr) = self.corrs.get(c) else { continue };
            let key = corr
                .group_fields
                .get(pos as usize)
                .map(|fs| fs.iter().map(|f| lookup(f)).collect())
                .unwrap_or_default();
            let value = corr.field.as_deref().and_then(lookup);
            self.state.seq += 1;
            out.push(Pending { t: alert.time_ms, seq: self.state.seq, correlation: c, source: pos, key, value });
        }
        out
    }

    /// Keeps the group count and total entries within bounds before an insert.
    fn make_room(&mut self, correlation: usize, incoming: &str, now: i64) {
        let Some(corr) = self.corrs.get(correlation) else { return };
        let span = corr.timespan_ms;
        let Some(groups) = self.state.groups.get_mut(correlation) else { return };
        let full = |g: &BTreeMap<String, Group>, total: usize, limits: &EngineLimits| {
            (!g.contains_key(incoming) && g.len() >= limits.max_groups_per_rule) || total >= limits.max_total_entries
        };
        if !full(groups, self.state.total_entries, &self.limits) {
            return;
        }
        // Expired groups go first, then the least recently updated.
        let expired: Vec<String> =
            groups.iter().filter(|(_, g)| g.last_t < now.saturating_sub(span)).map(|(k, _)| k.clone()).collect();
        for k in expired {
            if let Some(g) = groups.remove(&k) {
                self.state.total_entries = self.state.total_entries.saturating_sub(g.entries.len());
            }
        }
        while full(groups, self.state.total_entries, &self.limits) {
            let Some(oldest) = groups
                .iter()
                .filter(|(k, _)| k.as_str() != incoming)
                .min_by_key(|(_, g)| g.last_t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(g) = groups.remove(&oldest) {
                self.state.total_entries = self.state.total_entries.saturating_sub(g.entries.len());
                self.state.stats.evicted_entries += g.entries.len() as u64;
                self.state.stats.evicted_groups += 1;
            }
        }
    }
}
