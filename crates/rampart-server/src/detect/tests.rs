//! The `rampart-redline` pack rule by rule: each fires on the real event
//! Rampart records (or the real syslog line, parsed as ingest parses it)
//! and stays quiet on a near miss; and the detector's reload keeps
//! correlation state.

use std::sync::Arc;

use rampart_core::Event;
use rampart_core::alert::{Alert, Severity};
use rampart_core::config::DetectConfig;
use rampart_detect::EngineLimits;
use rampart_ingest::syslog::{ParseContext, parse};
use serde_json::json;

use super::detector::Detector;
use super::packs::{Catalog, REDLINE};

const T0: i64 = 1_790_000_000_000;

fn detector() -> Detector {
    let config = DetectConfig { packs: vec![REDLINE.into()], ..DetectConfig::default() };
    let catalog = Catalog::load(&config);
    assert!(catalog.rejected.is_empty(), "{:?}", catalog.rejected);
    // No reordering delay: each input is applied at the next tick.
    Detector::new(catalog, EngineLimits { max_delay_ms: 0, ..EngineLimits::default() })
}

/// Feeds events in order (ledger indexes from 0) and ticks after each.
fn feed(d: &mut Detector, events: &[Event]) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        out.extend(d.on_event(i as u64, ev, T0 + i as i64));
        out.extend(d.tick(T0 + i as i64));
    }
    out
}

fn titles(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.rule_title.as_str()).collect()
}

/// An audit event as the ledger stores it (the JSON of `Event`).
fn audit(kind: &str, outcome: &str, actor: &str, attrs: serde_json::Value) -> Event {
    serde_json::from_value(json!({
        "id": "evt_0190c1b2-0000-7000-8000-000000000001",
        "time_ms": T0,
        "kind": kind,
        "outcome": outcome,
        "actor": actor,
        "object": actor,
        "tenant_id": null,
        "source_addr": "203.0.113.50",
        "attrs": attrs,
    }))
    .unwrap_or_else(|e| panic!("event JSON: {e}"))
}

/// An sshd line through the ingest parser, as a `linux` source's event.
fn sshd(line: &str, at: i64) -> Event {
    let record = parse(line.as_bytes().to_vec(), &ParseContext::at_ms(at));
    let record = rampart_ingest::normalise(record, rampart_ingest::ParserKind::Auto, time::UtcOffset::UTC);
    let mut event = rampart_ingest::to_event(&record, at);
    event.time_ms = at;
    event.attrs["logsource"] = json!({"product": "linux"});
    event
}

fn failed_password(user: &str, addr: &str, at: i64) -> Event {
    sshd(&format!("<38>Nov 29 10:00:00 web1 sshd[4711]: Failed password for {user} from {addr} port 50022 ssh2"), at)
}

#[test]
fn brute_force_per_user_over_sshd_fires_at_the_fifth_failure_only() {
    let mut d = detector();
    let events: Vec<Event> = (0..5).map(|i| failed_password("root", "198.51.100.7", T0 + i * 1000)).collect();
    assert_eq!(events[0].kind, "log.sshd.auth_failed", "{:?}", events[0]);
    let alerts = feed(&mut d, &events[..4]);
    assert!(alerts.is_empty(), "four failures are a near miss: {:?}", titles(&alerts));
    let alerts = feed(&mut d, &events[4..]);
    assert_eq!(titles(&alerts), vec!["Brute force against one user"]);
    let a = &alerts[0];
    assert_eq!((a.group_key.as_str(), a.event_count, a.severity), ("user=root", 5, Severity::High));
    assert_eq!(a.pack, REDLINE);
    assert_eq!(a.events.len(), 5);
    assert_eq!(a.events[0].kind, "log.sshd.auth_failed");
}

#[test]
fn accepted_passwords_and_failures_spread_over_time_do_not_count() {
    let mut d = detector();
    let mut events: Vec<Event> = (0..5)
        .map(|i| {
            sshd(
                &format!(
                    "<38>Nov 29 10:00:0{i} web1 sshd[1]: Accepted password for root from 198.51.100.7 port 5 ssh2"
                ),
                T0 + i,
            )
        })
        .collect();
    // Five failures, but six minutes apart: never five within five minutes.
    events.extend((0..5).map(|i| failed_password("root", "198.51.100.7", T0 + i * 360_000)));
    let alerts = feed(&mut d, &events);
    assert!(alerts.is_empty(), "{:?}", titles(&alerts));
}

