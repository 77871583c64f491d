//! `rampart ledger verify`, `rampart audit prove` and `rampart audit
//! verify-proof`: checking the tamper-evident ledger from a data directory,
//! from a server, or from an offline proof bundle.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rampart_ledger::fslog::TileReader;
use rampart_ledger::verify::{TileSource, verify_checkpoint, verify_log};
use rampart_ledger::{Checkpoint, Signer, Verifier};

use crate::Global;
use crate::client::ApiClient;

#[derive(Debug, clap::Subcommand)]
pub enum LedgerCmd {
    /// Recompute every leaf and tile hash, check every checkpoint's signature
    /// and consistency; exits non-zero naming the first bad place. Checks the
    /// data directory (--data-dir, default ./rampart-data), or with --server
    /// a running server's ledger over HTTPS.
    Verify(VerifyArgs),
    /// Print the inclusion proof of one entry (by --index or --event-id),
    /// checked against the server's signed checkpoint.
    Inclusion {
        #[arg(long)]
        index: Option<u64>,
        #[arg(long)]
        event_id: Option<String>,
    },
    /// Print the consistency proof from an older checkpoint (a file saved
    /// earlier) to the server's current one, and check it.
    Consistency {
        /// The older signed checkpoint.
        checkpoint: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A checkpoint saved earlier (or held by a witness) that the log must extend.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// The log's verifier key (vkey form), or a file holding it. Defaults to
    /// the data directory's key, or (with --remote) the server's /ledger/key.
    #[arg(long)]
    pub key: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCmd {
    /// Search the audit trail; each result shows its ledger index.
    Search {
        /// The action, e.g. auth.login.failed.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        /// What the action was done to (user name, tenant, token or key id).
        #[arg(long)]
        object: Option<String>,
        /// success, failure or denied.
        #[arg(long)]
        outcome: Option<String>,
        /// From this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Until this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        after: Option<String>,
    },
    /// Write an offline proof bundle (C2SP tlog-proof) that an event is in the ledger.
    Prove {
        event_id: String,
        /// Output file (default: EVENT_ID.tlog-proof).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a proof bundle offline with the log's public key alone.
    VerifyProof {
        file: PathBuf,
        /// The log's verifier key (vkey form), or a file holding it.
        #[arg(long)]
        key: String,
    },
}

/// Reads a vkey given inline or as a file.
fn read_key(key: &str) -> Result<Verifier> {
    let text = if Path::new(key).exists() { std::fs::read_to_string(key)? } else { key.to_owned() };
    Verifier::parse(text.trim()).map_err(|e| anyhow::anyhow!("not a verifier key: {e}"))
}

struct DirSource(PathBuf);

impl TileSource for DirSource {
    async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        tokio::fs::read(self.0.join(path)).await.map_err(|e| e.to_string())
    }
}

struct HttpSource<'a>(&'a ApiClient);

impl TileSource for HttpSource<'_> {
    async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0.get_bytes(&format!("/ledger/{path}")).await.map_err(|e| format!("{e:#}"))
    }
}

fn bar(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("verifying [{bar:40}] {pos}/{len} entries ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if total < 100_000 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

pub async fn ledger(g: &Global, cmd: LedgerCmd) -> Result<()> {
    match cmd {
        LedgerCmd::Verify(args) if g.server.is_some() => verify_remote(g, &args).await,
        LedgerCmd::Verify(args) => verify_dir(g, &args).await,
        LedgerCmd::Inclusion { index, event_id } => inclusion(g, index, event_id).await,
        LedgerCmd::Consistency { checkpoint } => consistency(g, &checkpoint).await,
    }
}

/// The server's key and its current signed checkpoint, verified.
async fn served_checkpoint(client: &ApiClient) -> Result<(Verifier, Checkpoint)> {
    let key = String::from_utf8(client.get_bytes("/ledger/key").await?)?;
    let verifier = Verifier::parse(key.trim()).map_err(|e| anyhow::anyhow!("server key: {e}"))?;
    let note = String::from_utf8(client.get_bytes("/ledger/checkpoint").await?)?;
    let (cp, _) = Checkpoint::open(note.as_bytes(), verifier.name(), std::slice::from_ref(&verifier))
        .map_err(|e| anyhow::anyhow!("the served checkpoint does not verify: {e}"))?;
    Ok((verifier, cp))
}

fn hashes(v: &serde_json::Value) -> Result<Vec<rampart_ledger::merkle::Hash>> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let bytes = data_encoding::BASE64.decode(h.as_str().unwrap_or_default().as_bytes())?;
            rampart_ledger::merkle::Hash::try_from(bytes.as_slice()).context("a proof hash is not 32 bytes")
        })
        .collect()
}

