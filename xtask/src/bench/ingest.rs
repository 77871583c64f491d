//! `cargo xtask bench ingest`: sustained syslog over TCP, 300-byte RFC 5424
//! lines, in one run:
//!
//! 1. Debian's rsyslog receiving the stream (`imtcp`) into a file
//!    (`omfile`, no fsync): this machine's practical ceiling for taking
//!    syslog off the wire at all, the peer;
//! 2. Rampart's release binary, every line parsed, attributed to its
//!    source, appended durably to the ledger (journal fdatasync per batch)
//!    and indexed for search before the connection reads more.
//!
//! The same generated stream, over the same number of connections, goes to
//! both; each is timed from the first byte sent until the last line is
//! stored (rsyslog: in its file; Rampart: durable and indexed, read from
//! `/metrics`). Beside them: the 150,000 events/s target and Vector's
//! published ~360,000 events/s (TCP to a discard sink, no storage) as an
//! anchor. The sender shares the two cores, so each side's CPU is shown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;

use super::kms::cpu_secs;
use super::node::{Node, NodeOptions, build_release};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Lines to send to each receiver.
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
    /// Concurrent TCP connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Leave out the rsyslog peer.
    #[arg(long)]
    no_rsyslog: bool,
    /// Use this binary instead of building `target/release/rampart`.
    #[arg(long)]
    binary: Option<PathBuf>,
}

const LINE: usize = 300;
const TARGET_RATE: f64 = 150_000.0;
const VECTOR_RATE: f64 = 360_000.0;

/// One connection's stream: `n` newline-framed 300-byte RFC 5424 lines.
fn stream(conn: usize, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * LINE);
    for i in 0..n {
        let start = out.len();
        let _ = write!(
            out,
            "<134>1 2026-11-29T12:00:00.000Z bench-{conn:02} benchapp 4242 BENCH - conn={conn} seq={i} \
             user=alice action=GET path=/api/v1/items status=200 bytes=5120 "
        );
        while out.len() - start < LINE - 1 {
            out.push(b'x');
        }
        out.push(b'\n');
    }
    out
}

/// What one receiver achieved.
#[derive(Debug)]
struct Run {
    lines: usize,
    secs: f64,
    /// CPU seconds of the receiver during the run.
    cpu: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.lines as f64 / self.secs
    }
}