#[test]
fn brute_force_per_source_address_mixes_rampart_and_sshd_failures() {
    let mut d = detector();
    let mut events = Vec::new();
    for i in 0..10 {
        if i % 2 == 0 {
            let mut e = audit("auth.login.failed", "failure", &format!("user{i}"), json!({"reason": "unknown_user"}));
            e.source_addr = Some("198.51.100.7".into());
            e.time_ms = T0 + i * 1000;
            events.push(e);
        } else {
            events.push(failed_password(&format!("user{i}"), "198.51.100.7", T0 + i * 1000));
        }
    }
    let alerts = feed(&mut d, &events[..9]);
    assert!(alerts.is_empty(), "nine failures are a near miss: {:?}", titles(&alerts));
    let alerts = feed(&mut d, &events[9..]);
    assert_eq!(titles(&alerts), vec!["Brute force from one source address"]);
    assert_eq!(alerts[0].group_key, "address=198.51.100.7");
}

#[test]
fn rampart_login_failures_for_one_user_fire_the_per_user_rule() {
    let mut d = detector();
    let events: Vec<Event> = (0..5)
        .map(|i| {
            let mut e = audit("auth.login.failed", "failure", "alice", json!({"reason": "bad_password"}));
            e.time_ms = T0 + i;
            e
        })
        .collect();
    let alerts = feed(&mut d, &events);
    assert_eq!(titles(&alerts), vec!["Brute force against one user"]);
    assert_eq!(alerts[0].group_key, "user=alice");
    // A successful login is not a failure.
    let mut d = detector();
    let ok: Vec<Event> =
        (0..5).map(|_| audit("auth.login.succeeded", "success", "alice", json!({"role": "admin"}))).collect();
    assert!(feed(&mut d, &ok).is_empty());
}

/// (rule title, the firing event, the near miss).
fn single_event_cases() -> Vec<(&'static str, Event, Event)> {
    vec![
        (
            "Privileged role granted",
            audit("user.created", "success", "admin", json!({"username": "eve", "role": "admin"})),
            audit("user.created", "success", "admin", json!({"username": "eve", "role": "customer_user"})),
        ),
        (
            "Second factor reset",
            audit("user.totp.reset", "success", "admin", json!({"user_id": "usr_1", "username": "eve"})),
            audit("auth.totp.enrolled", "success", "eve", json!({})),
        ),
        (
            "KMS key disabled",
            audit("kms.key.disabled", "success", "alice", json!({"from": "Enabled", "to": "Disabled"})),
            audit("kms.key.enabled", "success", "alice", json!({"from": "Disabled", "to": "Enabled"})),
        ),
        (
            "KMS key scheduled for deletion",
            audit(
                "kms.key.deletion_scheduled",
                "success",
                "alice",
                json!({"from": "Enabled", "to": "PendingDeletion"}),
            ),
            audit(
                "kms.key.deletion_cancelled",
                "success",
                "alice",
                json!({"from": "PendingDeletion", "to": "Disabled"}),
            ),
        ),
        (
            "KMS key used while pending deletion",
            audit(
                "kms.key.used_while_pending_deletion",
                "denied",
                "alice",
                json!({"operation": "Decrypt", "severity": "high"}),
            ),
            audit("kms.access_denied", "denied", "alice", json!({"operation": "Decrypt", "policy": "default"})),
        ),
        (
            "Ledger verification failed",
            audit("ledger.verification.failed", "failure", "system", json!({})),
            audit("ledger.checkpoint", "success", "system", json!({})),
        ),
        (
            "Log source silent",
            audit("source.silent", "failure", "system", json!({"name": "web1", "heartbeat_secs": 60})),
            audit("source.updated", "success", "admin", json!({"name": "web1"})),
        ),
        (
            "Bastion red line rejected a command",
            audit(
                "bastion.command",
                "denied",
                "ops",
                json!({"via": "shell", "command": "rm -rf /", "action": "reject", "policy": "no-wipe"}),
            ),
            audit("bastion.command", "success", "ops", json!({"via": "shell", "command": "ls", "action": "accept"})),
        ),
        (
            "Bastion red line warned about a command",
            audit(
                "bastion.command",
                "success",
                "ops",
                json!({"via": "exec", "command": "systemctl stop auditd", "action": "warn"}),
            ),
            audit("bastion.review.requested", "success", "ops", json!({"command": "systemctl stop auditd"})),
        ),
        (
            "Bastion target host key mismatch",
            audit(
                "bastion.session.refused",
                "denied",
                "ops",
                json!({"reason": "host_key_mismatch", "action": "shell"}),
            ),
            audit("bastion.session.refused", "denied", "ops", json!({"reason": "no_grant", "action": "shell"})),
        ),
        (
            "Bastion session recording lost",
            audit("bastion.recording.failed", "failure", "ops", json!({"error": "No space left on device"})),
            audit("bastion.session.ended", "success", "ops", json!({"recording_bytes": 512})),
        ),
        (
            "Bastion refused a file transfer the grant does not allow",
            audit(
                "bastion.file",
                "denied",
                "ops",
                json!({"op": "upload", "path": "/etc/passwd", "result": "refused", "missing_grant": "sftp-write"}),
            ),
            audit("bastion.file", "success", "ops", json!({"op": "download", "path": "/etc/hosts", "result": "done"})),
        ),
    ]
}

