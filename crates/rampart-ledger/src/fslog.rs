//! The embedded log store: entries and hashes in the data directory in the
//! C2SP tlog-tiles layout, made durable before anything is acknowledged.
//!
//! ```text
//! ledger/state                       committed size and root (the commit point)
//! ledger/tile/<L>/<N>[.p/<W>]        hash tiles
//! ledger/tile/entries/<N>[.p/<W>]    entry bundles (u16 big-endian length + bytes, each)
//! ```
//!
//! One append writes every tile and bundle it completes or extends, each to a
//! temporary file that is fsynced and renamed into place, fsyncs the touched
//! directories, and only then replaces `state`. A crash at any moment leaves
//! the previous `state` and the files it names intact, so reopening finds
//! exactly the acknowledged log; files written past it are overwritten by
//! later appends and never served. Partial files superseded by a commit are
//! removed after it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::merkle::{Frontier, Hash, empty_root, leaf_hash};
use crate::tile::{self, TILE_HEIGHT, TILE_WIDTH, entries_path, fold_perfect, level_count, tile_path};

/// The largest entry the bundle format can hold.
pub const MAX_ENTRY: usize = u16::MAX as usize;

const STATE_MAGIC: &str = "rampart-ledger-state v1";

/// Why the store failed. I/O errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is corrupt: {what}")]
    Corrupt { path: String, what: String },
    #[error("an entry of {0} bytes exceeds the {MAX_ENTRY}-byte limit")]
    EntryTooLarge(usize),
    #[error("index {index} is beyond the log's {size} entries")]
    OutOfRange { index: u64, size: u64 },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io { path: path.display().to_string(), source }
}

/// The embedded tile log. Owned by the one sequencer that appends to it;
/// readers use [`TileReader`] on the same directory.
#[derive(Debug)]
pub struct FsLog {
    dir: PathBuf,
    frontier: Frontier,
    /// The partial tile at each level: at most 255 hashes each.
    partials: Vec<Vec<Hash>>,
    /// The partial entry bundle's bytes and entry count.
    bundle: Vec<u8>,
    bundle_len: u64,
}

/// Writes `bytes` to `path` durably: temporary file, fsync, rename.
fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn hashes_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.iter().copied()).collect()
}

/// Splits tile bytes into hashes; the length must be a multiple of 32.
pub fn tile_hashes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(bytes.chunks_exact(32).filter_map(|c| c.try_into().ok()).collect())
}

/// Splits an entry bundle into entries, strictly.
pub fn bundle_entries(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(2)?;
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (entry, tail) = tail.split_at_checked(n)?;
        out.push(entry);
        rest = tail;
    }
    Some(out)
}

