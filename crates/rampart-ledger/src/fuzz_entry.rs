//! Entry points for the `ledger_*` cargo-fuzz targets (see `fuzz/`): the
//! parsers that read bytes a crash, a disk or another party may have
//! written. Each asserts what the rest of the ledger relies on, not only
//! that nothing panics.

use std::sync::OnceLock;

use crate::batch::TileState;
use crate::journal::{self, Read};
use crate::note::{self, Note, Signer, Verifier};
use crate::{Checkpoint, bundle, tile};

/// A journal segment as replay reads it: records one after another, each
/// applied to the log when it continues it. A record that reads back must
/// re-encode to the same bytes, and replay never adopts a batch whose root
/// differs from the one recorded.
pub fn journal(data: &[u8]) {
    let mut state = TileState::default();
    let mut at = 0;
    while at < data.len() {
        match journal::read(&data[at..]) {
            Read::Torn => break,
            Read::Malformed(used, _) => {
                assert!(used >= 8 && at + used <= data.len(), "a malformed record's length stays in bounds");
                at += used;
            }
            Read::Record(record, used) => {
                assert!(at + used <= data.len());
                let entries: Vec<Vec<u8>> = record.entries.iter().map(|e| e.to_vec()).collect();
                let again = journal::encode(record.first, &entries, &record.root).ok();
                assert_eq!(again.as_deref(), Some(&data[at..at + used]), "a record re-encodes to its bytes");
                if record.first == state.size()
                    && let Ok((next, _)) = state.apply(&entries)
                    && next.root() == record.root
                {
                    state = next;
                }
                at += used;
            }
        }
    }
}

fn verifier() -> &'static [Verifier] {
    static V: OnceLock<Vec<Verifier>> = OnceLock::new();
    V.get_or_init(|| Signer::generate("fuzz.example/log").map(|s| vec![s.verifier().clone()]).unwrap_or_default())
}

/// Signed notes, checkpoints, proof bundles, log exports and tile paths,
/// as a witness, an auditor's `verify-proof` or `verify-export` or the tile
/// server receives them. Nothing
/// random verifies under a key generated in this process, and every tile
/// path that parses names what it parsed to.
pub fn note_and_paths(data: &[u8]) {
    let _ = Note::parse(data);
    assert!(note::open(data, verifier()).is_err(), "nothing forged verifies");
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cp) = Checkpoint::parse(text) {
        let again = Checkpoint::parse(&cp.to_string()).ok();
        assert_eq!(again.as_ref().map(|c| (c.size, c.root)), Some((cp.size, cp.root)), "a checkpoint round-trips");
    }
    assert!(bundle::verify(text, "fuzz.example/log", verifier()).is_err());
    assert!(crate::export::verify(data, verifier()).is_err(), "no forged export verifies");
    if let Some(t) = tile::parse_tile_path(text) {
        let path = match t {
            tile::TileRef::Hashes { level, index, width } => tile::tile_path(level, index, width),
            tile::TileRef::Entries { index, width } => tile::entries_path(index, width),
        };
        // The writers' paths are below the log root, the served ones below `tile/`.
        let served = path.strip_prefix("tile/").unwrap_or(&path);
        assert_eq!(tile::parse_tile_path(served), Some(t), "{text:?} → {path:?}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_entry_points_take_real_and_hostile_input() {
        let mut seg = journal::encode(0, &[b"a".to_vec(), b"bc".to_vec()], &[0u8; 32]).unwrap();
        let (next, _) = TileState::default().apply(&[b"a".to_vec()]).unwrap();
        seg.extend(journal::encode(0, &[b"a".to_vec()], &next.root()).unwrap());
        seg.extend_from_slice(b"RLJ1\xff\xff");
        journal(&seg);
        journal(&[0u8; 100]);
        let signer = Signer::generate("fuzz.example/log").unwrap();
        let signed = Checkpoint::new("fuzz.example/log", 3, [1u8; 32]).unwrap().sign(&signer).unwrap();
        note_and_paths(signed.as_bytes());
        note_and_paths(b"0/x001/002.p/7");
        note_and_paths(b"entries/003.p/200");
        note_and_paths(&[0xff, 0x00, b'\n']);
    }
}
