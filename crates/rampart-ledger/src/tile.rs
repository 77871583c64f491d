//! C2SP tlog-tiles geometry: which tile holds which hash, the path of a tile
//! or entry bundle, and the frontier of a tree rebuilt from its partial
//! tiles. Pure arithmetic; the file system is `fslog`'s concern.
//!
//! A tile at level `L` holds up to 256 consecutive hashes of perfect subtrees
//! of height `8·L`: level 0 holds leaf hashes, level 1 the roots of each 256
//! leaves, and so on. A tile with fewer than 256 hashes is *partial* and is
//! named with its width (`tile/0/x001/234.p/17`); full tiles never change.

use crate::merkle::{Frontier, FrontierError, Hash, node_hash};

/// Hashes per full tile, and entries per full bundle.
pub const TILE_WIDTH: u64 = 256;
/// log2 of [`TILE_WIDTH`]: the height of the subtree one tile covers.
pub const TILE_HEIGHT: u32 = 8;

/// Encodes a tile index as C2SP path elements: groups of three digits, all
/// but the last prefixed with `x` (1234067 → `x001/x234/067`).
pub fn encode_index(index: u64) -> String {
    let digits = index.to_string();
    let pad = (3 - digits.len() % 3) % 3;
    let padded = format!("{}{digits}", "0".repeat(pad));
    let groups: Vec<&str> = padded.as_bytes().chunks(3).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    let last = groups.len().saturating_sub(1);
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| if i < last { format!("x{g}") } else { (*g).to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

/// `tile/<L>/<N>[.p/<W>]`; a width of 256 (or 0) names the full tile.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", encode_index(index)), width)
}

/// `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(index: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", encode_index(index)), width)
}

fn with_width(base: String, width: u64) -> String {
    if width == 0 || width >= TILE_WIDTH { base } else { format!("{base}.p/{width}") }
}

/// What a tile path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileRef {
    /// Hash tile at `level`.
    Hashes { level: u8, index: u64, width: u64 },
    /// Entry bundle.
    Entries { index: u64, width: u64 },
}

/// Parses a path below `tile/` (for example `0/x001/234.p/17` or
/// `entries/005`) strictly: no leading zeros beyond the three-digit groups,
/// no empty or oversized elements, widths 1 to 255.
pub fn parse_tile_path(path: &str) -> Option<TileRef> {
    let (kind, rest) = path.split_once('/')?;
    let (index_part, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w: u64 = parse_decimal(w)?;
            if !(1..TILE_WIDTH).contains(&w) {
                return None;
            }
            (i, w)
        }
        None => (rest, TILE_WIDTH),
    };
    let elems: Vec<&str> = index_part.split('/').collect();
    if elems.is_empty() || elems.len() > 7 {
        return None;
    }
    let mut index: u64 = 0;
    for (i, e) in elems.iter().enumerate() {
        let digits = if i + 1 < elems.len() { e.strip_prefix('x')? } else { e };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index.checked_mul(1000)?.checked_add(digits.parse::<u64>().ok()?)?;
    }
    if encode_index(index) != index_part {
        return None;
    }
    if kind == "entries" {
        return Some(TileRef::Entries { index, width });
    }
    let level: u8 = parse_decimal(kind).and_then(|l| u8::try_from(l).ok())?;
    if level > 63 {
        return None;
    }
    Some(TileRef::Hashes { level, index, width })
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// How many hashes level `level` holds in a tree of `size` leaves.
pub fn level_count(size: u64, level: u8) -> u64 {
    size.checked_shr(TILE_HEIGHT * u32::from(level)).unwrap_or(0)
}

/// The hashes of a perfect subtree built from `hashes` (a power of two of
/// them), pairwise.
pub fn fold_perfect(hashes: &[Hash]) -> Option<Hash> {
    if hashes.is_empty() || !hashes.len().is_power_of_two() {
        return None;
    }
    let mut layer = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer.first().copied()
}

/// Rebuilds the frontier of a tree of `size` leaves from its partial tiles:
/// `partials[L]` holds the hashes of the partial tile at level `L` (its
/// width is `level_count(size, L) % 256`). The frontier's subtrees are, from
/// the largest, the binary decomposition of each level's partial tile.
pub fn frontier_from_partials(size: u64, partials: &[Vec<Hash>]) -> Result<Frontier, FrontierError> {
    let mut nodes = Vec::new();
    for level in (0..partials.len()).rev() {
        let hashes = &partials[level];
        let mut start = 0usize;
        for bit in (0..TILE_HEIGHT).rev() {
            let n = 1usize << bit;
            if hashes.len() & n != 0 {
                if let Some(h) = fold_perfect(&hashes[start..start + n]) {
                    nodes.push(h);
                }
                start += n;
            }
        }
    }
    Frontier::from_parts(size, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root_from_leaves};

    #[test]
    fn index_encoding_matches_c2sp_examples() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(5), "005");
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(tile_path(1, 1234067, 256), "tile/1/x001/x234/067");
        assert_eq!(tile_path(0, 1234067, 17), "tile/0/x001/x234/067.p/17");
        assert_eq!(entries_path(12, 3), "tile/entries/012.p/3");
    }

    #[test]
    fn tile_paths_parse_back_and_malformed_ones_are_refused() {
        for (level, index, width) in [(0u8, 0u64, 256u64), (2, 1234067, 17), (0, 999, 255), (5, 1000, 1)] {
            let p = tile_path(level, index, width);
            assert_eq!(parse_tile_path(&p["tile/".len()..]), Some(TileRef::Hashes { level, index, width }), "{p}");
        }
        assert_eq!(parse_tile_path("entries/x001/000.p/3"), Some(TileRef::Entries { index: 1000, width: 3 }));
        for bad in [
            "",
            "0",
            "0/",
            "0/1",
            "0/0001",
            "0/x000/001",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/07",
            "00/001",
            "64/001",
            "a/001",
            "0/../001",
            "0/001/",
            "entries/1",
            "0/x1000/001",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn frontier_from_partial_tiles_matches_the_root_at_every_size() {
        let leaves: Vec<Hash> = (0u32..70_000).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        // Level hashes as a tile store would hold them.
        let mut levels: Vec<Vec<Hash>> = vec![leaves.clone()];
        while levels.last().is_some_and(|l| l.len() >= 256) {
            let next =
                levels.last().map(|l| l.chunks_exact(256).filter_map(fold_perfect).collect()).unwrap_or_default();
            levels.push(next);
        }
        for size in [0u64, 1, 2, 3, 255, 256, 257, 511, 512, 65535, 65536, 65537, 69_999, 70_000] {
            let partials: Vec<Vec<Hash>> = (0..levels.len() as u8)
                .map(|l| {
                    let count = level_count(size, l) as usize;
                    let full = count - count % 256;
                    levels[l as usize][full..count].to_vec()
                })
                .collect();
            let f = frontier_from_partials(size, &partials).unwrap();
            assert_eq!(f.root(), root_from_leaves(&leaves[..size as usize]), "size {size}");
        }
    }
}
