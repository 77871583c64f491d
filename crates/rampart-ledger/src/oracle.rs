//! Proofs over a log too large to hold in memory: RFC 9162 inclusion and
//! consistency proofs computed from a *node oracle* that returns the hash of
//! any perfect, aligned subtree (height `h`, index `k` covers leaves
//! `k·2^h .. (k+1)·2^h`). The tile store answers such questions from one tile
//! each, so a proof reads O(log n) tiles instead of every leaf.

use crate::merkle::{Hash, ProofError, empty_root, node_hash};

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// RFC 9162 MTH of the leaves `start..end`, where `start` is aligned as the
/// RFC's recursion guarantees.
pub fn range_hash<E>(start: u64, end: u64, node: &mut impl FnMut(u32, u64) -> Result<Hash, E>) -> Result<Hash, E> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let h = n.trailing_zeros();
        return node(h, start >> h);
    }
    let k = split(n);
    let left = range_hash(start, start + k, node)?;
    let right = range_hash(start + k, end, node)?;
    Ok(node_hash(&left, &right))
}

/// The error a proof request can fail with: a bad request, or the oracle's.
#[derive(Debug)]
pub enum OracleError<E> {
    Proof(ProofError),
    Oracle(E),
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof_with<E>(
    index: u64,
    size: u64,
    node: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, OracleError<E>> {
    if index >= size {
        return Err(OracleError::Proof(ProofError::IndexOutOfRange { index, size }));
    }
    let mut out = Vec::new();
    path(index, 0, size, node, &mut out).map_err(OracleError::Oracle)?;
    Ok(out)
}

fn path<E>(
    m: u64,
    start: u64,
    end: u64,
    node: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < start + k {
        path(m, start, start + k, node, out)?;
        out.push(range_hash(start + k, end, node)?);
    } else {
        path(m, start + k, end, node, out)?;
        out.push(range_hash(start, start + k, node)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `size1` and `size2` leaves.
pub fn consistency_proof_with<E>(
    size1: u64,
    size2: u64,
    node: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, OracleError<E>> {
    if size1 > size2 {
        return Err(OracleError::Proof(ProofError::SizesOutOfOrder { size1, size2 }));
    }
    let mut out = Vec::new();
    if size1 == 0 || size1 == size2 {
        return Ok(out);
    }
    subproof(size1, 0, size2, true, node, &mut out).map_err(OracleError::Oracle)?;
    Ok(out)
}

fn subproof<E>(
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    node: &mut impl FnMut(u32, u64) -> Result<Hash, E>,
    out: &mut Vec<Hash>,
) -> Result<(), E> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_hash(start, end, node)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, whole, node, out)?;
        out.push(range_hash(start + k, end, node)?);
    } else {
        subproof(m - k, start + k, end, false, node, out)?;
        out.push(range_hash(start, start + k, node)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, inclusion_proof, leaf_hash, root_from_leaves};

    fn oracle(leaves: &[Hash]) -> impl FnMut(u32, u64) -> Result<Hash, ()> + '_ {
        move |h, k| {
            let start = usize::try_from(k << h).map_err(|_| ())?;
            Ok(root_from_leaves(&leaves[start..start + (1usize << h)]))
        }
    }

    #[test]
    fn oracle_proofs_equal_in_memory_proofs() {
        let leaves: Vec<Hash> = (0u32..80).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for size in 1..=80u64 {
            let mut node = oracle(&leaves);
            assert_eq!(range_hash(0, size, &mut node).ok(), Some(root_from_leaves(&leaves[..size as usize])));
            for index in 0..size {
                let want = inclusion_proof(&leaves[..size as usize], index).ok();
                assert_eq!(inclusion_proof_with(index, size, &mut node).ok(), want, "inclusion {index}/{size}");
            }
            for size1 in 1..=size {
                let want = consistency_proof(&leaves[..size as usize], size1, size).ok();
                assert_eq!(consistency_proof_with(size1, size, &mut node).ok(), want, "consistency {size1}/{size}");
            }
        }
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let leaves: Vec<Hash> = (0u32..4).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut node = oracle(&leaves);
        assert!(matches!(inclusion_proof_with(4, 4, &mut node), Err(OracleError::Proof(_))));
        assert!(matches!(consistency_proof_with(5, 4, &mut node), Err(OracleError::Proof(_))));
    }
}
