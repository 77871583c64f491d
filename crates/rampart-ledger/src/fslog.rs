//! The embedded log store: entries and hashes in the data directory in the
//! C2SP tlog-tiles layout, made durable before anything is acknowledged.
//!
//! ```text
//! ledger/state                       durable size and root (all files it names are synced)
//! ledger/journal/<FIRST>             commit journal segments (see `journal`)
//! ledger/tile/<L>/<N>[.p/<W>]        hash tiles
//! ledger/tile/entries/<N>[.p/<W>]    entry bundles (u16 big-endian length + bytes, each)
//! ledger/lock                        held by the one process that appends
//! ```
//!
//! One append costs one `fdatasync` of data alone. The batch's record (its
//! entries and the new root) is written into the current journal segment
//! and synced: that is the commit, and only then is anything acknowledged.
//! Segments are zero-filled ahead of the records (best effort, 64 KiB to
//! 4 MiB at a time), so a commit overwrites blocks the file already has and its sync
//! flushes those blocks only, with no file-system metadata to commit: on
//! this project's ext4 test machine 0.1 to 0.2 ms, where an append that grows
//! the file takes 2 ms. The tiles and bundles the batch completes or extends
//! stay in memory ([`Pending`]), where readers find them, until a flush
//! writes them: writing each batch's partial tiles as files (they are
//! superseded by the next batch's) cost every commit the file system's
//! journal as well, about 1 ms more on the same machine. A failure before
//! the commit leaves nothing committed, and the in-memory state stays at
//! the last commit.
//!
//! About once a second, off the acknowledgement path, a flusher thread
//! makes the tiles durable: the sequencer cuts the journal (opens a new
//! segment) and hands over the files committed since the last flush, and
//! the flusher writes those the cut still needs (not the partial files
//! superseded meanwhile), fsyncs them and their directories, writes `state`
//! at the cut, and only then removes the segments and the partial files
//! that state no longer needs, and drops what it wrote from memory. Opening
//! the log restores `state` and replays every journal record past it,
//! writing its files and syncing them, so a crash at any moment loses
//! nothing that was acknowledged. A record cut short at the very end of the
//! journal (a write the crash interrupted, never acknowledged) is dropped;
//! a bad record with records after it is corruption, and opening refuses.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::time::{Duration, Instant};

use crate::batch::TileState;
pub use crate::batch::{LogError, MAX_ENTRY, bundle_entries, tile_hashes};
use crate::journal;
use crate::merkle::{Hash, empty_root};
pub use crate::reader::TileReader;
use crate::reader::{LogWriter, RawRead};

const STATE_MAGIC: &str = "rampart-ledger-state v1";
/// How often the tiles are made durable and the journal cut, at most.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Committed files held in memory that make a flush due before the
/// interval ends, and their bytes.
const FLUSH_FILES: usize = 4096;
const FLUSH_BYTES: usize = 32 << 20;
/// A journal segment this large makes a flush due.
const FLUSH_JOURNAL_BYTES: u64 = 64 << 20;
/// Files (or bytes) waiting for a flush beyond these make the sequencer
/// wait for the flush in progress (back-pressure on a disk slower than the
/// appends, and a bound on the memory they hold).
const MAX_DIRTY_FILES: usize = 65_536;
const MAX_DIRTY_BYTES: usize = 256 << 20;
/// Threads one flush syncs files from.
const SYNC_THREADS: usize = 16;
/// How far ahead of its records a journal segment is zero-filled, at least
/// and at most. A new segment starts with about what its predecessor used
/// (a quiet log cuts a segment for every few entries and should not write
/// megabytes of zeros for each), and a segment that fills grows by what it
/// has, up to the most: a log under load reaches it after a few steps,
/// each one sync that journals the new size.
const SEGMENT_RESERVE_MIN: u64 = 64 << 10;
const SEGMENT_RESERVE_MAX: u64 = 4 << 20;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

/// Files committed since the last flush, in memory until a flush writes
/// them, shared by the sequencer (which adds them when their batch commits)
/// and the log's readers (which look here before the disk). Paths are
/// relative to the log root; a path's bytes never change once written.
#[derive(Debug, Default)]
pub struct Pending(RwLock<HashMap<String, Arc<Vec<u8>>>>);

