//! The detection step as a pure state machine: a ledger event in, alerts
//! out. Each event is mapped to its Sigma view ([`super::view`]), matched
//! against the catalog's rules (logsource routing, prefilter, filters), and
//! the matches feed the correlation engine; single-event rules that
//! generate alerts, and correlations that reach their threshold, become
//! [`Alert`]s naming the ledger indexes of their events. Reloading swaps
//! the rules and keeps the windows of every correlation that still exists.
//!
//! The step is split in two so that a batch can use every core: matching
//! ([`Detector::prepare_batch`], stateless, in parallel over the batch) and
//! correlation ([`Detector::apply_prepared`], stateful, one event at a time in
//! ledger order). [`Detector::on_event`] is both for one event.

use std::sync::Arc;

use rampart_core::alert::{Alert, AlertEvent, Severity};
use rampart_core::{Event, Id};
use rampart_detect::{
    CorrelationAlert, CorrelationEngine, EngineLimits, EngineState, EventRef, Level, Match, Matcher, RuleSet,
};
use serde_json::Value;

use super::packs::Catalog;
use super::view::view;

/// Kinds the detection stage never evaluates: its own alert records, so
/// that an alert cannot raise another.
pub const OWN_KIND_PREFIX: &str = "detect.";

/// Whether the stage evaluates events of this kind.
pub fn evaluates(kind: &str) -> bool {
    !kind.starts_with(OWN_KIND_PREFIX)
}

/// The Sigma level as an alert severity; a rule without a level is medium.
pub fn severity(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational) => Severity::Informational,
        Some(Level::Low) => Severity::Low,
        None | Some(Level::Medium) => Severity::Medium,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
    }
}

/// An event as detection holds it: decoded from a ledger entry, or shared
/// with the pipeline that appended it ([`super::recent`]).
#[derive(Debug)]
pub enum Held {
    Decoded(Event),
    Shared(Arc<[Event]>, usize),
}

impl Held {
    pub fn event(&self) -> &Event {
        match self {
            Held::Decoded(event) => event,
            Held::Shared(batch, i) => &batch[*i],
        }
    }
}

/// One event matched against a rule set, not yet correlated.
#[derive(Debug)]
pub struct Prepared {
    event: Held,
    /// The fields the rules saw (for correlation group-by values).
    fields: Value,
    matches: Vec<Match>,
}

impl Prepared {
    /// Matches `event` (unless the stage never evaluates its kind).
    pub fn new(matcher: &mut Matcher<'_>, event: Held) -> Self {
        if !evaluates(&event.event().kind) {
            return Prepared { event, fields: Value::Null, matches: Vec::new() };
        }
        let (fields, logsource) = view(event.event());
        let matches = matcher.matches(&fields, &logsource);
        Prepared { event, fields, matches }
    }
}

/// A batch of ledger entries matched against one rule set, in ledger order
/// (`None` for entries that are not events).
#[derive(Debug)]
pub struct PreparedBatch {
    rules: Arc<RuleSet>,
    pub events: Vec<Option<Prepared>>,
}

/// Rules, packs and correlation state.
#[derive(Debug)]
pub struct Detector {
    catalog: Catalog,
    engine: CorrelationEngine,
}

impl Detector {
    /// A detector with empty correlation state.
    pub fn new(catalog: Catalog, limits: EngineLimits) -> Self {
        let engine = CorrelationEngine::new(&catalog.rules, limits);
        Detector { catalog, engine }
    }

    /// A detector that resumes from a snapshot, keeping the windows of the
    /// correlations that are still in the catalog.
    pub fn restore(catalog: Catalog, limits: EngineLimits, state: EngineState) -> Self {
        let engine = CorrelationEngine::carry_over(&catalog.rules, limits, state);
        Detector { catalog, engine }
    }

