//! `cargo xtask bench`: performance figures, each beside the peer or target
//! it is judged against, reported as a ratio.
//!
//! With no subcommand, the foundation's figures:
//!
//! - cold start (first start, which initialises the data directory) and warm
//!   start of the release binary until `/healthz` answers, against the 1 s
//!   target;
//! - idle resident memory, against the 60 MB target;
//! - login throughput and p50/p99 latency over HTTPS, against the peer that
//!   bounds it: bare argon2id verification with the same parameters and the
//!   same concurrency, in-process. The ratio is the share of the hashing
//!   ceiling that the full login (TLS, routing, throttle checks, audit
//!   record, token issue) achieves.
//!
//! `cargo xtask bench kms` measures the KMS (see `kms.rs`); `cargo xtask
//! bench ingest` sustained syslog ingestion against rsyslog (see
//! `ingest.rs`); `cargo xtask bench detect` Sigma evaluation against
//! rsigma (see `detect.rs`); `cargo xtask bench bastion` the SSH bastion
//! against direct OpenSSH to the same sshd (see `bastion.rs`).

mod bastion;
mod detect;
mod ingest;
mod kms;
mod node;
mod sigv4;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use secrecy::SecretString;
use serde_json::{Value, json};

use node::{Node, bar, build_release, median, ms, percentile};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// A benchmark other than the foundation's figures.
    #[command(subcommand)]
    suite: Option<Suite>,
    /// Logins to time.
    #[arg(long, default_value_t = 400)]
    logins: usize,
    /// Concurrent logins in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Starts to time for each of cold and warm start.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Use this binary instead of building `target/release/rampart`.
    #[arg(long)]
    binary: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Suite {
    /// KMS Encrypt, Decrypt and GenerateDataKey throughput and latency, against moto and on SoftHSM2.
    Kms(kms::KmsArgs),
    /// Sustained TCP syslog ingest (durable and indexed), against rsyslog writing the same stream to a file.
    Ingest(ingest::IngestArgs),
    /// Sigma evaluation throughput against rsigma, over a million JSON events.
    Detect(detect::DetectArgs),
    /// The SSH bastion against going straight to the target: scp throughput, time to first output, idle sessions.
    Bastion(bastion::BastionArgs),
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(status) = rerun_optimised()? {
        std::process::exit(status.code().unwrap_or(1));
    }
    match args.suite {
        Some(Suite::Kms(kms)) => return kms::run(kms),
        Some(Suite::Ingest(ingest)) => return ingest::run(ingest),
        Some(Suite::Detect(detect)) => return detect::run(detect),
        Some(Suite::Bastion(bastion)) => return bastion::run(bastion),
        None => {}
    }
    let binary = match args.binary.clone() {
        Some(b) => b,
        None => build_release()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(&binary, &args))
}

/// Set in the environment of the optimised re-run.
const OPTIMISED: &str = "RAMPART_XTASK_OPTIMISED";

/// Runs this same command again from a release build of this crate, when
/// this one is a debug build; `None` when this one is already optimised.
///
/// The clients a benchmark drives the server with (the KMS load generator
/// with its TLS, HTTP and SigV4 work per request, the syslog sender, the
/// login client) share the machine's two cores with the server they
/// measure. `cargo xtask` builds this crate in the dev profile (opt-level 0
/// for it, 1 for its dependencies), where the KMS load generator cost 68 µs
/// of CPU per request (31–36 µs optimised): CPU the server under test did
/// not get.
fn rerun_optimised() -> Result<Option<std::process::ExitStatus>> {
    if !cfg!(debug_assertions) || std::env::var_os(OPTIMISED).is_some() {
        return Ok(None);
    }
    eprintln!("bench: running as a release build of xtask (the clients share the cores with the server)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--release", "--quiet", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        .env(OPTIMISED, "1")
        .status()
        .context("cargo run --release -p xtask")?;
    Ok(Some(status))
}

async fn bench(binary: &Path, args: &BenchArgs) -> Result<()> {
    // Cold and warm starts.
    let pb = bar(args.starts * 2, "starts");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..args.starts {
        let work = tempfile::tempdir()?;
        let (node, t) = Node::start(binary, work.path()).await?;
        cold.push(t);
        node.stop();
        pb.inc(1);
        let (node, t) = Node::start(binary, work.path()).await?;
        warm.push(t);
        node.stop();
        pb.inc(1);
    }
    pb.finish_and_clear();

    // Idle memory and logins on one node.
    let work = tempfile::tempdir()?;
    let (node, _) = Node::start(binary, work.path()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = node.rss_mb()?;
    let admin = node.admin_token().await?;
    let tenant: Value = node
        .client
        .post(format!("{}/api/v1/tenants", node.url))
        .bearer_auth(&admin)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let users = args.concurrency.max(1);
    for i in 0..users {
        let r = node
            .client
            .post(format!("{}/api/v1/users", node.url))
            .bearer_auth(&admin)
            .json(&json!({"username": format!("bench{i}"), "role": "customer_user", "tenant_id": tenant["id"], "password": "benchmark password"}))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("creating bench user: {}", r.text().await?);
        }
    }

    let pb = Arc::new(bar(args.logins, "logins"));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.concurrency {
        let (client, url, next, pb, total) =
            (node.client.clone(), node.url.clone(), next.clone(), pb.clone(), args.logins);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = client
                    .post(format!("{url}/api/v1/auth/login"))
                    .json(&json!({"username": format!("bench{}", w % users), "password": "benchmark password"}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => lat.push(t.elapsed()),
                    Ok(r) => return Err(anyhow::anyhow!("login answered {}", r.status())),
                    Err(e) => return Err(e.into()),
                }
                pb.inc(1);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let login_secs = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    node.stop();
    latencies.sort();
    let login_rate = latencies.len() as f64 / login_secs;

    // The peer: bare argon2id verification, same parameters and concurrency.
    let phc = rampart_auth::password::hash(&SecretString::from("benchmark password"))?;
    let n = args.logins;
    let pb = bar(n, "argon2id");
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..args.concurrency {
            let (phc, next, pb) = (&phc, next.clone(), &pb);
            s.spawn(move || {
                let pw = SecretString::from("benchmark password");
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let _ = rampart_auth::password::verify(&pw, phc);
                    pb.inc(1);
                }
            });
        }
    });
    let argon_rate = n as f64 / started.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let (cold, warm) = (median(cold), median(warm));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("| measure | Rampart | peer or target | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| cold start, first run (median of {}) | {:.0} ms | target 1000 ms | {:.2} |",
        args.starts,
        ms(cold),
        ms(cold) / 1000.0
    );
    println!(
        "| warm start (median of {}) | {:.0} ms | target 1000 ms | {:.2} |",
        args.starts,
        ms(warm),
        ms(warm) / 1000.0
    );
    println!("| idle RSS after 2 s | {idle_rss:.1} MB | target 60 MB | {:.2} |", idle_rss / 60.0);
    println!(
        "| login throughput, {} logins, concurrency {} | {login_rate:.1} /s | argon2id verify alone: {argon_rate:.1} /s | {:.2} |",
        latencies.len(),
        args.concurrency,
        login_rate / argon_rate
    );
    println!(
        "| login latency p50 / p99 | {:.1} / {:.1} ms | argon2id verify alone: {:.1} ms | {:.2} (p50) |",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        1000.0 * args.concurrency as f64 / argon_rate,
        ms(percentile(&latencies, 50.0)) / (1000.0 * args.concurrency as f64 / argon_rate)
    );
    println!("\n{cores} cores; argon2id m=19 MiB, t=2, p=1; release build; HTTPS over loopback.");
    Ok(())
}