impl Pending {
    fn get(&self, rel: &str) -> Option<Arc<Vec<u8>>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).get(rel).cloned()
    }

    fn insert(&self, files: Vec<(String, Vec<u8>)>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for (rel, bytes) in files {
            // An `Arc<Vec<u8>>`, not an `Arc<[u8]>`: wrapping moves the
            // bytes where converting would copy them.
            map.insert(rel, Arc::new(bytes));
        }
    }

    /// Drops the files a flush wrote (if they still hold the bytes it
    /// wrote) and the superseded ones it did not need.
    fn remove_flushed(&self, written: &[(&String, Arc<Vec<u8>>)], superseded: &[String]) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for (rel, bytes) in written {
            if map.get(*rel).is_some_and(|held| Arc::ptr_eq(held, bytes)) {
                map.remove(*rel);
            }
        }
        for rel in superseded {
            map.remove(rel);
        }
    }

    fn clear(&self) {
        self.0.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// How many files are held.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Files committed since the last cut, by path below the log root.
#[derive(Debug, Default)]
struct Dirty {
    /// Committed files (held in [`Pending`]) that a flush must write.
    files: Vec<String>,
    /// Their bytes.
    bytes: usize,
    /// Partial files superseded by commits since the last cut: a flush does
    /// not write them, and removes them from disk once `state` has moved
    /// past them.
    superseded: Vec<String>,
}

impl Dirty {
    /// Records a committed batch's files, and puts them where readers look.
    fn hold(&mut self, pending: &Pending, files: Vec<(String, Vec<u8>)>, superseded: Vec<String>) {
        self.files.extend(files.iter().map(|(rel, _)| rel.clone()));
        self.bytes += files.iter().map(|(_, b)| b.len()).sum::<usize>();
        self.superseded.extend(superseded);
        pending.insert(files);
    }
}

/// What the flusher makes durable: everything committed up to `size`.
#[derive(Debug)]
struct FlushJob {
    dir: PathBuf,
    pending: Arc<Pending>,
    dirty: Dirty,
    size: u64,
    root: Hash,
    /// Journal segments holding only records up to `size`.
    segments: Vec<PathBuf>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// The index of its first record.
    first: u64,
    file: File,
    /// Where the next record goes.
    len: u64,
    /// Bytes zero-filled and synced so far: a record within them commits
    /// with a data-only sync.
    allocated: u64,
    /// Cleared when zero-filling failed (a full disk): this segment's
    /// records then extend the file, and its successor tries again.
    reserving: bool,
}

/// The embedded tile log. Owned by the one sequencer that appends to it;
/// readers use [`TileReader`] on the same directory.
#[derive(Debug)]
pub struct FsLog {
    dir: PathBuf,
    state: TileState,
    pending: Arc<Pending>,
    segment: Segment,
    /// Earlier segments, not yet covered by a durable `state`.
    older_segments: Vec<PathBuf>,
    dirty: Dirty,
    last_cut: Instant,
    flusher: mpsc::Sender<FlushJob>,
    flushed: mpsc::Receiver<Result<u64, LogError>>,
    flushing: bool,
    /// Set when a flush or a journal write failed in a way that leaves the
    /// files or the journal in doubt: the next append first rebuilds the
    /// log from `state` and the journal, as opening does.
    needs_recovery: bool,
    abandoned: bool,
    _lock: File,
}

/// Creates `dir` and any missing ancestors below `root`, returning the
/// directories whose entries changed (the parents of those created), which
/// must be synced for the new directories to survive a crash.
fn create_dirs(root: &Path, dir: &Path, changed: &mut BTreeSet<PathBuf>) -> Result<(), LogError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent.starts_with(root) && parent != root {
            create_dirs(root, parent, changed)?;
        }
        changed.insert(parent.to_owned());
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// Runs `f` on every item from up to [`SYNC_THREADS`] threads and returns
/// the first error: fsyncs issued together share the file system's journal
/// commits, where one after another each waits for its own.
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<(), LogError> + Sync) -> Result<(), LogError> {
    match items {
        [] => Ok(()),
        [one] => f(one),
        _ => std::thread::scope(|scope| {
            let chunk = items.len().div_ceil(SYNC_THREADS);
            let f = &f;
            let handles: Vec<_> =
                items.chunks(chunk).map(|part| scope.spawn(move || part.iter().try_for_each(f))).collect();
            handles.into_iter().try_for_each(|h| {
                h.join().map_err(|_| LogError::Backend("an fsync thread panicked".into())).and_then(|r| r)
            })
        }),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Makes a flush durable: writes the job's files (but those superseded
/// within it), syncs them and their directories, then writes `state`, then
/// drops what that state no longer needs, on disk and in memory. Reopening
/// a file to sync it does see an earlier writeback error: since Linux 4.16
/// an error no one has observed is reported to the next fsync through any
/// descriptor.
fn run_flush(job: FlushJob) -> Result<u64, LogError> {
    let started = Instant::now();
    let superseded: HashSet<&String> = job.dirty.superseded.iter().collect();
    let mut dirs = BTreeSet::new();
    let mut files = Vec::new();
    let mut written = Vec::new();
    let mut seen = HashSet::new();
    for rel in &job.dirty.files {
        if superseded.contains(rel) || !seen.insert(rel) {
            continue;
        }
        let bytes = job.pending.get(rel).ok_or_else(|| {
            LogError::Backend(format!("the committed file {rel} is neither flushed nor held in memory"))
        })?;
        files.push(write_file(&job.dir, rel, &bytes, &mut dirs)?);
        written.push((rel, bytes));
    }
    in_parallel(&files, |p| File::open(p).and_then(|f| f.sync_all()).map_err(io(p)))?;
    let dirs: Vec<&PathBuf> = dirs.iter().filter(|d| **d != job.dir).collect();
    in_parallel(&dirs, |d| sync_dir(d))?;
    let state_path = job.dir.join("state");
    let tmp = state_path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(state_text(job.size, &job.root).as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &state_path).map_err(io(&state_path))?;
    sync_dir(&job.dir)?;
    // Past the commit point: what follows only tidies up, and a crash
    // before it is harmless (replay skips records the state covers).
    for rel in &job.dirty.superseded {
        let _ = fs::remove_file(job.dir.join(rel));
    }
    for path in &job.segments {
        let _ = fs::remove_file(path);
    }
    // Readers find these on disk from now on.
    job.pending.remove_flushed(&written, &job.dirty.superseded);
    metrics::histogram!("rampart_ledger_flush_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("rampart_ledger_flush_files").record(files.len() as f64);
    Ok(job.size)
}

fn journal_dir(dir: &Path) -> PathBuf {
    dir.join("journal")
}

/// The journal segments in order of their first index.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let jdir = journal_dir(dir);
    let mut out = BTreeMap::new();
    for item in fs::read_dir(&jdir).map_err(io(&jdir))? {
        let item = item.map_err(io(&jdir))?;
        let name = item.file_name();
        let Some(first) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
            // Not ours (an editor's backup, say): never replayed, never removed.
            continue;
        };
        out.insert(first, item.path());
    }
    Ok(out.into_iter().collect())
}

/// Starts a new, empty segment for records from `first` on, durably named
/// and zero-filled ahead by about `used` (what the previous segment held).
fn new_segment(dir: &Path, first: u64, used: u64) -> Result<Segment, LogError> {
    let jdir = journal_dir(dir);
    let path = jdir.join(format!("{first:020}"));
    let file = OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io(&path))?;
    let mut segment = Segment { path, first, file, len: 0, allocated: 0, reserving: true };
    segment.reserve(used.clamp(SEGMENT_RESERVE_MIN, SEGMENT_RESERVE_MAX));
    sync_dir(&jdir)?;
    Ok(segment)
}