async fn inclusion(g: &Global, index: Option<u64>, event_id: Option<String>) -> Result<()> {
    let client = ApiClient::new(g)?;
    let (_, cp) = served_checkpoint(&client).await?;
    let which = match (index, event_id) {
        (Some(i), None) => format!("index={i}"),
        (None, Some(e)) => format!("event_id={e}"),
        _ => bail!("give exactly one of --index and --event-id"),
    };
    let p = client.get(&format!("/api/v1/ledger/proof/inclusion?{which}&size={}", cp.size)).await?;
    let entry = data_encoding::BASE64.decode(p["entry"].as_str().unwrap_or_default().as_bytes())?;
    let i = p["index"].as_u64().context("index")?;
    rampart_ledger::merkle::verify_inclusion(
        i,
        cp.size,
        &rampart_ledger::merkle::leaf_hash(&entry),
        &hashes(&p["proof"])?,
        &cp.root,
    )
    .map_err(|e| anyhow::anyhow!("FAILED: the proof does not verify against the signed checkpoint: {e}"))?;
    crate::output::object(g.json, &p);
    eprintln!("verified: entry {i} is in the log of {} entries signed by {}", cp.size, cp.origin);
    Ok(())
}

async fn consistency(g: &Global, old: &Path) -> Result<()> {
    let client = ApiClient::new(g)?;
    let (verifier, cp) = served_checkpoint(&client).await?;
    let note = std::fs::read_to_string(old).with_context(|| format!("reading {}", old.display()))?;
    let (old_cp, _) = Checkpoint::open(note.as_bytes(), verifier.name(), std::slice::from_ref(&verifier))
        .map_err(|e| anyhow::anyhow!("{} does not verify: {e}", old.display()))?;
    let p = client.get(&format!("/api/v1/ledger/proof/consistency?first={}&second={}", old_cp.size, cp.size)).await?;
    rampart_ledger::merkle::verify_consistency(old_cp.size, cp.size, &hashes(&p["proof"])?, &old_cp.root, &cp.root)
        .map_err(|e| anyhow::anyhow!("FAILED: the log does not extend {}: {e}", old.display()))?;
    crate::output::object(g.json, &p);
    eprintln!("verified: the log of {} entries extends the one of {} in {}", cp.size, old_cp.size, old.display());
    Ok(())
}

async fn verify_dir(g: &Global, args: &VerifyArgs) -> Result<()> {
    let data = g.data_dir.clone().unwrap_or_else(|| PathBuf::from("./rampart-data"));
    let dir = data.join("ledger");
    if !dir.join("state").exists() {
        bail!("{} holds no ledger", dir.display());
    }
    let verifier = match &args.key {
        Some(k) => read_key(k)?,
        None => {
            let text = std::fs::read_to_string(data.join("secrets/ledger.key")).context("reading the ledger key")?;
            Signer::parse(text.trim()).map_err(|e| anyhow::anyhow!("ledger key: {e}"))?.verifier().clone()
        }
    };
    // A node that crashed leaves its last acknowledged entries in the commit
    // journal; finish its recovery (as its next start would) so they are
    // verified too. A running node holds the log's lock: then only what its
    // durable state covers is checked.
    match rampart_ledger::fslog::FsLog::open(&dir) {
        Ok(log) => drop(log),
        Err(rampart_ledger::fslog::LogError::Busy(_)) => eprintln!(
            "note: a running node holds this ledger; the entries of about its last second are only in its \
             commit journal and are not checked here"
        ),
        Err(e) => bail!("FAILED: {e}"),
    }
    let (size, root) = TileReader::new(&dir).state()?;
    let source = DirSource(dir.clone());
    let pb = bar(size);
    verify_log(&source, size, &root, &mut |n| pb.set_position(n)).await.map_err(|e| anyhow::anyhow!("FAILED: {e}"))?;
    pb.finish_and_clear();
    let origin = verifier.name().to_owned();
    let history = rampart_ledger::service::read_checkpoint_history(&dir)?;
    let mut last = 0u64;
    for (i, note) in history.iter().enumerate() {
        let which = format!("#{i} in the history");
        let cp = verify_checkpoint(&source, &which, note, &origin, std::slice::from_ref(&verifier), size)
            .await
            .map_err(|e| anyhow::anyhow!("FAILED: {e}"))?;
        if cp.size < last {
            bail!("FAILED: checkpoint #{i} in the history shrinks the log from {last} to {}", cp.size);
        }
        last = cp.size;
    }
    let saved = check_saved(&source, &args.checkpoint, &origin, &verifier, size).await?;
    println!(
        "ledger OK: {size} entries, root {}, {} stored checkpoints and {saved} saved checkpoint(s) consistent",
        data_encoding::BASE64.encode(&root),
        history.len()
    );
    Ok(())
}

async fn check_saved(
    source: &impl TileSource,
    files: &[PathBuf],
    origin: &str,
    verifier: &Verifier,
    size: u64,
) -> Result<usize> {
    for file in files {
        let note = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        verify_checkpoint(source, &file.display().to_string(), &note, origin, std::slice::from_ref(verifier), size)
            .await
            .map_err(|e| anyhow::anyhow!("FAILED: {e}"))?;
    }
    Ok(files.len())
}

