//! The ledger as a running service: one sequencer thread that appends with
//! group commit, a checkpointer that signs a C2SP checkpoint at least every
//! second while the log grows, and the read side (tiles, entries, proofs)
//! that serves only what is committed.
//!
//! Group commit: writers send entries over a bounded channel; the sequencer
//! takes the first waiting entry and every other one already queued (up to
//! [`MAX_BATCH`]), makes the batch durable in one `FsLog::append`, and only
//! then answers each writer with its index. Under load batches grow, so the
//! fsync cost is shared; idle, a lone entry is committed at once. A writer
//! with many entries at once (a syslog connection's ready records) sends
//! them as one request ([`Ledger::append_many`]): they get contiguous
//! indexes and cost the sequencer one channel message and one reply.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoint::Checkpoint;
use crate::fslog::{FsLog, LogError, TileReader};
use crate::merkle::{Hash, leaf_hash};
use crate::note::{Signer, Verifier};
use crate::oracle::{OracleError, consistency_proof_with, inclusion_proof_with};
use crate::reader::LogWriter;
use crate::tile::{TILE_WIDTH, TileRef, level_count, parse_tile_path};

/// The most entries one batch commits.
pub const MAX_BATCH: usize = 4096;
/// Writers waiting beyond this are pushed back (they wait for room).
const QUEUE: usize = 65_536;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger could not make the entry durable: {0}")]
    Storage(String),
    #[error("the ledger is shut down")]
    Closed,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
}

impl From<LogError> for LedgerError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::OutOfRange { .. } => LedgerError::NotFound,
            // An older partial tile, superseded and removed: not served.
            LogError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => LedgerError::NotFound,
            other => LedgerError::Storage(other.to_string()),
        }
    }
}

/// A committed tree head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub root: Hash,
}

enum Request {
    /// One or more entries, committed in the same batch at contiguous
    /// indexes; the reply is the first one's.
    Append { entries: Vec<Vec<u8>>, reply: oneshot::Sender<Result<u64, LedgerError>> },
    /// Commit what is queued before it, stop, and say so.
    Close(oneshot::Sender<()>),
}

/// The running ledger. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Request>,
    head: watch::Receiver<Head>,
    head_tx: Arc<watch::Sender<Head>>,
    reader: TileReader,
    origin: String,
    verifier: Verifier,
    latest: Arc<RwLock<Option<String>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("origin", &self.origin).field("head", &*self.head.borrow()).finish()
    }
}

/// An inclusion proof as served.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub entry: Vec<u8>,
    pub leaf_hash: Hash,
    pub proof: Vec<Hash>,
}

impl Ledger {
    /// Opens the embedded log in `dir` and starts the sequencer and
    /// checkpointer. Must be called inside a tokio runtime.
    pub fn start(dir: &Path, signer: Signer, origin: &str) -> Result<Ledger, LedgerError> {
        let log = FsLog::open(dir)?;
        let reader = log.reader();
        Self::start_with(Box::new(log), reader, dir, signer, origin)
    }

    /// Starts the sequencer over any backend's writer and reader; signed
    /// checkpoints are kept in `checkpoint_dir`.
    pub fn start_with(
        log: Box<dyn LogWriter>,
        reader: TileReader,
        checkpoint_dir: &Path,
        signer: Signer,
        origin: &str,
    ) -> Result<Ledger, LedgerError> {
        fs::create_dir_all(checkpoint_dir).map_err(|e| LedgerError::Storage(e.to_string()))?;
        let (head_tx, head) = watch::channel(Head { size: log.size(), root: log.root() });
        let head_tx = Arc::new(head_tx);
        let (tx, rx) = mpsc::channel(QUEUE);
        let seq_head = head_tx.clone();
        std::thread::Builder::new()
            .name("ledger-sequencer".into())
            .spawn(move || sequence(log, rx, &seq_head))
            .map_err(|e| LedgerError::Storage(format!("starting the sequencer: {e}")))?;
        let latest = Arc::new(RwLock::new(fs::read_to_string(checkpoint_dir.join("checkpoint")).ok()));
        let ledger = Ledger {
            tx,
            head,
            head_tx,
            reader,
            origin: origin.to_owned(),
            verifier: signer.verifier().clone(),
            latest,
        };
        // The checkpointer holds no sender: once every handle is gone (or
        // `close` ran) the sequencer stops and releases the log.
        let watch = Watch {
            alive: ledger.tx.downgrade(),
            head: ledger.head.clone(),
            head_tx: ledger.head_tx.clone(),
            reader: ledger.reader.clone(),
            origin: ledger.origin.clone(),
            latest: ledger.latest.clone(),
        };
        tokio::spawn(checkpointer(watch, checkpoint_dir.to_owned(), signer));
        Ok(ledger)
    }

