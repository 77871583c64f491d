//! Unit tests for the Merkle module: every generated proof up to a modest
//! size must verify, every tampered one must not, the frontier must agree with
//! the recursive root, and the verifiers must survive arbitrary input.

use aws_lc_rs::digest::{SHA256, digest};

use super::*;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
}

/// Flips one bit of one proof hash at a time, and yields each such proof.
fn tampered(proof: &[Hash]) -> impl Iterator<Item = Vec<Hash>> + '_ {
    (0..proof.len()).map(move |i| {
        let mut p = proof.to_vec();
        p[i][i % HASH_LEN] ^= 1 << (i % 8);
        p
    })
}

/// A small deterministic generator, so that the robustness tests are
/// reproducible without a dependency on a random crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    let hex: String = empty_root().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(root_from_leaves(&[]), empty_root());
    assert_eq!(Frontier::new().root(), empty_root());
}

#[test]
fn leaf_and_node_hashes_use_their_prefixes_for_every_length() {
    // Both the stack-buffer and the streaming path must hash 0x00 || data.
    for len in [0, 1, 31, 511, 512, 513, 4096] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut prefixed = vec![0u8];
        prefixed.extend_from_slice(&data);
        assert_eq!(leaf_hash(&data).as_slice(), digest(&SHA256, &prefixed).as_ref(), "length {len}");
    }
    let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
    let mut prefixed = vec![1u8];
    prefixed.extend_from_slice(&l);
    prefixed.extend_from_slice(&r);
    assert_eq!(node_hash(&l, &r).as_slice(), digest(&SHA256, &prefixed).as_ref());
    assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
}

#[test]
fn frontier_root_matches_recursive_root_at_every_size_up_to_1000() {
    let all = leaves(1000);
    let mut frontier = Frontier::new();
    for (i, leaf) in all.iter().enumerate() {
        assert_eq!(frontier.append(*leaf), Ok(i as u64));
        assert_eq!(frontier.nodes().len() as u32, frontier.size().count_ones());
        assert_eq!(frontier.root(), root_from_leaves(&all[..=i]), "size {}", i + 1);
    }
}

#[test]
fn frontier_restored_from_parts_continues_the_same_tree() {
    let all = leaves(77);
    let mut a = Frontier::new();
    for leaf in &all[..40] {
        a.append(*leaf).unwrap();
    }
    let mut b = Frontier::from_parts(a.size(), a.nodes().to_vec()).unwrap();
    for leaf in &all[40..] {
        b.append(*leaf).unwrap();
    }
    assert_eq!(b.root(), root_from_leaves(&all));
    assert!(matches!(
        Frontier::from_parts(5, vec![[0; 32]]),
        Err(FrontierError::WrongNodeCount { size: 5, want: 2, got: 1 })
    ));
    let mut full = Frontier::from_parts(u64::MAX, vec![[0; 32]; 64]).unwrap();
    assert_eq!(full.append([1; 32]), Err(FrontierError::Full));
}

#[test]
fn inclusion_proofs_verify_for_every_index_and_size_up_to_64() {
    let all = leaves(64);
    for size in 1..=64u64 {
        let tree = &all[..size as usize];
        let root = root_from_leaves(tree);
        for index in 0..size {
            let leaf = &tree[index as usize];
            let proof = inclusion_proof(tree, index).unwrap();
            assert_eq!(verify_inclusion(index, size, leaf, &proof, &root), Ok(()), "{index} in {size}");
            for bad in tampered(&proof) {
                assert!(verify_inclusion(index, size, leaf, &bad, &root).is_err());
            }
            assert!(verify_inclusion(index, size, &leaf_hash(b"other"), &proof, &root).is_err());
            // The same proof against the next tree size and its root fails.
            // (Against this size's root it can pass: a leaf in the left part
            // of trees of 3 and 4 leaves has the same proof shape in both.)
            if size < 64 {
                let next_root = root_from_leaves(&all[..=size as usize]);
                assert!(verify_inclusion(index, size + 1, leaf, &proof, &next_root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(index, size, leaf, &longer, &root).is_err());
            if let Some((_, shorter)) = proof.split_last() {
                assert!(verify_inclusion(index, size, leaf, shorter, &root).is_err());
            }
            if index + 1 < size {
                assert!(verify_inclusion(index + 1, size, leaf, &proof, &root).is_err());
            }
        }
        assert_eq!(inclusion_proof(tree, size), Err(ProofError::IndexOutOfRange { index: size, size }));
    }
}

#[test]
fn consistency_proofs_verify_for_every_pair_of_sizes_up_to_64() {
    let all = leaves(64);
    for size2 in 1..=64u64 {
        let root2 = root_from_leaves(&all[..size2 as usize]);
        for size1 in 1..=size2 {
            let root1 = root_from_leaves(&all[..size1 as usize]);
            let proof = consistency_proof(&all, size1, size2).unwrap();
            assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()), "{size1} to {size2}");
            // The same proof is the subtree consistency proof of [0, size1).
            assert_eq!(subtree_consistency_proof(&all, 0, size1, size2).unwrap(), proof);
            assert_eq!(verify_subtree_consistency(0, size1, size2, &proof, &root1, &root2), Ok(()));
            for bad in tampered(&proof) {
                assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
            }
            if size1 < size2 {
                assert!(verify_consistency(size1, size2, &proof, &root2, &root2).is_err());
                assert!(verify_consistency(size1, size2, &proof, &root1, &root1).is_err());
                assert!(verify_consistency(size1, size2, &proof[1..], &root1, &root2).is_err());
                let mut longer = proof.clone();
                longer.push(root1);
                assert!(verify_consistency(size1, size2, &longer, &root1, &root2).is_err());
            }
        }
    }
    assert_eq!(consistency_proof(&all, 0, 3), Err(ProofError::EmptyFirstTree));
    assert_eq!(consistency_proof(&all, 4, 3), Err(ProofError::SizesOutOfOrder { size1: 4, size2: 3 }));
    assert_eq!(consistency_proof(&all, 4, 65), Err(ProofError::NotEnoughLeaves { need: 65, have: 64 }));
}