/// Sends every stream to `addr`, one connection each, all at once.
async fn send(addr: SocketAddr, streams: &[Vec<u8>]) -> Result<()> {
    let mut tasks = Vec::new();
    for s in streams {
        let data = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(addr).await?;
            for chunk in data.chunks(64 * 1024) {
                tcp.write_all(chunk).await?;
            }
            tcp.shutdown().await?;
            Ok::<_, std::io::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

pub fn run(args: IngestArgs) -> Result<()> {
    let binary = match args.binary.clone() {
        Some(b) => b,
        None => build_release()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(&binary, &args))
}

async fn bench(binary: &Path, args: &IngestArgs) -> Result<()> {
    let per = args.lines / args.connections.max(1);
    let streams: Vec<Vec<u8>> = (0..args.connections.max(1)).map(|c| stream(c, per)).collect();
    let total = per * streams.len();
    eprintln!("bench ingest: {total} lines of {LINE} bytes over {} connections", streams.len());

    let rsyslog = if args.no_rsyslog || !have_rsyslog() {
        if !args.no_rsyslog {
            eprintln!("bench ingest: rsyslogd not found; the peer is left out (apt-get install rsyslog)");
        }
        None
    } else {
        Some(run_rsyslog(&streams, total).await?)
    };
    let (rampart, batches) = run_rampart(binary, &streams, total).await?;

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("| receiver | events/s | time | receiver CPU (cores) | CPU µs/event |");
    println!("|---|---|---|---|---|");
    for (name, run) in [
        ("rsyslog imtcp → omfile (no fsync)", rsyslog.as_ref()),
        ("Rampart: ledger (fdatasync) + index", Some(&rampart)),
    ] {
        if let Some(r) = run {
            println!(
                "| {name} | {:.0} | {:.2} s | {:.2} | {:.1} |",
                r.rate(),
                r.secs,
                r.cpu / r.secs,
                1e6 * r.cpu / r.lines as f64
            );
        }
    }
    println!();
    if let Some(peer) = &rsyslog {
        println!("Rampart / rsyslog: {:.2}", rampart.rate() / peer.rate());
    }
    println!("Rampart / target 150,000 events/s: {:.2}", rampart.rate() / TARGET_RATE);
    println!(
        "Rampart / Vector's published ~360,000 events/s (TCP to discard; anchor): {:.2}",
        rampart.rate() / VECTOR_RATE
    );
    println!("ledger batches: {batches}");
    println!(
        "\n{cores} cores; {total} lines of {LINE} bytes, newline framing, {} TCP connections; release build; the sender shares the cores.",
        streams.len()
    );
    Ok(())
}

fn have_rsyslog() -> bool {
    Command::new("sh").args(["-c", "command -v rsyslogd"]).output().is_ok_and(|o| o.status.success())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Rsyslogd(Child);

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_rsyslog(streams: &[Vec<u8>], total: usize) -> Result<Run> {
    let work = tempfile::tempdir()?;
    let port = free_port()?;
    let out = work.path().join("out.log");
    let conf = work.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{dir}\")\n\
             module(load=\"imtcp\" MaxSessions=\"64\")\n\
             input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             *.* action(type=\"omfile\" file=\"{out}\" template=\"RSYSLOG_FileFormat\")\n",
            dir = work.path().display(),
            out = out.display()
        ),
    )?;
    let child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(work.path().join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting rsyslogd")?;
    let daemon = Rsyslogd(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let up = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if up.elapsed() > Duration::from_secs(10) {
            bail!("rsyslogd did not listen on {addr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The probe connection above sent nothing; rsyslog stores nothing for it.
    let pid = daemon.0.id().to_string();
    let cpu0 = cpu_secs(&pid);
    let started = Instant::now();
    send(addr, streams).await?;
    let mut seen = 0usize;
    let mut read = 0u64;
    loop {
        // Count the file's lines as it grows.
        if let Ok(mut f) = std::fs::File::open(&out) {
            use std::io::{Read, Seek, SeekFrom};
            f.seek(SeekFrom::Start(read))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            read += buf.len() as u64;
            seen += buf.iter().filter(|b| **b == b'\n').count();
        }
        if seen >= total {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("rsyslog stored {seen} of {total} lines in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Run { lines: total, secs, cpu: cpu_secs(&pid) - cpu0 })
}

/// Sum of a metric's samples whose labels contain `filter`.
fn metric(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run_rampart(binary: &Path, streams: &[Vec<u8>], total: usize) -> Result<(Run, String)> {
    let work = tempfile::tempdir()?;
    let (node, _) = Node::start_with(binary, work.path(), &NodeOptions::default()).await?;
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(node.data.join("client.json"))?)?;
    let addr: SocketAddr = info["syslog"]["tcp"].as_str().context("no syslog TCP listener")?.parse()?;
    // Register the senders first (the first line of an unknown sender
    // registers it, which is audited): not part of the sustained rate.
    let warm: Vec<Vec<u8>> = (0..streams.len()).map(|c| stream(c, 1)).collect();
    send(addr, &warm).await?;
    let metrics_url = format!("{}/metrics", node.url);
    let read_metrics = || async {
        let text = node.client.get(&metrics_url).send().await?.text().await?;
        Ok::<_, anyhow::Error>(text)
    };
    let settled = |text: &str, want: f64| {
        metric(text, "rampart_ingest_events_total", "transport=\"tcp\"") >= want
            && metric(text, "rampart_ingest_in_flight", "transport=\"tcp\"") == 0.0
    };
    let base = streams.len() as f64;
    let wait = Instant::now();
    while !settled(&read_metrics().await?, base) {
        if wait.elapsed() > Duration::from_secs(30) {
            bail!("the warm-up lines were not stored");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = node.pid().to_string();
    let cpu0 = cpu_secs(&pid);
    let started = Instant::now();
    send(addr, streams).await?;
    let want = base + total as f64;
    loop {
        let text = read_metrics().await?;
        if settled(&text, want) {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!(
                "Rampart took {} of {total} lines in 15 minutes",
                metric(&text, "rampart_ingest_events_total", "transport=\"tcp\"") - base
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs(&pid) - cpu0;
    let text = read_metrics().await?;
    let count = metric(&text, "rampart_ledger_batch_entries_count", "");
    let sum = metric(&text, "rampart_ledger_batch_entries_sum", "");
    let batches =
        format!("{count:.0} commits, {:.0} entries each on average", if count > 0.0 { sum / count } else { 0.0 });
    node.stop();
    Ok((Run { lines: total, secs, cpu }, batches))
}