async fn verify_remote(g: &Global, args: &VerifyArgs) -> Result<()> {
    let client = ApiClient::new(g)?;
    let verifier = match &args.key {
        Some(k) => read_key(k)?,
        None => {
            let text = String::from_utf8(client.get_bytes("/ledger/key").await?)?;
            eprintln!(
                "note: trusting the key the server sent; pin it with --key for a verification that means something"
            );
            Verifier::parse(text.trim()).map_err(|e| anyhow::anyhow!("server key: {e}"))?
        }
    };
    let origin = verifier.name().to_owned();
    let note = String::from_utf8(client.get_bytes("/ledger/checkpoint").await?)?;
    let (cp, _) = Checkpoint::open(note.as_bytes(), &origin, std::slice::from_ref(&verifier))
        .map_err(|e| anyhow::anyhow!("FAILED: the served checkpoint: {e}"))?;
    let source = HttpSource(&client);
    let pb = bar(cp.size);
    verify_log(&source, cp.size, &cp.root, &mut |n| pb.set_position(n))
        .await
        .map_err(|e| anyhow::anyhow!("FAILED: {e}"))?;
    pb.finish_and_clear();
    let saved = check_saved(&source, &args.checkpoint, &origin, &verifier, cp.size).await?;
    println!("ledger OK: {} entries at {}, {saved} saved checkpoint(s) consistent", cp.size, client.base);
    Ok(())
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn audit(g: &Global, cmd: AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Search { kind, actor, object, outcome, since, until, limit, after } => {
            let limit = limit.map(|l| l.to_string());
            let params: Vec<String> = [
                ("kind", kind),
                ("actor", actor),
                ("object", object),
                ("outcome", outcome),
                ("since", since),
                ("until", until),
                ("limit", limit),
                ("after", after),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
            .collect();
            let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
            let page = ApiClient::new(g)?.get(&format!("/api/v1/audit/events{query}")).await?;
            crate::output::list(g.json, &page, &["time", "kind", "outcome", "actor", "object", "ledger_index"]);
            Ok(())
        }
        AuditCmd::Prove { event_id, output } => prove(g, &event_id, output).await,
        AuditCmd::VerifyProof { file, key } => {
            let verifier = read_key(&key)?;
            let bundle = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let proven = rampart_ledger::bundle::verify(&bundle, verifier.name(), std::slice::from_ref(&verifier))
                .map_err(|e| anyhow::anyhow!("FAILED: {e}"))?;
            let event = rampart_ledger::entry::decode_event(&proven.entry);
            println!("proof OK: entry {} of {} in {}", proven.index, proven.checkpoint.size, proven.checkpoint.origin);
            match event {
                Some(e) => println!("{}", serde_json::to_string_pretty(&e)?),
                None => println!("(the entry is not a Rampart event)"),
            }
            Ok(())
        }
    }
}

async fn prove(g: &Global, event_id: &str, output: Option<PathBuf>) -> Result<()> {
    let client = ApiClient::new(g)?;
    let key = String::from_utf8(client.get_bytes("/ledger/key").await?)?;
    let verifier = Verifier::parse(key.trim()).map_err(|e| anyhow::anyhow!("server key: {e}"))?;
    // The checkpoint is signed within a second of an append: wait for one
    // that covers the event.
    for _ in 0..30 {
        let note = String::from_utf8(client.get_bytes("/ledger/checkpoint").await?)?;
        let (cp, _) = Checkpoint::open(note.as_bytes(), verifier.name(), std::slice::from_ref(&verifier))
            .map_err(|e| anyhow::anyhow!("the served checkpoint does not verify: {e}"))?;
        let path = format!("/api/v1/ledger/proof/inclusion?event_id={event_id}&size={}", cp.size);
        match client.get(&path).await {
            Ok(p) => {
                let entry = data_encoding::BASE64.decode(p["entry"].as_str().unwrap_or_default().as_bytes())?;
                let proof = p["proof"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| {
                        let bytes = data_encoding::BASE64.decode(h.as_str().unwrap_or_default().as_bytes())?;
                        rampart_ledger::merkle::Hash::try_from(bytes.as_slice()).context("proof hash")
                    })
                    .collect::<Result<Vec<_>>>()?;
                let index = p["index"].as_u64().context("index")?;
                let bundle = rampart_ledger::bundle::format(&entry, index, &proof, &note);
                rampart_ledger::bundle::verify(&bundle, verifier.name(), std::slice::from_ref(&verifier))
                    .map_err(|e| anyhow::anyhow!("the server's proof does not verify: {e}"))?;
                let out = output.unwrap_or_else(|| PathBuf::from(format!("{event_id}.tlog-proof")));
                std::fs::write(&out, bundle)?;
                eprintln!("wrote {} (entry {index} of {}); verify it with:", out.display(), cp.size);
                eprintln!("  rampart audit verify-proof {} --key '{}'", out.display(), verifier);
                return Ok(());
            }
            Err(e) if e.downcast_ref::<crate::client::ApiFailure>().is_some_and(|f| f.status == 400) => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    bail!("no checkpoint covering {event_id} was signed in time")
}
