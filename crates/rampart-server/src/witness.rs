//! Sends each new checkpoint to the configured witnesses (C2SP tlog-witness
//! `add-checkpoint`) and attaches the cosignatures they return to the
//! checkpoint the node serves, so a client can demand that independent
//! parties have seen the same, consistent log.
//!
//! Each witness is tracked separately: the size it last cosigned (learned
//! from a 409 when unknown) decides which consistency proof goes with the
//! next request. A witness that is down or refuses is logged and retried
//! with the next checkpoint; it never blocks the log.

use std::time::Duration;

use rampart_core::config::WitnessEndpoint;
use rampart_ledger::Ledger;
use rampart_witness::client::{AddOutcome, add_checkpoint, attach_cosignatures};
use rampart_witness::cosignature::{CosignerVerifier, verify_cosignature};

struct Tracked {
    url: String,
    key: CosignerVerifier,
    /// The size this witness last cosigned, as far as we know.
    size: u64,
}

/// Starts the pusher; returns an error if a witness key does not parse.
pub fn spawn(ledger: Ledger, endpoints: &[WitnessEndpoint]) -> anyhow::Result<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut witnesses = Vec::new();
    for w in endpoints {
        let key = CosignerVerifier::parse(&w.key)
            .map_err(|e| anyhow::anyhow!("ledger.witnesses: the key for {} does not parse: {e}", w.url))?;
        witnesses.push(Tracked { url: w.url.clone(), key, size: 0 });
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    tokio::spawn(async move {
        let mut pushed: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(note) = ledger.checkpoint() else { continue };
            let body = note.split("\n\n").next().unwrap_or_default().to_owned();
            if pushed.as_deref() == Some(body.as_str()) {
                continue;
            }
            let size: u64 = body.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0);
            let mut lines = Vec::new();
            for w in &mut witnesses {
                match push(&http, &ledger, w, &note, &body, size).await {
                    Ok(line) => lines.push(line),
                    Err(e) => tracing::warn!(witness = %w.url, error = %e, "witness did not cosign"),
                }
            }
            if !lines.is_empty() {
                match attach_cosignatures(&note, &lines) {
                    Ok(cosigned) => ledger.attach_cosigned(&note, cosigned),
                    Err(e) => tracing::warn!(error = %e, "attaching cosignatures failed"),
                }
            }
            pushed = Some(body);
        }
    });
    Ok(())
}

/// One checkpoint to one witness, retrying once from the size a 409 names.
async fn push(
    http: &reqwest::Client,
    ledger: &Ledger,
    w: &mut Tracked,
    note: &str,
    body: &str,
    size: u64,
) -> anyhow::Result<String> {
    for _ in 0..2 {
        let proof =
            if w.size == 0 || w.size == size { Vec::new() } else { ledger.consistency(w.size, Some(size)).await? };
        match add_checkpoint(http, &w.url, w.size, &proof, note).await? {
            AddOutcome::Cosigned(lines) => {
                let own = lines
                    .iter()
                    .find(|l| verify_cosignature(l, &format!("{body}\n"), &w.key).is_ok())
                    .ok_or_else(|| anyhow::anyhow!("no cosignature from the configured key"))?;
                w.size = size;
                return Ok(own.clone());
            }
            AddOutcome::Conflict { witness_size } if witness_size != w.size && witness_size <= size => {
                w.size = witness_size;
            }
            AddOutcome::Conflict { witness_size } => {
                anyhow::bail!("the witness holds size {witness_size}, which this log cannot extend: a fork?");
            }
        }
    }
    anyhow::bail!("the witness kept answering 409")
}
