//! The frontier (a "compact range" starting at leaf 0): the roots of the
//! perfect subtrees that a tree of any size decomposes into, which is all a
//! sequencer needs to keep in memory to append leaves and produce the root at
//! every size. It holds one hash per set bit of the tree size, so at most 64.

use super::{Hash, empty_root, node_hash};

/// Why a frontier could not be built or grown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierError {
    #[error("a frontier of {size} leaves holds {want} hashes, not {got}")]
    WrongNodeCount { size: u64, want: u32, got: usize },
    #[error("the tree is full: it cannot hold more than 2^64 - 1 leaves")]
    Full,
}

/// The right-hand edge of a Merkle tree: enough to append leaves and compute
/// the root in O(log n) time and memory.
///
/// `nodes[i]` is the root of the i-th perfect subtree from the left; their
/// sizes are the set bits of `size`, largest first. Appending a leaf merges
/// equal-sized subtrees the way a binary counter carries, so each append costs
/// one node hash on average.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        // 64 hashes is the most a u64 size can ever need, so the vector never
        // reallocates on the sequencer's hot path.
        Self { size: 0, nodes: Vec::with_capacity(64) }
    }

    /// Restores a frontier saved with [`Frontier::size`] and
    /// [`Frontier::nodes`]. The node count must match the size's set bits;
    /// the hashes themselves cannot be checked here, only against a root.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Result<Self, FrontierError> {
        let want = size.count_ones();
        if nodes.len() != want as usize {
            return Err(FrontierError::WrongNodeCount { size, want, got: nodes.len() });
        }
        let mut nodes = nodes;
        nodes.reserve(64usize.saturating_sub(nodes.len()));
        Ok(Self { size, nodes })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, left to right.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends a leaf hash and returns its index.
    pub fn append(&mut self, leaf: Hash) -> Result<u64, FrontierError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(FrontierError::Full)?;
        let mut hash = leaf;
        // Each trailing one bit of the old size is a perfect subtree of the
        // same size as the one being carried, so the two merge into a parent.
        let mut carry = index;
        while carry & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                // Unreachable while the node count matches the size, which
                // `from_parts` and this method both maintain.
                break;
            };
            hash = node_hash(&left, &hash);
            carry >>= 1;
        }
        self.nodes.push(hash);
        self.size = new_size;
        Ok(index)
    }

    /// The root hash of the tree as it stands. Smaller subtrees sit to the
    /// right, so the root folds them from right to left (RFC 9162 §2.1.1).
    pub fn root(&self) -> Hash {
        let mut rev = self.nodes.iter().rev();
        let Some(last) = rev.next() else {
            return empty_root();
        };
        rev.fold(*last, |right, left| node_hash(left, &right))
    }
}
