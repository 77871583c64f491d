//! Fuzzes the su message parser. Entry point: `rampart_ingest::fuzz_entry::su`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::su(data));