impl Segment {
    /// Zero-fills the segment to at least `len + need` bytes and syncs it,
    /// so records written there commit with a data-only sync. Best effort:
    /// where the space is not there (a full disk), the segment stays as it
    /// was and the record extends the file, committing the slower way.
    fn reserve(&mut self, need: u64) {
        let want = self.len.saturating_add(need);
        if want <= self.allocated || !self.reserving {
            return;
        }
        let step = self.allocated.clamp(SEGMENT_RESERVE_MIN, SEGMENT_RESERVE_MAX);
        let target = want
            .max(self.allocated.saturating_add(step))
            .div_ceil(SEGMENT_RESERVE_MIN)
            .saturating_mul(SEGMENT_RESERVE_MIN);
        // Never over a record: past `allocated` they extend the file.
        let start = self.allocated.max(self.len);
        #[allow(clippy::cast_possible_truncation)] // at most 1 MiB
        let zeros = vec![0u8; (target - start).min(1 << 20) as usize];
        let mut at = start;
        let filled = (|| {
            while at < target {
                let n = (target - at).min(zeros.len() as u64);
                #[allow(clippy::cast_possible_truncation)] // at most the buffer's length
                self.file.write_all_at(&zeros[..n as usize], at)?;
                at += n;
            }
            self.file.sync_data()
        })();
        match filled {
            Ok(()) => {
                self.allocated = target;
                metrics::counter!("rampart_ledger_journal_reserved_bytes_total").increment(target - start);
            }
            Err(e) => {
                // Give back whatever was filled; the records already there
                // are untouched (they end at `len` ≤ `allocated`).
                tracing::warn!(
                    error = %e,
                    path = %self.path.display(),
                    "could not zero-fill the ledger journal ahead; commits extend the segment (slower) until the next"
                );
                self.reserving = false;
                let _ = self.file.set_len(self.allocated.max(self.len));
            }
        }
    }

