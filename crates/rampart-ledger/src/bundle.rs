//! Offline proof bundles in the C2SP tlog-proof format: a checkpoint, the
//! entry's index, its inclusion proof, and the entry itself as the `extra`
//! data, so that anyone holding the log's public key can check, with no
//! network and no trust in whoever handed them the file, that this exact
//! entry is in the log the key vouches for.

use crate::checkpoint::Checkpoint;
use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::note::Verifier;

const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Bundles larger than this are refused before parsing.
pub const MAX_BUNDLE: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a tlog-proof: {0}")]
    Malformed(String),
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("the inclusion proof does not verify: {0}")]
    Proof(String),
}

/// A verified bundle.
#[derive(Debug, Clone)]
pub struct ProvenEntry {
    pub index: u64,
    pub entry: Vec<u8>,
    pub checkpoint: Checkpoint,
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Writes a bundle. `checkpoint` is the signed note, verbatim.
pub fn format(entry: &[u8], index: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut out = format!("{HEADER}\nextra {}\nindex {index}\n", b64(entry));
    for h in proof {
        out.push_str(&b64(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

/// Parses and verifies a bundle against the log `origin` and its keys.
pub fn verify(bundle: &str, origin: &str, verifiers: &[Verifier]) -> Result<ProvenEntry, BundleError> {
    let bad = |m: &str| BundleError::Malformed(m.to_owned());
    if bundle.len() > MAX_BUNDLE {
        return Err(bad("larger than 512 KiB"));
    }
    let (head, checkpoint) = bundle.split_once("\n\n").ok_or_else(|| bad("no blank line before the checkpoint"))?;
    let mut lines = head.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("missing the c2sp.org/tlog-proof@v1 header"));
    }
    let extra = lines
        .next()
        .and_then(|l| l.strip_prefix("extra "))
        .ok_or_else(|| bad("missing the extra line that carries the entry"))?;
    let entry = data_encoding::BASE64.decode(extra.as_bytes()).map_err(|_| bad("extra is not base64"))?;
    let index_text = lines.next().and_then(|l| l.strip_prefix("index ")).ok_or_else(|| bad("missing index"))?;
    if index_text.len() > 1 && index_text.starts_with('0') {
        return Err(bad("index has leading zeros"));
    }
    let index: u64 = index_text.parse().map_err(|_| bad("index is not a number"))?;
    let mut proof = Vec::new();
    for line in lines {
        let bytes = data_encoding::BASE64.decode(line.as_bytes()).map_err(|_| bad("proof line is not base64"))?;
        proof.push(Hash::try_from(bytes.as_slice()).map_err(|_| bad("proof hash is not 32 bytes"))?);
        if proof.len() > 64 {
            return Err(bad("more than 64 proof hashes"));
        }
    }
    let (cp, _) = Checkpoint::open(checkpoint.as_bytes(), origin, verifiers)
        .map_err(|e| BundleError::Checkpoint(e.to_string()))?;
    verify_inclusion(index, cp.size, &leaf_hash(&entry), &proof, &cp.root)
        .map_err(|e| BundleError::Proof(e.to_string()))?;
    Ok(ProvenEntry { index, entry, checkpoint: cp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, root_from_leaves};
    use crate::note::Signer;

    #[test]
    fn bundles_verify_offline_and_any_change_is_refused() {
        let signer = Signer::generate("example.org/log").unwrap();
        let entries: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 5]).collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let cp = Checkpoint::new("example.org/log", 10, root_from_leaves(&leaves)).unwrap().sign(&signer).unwrap();
        let proof = inclusion_proof(&leaves, 7).unwrap();
        let bundle = format(&entries[7], 7, &proof, &cp);
        let keys = [signer.verifier().clone()];
        let ok = verify(&bundle, "example.org/log", &keys).unwrap();
        assert_eq!((ok.index, ok.entry.as_slice(), ok.checkpoint.size), (7, entries[7].as_slice(), 10));

        let other_entry = format(&entries[6], 7, &proof, &cp);
        assert!(matches!(verify(&other_entry, "example.org/log", &keys), Err(BundleError::Proof(_))));
        let other_index = format(&entries[7], 6, &proof, &cp);
        assert!(verify(&other_index, "example.org/log", &keys).is_err());
        assert!(matches!(verify(&bundle, "example.org/other", &keys), Err(BundleError::Checkpoint(_))));
        let stranger = [Signer::generate("example.org/log").unwrap().verifier().clone()];
        assert!(matches!(verify(&bundle, "example.org/log", &stranger), Err(BundleError::Checkpoint(_))));
        for bad in ["", "c2sp.org/tlog-proof@v1\n", &bundle.replacen("index 7", "index 07", 1), &bundle[1..]] {
            assert!(verify(bad, "example.org/log", &keys).is_err(), "{bad:.40?}");
        }
    }
}
