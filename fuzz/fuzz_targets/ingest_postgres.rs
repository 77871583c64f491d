//! Fuzzes the PostgreSQL server log parser. Entry point:
//! `rampart_ingest::fuzz_entry::postgres`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::postgres(data));