    /// Writes `record` after the last one and syncs it: the commit.
    fn commit(&mut self, record: &[u8]) -> std::io::Result<()> {
        self.reserve(record.len() as u64);
        self.file.write_all_at(record, self.len)?;
        self.file.sync_data()?;
        self.len += record.len() as u64;
        Ok(())
    }

    /// Takes back a record whose commit failed, so the next one follows the
    /// last commit and replay never sees it: zeros over what was filled,
    /// and the file cut back to what was there before.
    fn take_back(&mut self, len: usize) -> std::io::Result<()> {
        let end = self.len.saturating_add(len as u64).min(self.allocated);
        if end > self.len {
            #[allow(clippy::cast_possible_truncation)] // at most one record's length
            self.file.write_all_at(&vec![0u8; (end - self.len) as usize], self.len)?;
        }
        self.file.set_len(self.allocated.max(self.len))?;
        self.file.sync_data()
    }
}

/// Writes one file into place through the page cache (a new name, then a
/// rename, so a reader of the disk never sees it half written), noting the
/// directories whose entries changed.
fn write_file(dir: &Path, rel: &str, bytes: &[u8], dirs: &mut BTreeSet<PathBuf>) -> Result<PathBuf, LogError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        create_dirs(dir, parent, dirs)?;
        dirs.insert(parent.to_owned());
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// The log rebuilt from disk: `state`, then every journal record past it,
/// with the files those records write (put in `pending`, for a flush to
/// write).
fn rebuild(dir: &Path, pending: &Pending) -> Result<(TileState, Dirty, Vec<PathBuf>), LogError> {
    let (size, root) = read_state(dir)?;
    let mut files = HashMap::new();
    for rel in TileState::partial_paths(size) {
        let path = dir.join(&rel);
        files.insert(rel, fs::read(&path).map_err(io(&path))?);
    }
    let mut state = TileState::restore(size, &root, &files).map_err(|e| match e {
        LogError::Corrupt { path, what } => LogError::Corrupt { path: dir.join(path).display().to_string(), what },
        other => other,
    })?;
    let mut dirty = Dirty::default();
    let segments = list_segments(dir)?;
    let mut torn: Option<String> = None;
    let mut replayed = 0u64;
    for (_, path) in &segments {
        let bytes = fs::read(path).map_err(io(path))?;
        let mut at = 0usize;
        while at < bytes.len() {
            // The zero-filled space ahead of the records: the segment's end.
            if bytes[at..].iter().all(|&b| b == 0) {
                break;
            }
            let corrupt = |what: String| LogError::Corrupt { path: path.display().to_string(), what };
            if let Some(why) = &torn {
                return Err(corrupt(format!("records follow a bad one ({why})")));
            }
            let (record, used) = match journal::read(&bytes[at..]) {
                journal::Read::Record(r, used) => (r, used),
                journal::Read::Torn => {
                    torn = Some(format!("{} bytes at offset {at} are not a whole record", bytes.len() - at));
                    break;
                }
                journal::Read::Malformed(used, what) => {
                    torn = Some(format!("the record at offset {at}: {what}"));
                    at += used;
                    continue;
                }
            };
            let pos = at;
            at += used;
            if record.end() <= state.size() {
                continue; // covered by the durable state
            }
            if record.first != state.size() {
                return Err(corrupt(format!(
                    "the record at offset {pos} starts at entry {} where the log has {}",
                    record.first,
                    state.size()
                )));
            }
            let entries: Vec<Vec<u8>> = record.entries.iter().map(|e| e.to_vec()).collect();
            let (next, batch) = state.apply(&entries)?;
            if next.root() != record.root {
                torn = Some(format!("the record at offset {pos} does not reproduce its root"));
                continue;
            }
            dirty.hold(pending, batch.files, batch.superseded);
            replayed += entries.len() as u64;
            state = next;
        }
    }
    if let Some(why) = torn {
        // Only ever the last write before a crash, which nobody was told
        // had succeeded.
        tracing::warn!(dir = %dir.display(), why, "dropping the unfinished tail of the ledger journal");
    }
    if replayed > 0 {
        tracing::info!(dir = %dir.display(), entries = replayed, size = state.size(), "replayed the ledger journal");
    }
    Ok((state, dirty, segments.into_iter().map(|(_, p)| p).collect()))
}

