//! `rampart rules check|test` work offline on rule files: `check` compiles
//! a rule tree and lists every rejected document with its reason; `test`
//! runs rules over a JSON-lines file of events, in order, and shows which
//! events match and why, and what the correlations raise. `rampart rules
//! list|status|reload` ask a node's detection stage.
//!
//! `check` exits 0 whatever it rejects (the listing is the answer), 2 when
//! the directory cannot be read at all, and with `--strict` 6 when any
//! document was rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rampart_detect::batch::{LogsourceFields, eval_lines};
use rampart_detect::{
    CompileOptions, CorrelationEngine, EngineLimits, EventRef, LogSource, Rejected, RuleSet, RuleSetBuilder,
    windows_event_logsource,
};
use rampart_server::detect::packs::DRL_CREDIT;
use serde_json::{Value, json};

use crate::client::{ApiClient, CliExit};
use crate::{Global, exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum RulesCmd {
    /// Compile a Sigma rule tree (offline) and list every rejected rule with its reason.
    Check {
        /// A directory of .yml/.yaml rule files (searched recursively).
        dir: PathBuf,
        /// Exit with status 6 when any document is rejected.
        #[arg(long)]
        strict: bool,
    },
    /// Run rules (a file or directory) over events (JSON lines), in order:
    /// which events match and why, and which correlations fire.
    Test {
        /// A rule file (may hold several documents) or a directory of them.
        rule: PathBuf,
        /// One JSON event per line: a Rampart audit or ingested event, a
        /// Windows event (evtx JSON), or any flat JSON object.
        events: PathBuf,
    },
    /// Evaluate events (JSON lines) against a rule tree as fast as possible:
    /// match counts per rule and throughput, no explanations.
    Eval {
        /// A directory of rules, or one rule file.
        rules: PathBuf,
        /// One JSON event per line.
        events: PathBuf,
        /// Route events by logsource (Rampart and evtx events); by default
        /// every event meets every rule, as `rsigma engine eval` does.
        #[arg(long)]
        route: bool,
        /// Route events by the logsource their own fields state, as
        /// `product=FIELD,service=FIELD,category=FIELD` (the form of rsigma's
        /// `--logsource-field-map`). A part whose field is absent is
        /// unknown and admits every rule. Events are read flat.
        #[arg(long, value_name = "MAP", conflicts_with = "route")]
        logsource_fields: Option<String>,
        /// Threads that match events (0: one per available core). Results
        /// are the same for any number.
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// The rules a node has loaded, and those it rejected.
    List,
    /// A node's detection stage: cursor, lag, correlation state.
    Status,
    /// Make a node recompile and swap its rule packs.
    Reload,
}

pub async fn rules(g: &Global, cmd: RulesCmd) -> Result<()> {
    match cmd {
        RulesCmd::Check { dir, strict } => check(g, &dir, strict),
        RulesCmd::Test { rule, events } => test(g, &rule, &events),
        RulesCmd::Eval { rules, events, route, logsource_fields, threads } => {
            let routing = match logsource_fields {
                Some(map) => Routing::Fields(
                    LogsourceFields::parse(&map)
                        .map_err(|e| CliExit::new(exit::USAGE, format!("--logsource-fields: {e}")))?,
                ),
                None if route => Routing::View,
                None => Routing::None,
            };
            eval(g, &rules, &events, &routing, threads)
        }
        RulesCmd::List => {
            let v = ApiClient::new(g)?.get("/api/v1/detect/rules").await?;
            if g.json {
                output::object(true, &v);
                return Ok(());
            }
            output::list(false, &json!({"items": v["rules"]}), &["id", "title", "pack", "level", "type", "generate"]);
            if v["rejected"].as_array().is_some_and(|r| !r.is_empty()) {
                println!("rejected:");
                output::list(false, &json!({"items": v["rejected"]}), &["path", "rule_id", "reason"]);
            }
            if let Some(l) = v["license"].as_str() {
                println!("{l}");
            }
            Ok(())
        }
        RulesCmd::Status => {
            output::object(g.json, &ApiClient::new(g)?.get("/api/v1/detect/status").await?);
            Ok(())
        }
        RulesCmd::Reload => {
            output::object(g.json, &ApiClient::new(g)?.post("/api/v1/detect/reload", &json!({})).await?);
            Ok(())
        }
    }
}

fn rejected_json(r: &Rejected) -> Value {
    json!({
        "path": r.path.display().to_string(),
        "document": r.document,
        "rule_id": r.rule_id,
        "title": r.title,
        "reason": r.reason.to_string(),
        "category": r.reason.category(),
    })
}

/// A file named LICENSE* in `dir` or up to two levels above it that grants
/// the Detection Rule License: the tree is SigmaHQ's (or derived from it).
fn is_drl_licensed(dir: &Path) -> bool {
    dir.ancestors().take(3).any(|d| {
        std::fs::read_dir(d).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("LICENSE")
                && std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("Detection Rule License"))
        })
    })
}