#[test]
fn each_single_event_rule_fires_on_its_event_and_not_on_the_near_miss() {
    for (title, hit, miss) in single_event_cases() {
        let mut d = detector();
        let alerts = feed(&mut d, std::slice::from_ref(&hit));
        assert_eq!(titles(&alerts), vec![title], "{}", hit.kind);
        assert_eq!(alerts[0].events[0].ledger_index, 0);
        assert_eq!(alerts[0].group_key, "");
        let alerts = feed(&mut d, std::slice::from_ref(&miss));
        assert!(alerts.is_empty(), "{title}: the near miss {} fired {:?}", miss.kind, titles(&alerts));
    }
}

#[test]
fn mass_export_needs_five_hundred_reads_by_one_caller() {
    let mut d = detector();
    let read = |actor: &str, i: i64| {
        let mut e = audit("kms.decrypt", "success", actor, json!({"material_id": "m1"}));
        e.time_ms = T0 + i;
        e
    };
    let mut events: Vec<Event> = (0..499).map(|i| read("app", i)).collect();
    events.extend((0..100).map(|i| read("other", i)));
    assert!(feed(&mut d, &events).is_empty(), "499 reads are a near miss");
    let alerts = feed(&mut d, &[read("app", 600)]);
    assert_eq!(titles(&alerts), vec!["Mass export through the KMS"]);
    assert_eq!(
        (alerts[0].event_count, alerts[0].events.len()),
        (500, rampart_detect::correlation::engine::MAX_ALERT_REFS)
    );
}

#[test]
fn the_stage_never_evaluates_its_own_alert_events() {
    let mut d = detector();
    let own = audit("detect.alert", "success", "system", json!({"kind": "user.totp.reset"}));
    assert!(feed(&mut d, &[own]).is_empty());
}

#[test]
fn reload_keeps_the_windows_of_correlations_that_remain() {
    let mut d = detector();
    let events: Vec<Event> = (0..5).map(|i| failed_password("root", "198.51.100.7", T0 + i * 1000)).collect();
    assert!(feed(&mut d, &events[..3]).is_empty());
    let config = DetectConfig { packs: vec![REDLINE.into()], ..DetectConfig::default() };
    d.reload(Catalog::load(&config));
    assert!(feed(&mut d, &events[3..4]).is_empty());
    assert_eq!(titles(&feed(&mut d, &events[4..])), vec!["Brute force against one user"]);
}

/// Ledger entries mixing every redline case, brute-force runs, the
/// stage's own events and bytes that are not an event.
fn mixed_entries() -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    for (i, (_, hit, miss)) in single_event_cases().into_iter().enumerate() {
        events.push(hit);
        events.push(miss);
        for k in 0..6 {
            let user = if k % 2 == 0 { "root" } else { "admin" };
            events.push(failed_password(user, "198.51.100.7", T0 + (i * 10 + k) as i64 * 1000));
        }
        events.push(audit("detect.alert", "success", "system", json!({"kind": "user.totp.reset"})));
    }
    let mut entries: Vec<Vec<u8>> =
        events.iter().map(|e| rampart_ledger::entry::encode_event(e).unwrap_or_default()).collect();
    entries.insert(3, b"not an entry".to_vec());
    entries
}

