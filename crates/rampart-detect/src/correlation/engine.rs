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
    /// How long (in the caller's clock) an input may wait for the watermark
    /// before [`CorrelationEngine::tick`] applies it anyway: the bound on
    /// the delay reordering adds to an alert in a live stream.
    pub max_delay_ms: i64,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_entries_per_group: 10_000,
            max_groups_per_rule: 10_000,
            max_total_entries: 1_000_000,
            max_pending: 100_000,
            lateness_ms: 60_000,
            max_delay_ms: 250,
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
    /// The events of the window that the caller named (see
    /// [`CorrelationEngine::on_match_at`]): the first and the latest ones,
    /// at most [`MAX_ALERT_REFS`].
    #[serde(default)]
    pub events: Vec<EventRef>,
    /// How many inputs the window held when it fired.
    #[serde(default)]
    pub event_count: u64,
}

/// Most event references an alert carries (half the oldest, half the latest).
pub const MAX_ALERT_REFS: usize = 20;

/// The caller's name for the event behind an input: where it is stored and
/// what it was, so an alert can point at its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// The event's position in the caller's log (the ledger index).
    pub index: u64,
    /// The event's time.
    pub time_ms: i64,
    /// The event's kind.
    pub kind: String,
    /// The tenant the event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
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
    /// The caller's clock when it arrived (`i64::MAX`: wait for the watermark).
    #[serde(default = "never")]
    arrived: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<EventRef>,
}

