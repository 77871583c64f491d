//! Tests of correlation rules end to end: every type, group-by, aliases,
//! chaining, `generate`, out-of-order input, limits, snapshots, and a
//! property test that the streaming engine agrees with a batch evaluation
//! (counting types) or a reference model (every other type).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{CorrelationAlert, CorrelationEngine, EngineLimits, EngineState};
use crate::{CompileOptions, LogSource, RuleSet, compile_str};

const BASE: &str = "title: Failed login\nid: failed-id\nname: failed_login\nlogsource: {product: test}\n\
                    detection: {s: {EventID: 4625}, condition: s}\n---\n\
                    title: Successful login\nid: ok-id\nname: successful_login\nlogsource: {product: test}\n\
                    detection: {s: {EventID: 4624}, condition: s}\n";

fn set_with(correlations: &str) -> RuleSet {
    let (set, rejected) = compile_str(&format!("{BASE}---\n{correlations}"), CompileOptions::default());
    assert!(rejected.is_empty(), "{rejected:?}");
    set
}

fn limits(lateness_ms: i64) -> EngineLimits {
    EngineLimits { lateness_ms, ..EngineLimits::default() }
}

/// Feeds events (time, event) and flushes; returns the alerts.
fn run(set: &RuleSet, engine: &mut CorrelationEngine, events: &[(i64, Value)]) -> Vec<CorrelationAlert> {
    let mut out = Vec::new();
    for (t, ev) in events {
        let matches = set.matches(ev, &LogSource::any());
        out.extend(engine.on_event(set, *t, ev, &matches));
    }
    out.extend(engine.flush());
    out
}

fn failed(user: &str) -> Value {
    json!({"EventID": 4625, "User": user})
}

fn ok(user: &str) -> Value {
    json!({"EventID": 4624, "User": user})
}

const EVENT_COUNT: &str = "title: Brute force\nid: bf\nname: many_failed\ncorrelation:\n  type: event_count\n  \
                           rules: [failed_login]\n  group-by: [User]\n  timespan: 1m\n  condition: {gte: 3}\nlevel: high\n";

#[test]
fn event_count_per_group_within_the_timespan() {
    let set = set_with(EVENT_COUNT);
    let mut engine = CorrelationEngine::new(&set, limits(0));
    let events = vec![
        (0, failed("alice")),
        (1_000, failed("bob")),
        (2_000, failed("alice")),
        (70_000, failed("alice")),
        (71_000, failed("alice")),
        (72_000, failed("alice")),
        (73_000, failed("bob")),
    ];
    let alerts = run(&set, &mut engine, &events);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].group, vec![("User".to_string(), Some("alice".to_string()))]);
    assert_eq!((alerts[0].first_time_ms, alerts[0].time_ms, alerts[0].value), (70_000, 72_000, 3.0));
    assert_eq!(alerts[0].rule_id.as_deref(), Some("bf"));
}

#[test]
fn value_count_counts_distinct_values() {
    let set = set_with(
        "title: spray\ncorrelation:\n  type: value_count\n  rules: [failed_login]\n  group-by: [Host]\n  \
         timespan: 1h\n  condition: {field: User, gte: 3}\n",
    );
    let mut engine = CorrelationEngine::new(&set, limits(0));
    let ev = |u: &str| json!({"EventID": 4625, "User": u, "Host": "h1"});
    let alerts = run(&set, &mut engine, &[(0, ev("a")), (1, ev("a")), (2, ev("b")), (3, ev("b")), (4, ev("c"))]);
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].time_ms, alerts[0].value), (4, 3.0));
}

#[test]
fn temporal_in_any_order_and_temporal_ordered_in_order() {
    let any = set_with(
        "title: both\ncorrelation:\n  type: temporal\n  rules: [failed_login, successful_login]\n  group-by: [User]\n  timespan: 10s\n",
    );
    let ordered = set_with(
        "title: then\ncorrelation:\n  type: temporal_ordered\n  rules: [failed_login, successful_login]\n  group-by: [User]\n  timespan: 10s\n",
    );
    let reversed = [(0, ok("u")), (1_000, failed("u"))];
    let forward = [(0, failed("u")), (1_000, ok("u"))];
    assert_eq!(run(&any, &mut CorrelationEngine::new(&any, limits(0)), &reversed).len(), 1);
    assert_eq!(run(&ordered, &mut CorrelationEngine::new(&ordered, limits(0)), &reversed).len(), 0);
    assert_eq!(run(&ordered, &mut CorrelationEngine::new(&ordered, limits(0)), &forward).len(), 1);
    let too_far = [(0, failed("u")), (20_000, ok("u"))];
    assert_eq!(run(&ordered, &mut CorrelationEngine::new(&ordered, limits(0)), &too_far).len(), 0);
    let other_user = [(0, failed("u")), (1_000, ok("v"))];
    assert_eq!(run(&any, &mut CorrelationEngine::new(&any, limits(0)), &other_user).len(), 0);
}

