//! The tamper-evident ledger of Rampart: an append-only Merkle log whose
//! signed tree heads let anyone check that a record is in the log and that the
//! log only ever grew.
//!
//! These modules are its pure core, with no file or network I/O, so each can
//! be fuzzed on its own: `merkle` (RFC 9162 hashing, the incremental frontier
//! a sequencer keeps, inclusion and consistency proofs), `note` (C2SP signed
//! notes with Ed25519 keys) and `checkpoint` (C2SP tree heads carried in
//! signed notes), `tile` (C2SP tlog-tiles geometry and paths) and `oracle`
//! (proofs computed from any store that can answer for perfect subtrees).
//! `fslog` is the embedded store in the tlog-tiles layout, with the durability
//! protocol every acknowledgement rests on.

pub mod batch;
pub mod bundle;
pub mod checkpoint;
pub mod dblog;
pub mod entry;
pub mod export;
pub mod fslog;
pub mod fuzz_entry;
pub mod journal;
pub mod merkle;
pub mod note;
pub mod oracle;
pub mod reader;
pub mod service;
pub mod tile;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{
    Frontier, FrontierError, HASH_LEN, Hash, ProofError, consistency_proof, empty_root, inclusion_proof,
    is_valid_subtree, leaf_hash, node_hash, root_from_leaves, subtree_consistency_proof, subtree_inclusion_proof,
    verify_consistency, verify_inclusion, verify_subtree_consistency, verify_subtree_inclusion,
};
pub use note::{Note, NoteError, Signature, Signer, VerifiedNote, Verifier};
pub use service::{Head, InclusionProof, Ledger, LedgerError};
