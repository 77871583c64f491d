//! Fuzzes signed notes, checkpoints, proof bundles, log exports and tile
//! paths as witnesses, auditors and the tile server receive them. Entry point:
//! `rampart_ledger::fuzz_entry::note_and_paths`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ledger::fuzz_entry::note_and_paths(data));
