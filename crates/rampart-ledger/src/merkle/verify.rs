//! Proof verification: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//! (consistency), transcribed step by step, and the subtree variants of the
//! Merkle Tree Certificates draft that the transparency-dev/merkle test
//! vectors also cover.
//!
//! These functions take untrusted sizes and proofs and must never panic or
//! loop forever on any input; every shift loop below is bounded by a cursor
//! reaching zero.

use super::{Hash, ProofError, empty_root, is_valid_subtree, node_hash};

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `leaf_index`
/// in the tree of `tree_size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index: leaf_index, size: tree_size });
    }
    let computed = root_from_inclusion(leaf_index, tree_size, leaf_hash, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the leaf with hash `leaf_hash` at `leaf_index`
/// inside the subtree `[start, end)` whose hash is `subtree_root`: an
/// ordinary inclusion proof in the tree made of just that range of leaves.
pub fn verify_subtree_inclusion(
    leaf_index: u64,
    start: u64,
    end: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    subtree_root: &Hash,
) -> Result<(), ProofError> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if leaf_index < start || leaf_index >= end {
        return Err(ProofError::IndexOutOfRange { index: leaf_index, size: end - start });
    }
    let computed = root_from_inclusion(leaf_index - start, end - start, leaf_hash, proof)?;
    if computed != *subtree_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `size1` leaves with root `root1` is
/// a prefix of the tree of `size2` leaves with root `root2` (RFC 9162
/// §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. A first size of zero is
/// refused: every tree extends the empty one, so such a proof would say
/// nothing, and a caller asking for it has most likely mixed up its sizes.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::ProofNotEmpty { len: proof.len() });
        }
        return if root1 == root2 { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    // Step 1: from here on 0 < size1 < size2, which needs at least one hash.
    if proof.is_empty() {
        return Err(ProofError::ProofEmpty);
    }
    // Step 2: when size1 is a power of two, the old tree is a node of the new
    // one and its root is where the proof starts; the proof omits it because
    // the verifier already has it.
    let (seed, rest) = if size1.is_power_of_two() { (root1, proof) } else { (&proof[0], &proof[1..]) };
    // Steps 3 and 4: fn walks the path of the old tree's last leaf, sn that of
    // the new tree's last leaf. Levels where fn is a right child and the
    // sibling lies inside the old tree are already folded into `seed`.
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5: fr rebuilds the old root, sr the new one.
    let mut fr = *seed;
    let mut sr = *seed;
    // Step 6.
    for c in rest {
        if sn == 0 {
            return Err(ProofError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(ProofError::ProofTooShort);
    }
    if fr != *root1 {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the subtree `[start, end)` with hash
/// `subtree_root` sits at those positions in the tree of `size` leaves with
/// root `root` (the Merkle Tree Certificates draft's subtree consistency;
/// with `start == 0` the same as RFC 9162 consistency from `end` to `size`).
///
/// An empty range is contained in every tree: it needs an empty proof and
/// the empty root as its hash, and says nothing about `root`, which is then
/// not compared.
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    proof: &[Hash],
    subtree_root: &Hash,
    root: &Hash,
) -> Result<(), ProofError> {
    if start == end {
        if end > size {
            return Err(ProofError::SubtreeBeyondTree { start, end, size });
        }
        if !proof.is_empty() {
            return Err(ProofError::ProofNotEmpty { len: proof.len() });
        }
        return if *subtree_root == empty_root() { Ok(()) } else { Err(ProofError::FirstRootMismatch) };
    }
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if end > size {
        return Err(ProofError::SubtreeBeyondTree { start, end, size });
    }
    // fn and sn walk the paths of the subtree's first and last leaves, tn that
    // of the tree's last leaf; shifting all three climbs one level.
    let (mut fn_, mut sn, mut tn) = (start, end - 1, size - 1);
    if sn == tn {
        // The subtree ends where the tree does, so nothing to its right needs
        // folding in: climb straight to the subtree's own node.
        while fn_ != sn {
            fn_ >>= 1;
            sn >>= 1;
            tn >>= 1;
        }
    } else {
        // Climb while the last leaf's node is a right child whose left
        // sibling is inside the subtree; that part is folded into the seed.
        while fn_ != sn && sn & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
            tn >>= 1;
        }
    }
    // If the climb reached the subtree's node, the verifier already knows its
    // hash; otherwise the proof starts with the hash of the node reached.
    let (seed, rest) = if fn_ == sn {
        (subtree_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(ProofError::ProofEmpty),
        }
    };
    let mut fr = *seed;
    let mut sr = *seed;
    for c in rest {
        if tn == 0 {
            return Err(ProofError::ProofTooLong);
        }
        if sn & 1 == 1 || sn == tn {
            // A left sibling: part of the subtree while the subtree still
            // spans more than one node at this level, part of the tree always.
            if fn_ < sn {
                fr = node_hash(c, &fr);
            }
            sr = node_hash(c, &sr);
            while sn & 1 == 0 && sn != 0 {
                fn_ >>= 1;
                sn >>= 1;
                tn >>= 1;
            }
        } else {
            // A right sibling: beyond the subtree, so only in the tree.
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
        tn >>= 1;
    }
    if tn != 0 {
        return Err(ProofError::ProofTooShort);
    }
    if fr != *subtree_root {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Steps 2 to 5 of RFC 9162 §2.1.3.2: the root an inclusion proof leads to,
/// for `index < size`. fn walks the leaf's path and sn the last leaf's; where
/// they meet, the leaf's node has no right sibling and the level is skipped.
fn root_from_inclusion(index: u64, size: u64, leaf_hash: &Hash, proof: &[Hash]) -> Result<Hash, ProofError> {
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::ProofTooShort);
    }
    Ok(r)
}