/// The stage's loop: batches matched on `threads` threads, then applied
/// in order (with a reload after the entry `reload_at`, between a batch's
/// matching and its correlation, when given).
fn run_batches(entries: &[Vec<u8>], batch: usize, threads: usize, reload_at: Option<usize>) -> Vec<Alert> {
    let mut d = detector();
    let mut out = Vec::new();
    let mut at = 0usize;
    for chunk in entries.chunks(batch) {
        let prepared = Detector::prepare_batch(d.catalog().rules.clone(), chunk, threads);
        assert_eq!(prepared.events.len(), chunk.len());
        for event in &prepared.events {
            if let Some(event) = event {
                out.extend(d.apply_prepared(at as u64, &prepared, event, T0 + at as i64));
            }
            out.extend(d.tick(T0 + at as i64));
            if reload_at == Some(at) {
                d.reload(reordered_catalog());
            }
            at += 1;
        }
    }
    out
}

/// The redline pack with its files in reverse order: the same rules and
/// correlations under other rule indexes.
fn reordered_catalog() -> Catalog {
    let mut builder = rampart_detect::RuleSetBuilder::new(rampart_detect::CompileOptions::windows_evtx());
    for (name, text) in super::packs::REDLINE_FILES.iter().rev() {
        builder.add_yaml(format!("embedded:{REDLINE}/{name}"), text);
    }
    let (rules, rejected) = builder.build();
    Catalog::new(rules, rejected, Vec::new())
}

/// The reference: one entry at a time, as the stage did before.
fn run_sequential(entries: &[Vec<u8>], reload_at: Option<usize>) -> Vec<Alert> {
    let mut d = detector();
    let mut out = Vec::new();
    for (i, bytes) in entries.iter().enumerate() {
        if let Some(event) = rampart_ledger::entry::decode_event(bytes) {
            out.extend(d.on_event(i as u64, &event, T0 + i as i64));
        }
        out.extend(d.tick(T0 + i as i64));
        if reload_at == Some(i) {
            d.reload(reordered_catalog());
        }
    }
    out
}

#[test]
fn batches_matched_in_parallel_raise_the_sequential_alerts_in_order() {
    let entries = mixed_entries();
    let want = run_sequential(&entries, None);
    assert!(want.len() >= single_event_cases().len() + 4, "too few alerts to compare: {:?}", titles(&want));
    for (batch, threads) in [(1, 1), (5, 2), (64, 2), (1024, 2), (1024, 3), (33, 8)] {
        assert_eq!(run_batches(&entries, batch, threads, None), want, "batch {batch}, {threads} threads");
    }
    // A reload between a batch's matching and its correlation, to rules
    // under other indexes: the rest of the batch is matched again against
    // the new rules, so the alerts are still those of the sequential stage.
    let reordered = reordered_catalog();
    assert_ne!(reordered.rules.rule(0).map(|r| &r.title), detector().catalog().rules.rule(0).map(|r| &r.title));
    let want = run_sequential(&entries, Some(20));
    assert_eq!(run_batches(&entries, 1024, 2, Some(20)), want);
    assert_eq!(run_batches(&entries, 7, 2, Some(20)), want);
}

/// The stage's loop over events taken as appended ([`super::recent`]):
/// batches put at their ledger positions (in an order other than theirs),
/// taken `take` at a time from the cursor.
fn run_taken(events: &[Event], put: usize, take: usize, reload_at: Option<usize>) -> Vec<Alert> {
    let recent = super::recent::RecentEvents::default();
    let batches: Vec<(usize, Arc<[Event]>)> =
        events.chunks(put).enumerate().map(|(i, chunk)| (i * put, chunk.iter().cloned().collect())).collect();
    for (first, batch) in batches.iter().rev() {
        recent.put(*first as u64, batch.clone());
    }
    let mut d = detector();
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < events.len() {
        let held = recent.take(at as u64, (at + take) as u64);
        assert!(!held.is_empty(), "the events at {at} are held");
        let prepared = Detector::prepare_shared(d.catalog().rules.clone(), &held, 2);
        for event in prepared.events.iter().flatten() {
            out.extend(d.apply_prepared(at as u64, &prepared, event, T0 + at as i64));
            out.extend(d.tick(T0 + at as i64));
            if reload_at == Some(at) {
                d.reload(reordered_catalog());
            }
            at += 1;
        }
    }
    // The next look at the cursor forgets the last batch taken.
    assert!(recent.take(at as u64, at as u64).is_empty());
    assert!(recent.is_empty(), "taking moved past every batch: {} held", recent.len());
    out
}