fn check(g: &Global, dir: &Path, strict: bool) -> Result<()> {
    if !dir.is_dir() {
        return Err(CliExit::new(exit::USAGE, format!("{} is not a readable directory", dir.display())).into());
    }
    let (set, rejected) = rampart_detect::compile_dir_with(dir, CompileOptions::windows_evtx());
    let loaded = set.len() + set.correlations().len();
    let total = loaded + rejected.len();
    let share = if total == 0 { 1.0 } else { loaded as f64 / total as f64 };
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rejected {
        *by_reason.entry(r.reason.category()).or_default() += 1;
    }
    let license = is_drl_licensed(dir).then_some(DRL_CREDIT);
    let summary = json!({
        "directory": dir.display().to_string(),
        "documents": total,
        "loaded": loaded,
        "rules": set.len(),
        "correlations": set.correlations().len(),
        "rejected_count": rejected.len(),
        "loaded_share": share,
        "by_reason": by_reason,
        "rejected": rejected.iter().map(rejected_json).collect::<Vec<_>>(),
        "license": license,
    });
    if g.json {
        output::object(true, &summary);
    } else {
        if !rejected.is_empty() {
            output::list(false, &json!({"items": summary["rejected"]}), &["path", "document", "rule_id", "reason"]);
        }
        println!(
            "{loaded} of {total} documents loaded ({:.2} %): {} detection rules, {} correlations; {} rejected",
            share * 100.0,
            set.len(),
            set.correlations().len(),
            rejected.len()
        );
        for (reason, n) in &by_reason {
            println!("  {n:5}  {reason}");
        }
        if let Some(credit) = license {
            println!("{credit}");
        }
    }
    if strict && !rejected.is_empty() {
        return Err(CliExit::new(exit::INVALID, format!("{} document(s) rejected (--strict)", rejected.len())).into());
    }
    Ok(())
}

/// Compiles RULE (file or directory) and refuses when nothing loads.
fn load_rules(rule: &Path) -> Result<(RuleSet, Vec<Rejected>)> {
    load_rules_with(rule, CompileOptions::windows_evtx())
}

fn load_rules_with(rule: &Path, options: CompileOptions) -> Result<(RuleSet, Vec<Rejected>)> {
    let mut builder = RuleSetBuilder::new(options);
    if rule.is_dir() {
        builder.add_dir(rule);
    } else {
        let text =
            std::fs::read_to_string(rule).map_err(|e| CliExit::new(exit::USAGE, format!("{}: {e}", rule.display())))?;
        builder.add_yaml(rule, &text);
    }
    let (set, rejected) = builder.build();
    for r in &rejected {
        eprintln!("rejected: {r}");
    }
    if set.is_empty() && set.correlations().is_empty() {
        return Err(CliExit::new(exit::INVALID, format!("no rule in {} compiles", rule.display())).into());
    }
    Ok((set, rejected))
}

