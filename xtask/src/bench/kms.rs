//! `cargo xtask bench kms`: Encrypt (256 bytes with an encryption context),
//! Decrypt and GenerateDataKey (AES_256) throughput and latency at several
//! concurrencies, in one run, side by side:
//!
//! 1. Rampart, release binary, software keystore, HTTPS and SigV4;
//! 2. moto's server, the KMS emulator developers run, on plain HTTP with the
//!    same signed requests: the peer;
//! 3. Rampart with its root key in a SoftHSM2 token (PKCS#11), against the
//!    software keystore.
//!
//! Beside them it prints the targets (30,000 Encrypt/s and p99 ≤ 5 ms at
//! concurrency 64 on a 2-core machine; SoftHSM ≥ 80 % of software) and
//! Cosmian KMS's published figure as an anchor. The load generator runs on
//! the same cores as the server, so it also reports the CPU each side used.

mod client;
mod load;
mod peers;

pub(super) use load::cpu_secs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::node::{Node, NodeOptions, build_release, ms};
use client::{Endpoint, Op};
use load::{Cell, Limits};

#[derive(Debug, clap::Args)]
pub struct KmsArgs {
    /// Seconds each cell (one operation at one concurrency on one server) runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// End a cell after this many operations if that comes before --seconds.
    #[arg(long)]
    ops: Option<u64>,
    /// Concurrencies to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Leave out the moto peer.
    #[arg(long)]
    no_moto: bool,
    /// Leave out the SoftHSM2 run.
    #[arg(long)]
    no_softhsm: bool,
    /// Use this binary instead of building `target/release/rampart`.
    #[arg(long)]
    binary: Option<PathBuf>,
}

/// How many distinct ciphertexts the Decrypt workers share.
const DECRYPT_BLOBS: usize = 16;
const TARGET_ENCRYPT_RATE: f64 = 30_000.0;
const TARGET_P99_MS: f64 = 5.0;
const TARGET_HSM_SHARE: f64 = 0.80;

/// What one server gave: its cells, keyed by operation and concurrency, and
/// its resident memory after the run; or why it did not run.
#[derive(Debug)]
enum Outcome {
    Ran { cells: BTreeMap<(usize, usize), Cell>, rss_mb: Option<f64> },
    Skipped(String),
}

impl Outcome {
    fn cell(&self, op: Op, concurrency: usize) -> Option<&Cell> {
        match self {
            Outcome::Ran { cells, .. } => cells.get(&(op_index(op), concurrency)),
            Outcome::Skipped(_) => None,
        }
    }
}

fn op_index(op: Op) -> usize {
    Op::ALL.iter().position(|o| *o == op).unwrap_or(0)
}

pub fn run(mut args: KmsArgs) -> Result<()> {
    args.concurrency.retain(|c| *c > 0);
    if args.concurrency.is_empty() || args.seconds <= 0.0 {
        anyhow::bail!("give at least one concurrency above 0 and a positive --seconds");
    }
    let binary = match args.binary.clone() {
        Some(b) => b,
        None => build_release()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(&binary, &args))
}

