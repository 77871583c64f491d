//! `cargo xtask fuzz [TARGET…] [--seconds N] [--list]`: runs the cargo-fuzz
//! targets of `fuzz/` one after another for a fixed time each and prints a
//! summary. cargo-fuzz needs nightly flags (`-Zsanitizer`), so it runs with
//! `RUSTC_BOOTSTRAP=1` on the stable toolchain; it is installed first when it
//! is missing and this runs as root.
//!
//! Each run reads the committed seeds in `fuzz/corpus/TARGET/` and writes what
//! it finds to `fuzz/target/corpus/TARGET/` (kept between runs, never
//! committed), so the seed directories stay as written. libFuzzer's output
//! goes to `fuzz/target/logs/TARGET.log`; a crash prints its tail, the
//! artifact path and the command that reproduces it, and makes the task
//! fail after every target has run.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The cargo-fuzz release known to build with the workspace's toolchain.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// A single input that runs this long is reported as a hang.
const INPUT_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Targets to run (default: all of `fuzz/fuzz_targets/`).
    targets: Vec<String>,
    /// Seconds to fuzz each target.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// List the targets and what each covers, then exit.
    #[arg(long)]
    list: bool,
}

/// A fuzz target: its name and the first sentence of its `//!` paragraph.
#[derive(Debug)]
struct Target {
    name: String,
    summary: String,
}

/// What one run of one target came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Crash { artifact: Option<String> },
    Failed(String),
}

#[derive(Debug)]
struct RunReport {
    target: String,
    executions: Option<u64>,
    elapsed: Duration,
    outcome: Outcome,
}