#[test]
fn value_sum_avg_and_percentile() {
    let ev = |b: u64| json!({"EventID": 4624, "User": "u", "Bytes": b});
    let events: Vec<(i64, Value)> = [10, 20, 30, 1000].iter().enumerate().map(|(i, b)| (i as i64, ev(*b))).collect();
    for (kind, cond, want_time, want) in [
        ("value_sum", "{field: Bytes, gt: 50}", 2, 60.0),
        ("value_avg", "{field: Bytes, gte: 20}", 2, 20.0),
        ("value_percentile", "{field: Bytes, percentile: 100, gte: 1000}", 3, 1000.0),
    ] {
        let set = set_with(&format!(
            "title: {kind}\ncorrelation:\n  type: {kind}\n  rules: [successful_login]\n  group-by: [User]\n  timespan: 1h\n  condition: {cond}\n"
        ));
        let alerts = run(&set, &mut CorrelationEngine::new(&set, limits(0)), &events);
        assert!(!alerts.is_empty(), "{kind}");
        assert_eq!((alerts[0].time_ms, alerts[0].value), (want_time, want), "{kind}");
    }
}

#[test]
fn out_of_order_input_within_lateness_is_reordered_and_late_input_is_counted() {
    let set = set_with(
        "title: then\ncorrelation:\n  type: temporal_ordered\n  rules: [failed_login, successful_login]\n  group-by: [User]\n  timespan: 10s\n",
    );
    let mut engine = CorrelationEngine::new(&set, limits(5_000));
    // The success arrives first but happened later.
    let alerts = run(&set, &mut engine, &[(2_000, ok("u")), (1_000, failed("u"))]);
    assert_eq!(alerts.len(), 1);
    let mut engine = CorrelationEngine::new(&set, limits(5_000));
    let alerts = run(&set, &mut engine, &[(20_000, ok("x")), (1_000, failed("u"))]);
    assert!(alerts.is_empty());
    assert_eq!(engine.stats().late_dropped, 1);
}

#[test]
fn chained_correlations_and_generate() {
    let set = set_with(&format!(
        "{EVENT_COUNT}---\ntitle: Brute force then success\nid: chain\ncorrelation:\n  type: temporal_ordered\n  \
         rules: [many_failed, successful_login]\n  group-by: [User]\n  timespan: 10m\nlevel: critical\n"
    ));
    assert_eq!(set.correlations().len(), 2);
    let mut engine = CorrelationEngine::new(&set, limits(0));
    let events = [(0, failed("a")), (1, failed("a")), (2, failed("a")), (3, ok("a")), (4, ok("b"))];
    let alerts = run(&set, &mut engine, &events);
    let titles: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
    assert_eq!(titles, vec!["Brute force", "Brute force then success"]);
    // Rules feeding correlations do not alert alone unless `generate: true`.
    let m = set.matches(&failed("a"), &LogSource::any());
    assert!(!m[0].generate);
    let gen_set = set_with(&EVENT_COUNT.replace("  condition:", "  generate: true\n  condition:"));
    assert!(gen_set.matches(&failed("a"), &LogSource::any())[0].generate);
}

#[test]
fn aliases_join_different_fields() {
    let set = set_with(
        "title: alias\ncorrelation:\n  type: temporal\n  rules: [failed_login, successful_login]\n  group-by: [ip]\n  \
         timespan: 10s\n  aliases:\n    ip: {failed_login: SourceIp, successful_login: DestIp}\n",
    );
    let events = [
        (0, json!({"EventID": 4625, "SourceIp": "10.0.0.1"})),
        (1, json!({"EventID": 4624, "DestIp": "10.0.0.2"})),
        (2, json!({"EventID": 4624, "DestIp": "10.0.0.1"})),
    ];
    let alerts = run(&set, &mut CorrelationEngine::new(&set, limits(0)), &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].group, vec![("ip".to_string(), Some("10.0.0.1".to_string()))]);
}

