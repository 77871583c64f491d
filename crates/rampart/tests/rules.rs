//! `rampart rules check` and `rampart rules test`, the real binary on real
//! rules: the SigmaHQ tree in `../shared/testdata/sigma/rules` (read in
//! place, never copied) must load at least 99 %, every rejection must
//! carry its reason, and `test` must show which events match, why, and
//! what a correlation fed the events in order raises.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn rampart(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("RAMPART_URL").output().expect("spawn rampart")
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    })
}

/// The SigmaHQ rule tree beside the workspace, or `None` (said loudly).
fn sigma_rules() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sigma/rules");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("RAMPART_REQUIRE_TOOLS").is_none(),
        "RAMPART_REQUIRE_TOOLS is set but the Sigma rules are missing at {}",
        dir.display()
    );
    eprintln!("SKIP: the SigmaHQ rules are not at {}; `rampart rules check` on them is not tested", dir.display());
    None
}

#[test]
fn rules_check_loads_at_least_99_percent_of_sigmahq_and_gives_every_rejection_a_reason() {
    let Some(dir) = sigma_rules() else { return };
    let out = rampart(&["--json", "rules", "check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json_of(&out);
    let (documents, loaded) = (v["documents"].as_u64().unwrap(), v["loaded"].as_u64().unwrap());
    let rejected = v["rejected"].as_array().unwrap();
    assert!(documents >= 3000, "{documents} documents");
    assert_eq!(loaded + rejected.len() as u64, documents, "every document is loaded or listed");
    let share = loaded as f64 / documents as f64;
    eprintln!("rampart rules check: {loaded} of {documents} loaded ({:.2} %)", share * 100.0);
    assert!(share >= 0.99, "only {:.2} % loaded", share * 100.0);
    for r in rejected {
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(reason.len() > 10, "a rejection without a real reason: {r}");
        assert!(r["path"].as_str().is_some_and(|p| p.ends_with(".yml") || p.ends_with(".yaml")), "{r}");
    }
    assert!(v["license"].as_str().is_some_and(|l| l.contains("Detection Rule License")), "the DRL credit is shown");

    // The table form says the same, with the credit.
    let out = rampart(&["rules", "check", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{loaded} of {documents} documents loaded")), "{text}");
    assert!(text.contains("Detection Rule License"));
    // --strict fails on the rejections.
    if !rejected.is_empty() {
        assert_eq!(rampart(&["rules", "check", "--strict", dir.to_str().unwrap()]).status.code(), Some(6));
    }
}

const RULES: &str = r#"title: Failed password
id: 6c7d2a52-9d7b-4a43-9a0e-6a1f3fb0b001
name: failed_password
logsource: {product: linux, service: sshd}
detection:
    selection:
        rampart.kind: log.sshd.auth_failed
        auth_method: password
    condition: selection
level: low
---
title: Three failures for one user
id: 6c7d2a52-9d7b-4a43-9a0e-6a1f3fb0b002
correlation:
    type: event_count
    rules: [failed_password]
    group-by: [User]
    timespan: 1m
    condition: {gte: 3}
level: high
---
title: Broken rule
id: 6c7d2a52-9d7b-4a43-9a0e-6a1f3fb0b003
logsource: {product: linux}
detection:
    selection:
        CommandLine|nosuchmodifier: x
    condition: selection
"#;

fn sshd_event(user: &str, t: i64, kind: &str, method: &str) -> String {
    serde_json::json!({
        "id": "evt_0190c1b2-0000-7000-8000-000000000001", "time_ms": t, "kind": kind, "outcome": "failure",
        "actor": user, "tenant_id": null, "source_addr": "198.51.100.7",
        "attrs": {"fields": {"User": user, "src_ip": "198.51.100.7", "auth_method": method},
                  "message": format!("Failed {method} for {user} from 198.51.100.7 port 22 ssh2"),
                  "logsource": {"product": "linux"}},
    })
    .to_string()
}

#[test]
fn rules_test_shows_matches_with_reasons_and_correlations_over_the_events_in_order() {
    let work = tempfile::tempdir().unwrap();
    let rule = work.path().join("rules.yml");
    std::fs::write(&rule, RULES).unwrap();
    let events = work.path().join("events.jsonl");
    let lines = [
        sshd_event("root", 1_000, "log.sshd.auth_failed", "password"),
        sshd_event("root", 2_000, "log.sshd.auth_failed", "publickey"),
        String::new(),
        sshd_event("alice", 2_500, "log.sshd.auth_failed", "password"),
        sshd_event("root", 3_000, "log.sshd.auth_failed", "password"),
        sshd_event("root", 4_000, "log.sshd.auth_success", "password"),
        sshd_event("root", 5_000, "log.sshd.auth_failed", "password"),
    ];
    std::fs::write(&events, lines.join("\n")).unwrap();
    let out = rampart(&["--json", "rules", "test", rule.to_str().unwrap(), events.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nosuchmodifier"), "the broken rule is named with its reason: {stderr}");
    let v = json_of(&out);
    let matched: Vec<u64> = v["matches"].as_array().unwrap().iter().map(|m| m["line"].as_u64().unwrap()).collect();
    assert_eq!(matched, vec![1, 4, 5, 7], "the publickey failure and the success are near misses");
    let why = v["matches"][0]["why"].as_str().unwrap();
    assert!(why.contains("auth_method=password") && why.contains("selection"), "{why}");
    let corr = v["correlations"].as_array().unwrap();
    assert_eq!(corr.len(), 1, "{corr:?}");
    assert_eq!(corr[0]["group"], "User=root");
    assert_eq!(corr[0]["lines"], serde_json::json!([1, 5, 7]));

    // The table form.
    let out = rampart(&["rules", "test", rule.to_str().unwrap(), events.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 of 6 events matched; 1 correlation alert(s)"), "{text}");
    assert!(text.contains("Three failures for one user"));
}

#[test]
fn bad_input_is_a_clear_error_with_its_exit_code() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("nope");
    let out = rampart(&["rules", "check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a missing directory is a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable directory"));

    let rule = work.path().join("rules.yml");
    std::fs::write(&rule, RULES).unwrap();
    let events = work.path().join("events.jsonl");
    std::fs::write(&events, "{\"EventID\": 1}\n{not json\n").unwrap();
    let out = rampart(&["rules", "test", rule.to_str().unwrap(), events.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: not JSON"));

    // A rule file in which nothing compiles is refused.
    let broken = work.path().join("broken.yml");
    std::fs::write(&broken, "title: x\nlogsource: {product: linux}\ndetection: {condition: nothing}\n").unwrap();
    let out = rampart(&["rules", "test", broken.to_str().unwrap(), events.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    // A directory of rules with an empty file and a non-YAML file checks cleanly.
    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/empty.yml"), "").unwrap();
    std::fs::write(tree.join("notes.txt"), "not a rule").unwrap();
    std::fs::write(tree.join("rules.yml"), RULES).unwrap();
    let out = rampart(&["--json", "rules", "check", tree.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["rejected_count"], 1, "{v}");
    assert!(v["license"].is_null(), "no DRL credit for a tree that is not SigmaHQ's");
}

#[test]
fn rules_eval_routes_by_the_logsource_fields_of_each_event() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("r.yml");
    std::fs::write(
        &rule,
        "title: sshd failure\nid: r-sshd\nlogsource: {product: linux, service: sshd}\n\
         detection: {sel: {message|contains: 'Failed password'}, condition: sel}\n",
    )
    .unwrap();
    let events = dir.path().join("e.jsonl");
    std::fs::write(
        &events,
        "{\"p\":\"linux\",\"s\":\"sshd\",\"message\":\"Failed password for a\"}\n\
         {\"p\":\"linux\",\"s\":\"sudo\",\"message\":\"Failed password for b\"}\n\
         {\"message\":\"Failed password for c\"}\n",
    )
    .unwrap();
    let (r, e) = (rule.to_str().unwrap(), events.to_str().unwrap());
    // Unrouted, every event meets the rule; routed, the sudo line does not.
    let all = json_of(&rampart(&["--json", "rules", "eval", r, e]));
    assert_eq!(all["by_rule"]["r-sshd"], 3, "{all}");
    let routed = json_of(&rampart(&["--json", "rules", "eval", r, e, "--logsource-fields", "product=p,service=s"]));
    assert_eq!((routed["events"].as_u64(), routed["by_rule"]["r-sshd"].as_u64()), (Some(3), Some(2)), "{routed}");
    // A map that names an unknown part is a usage error.
    let bad = rampart(&["rules", "eval", r, e, "--logsource-fields", "vendor=v"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("vendor"), "{}", String::from_utf8_lossy(&bad.stderr));
}