    /// Swaps in new rules, keeping the correlation state of those that remain.
    pub fn reload(&mut self, catalog: Catalog) {
        let state = self.engine.snapshot().clone();
        self.engine = CorrelationEngine::carry_over(&catalog.rules, self.engine.limits(), state);
        self.catalog = catalog;
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn engine(&self) -> &CorrelationEngine {
        &self.engine
    }

    /// The correlation state, for a snapshot.
    pub fn snapshot(&self) -> &EngineState {
        self.engine.snapshot()
    }

    /// Evaluates the event at ledger `index`; `now_ms` is the stage's clock.
    pub fn on_event(&mut self, index: u64, event: &Event, now_ms: i64) -> Vec<Alert> {
        let prepared = Prepared::new(&mut self.catalog.rules.matcher(), Held::Decoded(event.clone()));
        self.apply(index, &prepared, now_ms)
    }

    /// Decodes and matches a batch of ledger entries on up to `threads`
    /// threads (0: one per core) against `rules` (the catalog's, taken
    /// while holding the detector; matching does not need it). Pure and
    /// stateless: correlation happens in [`Detector::apply_prepared`].
    pub fn prepare_batch(rules: Arc<RuleSet>, entries: &[Vec<u8>], threads: usize) -> PreparedBatch {
        let events = rules.evaluate_batch(entries, threads, |matcher, _, bytes| {
            rampart_ledger::entry::decode_event(bytes).map(|event| Prepared::new(matcher, Held::Decoded(event)))
        });
        PreparedBatch { rules, events }
    }

    /// [`Detector::prepare_batch`] for events taken as they were appended
    /// (every one an event, none to decode).
    pub fn prepare_shared(rules: Arc<RuleSet>, events: &[super::recent::Taken], threads: usize) -> PreparedBatch {
        let events = rules.evaluate_batch(events, threads, |matcher, _, (batch, i)| {
            Some(Prepared::new(matcher, Held::Shared(batch.clone(), *i)))
        });
        PreparedBatch { rules, events }
    }

    /// Correlates one event of a batch that [`Detector::prepare_batch`]
    /// matched; an event matched against rules that a reload has since
    /// replaced is matched again against the current ones.
    pub fn apply_prepared(
        &mut self,
        index: u64,
        batch: &PreparedBatch,
        prepared: &Prepared,
        now_ms: i64,
    ) -> Vec<Alert> {
        if Arc::ptr_eq(&batch.rules, &self.catalog.rules) {
            self.apply(index, prepared, now_ms)
        } else {
            self.on_event(index, prepared.event.event(), now_ms)
        }
    }

    /// The stateful half: single-event alerts and correlation, for an
    /// event matched against the current catalog.
    fn apply(&mut self, index: u64, prepared: &Prepared, now_ms: i64) -> Vec<Alert> {
        let Prepared { event, fields, matches } = prepared;
        if matches.is_empty() {
            return Vec::new();
        }
        let event = event.event();
        let reference = EventRef {
            index,
            time_ms: event.time_ms,
            kind: event.kind.clone(),
            tenant: event.tenant_id.as_ref().map(ToString::to_string),
        };
        let mut alerts: Vec<Alert> =
            matches.iter().filter(|m| m.generate).map(|m| self.single(m, &reference)).collect();
        let rules = &self.catalog.rules;
        for m in matches {
            let field = |name: &str| rules.field_value(m.rule_index, name, fields).and_then(text);
            let fired = self.engine.on_match_at(event.time_ms, now_ms, m.rule_index, &field, Some(reference.clone()));
            alerts.extend(fired.iter().map(|c| self.correlated(c)));
        }
        alerts
    }

    /// Applies inputs that waited `max_delay_ms`; returns what they raise.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Alert> {
        let fired = self.engine.tick(now_ms);
        fired.iter().map(|c| self.correlated(c)).collect()
    }

    fn single(&self, m: &Match, r: &EventRef) -> Alert {
        let meta = self.catalog.rules.rule(m.rule_index);
        Alert {
            rule_id: rule_id(m.rule_id.as_deref(), m.name.as_deref(), &m.title),
            rule_title: m.title.clone(),
            pack: self.catalog.rule_packs.get(m.rule_index).copied().unwrap_or_default().to_owned(),
            severity: severity(m.level),
            group_key: String::new(),
            tenant_id: r.tenant.as_deref().and_then(Id::parse),
            events: vec![AlertEvent { ledger_index: r.index, time_ms: r.time_ms, kind: r.kind.clone() }],
            event_count: 1,
            first_seen_ms: r.time_ms,
            last_seen_ms: r.time_ms,
            tags: meta.map(|m| m.tags.clone()).unwrap_or_default(),
            description: format!("{} matched a {} event", m.title, r.kind),
        }
    }

    fn correlated(&self, c: &CorrelationAlert) -> Alert {
        let corr = self.catalog.rules.correlations().get(c.correlation_index);
        let name = corr.and_then(|r| r.meta.name.as_deref());
        let group_key =
            c.group.iter().map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(",");
        let tenants: Vec<Option<&str>> = c.events.iter().map(|e| e.tenant.as_deref()).collect();
        let tenant = match tenants.first() {
            Some(first) if tenants.iter().all(|t| t == first) => first.and_then(Id::parse),
            _ => None,
        };
        let kind = corr.map(|r| format!("{:?}", r.kind)).unwrap_or_default();
        Alert {
            rule_id: rule_id(c.rule_id.as_deref(), name, &c.title),
            rule_title: c.title.clone(),
            pack: self.catalog.correlation_packs.get(c.correlation_index).copied().unwrap_or_default().to_owned(),
            severity: severity(c.level),
            group_key: group_key.clone(),
            tenant_id: tenant,
            events: c
                .events
                .iter()
                .map(|e| AlertEvent { ledger_index: e.index, time_ms: e.time_ms, kind: e.kind.clone() })
                .collect(),
            event_count: c.event_count,
            first_seen_ms: c.first_time_ms,
            last_seen_ms: c.time_ms,
            tags: corr.map(|r| r.meta.tags.clone()).unwrap_or_default(),
            description: format!("{kind} correlation reached {} for {group_key}", c.value),
        }
    }
}

fn rule_id(id: Option<&str>, name: Option<&str>, title: &str) -> String {
    id.or(name).unwrap_or(title).to_owned()
}

fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