#[test]
fn dangling_and_cyclic_references_are_rejected() {
    let (set, rejected) = compile_str(
        &format!(
            "{BASE}---\ntitle: x\nname: x\ncorrelation: {{type: event_count, rules: [y], timespan: 1m, condition: {{gte: 1}}}}\n\
             ---\ntitle: y\nname: y\ncorrelation: {{type: event_count, rules: [x], timespan: 1m, condition: {{gte: 1}}}}\n\
             ---\ntitle: z\ncorrelation: {{type: event_count, rules: [nope], timespan: 1m, condition: {{gte: 1}}}}\n"
        ),
        CompileOptions::default(),
    );
    assert!(set.correlations().is_empty());
    assert_eq!(rejected.len(), 3, "{rejected:?}");
}

#[test]
fn limits_evict_and_count() {
    let set = set_with(EVENT_COUNT);
    let tight =
        EngineLimits { max_groups_per_rule: 2, max_entries_per_group: 2, lateness_ms: 0, ..EngineLimits::default() };
    let mut engine = CorrelationEngine::new(&set, tight);
    let events = [(0, failed("a")), (1, failed("b")), (2, failed("c")), (3, failed("c")), (4, failed("c"))];
    let alerts = run(&set, &mut engine, &events);
    assert!(alerts.is_empty(), "a group holds at most 2 entries, so 3 never accumulate");
    let stats = engine.stats();
    assert_eq!(stats.evicted_groups, 1);
    assert!(stats.evicted_entries >= 2);
}

#[test]
fn snapshots_restore_the_same_future() {
    let set = set_with(EVENT_COUNT);
    let events: Vec<(i64, Value)> = (0..6).map(|i| (i * 1_000, failed(if i % 2 == 0 { "a" } else { "b" }))).collect();
    let whole = run(&set, &mut CorrelationEngine::new(&set, limits(2_000)), &events);
    let mut first = CorrelationEngine::new(&set, limits(2_000));
    let mut alerts = Vec::new();
    for (t, ev) in &events[..3] {
        alerts.extend(first.on_event(&set, *t, ev, &set.matches(ev, &LogSource::any())));
    }
    let saved = serde_json::to_string(first.snapshot()).unwrap();
    let state: EngineState = serde_json::from_str(&saved).unwrap();
    let mut second = CorrelationEngine::restore(&set, limits(2_000), state).unwrap();
    alerts.extend(run(&set, &mut second, &events[3..]));
    assert_eq!(alerts, whole);
    let other = set_with(
        "title: other\nid: other\ncorrelation: {type: event_count, rules: [ok-id], timespan: 1m, condition: {gte: 1}}\n",
    );
    let state: EngineState = serde_json::from_str(&saved).unwrap();
    assert!(CorrelationEngine::restore(&other, limits(0), state).is_err());
}