pub fn run(args: FuzzArgs) -> Result<()> {
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets = targets(&fuzz_dir)?;
    if args.list {
        for t in &targets {
            println!("{:<28} {}", t.name, t.summary);
        }
        return Ok(());
    }
    let selected: Vec<&Target> = if args.targets.is_empty() {
        targets.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for name in &args.targets {
            match targets.iter().find(|t| &t.name == name) {
                Some(t) => chosen.push(t),
                None => bail!("no fuzz target {name:?}; `cargo xtask fuzz --list` lists them"),
            }
        }
        chosen
    };
    ensure_cargo_fuzz()?;
    build(&root, &selected)?;
    let mut reports = Vec::new();
    for target in selected {
        let report = run_target(&root, &fuzz_dir, &target.name, args.seconds)?;
        reports.push(report);
    }
    print_summary(&reports);
    let failed: Vec<&str> = reports.iter().filter(|r| r.outcome != Outcome::Ok).map(|r| r.target.as_str()).collect();
    if !failed.is_empty() {
        bail!("fuzzing found problems in {failed:?}; see above for the inputs and how to reproduce them");
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The targets: one per file in `fuzz/fuzz_targets/`, sorted by name.
fn targets(fuzz_dir: &Path) -> Result<Vec<Target>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        out.push(Target { name: name.to_owned(), summary: summary(&text) });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The first sentence of a file's `//!` paragraph, on one line.
fn summary(source: &str) -> String {
    let paragraph: Vec<&str> =
        source.lines().map_while(|l| l.strip_prefix("//!")).map(str::trim).take_while(|l| !l.is_empty()).collect();
    let text = paragraph.join(" ");
    let first = text.split(". ").next().unwrap_or_default();
    first.trim_end_matches('.').to_owned()
}

/// `cargo fuzz` with what every invocation needs: nightly flags allowed on
/// stable, and the fuzz crate's own target directory even when the caller
/// set `CARGO_TARGET_DIR` for the workspace.
fn cargo_fuzz(root: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("fuzz").current_dir(root).env("RUSTC_BOOTSTRAP", "1").env_remove("CARGO_TARGET_DIR");
    cmd
}

fn ensure_cargo_fuzz() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installed = || Command::new(&cargo).args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if installed() {
        return Ok(());
    }
    if !crate::is_root() {
        bail!("cargo-fuzz is missing: install it with `cargo install cargo-fuzz@{CARGO_FUZZ_VERSION} --locked`");
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    let status = Command::new(&cargo)
        .args(["install", &format!("cargo-fuzz@{CARGO_FUZZ_VERSION}"), "--locked"])
        .status()
        .context("running cargo install")?;
    if !status.success() || !installed() {
        bail!("could not install cargo-fuzz {CARGO_FUZZ_VERSION} ({status})");
    }
    Ok(())
}

/// Builds the selected targets (all of them in one `cargo build` when more
/// than one is selected), so that build time does not eat fuzzing time.
fn build(root: &Path, selected: &[&Target]) -> Result<()> {
    let mut cmd = cargo_fuzz(root);
    cmd.arg("build");
    if let [only] = selected {
        cmd.arg(&only.name);
    }
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().context("running cargo fuzz build")?;
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    Ok(())
}

fn run_target(root: &Path, fuzz_dir: &Path, target: &str, seconds: u64) -> Result<RunReport> {
    let seeds = fuzz_dir.join("corpus").join(target);
    let generated = fuzz_dir.join("target").join("corpus").join(target);
    let logs = fuzz_dir.join("target").join("logs");
    for dir in [&seeds, &generated, &logs] {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = cargo_fuzz(root);
    cmd.args(["run", target])
        .arg(&generated)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg("-print_final_stats=1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log file")?)
        .stderr(log);
    eprintln!("xtask: fuzzing {target} for {seconds} s (log: {})", log_path.display());
    let started = Instant::now();
    let status = cmd.status().with_context(|| format!("running cargo fuzz run {target}"))?;
    let elapsed = started.elapsed();
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    let executions = executions(&output);
    let outcome = if status.success() {
        Outcome::Ok
    } else if let Some(artifact) = artifact(&output) {
        Outcome::Crash { artifact: Some(artifact) }
    } else if output.contains("ERROR: libFuzzer") || output.contains("panicked at") {
        Outcome::Crash { artifact: None }
    } else {
        Outcome::Failed(format!("{status}"))
    };
    if outcome != Outcome::Ok {
        report_failure(target, &outcome, &output, &log_path);
    }
    Ok(RunReport { target: target.to_owned(), executions, elapsed, outcome })
}

/// Prints what a developer needs: the panic message (or, failing that, the
/// end of the log), the input in base64, its path and how to replay it.
fn report_failure(target: &str, outcome: &Outcome, output: &str, log_path: &Path) {
    eprintln!("\n===== {target}: {} =====", describe(outcome));
    let key_lines = key_lines(output);
    let shown: Vec<&str> = if key_lines.is_empty() {
        let lines: Vec<&str> = output.lines().collect();
        lines[lines.len().saturating_sub(30)..].to_vec()
    } else {
        key_lines
    };
    for line in shown {
        eprintln!("  {line}");
    }
    eprintln!("full log: {}", log_path.display());
    if let Outcome::Crash { artifact: Some(path) } = outcome {
        eprintln!("input: {path}");
        eprintln!("reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run {target} {path}");
        eprintln!("minimise:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin {target} {path}");
    }
    eprintln!();
}

/// The lines of a libFuzzer log that say what went wrong: each panic with
/// the message lines after it, sanitizer and libFuzzer errors, the input in
/// base64.
fn key_lines(output: &str) -> Vec<&str> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" panicked at ") {
            out.push(*line);
            out.extend(
                lines[i + 1..].iter().take_while(|l| !l.starts_with("stack backtrace") && !l.starts_with("==")).take(8),
            );
        } else if line.contains("ERROR: ") || line.starts_with("SUMMARY: ") || line.starts_with("Base64: ") {
            out.push(*line);
        }
    }
    out
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".into(),
        Outcome::Crash { .. } => "CRASH".into(),
        Outcome::Failed(why) => format!("FAILED ({why})"),
    }
}