impl FsLog {
    /// Opens (creating if needed) the log in `dir`: takes its lock, restores
    /// the durable state, checks that the stored tiles reproduce its root,
    /// and replays the journal past it.
    pub fn open(dir: &Path) -> Result<FsLog, LogError> {
        fs::create_dir_all(dir.join("tile")).map_err(io(dir))?;
        fs::create_dir_all(journal_dir(dir)).map_err(io(dir))?;
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io(&lock_path))?;
        lock.try_lock().map_err(|_| LogError::Busy(dir.display().to_string()))?;
        let pending = Arc::new(Pending::default());
        let (state, dirty, segments) = rebuild(dir, &pending)?;
        // Everything replayed becomes durable now, so the log starts with an
        // empty journal.
        let job = FlushJob {
            dir: dir.to_owned(),
            pending: pending.clone(),
            dirty,
            size: state.size(),
            root: state.root(),
            segments,
        };
        run_flush(job)?;
        let segment = new_segment(dir, state.size(), 0)?;
        let (flusher, jobs) = mpsc::channel::<FlushJob>();
        let (done, flushed) = mpsc::channel();
        std::thread::Builder::new()
            .name("ledger-flusher".into())
            .spawn(move || {
                for job in jobs {
                    if done.send(run_flush(job)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| LogError::Backend(format!("starting the ledger flusher: {e}")))?;
        Ok(FsLog {
            dir: dir.to_owned(),
            state,
            pending,
            segment,
            older_segments: Vec::new(),
            dirty: Dirty::default(),
            last_cut: Instant::now(),
            flusher,
            flushed,
            flushing: false,
            needs_recovery: false,
            abandoned: false,
            _lock: lock,
        })
    }

    pub fn size(&self) -> u64 {
        self.state.size()
    }

    pub fn root(&self) -> Hash {
        self.state.root()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many committed files are held in memory, waiting for a flush.
    #[doc(hidden)]
    pub fn held_in_memory(&self) -> usize {
        self.pending.len()
    }

    /// A reader of this log that also sees what is committed and not yet
    /// flushed (a [`TileReader::new`] on the directory sees only what the
    /// durable `state` covers).
    pub fn reader(&self) -> TileReader {
        TileReader::from_raw(Arc::new(FsRead { dir: self.dir.clone(), pending: Some(self.pending.clone()) }))
    }

    /// Appends `entries` and makes them durable. Returns the index of the
    /// first. On error nothing is acknowledged and the in-memory state stays
    /// at the last commit, so the log is usable again once storage recovers.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        self.collect_flush(false);
        if self.needs_recovery {
            self.recover()?;
        }
        if entries.is_empty() {
            return Ok(self.size());
        }
        let (next, batch) = self.state.apply(entries)?;
        let record = journal::encode(batch.first, entries, &batch.root)?;
        // The commit: one record, one fdatasync.
        if let Err(e) = self.segment.commit(&record) {
            // Take the record back so the next one follows the last commit;
            // if even that fails, rebuild from disk before appending again.
            if self.segment.take_back(record.len()).is_err() {
                self.needs_recovery = true;
            }
            return Err(io(&self.segment.path)(e));
        }
        // Committed: its files are served from memory until a flush.
        self.state = next;
        let first = batch.first;
        self.dirty.hold(&self.pending, batch.files, batch.superseded);
        self.maybe_cut();
        Ok(first)
    }

    /// Makes every committed file durable and `state` current now, and
    /// empties the journal.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.collect_flush(true);
        if self.needs_recovery {
            return self.recover();
        }
        let segments = std::iter::once(self.segment.path.clone()).chain(self.older_segments.drain(..)).collect();
        let job = FlushJob {
            dir: self.dir.clone(),
            pending: self.pending.clone(),
            dirty: std::mem::take(&mut self.dirty),
            size: self.size(),
            root: self.root(),
            segments,
        };
        let used = self.segment.len;
        match run_flush(job).and_then(|_| new_segment(&self.dir, self.size(), used)) {
            Ok(segment) => {
                self.segment = segment;
                Ok(())
            }
            Err(e) => {
                self.needs_recovery = true;
                Err(e)
            }
        }
    }

    /// Stops without flushing, as a crash after the last acknowledgement
    /// would (a flush already running is let finish). For crash tests.
    #[doc(hidden)]
    pub fn abandon(mut self) {
        self.abandoned = true;
    }

    /// Takes the result of the flush in progress, waiting for it if `wait`.
    fn collect_flush(&mut self, wait: bool) {
        if !self.flushing {
            return;
        }
        let result = if wait {
            self.flushed.recv().map_err(|_| LogError::Backend("the ledger flusher stopped".into()))
        } else {
            match self.flushed.try_recv() {
                Ok(r) => Ok(r),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => Err(LogError::Backend("the ledger flusher stopped".into())),
            }
        };
        self.flushing = false;
        if let Err(e) | Ok(Err(e)) = result {
            // The files it was syncing are in doubt (a failed fsync may have
            // dropped their pages): rebuild them from the journal, which
            // still holds every record since the durable state.
            tracing::error!(error = %e, "making ledger tiles durable failed; rebuilding them from the journal");
            self.needs_recovery = true;
        }
    }

    /// Hands the files written so far to the flusher when a flush is due,
    /// cutting the journal there.
    fn maybe_cut(&mut self) {
        let due = self.last_cut.elapsed() >= FLUSH_INTERVAL
            || self.dirty.files.len() >= FLUSH_FILES
            || self.dirty.bytes >= FLUSH_BYTES
            || self.segment.len >= FLUSH_JOURNAL_BYTES;
        // A segment is named by its first index: cutting an empty one
        // would name its successor the same.
        if !due || self.size() == self.segment.first {
            return;
        }
        if self.flushing && (self.dirty.files.len() >= MAX_DIRTY_FILES || self.dirty.bytes >= MAX_DIRTY_BYTES) {
            self.collect_flush(true);
        }
        if self.flushing || self.needs_recovery {
            return;
        }
        let segment = match new_segment(&self.dir, self.size(), self.segment.len) {
            Ok(s) => s,
            Err(e) => {
                // Keep appending to the current segment; try again later.
                tracing::warn!(error = %e, "could not cut the ledger journal; the flush waits");
                return;
            }
        };
        let old = std::mem::replace(&mut self.segment, segment);
        self.older_segments.push(old.path);
        let job = FlushJob {
            dir: self.dir.clone(),
            pending: self.pending.clone(),
            dirty: std::mem::take(&mut self.dirty),
            size: self.size(),
            root: self.root(),
            segments: std::mem::take(&mut self.older_segments),
        };
        self.last_cut = Instant::now();
        match self.flusher.send(job) {
            Ok(()) => self.flushing = true,
            Err(_) => self.needs_recovery = true,
        }
    }

    /// Rebuilds the log from disk as opening does, and makes it durable.
    fn recover(&mut self) -> Result<(), LogError> {
        self.collect_flush(true);
        let (state, dirty, segments) = rebuild(&self.dir, &self.pending)?;
        let job = FlushJob {
            dir: self.dir.clone(),
            pending: self.pending.clone(),
            dirty,
            size: state.size(),
            root: state.root(),
            segments,
        };
        run_flush(job)?;
        // Everything committed is on disk now, whatever the failed flush
        // left behind in memory.
        self.pending.clear();
        self.segment = new_segment(&self.dir, state.size(), 0)?;
        if state.size() != self.state.size() {
            // A record whose sync reported failure reached the disk after
            // all: it is in the log now (its writers were refused).
            tracing::warn!(
                expected = self.state.size(),
                found = state.size(),
                "the ledger holds entries whose append was reported as failed"
            );
        }
        self.state = state;
        self.dirty = Dirty::default();
        self.older_segments.clear();
        self.needs_recovery = false;
        tracing::info!(size = self.size(), "ledger storage recovered");
        Ok(())
    }
}

impl Drop for FsLog {
    fn drop(&mut self) {
        if self.abandoned {
            self.collect_flush(true);
            return;
        }
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "flushing the ledger at shutdown failed; the journal is replayed at the next start");
        }
    }
}