#[test]
fn events_taken_as_appended_raise_what_their_ledger_entries_raise() {
    // Every entry an event (the taken path never sees anything else).
    let entries: Vec<Vec<u8>> =
        mixed_entries().into_iter().filter(|e| rampart_ledger::entry::decode_event(e).is_some()).collect();
    let events: Vec<Event> = entries.iter().filter_map(|e| rampart_ledger::entry::decode_event(e)).collect();
    let want = run_sequential(&entries, None);
    assert!(want.len() >= single_event_cases().len() + 4, "too few alerts to compare: {:?}", titles(&want));
    for (put, take) in [(1, 1), (5, 3), (7, 64), (1024, 1024)] {
        assert_eq!(run_taken(&events, put, take, None), want, "put {put}, take {take}");
    }
    let want = run_sequential(&entries, Some(20));
    assert_eq!(run_taken(&events, 4, 9, Some(20)), want);
}

/// The SigmaHQ rules beside the workspace, or `None` (said loudly).
fn sigma_rules() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sigma/rules");
    if dir.is_dir() {
        return Some(dir);
    }
    eprintln!("SKIP: the SigmaHQ rules are not at {}; the sigmahq pack is not tested", dir.display());
    None
}

#[test]
fn the_sigmahq_pack_loads_linux_network_web_and_cloud_and_routes_by_logsource() {
    let Some(dir) = sigma_rules() else { return };
    let config = DetectConfig { sigma_dir: Some(dir.clone()), ..DetectConfig::default() };
    let catalog = Catalog::load(&config);
    assert!(catalog.has_sigmahq());
    let sigma = catalog.rule_packs.iter().filter(|p| **p == super::packs::SIGMAHQ).count();
    assert!(sigma > 300, "{sigma} SigmaHQ rules");
    // Only the configured categories: no Windows rule is loaded.
    for i in 0..catalog.rules.len() {
        let path = catalog.rules.rule_path(i).unwrap_or_else(|| panic!("rule {i} has a path"));
        assert!(!path.starts_with(dir.join("windows")), "{}", path.display());
    }
    let loaded = catalog.rules.len() + catalog.rules.correlations().len();
    assert!(loaded as f64 / (loaded + catalog.rejected.len()) as f64 >= 0.99, "{:?}", catalog.rejected);

    // An sshd line with a SigmaHQ keyword raises that rule (pack sigmahq);
    // the same words from a web server's log do not reach the sshd rule.
    let mut d = Detector::new(catalog, EngineLimits { max_delay_ms: 0, ..EngineLimits::default() });
    let hit = sshd("<38>Nov 29 10:00:00 web1 sshd[4711]: error: Corrupted MAC on input. [preauth]", T0);
    let alerts = feed(&mut d, &[hit]);
    let sshd_rule = alerts.iter().find(|a| a.rule_id == "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc");
    assert!(sshd_rule.is_some_and(|a| a.pack == super::packs::SIGMAHQ), "{:?}", titles(&alerts));
    let mut web = sshd("<38>Nov 29 10:00:00 web1 nginx: Corrupted MAC on input", T0);
    web.kind = "log.http.error".into();
    web.attrs["logsource"] = json!({"category": "webserver"});
    let alerts = feed(&mut d, &[web]);
    assert!(alerts.iter().all(|a| a.rule_id != "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"), "{:?}", titles(&alerts));
}

/// The stage over a real ledger with a sink that refuses at will.
mod stage {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use rampart_core::alert::{Alert, AlertError, AlertSink, Raised};
    use rampart_core::audit::{Appended, Audit, AuditError, AuditSink, BoxFuture};
    use rampart_core::config::DetectConfig;
    use rampart_core::{Event, Id, Outcome};
    use rampart_ledger::{Ledger, Signer};

