//! The embedded log store: entries and hashes in the data directory in the
//! C2SP tlog-tiles layout, made durable before anything is acknowledged.
//!
//! ```text
//! ledger/state                       committed size and root (the commit point)
//! ledger/tile/<L>/<N>[.p/<W>]        hash tiles
//! ledger/tile/entries/<N>[.p/<W>]    entry bundles (u16 big-endian length + bytes, each)
//! ```
//!
//! One append writes every tile and bundle it completes or extends, and the
//! new state, each to a temporary file, fsyncs them together, renames the
//! tiles and bundles into place, fsyncs the touched directories (and the
//! parents of new ones), and only then renames `state` into place. A crash at any moment leaves
//! the previous `state` and the files it names intact, so reopening finds
//! exactly the acknowledged log; files written past it are overwritten by
//! later appends and never served. Partial files superseded by a commit are
//! removed after it.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::batch::TileState;
pub use crate::batch::{LogError, MAX_ENTRY, bundle_entries, tile_hashes};
use crate::merkle::{Hash, empty_root};
pub use crate::reader::TileReader;
use crate::reader::{LogWriter, RawRead};

const STATE_MAGIC: &str = "rampart-ledger-state v1";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

/// The embedded tile log. Owned by the one sequencer that appends to it;
/// readers use [`TileReader`] on the same directory.
#[derive(Debug)]
pub struct FsLog {
    dir: PathBuf,
    state: TileState,
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

/// Runs `f` on every item on its own thread and returns the first error:
/// fsyncs issued together share the file system's journal commits, where
/// one after another each waits for its own.
fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<(), LogError> + Sync) -> Result<(), LogError> {
    match items {
        [] => Ok(()),
        [one] => f(one),
        _ => std::thread::scope(|scope| {
            let handles: Vec<_> = items.iter().map(|item| scope.spawn(|| f(item))).collect();
            handles.into_iter().try_for_each(|h| {
                h.join().map_err(|_| LogError::Backend("an fsync thread panicked".into())).and_then(|r| r)
            })
        }),
    }
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

impl FsLog {
    /// Opens (creating if needed) the log in `dir`, restoring the committed
    /// state and checking that the stored tiles reproduce its root.
    pub fn open(dir: &Path) -> Result<FsLog, LogError> {
        fs::create_dir_all(dir.join("tile")).map_err(io(dir))?;
        let (size, root) = read_state(dir)?;
        let mut files = HashMap::new();
        for rel in TileState::partial_paths(size) {
            let path = dir.join(&rel);
            files.insert(rel, fs::read(&path).map_err(io(&path))?);
        }
        let state = TileState::restore(size, &root, &files).map_err(|e| match e {
            LogError::Corrupt { path, what } => LogError::Corrupt { path: dir.join(path).display().to_string(), what },
            other => other,
        })?;
        Ok(FsLog { dir: dir.to_owned(), state })
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
    /// first. On error nothing is committed and the in-memory state stays
    /// at the last commit, so the log is usable again once storage recovers.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        let (next, batch) = self.state.apply(entries)?;
        // 1. Every file of the batch and the new state, to temporary files,
        //    all fsynced together.
        let mut dirs = BTreeSet::new();
        let mut writes: Vec<(PathBuf, PathBuf, &[u8])> = Vec::with_capacity(batch.files.len());
        for (rel, bytes) in &batch.files {
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                create_dirs(&self.dir, parent, &mut dirs)?;
                dirs.insert(parent.to_owned());
            }
            writes.push((path.with_extension("tmp"), path, bytes));
        }
        let state_text = state_text(batch.size, &batch.root);
        let state_path = self.dir.join("state");
        let state_tmp = state_path.with_extension("tmp");
        let all: Vec<(&Path, &[u8])> = writes
            .iter()
            .map(|(tmp, _, bytes)| (tmp.as_path(), *bytes))
            .chain(std::iter::once((state_tmp.as_path(), state_text.as_bytes())))
            .collect();
        in_parallel(&all, |(tmp, bytes)| {
            let mut f = File::create(tmp).map_err(io(tmp))?;
            f.write_all(bytes).map_err(io(tmp))?;
            f.sync_all().map_err(io(tmp))
        })?;
        // 2. The tiles and bundles into place, their directories synced.
        for (tmp, path, _) in &writes {
            fs::rename(tmp, path).map_err(io(path))?;
        }
        dirs.remove(&self.dir);
        let dirs: Vec<PathBuf> = dirs.into_iter().collect();
        in_parallel(&dirs, |d| sync_dir(d))?;
        // 3. Only then the commit point.
        fs::rename(&state_tmp, &state_path).map_err(io(&state_path))?;
        sync_dir(&self.dir)?;
        self.state = next;
        // The previous partial files are no longer named by the state.
        for rel in &batch.superseded {
            let _ = fs::remove_file(self.dir.join(rel));
        }
        Ok(batch.first)
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