impl LogWriter for FsLog {
    fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        FsLog::append(self, entries)
    }
    fn size(&self) -> u64 {
        self.state.size()
    }
    fn root(&self) -> Hash {
        self.state.root()
    }
}

fn read_state(dir: &Path) -> Result<(u64, Hash), LogError> {
    let path = dir.join("state");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, empty_root())),
        Err(e) => return Err(io(&path)(e)),
    };
    let corrupt = |what: &str| LogError::Corrupt { path: path.display().to_string(), what: what.to_owned() };
    let mut lines = text.lines();
    if lines.next() != Some(STATE_MAGIC) {
        return Err(corrupt("unknown state format"));
    }
    let size: u64 = lines.next().and_then(|l| l.parse().ok()).ok_or_else(|| corrupt("bad size"))?;
    let root = lines
        .next()
        .and_then(|l| data_encoding::BASE64.decode(l.as_bytes()).ok())
        .and_then(|b| Hash::try_from(b.as_slice()).ok())
        .ok_or_else(|| corrupt("bad root"))?;
    Ok((size, root))
}

fn state_text(size: u64, root: &Hash) -> String {
    format!("{STATE_MAGIC}\n{size}\n{}\n", data_encoding::BASE64.encode(root))
}

/// Raw reads of a log directory, and of its writer's committed files not
/// yet flushed where it has them ([`FsLog::reader`]).
#[derive(Debug, Clone)]
pub struct FsRead {
    dir: PathBuf,
    pending: Option<Arc<Pending>>,
}

impl FsRead {
    /// Reads of what the durable `state` covers, for a log whose writer is
    /// elsewhere (or stopped).
    pub fn new(dir: &Path) -> Self {
        FsRead { dir: dir.to_owned(), pending: None }
    }
}

impl RawRead for FsRead {
    fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError> {
        // Memory first: a flush writes a file before dropping it from there.
        if let Some(bytes) = self.pending.as_ref().and_then(|p| p.get(rel)) {
            return Ok(bytes.to_vec());
        }
        let path = self.dir.join(rel);
        fs::read(&path).map_err(io(&path))
    }

    fn state(&self) -> Result<(u64, Hash), LogError> {
        read_state(&self.dir)
    }
}