#[test]
fn subtree_proofs_verify_for_every_valid_subtree_up_to_32() {
    let all = leaves(32);
    let empty = empty_root();
    let mut checked = 0;
    for size in 1..=32u64 {
        let root = root_from_leaves(&all[..size as usize]);
        for start in 0..size {
            for end in start + 1..=size {
                if !is_valid_subtree(start, end) {
                    assert!(subtree_consistency_proof(&all, start, end, size).is_err());
                    continue;
                }
                let sub_root = root_from_leaves(&all[start as usize..end as usize]);
                let proof = subtree_consistency_proof(&all, start, end, size).unwrap();
                let ok = verify_subtree_consistency(start, end, size, &proof, &sub_root, &root);
                assert_eq!(ok, Ok(()), "[{start}, {end}) in {size}");
                for bad in tampered(&proof) {
                    assert!(verify_subtree_consistency(start, end, size, &bad, &sub_root, &root).is_err());
                }
                assert!(
                    verify_subtree_consistency(start, end, size, &proof, &root, &root).is_err() || sub_root == root
                );
                for index in start..end {
                    let leaf = &all[index as usize];
                    let proof = subtree_inclusion_proof(&all, index, start, end).unwrap();
                    assert_eq!(verify_subtree_inclusion(index, start, end, leaf, &proof, &sub_root), Ok(()));
                    for bad in tampered(&proof) {
                        assert!(verify_subtree_inclusion(index, start, end, leaf, &bad, &sub_root).is_err());
                    }
                }
                checked += 1;
            }
            // An empty range is in every tree, whatever the root.
            assert_eq!(verify_subtree_consistency(start, start, size, &[], &empty, &[9; 32]), Ok(()));
            assert!(verify_subtree_consistency(start, start, size, &[], &root, &root).is_err());
        }
    }
    assert!(checked > 300, "only {checked} subtrees checked");
}

#[test]
fn subtree_validity_follows_the_draft() {
    assert!(is_valid_subtree(0, 1));
    assert!(is_valid_subtree(0, 7));
    assert!(is_valid_subtree(4, 7));
    assert!(is_valid_subtree(8, 16));
    assert!(!is_valid_subtree(3, 5));
    assert!(!is_valid_subtree(2, 6));
    assert!(!is_valid_subtree(1, 1));
    assert!(!is_valid_subtree(2, 1));
    assert!(is_valid_subtree(0, u64::MAX));
    assert!(!is_valid_subtree(1, (1 << 63) + 2));
    assert!(is_valid_subtree(1 << 63, u64::MAX));
}

#[test]
fn verifiers_never_panic_on_arbitrary_input() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let interesting = [0, 1, 2, 3, 7, 8, 9, 1 << 32, (1 << 63) + 1, u64::MAX - 1, u64::MAX];
    let pick = |rng: &mut XorShift| {
        let r = rng.next();
        if r & 1 == 0 { interesting[(r >> 1) as usize % interesting.len()] } else { rng.next() >> (r % 64) }
    };
    let proof: Vec<Hash> = (0..70).map(|i| [i as u8; 32]).collect();
    for _ in 0..20_000 {
        let (a, b, c) = (pick(&mut rng), pick(&mut rng), pick(&mut rng));
        let p = &proof[..(rng.next() % 70) as usize];
        let h = [rng.next() as u8; 32];
        let _ = verify_inclusion(a, b, &h, p, &h);
        let _ = verify_consistency(a, b, p, &h, &h);
        let _ = verify_subtree_inclusion(a, b, c, &h, p, &h);
        let _ = verify_subtree_consistency(a, b, c, p, &h, &h);
    }
}
