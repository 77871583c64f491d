//! Merkle tree hashing over SHA-256 as RFC 6962 and RFC 9162 define it: the
//! leaf and node hashes, the root of a list of leaves, and the errors proofs
//! report. Incremental roots live in `frontier.rs`, proof generation in
//! `prove.rs` and proof verification in `verify.rs`.
//!
//! Leaves and interior nodes are hashed with different one-byte prefixes
//! (0x00 and 0x01) so that no leaf can ever be passed off as an interior node,
//! which is what makes a second-preimage attack on the tree impossible.

mod frontier;
mod prove;
mod verify;

#[cfg(test)]
mod tests;

use aws_lc_rs::digest::{self, SHA256};

pub use frontier::{Frontier, FrontierError};
pub use prove::{consistency_proof, inclusion_proof, subtree_consistency_proof, subtree_inclusion_proof};
pub use verify::{verify_consistency, verify_inclusion, verify_subtree_consistency, verify_subtree_inclusion};

/// Length in bytes of every hash in the tree.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: of a leaf, of an interior node, or of a whole tree.
pub type Hash = [u8; HASH_LEN];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Leaf data up to this length is hashed from a stack buffer with the
/// one-shot SHA-256 function; longer data goes through a streaming context,
/// whose set-up costs more than the copy it saves for short leaves.
const STACK_LEAF_MAX: usize = 512;

/// Why a proof could not be generated or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the first tree size {size1} is larger than the second tree size {size2}")]
    SizesOutOfOrder { size1: u64, size2: u64 },
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyFirstTree,
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree { start: u64, end: u64 },
    #[error("subtree [{start}, {end}) reaches beyond a tree of {size} leaves")]
    SubtreeBeyondTree { start: u64, end: u64, size: u64 },
    #[error("the proof must be empty here but has {len} hashes")]
    ProofNotEmpty { len: usize },
    #[error("the proof is empty")]
    ProofEmpty,
    #[error("the proof has more hashes than the tree sizes allow")]
    ProofTooLong,
    #[error("the proof has fewer hashes than the tree sizes need")]
    ProofTooShort,
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("the proof does not lead to the expected first (or subtree) root hash")]
    FirstRootMismatch,
    #[error("the proof needs {need} leaves but only {have} were given")]
    NotEnoughLeaves { need: u64, have: u64 },
    #[error("a tree of {size} leaves does not fit in this machine's memory")]
    TooLarge { size: u64 },
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    to_hash(&digest::digest(&SHA256, b""))
}

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    if data.len() <= STACK_LEAF_MAX {
        let mut buf = [0u8; STACK_LEAF_MAX + 1];
        buf[0] = LEAF_PREFIX;
        buf[1..=data.len()].copy_from_slice(data);
        return to_hash(&digest::digest(&SHA256, &buf[..=data.len()]));
    }
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(&[LEAF_PREFIX]);
    ctx.update(data);
    to_hash(&ctx.finish())
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
#[inline]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = NODE_PREFIX;
    buf[1..=HASH_LEN].copy_from_slice(left);
    buf[1 + HASH_LEN..].copy_from_slice(right);
    to_hash(&digest::digest(&SHA256, &buf))
}

/// The root hash MTH(D[n]) of a tree whose leaves have the given hashes,
/// computed by the recursive definition of RFC 9162 §2.1.1. It is kept a
/// literal transcription (rather than sharing code with `Frontier`) so each
/// can serve as the other's reference in tests.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let k = split_point(leaves.len());
            node_hash(&root_from_leaves(&leaves[..k]), &root_from_leaves(&leaves[k..]))
        }
    }
}

/// Whether `[start, end)` is a subtree in the sense of the Merkle Tree
/// Certificates draft (draft-ietf-plants-merkle-tree-certs): non-empty, and
/// `start` a multiple of the smallest power of two not below `end - start`.
/// Such a range is one node of every tree that contains it, or a node's
/// left-most part when the range is not a power of two long.
pub fn is_valid_subtree(start: u64, end: u64) -> bool {
    if start >= end {
        return false;
    }
    // A range longer than 2^63 rounds up to 2^64, which no u64 start other
    // than zero is a multiple of; checked_next_power_of_two says the same by
    // overflowing.
    match (end - start).checked_next_power_of_two() {
        Some(width) => start.is_multiple_of(width),
        None => start == 0,
    }
}

/// The largest power of two strictly less than `n`, for `n >= 2`: where
/// RFC 9162 splits a list of `n` leaves into its left and right subtrees.
pub(crate) fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn to_hash(d: &digest::Digest) -> Hash {
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(d.as_ref());
    out
}
