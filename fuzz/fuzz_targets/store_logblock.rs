//! Fuzzes log blocks as search reads them back from the database: the
//! summary's term table and the body's chunks. Entry point:
//! `rampart_store::fuzz_entry::logblock`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_store::fuzz_entry::logblock(data));
