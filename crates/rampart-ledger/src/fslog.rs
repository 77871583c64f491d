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
//! One append costs one `fdatasync`. It writes the tiles and bundles the
//! batch completes or extends into place (through the page cache, without
//! syncing; readers are not served past the committed size anyway), then
//! appends one record holding the batch's entries and new root to the
//! current journal segment and syncs it: that is the commit, and only then
//! is anything acknowledged. A failure before that leaves nothing
//! committed, and the in-memory state stays at the last commit.
//!
//! About once a second, off the acknowledgement path, a flusher thread
//! makes the tiles durable: the sequencer cuts the journal (opens a new
//! segment), hands over the files written since the last flush, and the
//! flusher fsyncs them and their directories, writes `state` at the cut,
//! and only then removes the segments and the partial files that state no
//! longer needs. Opening the log restores `state` and replays every journal
//! record past it, rewriting its files and syncing them, so a crash at any
//! moment loses nothing that was acknowledged. A record cut short at the
//! very end of the journal (a write the crash interrupted, never
//! acknowledged) is dropped; a bad record with records after it is
//! corruption, and opening refuses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
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
/// Written files that make a flush due before the interval ends.
const FLUSH_FILES: usize = 4096;
/// A journal segment this large makes a flush due.
const FLUSH_JOURNAL_BYTES: u64 = 64 << 20;
/// Files waiting for a flush beyond this make the sequencer wait for the
/// flush in progress (back-pressure on a disk slower than the appends).
const MAX_DIRTY_FILES: usize = 65_536;
/// Threads one flush syncs files from.
const SYNC_THREADS: usize = 16;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

/// Files and directories written since the last flush.
#[derive(Debug, Default)]
struct Dirty {
    files: BTreeSet<PathBuf>,
    /// Directories whose entries changed: parents of written files and of
    /// created directories.
    dirs: BTreeSet<PathBuf>,
    /// Partial files superseded by commits since the last flush: removable
    /// once `state` has moved past them.
    superseded: Vec<PathBuf>,
}

/// What the flusher makes durable: everything written up to `size`.
#[derive(Debug)]
struct FlushJob {
    dir: PathBuf,
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
    len: u64,
}

/// The embedded tile log. Owned by the one sequencer that appends to it;
/// readers use [`TileReader`] on the same directory.
#[derive(Debug)]
pub struct FsLog {
    dir: PathBuf,
    state: TileState,
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

/// Makes a flush durable: the files, their directories, then `state`, then
/// drops what that state no longer needs. Reopening a file to sync it does
/// see an earlier writeback error: since Linux 4.16 an error no one has
/// observed is reported to the next fsync through any descriptor.
fn run_flush(job: FlushJob) -> Result<u64, LogError> {
    let started = Instant::now();
    let files: Vec<&PathBuf> = job.dirty.files.iter().collect();
    in_parallel(&files, |p| File::open(p).and_then(|f| f.sync_all()).map_err(io(p)))?;
    let mut dirs: Vec<&PathBuf> = job.dirty.dirs.iter().filter(|d| **d != job.dir).collect();
    dirs.dedup();
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
    for path in job.dirty.superseded.iter().chain(&job.segments) {
        let _ = fs::remove_file(path);
    }
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

/// Starts a new, empty segment for records from `first` on, durably named.
fn new_segment(dir: &Path, first: u64) -> Result<Segment, LogError> {
    let jdir = journal_dir(dir);
    let path = jdir.join(format!("{first:020}"));
    // O_APPEND: after a failed write is taken back (`set_len`), the next
    // record lands at the new end, not after a hole at the old offset.
    let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
    file.set_len(0).map_err(io(&path))?;
    sync_dir(&jdir)?;
    Ok(Segment { path, first, file, len: 0 })
}

/// Writes a batch's files into place through the page cache, recording
/// what a flush must sync. Not synced and not yet committed: until the
/// journal record is, nothing serves them and the next batch overwrites them.
fn write_files(dir: &Path, files: &[(String, Vec<u8>)], dirty: &mut Dirty) -> Result<Vec<PathBuf>, LogError> {
    let mut written = Vec::with_capacity(files.len());
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            create_dirs(dir, parent, &mut dirty.dirs)?;
            dirty.dirs.insert(parent.to_owned());
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// The log rebuilt from disk: `state`, then every journal record past it,
/// with the files those records write (written, not yet synced).
fn rebuild(dir: &Path) -> Result<(TileState, Dirty, Vec<PathBuf>), LogError> {
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
            let written = write_files(dir, &batch.files, &mut dirty)?;
            dirty.files.extend(written);
            dirty.superseded.extend(batch.superseded.iter().map(|r| dir.join(r)));
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
        let (state, dirty, segments) = rebuild(dir)?;
        // Everything replayed becomes durable now, so the log starts with an
        // empty journal.
        run_flush(FlushJob { dir: dir.to_owned(), dirty, size: state.size(), root: state.root(), segments })?;
        let segment = new_segment(dir, state.size())?;
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
        // 1. The files, into place but not synced.
        let written = write_files(&self.dir, &batch.files, &mut self.dirty)?;
        // 2. The commit: one record, one fdatasync.
        let synced = self.segment.file.write_all(&record).and_then(|()| self.segment.file.sync_data());
        if let Err(e) = synced {
            // Take the record back so the next one follows the last commit;
            // if even that fails, rebuild from disk before appending again.
            let undone = self.segment.file.set_len(self.segment.len).and_then(|()| self.segment.file.sync_data());
            if undone.is_err() {
                self.needs_recovery = true;
            }
            return Err(io(&self.segment.path)(e));
        }
        self.segment.len += record.len() as u64;
        self.state = next;
        self.dirty.files.extend(written);
        self.dirty.superseded.extend(batch.superseded.iter().map(|r| self.dir.join(r)));
        self.maybe_cut();
        Ok(batch.first)
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
            dirty: std::mem::take(&mut self.dirty),
            size: self.size(),
            root: self.root(),
            segments,
        };
        match run_flush(job).and_then(|_| new_segment(&self.dir, self.size())) {
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
            || self.segment.len >= FLUSH_JOURNAL_BYTES;
        // A segment is named by its first index: cutting an empty one
        // would name its successor the same.
        if !due || self.size() == self.segment.first {
            return;
        }
        if self.flushing && self.dirty.files.len() >= MAX_DIRTY_FILES {
            self.collect_flush(true);
        }
        if self.flushing || self.needs_recovery {
            return;
        }
        let segment = match new_segment(&self.dir, self.size()) {
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
        let (state, dirty, segments) = rebuild(&self.dir)?;
        run_flush(FlushJob { dir: self.dir.clone(), dirty, size: state.size(), root: state.root(), segments })?;
        self.segment = new_segment(&self.dir, state.size())?;
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

/// Raw reads of a log directory.
#[derive(Debug, Clone)]
pub struct FsRead {
    dir: PathBuf,
}

impl FsRead {
    pub fn new(dir: &Path) -> Self {
        FsRead { dir: dir.to_owned() }
    }
}

impl RawRead for FsRead {
    fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError> {
        let path = self.dir.join(rel);
        fs::read(&path).map_err(io(&path))
    }

    fn state(&self) -> Result<(u64, Hash), LogError> {
        read_state(&self.dir)
    }
}
