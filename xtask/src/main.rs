//! Developer tasks, run as `cargo xtask TASK`:
//!
//! - `test`: installs what the tests need when run as root and missing
//!   (`oathtool`, `softhsm2`, `logger`, `rsyslog` with its TLS driver, `openssl`, `openssh-server`; the `aws` CLI from PyPI), then runs every test of the workspace. This is the one
//!   test command of the README and of `.ci/run`.
//! - `bench`: builds the release binary and measures cold start, idle memory
//!   and login throughput and latency against their peers; see
//!   `docs/benchmarks.md`.
//!
//! The tidy checks (every file opens with a `//!` paragraph) are ordinary
//! tests of this crate, so `test` runs them too.

mod bench;
mod fuzz;
#[cfg(test)]
mod tidy;

use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what the tests need (as root), then run every test.
    Test {
        /// Extra arguments for the test runner.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the benchmarks and print a report.
    Bench(bench::BenchArgs),
    /// Run the cargo-fuzz targets of `fuzz/` for a while each (nightly flags via RUSTC_BOOTSTRAP=1).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Test { args } => test(&args),
        Task::Bench(args) => bench::run(args),
        Task::Fuzz(args) => fuzz::run(args),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

/// Debian packages the tests use, by the program they provide.
const TOOLS: &[(&str, &str)] = &[
    ("oathtool", "oathtool"),
    ("softhsm2-util", "softhsm2"),
    ("asciinema", "asciinema"),
    ("pg_dump", "postgresql-client"),
    ("logger", "bsdutils"),
    // The syslog listener's mutual-TLS refusals, checked with s_client.
    ("openssl", "openssl"),
    ("rsyslogd", "rsyslog"),
    // Not a program: rsyslog's TLS driver (`command -v` finds the file).
    ("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "rsyslog-gnutls"),
    // The bastion's tests: a real sshd as the target, the real clients.
    ("/usr/sbin/sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("sftp", "openssh-client"),
    ("script", "bsdutils"),
    ("tmux", "tmux"),
];
/// PyPI packages the tests use (real clients), by the program they provide.
const PY_TOOLS: &[(&str, &str)] = &[("aws", "awscli"), ("aws-encryption-cli", "aws-encryption-sdk-cli")];
/// PyPI packages the tests import, by module name.
const PY_MODULES: &[(&str, &str)] = &[
    ("boto3", "boto3"),
    ("tencentcloud.kms.v20190118", "tencentcloud-sdk-python-kms"),
    ("aws_encryption_sdk", "aws-encryption-sdk"),
    ("cryptography", "cryptography"),
    // The ticket desk's email test: a real SMTP server with STARTTLS.
    ("aiosmtpd", "aiosmtpd"),
];

fn install_tools() -> Result<()> {
    let missing: Vec<&str> = TOOLS.iter().filter(|(prog, _)| !have(prog)).map(|(_, pkg)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !have("apt-get") {
        eprintln!("xtask: missing {missing:?}; tests that need them will skip (install them, or run as root)");
        return Ok(());
    }
    eprintln!("xtask: installing {missing:?}");
    let install = || Command::new("apt-get").args(["install", "-y", "--no-install-recommends"]).args(&missing).status();
    if !install().is_ok_and(|s| s.success()) {
        let updated = Command::new("apt-get").arg("update").status().context("apt-get update")?;
        if !updated.success() || !install().context("apt-get install")?.success() {
            bail!("could not install {missing:?}");
        }
    }
    Ok(())
}

fn install_py_tools() -> Result<()> {
    let importable = |m: &str| {
        Command::new("python3").args(["-c", &format!("import {m}")]).output().is_ok_and(|o| o.status.success())
    };
    let mut missing: Vec<&str> = PY_TOOLS.iter().filter(|(prog, _)| !have(prog)).map(|(_, pkg)| *pkg).collect();
    missing.extend(PY_MODULES.iter().filter(|(module, _)| !importable(module)).map(|(_, pkg)| *pkg));
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {missing:?} from PyPI");
    let ok = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(&missing)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("xtask: could not install {missing:?}; tests that need them will skip (or fail in CI)");
    }
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    install_tools()?;
    install_py_tools()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let nextest = Command::new(&cargo).args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    let mut cmd = Command::new(&cargo);
    if nextest {
        cmd.args(["nextest", "run", "--workspace"]);
    } else {
        cmd.args(["test", "--workspace"]);
    }
    // `--no-run` (build only, e.g. to warm a cache) refuses `--no-fail-fast`.
    if !extra.iter().any(|a| a == "--no-run") {
        cmd.arg("--no-fail-fast");
    }
    cmd.args(extra);
    if std::env::var_os("CI").is_some() {
        // In CI a missing PostgreSQL or tool is a failure, not a skip.
        cmd.env("RAMPART_REQUIRE_POSTGRES", "1").env("RAMPART_REQUIRE_TOOLS", "1");
    }
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().context("running the tests")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}
