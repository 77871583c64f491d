//! The load generator: one cell is one operation at one concurrency against
//! one endpoint, run by that many workers, each with its own keep-alive
//! connection, sending its next request as soon as the previous answer has
//! been read in full (a closed loop, as an application's request threads
//! would). Latencies are kept whole and sorted for the percentiles; CPU
//! time of this process and of the server is read from `/proc` around the
//! cell, because both share the machine's cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::super::node::percentile;
use super::client::{Endpoint, Op};

/// When a cell ends: after `duration`, or after `ops` operations if sooner.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub duration: Duration,
    pub ops: Option<u64>,
}

/// What one cell measured.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Successful operations in the timed window.
    pub ops: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub secs: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Cores kept busy by the load generator and by the server.
    pub client_cores: f64,
    pub server_cores: f64,
    /// The server's own mean request time, where it exports one.
    pub server_mean: Option<Duration>,
}

impl Cell {
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 { self.ops as f64 / self.secs } else { 0.0 }
    }
}

/// Runs one cell. Each worker first sends one untimed request, so that
/// connection set-up (the TLS handshake, for Rampart) is not counted; then
/// all start together.
pub async fn run_cell(
    endpoint: &Arc<Endpoint>,
    clients: &[reqwest::Client],
    op: Op,
    bodies: &Arc<Vec<String>>,
    concurrency: usize,
    limits: Limits,
    server_pid: u32,
) -> Result<Cell> {
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let client = clients.get(w % clients.len().max(1)).cloned().context("no clients")?;
        let (endpoint, bodies, barrier, issued) = (endpoint.clone(), bodies.clone(), barrier.clone(), issued.clone());
        workers.push(tokio::spawn(async move {
            let body = bodies.get(w % bodies.len().max(1)).cloned().unwrap_or_default();
            let warm = endpoint.call(&client, op.name(), &body).await;
            barrier.wait().await;
            warm.with_context(|| format!("warm-up {} request", op.name()))?;
            let deadline = Instant::now() + limits.duration;
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            while Instant::now() < deadline && limits.ops.is_none_or(|n| issued.fetch_add(1, Ordering::Relaxed) < n) {
                let t = Instant::now();
                match endpoint.call(&client, op.name(), &body).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            Ok::<_, anyhow::Error>((lat, errors, first_error))
        }));
    }
    let (client_cpu, server_cpu) = (cpu_secs("self"), cpu_secs(&server_pid.to_string()));
    barrier.wait().await;
    let started = Instant::now();
    let mut cell = Cell::default();
    let mut latencies = Vec::new();
    for worker in workers {
        let (lat, errors, first_error) = worker.await??;
        latencies.extend(lat);
        cell.errors += errors;
        if cell.first_error.is_none() {
            cell.first_error = first_error;
        }
    }
    cell.secs = started.elapsed().as_secs_f64();
    cell.client_cores = (cpu_secs("self") - client_cpu) / cell.secs;
    cell.server_cores = (cpu_secs(&server_pid.to_string()) - server_cpu) / cell.secs;
    latencies.sort_unstable();
    cell.ops = latencies.len();
    cell.p50 = percentile(&latencies, 50.0);
    cell.p99 = percentile(&latencies, 99.0);
    Ok(cell)
}

/// User plus system CPU seconds of a process (`self` or a pid), from
/// `/proc/PID/stat`; 0 when it cannot be read. Linux reports them in ticks
/// of 1/100 s on every platform Rampart targets.
pub fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The command name, field 2, may contain spaces; the fields after its
    // closing parenthesis start at field 3, so utime (14) and stime (15)
    // are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    ticks as f64 / 100.0
}
