//! Reading a tile log, whatever stores it: the [`RawRead`] a backend
//! implements (bytes by path, and the commit point), and [`TileReader`],
//! which turns that into hash tiles, entries and the node oracle for proofs.

use std::sync::Arc;

use crate::batch::{LogError, bundle_entries, tile_hashes};
use crate::merkle::Hash;
use crate::tile::{TILE_HEIGHT, TILE_WIDTH, entries_path, fold_perfect, level_count, tile_path};

/// Raw access to a log's committed files.
pub trait RawRead: Send + Sync + std::fmt::Debug {
    /// The bytes at a path below the log root, e.g. `tile/0/000.p/5`.
    fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError>;
    /// The committed size and root.
    fn state(&self) -> Result<(u64, Hash), LogError>;
}

/// Hash tiles already read, by level, index and width.
#[derive(Debug, Default)]
pub struct TileCache(std::collections::HashMap<(u8, u64, u64), Vec<Hash>>);

/// Reads tiles, bundles and entries of a log without its sequencer.
#[derive(Debug, Clone)]
pub struct TileReader {
    raw: Arc<dyn RawRead>,
}

impl TileReader {
    /// A reader over the log directory `dir` (the embedded backend).
    pub fn new(dir: &std::path::Path) -> Self {
        TileReader { raw: Arc::new(crate::fslog::FsRead::new(dir)) }
    }

    pub fn from_raw(raw: Arc<dyn RawRead>) -> Self {
        TileReader { raw }
    }

    pub fn state(&self) -> Result<(u64, Hash), LogError> {
        self.raw.state()
    }

    pub fn raw(&self, rel: &str) -> Result<Vec<u8>, LogError> {
        self.raw.raw(rel)
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
        self.node_cached(h, k, size, &mut TileCache::default())
    }

    /// [`TileReader::node`], reading each hash tile once per `cache`: many
    /// proofs over the same part of the log share most of their tiles.
    pub fn node_cached(&self, h: u32, k: u64, size: u64, cache: &mut TileCache) -> Result<Hash, LogError> {
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
        let hashes = match cache.0.entry((lvl, tile, width)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(self.hash_tile(lvl, tile, width)?),
        };
        let off = (first % TILE_WIDTH) as usize;
        fold_perfect(&hashes[off..off + span as usize])
            .ok_or_else(|| LogError::Corrupt { path: tile_path(lvl, tile, width), what: "short tile".into() })
    }
}

/// What the sequencer appends through: one backend's durable writer.
pub trait LogWriter: Send + 'static {
    /// Makes `entries` durable and returns the first one's index.
    fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64, LogError>;
    fn size(&self) -> u64;
    fn root(&self) -> Hash;
}