    use super::super::Detection;
    use super::super::packs::REDLINE;

    #[derive(Debug)]
    struct Appender(Ledger);

    impl AuditSink for Appender {
        fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Appended, AuditError>> {
            Box::pin(async move {
                let bytes =
                    rampart_ledger::entry::encode_event(event).map_err(|e| AuditError::Failed(e.to_string()))?;
                let at = self.0.append(bytes).await.map_err(|e| AuditError::Failed(e.to_string()))?;
                Ok(Appended::at(at))
            })
        }
    }

    /// Refuses the first `refuse` alerts it is offered, then takes them.
    #[derive(Debug, Default)]
    struct Flaky {
        refuse: AtomicUsize,
        taken: Mutex<Vec<Alert>>,
    }

    impl AlertSink for Flaky {
        fn raise<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Raised, AlertError>> {
            Box::pin(async move {
                if self.refuse.load(Ordering::SeqCst) > 0 {
                    self.refuse.fetch_sub(1, Ordering::SeqCst);
                    return Err(AlertError::Unavailable("desk down".into()));
                }
                self.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(alert.clone());
                Ok(Raised { ticket_id: Id::new("tkt"), joined: false })
            })
        }
    }

    async fn node(dir: &std::path::Path, sink: Arc<Flaky>) -> (Ledger, Detection) {
        let signer = Signer::generate("t/l").unwrap_or_else(|e| panic!("{e}"));
        let ledger = Ledger::start(&dir.join("ledger"), signer, "t/l").unwrap_or_else(|e| panic!("{e}"));
        let audit = Audit::new(Arc::new(Appender(ledger.clone())), Duration::from_secs(2));
        let config = DetectConfig { packs: vec![REDLINE.into()], max_delay_ms: 0, ..DetectConfig::default() };
        let detection =
            Detection::start(&config, ledger.clone(), None, audit, sink, dir).await.unwrap_or_else(|e| panic!("{e}"));
        (ledger, detection)
    }

    async fn record(ledger: &Ledger, event: Event) {
        let bytes = rampart_ledger::entry::encode_event(&event).unwrap_or_else(|e| panic!("{e}"));
        ledger.append(bytes).await.unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn a_refused_alert_is_retried_and_the_cursor_waits_for_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sink = Arc::new(Flaky { refuse: AtomicUsize::new(usize::MAX), ..Flaky::default() });
        let (ledger, detection) = node(dir.path(), sink.clone()).await;
        record(&ledger, Event::new("user.totp.reset", Outcome::Success, "admin").attr("username", "eve")).await;
        record(&ledger, Event::new("auth.logout", Outcome::Success, "eve")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(detection.status().cursor, 0, "the cursor stays on the event whose alert was not taken");
        assert!(sink.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty());

        // The desk comes back: the alert is taken, once, and the stage moves on.
        sink.refuse.store(0, Ordering::SeqCst);
        let started = Instant::now();
        while detection.status().cursor < 2 {
            assert!(started.elapsed() < Duration::from_secs(10), "the stage did not resume");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let taken = sink.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].rule_title, "Second factor reset");
        assert_eq!(taken[0].events[0].ledger_index, 0);
        detection.shutdown().await;
        ledger.close().await;
    }

    #[tokio::test]
    async fn shutdown_while_an_alert_waits_keeps_the_last_consistent_save() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sink = Arc::new(Flaky { refuse: AtomicUsize::new(usize::MAX), ..Flaky::default() });
        let (ledger, detection) = node(dir.path(), sink.clone()).await;
        record(&ledger, Event::new("source.silent", Outcome::Failure, "system")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        detection.shutdown().await;
        ledger.close().await;
        // Nothing was saved past the untaken alert: a restart evaluates it again.
        let saved =
            super::super::persist::load(&super::super::state_path(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        assert!(saved.is_none_or(|s| s.cursor == 0), "saved past an alert that was not taken");

        let sink = Arc::new(Flaky::default());
        let (ledger, detection) = node(dir.path(), sink.clone()).await;
        let started = Instant::now();
        while sink.taken.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10), "the alert was lost across the restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        detection.shutdown().await;
        ledger.close().await;
    }
}