/// Executions: libFuzzer's final statistics, or else the last status line
/// (`#12345 pulse …`) when it stopped on a crash.
fn executions(output: &str) -> Option<u64> {
    let stat = output.lines().rev().find_map(|l| l.strip_prefix("stat::number_of_executed_units:"));
    if let Some(n) = stat.and_then(|n| n.trim().parse().ok()) {
        return Some(n);
    }
    output.lines().rev().find_map(|l| {
        let rest = l.strip_prefix('#')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The crash input libFuzzer wrote (`Test unit written to PATH`).
fn artifact(output: &str) -> Option<String> {
    output.lines().find_map(|l| {
        let path = l.split("Test unit written to ").nth(1)?.trim();
        (!path.is_empty()).then(|| path.to_owned())
    })
}

fn print_summary(reports: &[RunReport]) {
    println!("\n{:<28} {:>12} {:>8}  result", "target", "executions", "seconds");
    for r in reports {
        let execs = r.executions.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = match &r.outcome {
            Outcome::Crash { artifact: Some(path) } => format!("CRASH {path}"),
            other => describe(other),
        };
        println!("{:<28} {:>12} {:>8.1}  {result}", r.target, execs, r.elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRASH_LOG: &str = "\
#1024\tpulse  cov: 310 ft: 980 corp: 40/2Kb exec/s: 341 rss: 60Mb
#2048\tpulse  cov: 312 ft: 990 corp: 41/2Kb exec/s: 341 rss: 60Mb
thread '<unnamed>' panicked at src/lib.rs:3:5:
boom
==12==ERROR: libFuzzer: deadly signal
artifact_prefix='/w/fuzz/artifacts/t/'; Test unit written to /w/fuzz/artifacts/t/crash-0a1b
Base64: Ym9vbQ==
";

    #[test]
    fn a_crash_log_gives_the_artifact_and_the_last_count() {
        assert_eq!(artifact(CRASH_LOG).as_deref(), Some("/w/fuzz/artifacts/t/crash-0a1b"));
        assert_eq!(executions(CRASH_LOG), Some(2048));
        let key = key_lines(CRASH_LOG);
        assert_eq!(key[..2], ["thread '<unnamed>' panicked at src/lib.rs:3:5:", "boom"]);
        assert!(key.contains(&"Base64: Ym9vbQ=="), "{key:?}");
    }

    #[test]
    fn final_stats_win_over_status_lines() {
        let log = "#99\tDONE   cov: 1\nDone 120 runs in 31 second(s)\nstat::number_of_executed_units: 120\n";
        assert_eq!(executions(log), Some(120));
        assert_eq!(artifact(log), None);
    }

    #[test]
    fn the_summary_is_the_first_sentence() {
        assert_eq!(
            summary("//! Fuzzes the parser (v2.1). More\n//! text.\n\n#![no_main]\n"),
            "Fuzzes the parser (v2.1)"
        );
        assert_eq!(
            summary("//! Fuzzes a thing: one\n//! line.\n//!\n//! Another paragraph.\n"),
            "Fuzzes a thing: one line"
        );
    }

    /// Every target is declared in `fuzz/Cargo.toml`, and every target has
    /// committed seeds, so a new target cannot start from nothing.
    #[test]
    fn every_fuzz_target_is_declared_and_has_seeds() {
        let fuzz_dir = workspace_root().join("fuzz");
        let manifest = fs::read_to_string(fuzz_dir.join("Cargo.toml")).unwrap_or_default();
        let Ok(targets) = targets(&fuzz_dir) else { panic!("no fuzz/fuzz_targets directory") };
        assert!(targets.len() > 10, "found only {} fuzz targets", targets.len());
        for t in &targets {
            let declared = format!("name = \"{0}\"\npath = \"fuzz_targets/{0}.rs\"", t.name);
            assert!(manifest.contains(&declared), "fuzz/Cargo.toml has no [[bin]] for {}", t.name);
            let seeds = fs::read_dir(fuzz_dir.join("corpus").join(&t.name))
                .map(|d| d.flatten().filter(|e| e.path().extension().is_some()).count())
                .unwrap_or(0);
            assert!(seeds > 0, "fuzz/corpus/{}/ has no seed (seeds have a file extension)", t.name);
        }
    }
}