/// A plain batch evaluation over time-sorted inputs: for each input,
/// recompute the window of its group from scratch since the last firing.
fn batch(set: &RuleSet, events: &[(i64, Value)], span: i64, threshold: usize, distinct: bool) -> Vec<(i64, String)> {
    let mut sorted: Vec<&(i64, Value)> = events.iter().collect();
    sorted.sort_by_key(|e| e.0);
    let inputs: Vec<(i64, String, String)> = sorted
        .iter()
        .filter(|(_, ev)| !set.matches(ev, &LogSource::any()).is_empty())
        .map(|(t, ev)| {
            (*t, ev["Host"].as_str().unwrap_or("").to_string(), ev["User"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let mut fired_at: std::collections::HashMap<String, usize> = Default::default();
    let mut out = Vec::new();
    for (i, (t, host, _)) in inputs.iter().enumerate() {
        let since = fired_at.get(host).copied().unwrap_or(0);
        let window: Vec<&(i64, String, String)> =
            inputs[since..=i].iter().filter(|(tj, h, _)| h == host && *tj >= t - span).collect();
        let n = if distinct {
            window.iter().map(|w| &w.2).collect::<std::collections::BTreeSet<_>>().len()
        } else {
            window.len()
        };
        if n >= threshold {
            out.push((*t, host.clone()));
            fired_at.insert(host.clone(), i + 1);
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn streaming_agrees_with_batch(
        raw in proptest::collection::vec((0i64..400, 0u8..3, 0u8..4, 0i64..100), 0..60),
        distinct in any::<bool>(),
    ) {
        let kind = if distinct { "value_count" } else { "event_count" };
        let field = if distinct { "field: User, " } else { "" };
        let set = set_with(&format!(
            "title: c\ncorrelation:\n  type: {kind}\n  rules: [failed_login]\n  group-by: [Host]\n  timespan: 10s\n  condition: {{{field}gte: 3}}\n"
        ));
        // Distinct times: the order of simultaneous events is not defined.
        let events: Vec<(i64, Value)> = raw
            .iter()
            .enumerate()
            .map(|(i, (t, host, user, _))| (t * 64 + i as i64, json!({"EventID": 4625, "Host": format!("h{host}"), "User": format!("u{user}")})))
            .collect();
        // Arrival order: by time plus a jitter below the lateness bound.
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        arrival.sort_by_key(|i| (events[*i].0 + raw[*i].3 * 64, *i));
        let shuffled: Vec<(i64, Value)> = arrival.iter().map(|i| events[*i].clone()).collect();
        // Dense times (25 s of events, 10 s windows), so windows fill.
        let mut engine = CorrelationEngine::new(&set, limits(100 * 64));
        let mut streamed: Vec<(i64, String)> = run(&set, &mut engine, &shuffled)
            .into_iter()
            .map(|a| (a.time_ms, a.group[0].1.clone().unwrap_or_default()))
            .collect();
        streamed.sort();
        prop_assert_eq!(engine.stats().late_dropped, 0);
        prop_assert_eq!(streamed, batch(&set, &events, 10_000, 3, distinct));
    }
}

/// The correlation types beyond counting, as the property test below
/// states them: the YAML of the correlation, and the reference model's
/// verdict on one window (sources and `Bytes` values in time order).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl Kind {
    const ALL: [Kind; 5] =
        [Kind::Temporal, Kind::TemporalOrdered, Kind::ValueSum, Kind::ValueAvg, Kind::ValuePercentile];

    fn yaml(self) -> String {
        let (kind, rules, cond) = match self {
            Kind::Temporal => ("temporal", "[failed_login, successful_login, logoff]", ""),
            Kind::TemporalOrdered => ("temporal_ordered", "[failed_login, successful_login, logoff]", ""),
            Kind::ValueSum => {
                ("value_sum", "[failed_login, successful_login]", "  condition: {field: Bytes, gte: 1500}\n")
            }
            Kind::ValueAvg => {
                ("value_avg", "[failed_login, successful_login]", "  condition: {field: Bytes, gte: 700}\n")
            }
            Kind::ValuePercentile => (
                "value_percentile",
                "[failed_login, successful_login]",
                "  condition: {field: Bytes, percentile: 90, gte: 900}\n",
            ),
        };
        format!(
            "title: logoff\nid: logoff-id\nname: logoff\nlogsource: {{product: test}}\n\
             detection: {{s: {{EventID: 4634}}, condition: s}}\n---\n\
             title: c\ncorrelation:\n  type: {kind}\n  rules: {rules}\n  group-by: [Host]\n  timespan: 10s\n{cond}"
        )
    }

    /// Which source (position in `rules`) an event id feeds, if any.
    fn source(self, event_id: i64) -> Option<usize> {
        let temporal = matches!(self, Kind::Temporal | Kind::TemporalOrdered);
        match event_id {
            4625 => Some(0),
            4624 => Some(1),
            4634 if temporal => Some(2),
            _ => None,
        }
    }

    /// Whether a window fires, computed from the definitions directly.
    fn fires(self, window: &[(usize, i64)]) -> bool {
        let values: Vec<i64> = window.iter().map(|w| w.1).collect();
        match self {
            // Every one of the three sources, in any order.
            Kind::Temporal => (0..3).all(|s| window.iter().any(|w| w.0 == s)),
            // Some source-0 input, then a later source-1, then a later source-2.
            Kind::TemporalOrdered => (0..window.len()).any(|i| {
                window[i].0 == 0
                    && (i + 1..window.len())
                        .any(|j| window[j].0 == 1 && (j + 1..window.len()).any(|k| window[k].0 == 2))
            }),
            Kind::ValueSum => values.iter().sum::<i64>() >= 1500,
            Kind::ValueAvg => !values.is_empty() && values.iter().sum::<i64>() >= 700 * values.len() as i64,
            Kind::ValuePercentile => {
                let mut v = values;
                v.sort_unstable();
                if v.is_empty() {
                    return false;
                }
                // Linear interpolation between closest ranks.
                let rank = 0.9 * (v.len() - 1) as f64;
                let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                let p = v[lo] as f64 + (v[hi] - v[lo]) as f64 * (rank - lo as f64);
                p >= 900.0
            }
        }
    }
}

/// The reference: over time-sorted inputs, for each input, its group's
/// window (inputs since the group last fired, no older than the timespan),
/// judged from scratch.
fn reference_alerts(kind: Kind, events: &[(i64, Value)], span: i64) -> Vec<(i64, String)> {
    let mut sorted: Vec<&(i64, Value)> = events.iter().collect();
    sorted.sort_by_key(|e| e.0);
    let inputs: Vec<(i64, String, usize, i64)> = sorted
        .iter()
        .filter_map(|(t, ev)| {
            let source = kind.source(ev["EventID"].as_i64()?)?;
            Some((*t, ev["Host"].as_str()?.to_owned(), source, ev["Bytes"].as_i64()?))
        })
        .collect();
    let mut fired_at: std::collections::HashMap<&str, usize> = Default::default();
    let mut out = Vec::new();
    for (i, (t, host, _, _)) in inputs.iter().enumerate() {
        let since = fired_at.get(host.as_str()).copied().unwrap_or(0);
        let window: Vec<(usize, i64)> = inputs[since..=i]
            .iter()
            .filter(|(tj, h, _, _)| h == host && *tj >= t - span)
            .map(|(_, _, s, v)| (*s, *v))
            .collect();
        if kind.fires(&window) {
            out.push((*t, host.clone()));
            fired_at.insert(host, i + 1);
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// temporal, temporal_ordered, value_sum, value_avg and value_percentile:
    /// the streaming engine, fed out of order within its lateness bound,
    /// raises exactly the alerts of the reference model.
    #[test]
    fn streaming_agrees_with_the_reference_for_every_other_type(
        raw in proptest::collection::vec((0i64..400, 0u8..3, 0u8..3, 0i64..1_000, 0i64..100), 0..60),
        which in 0usize..5,
    ) {
        let kind = Kind::ALL[which];
        let set = set_with(&kind.yaml());
        let ids = [4625, 4624, 4634];
        // Distinct times: the order of simultaneous events is not defined.
        let events: Vec<(i64, Value)> = raw
            .iter()
            .enumerate()
            .map(|(i, (t, host, id, bytes, _))| {
                (t * 64 + i as i64, json!({"EventID": ids[*id as usize], "Host": format!("h{host}"), "Bytes": bytes}))
            })
            .collect();
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        arrival.sort_by_key(|i| (events[*i].0 + raw[*i].4 * 64, *i));
        let shuffled: Vec<(i64, Value)> = arrival.iter().map(|i| events[*i].clone()).collect();
        // Times are dense (25 s of events, 10 s windows) so windows fill;
        // arrival jitter stays below the lateness bound.
        let mut engine = CorrelationEngine::new(&set, limits(100 * 64));
        let mut streamed: Vec<(i64, String)> = run(&set, &mut engine, &shuffled)
            .into_iter()
            .map(|a| (a.time_ms, a.group[0].1.clone().unwrap_or_default()))
            .collect();
        streamed.sort();
        prop_assert_eq!(engine.stats().late_dropped, 0);
        prop_assert_eq!(streamed, reference_alerts(kind, &events, 10_000), "{:?}", kind);
    }
}

#[test]
fn the_reference_model_fires_on_hand_made_windows() {
    assert!(Kind::TemporalOrdered.fires(&[(1, 0), (0, 0), (2, 0), (1, 0), (2, 0)]));
    assert!(!Kind::TemporalOrdered.fires(&[(2, 0), (1, 0), (0, 0)]));
    assert!(Kind::Temporal.fires(&[(2, 0), (1, 0), (0, 0)]));
    assert!(Kind::ValueSum.fires(&[(0, 1000), (1, 500)]));
    assert!(!Kind::ValueAvg.fires(&[(0, 1000), (1, 399)]));
    assert!(Kind::ValuePercentile.fires(&[(0, 0), (0, 1000)]));
    assert!(!Kind::ValuePercentile.fires(&[(0, 0), (0, 0), (0, 1000)]));
}

fn reference(index: u64, t: i64) -> Option<super::EventRef> {
    Some(super::EventRef { index, time_ms: t, kind: "auth.login.failed".into(), tenant: None })
}

/// Feeds a live stream: each event arrives at `now`, then the clock ticks.
fn live(set: &RuleSet, engine: &mut CorrelationEngine, events: &[(i64, i64, Value)]) -> Vec<CorrelationAlert> {
    let mut out = Vec::new();
    for (i, (t, now, ev)) in events.iter().enumerate() {
        for m in set.matches(ev, &LogSource::any()) {
            let field = |name: &str| set.field_value(m.rule_index, name, ev).and_then(|v| v.as_str().map(String::from));
            out.extend(engine.on_match_at(*t, *now, m.rule_index, &field, reference(i as u64, *t)));
        }
        out.extend(engine.tick(*now));
    }
    out
}

#[test]
fn a_live_stream_fires_within_the_delay_bound_not_the_lateness() {
    let set = set_with(EVENT_COUNT);
    // A minute of lateness would hold the alert for a minute; the delay bound
    // releases it 250 ms (by the caller's clock) after the third input.
    let mut engine = CorrelationEngine::new(&set, EngineLimits { lateness_ms: 60_000, ..EngineLimits::default() });
    let alerts = live(&set, &mut engine, &[(0, 0, failed("a")), (10, 10, failed("a")), (20, 20, failed("a"))]);
    assert!(alerts.is_empty(), "released before the delay: {alerts:?}");
    assert_eq!(engine.pending(), 3);
    let alerts = engine.tick(269);
    assert!(alerts.is_empty(), "the third input has waited only 249 ms");
    let alerts = engine.tick(270);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].event_count, 3);
    let indexes: Vec<u64> = alerts[0].events.iter().map(|r| r.index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
}

#[test]
fn inputs_reordered_inside_the_delay_and_late_ones_after_it_are_counted() {
    let set = set_with(
        "title: order\nid: ord\ncorrelation:\n  type: temporal_ordered\n  rules: [failed_login, successful_login]\n  \
         group-by: [User]\n  timespan: 1m\n",
    );
    let mut engine = CorrelationEngine::new(&set, EngineLimits::default());
    // The success is read first but happened after the failure: reordered.
    let alerts = live(&set, &mut engine, &[(2_000, 0, ok("a")), (1_000, 100, failed("a"))]);
    assert!(alerts.is_empty());
    assert_eq!(engine.tick(400).len(), 1);
    // Older than what was applied, but within the lateness: applied, not dropped
    // (another source's clock may lag).
    let _ = live(&set, &mut engine, &[(500, 500, failed("b"))]);
    assert_eq!(engine.stats().late_dropped, 0);
    let _ = engine.tick(1_000);
    assert_eq!(engine.pending(), 0);
    // Behind the latest time seen by more than the lateness: dropped, counted.
    let _ = live(&set, &mut engine, &[(200_000, 1_000, failed("c")), (500, 1_001, failed("d"))]);
    assert_eq!(engine.stats().late_dropped, 1);
}

#[test]
fn carry_over_keeps_windows_of_unchanged_correlations_only() {
    let set = set_with(EVENT_COUNT);
    let mut engine = CorrelationEngine::new(&set, limits(0));
    let _ = run(&set, &mut engine, &[(0, failed("alice")), (1_000, failed("alice"))]);
    let state = engine.snapshot().clone();

    // The same correlation beside a new one, in another position: kept.
    let other = "title: other\nid: other\ncorrelation:\n  type: event_count\n  rules: [successful_login]\n  \
                 group-by: [User]\n  timespan: 1m\n  condition: {gte: 1}\n---\n";
    let grown = set_with(&format!("{other}{EVENT_COUNT}"));
    assert!(CorrelationEngine::restore(&grown, limits(0), state.clone()).is_err());
    let mut carried = CorrelationEngine::carry_over(&grown, limits(0), state.clone());
    assert_eq!(carried.sizes(), (1, 2));
    let alerts = run(&grown, &mut carried, &[(2_000, failed("alice"))]);
    assert_eq!(alerts.len(), 1, "two carried inputs and one new reach the threshold: {alerts:?}");
    assert_eq!(alerts[0].rule_id.as_deref(), Some("bf"));

    // The same id with another group-by starts afresh.
    let changed = set_with(&EVENT_COUNT.replace("group-by: [User]", "group-by: [Host]"));
    let fresh = CorrelationEngine::carry_over(&changed, limits(0), state);
    assert_eq!(fresh.sizes(), (0, 0));
}