impl FsLog {
    /// Opens (creating if needed) the log in `dir`, restoring the committed
    /// state and checking that the stored tiles reproduce its root.
    pub fn open(dir: &Path) -> Result<FsLog, LogError> {
        fs::create_dir_all(dir.join("tile")).map_err(io(dir))?;
        let (size, root) = read_state(dir)?;
        let reader = TileReader::new(dir);
        let mut partials = Vec::new();
        let mut level = 0u8;
        while level_count(size, level) > 0 || level == 0 {
            let count = level_count(size, level);
            let width = count % TILE_WIDTH;
            let hashes = if width == 0 { Vec::new() } else { reader.hash_tile(level, count / TILE_WIDTH, width)? };
            partials.push(hashes);
            level += 1;
            if level_count(size, level) == 0 {
                break;
            }
        }
        let frontier = tile::frontier_from_partials(size, &partials)
            .map_err(|e| LogError::Corrupt { path: dir.join("state").display().to_string(), what: e.to_string() })?;
        if frontier.root() != root {
            return Err(LogError::Corrupt {
                path: dir.display().to_string(),
                what: format!("the tiles give another root than the committed one at size {size}"),
            });
        }
        let bundle_len = size % TILE_WIDTH;
        let bundle = if bundle_len == 0 { Vec::new() } else { reader.entry_bundle(size / TILE_WIDTH, bundle_len)? };
        Ok(FsLog { dir: dir.to_owned(), frontier, partials, bundle, bundle_len })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `entries` and makes them durable. Returns the index of the
    /// first. On error nothing is committed and the in-memory state is
    /// restored from disk, so the log stays usable once storage recovers.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY) {
            return Err(LogError::EntryTooLarge(e.len()));
        }
        let first = self.size();
        // What the committed state looks like in memory, to return to if
        // the batch cannot be made durable: nothing of it counts then, and
        // the next batch starts from the last commit once storage recovers.
        let saved = (self.frontier.clone(), self.partials.clone(), self.bundle.clone(), self.bundle_len);
        let result = self.write_batch(entries);
        if result.is_err() {
            (self.frontier, self.partials, self.bundle, self.bundle_len) = saved;
        }
        result.map(|()| first)
    }

    fn write_batch(&mut self, entries: &[Vec<u8>]) -> Result<(), LogError> {
        let start = self.size();
        let mut dirs = BTreeSet::new();
        let mut superseded = Vec::new();
        let dir = self.dir.clone();
        let write = |rel: String, bytes: &[u8], dirs: &mut BTreeSet<PathBuf>| -> Result<(), LogError> {
            let path = dir.join(&rel);
            write_durable(&path, bytes)?;
            if let Some(p) = path.parent() {
                dirs.insert(p.to_owned());
            }
            Ok(())
        };
        for entry in entries {
            let len = u16::try_from(entry.len()).map_err(|_| LogError::EntryTooLarge(entry.len()))?;
            self.bundle.extend_from_slice(&len.to_be_bytes());
            self.bundle.extend_from_slice(entry);
            self.bundle_len += 1;
            let index = self.frontier.size();
            let leaf = leaf_hash(entry);
            self.frontier.append(leaf).map_err(|e| LogError::Corrupt { path: String::new(), what: e.to_string() })?;
            if self.bundle_len == TILE_WIDTH {
                write(entries_path(index / TILE_WIDTH, TILE_WIDTH), &self.bundle, &mut dirs)?;
                self.bundle.clear();
                self.bundle_len = 0;
            }
            self.push_hash(0, leaf, &mut |rel, bytes| write(rel, bytes, &mut dirs))?;
        }
        let size = self.size();
        // Partial bundle and partial tiles at the new size.
        if self.bundle_len > 0 {
            write(entries_path(size / TILE_WIDTH, self.bundle_len), &self.bundle, &mut dirs)?;
        }
        for (level, hashes) in self.partials.iter().enumerate() {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            if !hashes.is_empty() {
                let count = level_count(size, level);
                write(tile_path(level, count / TILE_WIDTH, hashes.len() as u64), &hashes_bytes(hashes), &mut dirs)?;
            }
        }
        for d in &dirs {
            sync_dir(d)?;
        }
        write_state(&self.dir, size, &self.root())?;
        // The previous partial files are no longer named by the state.
        if start != size && !start.is_multiple_of(TILE_WIDTH) {
            superseded.push(self.dir.join(entries_path(start / TILE_WIDTH, start % TILE_WIDTH)));
        }
        for level in 0..self.partials.len() {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            let old = level_count(start, level);
            if !old.is_multiple_of(TILE_WIDTH) && old != level_count(size, level) {
                superseded.push(self.dir.join(tile_path(level, old / TILE_WIDTH, old % TILE_WIDTH)));
            }
        }
        for p in superseded {
            let _ = fs::remove_file(p);
        }
        Ok(())
    }

    /// Adds a hash at `level`, writing the tile when it fills and carrying
    /// its root up to the next level.
    fn push_hash(
        &mut self,
        level: usize,
        hash: Hash,
        write: &mut impl FnMut(String, &[u8]) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        if self.partials.len() <= level {
            self.partials.resize(level + 1, Vec::new());
        }
        self.partials[level].push(hash);
        if self.partials[level].len() as u64 == TILE_WIDTH {
            let full = std::mem::take(&mut self.partials[level]);
            let lvl = u8::try_from(level).unwrap_or(u8::MAX);
            let index = level_count(self.size(), lvl) / TILE_WIDTH - 1;
            write(tile_path(lvl, index, TILE_WIDTH), &hashes_bytes(&full))?;
            let root = fold_perfect(&full).unwrap_or_else(empty_root);
            self.push_hash(level + 1, root, write)?;
        }
        Ok(())
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

fn write_state(dir: &Path, size: u64, root: &Hash) -> Result<(), LogError> {
    let text = format!("{STATE_MAGIC}\n{size}\n{}\n", data_encoding::BASE64.encode(root));
    write_durable(&dir.join("state"), text.as_bytes())?;
    sync_dir(dir)
}

/// Reads tiles and bundles of a log directory without the sequencer.
#[derive(Debug, Clone)]
pub struct TileReader {
    dir: PathBuf,
}

impl TileReader {
    pub fn new(dir: &Path) -> Self {
        TileReader { dir: dir.to_owned() }
    }

    /// The committed size and root, as of now.
    pub fn state(&self) -> Result<(u64, Hash), LogError> {
        read_state(&self.dir)
    }

    /// The raw bytes of a file below the log directory.
    pub fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError> {
        let path = self.dir.join(rel);
        fs::read(&path).map_err(io(&path))
    }

    /// A hash tile of exactly `width` hashes.
    pub fn hash_tile(&self, level: u8, index: u64, width: u64) -> Result<Vec<Hash>, LogError> {
        let rel = tile_path(level, index, width);
        let bytes = self.raw(&rel)?;
        match tile_hashes(&bytes) {
            Some(h) if h.len() as u64 == width.min(TILE_WIDTH) => Ok(h),
            _ => Err(LogError::Corrupt {
                path: rel,
                what: format!("expected {width} hashes, found {} bytes", bytes.len()),
            }),
        }
    }

    /// An entry bundle's bytes, checked to hold exactly `width` entries.
    pub fn entry_bundle(&self, index: u64, width: u64) -> Result<Vec<u8>, LogError> {
        let rel = entries_path(index, width);
        let bytes = self.raw(&rel)?;
        match bundle_entries(&bytes) {
            Some(e) if e.len() as u64 == width.min(TILE_WIDTH) => Ok(bytes),
            _ => Err(LogError::Corrupt { path: rel, what: format!("expected {width} entries") }),
        }
    }

    /// Entry `index` of a log of `size` entries.
    pub fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, LogError> {
        if index >= size {
            return Err(LogError::OutOfRange { index, size });
        }
        let bundle = index / TILE_WIDTH;
        let width = if (bundle + 1) * TILE_WIDTH <= size { TILE_WIDTH } else { size % TILE_WIDTH };
        let bytes = self.entry_bundle(bundle, width)?;
        let entries = bundle_entries(&bytes).unwrap_or_default();
        entries.get((index % TILE_WIDTH) as usize).map(|e| e.to_vec()).ok_or(LogError::OutOfRange { index, size })
    }

    /// The hash of the perfect subtree of height `h` and index `k` in a log
    /// of `size` entries, from one tile: the node oracle for proofs.
    pub fn node(&self, h: u32, k: u64, size: u64) -> Result<Hash, LogError> {
        let level = h / TILE_HEIGHT;
        let span = 1u64 << (h % TILE_HEIGHT);
        let first = k << (h % TILE_HEIGHT);
        let lvl = u8::try_from(level).map_err(|_| LogError::OutOfRange { index: k, size })?;
        let count = level_count(size, lvl);
        if first + span > count {
            return Err(LogError::OutOfRange { index: k, size });
        }
        let tile = first / TILE_WIDTH;
        let width = if (tile + 1) * TILE_WIDTH <= count { TILE_WIDTH } else { count % TILE_WIDTH };
        let hashes = self.hash_tile(lvl, tile, width)?;
        let off = (first % TILE_WIDTH) as usize;
        fold_perfect(&hashes[off..off + span as usize])
            .ok_or_else(|| LogError::Corrupt { path: tile_path(lvl, tile, width), what: "short tile".into() })
    }
}
