//! Fuzzes the key=value message parser. Entry point:
//! `rampart_ingest::fuzz_entry::kv`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rampart_ingest::fuzz_entry::kv(data));
