//! Whole-log verification, from any source of tiles: recompute every leaf
//! hash from the entry bundles, check it against the level-0 tiles, rebuild
//! each higher level from the one below and check it against the stored
//! tiles, and check the final root against the expected tree head. Then
//! check every checkpoint given (the stored history, one saved earlier, one
//! held by a witness): its signature, and that its root is the root of this
//! log at its size, which is what consistency means. The first difference
//! is reported with its index and path.
//!
//! Memory stays O(tile width × levels) whatever the log's size: entries are
//! streamed bundle by bundle.

use std::future::Future;

use crate::checkpoint::Checkpoint;
use crate::fslog::{bundle_entries, tile_hashes};
use crate::merkle::{Hash, leaf_hash};
use crate::note::Verifier;
use crate::oracle::range_hash;
use crate::tile::{TILE_HEIGHT, TILE_WIDTH, entries_path, fold_perfect, level_count, tile_path};

/// Where tiles come from: a data directory or a server.
pub trait TileSource {
    /// The bytes at a path such as `tile/0/x001/234.p/17`.
    fn get(&self, path: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// What is wrong with a log, naming the first place it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is malformed: {what}")]
    Malformed { path: String, what: String },
    #[error("entry {index}: its hash differs from position {position} of {tile}")]
    LeafMismatch { index: u64, tile: String, position: u64 },
    #[error("{tile} position {position} differs from the hash of the tile below it")]
    NodeMismatch { tile: String, position: u64 },
    #[error("the log of {size} entries has root {actual}, not the expected {expected}")]
    RootMismatch { size: u64, expected: String, actual: String },
    #[error("checkpoint {which}: {what}")]
    Checkpoint { which: String, what: String },
}

fn b64(h: &Hash) -> String {
    data_encoding::BASE64.encode(h)
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub size: u64,
    pub root: Hash,
    pub checkpoints: usize,
}

/// Verifies the first `size` entries against `root`, calling `progress`
/// with the number of entries checked so far.
pub async fn verify_log(
    source: &impl TileSource,
    size: u64,
    root: &Hash,
    progress: &mut (impl FnMut(u64) + Send),
) -> Result<(), VerifyError> {
    // Hashes rebuilt for each level's current tile, checked when the tile
    // is complete (or at the end, for partial tiles).
    let mut levels: Vec<Vec<Hash>> = vec![Vec::new()];
    let mut done: Vec<u64> = Vec::new();
    let bundles = size.div_ceil(TILE_WIDTH);
    let mut checked = 0u64;
    let mut b = 0u64;
    while b < bundles {
        // Fetch a group of bundles, then hash their entries on every core.
        let group_end = (b + GROUP).min(bundles);
        let mut fetched = Vec::new();
        for g in b..group_end {
            let width = if (g + 1) * TILE_WIDTH <= size { TILE_WIDTH } else { size % TILE_WIDTH };
            let path = entries_path(g, width);
            let bytes = fetch(source, &path).await?;
            fetched.push((path, width, bytes));
        }
        for (leaves, root) in hash_bundles(&fetched)? {
            checked += leaves.len() as u64;
            levels[0].extend(leaves);
            check_full_tiles(source, &mut levels, &mut done, root).await?;
        }
        progress(checked);
        b = group_end;
    }
    // Partial tiles at every level.
    for (level, rebuilt) in levels.iter().enumerate() {
        let lvl = u8::try_from(level).unwrap_or(u8::MAX);
        let count = level_count(size, lvl);
        let width = count % TILE_WIDTH;
        if width == 0 {
            continue;
        }
        let path = tile_path(lvl, count / TILE_WIDTH, width);
        compare(source, &path, rebuilt, lvl).await?;
    }
    let actual = crate::tile::frontier_from_partials(size, &levels)
        .map_err(|e| VerifyError::Malformed { path: "tiles".into(), what: e.to_string() })?
        .root();
    if &actual != root {
        return Err(VerifyError::RootMismatch { size, expected: b64(root), actual: b64(&actual) });
    }
    Ok(())
}

/// Each bundle's leaf hashes and, for a full bundle, its level-0 tile root.
type Hashed = Vec<(Vec<Hash>, Option<Hash>)>;

/// Entry bundles fetched and hashed together.
const GROUP: u64 = 64;

/// The leaf hashes of each fetched bundle, in order, computed in parallel
/// (hashing is the bulk of verification; the tile checks stay sequential).
/// A full bundle's level-0 tile root is computed there too.
fn hash_bundles(fetched: &[(String, u64, Vec<u8>)]) -> Result<Hashed, VerifyError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(fetched.len().max(1));
    let chunk = fetched.len().div_ceil(threads).max(1);
    let results: Vec<Result<Hashed, VerifyError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = fetched
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(path, width, bytes)| {
                            let entries =
                                bundle_entries(bytes).filter(|e| e.len() as u64 == *width).ok_or_else(|| {
                                    VerifyError::Malformed {
                                        path: path.clone(),
                                        what: format!("expected {width} entries"),
                                    }
                                })?;
                            let leaves: Vec<Hash> = entries.into_iter().map(leaf_hash).collect();
                            let root = if *width == TILE_WIDTH { fold_perfect(&leaves) } else { None };
                            Ok((leaves, root))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(VerifyError::Malformed { path: "entries".into(), what: "hashing thread failed".into() })
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(fetched.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Compares every tile the rebuilt hashes have filled with the stored
/// one, level by level, carrying each full tile's root one level up.
///
/// `level0_root` is the root of the level-0 tile that just filled, when the
/// caller already computed it.
async fn check_full_tiles(
    source: &impl TileSource,
    levels: &mut Vec<Vec<Hash>>,
    done: &mut Vec<u64>,
    mut level0_root: Option<Hash>,
) -> Result<(), VerifyError> {
    let mut level = 0;
    while level < levels.len() {
        while levels[level].len() as u64 >= TILE_WIDTH {
            let full: Vec<Hash> = levels[level].drain(..TILE_WIDTH as usize).collect();
            let lvl = u8::try_from(level).unwrap_or(u8::MAX);
            if done.len() <= level {
                done.resize(level + 1, 0);
            }
            compare(source, &tile_path(lvl, done[level], TILE_WIDTH), &full, lvl).await?;
            done[level] += 1;
            if levels.len() <= level + 1 {
                levels.push(Vec::new());
            }
            let root =
                if level == 0 { level0_root.take().or_else(|| fold_perfect(&full)) } else { fold_perfect(&full) };
            if let Some(root) = root {
                levels[level + 1].push(root);
            }
        }
        level += 1;
    }
    Ok(())
}

async fn fetch(source: &impl TileSource, path: &str) -> Result<Vec<u8>, VerifyError> {
    source.get(path).await.map_err(|reason| VerifyError::Unreadable { path: path.to_owned(), reason })
}

async fn compare(source: &impl TileSource, path: &str, rebuilt: &[Hash], level: u8) -> Result<(), VerifyError> {
    let bytes = fetch(source, path).await?;
    let stored = tile_hashes(&bytes).filter(|h| h.len() == rebuilt.len()).ok_or_else(|| VerifyError::Malformed {
        path: path.to_owned(),
        what: format!("expected {} hashes", rebuilt.len()),
    })?;
    if let Some(pos) = stored.iter().zip(rebuilt).position(|(a, b)| a != b) {
        let position = pos as u64;
        return Err(if level == 0 {
            VerifyError::LeafMismatch { index: tile_first_index(path) + position, tile: path.to_owned(), position }
        } else {
            VerifyError::NodeMismatch { tile: path.to_owned(), position }
        });
    }
    Ok(())
}

/// The first leaf index of a level-0 tile, from its path.
fn tile_first_index(path: &str) -> u64 {
    match crate::tile::parse_tile_path(path.trim_start_matches("tile/")) {
        Some(crate::tile::TileRef::Hashes { index, .. }) => index * TILE_WIDTH,
        _ => 0,
    }
}

/// Checks a signed checkpoint against a verified log of `size` entries:
/// its signature, its origin, and that its root is this log's root at its
/// size (so the log is an extension of what it signed).
pub async fn verify_checkpoint(
    source: &impl TileSource,
    which: &str,
    note: &str,
    origin: &str,
    verifiers: &[Verifier],
    size: u64,
) -> Result<Checkpoint, VerifyError> {
    let fail = |what: String| VerifyError::Checkpoint { which: which.to_owned(), what };
    let (cp, _) = Checkpoint::open(note.as_bytes(), origin, verifiers).map_err(|e| fail(e.to_string()))?;
    if cp.size > size {
        return Err(fail(format!("it covers {} entries but the log has only {size}: the log was truncated", cp.size)));
    }
    if cp.size == 0 {
        return Ok(cp);
    }
    let mut node = |h: u32, k: u64| node_from(source, h, k, size);
    let root = range_hash_async(0, cp.size, &mut node).await?;
    if root != cp.root {
        return Err(fail(format!(
            "its root {} is not this log's root {} at size {}: the log was rewritten",
            b64(&cp.root),
            b64(&root),
            cp.size
        )));
    }
    Ok(cp)
}

/// A perfect subtree's hash from the (already verified) tiles.
async fn node_from(source: &impl TileSource, h: u32, k: u64, size: u64) -> Result<Hash, VerifyError> {
    let level = u8::try_from(h / TILE_HEIGHT).unwrap_or(u8::MAX);
    let span = 1u64 << (h % TILE_HEIGHT);
    let first = k << (h % TILE_HEIGHT);
    let count = level_count(size, level);
    let tile = first / TILE_WIDTH;
    let width = if (tile + 1) * TILE_WIDTH <= count { TILE_WIDTH } else { count % TILE_WIDTH };
    let path = tile_path(level, tile, width);
    let bytes = fetch(source, &path).await?;
    let hashes = tile_hashes(&bytes).unwrap_or_default();
    let off = (first % TILE_WIDTH) as usize;
    hashes
        .get(off..off + span as usize)
        .and_then(fold_perfect)
        .ok_or(VerifyError::Malformed { path, what: "too short".into() })
}

/// [`range_hash`] with an async oracle: collects the needed nodes first.
async fn range_hash_async<F, Fut>(start: u64, end: u64, node: &mut F) -> Result<Hash, VerifyError>
where
    F: FnMut(u32, u64) -> Fut,
    Fut: Future<Output = Result<Hash, VerifyError>>,
{
    // Ask the synchronous algorithm which nodes it needs, fetch them, then
    // run it again with the answers.
    let mut wanted = Vec::new();
    let _ = range_hash(start, end, &mut |h, k| {
        wanted.push((h, k));
        Ok::<Hash, ()>([0u8; 32])
    });
    let mut answers = std::collections::HashMap::new();
    for (h, k) in wanted {
        answers.insert((h, k), node(h, k).await?);
    }
    range_hash(start, end, &mut |h, k| answers.get(&(h, k)).copied().ok_or(()))
        .map_err(|()| VerifyError::Malformed { path: "tiles".into(), what: "missing node".into() })
}