fn progress(cells: usize) -> ProgressBar {
    let pb = ProgressBar::new(cells as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>34} [{bar:30}] {pos}/{len} cells {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

async fn bench(binary: &Path, args: &KmsArgs) -> Result<()> {
    let per_server = Op::ALL.len() * args.concurrency.len();
    let pb = progress(per_server * 3);
    let work = tempfile::tempdir()?;

    let software = rampart_run(binary, &work.path().join("software"), &NodeOptions::default(), args, &pb, "Rampart")
        .await
        .context("Rampart, software keystore")?;

    let moto = if args.no_moto {
        pb.inc(per_server as u64);
        Outcome::Skipped("skipped: --no-moto".into())
    } else {
        pb.set_message("starting moto");
        match peers::Moto::start(work.path()).await {
            // The Rampart figures are still worth printing without the peer.
            Err(e) => {
                pb.inc(per_server as u64);
                Outcome::Skipped(format!("skipped: {e:#}"))
            }
            Ok(moto) => {
                // moto checks no signature, so any well-formed credential
                // will do; the request is still signed, as an SDK would.
                let creds = super::sigv4::Credentials { id: "AKIAMOTOBENCH".into(), secret: "moto".into() };
                let endpoint = Endpoint::new(&moto.url, creds, None)?;
                let cells = measure(endpoint, moto.pid(), None, args, &pb, "moto").await.context("moto")?;
                let rss_mb = super::node::rss_mb(moto.pid()).ok();
                drop(moto);
                Outcome::Ran { cells, rss_mb }
            }
        }
    };

    let hsm = if args.no_softhsm {
        pb.inc(per_server as u64);
        Outcome::Skipped("skipped: --no-softhsm".into())
    } else {
        match peers::softhsm(binary, work.path())? {
            peers::Hsm::Skipped(why) => {
                pb.inc(per_server as u64);
                Outcome::Skipped(why)
            }
            peers::Hsm::Ready(options) => {
                rampart_run(binary, &work.path().join("softhsm-node"), &options, args, &pb, "Rampart SoftHSM")
                    .await
                    .context("Rampart, PKCS#11 keystore on SoftHSM2")?
            }
        }
    };
    pb.finish_and_clear();
    report(args, &software, &moto, &hsm);
    Ok(())
}

/// Starts a node, sets up a KMS user and key, measures every cell and
/// stops the node, reporting its RSS after the run.
async fn rampart_run(
    binary: &Path,
    work: &Path,
    options: &NodeOptions,
    args: &KmsArgs,
    pb: &ProgressBar,
    label: &str,
) -> Result<Outcome> {
    std::fs::create_dir_all(work)?;
    pb.set_message(format!("starting {label}"));
    let (node, _) = Node::start_with(binary, work, options).await?;
    let creds = client::rampart_credentials(&node).await?;
    let endpoint = Endpoint::new(&node.url, creds, Some(node.ca()?))?;
    let cells = measure(endpoint, node.pid(), Some(&node), args, pb, label).await?;
    let rss_mb = node.rss_mb().ok();
    node.stop();
    Ok(Outcome::Ran { cells, rss_mb })
}

/// Runs every operation at every concurrency against one endpoint. For a
/// Rampart node it also reads the server's own request time from
/// `/metrics` around each cell.
async fn measure(
    mut endpoint: Endpoint,
    server_pid: u32,
    node: Option<&Node>,
    args: &KmsArgs,
    pb: &ProgressBar,
    label: &str,
) -> Result<BTreeMap<(usize, usize), Cell>> {
    endpoint.create_key().await?;
    let endpoint = Arc::new(endpoint);
    let most = args.concurrency.iter().copied().max().unwrap_or(1);
    let clients = (0..most).map(|_| endpoint.client()).collect::<Result<Vec<_>>>()?;
    let limits = Limits { duration: Duration::from_secs_f64(args.seconds), ops: args.ops };
    let mut cells = BTreeMap::new();
    for op in Op::ALL {
        let bodies = Arc::new(endpoint.bodies(op, DECRYPT_BLOBS).await?);
        for &concurrency in &args.concurrency {
            pb.set_message(format!("{label} {} ×{concurrency}", op.name()));
            let before = match node {
                Some(n) => server_time(n).await,
                None => None,
            };
            let mut cell = load::run_cell(&endpoint, &clients, op, &bodies, concurrency, limits, server_pid).await?;
            if let (Some(n), Some((sum0, count0))) = (node, before)
                && let Some((sum1, count1)) = server_time(n).await
                && count1 > count0
            {
                cell.server_mean = Some(Duration::from_secs_f64((sum1 - sum0) / (count1 - count0)));
            }
            if let Some(e) = &cell.first_error {
                pb.suspend(|| eprintln!("{label} {} ×{concurrency}: {} errors, first: {e}", op.name(), cell.errors));
            }
            cells.insert((op_index(op), concurrency), cell);
            pb.inc(1);
        }
    }
    Ok(cells)
}

/// The sum of seconds and the count of `POST /` requests the server has
/// timed itself, from its Prometheus metrics.
async fn server_time(node: &Node) -> Option<(f64, f64)> {
    let text = node.client.get(format!("{}/metrics", node.url)).send().await.ok()?.text().await.ok()?;
    let value = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains("route=\"/\"") && l.contains("method=\"POST\""))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum::<f64>()
    };
    Some((value("rampart_http_request_duration_seconds_sum{"), value("rampart_http_request_duration_seconds_count{")))
}

fn rate(cell: Option<&Cell>) -> String {
    match cell {
        Some(c) if c.errors > 0 => format!("{:.0} ({} errors)", c.rate(), c.errors),
        Some(c) => format!("{:.0}", c.rate()),
        None => "-".into(),
    }
}

fn lat(cell: Option<&Cell>) -> String {
    cell.map_or("-".into(), |c| format!("{:.2} / {:.2}", ms(c.p50), ms(c.p99)))
}

fn ratio(a: Option<&Cell>, b: Option<&Cell>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.rate() > 0.0 => format!("{:.2}", a.rate() / b.rate()),
        _ => "-".into(),
    }
}

fn cpu(cell: Option<&Cell>) -> String {
    cell.map_or("-".into(), |c| format!("{:.2} / {:.2}", c.client_cores, c.server_cores))
}

