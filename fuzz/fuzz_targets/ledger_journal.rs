//! Fuzzes the ledger's commit journal as replay reads it after a crash:
//! records, torn tails and malformed bodies. Entry point:
//! `rampart_ledger::fuzz_entry::journal`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ledger::fuzz_entry::journal(data));
