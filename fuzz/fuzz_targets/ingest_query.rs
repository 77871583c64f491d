//! Fuzzes the log search language's parser: any input is parsed or refused,
//! never a panic; what parses stays within its bounds. Entry point:
//! `rampart_ingest::fuzz_entry::query`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::query(data));
