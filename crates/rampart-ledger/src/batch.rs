//! The pure part of appending to a tile log: given the partial tiles and
//! the partial entry bundle at the committed size, compute every file a
//! batch of entries writes (full tiles and bundles it completes, the new
//! partial ones), the partial files it supersedes, and the new root. The
//! backends (`fslog` on the file system, `dblog` in the database) only make
//! those files durable and move the commit point.

use std::collections::HashMap;

use crate::merkle::{Frontier, Hash, empty_root, leaf_hash};
use crate::tile::{self, TILE_WIDTH, entries_path, fold_perfect, level_count, tile_path};

/// The largest entry the bundle format can hold.
pub const MAX_ENTRY: usize = u16::MAX as usize;

/// Why a log operation failed. I/O errors name the file.
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
    #[error("ledger storage: {0}")]
    Backend(String),
    #[error("{0} is missing")]
    Missing(String),
    #[error("{0} is in use: another process appends to this ledger")]
    Busy(String),
}

/// The in-memory edge of a tile log at its committed size.
#[derive(Debug, Clone, Default)]
pub struct TileState {
    frontier: Frontier,
    /// The partial tile at each level: at most 255 hashes each.
    partials: Vec<Vec<Hash>>,
    /// The partial entry bundle's bytes and entry count.
    bundle: Vec<u8>,
    bundle_len: u64,
}

/// What one batch writes.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Paths (below the log root) and contents, to be made durable before
    /// the commit point moves.
    pub files: Vec<(String, Vec<u8>)>,
    /// Partial files the new state no longer names; removable after commit.
    pub superseded: Vec<String>,
    pub first: u64,
    pub size: u64,
    pub root: Hash,
}

pub(crate) fn hashes_bytes(hashes: &[Hash]) -> Vec<u8> {
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

impl TileState {
    /// The paths holding the partial tiles and bundle of a log of `size`.
    pub fn partial_paths(size: u64) -> Vec<String> {
        let mut paths = Vec::new();
        let mut level = 0u8;
        loop {
            let count = level_count(size, level);
            if count == 0 {
                break;
            }
            if !count.is_multiple_of(TILE_WIDTH) {
                paths.push(tile_path(level, count / TILE_WIDTH, count % TILE_WIDTH));
            }
            level += 1;
        }
        if !size.is_multiple_of(TILE_WIDTH) {
            paths.push(entries_path(size / TILE_WIDTH, size % TILE_WIDTH));
        }
        paths
    }

    /// Restores the state of a log of `size` from its partial files
    /// (as named by [`TileState::partial_paths`]), checking it reproduces
    /// `root`.
    pub fn restore(size: u64, root: &Hash, files: &HashMap<String, Vec<u8>>) -> Result<TileState, LogError> {
        let get = |path: String| files.get(&path).cloned().ok_or(LogError::Missing(path));
        let mut partials = Vec::new();
        let mut level = 0u8;
        loop {
            let count = level_count(size, level);
            if count == 0 && level > 0 {
                break;
            }
            let width = count % TILE_WIDTH;
            let hashes = if width == 0 {
                Vec::new()
            } else {
                let path = tile_path(level, count / TILE_WIDTH, width);
                let bytes = get(path.clone())?;
                tile_hashes(&bytes)
                    .filter(|h| h.len() as u64 == width)
                    .ok_or(LogError::Corrupt { path, what: format!("expected {width} hashes") })?
            };
            partials.push(hashes);
            if count == 0 {
                break;
            }
            level += 1;
        }
        let frontier = tile::frontier_from_partials(size, &partials)
            .map_err(|e| LogError::Corrupt { path: "state".into(), what: e.to_string() })?;
        if &frontier.root() != root {
            return Err(LogError::Corrupt {
                path: "state".into(),
                what: format!("the tiles give another root than the committed one at size {size}"),
            });
        }
        let bundle_len = size % TILE_WIDTH;
        let bundle = if bundle_len == 0 { Vec::new() } else { get(entries_path(size / TILE_WIDTH, bundle_len))? };
        if bundle_entries(&bundle).is_none_or(|e| e.len() as u64 != bundle_len) {
            return Err(LogError::Corrupt {
                path: entries_path(size / TILE_WIDTH, bundle_len),
                what: format!("expected {bundle_len} entries"),
            });
        }
        Ok(TileState { frontier, partials, bundle, bundle_len })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The state after appending `entries`, and the files that takes. The
    /// current state is untouched: the caller adopts the new one only once
    /// the batch is durable.
    pub fn apply(&self, entries: &[Vec<u8>]) -> Result<(TileState, Batch), LogError> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY) {
            return Err(LogError::EntryTooLarge(e.len()));
        }
        let mut next = self.clone();
        let start = self.size();
        let mut files = Vec::new();
        for entry in entries {
            let len = u16::try_from(entry.len()).map_err(|_| LogError::EntryTooLarge(entry.len()))?;
            next.bundle.extend_from_slice(&len.to_be_bytes());
            next.bundle.extend_from_slice(entry);
            next.bundle_len += 1;
            let index = next.frontier.size();
            let leaf = leaf_hash(entry);
            next.frontier.append(leaf).map_err(|e| LogError::Corrupt { path: String::new(), what: e.to_string() })?;
            if next.bundle_len == TILE_WIDTH {
                files.push((entries_path(index / TILE_WIDTH, TILE_WIDTH), std::mem::take(&mut next.bundle)));
                next.bundle_len = 0;
            }
            next.push_hash(0, leaf, &mut files);
        }
        let size = next.size();
        if next.bundle_len > 0 {
            files.push((entries_path(size / TILE_WIDTH, next.bundle_len), next.bundle.clone()));
        }
        for (level, hashes) in next.partials.iter().enumerate() {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            if !hashes.is_empty() {
                let count = level_count(size, level);
                files.push((tile_path(level, count / TILE_WIDTH, hashes.len() as u64), hashes_bytes(hashes)));
            }
        }
        let mut superseded = Vec::new();
        if start != size && !start.is_multiple_of(TILE_WIDTH) {
            superseded.push(entries_path(start / TILE_WIDTH, start % TILE_WIDTH));
        }
        for level in 0..next.partials.len() {
            let level = u8::try_from(level).unwrap_or(u8::MAX);
            let old = level_count(start, level);
            if !old.is_multiple_of(TILE_WIDTH) && old != level_count(size, level) {
                superseded.push(tile_path(level, old / TILE_WIDTH, old % TILE_WIDTH));
            }
        }
        let batch = Batch { files, superseded, first: start, size, root: next.root() };
        Ok((next, batch))
    }

    /// Adds a hash at `level`, emitting the tile when it fills and carrying
    /// its root up to the next level.
    fn push_hash(&mut self, level: usize, hash: Hash, files: &mut Vec<(String, Vec<u8>)>) {
        if self.partials.len() <= level {
            self.partials.resize(level + 1, Vec::new());
        }
        self.partials[level].push(hash);
        if self.partials[level].len() as u64 == TILE_WIDTH {
            let full = std::mem::take(&mut self.partials[level]);
            let lvl = u8::try_from(level).unwrap_or(u8::MAX);
            let index = level_count(self.size(), lvl) / TILE_WIDTH - 1;
            files.push((tile_path(lvl, index, TILE_WIDTH), hashes_bytes(&full)));
            let root = fold_perfect(&full).unwrap_or_else(empty_root);
            self.push_hash(level + 1, root, files);
        }
    }
}