/// Server CPU time per operation: what the server would cost with no
/// waiting at all.
fn cpu_per_op(cell: Option<&Cell>) -> String {
    match cell {
        Some(c) if c.rate() > 0.0 => format!("{:.2}", 1000.0 * c.server_cores / c.rate()),
        _ => "-".into(),
    }
}

fn server_mean(cell: Option<&Cell>) -> String {
    cell.and_then(|c| c.server_mean).map_or("-".into(), |d| format!("{:.2}", ms(d)))
}

fn report(args: &KmsArgs, software: &Outcome, moto: &Outcome, hsm: &Outcome) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "| operation | conc. | Rampart ops/s | p50 / p99 ms | moto ops/s | p50 / p99 ms | Rampart/moto | SoftHSM ops/s | p50 / p99 ms | SoftHSM/software |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for op in Op::ALL {
        for &c in &args.concurrency {
            let (s, m, h) = (software.cell(op, c), moto.cell(op, c), hsm.cell(op, c));
            println!(
                "| {} | {c} | {} | {} | {} | {} | {} | {} | {} | {} |",
                op.name(),
                rate(s),
                lat(s),
                rate(m),
                lat(m),
                ratio(s, m),
                rate(h),
                lat(h),
                ratio(h, s)
            );
        }
    }
    println!(
        "\nServer's own mean time per request (from its /metrics) and CPU used during each cell, in cores of {cores} (load generator / server):\n"
    );
    println!(
        "| operation | conc. | Rampart server mean ms | Rampart CPU | Rampart server CPU ms/op | moto CPU | moto CPU ms/op | SoftHSM server mean ms | SoftHSM CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for op in Op::ALL {
        for &c in &args.concurrency {
            let (s, m, h) = (software.cell(op, c), moto.cell(op, c), hsm.cell(op, c));
            println!(
                "| {} | {c} | {} | {} | {} | {} | {} | {} | {} |",
                op.name(),
                server_mean(s),
                cpu(s),
                cpu_per_op(s),
                cpu(m),
                cpu_per_op(m),
                server_mean(h),
                cpu(h)
            );
        }
    }

    println!();
    let top = args.concurrency.iter().copied().max().unwrap_or(1);
    if let Some(e) = software.cell(Op::Encrypt, top) {
        println!(
            "- Target, Encrypt at concurrency {top}: {:.0} ops/s against 30,000 ({:.3} of target); p99 {:.2} ms against 5 ms ({}).",
            e.rate(),
            e.rate() / TARGET_ENCRYPT_RATE,
            ms(e.p99),
            if ms(e.p99) <= TARGET_P99_MS { "met" } else { "missed" }
        );
    }
    let shares: Vec<f64> = Op::ALL
        .iter()
        .flat_map(|op| args.concurrency.iter().map(move |c| (*op, *c)))
        .filter_map(|(op, c)| match (hsm.cell(op, c), software.cell(op, c)) {
            (Some(h), Some(s)) if s.rate() > 0.0 => Some(h.rate() / s.rate()),
            _ => None,
        })
        .collect();
    match hsm {
        Outcome::Skipped(why) => println!("- SoftHSM2 (PKCS#11) run: {why}"),
        Outcome::Ran { .. } if !shares.is_empty() => {
            let worst = shares.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "- Target, SoftHSM ≥ 80 % of software: worst cell {:.0} % ({}).",
                worst * 100.0,
                if worst >= TARGET_HSM_SHARE { "met" } else { "missed" }
            );
        }
        Outcome::Ran { .. } => {}
    }
    if let Outcome::Skipped(why) = moto {
        println!("- moto: {why}");
    }
    if let Some(e) = software.cell(Op::Encrypt, 16) {
        println!(
            "- Anchor: Cosmian KMS publishes 105,000 req/s at concurrency 16 on 24 cores (about 4,400 per core); \
             Rampart Encrypt at concurrency 16 here: {:.0} ops/s on {cores} cores shared with the load generator \
             ({:.0} per core).",
            e.rate(),
            e.rate() / cores.max(1) as f64
        );
    }
    let rss = |o: &Outcome| match o {
        Outcome::Ran { rss_mb: Some(mb), .. } => format!("{mb:.1} MB"),
        _ => "-".into(),
    };
    println!(
        "- RSS after the run: Rampart (software) {}, Rampart (SoftHSM) {}, moto {}.",
        rss(software),
        rss(hsm),
        rss(moto)
    );
    println!(
        "\n{cores} cores; {} s per cell{}; 256-byte plaintext with a 3-pair encryption context; one keep-alive \
         HTTP/1.1 connection per worker; every request SigV4-signed when sent; Rampart over HTTPS (TLS 1.3, loopback), \
         moto over plain HTTP; the load generator shares the cores with the server.",
        args.seconds,
        args.ops.map_or(String::new(), |n| format!(" or {n} operations"))
    );
}
