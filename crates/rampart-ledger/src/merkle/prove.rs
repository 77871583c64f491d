//! Proof generation from a slice of leaf hashes: RFC 9162 inclusion proofs
//! (PATH, §2.1.3.1) and consistency proofs (PROOF and SUBPROOF, §2.1.4.1),
//! and the subtree proofs of the Merkle Tree Certificates draft, which are the
//! same recursions over a leaf range that need not start at zero.
//!
//! These are literal transcriptions of the recursive definitions, costing
//! O(n) hashes per proof. A store that keeps interior node hashes can do
//! better; these exist as the reference that such code and the verifiers are
//! tested against, and for small in-memory trees.

use super::{Hash, ProofError, is_valid_subtree, root_from_leaves, split_point};

/// The inclusion proof (audit path) of leaf `index` in the tree made of
/// `leaves`, ordered from the leaf's sibling up to the root's child.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    let m = usize::try_from(index).map_err(|_| ProofError::IndexOutOfRange { index, size })?;
    if m >= leaves.len() {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

/// The consistency proof between the first `size1` leaves and the first
/// `size2` leaves of `leaves`. Empty when the sizes are equal; an error when
/// `size1` is zero, since nothing can be proven about the empty tree.
pub fn consistency_proof(leaves: &[Hash], size1: u64, size2: u64) -> Result<Vec<Hash>, ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::EmptyFirstTree);
    }
    let tree = prefix(leaves, size2)?;
    let mut out = Vec::new();
    // size1 <= size2 <= leaves.len(), so it fits in usize.
    subproof(0, size1 as usize, tree, true, &mut out);
    Ok(out)
}

/// The inclusion proof of leaf `index` in the subtree `[start, end)`: the
/// audit path within the tree made of just that range of leaves.
pub fn subtree_inclusion_proof(leaves: &[Hash], index: u64, start: u64, end: u64) -> Result<Vec<Hash>, ProofError> {
    if !is_valid_subtree(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if index < start || index >= end {
        return Err(ProofError::IndexOutOfRange { index, size: end - start });
    }
    let tree = prefix(leaves, end)?;
    let mut out = Vec::new();
    // start < end <= leaves.len(), so both fit in usize.
    path((index - start) as usize, &tree[start as usize..], &mut out);
    Ok(out)
}

/// The consistency proof between the subtree `[start, end)` and the tree of
/// the first `size` leaves (SUBTREE_PROOF in the Merkle Tree Certificates
/// draft). With `start == 0` it is the RFC 9162 consistency proof. An empty
/// range has the empty proof.
pub fn subtree_consistency_proof(leaves: &[Hash], start: u64, end: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    // An empty range is allowed here although it is not a subtree: it is
    // part of every tree, so its (empty) proof is trivially consistent.
    if start > end || (start < end && !is_valid_subtree(start, end)) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if end > size {
        return Err(ProofError::SubtreeBeyondTree { start, end, size });
    }
    let tree = prefix(leaves, size)?;
    let mut out = Vec::new();
    if start < end {
        subproof(start as usize, end as usize, tree, true, &mut out);
    }
    Ok(out)
}

/// The first `size` leaves, or an error if there are not that many.
fn prefix(leaves: &[Hash], size: u64) -> Result<&[Hash], ProofError> {
    let n = usize::try_from(size).map_err(|_| ProofError::TooLarge { size })?;
    leaves.get(..n).ok_or(ProofError::NotEnoughLeaves { need: size, have: leaves.len() as u64 })
}

/// PATH(m, D[n]) of RFC 9162 §2.1.3.1, appended to `out` bottom-up.
fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root_from_leaves(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root_from_leaves(&leaves[..k]));
    }
}

/// SUBTREE_SUBPROOF(start, end, D[n], known) of the Merkle Tree Certificates
/// draft, which with `start == 0` is SUBPROOF(end, D[n], known) of RFC 9162
/// §2.1.4.1. `known` says whether the verifier already holds the hash of the
/// node that covers exactly `[start, end)`, in which case it is left out.
fn subproof(start: usize, end: usize, leaves: &[Hash], known: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if start == 0 && end == n {
        if !known {
            out.push(root_from_leaves(leaves));
        }
        return;
    }
    // Here n >= 2: a one-leaf tree only has the range [0, 1), handled above.
    let k = split_point(n);
    if end <= k {
        subproof(start, end, &leaves[..k], known, out);
        out.push(root_from_leaves(&leaves[k..]));
    } else if k <= start {
        subproof(start - k, end - k, &leaves[k..], known, out);
        out.push(root_from_leaves(&leaves[..k]));
    } else {
        // The range straddles the split, which for a valid subtree means it
        // starts at zero and covers the whole left half; the verifier does
        // not know the right part's hash, so it is included.
        subproof(0, end - k, &leaves[k..], false, out);
        out.push(root_from_leaves(&leaves[..k]));
    }
}