fn never() -> i64 {
    i64::MAX
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
    /// Each correlation's shape (type, sources, group-by, field, timespan):
    /// windows are carried over to a new rule set only where it is equal.
    #[serde(default)]
    shapes: Vec<String>,
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

/// The named events of a window: the oldest and the latest, at most [`MAX_ALERT_REFS`].
fn evidence(entries: &VecDeque<Entry>) -> Vec<EventRef> {
    let named: Vec<&EventRef> = entries.iter().filter_map(|e| e.reference.as_ref()).collect();
    if named.len() <= MAX_ALERT_REFS {
        return named.into_iter().cloned().collect();
    }
    let half = MAX_ALERT_REFS / 2;
    named[..half].iter().chain(&named[named.len() - half..]).map(|r| (*r).clone()).collect()
}

/// What a correlation's windows depend on, with its sources named by id.
fn shape(rules: &RuleSet, corrs: &[CorrelationRule], c: &CorrelationRule) -> String {
    let sources: Vec<String> = c
        .sources
        .iter()
        .map(|s| match s {
            Source::Rule(r) => rules.rule(*r).map(fingerprint).unwrap_or_default(),
            Source::Correlation(i) => corrs.get(*i).map(|c| fingerprint(&c.meta)).unwrap_or_default(),
        })
        .collect();
    serde_json::json!([format!("{:?}", c.kind), sources, c.group_fields, c.field, c.timespan_ms]).to_string()
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
            shapes: corrs.iter().map(|c| shape(rules, &corrs, c)).collect(),
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

    /// An engine for the correlations of `rules` that keeps, from `state`
    /// (taken with any rule set), the windows and waiting inputs of every
    /// correlation that still exists with the same id (or title) and the
    /// same shape (type, sources, group-by, timespan). Used to reload rules,
    /// and to restore a snapshot after the rules changed, without losing
    /// the state of the correlations that did not.
    pub fn carry_over(rules: &RuleSet, limits: EngineLimits, state: EngineState) -> Self {
        let mut engine = Self::new(rules, limits);
        if state.version != STATE_VERSION || state.groups.len() != state.correlations.len() {
            return engine;
        }
        let EngineState { correlations, shapes, groups, pending, max_seen, watermark, seq, stats, .. } = state;
        let mut old_groups: Vec<Option<BTreeMap<String, Group>>> = groups.into_iter().map(Some).collect();
        // Old position -> new position, for the correlations kept.
        let mut moved: HashMap<usize, usize> = HashMap::new();
        for (new, corr) in engine.corrs.iter().enumerate() {
            let fp = fingerprint(&corr.meta);
            let Some(old) = correlations.iter().position(|c| *c == fp) else { continue };
            if !shapes.is_empty() && shapes.get(old) != engine.state.shapes.get(new) {
                continue;
            }
            if let (Some(slot), Some(g)) =
                (engine.state.groups.get_mut(new), old_groups.get_mut(old).and_then(Option::take))
            {
                *slot = g;
                moved.insert(old, new);
            }
        }
        engine.state.pending = pending
            .into_iter()
            .filter_map(|mut p| {
                p.correlation = *moved.get(&p.correlation)?;
                Some(p)
            })
            .collect();
        engine.state.total_entries = engine.state.groups.iter().flat_map(|g| g.values()).map(|g| g.entries.len()).sum();
        engine.state.max_seen = max_seen;
        engine.state.watermark = watermark;
        engine.state.seq = seq;
        engine.state.stats = stats;
        engine
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
        self.on_match_at(event_time_ms, i64::MAX, rule_index, field, None)
    }

    /// Like [`CorrelationEngine::on_match`], for a live stream: `now_ms` is
    /// the caller's clock (so [`CorrelationEngine::tick`] can bound how long
    /// the input waits for reordering) and `reference` names the event, so
    /// alerts can list their evidence.
    pub fn on_match_at(
        &mut self,
        event_time_ms: i64,
        now_ms: i64,
        rule_index: usize,
        field: &dyn Fn(&str) -> Option<String>,
        reference: Option<EventRef>,
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
            self.state.pending.push(Pending {
                t: event_time_ms,
                seq,
                correlation: c,
                source: pos,
                key,
                value,
                arrived: now_ms,
                reference: reference.clone(),
            });
        }
        self.state.max_seen = self.state.max_seen.max(event_time_ms);
        self.state.watermark = self.state.watermark.max(self.state.max_seen.saturating_sub(self.limits.lateness_ms));
        self.release(false, None)
    }

    /// Applies the inputs that have waited at least `max_delay_ms` by the
    /// caller's clock, and every input ordered before them, so that a live
    /// stream's alerts are late by at most that much. An input that arrives
    /// after them with an earlier time (but within the lateness) is applied
    /// when it is released in turn, out of order; only inputs behind the
    /// watermark (latest time seen minus the lateness) are dropped.
    pub fn tick(&mut self, now_ms: i64) -> Vec<CorrelationAlert> {
        self.release(false, Some(now_ms.saturating_sub(self.limits.max_delay_ms)))
    }

    /// Inputs waiting for the watermark.
    pub fn pending(&self) -> usize {
        self.state.pending.len()
    }

    /// Groups and entries held, over all correlations.
    pub fn sizes(&self) -> (usize, usize) {
        (self.state.groups.iter().map(BTreeMap::len).sum(), self.state.total_entries)
    }

    /// The limits in force.
    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// Applies every waiting input (end of stream, or before a snapshot
    /// that must not carry a reorder buffer).
    pub fn flush(&mut self) -> Vec<CorrelationAlert> {
        self.release(true, None)
    }

    /// Applies the inputs the watermark has passed (all, with `all`), oldest first.
    fn release(&mut self, all: bool, waited_since: Option<i64>) -> Vec<CorrelationAlert> {
        let mut pending = std::mem::take(&mut self.state.pending);
        pending.sort_by_key(|p| (p.t, p.seq));
        // Inputs that waited long enough by the caller's clock are due, and
        // so is every input ordered before the last of them.
        let waited = waited_since
            .and_then(|cutoff| pending.iter().rposition(|p| p.arrived != i64::MAX && p.arrived <= cutoff))
            .map_or(0, |i| i + 1);
        let due = if all {
            pending.len()
        } else {
            pending.iter().take_while(|p| p.t <= self.state.watermark).count().max(waited)
        };
        // A full buffer releases its oldest inputs before their time.
        let forced = (pending.len() - due).saturating_sub(self.limits.max_pending);
        self.state.stats.forced += forced as u64;
        let rest = pending.split_off(due + forced);
        self.state.pending = rest;
        let mut alerts = Vec::new();
        for (i, p) in pending.into_iter().enumerate() {
            // Inputs forced out by a full buffer move the watermark, so later
            // stragglers stay ordered. Inputs released by the delay bound do
            // not: a straggler within the lateness is then applied late (out
            // of order) rather than dropped, whatever other sources' clocks say.
            if !all && i >= due {
                self.state.watermark = self.state.watermark.max(p.t);
            }
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
        group.entries.push_back(Entry { t: p.t, source: p.source, value: p.value, reference: p.reference });
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
        let event_count = group.entries.len() as u64;
        let events = evidence(&group.entries);
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
            events,
            event_count,
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
            out.push(Pending {
                t: alert.time_ms,
                seq: self.state.seq,
                correlation: c,
                source: pos,
                key,
                value,
                arrived: i64::MIN,
                reference: alert.events.last().cloned(),
            });
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