/// Milliseconds since the epoch from an RFC 3339 text.
fn parse_time(v: &Value) -> Option<i64> {
    let text = v.as_str()?;
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// What rules see of one input line, its logsource and its time.
fn event_view(v: &Value, line: usize) -> (Value, LogSource, i64) {
    let looks_like_event = ["kind", "outcome", "actor", "attrs", "time_ms"].iter().all(|k| v.get(k).is_some());
    if looks_like_event && let Ok(event) = serde_json::from_value::<rampart_core::Event>(v.clone()) {
        let (fields, ls) = rampart_server::detect::view::view(&event);
        return (fields, ls, event.time_ms);
    }
    let ls = windows_event_logsource(v).unwrap_or_default();
    let time = ["@timestamp", "timestamp", "UtcTime"]
        .iter()
        .find_map(|k| v.get(*k).and_then(parse_time))
        .or_else(|| v.pointer("/Event/System/TimeCreated/#attributes/SystemTime").and_then(parse_time))
        // Without a time, lines are a second apart in file order.
        .unwrap_or(line as i64 * 1000);
    (v.clone(), ls, time)
}

fn why(e: &rampart_detect::Explanation) -> String {
    e.selections
        .iter()
        .filter(|s| s.matched)
        .map(|s| {
            let items: Vec<String> = s
                .alternatives
                .iter()
                .find(|alt| alt.iter().all(|i| i.matched))
                .map(|alt| alt.iter().map(|i| format!("{}={}", i.key, i.values.join("|"))).collect())
                .unwrap_or_default();
            format!("{}: {}", s.name, items.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn test(g: &Global, rule: &Path, events: &Path) -> Result<()> {
    let (set, rejected) = load_rules(rule)?;
    let text =
        std::fs::read_to_string(events).map_err(|e| CliExit::new(exit::USAGE, format!("{}: {e}", events.display())))?;
    let mut engine = CorrelationEngine::new(&set, EngineLimits::default());
    let (mut rows, mut fired, mut seen, mut matched) = (Vec::new(), Vec::new(), 0usize, 0usize);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| CliExit::new(exit::INVALID, format!("{} line {line}: not JSON: {e}", events.display())))?;
        seen += 1;
        let (fields, ls, t) = event_view(&v, line);
        let matches = set.matches(&fields, &ls);
        if !matches.is_empty() {
            matched += 1;
        }
        let explained = set.explain(&fields, &ls);
        for m in &matches {
            let e = explained.iter().find(|e| e.rule_index == m.rule_index);
            rows.push(json!({
                "line": line,
                "rule_id": m.rule_id.clone().or_else(|| m.name.clone()),
                "title": m.title,
                "level": m.level,
                "alerts": m.generate,
                "why": e.map(why).unwrap_or_default(),
                "explanation": e,
            }));
            let field = |name: &str| {
                set.field_value(m.rule_index, name, &fields).and_then(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
            };
            let r = EventRef { index: line as u64, time_ms: t, kind: String::new(), tenant: None };
            fired.extend(engine.on_match_at(t, i64::MAX, m.rule_index, &field, Some(r)));
        }
    }
    fired.extend(engine.flush());
    let correlations: Vec<Value> = fired
        .iter()
        .map(|c| {
            json!({
                "rule_id": c.rule_id,
                "title": c.title,
                "level": c.level,
                "group": c.group.iter().map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(","),
                "value": c.value,
                "events": c.event_count,
                "lines": c.events.iter().map(|r| r.index).collect::<Vec<_>>(),
            })
        })
        .collect();
    let report = json!({
        "events": seen,
        "matched_events": matched,
        "matches": rows,
        "correlations": correlations,
        "rejected": rejected.iter().map(rejected_json).collect::<Vec<_>>(),
    });
    if g.json {
        output::object(true, &report);
        return Ok(());
    }
    output::list(false, &json!({"items": report["matches"]}), &["line", "rule_id", "title", "level", "alerts", "why"]);
    if !correlations.is_empty() {
        output::list(false, &json!({"items": correlations}), &["rule_id", "title", "level", "group", "value", "lines"]);
    }
    println!(
        "{matched} of {seen} events matched; {} correlation alert(s); {} rule document(s) rejected",
        fired.len(),
        rejected.len()
    );
    Ok(())
}

/// Where `rules eval` takes each event's logsource from.
enum Routing {
    /// Every event meets every rule.
    None,
    /// The event's Sigma view: Rampart events and evtx records.
    View,
    /// The event's own fields.
    Fields(LogsourceFields),
}

/// `rules eval`: compile, then match every line, counting matches per rule.
/// Lines are read as they come, so memory holds the rules, not the input.
fn eval(g: &Global, rules: &Path, events: &Path, routing: &Routing, threads: usize) -> Result<()> {
    let started = std::time::Instant::now();
    // Unrouted events are flat: field names as the rules write them, no
    // evtx mapping (which would look `Provider_Name` up under `Event.System`).
    let options =
        if matches!(routing, Routing::View) { CompileOptions::windows_evtx() } else { CompileOptions::default() };
    let (set, rejected) = load_rules_with(rules, options)?;
    let compile_ms = started.elapsed().as_secs_f64() * 1000.0;
    let file =
        std::fs::File::open(events).map_err(|e| CliExit::new(exit::USAGE, format!("{}: {e}", events.display())))?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    let started = std::time::Instant::now();
    let any = LogSource::any();
    let threads = rampart_detect::parallel::threads(threads);
    let counts = eval_lines(&set, reader, threads, |v, line| match routing {
        Routing::None => (v, any.clone()),
        Routing::View => {
            let (fields, ls, _) = event_view(&v, line);
            (fields, ls)
        }
        Routing::Fields(map) => {
            let ls = map.logsource(&v);
            (v, ls)
        }
    })
    .map_err(|e| CliExit::new(exit::INVALID, format!("{}: {e}", events.display())))?;
    let (seen, matched) = (counts.events, counts.matches);
    let eval_secs = started.elapsed().as_secs_f64();
    let by_rule: BTreeMap<String, u64> = counts.by_rule_id(&set);
    let rate = if eval_secs > 0.0 { seen as f64 / eval_secs } else { 0.0 };
    let report = json!({
        "rules": set.len(),
        "rejected": rejected.len(),
        "events": seen,
        "matches": matched,
        "compile_ms": compile_ms,
        "eval_ms": eval_secs * 1000.0,
        "events_per_sec": rate,
        "threads": threads,
        "by_rule": by_rule,
    });
    if g.json {
        output::object(true, &report);
    } else {
        println!(
            "{seen} events, {matched} matches of {} rules ({} rejected): compiled in {compile_ms:.0} ms, \
             evaluated in {:.0} ms on {threads} threads, {rate:.0} events/s",
            set.len(),
            rejected.len(),
            eval_secs * 1000.0
        );
        let mut top: Vec<(&String, &u64)> = by_rule.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (rule, n) in top.into_iter().take(20) {
            println!("  {n:8}  {rule}");
        }
    }
    Ok(())
}