    /// Appends one entry; resolves with its index once it is durable.
    pub async fn append(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        self.append_many(vec![entry]).await
    }

    /// Appends `entries` together: they are committed in one batch, at
    /// contiguous indexes, all or none. Resolves with the first index once
    /// they are durable. At most [`MAX_BATCH`] entries; none may be too
    /// large; an empty list is refused (it would have no index).
    pub async fn append_many(&self, entries: Vec<Vec<u8>>) -> Result<u64, LedgerError> {
        if entries.is_empty() || entries.len() > MAX_BATCH {
            return Err(LedgerError::BadRequest(format!(
                "a batch holds 1 to {MAX_BATCH} entries, not {}",
                entries.len()
            )));
        }
        if let Some(big) = entries.iter().find(|e| e.len() > crate::fslog::MAX_ENTRY) {
            return Err(LedgerError::BadRequest(format!("entry of {} bytes is too large", big.len())));
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Append { entries, reply }).await.map_err(|_| LedgerError::Closed)?;
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// Stops the sequencer once what is queued is committed, and waits for
    /// it to release the log (the embedded log flushes its tiles and empties
    /// its journal). Appends through any handle fail with
    /// [`LedgerError::Closed`] afterwards.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.tx.send(Request::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }

    /// The latest committed head.
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// A receiver that sees every new committed head (intermediate heads
    /// may be skipped; read the entries between two heads with
    /// [`Ledger::entries`]). Consumers that follow the log (detection,
    /// replication) wait on it instead of polling.
    pub fn subscribe(&self) -> watch::Receiver<Head> {
        self.head.clone()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key in C2SP vkey form.
    pub fn verifier_key(&self) -> String {
        self.verifier.to_string()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Option<String> {
        self.latest.read().ok().and_then(|c| c.clone())
    }

    /// Replaces the served checkpoint with `cosigned` (the same checkpoint
    /// with witness cosignatures attached), unless a newer one was signed
    /// meanwhile.
    pub fn attach_cosigned(&self, signed: &str, cosigned: String) {
        if let Ok(mut latest) = self.latest.write() {
            let same = latest.as_deref().is_some_and(|l| l.split("\n\n").next() == signed.split("\n\n").next());
            if same {
                *latest = Some(cosigned);
            }
        }
    }

    /// A tile or entry bundle by its path below `tile/`, served only when
    /// the committed log covers it.
    pub async fn tile(&self, path: &str) -> Result<Vec<u8>, LedgerError> {
        let tile = parse_tile_path(path).ok_or(LedgerError::NotFound)?;
        let size = self.head().size;
        let (count, index, width) = match tile {
            TileRef::Hashes { level, index, width } => (level_count(size, level), index, width),
            TileRef::Entries { index, width } => (size, index, width),
        };
        let full = (index + 1) * TILE_WIDTH <= count;
        let served = if full { width == TILE_WIDTH } else { index * TILE_WIDTH + width <= count && width < TILE_WIDTH };
        if !served {
            return Err(LedgerError::NotFound);
        }
        let reader = self.reader.clone();
        let rel = format!("tile/{path}");
        blocking(move || Ok(reader.raw(&rel)?)).await
    }

    /// Entry `index` with its inclusion proof in the tree of `size` (default:
    /// the committed size).
    pub async fn inclusion(&self, index: u64, size: Option<u64>) -> Result<InclusionProof, LedgerError> {
        let size = self.checked_size(size)?;
        if index >= size {
            // Not "not found": the entry may exist and be covered by the
            // next checkpoint, so a client asking against an older size
            // should ask again (`rampart audit prove` does).
            return Err(LedgerError::BadRequest(format!("entry {index} is not in the tree of size {size}")));
        }
        // Tiles are read at the committed size, not `size`: a perfect
        // subtree's hash never changes as the log grows, and the partial
        // tiles of an older size are dropped once superseded, so a proof
        // against an older checkpoint reads the wider tiles.
        let read_at = self.head().size.max(size);
        let reader = self.reader.clone();
        blocking(move || {
            let entry = reader.entry(index, read_at)?;
            let proof = inclusion_proof_with(index, size, &mut |h, k| reader.node(h, k, read_at)).map_err(oracle)?;
            Ok(InclusionProof { index, size, leaf_hash: leaf_hash(&entry), entry, proof })
        })
        .await
    }

    /// Entries `indexes` with their inclusion proofs in the tree of `size`,
    /// in one blocking call that reads each hash tile and entry bundle once:
    /// what an export of many entries asks for.
    pub async fn inclusion_many(&self, indexes: Vec<u64>, size: u64) -> Result<Vec<InclusionProof>, LedgerError> {
        let size = self.checked_size(Some(size))?;
        if let Some(index) = indexes.iter().find(|&&i| i >= size) {
            return Err(LedgerError::BadRequest(format!("entry {index} is not in the tree of size {size}")));
        }
        // As in `inclusion`: read at the committed size.
        let read_at = self.head().size.max(size);
        let reader = self.reader.clone();
        blocking(move || {
            let mut tiles = crate::reader::TileCache::default();
            let mut bundles: std::collections::HashMap<u64, Vec<Vec<u8>>> = std::collections::HashMap::new();
            let mut out = Vec::with_capacity(indexes.len());
            for index in indexes {
                let bundle = index / TILE_WIDTH;
                if let std::collections::hash_map::Entry::Vacant(slot) = bundles.entry(bundle) {
                    let width = if (bundle + 1) * TILE_WIDTH <= read_at { TILE_WIDTH } else { read_at % TILE_WIDTH };
                    let bytes = reader.entry_bundle(bundle, width)?;
                    let entries = crate::batch::bundle_entries(&bytes).unwrap_or_default();
                    slot.insert(entries.iter().map(|e| e.to_vec()).collect());
                }
                let entry = bundles
                    .get(&bundle)
                    .and_then(|b| b.get((index % TILE_WIDTH) as usize))
                    .cloned()
                    .ok_or_else(|| LedgerError::Storage(format!("entry bundle {bundle} lacks entry {index}")))?;
                let proof =
                    inclusion_proof_with(index, size, &mut |h, k| reader.node_cached(h, k, read_at, &mut tiles))
                        .map_err(oracle)?;
                out.push(InclusionProof { index, size, leaf_hash: leaf_hash(&entry), entry, proof });
            }
            Ok(out)
        })
        .await
    }

    /// The committed entries `from..to` (clamped to the committed size),
    /// read a bundle at a time.
    pub async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let size = self.head().size;
        let to = to.min(size);
        let reader = self.reader.clone();
        blocking(move || {
            let mut out = Vec::new();
            let mut at = from;
            while at < to {
                let bundle = at / TILE_WIDTH;
                let width = if (bundle + 1) * TILE_WIDTH <= size { TILE_WIDTH } else { size % TILE_WIDTH };
                let bytes = reader.entry_bundle(bundle, width)?;
                let entries = crate::batch::bundle_entries(&bytes).unwrap_or_default();
                let start = (at % TILE_WIDTH) as usize;
                let end = (to - bundle * TILE_WIDTH).min(width) as usize;
                let slice = entries.get(start..end).ok_or_else(|| {
                    LedgerError::Storage(format!("entry bundle {bundle} holds fewer than {end} entries"))
                })?;
                out.extend(slice.iter().map(|e| e.to_vec()));
                at = bundle * TILE_WIDTH + end as u64;
            }
            Ok(out)
        })
        .await
    }

    /// The consistency proof between two committed sizes.
    pub async fn consistency(&self, size1: u64, size2: Option<u64>) -> Result<Vec<Hash>, LedgerError> {
        let size2 = self.checked_size(size2)?;
        if size1 == 0 || size1 > size2 {
            return Err(LedgerError::BadRequest(format!("need 0 < first ({size1}) <= second ({size2})")));
        }
        // As for inclusion: read at the committed size.
        let read_at = self.head().size.max(size2);
        let reader = self.reader.clone();
        blocking(move || consistency_proof_with(size1, size2, &mut |h, k| reader.node(h, k, read_at)).map_err(oracle))
            .await
    }

    fn checked_size(&self, size: Option<u64>) -> Result<u64, LedgerError> {
        let committed = self.head().size;
        match size {
            None => Ok(committed),
            Some(s) if s <= committed && s > 0 => Ok(s),
            Some(s) => Err(LedgerError::BadRequest(format!("tree size {s} is not between 1 and {committed}"))),
        }
    }
}

fn oracle(e: OracleError<LogError>) -> LedgerError {
    match e {
        OracleError::Proof(p) => LedgerError::BadRequest(p.to_string()),
        OracleError::Oracle(l) => LedgerError::from(l),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, LedgerError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| LedgerError::Storage(e.to_string()))?
}

/// Moves the head forward (never back: another node, or the refresher,
/// may already have seen a larger committed log).
fn advance(head: &watch::Sender<Head>, new: Head) {
    head.send_if_modified(|h| {
        let newer = new.size > h.size;
        if newer {
            *h = new;
        }
        newer
    });
}

/// The sequencer loop: batch whatever is queued, commit, answer.
fn sequence(mut log: Box<dyn LogWriter>, mut rx: mpsc::Receiver<Request>, head: &watch::Sender<Head>) {
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        let mut entries = Vec::new();
        // Each writer's reply and how many entries it sent.
        let mut replies = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append { entries: mut more, reply } => {
                    replies.push((reply, more.len() as u64));
                    entries.append(&mut more);
                }
                Request::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if entries.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !entries.is_empty() {
            commit(log.as_mut(), &entries, replies, head);
        }
        if closing.is_some() {
            break;
        }
    }
    rx.close();
    drop(log);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn commit(
    log: &mut dyn LogWriter,
    entries: &[Vec<u8>],
    replies: Vec<(oneshot::Sender<Result<u64, LedgerError>>, u64)>,
    head: &watch::Sender<Head>,
) {
    let started = std::time::Instant::now();
    let appended = log.append(entries);
    metrics::histogram!("rampart_ledger_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("rampart_ledger_batch_entries").record(entries.len() as f64);
    match appended {
        Ok(first_index) => {
            advance(head, Head { size: log.size(), root: log.root() });
            let mut index = first_index;
            for (reply, count) in replies {
                let _ = reply.send(Ok(index));
                index += count;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, entries = entries.len(), "ledger append failed; nothing acknowledged");
            for (reply, _) in replies {
                let _ = reply.send(Err(LedgerError::Storage(e.to_string())));
            }
        }
    }
}

/// What the checkpointer needs of a ledger, without keeping it open.
struct Watch {
    alive: mpsc::WeakSender<Request>,
    head: watch::Receiver<Head>,
    head_tx: Arc<watch::Sender<Head>>,
    reader: TileReader,
    origin: String,
    latest: Arc<RwLock<Option<String>>>,
}

impl Watch {
    fn head(&self) -> Head {
        *self.head.borrow()
    }

    fn closed(&self) -> bool {
        self.alive.upgrade().is_none_or(|tx| tx.is_closed())
    }
}

/// Signs a checkpoint whenever the log has grown, at most once a second,
/// and records each in `checkpoint` and the `checkpoints` history.
async fn checkpointer(ledger: Watch, dir: PathBuf, signer: Signer) {
    let mut signed: Option<u64> =
        ledger.latest.read().ok().and_then(|c| c.as_ref().and_then(|c| c.lines().nth(1).and_then(|l| l.parse().ok())));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // With a shared database, other nodes append too: follow them.
        let reader = ledger.reader.clone();
        if let Ok(Ok((size, root))) = tokio::task::spawn_blocking(move || reader.state()).await {
            advance(&ledger.head_tx, Head { size, root });
        }
        let head = ledger.head();
        if signed == Some(head.size) {
            if ledger.closed() {
                return;
            }
            continue;
        }
        let note = match Checkpoint::new(&ledger.origin, head.size, head.root).and_then(|c| c.sign(&signer)) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "signing a checkpoint failed");
                continue;
            }
        };
        let dir = dir.clone();
        let text = note.clone();
        let saved = tokio::task::spawn_blocking(move || save_checkpoint(&dir, &text)).await;
        match saved {
            Ok(Ok(())) => {
                if let Ok(mut latest) = ledger.latest.write() {
                    *latest = Some(note);
                }
                signed = Some(head.size);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "saving a checkpoint failed"),
            Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
        }
    }
}

/// Appends the checkpoint to the history (length-prefixed) and replaces the
/// latest one, both durably.
fn save_checkpoint(dir: &Path, note: &str) -> std::io::Result<()> {
    let mut history = OpenOptions::new().create(true).append(true).open(dir.join("checkpoints"))?;
    let len = u32::try_from(note.len()).unwrap_or(u32::MAX);
    history.write_all(&len.to_be_bytes())?;
    history.write_all(note.as_bytes())?;
    history.sync_all()?;
    rampart_core::secret::write_private_atomic(&dir.join("checkpoint"), note.as_bytes())?;
    Ok(())
}

/// Reads the checkpoint history written by the checkpointer.
pub fn read_checkpoint_history(dir: &Path) -> std::io::Result<Vec<String>> {
    let bytes = match fs::read(dir.join("checkpoints")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((len, tail)) = rest.split_at_checked(4) {
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some((note, tail)) = tail.split_at_checked(n) else { break };
        out.push(String::from_utf8_lossy(note).into_owned());
        rest = tail;
    }
    Ok(out)
}
